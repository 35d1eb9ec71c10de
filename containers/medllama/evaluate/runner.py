"""``python -m medllama.evaluate``: base vs tuned, one model in memory at a time.

Order: read and tokenize every input once (same tokens for both models) → load base → perplexity on the
test split and general text, the benchmark suite (:mod:`medllama.evaluate.suite`: every task found in
``--benchmarks_dir``), qualitative prompts → free → load tuned → the same → statistics → ``evaluation.json``
(PropertyFile), ``qualitative.jsonl``, ``test-documents.jsonl`` (per-document NLL), ``<task>-predictions.jsonl``,
``rejected.jsonl``
(unusable input lines, with reasons) and ``runtime.json`` (tokens/s, seconds and the expected runtime;
kept out of evaluation.json so that file is byte-identical across runs).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medllama.base_models import describe_base_model
from medllama.config import config_values, parse_or_exit
from medllama.evaluate import qualitative, report, suite
from medllama.evaluate.benchmark import BenchmarkError, Task
from medllama.evaluate.config import STEP, EvaluateConfig
from medllama.evaluate.documents import Loaded, load_general_documents, load_jsonl_documents
from medllama.evaluate.gate import CHECKS, Thresholds
from medllama.evaluate.general import general_section
from medllama.evaluate.perplexity import DocumentScore, Throughput, frame_document, score_documents
from medllama.evaluate.requests import continuation_logprobs
from medllama.jsonl import write_json, write_jsonl
from medllama.logs import setup_logging
from medllama.sagemaker_env import Host, require_cuda_on_gpu_host
from medllama.tokenizer import BaseTokenizer, TokenizerError, load_base_tokenizer, require_same_tokenizer

log = setup_logging("medllama.evaluate")


class EvaluationError(RuntimeError):
    """Inputs that make the evaluation meaningless (e.g. different vocabularies); exits 1 with the message."""


@dataclass
class Corpus:
    """Documents framed as token ids once, shared by both models."""

    name: str
    loaded: Loaded
    framed: list[tuple[str, str, list[int]]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(ids) for _, _, ids in self.framed)


@dataclass
class ModelRun:
    test: list[DocumentScore] | None = None
    general: list[DocumentScore] | None = None
    predictions: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # task -> metric -> per item
    answers: list[dict] | None = None
    runtime: dict[str, Any] = field(default_factory=dict)


def resolve_device(choice: str, host: Host | None = None) -> str:
    """``cuda``/``cpu`` for ``--device``. ``auto`` is cuda on a GPU instance, where CUDA must then be there (never a
    silent fall-back to the CPU), and elsewhere cuda when available, else cpu."""
    import torch

    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        raise EvaluationError("--device cuda was given but no CUDA device is available")
    if choice == "auto":
        try:
            require_cuda_on_gpu_host(available, "medllama.evaluate", host)
        except RuntimeError as err:
            raise EvaluationError(str(err)) from None
        return "cuda" if available else "cpu"
    return choice


def resolve_dtype(choice: str, device: str):
    import torch

    if choice == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[choice]


def check_same_tokenizer(base_dir: str, tuned_dir: str, training: dict[str, Any] | None) -> BaseTokenizer:
    """The base model's tokenizer (:mod:`medllama.tokenizer`), after checking that the tuned model shares it: same
    vocab_size in config, the same tokenizer fingerprint if the tuned folder ships a tokenizer.json, and the data it
    was trained on tokenized with it (training_summary.json's ``tokenizer``, when the summary records one).
    Perplexities over different token streams are not comparable."""
    from transformers import AutoConfig

    try:
        tokenizer = load_base_tokenizer(base_dir)
        if (Path(tuned_dir) / "tokenizer.json").is_file():
            tuned = load_base_tokenizer(tuned_dir)
            if tuned.identity.fingerprint != tokenizer.identity.fingerprint:
                raise EvaluationError(
                    f"the tokenizer in {tuned_dir} ({tuned.identity.describe()}) differs from the base model's "
                    f"({base_dir}: {tokenizer.identity.describe()})"
                )
        if training is not None and isinstance(training[1].get("tokenizer"), dict):
            require_same_tokenizer(
                training[1]["tokenizer"], tokenizer, what=f"the tuned model's training data ({training[0]})"
            )
    except TokenizerError as err:
        raise EvaluationError(str(err)) from None
    base_cfg = AutoConfig.from_pretrained(base_dir)
    tuned_cfg = AutoConfig.from_pretrained(tuned_dir)
    if base_cfg.vocab_size != tuned_cfg.vocab_size:
        raise EvaluationError(
            f"vocab_size differs: base {base_cfg.vocab_size} ({base_dir}) vs tuned {tuned_cfg.vocab_size} ({tuned_dir})"
        )
    return tokenizer


def resolve_model_dir(path: str, flag: str) -> str:
    """The folder with the model's ``config.json``. On SageMaker the tuned model arrives as the Train step's
    ``model.tar.gz`` (``ModelArtifacts``) and a JumpStart base model may too: a folder without config.json
    holding exactly one ``*.tar.gz`` is extracted safely (``medllama.train.model.safe_extract``) next to it
    (``<folder>.extracted``; a temporary folder if that is not writable) and the folder with config.json
    inside (at most two levels deep) is used."""
    from medllama.train.model import ModelError, find_config_dir, model_archive, safe_extract

    try:
        located = model_archive(Path(path), flag)
    except ModelError as err:
        raise EvaluationError(str(err)) from None
    if located is None:
        return str(path)
    archive, dest = located
    found = find_config_dir(dest)
    if found is None:
        log.info(f"extracting {archive} into {dest}")
        try:
            safe_extract(archive, dest)
        except (ModelError, tarfile.TarError, OSError) as err:
            raise EvaluationError(f"--{flag}: cannot extract {archive}: {err}") from None
        found = find_config_dir(dest)
    if found is None:
        raise EvaluationError(f"--{flag}: {archive} holds no config.json (looked two folders deep)")
    return str(found)


def model_max_len(model_dir: str) -> int | None:
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(model_dir), "max_position_embeddings", None)


def load_model(path: str, device: str, dtype):
    from transformers import AutoModelForCausalLM

    started = time.monotonic()
    kwargs: dict[str, Any] = {"dtype": dtype}
    if device == "cuda":
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if device != "cuda":
        model = model.to(device)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    log.info(f"loaded {path}: {params:,} parameters, {dtype} on {device} in {time.monotonic() - started:.1f}s")
    return model, params


def free_model(model) -> None:
    import torch

    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _eta_logger(what: str, total_tokens: int, meter: Throughput, every_s: float = 30.0):
    last = [time.monotonic()]

    def on_batch(tokens: int) -> None:
        meter.add(tokens)
        now = time.monotonic()
        if now - last[0] >= every_s or meter.tokens >= total_tokens:
            last[0] = now
            rate = meter.tokens_per_second
            eta = (total_tokens - meter.tokens) / rate if rate > 0 else 0.0
            log.info(f"progress {what}: {meter.tokens}/{total_tokens} tokens ({rate:,.0f} tokens/s, eta {eta:.0f}s)")

    return on_batch


def _perplexity(
    model,
    corpus: Corpus,
    role: str,
    cfg: EvaluateConfig,
    seq_len: int,
    device: str,
    tokenizer,
    run: ModelRun,
) -> list[DocumentScore]:
    meter = Throughput()
    scores = score_documents(
        model,
        corpus.framed,
        seq_len=seq_len,
        batch_size=cfg.batch_size,
        prefix_id=tokenizer.start_id,
        device=device,
        pad_id=tokenizer.pad_id,
        on_batch=_eta_logger(f"{role} {corpus.name} perplexity", corpus.tokens, meter),
    )
    rate = meter.tokens_per_second
    run.runtime[f"{corpus.name}_perplexity"] = {
        "tokens": meter.tokens,
        "seconds": meter.seconds,
        "tokens_per_second": rate,
    }
    log.info(f"{role} {corpus.name} perplexity: {meter.tokens} tokens in {meter.seconds:.1f}s ({rate:,.0f} tokens/s)")
    return scores


def evaluate_model(
    role: str,
    path: str,
    cfg: EvaluateConfig,
    *,
    device: str,
    dtype,
    tokenizer,
    seq_len: int,
    max_len: int,
    test: Corpus | None,
    general: Corpus | None,
    prompts: list[qualitative.Prompt],
    tasks: list[Task] | None = None,
) -> ModelRun:
    run = ModelRun()
    started = time.monotonic()
    model, params = load_model(path, device, dtype)
    run.runtime["parameters"] = params
    run.runtime["load_seconds"] = time.monotonic() - started
    pad_id = tokenizer.pad_id
    if test is not None:
        run.test = _perplexity(model, test, role, cfg, seq_len, device, tokenizer, run)
    if general is not None:
        run.general = _perplexity(model, general, role, cfg, seq_len, device, tokenizer, run)
    for task in tasks or []:
        meter = Throughput()
        logprobs = continuation_logprobs(
            model,
            task.requests,
            batch_size=cfg.qa_batch_size,
            device=device,
            pad_id=pad_id,
            on_batch=_eta_logger(f"{role} {task.name}", task.tokens, meter),
        )
        run.predictions[task.name] = task.predict(logprobs)
        run.runtime[task.name] = {
            "tokens": meter.tokens,
            "seconds": meter.seconds,
            "tokens_per_second": meter.tokens_per_second,
        }
    if prompts:
        t0 = time.monotonic()
        run.answers = qualitative.generate_greedy(
            model,
            tokenizer,
            prompts,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.qa_batch_size,
            device=device,
            max_len=max_len,
        )
        new_tokens = sum(a["new_tokens"] for a in run.answers)
        seconds = time.monotonic() - t0
        run.runtime["qualitative"] = {"new_tokens": new_tokens, "seconds": seconds}
        log.info(f"{role} qualitative: {len(prompts)} prompts, {new_tokens} new tokens in {seconds:.1f}s")
    free_model(model)
    run.runtime["seconds"] = time.monotonic() - started
    return run


def expected_runtime_seconds(tokens: int, tokens_per_second: float, models: int = 2) -> float:
    """Forward-only perplexity time for ``tokens`` per model at a measured rate, both models."""
    return models * tokens / tokens_per_second if tokens_per_second > 0 else 0.0


def _frame(corpus_name: str, loaded: Loaded, tokenizer, max_tokens: int = 0) -> Corpus:
    corpus = Corpus(corpus_name, loaded)
    # with max_tokens, a document's first max_tokens tokens and the text they cover (bits per byte stay per byte)
    corpus.framed = [(d.id, *frame_document(tokenizer, d.text, max_tokens)) for d in loaded.documents]
    log.info(
        f"{corpus_name}: {len(corpus.framed)} documents, {corpus.tokens:,} tokens, {loaded.summary()['rejected']} rejected"
    )
    return corpus


def load_tasks(
    cfg: EvaluateConfig, tokenizer, max_len: int, inputs: dict[str, Any], not_computed: dict[str, str]
) -> list[Task]:
    """Every task of the suite found in ``--benchmarks_dir``, with its requests built once; an absent task (or
    no ``--benchmarks_dir``) is listed in ``not_computed`` as ``metrics.<task>`` with the reason."""
    if not cfg.benchmarks_dir:
        for name in (*suite.MEDICAL_TASKS, *suite.GENERAL_TASKS):
            not_computed[f"metrics.{name}"] = "no --benchmarks_dir given"
        return []
    options = suite.SuiteOptions(
        pubmedqa_limit=cfg.pubmedqa_limit,
        medqa_limit=cfg.medqa_limit,
        medmcqa_limit=cfg.medmcqa_limit,
        medmcqa_cop=cfg.medmcqa_cop,
    )
    tasks, absent = suite.load_suite(cfg.benchmarks_dir, options)
    for name, why in absent.items():
        not_computed[f"metrics.{name}"] = why
    for task in tasks:
        task.build_requests(tokenizer, max_len)
        inputs[task.name] = {
            **task.source,
            "suite": task.suite,
            "items": len(task.items),
            "items_available": task.items_available,
            "truncated_items": task.truncated,
        }
        log.info(
            f"{task.name}: {len(task.items)} of {task.items_available} {task.split} items, {task.truncated} "
            f"truncated to {max_len} tokens"
        )
    return tasks


def task_metrics(tasks: list[Task], base: ModelRun, other: ModelRun, cfg: EvaluateConfig) -> dict[str, Any]:
    """``metrics.<task>`` for every task both models scored (PubMedQA with macro-F1, the others with ``acc_norm``
    where the harness reports it) and ``metrics.suites`` (per-suite average accuracy delta)."""
    samples, seed = cfg.bootstrap_samples, cfg.seed
    metrics: dict[str, Any] = {}
    by_suite: dict[str, list] = {}
    for task in tasks:
        b, t = base.predictions.get(task.name), other.predictions.get(task.name)
        if b is None or t is None:
            continue
        ids, gold = [i.id for i in task.items], [i.label for i in task.items]
        if task.name == "pubmedqa":
            metrics[task.name] = report.pubmedqa_section(
                ids, gold, b["acc"], t["acc"], samples=samples, seed=seed, truncated=task.truncated,
                total_test_items=task.items_available,
            )  # fmt: skip
        else:
            labels = list(dict.fromkeys(label for i in task.items for label in i.labels))
            metrics[task.name] = report.multiple_choice_section(
                ids, gold, b["acc"], t["acc"], samples=samples, seed=seed, truncated=task.truncated,
                total_items=task.items_available, split=task.split, prompt=task.prompt, choices=labels,
                source=task.source, suite=task.suite,
                chance_accuracy=sum(1 / len(i.labels) for i in task.items) / len(task.items),
                norm=(b["acc_norm"], t["acc_norm"]) if "acc_norm" in task.metrics else None,
            )  # fmt: skip
        by_suite.setdefault(task.suite, []).append((task.name, gold, b["acc"], t["acc"]))
    if by_suite:
        metrics["suites"] = {
            name: report.suite_section(entries, samples=samples, seed=seed) for name, entries in by_suite.items()
        }
    return metrics


def compare(
    base: ModelRun,
    other: ModelRun,
    cfg: EvaluateConfig,
    *,
    test: Corpus | None,
    general: Corpus | None,
    tasks: list[Task],
) -> dict[str, Any]:
    """The paired comparisons of ``other`` (the tuned model or a merge-back candidate) with the base on the same
    items: test and general perplexity and every benchmark task (the metrics of evaluation.json)."""
    metrics: dict[str, Any] = {}
    samples, seed = cfg.bootstrap_samples, cfg.seed
    if test is not None and base.test is not None and other.test is not None:
        metrics["test_perplexity"] = report.perplexity_comparison(base.test, other.test, samples=samples, seed=seed)
        metrics["test_perplexity"].pop("regression_relative")
    if general is not None and base.general is not None and other.general is not None:
        sources = [d.source for d in general.loaded.documents]
        metrics["general_perplexity"] = general_section(
            base.general, other.general, sources, samples=samples, seed=seed
        )
    metrics.update(task_metrics(tasks, base, other, cfg))
    return metrics


def write_predictions(tasks: list[Task], runs: dict[str, ModelRun], out_dir: Path) -> None:
    """``<task>-predictions.jsonl``: per item its label and each model's pick (``base``, ``tuned``, then each
    merge-back candidate by name; ``<model>_acc_norm`` too where the task has it), for every task all scored."""
    for task in tasks:
        preds = {role: run.predictions.get(task.name) for role, run in runs.items()}
        if any(p is None for p in preds.values()):
            continue
        write_jsonl(
            out_dir / f"{task.name}-predictions.jsonl",
            (
                {"id": item.id, "label": item.label, **{role if m == "acc" else f"{role}_{m}": p[m][k]
                 for role, p in preds.items() for m in task.metrics}}
                for k, item in enumerate(task.items)
            ),
        )  # fmt: skip


@dataclass(frozen=True)
class MergedCandidate:
    """A merge-back candidate from MergeBack's candidates.json: its name, folder and spec."""

    name: str
    path: str
    method: str
    params: dict[str, float]

    @property
    def spec(self) -> str:
        """The spec in CustomerMetadataValue's characters: ``slerp t=0.5``."""
        return " ".join([self.method, *(f"{k}={v:g}" for k, v in self.params.items())])

    def model(self, candidates_uri: str, parameters: int | None) -> dict[str, Any]:
        """``candidates.<name>.model``: where it came from and the URI Register registers when it is chosen."""
        root = candidates_uri.rstrip("/") if candidates_uri else str(Path(self.path).parent)
        return {
            "path": self.path,
            "spec": self.spec,
            "method": self.method,
            "params": self.params,
            "parameters": parameters,
            "model_data": f"{root}/{self.name}",
        }


