"""Makes a processing container ready to run a step: installs containers/requirements.txt when a module
the steps need is missing.

The training toolkit installs ``requirements.txt`` from the code bundle by itself; Processing jobs do not,
so each thin entry script calls :func:`ensure_requirements` first. In the project venv everything is
already there and this is a few imports. ``MEDLLAMA_NO_PIP=1`` turns installing off (network-isolated
jobs must then use an image that has the packages).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

# Import names of what requirements.txt adds to the image (the rest ships with it).
REQUIRED_MODULES = ("py3langid", "jsonschema", "lxml", "boto3", "tokenizers", "datasets", "numpy", "pyarrow")


def missing_modules() -> list[str]:
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def ensure_requirements() -> None:
    missing = missing_modules()
    if not missing:
        return
    requirements = Path(__file__).resolve().parent.parent / "requirements.txt"
    if os.environ.get("MEDLLAMA_NO_PIP") == "1":
        raise SystemExit(f"missing Python modules {missing} and MEDLLAMA_NO_PIP=1; install {requirements}")
    print(f"bootstrap: installing {requirements} (missing: {', '.join(missing)})", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
        check=True,
    )
