"""medllama.merge_back: the published formulas on hand-computed cases, specs, determinism, a tiny model end to end,
and equality with mergekit 0.1.5 when it is importable (it is not in the project's venv: see docs/training.md
"Merge-back candidates"; run with PYTHONPATH pointing at a `pip install --no-deps --target` of mergekit)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from medllama.merge_back import Candidate, CandidateError, build, linear, merge_tensor, slerp, ties
from medllama.merge_back.candidates import tensor_seed


def test_linear_and_slerp_by_hand() -> None:
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(linear(a, b, 0.25), torch.tensor([0.75, 0.25]))
    # orthogonal unit vectors: θ = π/2, SLERP 0.5 = (sin(π/4), sin(π/4)) / sin(π/2)
    assert torch.allclose(slerp(a, b, 0.5), torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b)
    # θ = π/3 between (1, 0) and (1/2, √3/2): t = 1/2 gives the unit vector at π/6
    c = torch.tensor([0.5, math.sqrt(3) / 2])
    assert torch.allclose(slerp(a, c, 0.5), torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]), atol=1e-6)
    # collinear: the linear interpolation
    assert torch.allclose(slerp(a, 2 * a, 0.5), torch.tensor([1.5, 0.0]))


def test_ties_by_hand() -> None:
    base = torch.zeros(4)
    t1 = torch.tensor([3.0, -1.0, 0.5, 2.0])
    t2 = torch.tensor([-1.0, -2.0, 1.5, 0.1])
    # density 1, weights 1/1: elected signs + - + +; agreeing entries averaged by their weights
    assert torch.allclose(ties(base, [t1, t2], [1, 1], 1.0), torch.tensor([3.0, -1.5, 1.0, 1.05]))
    # density 0.5 trims each task vector to its 2 largest |τ|: t1 → [3, 0, 0, 2], t2 → [0, -2, 1.5, 0]
    assert torch.allclose(ties(base, [t1, t2], [1, 1], 0.5), torch.tensor([3.0, -2.0, 1.5, 2.0]))
    # one tuned model, normalized: the weight cancels, only the trim is left
    assert torch.allclose(ties(base + 1, [t1 + 1], [0.5], 0.5), torch.tensor([4.0, 1.0, 1.0, 3.0]))
    assert torch.allclose(ties(base, [t1], [0.5], 0.5, normalize=False), torch.tensor([1.5, 0.0, 0.0, 1.0]))


def test_dare_is_seeded_and_keeps_the_l1_norm() -> None:
    base = torch.zeros(1000)
    tuned = torch.linspace(-1, 1, 1000)
    gen = torch.Generator().manual_seed(7)
    out = ties(base, [tuned], [1.0], 0.3, normalize=False, generator=gen)
    kept = (out != 0).float().mean().item()
    assert 0.25 < kept < 0.35
    assert torch.isclose(out.abs().sum(), tuned.abs().sum(), rtol=1e-5)
    again = ties(base, [tuned], [1.0], 0.3, normalize=False, generator=torch.Generator().manual_seed(7))
    assert torch.equal(out, again)
    c = Candidate.parse("dare_ties:weight=0.5,density=0.5")
    x = merge_tensor(c, "layer.0.w", base, tuned, seed=1)
    assert torch.equal(x, merge_tensor(c, "layer.0.w", base, tuned, seed=1))
    assert not torch.equal(x, merge_tensor(c, "layer.1.w", base, tuned, seed=1))
    assert tensor_seed(1, "a") != tensor_seed(2, "a")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("slerp", "t is required"),
        ("slerp:t=1.5", "t=1.5, expected a number in [0, 1]"),
        ("ties:weight=0.5,density=0", "density=0"),
        ("ties:weight=x", "weight='x' is not a number"),
        ("task_arithmetic:weight=1", "unknown method 'task_arithmetic'"),
        ("slerp:alpha=0.5", "'alpha=0.5' is not key=value with a key of ['t']"),
    ],
)
def test_bad_specs_name_the_spec(spec: str, message: str) -> None:
    with pytest.raises(
        CandidateError,
        match=r".*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        Candidate.parse(spec)


def test_spec_names() -> None:
    assert Candidate.parse("slerp:t=0.5").name == "slerp-t0.5"
    assert Candidate.parse("dare_ties:weight=0.5").name == "dare_ties-weight0.5-density0.5"
    assert Candidate.parse("tuned").name == "tuned"


def make_tuned(tiny_base_model: Path, tuned: Path) -> Path:
    """A 'tuned' model: the tiny base plus seeded noise, with the base's other files."""
    tuned.mkdir(parents=True)
    for f in tiny_base_model.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            (tuned / f.name).write_bytes(f.read_bytes())
    gen = torch.Generator().manual_seed(0)
    for f in sorted(tiny_base_model.glob("*.safetensors")):
        weights = load_file(f)
        noisy = {k: v + 0.01 * torch.randn(v.shape, generator=gen).to(v.dtype) for k, v in weights.items()}
        save_file(noisy, tuned / f.name, metadata={"format": "pt"})
    return tuned


