"""The optional C module ``_speedups`` (the sources in ``_speedups/`` beside this file): how it is built and loaded.

Each C function either equals a Python twin (``safety.cut_elements_py``, ``text.squash_py``, ...) or only
shortens the way to what the walker would produce anyway (citation markers written before parsing, an NFC
probe); the list is in ``_speedups/module.c`` and the tests compare both ways. So the step's output never
depends on whether the module was compiled; only its speed does (about 1.5× for extraction, 1.6× for the
language ID, 2.3× for MinHash).

It is compiled on the machine that runs it, for the running interpreter (``python -m medllama.speedups``,
about 0.5 s): ``npm test`` / ``npm run demo`` do it in the project venv during set-up, and the step's ``main()``
does it inside the processing container (the Hugging Face DLC ships a C compiler). The code bundle never
carries a compiled file. A compiled module is used only when it was built from the sources beside it (their
SHA-256 is compiled in and compared), so an edited source is never shadowed by a stale binary.
``MEDLLAMA_SPEEDUPS=0`` turns the module off (the benchmark uses it for the pure-Python figure).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "_speedups"
MODULE = "medllama._speedups"
_DIGEST = re.compile(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def source_sha256() -> str:
    """SHA-256 over the C sources (each file's name and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(SOURCES.glob("*.[ch]")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def target() -> Path:
    """Where the compiled module goes: beside its source, named for this interpreter (``_speedups.cpython-…so``)."""
    return HERE / ("_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))


def _load() -> tuple[ModuleType | None, str]:
    """(the module, or None; why not). A stale binary is detected before it is imported (a loaded extension
    cannot be replaced in the same process)."""
    if os.environ.get("MEDLLAMA_SPEEDUPS", "1") == "0":
        return None, "turned off (MEDLLAMA_SPEEDUPS=0)"
    path = target()
    if not path.exists():
        return None, f"not built (run: {sys.executable} -m {__name__})"
    if _built_from(path) != source_sha256():
        return None, f"stale: {path.name} was built from other sources than _speedups/ (rebuild: -m {__name__})"
    try:
        return importlib.import_module(MODULE), "compiled"
    except ImportError as err:
        return None, f"cannot be loaded: {err}"


def build(cc: str | None = None, out: Path | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compiles ``_speedups/*.c`` for this interpreter into ``out`` (default :func:`target`), atomically, and
    does nothing when the module there is up to date. Raises ``RuntimeError`` with the compiler's output when
    the compiler is missing or fails (``OSError`` when the folder is not writable)."""
    out = out or target()
    digest = source_sha256()
    if out.exists() and _built_from(out) == digest:
        return out
    compiler = shlex.split(cc or os.environ.get("CC") or "cc")
    include = sysconfig.get_paths()["include"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        so = Path(tmp) / out.name
        cmd = [
            *compiler, "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", *extra_flags, f"-I{include}", f"-I{SOURCES}",
            f'-DSPEEDUPS_SOURCE_SHA256="{digest}"', *map(str, sorted(SOURCES.glob("*.c"))), "-o", str(so),
        ]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as err:
            raise RuntimeError(f"cannot run the C compiler {compiler[0]!r}: {err}") from None
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed:\n{done.stderr.strip()}")
        os.replace(so, out)
    return out


def _built_from(path: Path) -> str | None:
    """The source digest compiled into ``path`` (its only 64-hex-digit string), or None."""
    found = _DIGEST.search(path.read_bytes())
    return found.group(0).decode("ascii") if found else None


native, status = _load()


def ensure() -> str:
    """Builds the module when it is missing or stale; for the ingest entry point, before the rest of
    ``medllama.ingest`` is imported (that is when ``text`` and ``safety`` pick the C or the Python twins).
    Returns what is in use, for the log. A machine without a C compiler runs the Python twins (same output,
    slower) and says so; nothing here raises."""
    global native, status
    if native is None and os.environ.get("MEDLLAMA_SPEEDUPS", "1") != "0":
        try:
            build()
        except (RuntimeError, OSError) as err:
            status = f"not built ({err})"
            return f"python: {status}"
        importlib.invalidate_caches()
        native, status = _load()
    return "c" if native is not None else f"python: {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medllama.speedups", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cc", default=None, help="C compiler command (default: $CC or cc)")
    args = parser.parse_args(argv)
    try:
        path = build(args.cc)
    except (RuntimeError, OSError) as err:
        print(f"speedups: {err}", file=sys.stderr)
        return 1
    print(f"speedups: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
