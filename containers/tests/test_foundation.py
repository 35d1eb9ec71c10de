"""Foundation: the DLC version file, the requirements pins, the tokenizer helper, small shared modules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medllama import jsonl
from medllama.sagemaker_env import Shard, resolve_shard, shard_from_resource_config

REPO = Path(__file__).resolve().parents[2]
DLC = json.loads((REPO / "containers" / "dlc.json").read_text())


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#]+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(3)
    return out


def test_dlc_file_names_images_and_versions() -> None:
    training = DLC["training"]
    assert training["repository"] == "huggingface-pytorch-training"
    tag = training["tag"]
    packages = training["packages"]
    # the tag itself carries the torch and transformers versions and the image's Python
    assert tag.startswith(
        f"{packages['torch']}-transformers{packages['transformers']}-gpu-py{training['python'].replace('.', '')}"
    )
    assert set(packages) >= {"torch", "transformers", "peft", "accelerate", "datasets", "tokenizers"}
    assert DLC["serving"]["default"] in DLC["serving"]
    assert DLC["registries"]["us-east-1"] == "763104351884"


def test_requirements_pin_exactly_the_image_versions() -> None:
    image = pins(REPO / "containers" / "requirements-image.txt")
    jobs = pins(REPO / "containers" / "requirements.txt")
    for name, version in DLC["training"]["packages"].items():
        pinned = {**image, **jobs}.get(name)
        assert pinned == version, f"the requirement files pin {name}=={pinned}, dlc.json says {version}"
    # Jobs install only what the image lacks or leaves floating, never a package the image pins.
    floating = set(DLC["training"]["floatingInImage"])
    assert set(jobs) & set(DLC["training"]["packages"]) == floating
    assert not set(image) & floating and not set(image) & set(jobs)


def test_installed_versions_match_the_image() -> None:
    from importlib.metadata import version

    for name, expected in DLC["training"]["packages"].items():
        installed = version(name).split("+")[0]
        assert installed == expected, (
            f"venv has {name} {installed}, the image ships {expected}: rerun scripts/setup.mjs"
        )


def test_registries_agree_with_the_sdk_image_config(shared_dir: Path) -> None:
    reference = json.loads((shared_dir / "reference" / "sagemaker-sdk-image_uri_config.huggingface.json").read_text())
    entry = reference["training"]["versions"][DLC["training"]["packages"]["transformers"]]
    torch_key = f"pytorch{DLC['training']['packages']['torch']}"
    assert DLC["training"]["python"].replace(".", "") in "".join(entry[torch_key]["py_versions"])
    for region, account in entry[torch_key]["registries"].items():
        assert DLC["registries"].get(region) == account, region


def test_llama2_tokenizer_round_trip(tokenizer_json: Path) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    assert tok.get_vocab_size() == 32000
    text = "Metformin reduces HbA1c by 1.1% (95% CI 0.9–1.3) in type 2 diabetes; β-blockers lower heart rate."
    enc = tok.encode(text, add_special_tokens=False)
    assert 20 < len(enc.ids) < 80
    assert tok.decode(enc.ids) == text
    assert tok.token_to_id("<s>") == 1 and tok.token_to_id("</s>") == 2


def test_jsonl_round_trip_is_deterministic_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    jsonl.write_jsonl(path, [{"b": 1, "a": "é"}, {"z": [1, 2]}])
    assert path.read_bytes() == '{"a":"é","b":1}\n{"z":[1,2]}\n'.encode()
    path.write_bytes(path.read_bytes() + b"not json\n[1]\n\xff\xfe\n")
    items = list(jsonl.read_jsonl(path))
    assert items[:2] == [{"a": "é", "b": 1}, {"z": [1, 2]}]
    assert [type(i).__name__ for i in items[2:]] == ["BadLine"] * 3
    assert [i.line for i in items[2:]] == [3, 4, 5]
    with pytest.raises(ValueError):
        jsonl.write_jsonl(tmp_path / "nan.jsonl", [{"x": float("nan")}])


def test_shards_from_resource_config(tmp_path: Path) -> None:
    cfg = tmp_path / "resourceconfig.json"
    cfg.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2", "algo-3"]}))
    shard = shard_from_resource_config(cfg)
    assert shard == Shard(1, 3) and shard.suffix == "00001-of-00003"
    assert [i for i in range(7) if shard.owns(i)] == [1, 4]
    assert resolve_shard(0, 2) == Shard(0, 2)
    with pytest.raises(ValueError, match="both --shard_index and --shard_count"):
        resolve_shard(1, None)
    with pytest.raises(ValueError, match="shard index must be in"):
        Shard(3, 3)


def test_no_resource_config_means_one_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDLLAMA_OPT_ML", str(tmp_path))
    assert shard_from_resource_config() == Shard(0, 1)


def test_tests_reach_shared_only_through_the_locator(repo: Path) -> None:
    """../shared is reached only through conftest.py's fixtures (pytest) and test/support/shared.ts (vitest):
    the only way `npm test`'s no-shared stage can hide it, and so prove a user's clone (which has no ../shared)
    passes."""
    # a path part named shared, or a string that starts with ../shared/ and a name
    direct = re.compile(r"""['"]shared['"]|['"](?:\.\./)+shared/\w""")
    offenders = []
    for path in [*sorted((repo / "containers" / "tests").glob("*.py")), *sorted((repo / "test").rglob("*.ts"))]:
        if path.name in {"conftest.py", "shared.ts"} or "node_modules" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if direct.search(line):
                offenders.append(f"{path.relative_to(repo)}:{number}: {line.strip()}")
    assert not offenders, "read ../shared through the locator instead:\n" + "\n".join(offenders)


def test_jobs_install_only_unmet_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medllama import bootstrap

    assert bootstrap.unmet() == []  # the venv already holds what a job installs: nothing to do
    wanted = tmp_path / "requirements.txt"
    wanted.write_text("# header\njsonschema==0.0.1\nno-such-package-medllama==1.0\nlxml==6.1.3\n")
    assert bootstrap.unmet(wanted) == [
        f"jsonschema==0.0.1 ({__import__('importlib.metadata').metadata.version('jsonschema')})",
        "no-such-package-medllama==1.0 (missing)",
    ]
    monkeypatch.setattr(bootstrap, "REQUIREMENTS", wanted)
    monkeypatch.setenv("MEDLLAMA_NO_PIP", "1")
    with pytest.raises(SystemExit, match=r"requirements not met: jsonschema==0\.0\.1"):
        bootstrap.ensure_requirements()


def test_entry_scripts_run_their_step_only_as_the_main_program(repo: Path) -> None:
    """A spawn worker pool imports the entry script again in each worker (as __mp_main__): without the guard each
    worker would run the whole step again. Ingest's pool did exactly that once, and its demo never ended."""
    scripts = sorted(p for p in (repo / "containers").glob("*.py"))
    assert {p.stem for p in scripts} >= {"ingest", "dedup", "tokenization", "train", "evaluate", "stage_base_model"}
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        guarded = text.split('if __name__ == "__main__":', 1)
        assert len(guarded) == 2 and "main()" in guarded[1] and "main()" not in guarded[0].split("import main")[-1], (
            f'{script.name}: run main() only under `if __name__ == "__main__":`'
        )
