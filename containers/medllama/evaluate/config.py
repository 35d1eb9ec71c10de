"""Configuration of ``medllama.evaluate`` (schema: pipeline-steps/configs/evaluate.ts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medllama.config import option, path_option
from medllama.sagemaker_env import opt_ml

STEP = "evaluate"


@dataclass
class EvaluateConfig:
    """Evaluate the tuned model against its base: perplexity, bits per byte, the benchmark suite (every task found
    in --benchmarks_dir: PubMedQA, MedQA-4, MedMCQA, MMLU, ARC-Challenge, HellaSwag, Winogrande), general-text
    regression and qualitative prompts; the tuned model's validation loss from its training summary. Writes
    evaluation.json and qualitative.jsonl."""

    base_model_dir: str = path_option(
        lambda: opt_ml("processing", "input", "base_model"), help="HF folder of the base model (and the tokenizer)"
    )
    tuned_model_dir: str = path_option(
        lambda: opt_ml("processing", "input", "tuned_model"), help="HF folder of the merged tuned model"
    )
    candidates_dir: str = path_option(
        "",
        help="MergeBack's output (candidates.json and one HF folder per merged candidate), each scored like the "
        "tuned model and gated; '' = the tuned model is the only candidate",
    )
    tuned_model_uri: str = path_option(
        "",
        help="S3 URI of the tuned model folder (Train's ModelArtifacts): gate.chosen_model_data when tuned is chosen; "
        "'' = --tuned_model_dir",
    )
    candidates_uri: str = path_option(
        "",
        help="S3 URI of MergeBack's output: a chosen merged candidate's gate.chosen_model_data is <uri>/<name>; "
        "'' = --candidates_dir",
    )
    test_dir: str = path_option(
        lambda: opt_ml("processing", "input", "test"), help="dedup's test split: folder of JSONL documents (id, text)"
    )
    general_dir: str = path_option(
        "",
        help="folder of general-domain .txt/.jsonl text for the regression check, several files (the bootstrap "
        "resamples files); '' = not measured, and the gate then fails (checks_computed 0)",
    )
    benchmarks_dir: str = path_option(
        "",
        help="optional folder of the benchmark suite as stage-benchmarks stages it: PubMedQA ori_pqal.json + "
        "test_ground_truth.json at the top, medqa/, medmcqa/, mmlu/<subject>/, arc_challenge/, hellaswag/, "
        "winogrande/ (an absent task is not computed; '' = skip all)",
    )
    training_summary: str = path_option(
        "",
        help="training_summary.json of medllama.train (final_eval_loss); '' = <tuned_model_dir>/training_summary.json "
        "when present",
    )
    prompts: str = path_option("", help="JSONL of qualitative prompts (id, category, prompt); '' = the packaged set")
    output_dir: str = path_option(
        lambda: opt_ml("processing", "output", "evaluation"), help="where evaluation.json etc. are written"
    )

    seq_len: int = option(
        4096,
        help="perplexity window length in tokens, rolling as the harness' loglikelihood_rolling (capped at "
        "max_position_embeddings)",
    )
    batch_size: int = option(4, help="windows per forward pass for perplexity")
    qa_batch_size: int = option(
        16, help="sequences per forward pass for the benchmark suite; prompts per generate call"
    )
    max_test_documents: int = option(0, help="at most this many test documents (stable hash order); 0 = all")
    max_document_tokens: int = option(
        0,
        help="score only the first N tokens of each framed test document (its bytes counted up to there, no EOS "
        "after the cut); 0 = whole documents",
    )
    max_general_documents: int = option(0, help="at most this many general-text documents; 0 = all")
    bootstrap_samples: int = option(
        10000, help="bootstrap replicates for CIs and paired p-values (a p-value's floor is 2/(B+1))"
    )
    seed: int = option(1234, help="seed of the bootstrap RNG")
    pubmedqa_limit: int = option(0, help="first N PubMedQA test items by PMID; 0 = all 500")
    medmcqa_limit: int = option(0, help="first N MedMCQA validation items by id; 0 = all 4,183")
    medmcqa_cop: Literal["auto", "0-3", "1-4"] = option(
        "auto", help="MedMCQA cop numbering: 0-3 (Hugging Face), 1-4 (original release), auto = from the values"
    )
    medqa_limit: int = option(0, help="first N MedQA 4-option test items in file order; 0 = all 1,273")
    max_new_tokens: int = option(128, help="greedy tokens per qualitative prompt")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = option(
        "auto", help="weights/forward dtype; auto = bfloat16 on GPU, float32 on CPU"
    )
    device: Literal["auto", "cuda", "cpu"] = option("auto", help="auto = cuda when available, else cpu")
    min_perplexity_improvement: float = option(
        0.05, help="gate: lower bound (95 percent CI) of the test-perplexity improvement must be at least this"
    )
    min_pubmedqa_delta: float = option(
        -0.04,
        help="gate: lower bound (95 percent CI) of the PubMedQA accuracy delta must be at least this (-margin: non-inferiority; "
        "+margin: superiority)",
    )
    max_general_regression: float = option(
        0.03, help="gate: upper bound (95 percent CI) of the general-text perplexity regression must be at most this"
    )

    def __post_init__(self) -> None:
        if not self.base_model_dir or not self.tuned_model_dir:
            raise ValueError("--base_model_dir and --tuned_model_dir are both required")
        if not self.test_dir:
            raise ValueError("--test_dir is required")