def test_build_on_the_tiny_model(tmp_path: Path, tiny_base_model: Path) -> None:
    """SLERP 0.5 and DARE-TIES folders load, keep every file but the weights, and are the same bytes when built
    twice."""
    tuned = make_tuned(tiny_base_model, tmp_path / "tuned")
    for spec in ("slerp:t=0.5", "dare_ties:weight=0.5,density=0.5", "ties:weight=1,density=0.3", "linear:t=0.5"):
        c = Candidate.parse(spec)
        record = build(c, tiny_base_model, tuned, tmp_path / "a" / c.name, seed=42)
        build(c, tiny_base_model, tuned, tmp_path / "b" / c.name, seed=42)
        assert record["name"] == c.name
        for f in sorted((tmp_path / "a" / c.name).iterdir()):
            assert f.read_bytes() == (tmp_path / "b" / c.name / f.name).read_bytes(), f
        assert json.loads((tmp_path / "a" / c.name / "config.json").read_text())
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a" / "slerp-t0.5")
    assert sum(p.numel() for p in model.parameters()) > 0


def test_equal_to_mergekit_on_the_tiny_model(tiny_base_model: Path) -> None:
    pytest.importorskip("mergekit", reason="mergekit is not installed in this environment")
    from mergekit.merge_methods.base import TensorEntry, TensorGroup
    from mergekit.merge_methods.registry import get as merge_method
    from mergekit.merge_methods.slerp import slerp as mk_slerp

    base = {k: v.float() for f in tiny_base_model.glob("*.safetensors") for k, v in load_file(f).items()}
    gen = torch.Generator().manual_seed(1)
    tuned = {k: v + 0.02 * torch.randn(v.shape, generator=gen) for k, v in base.items()}
    checked = 0
    for name in sorted(base):
        b, t = base[name], tuned[name]
        assert torch.allclose(slerp(b, t, 0.5), mk_slerp(torch.tensor([0.5]), b[None], t[None])[0], atol=1e-6)
        group = TensorGroup((TensorEntry("base", b, is_base=True), TensorEntry("tuned", t)))
        params = {"weight": {"tuned": 0.5}, "density": {"tuned": 0.5}, "int8_mask": False, "lambda": 1.0}
        mk_ties = merge_method("ties").merge_group(group, **params, normalize=True, rescale=False)
        ours = merge_tensor(Candidate.parse("ties:weight=0.5,density=0.5"), name, b, t, seed=3)
        assert torch.allclose(ours, mk_ties, atol=1e-6), name
        torch.manual_seed(tensor_seed(3, name))  # mergekit draws DARE's mask from torch's global generator
        mk_dare = merge_method("dare_ties").merge_group(group, **params, normalize=False, rescale=True)
        ours = merge_tensor(Candidate.parse("dare_ties:weight=0.5,density=0.5"), name, b, t, seed=3)
        assert torch.allclose(ours, mk_dare, atol=1e-6), name
        checked += 1
    assert checked == len(base) > 5


def _spec_table(repo: Path) -> dict:
    return json.loads((repo / "fixtures" / "merge-candidate-specs.json").read_text(encoding="utf-8"))


