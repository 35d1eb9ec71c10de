"""Makes a processing container ready to run a step: installs containers/requirements.txt when one of its pins is
missing or at another version.

The training toolkit installs ``requirements.txt`` from the code bundle by itself; Processing jobs do not, so each
thin entry script calls :func:`ensure_requirements` first. The file lists only what the image lacks and the four
packages it leaves floating (see its header), so a job installs a handful of small wheels, never the image's own
stack. In the project venv every pin already matches and this is a few metadata reads. ``MEDLLAMA_NO_PIP=1`` turns
installing off (network-isolated jobs must then use an image that has the packages; docs/aws-runtime.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#;]+)")


def pins(path: Path) -> dict[str, str]:
    """``name == version`` lines of a requirements file (names as written)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def unmet(path: Path | None = None) -> list[str]:
    """The pins this interpreter does not satisfy, as ``name==want (have)``."""
    out = []
    for name, want in pins(path or REQUIREMENTS).items():
        try:
            have = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != want:
            out.append(f"{name}=={want} ({have})")
    return out


def ensure_requirements() -> None:
    missing = unmet()
    if not missing:
        return
    if os.environ.get("MEDLLAMA_NO_PIP") == "1":
        raise SystemExit(f"requirements not met: {', '.join(missing)} and MEDLLAMA_NO_PIP=1; install {REQUIREMENTS}")
    print(f"bootstrap: installing {REQUIREMENTS} (not met: {', '.join(missing)})", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        check=True,
    )
