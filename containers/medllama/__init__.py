"""MedLlama container steps.

Each step is a module run as ``python -m medllama.<step>`` or through the thin entry script of the same
name next to this package (what SageMaker calls): ingest, dedup, tokenization, train, evaluate.
"""

__version__ = "0.1.0"
