"""Hyperparameters and path flags of ``medllama.train`` (one dataclass; the zod schema in
``pipeline-steps/configs/train.ts`` is the source of truth for names, defaults and ranges)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medllama.config import option, path_option
from medllama.sagemaker_env import opt_ml, sm_env

LLAMA_LINEAR_LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# What a field left to its method default means (learning_rate 0, adam_beta2 / adam_epsilon none). The same table
# as pipeline-steps/configs/train.ts METHOD_DEFAULTS, with its sources there and in docs/training.md.
METHOD_DEFAULTS: dict[str, dict[str, float]] = {
    "lora": {"learning_rate": 2e-4, "adam_beta2": 0.999, "adam_epsilon": 1e-8},
    "full": {"learning_rate": 2e-5, "adam_beta2": 0.95, "adam_epsilon": 1e-5},
}


@dataclass
class TrainConfig:
    """Fine-tunes a Llama base model (LoRA or full) on packed token blocks; resumable; logs MFU."""

    method: Literal["lora", "full"] = option(
        "lora", help="lora: train low-rank adapters (DDP); full: all weights (FSDP)"
    )
    learning_rate: float = option(
        0.0, help="peak learning rate of AdamW; 0 = the method's default (lora 2e-4, full 2e-5)"
    )
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = option(
        "cosine", help="learning-rate schedule after the linear warmup"
    )
    warmup_ratio: float = option(0.03, help="fraction of the optimizer steps spent warming up linearly from 0")
    min_lr_ratio: float = option(0.0, help="final learning rate of the cosine/linear decay, as a fraction of the peak")
    num_train_epochs: float = option(
        1.0, help="passes over the training blocks (fractions allowed); ignored if max_steps > 0"
    )
    max_steps: int = option(-1, help="optimizer steps to run; -1 lets max_tokens (or else num_train_epochs) decide")
    max_tokens: int = option(
        0, help="train on this many tokens (steps = tokens / tokens per step); 0 lets num_train_epochs decide"
    )
    max_runtime_seconds: int = option(
        0, help="the job's MaxRuntimeInSeconds; the step checks its projected finish against it (0 = no limit)"
    )
    runtime_margin_seconds: int = option(
        1800, help="time kept free before max_runtime_seconds for the final evaluation, saving and the upload"
    )
    on_overrun: Literal["cap", "fail"] = option(
        "cap", help="when the projected finish is too late: cap the steps (the schedule shortened to fit), or fail"
    )
    per_device_train_batch_size: int = option(1, help="sequences per GPU per micro-step")
    per_device_eval_batch_size: int = option(1, help="sequences per GPU per evaluation forward pass")
    gradient_accumulation_steps: int = option(8, help="micro-steps per optimizer step")
    seq_len: int = option(4096, help="tokens per block; must equal the seq_len the tokenization step packed")
    lora_r: int = option(16, help="LoRA rank")
    lora_alpha: int = option(32, help="LoRA scaling numerator (scale = lora_alpha / lora_r)")
    lora_dropout: float = option(0.05, help="dropout on the LoRA input")
    lora_target: list[str] = option(
        default_factory=lambda: list(LLAMA_LINEAR_LAYERS), help="module names that get adapters (all linear layers)"
    )
    bf16: bool = option(True, help="bfloat16 compute on GPU (weights bf16 for LoRA, FSDP mixed precision for full)")
    gradient_checkpointing: bool = option(
        True,
        help="recompute activations in the backward pass to save GPU memory (off on CPU, where it only costs time)",
    )
    torch_compile: bool = option(False, help="torch.compile each decoder layer (GPU only)")
    eval_steps: int = option(
        200, help="evaluate on the validation blocks every N optimizer steps (0: only at the end)"
    )
    replay_fraction: float = option(
        0.01,
        help="share of the training blocks drawn from the replay split (general text), mixed in by a seeded "
        "permutation; 0 = none; ignored when the replay split is empty",
    )
    max_eval_blocks: int = option(
        0,
        help="evaluations use at most N validation blocks, a fixed seeded subset, the final one too (0: eval_budget "
        "decides the periodic ones, the final one uses the whole split)",
    )
    eval_budget: float = option(
        0.05, help="periodic evaluations may cost at most this fraction of training time (the final one is complete)"
    )
    save_steps: int = option(200, help="write a checkpoint every N optimizer steps (0: never)")
    save_total_limit: int = option(2, help="keep the newest N checkpoints")
    logging_steps: int = option(10, help="print metric lines every N optimizer steps")
    seed: int = option(42, help="seed of the data order, LoRA init and dropout")
    max_grad_norm: float = option(1.0, help="clip the global gradient norm to this (0: no clipping)")
    weight_decay: float = option(0.0, help="AdamW weight decay (not applied to norms and biases)")
    adam_beta1: float = option(0.9, help="AdamW beta1")
    adam_beta2: float | None = option(None, help="AdamW beta2 (none: the method's default, lora 0.999, full 0.95)")
    adam_epsilon: float | None = option(None, help="AdamW epsilon (none: the method's default, lora 1e-8, full 1e-5)")
    resume: bool = option(True, help="resume from the newest valid checkpoint in checkpoint_dir")
    merge_adapter: bool = option(True, help="LoRA: save the base with the adapter merged into model_dir")
    max_shard_size: str = option("2GB", help="largest safetensors shard of the saved model")
    peak_tflops: float = option(0.0, help="peak dense TFLOPS per device for MFU (0: known GPUs by name, else no MFU)")

    train_dir: str = path_option(
        lambda: sm_env("SM_CHANNEL_TRAIN", opt_ml("input", "data", "train")), help="packed train split folder"
    )
    validation_dir: str = path_option(
        lambda: sm_env("SM_CHANNEL_VALIDATION", opt_ml("input", "data", "validation")),
        help="packed validation split folder",
    )
    replay_dir: str = path_option(
        lambda: sm_env("SM_CHANNEL_REPLAY", opt_ml("input", "data", "replay")),
        help="packed replay split folder (Tokenize's 'replay'); missing or empty = no replay",
    )
    base_model_dir: str = path_option(
        lambda: sm_env("SM_CHANNEL_BASE_MODEL", opt_ml("input", "data", "base_model")),
        help="HF model folder of the base model (or a folder holding one model .tar.gz)",
    )
    model_dir: str = path_option(
        lambda: sm_env("SM_MODEL_DIR", opt_ml("model")), help="where the trained model is written"
    )
    checkpoint_dir: str = path_option(lambda: opt_ml("checkpoints"), help="checkpoints (SageMaker syncs it to S3)")
    output_data_dir: str = path_option(
        lambda: sm_env("SM_OUTPUT_DATA_DIR", opt_ml("output", "data")), help="training_summary.json and metrics.jsonl"
    )

    def method_value(self, name: str) -> float:
        """``name`` (learning_rate, adam_beta2, adam_epsilon) as given, or the method's default when left to it."""
        value = getattr(self, name)
        unset = value is None or (name == "learning_rate" and value == 0)
        return METHOD_DEFAULTS[self.method][name] if unset else float(value)

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"--max_steps: got {self.max_steps}, expected -1 (epochs decide) or a positive number")
        if self.max_steps == -1 and self.num_train_epochs <= 0:
            raise ValueError("--num_train_epochs must be > 0 when --max_steps is -1")
        if self.method == "lora" and not self.lora_target:
            raise ValueError("--lora_target: at least one module name is needed for --method lora")
