"""Configuration of ``medllama.merge_back`` (schema: pipeline-steps/configs/merge_back.ts)."""

from __future__ import annotations

from dataclasses import dataclass

from medllama.config import option, path_option
from medllama.merge_back.candidates import CandidateError, parse_candidates
from medllama.sagemaker_env import opt_ml

STEP = "merge_back"


@dataclass
class MergeBackConfig:
    """Build merge-back candidates (linear, SLERP, TIES, DARE-TIES) of the base and the tuned model, each a full
    HF model folder under <output_dir>/<name>/, and candidates.json listing them (tuned first, never copied)."""

    base_model_dir: str = path_option(
        lambda: opt_ml("processing", "input", "base_model"), help="HF folder (or one .tar.gz) of the base model"
    )
    tuned_model_dir: str = path_option(
        lambda: opt_ml("processing", "input", "tuned_model"),
        help="HF folder (or Train's model.tar.gz) of the tuned model, LoRA already merged by Train",
    )
    output_dir: str = path_option(
        lambda: opt_ml("processing", "output", "candidates"), help="where <name>/ folders and candidates.json go"
    )
    candidates: str = option(
        "slerp:t=0.5",
        help="merge specs separated by spaces or commas, e.g. 'slerp:t=0.5 ties:weight=0.5,density=0.5'; "
        "'' = only the tuned model (always evaluated)",
    )
    seed: int = option(1234, help="seed of DARE-TIES' random drop (per tensor, from the seed and the tensor name)")

    def __post_init__(self) -> None:
        if not self.base_model_dir or not self.tuned_model_dir:
            raise ValueError("--base_model_dir and --tuned_model_dir are both required")
        try:  # every spec is checked here, before any weights are read
            parse_candidates(self.candidates)
        except CandidateError as err:
            raise ValueError(f"--candidates: {err}") from None