def test_candidate_grammar_equals_the_typescript_one(repo: Path) -> None:
    """The table test/merge-candidates.test.ts runs through pipeline-steps/merge-candidates.ts."""
    from medllama.merge_back.candidates import parse_candidates

    table = _spec_table(repo)
    for spec, names in table["accept"].items():
        assert [c.name for c in parse_candidates(spec)] == names, spec
    for spec, message in table["reject"].items():
        with pytest.raises(CandidateError) as err:
            parse_candidates(spec)
        assert str(err.value) == message, spec


def test_entry_builds_every_candidate_folder(
    tmp_path: Path, tiny_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python -m medllama.merge_back: each merged candidate is a loadable HF folder with the tokenizer and a
    manifest, its weights equal merge_tensor's on every tensor; tuned is listed first and never copied; with MLflow
    configured, the specs and candidates.json go to the execution's run."""
    from mlflow import MlflowClient
    from transformers import AutoModelForCausalLM

    from medllama.merge_back.run import INDEX, MANIFEST, main

    store = (tmp_path / "mlruns").as_uri()
    for key, value in {"MLFLOW_TRACKING_URI": store, "MLFLOW_ALLOW_FILE_STORE": "true",
                       "MLFLOW_EXPERIMENT_NAME": "MedLlama-test", "MEDLLAMA_MLFLOW_RUN_NAME": "exec-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    tuned = make_tuned(tiny_base_model, tmp_path / "tuned")
    out = tmp_path / "out"
    argv = ["--base_model_dir", str(tiny_base_model), "--tuned_model_dir", str(tuned), "--output_dir", str(out)]
    assert main([*argv, "--candidates", "slerp:t=0.5, ties:weight=1,density=0.3", "--seed", "7"]) == 0
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("MedLlama-test").experiment_id])
    assert run.info.run_name == "exec-1"
    assert run.data.params["merge_back.candidates"] == "slerp:t=0.5, ties:weight=1,density=0.3"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "merge_back")] == ["merge_back/candidates.json"]
    index = json.loads((out / INDEX).read_text())
    assert [c["name"] for c in index["candidates"]] == ["tuned", "slerp-t0.5", "ties-weight1-density0.3"]
    assert index["candidates"][0]["folder"] is None and not (out / "tuned").exists()
    base = {k: v for f in tiny_base_model.glob("*.safetensors") for k, v in load_file(f).items()}
    tuned_w = {k: v for f in tuned.glob("*.safetensors") for k, v in load_file(f).items()}
    for record in index["candidates"][1:]:
        folder = out / record["folder"]
        assert (folder / "tokenizer.json").read_bytes() == (tuned / "tokenizer.json").read_bytes()
        manifest = json.loads((folder / MANIFEST).read_text())
        assert manifest["method"] == record["method"] and manifest["params"] == record["params"]
        assert manifest["base"]["path"] == str(tiny_base_model) and manifest["tuned"]["path"] == str(tuned)
        model = AutoModelForCausalLM.from_pretrained(folder)
        state = model.state_dict()
        c = Candidate(record["method"], record["params"])
        merged = {k: v for f in folder.glob("*.safetensors") for k, v in load_file(f).items()}
        assert set(merged) == set(tuned_w)
        for name, tensor in merged.items():
            assert torch.equal(tensor, merge_tensor(c, name, base[name], tuned_w[name], seed=7)), name
            if name in state:
                assert torch.equal(state[name].to(tensor.dtype), tensor), name


def test_entry_refuses_a_bad_spec_before_reading_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from medllama.merge_back.run import main

    missing = str(tmp_path / "nowhere")
    with pytest.raises(SystemExit) as exit_:
        main(["--base_model_dir", missing, "--tuned_model_dir", missing, "--output_dir", str(tmp_path / "o"),
              "--candidates", "slerp:t=0.5 sleep:t=1"])  # fmt: skip
    assert exit_.value.code == 2
    assert "--candidates: candidate 'sleep:t=1': unknown method 'sleep'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_config_fields_equal_the_generated_schema() -> None:
    """pipeline-steps/configs/merge_back.ts generates the schema; the dataclass holds the same fields and defaults."""
    import dataclasses

    from medllama.config import is_path_field, load_schema
    from medllama.merge_back.config import STEP, MergeBackConfig

    schema = load_schema(STEP)
    fields = {f.name: f.default for f in dataclasses.fields(MergeBackConfig) if not is_path_field(f)}
    assert fields == {k: v["default"] for k, v in schema["properties"].items()}