def load_merged_candidates(candidates_dir: str) -> list[MergedCandidate]:
    """The merged candidates in ``candidates_dir`` (MergeBack's output: ``candidates.json`` and one folder each),
    in its order; ``tuned`` (listed first, never copied) is left out: it is scored as the tuned model."""
    if not candidates_dir:
        return []
    index = Path(candidates_dir) / "candidates.json"
    if not index.is_file():
        raise EvaluationError(f"--candidates_dir {candidates_dir}: no candidates.json (MergeBack writes one)")
    try:
        records = json.loads(index.read_text(encoding="utf-8"))["candidates"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise EvaluationError(f"{index}: not MergeBack's candidates.json ({err})") from None
    out = []
    for record in records:
        if record.get("folder") is None:
            continue
        folder = Path(candidates_dir) / record["folder"]
        if not (folder / "config.json").is_file():
            raise EvaluationError(f"{index}: candidate {record['name']} has no config.json in {folder}")
        out.append(MergedCandidate(record["name"], str(folder), record["method"], dict(record["params"])))
    return out


def read_training_summary(cfg: EvaluateConfig) -> tuple[tuple[str, Any] | None, str | None]:
    """((path, parsed training_summary.json), None), or (None, why it is absent). ``--training_summary``
    given but missing or unreadable is an error; the default ``<tuned_model_dir>/training_summary.json``
    (medllama.train writes it into the model folder) is optional."""
    explicit = bool(cfg.training_summary)
    path = Path(cfg.training_summary) if explicit else Path(cfg.tuned_model_dir) / "training_summary.json"
    if not path.is_file():
        if explicit:
            raise FileNotFoundError(f"--training_summary {path}: no such file")
        return None, f"no --training_summary given and {path} is absent"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EvaluationError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(summary, dict):
        raise EvaluationError(f"{path}: expected a JSON object (medllama.train's training_summary.json)")
    return (str(path), summary), None


def run(cfg: EvaluateConfig) -> dict:
    given = {"base": cfg.base_model_dir, "tuned": cfg.tuned_model_dir}
    cfg = dataclasses.replace(
        cfg,
        base_model_dir=resolve_model_dir(cfg.base_model_dir, "base_model_dir"),
        tuned_model_dir=resolve_model_dir(cfg.tuned_model_dir, "tuned_model_dir"),
    )
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype, device)
    out_dir = Path(cfg.output_dir)
    not_computed: dict[str, str] = {}
    training, training_missing = read_training_summary(cfg)
    tokenizer = check_same_tokenizer(cfg.base_model_dir, cfg.tuned_model_dir, training)
    merged = load_merged_candidates(cfg.candidates_dir)
    for candidate in merged:
        check_same_tokenizer(cfg.base_model_dir, candidate.path, None)
    if merged:
        log.info(f"merge-back candidates: {', '.join(c.name for c in merged)} (besides the tuned model)")
    max_len = (
        min(x for x in (model_max_len(cfg.base_model_dir), model_max_len(cfg.tuned_model_dir)) if x) or cfg.seq_len
    )
    seq_len = min(cfg.seq_len, max_len)
    if seq_len < cfg.seq_len:
        log.info(f"seq_len {cfg.seq_len} exceeds the models' max_position_embeddings; windows of {seq_len} tokens")

    inputs: dict[str, Any] = {}
    rejected: list[dict] = []
    test_loaded = load_jsonl_documents(cfg.test_dir, cfg.max_test_documents)
    inputs["test"] = test_loaded.summary()
    rejected += [{"input": "test", **r} for r in test_loaded.rejected]
    test = _frame("test", test_loaded, tokenizer, cfg.max_document_tokens) if test_loaded.documents else None
    if test is None:
        not_computed["metrics.test_perplexity"] = f"no usable documents in --test_dir {cfg.test_dir}"

    general = None
    if cfg.general_dir:
        general_loaded = load_general_documents(cfg.general_dir, cfg.max_general_documents)
        inputs["general"] = general_loaded.summary()
        rejected += [{"input": "general", **r} for r in general_loaded.rejected]
        if general_loaded.documents:
            general = _frame("general", general_loaded, tokenizer)
        else:
            not_computed["metrics.general_perplexity"] = f"no usable documents in --general_dir {cfg.general_dir}"
    else:
        not_computed["metrics.general_perplexity"] = "no --general_dir given"

    tasks = load_tasks(cfg, tokenizer, max_len, inputs, not_computed)
    if training_missing:
        not_computed["training"] = training_missing

    prompts = qualitative.load_prompts(cfg.prompts or None)
    inputs["prompts"] = {"count": len(prompts), "source": cfg.prompts or "medllama/data/prompts.jsonl"}

    total_tokens = (test.tokens if test else 0) + (general.tokens if general else 0)
    log.info(
        f"evaluating on {device} ({dtype}): {total_tokens:,} perplexity tokens and "
        f"{sum(t.tokens for t in tasks):,} benchmark tokens ({len(tasks)} tasks) per model, "
        f"{len(prompts)} prompts × {cfg.max_new_tokens} new tokens"
    )

    runs: dict[str, ModelRun] = {}
    models_to_score = [("base", cfg.base_model_dir), ("tuned", cfg.tuned_model_dir)]
    models_to_score += [(c.name, c.path) for c in merged]
    for role, path in models_to_score:
        runs[role] = evaluate_model(
            role,
            path,
            cfg,
            device=device,
            dtype=dtype,
            tokenizer=tokenizer,
            seq_len=seq_len,
            max_len=max_len,
            test=test,
            general=general,
            # the qualitative answers are for base vs tuned; the merged candidates are scored, not read
            prompts=prompts if role in ("base", "tuned") else [],
            tasks=tasks,
        )
        if role == "base" and test is not None:
            rate = runs[role].runtime["test_perplexity"]["tokens_per_second"]
            log.info(
                f"expected runtime: tuned model ≈ {runs[role].runtime['seconds']:.0f}s more; perplexity alone for "
                f"{test.tokens:,} test tokens ≈ {expected_runtime_seconds(test.tokens, rate):.0f}s for both "
                f"models at {rate:,.0f} tokens/s"
            )
    base, tuned = runs["base"], runs["tuned"]

    metrics = compare(base, tuned, cfg, test=test, general=general, tasks=tasks)
    if "test_perplexity" in metrics and base.test is not None and tuned.test is not None:
        write_jsonl(
            out_dir / "test-documents.jsonl",
            (
                {
                    "id": b.id,
                    "tokens": b.tokens,
                    "bytes": b.bytes,
                    "windows": b.windows,
                    "base_nll": b.nll,
                    "tuned_nll": t.nll,
                }
                for b, t in zip(base.test, tuned.test, strict=True)
            ),
        )
    write_predictions(tasks, runs, out_dir)
    candidates = {
        c.name: {
            "model": c.model(cfg.candidates_uri, runs[c.name].runtime.get("parameters")),
            "metrics": compare(base, runs[c.name], cfg, test=test, general=general, tasks=tasks),
        }
        for c in merged
    }
    training_doc = None
    if training is not None:
        training_doc = report.training_section(training[1], training[0], not_computed)
    records = qualitative.merge_answers(prompts, base.answers or [], tuned.answers or [])
    write_jsonl(out_dir / "qualitative.jsonl", records)
    write_jsonl(out_dir / "rejected.jsonl", rejected)

    config = {**config_values(cfg), "seq_len_effective": seq_len, "max_len": max_len}
    models = {
        "base": {
            "path": given["base"],
            "parameters": base.runtime["parameters"],
            "about": describe_base_model(cfg.base_model_dir),
        },
        "tuned": {"path": given["tuned"], "parameters": tuned.runtime["parameters"]},
        "dtype": str(dtype).removeprefix("torch."),
        "device": device,
        "vocab_size": tokenizer.identity.vocab_size,
        "tokenizer": tokenizer.identity.as_manifest(),
    }
    document = report.assemble(
        config=config,
        inputs=inputs,
        models=models,
        metrics=metrics,
        not_computed=not_computed,
        training=training_doc,
        thresholds=thresholds(cfg),
        tuned_model={"model_data": cfg.tuned_model_uri or given["tuned"], "spec": "tuned"},
        candidates=candidates,
    )
    write_json(out_dir / "evaluation.json", document)

    runtime = {role: r.runtime for role, r in runs.items()}
    if test is not None and base.test is not None:
        rate = base.runtime["test_perplexity"]["tokens_per_second"]
        runtime["expected_perplexity_seconds_both_models"] = expected_runtime_seconds(test.tokens, rate)
        runtime["test_tokens"] = test.tokens
    write_json(out_dir / "runtime.json", _finite(runtime))

    gate = document["gate"]
    for check in CHECKS:
        log.info(f"gate {check.key}={gate[check.key]!r} ({gate['checks'][check.name]['rule']})")
    log.info(f"gate checks_computed={gate['checks_computed']}: {gate['summary']}")
    log.info(f"gate chosen={gate['chosen']} → {gate['chosen_model_data']}")
    log.info(f"wrote {out_dir / 'evaluation.json'} ({len(document['not_computed'])} metrics not computed)")
    return document


def thresholds(cfg: EvaluateConfig) -> Thresholds:
    """The gate thresholds Evaluate was given (the pipeline passes the QualityGate's own Parameters)."""
    return Thresholds(cfg.min_perplexity_improvement, cfg.min_pubmedqa_delta, cfg.max_general_regression)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    return obj


def main(argv: list[str] | None = None) -> int:
    cfg = parse_or_exit(EvaluateConfig, argv, step=STEP)
    try:
        run(cfg)
    except (EvaluationError, FileNotFoundError, BenchmarkError, qualitative.PromptError) as err:
        log.error(f"medllama.evaluate: {err}")
        return 1
    from medllama.tracking import log_evaluation

    log_evaluation(cfg.output_dir)  # MLflow, when the pipeline configured it (docs/tracking.md)
    return 0


__all__ = ["EvaluationError", "expected_runtime_seconds", "main", "run"]
