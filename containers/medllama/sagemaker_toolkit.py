"""How a SageMaker Training job hands our program its configuration, run by the code that really does it.

In a Training job the image's entry point is the training toolkit (PyPI ``sagemaker-training``): it reads
``/opt/ml/input/config/hyperparameters.json``, JSON-decodes each value (keeping the raw string when that fails),
sets the ``sagemaker_*`` ones aside, renders the rest with ``mapping.to_cmd_args`` (sorted; a list as Python
``str()``, a bool as ``True``/``False``, ``None`` as an empty string) and exports ``SM_*`` variables; the image's
framework module (``sagemaker_pytorch_container.training:main``, PyPI ``sagemaker-pytorch-training``) then copies
``sagemaker_submit_directory`` to ``/opt/ml/code``, pip-installs its ``requirements.txt`` and starts the program,
with ``torchrun`` when ``sagemaker_torch_distributed_enabled``. The local runner runs exactly that
(``python -m sagemaker_training.cli.train`` with ``SAGEMAKER_BASE_DIR`` pointing at a step's sandbox;
pipeline-steps/local/jobs.ts), and this module gives tests the same hop without running the program:

    python -m medllama.sagemaker_toolkit args  BASE_DIR   # {"argv": [...], "env": {...}} as the program gets them
    python -m medllama.sagemaker_toolkit check BASE_DIR   # parses them with the program's own configuration

``BASE_DIR`` is a folder laid out like ``/opt/ml`` (``input/config/*.json``). Development only: the toolkit is a
dev dependency, never imported inside a job (the image brings its own).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# sagemaker_program → (module, configuration class, step name) of the programs our Training steps run.
PROGRAMS: dict[str, tuple[str, str, str]] = {
    "train.py": ("medllama.train.config", "TrainConfig", "train"),
    "stage_base_model.py": ("medllama.stage_base_model", "StageBaseModelConfig", "stage_base_model"),
}


def _environment() -> Any:
    """The toolkit's ``Environment`` for ``$SAGEMAKER_BASE_DIR`` (its paths are fixed when it is imported)."""
    if "SAGEMAKER_BASE_DIR" not in os.environ:
        raise SystemExit("SAGEMAKER_BASE_DIR is not set: run through `python -m medllama.sagemaker_toolkit`")
    from sagemaker_training import environment

    return environment.Environment()


def handoff() -> dict[str, Any]:
    """The program, its command-line arguments and the environment the toolkit gives it."""
    env = _environment()
    return {"program": env.user_entry_point, "argv": env.to_cmd_args(), "env": env.to_env_vars()}


def check(given: dict[str, Any]) -> list[str]:
    """Errors from parsing the handed-over arguments with the program's own configuration ([] when it accepts them)."""
    from medllama.config import ConfigError, parse_config

    program = given["program"]
    if program not in PROGRAMS:
        return [f"sagemaker_program {program!r} is not one of {sorted(PROGRAMS)}"]
    module, cls, step = PROGRAMS[program]
    config_cls = getattr(importlib.import_module(module), cls)
    try:
        parse_config(config_cls, given["argv"], step=step)
    except ConfigError as err:
        return [f"{program}: {err}"]
    return []


def run_in(base_dir: str | os.PathLike[str], command: str) -> dict[str, Any]:
    """``args`` or ``check`` in a fresh interpreter whose ``SAGEMAKER_BASE_DIR`` is ``base_dir``."""
    done = subprocess.run(
        [sys.executable, "-m", "medllama.sagemaker_toolkit", command, str(base_dir)],
        env={**os.environ, "SAGEMAKER_BASE_DIR": str(Path(base_dir).resolve())},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"medllama.sagemaker_toolkit {command} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("args", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    command, base_dir = args
    if Path(os.environ.get("SAGEMAKER_BASE_DIR", "")).resolve() != Path(base_dir).resolve():
        return subprocess.call(
            [sys.executable, "-m", "medllama.sagemaker_toolkit", command, base_dir],
            env={**os.environ, "SAGEMAKER_BASE_DIR": str(Path(base_dir).resolve())},
        )
    given = handoff()
    if command == "args":
        print(json.dumps(given))
        return 0
    errors = check(given)
    print(json.dumps({**given, "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
