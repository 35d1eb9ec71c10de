"""``medllama.stage_base_model``: the gated JumpStart Llama 2 archive → a plain Hugging Face model folder.

Only a Training job channel that carries ``ModelAccessConfig: {AcceptEula: true}`` may read Meta's gated
weights in ``jumpstart-private-cache-prod-<region>`` (research/sagemaker.md §9.4), and they come as one
``.tar.gz``. The pipeline's ``StageBaseModel`` step runs this module once (step cache P30D) on a CPU instance:
it finds the model in its ``base_model`` channel (an HF folder, or a folder holding one ``*.tar.gz`` that is
extracted with the train package's safe extraction), checks that it is an HF Llama folder (``config.json``
with the expected ``model_type``, a Llama ``tokenizer.json``, complete safetensors or ``pytorch_model*.bin``
weights) and writes it uncompressed to SM_MODEL_DIR (``OutputDataConfig.CompressionType: NONE``). Tokenize,
Train and Evaluate then read ``ModelArtifacts.S3ModelArtifacts`` like a user-staged base model.

``.bin`` weights are copied as they are: converting them to safetensors would need each multi-GB shard in
memory and twice the disk, and every consumer loads either format. A folder with ``tokenizer.model`` but no
``tokenizer.json`` gets one converted by ``transformers`` (needs ``sentencepiece``); failing that, the step
stops with an error naming what is missing.

    python -m medllama.stage_base_model --base_model_dir CHANNEL --model_dir OUT --output_data_dir REPORT
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medllama.config import option, parse_or_exit, path_option
from medllama.jsonl import write_json
from medllama.logs import setup_logging
from medllama.sagemaker_env import opt_ml, sm_env

log = logging.getLogger("medllama.stage_base_model")

SCRATCH = ".medllama-extract"
REPORT = "stage-base-model.json"
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


class StageError(ValueError):
    """The channel holds no usable Hugging Face model."""


@dataclass
class StageBaseModelConfig:
    """Extract the gated JumpStart base model archive and check it is a Hugging Face Llama folder."""

    model_type: str = option("llama", help="the model_type config.json must declare")

    base_model_dir: str = path_option(
        lambda: sm_env("SM_CHANNEL_BASE_MODEL", opt_ml("input", "data", "base_model")),
        help="the channel: an HF model folder, or a folder holding one model .tar.gz",
    )
    model_dir: str = path_option(
        lambda: sm_env("SM_MODEL_DIR", opt_ml("model")), help="where the HF model folder is written (empty)"
    )
    output_data_dir: str = path_option(
        lambda: sm_env("SM_OUTPUT_DATA_DIR", opt_ml("output", "data")), help=f"where {REPORT} is written"
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def locate_model(channel: Path, out: Path) -> tuple[Path, str | None]:
    """The folder holding ``config.json`` (two levels deep at most) and the archive it came from, if any.

    A channel without ``config.json`` must hold exactly one ``*.tar.gz``, which is extracted into a scratch
    folder inside ``out`` (same volume, so the files are later moved, not copied).
    """
    from medllama.train.model import ModelError, find_config_dir, safe_extract

    if not channel.is_dir():
        raise StageError(f"--base_model_dir {channel} is not a folder")
    found = find_config_dir(channel, depth=2)
    if found:
        return found, None
    archives = sorted(channel.rglob("*.tar.gz"))
    if len(archives) != 1:
        raise StageError(
            f"--base_model_dir {channel} has no config.json and {len(archives)} *.tar.gz files; expected an HF "
            "model folder or exactly one model archive"
        )
    scratch = out / SCRATCH
    scratch.mkdir(parents=True)
    log.info(f"extracting {archives[0]} ({archives[0].stat().st_size / 2**30:.2f} GiB)")
    try:
        safe_extract(archives[0], scratch)
    except ModelError as err:
        raise StageError(str(err)) from err
    except (tarfile.TarError, OSError, EOFError) as err:
        raise StageError(f"{archives[0]}: not a readable tar archive ({err})") from err
    found = find_config_dir(scratch, depth=2)
    if not found:
        listing = ", ".join(str(p.relative_to(scratch)) for p in _files(scratch)[:10]) or "nothing"
        raise StageError(f"{archives[0].name} holds no config.json two folders deep (it holds: {listing})")
    return found, archives[0].name


def place(src: Path, out: Path, *, move: bool) -> None:
    """Every file of ``src`` (recursively, minus the scratch folder) at the same relative path in ``out``."""
    for file in _files(src):
        rel = file.relative_to(src)
        if rel.parts[0] == SCRATCH:
            continue
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(file), dest)
        else:
            shutil.copy2(file, dest)


def ensure_tokenizer_config(folder: Path) -> bool:
    """Adds Llama 2's ``tokenizer_config.json`` (BOS ``<s>``, EOS ``</s>``) when the folder has none: Tokenize reads
    BOS/EOS from it (medllama.tokenizer), and the pipeline hands it that file. True if written."""
    path = folder / "tokenizer_config.json"
    if path.is_file():
        return False
    path.write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2) + "\n")
    return True


def ensure_tokenizer_json(folder: Path) -> bool:
    """Adds ``tokenizer.json`` converted from ``tokenizer.model`` when only the latter exists. True if converted."""
    if (folder / "tokenizer.json").is_file():
        return False
    if not (folder / "tokenizer.model").is_file():
        raise StageError(f"{folder}: no tokenizer.json and no tokenizer.model (Tokenize needs tokenizer.json)")
    log.info("no tokenizer.json: converting tokenizer.model with transformers")
    try:
        from transformers import AutoTokenizer

        with tempfile.TemporaryDirectory() as tmp:
            AutoTokenizer.from_pretrained(str(folder)).save_pretrained(tmp)
            converted = Path(tmp) / "tokenizer.json"
            if not converted.is_file():
                raise StageError("the converted tokenizer has no tokenizer.json")
            shutil.copy2(converted, folder / "tokenizer.json")
    except StageError:
        raise
    except Exception as err:  # any conversion failure is the same user-facing error
        raise StageError(
            f"{folder}: no tokenizer.json, and converting tokenizer.model failed ({type(err).__name__}: {err})"
        ) from err
    return True


def check_weights(folder: Path) -> dict[str, Any]:
    """The weight files (format, shards, tensor count); every shard an index names must exist."""
    safetensors = sorted(p.name for p in folder.glob("*.safetensors"))
    bins = sorted(p.name for p in folder.glob("pytorch_model*.bin"))
    for index_name in WEIGHT_INDEXES:
        index = folder / index_name
        if not index.is_file():
            continue
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StageError(f"{index}: not a weight index with a weight_map ({err})") from err
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise StageError(f"{index} names shards that are missing: {', '.join(missing)}")
    if safetensors:
        from safetensors import safe_open

        tensors = 0
        for name in safetensors:
            try:
                with safe_open(str(folder / name), framework="numpy") as f:
                    tensors += len(list(f.keys()))
            except Exception as err:  # safetensors raises its own error types
                raise StageError(f"{folder / name}: not a readable safetensors file ({err})") from err
        return {"format": "safetensors", "files": safetensors, "tensors": tensors}
    if bins:
        log.info("weights are pytorch_model*.bin: copied as they are (every consumer loads them)")
        return {"format": "bin", "files": bins}
    raise StageError(f"{folder}: no weights (*.safetensors or pytorch_model*.bin)")


def validate_model_folder(folder: Path, model_type: str) -> dict[str, Any]:
    """Checks ``folder`` is an HF model of ``model_type`` with a Llama tokenizer and weights; returns facts."""
    from medllama.tokenization.core import InputError, load_tokenizer

    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StageError(f"{config_file}: not readable JSON ({err})") from err
    if not isinstance(config, dict) or config.get("model_type") != model_type:
        got = config.get("model_type") if isinstance(config, dict) else type(config).__name__
        raise StageError(f"{config_file}: model_type is {got!r}, expected {model_type!r} (--model_type)")
    try:
        tok = load_tokenizer(folder)
    except InputError as err:
        raise StageError(str(err)) from err
    return {
        "model_type": model_type,
        "architectures": config.get("architectures", []),
        "vocab_size": config.get("vocab_size"),
        **tok.identity.as_manifest(),
        "weights": check_weights(folder),
    }


def stage(cfg: StageBaseModelConfig) -> dict[str, Any]:
    """Stages the channel's model into ``cfg.model_dir`` and writes the report; returns it."""
    channel, out = Path(cfg.base_model_dir), Path(cfg.model_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise StageError(f"--model_dir {out} is not empty")
    try:
        found, archive = locate_model(channel, out)
        # Extracted files are moved (same volume); files of an input channel are copied, never changed.
        place(found, out, move=archive is not None)
    finally:
        shutil.rmtree(out / SCRATCH, ignore_errors=True)
    converted = ensure_tokenizer_json(out)
    config_written = ensure_tokenizer_config(out)
    facts = validate_model_folder(out, cfg.model_type)
    files = [{"path": str(p.relative_to(out)), "bytes": p.stat().st_size} for p in _files(out)]
    report = {
        "schema_version": 1,
        "source": {"archive": archive} if archive else {"folder": str(found.relative_to(channel))},
        "tokenizer_converted": converted,
        "tokenizer_config_written": config_written,
        **facts,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    Path(cfg.output_data_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(cfg.output_data_dir) / REPORT, report)
    log.info(
        f"staged {len(files)} files ({report['total_bytes'] / 2**30:.2f} GiB, {facts['weights']['format']} weights) "
        f"into {out}"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    cfg = parse_or_exit(
        StageBaseModelConfig, argv, step="stage_base_model", description=StageBaseModelConfig.__doc__ or ""
    )
    setup_logging("medllama.stage_base_model")
    try:
        stage(cfg)
    except StageError as err:
        log.error(str(err))
        return 2
    return 0


__all__ = ["StageBaseModelConfig", "StageError", "main", "stage"]

if __name__ == "__main__":
    raise SystemExit(main())
