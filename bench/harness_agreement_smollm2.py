"""One-off measurement, not a test (docs/evaluation.md "Agreement with the harness"): Evaluate's framing vs
lm-eval 0.4.13 on SmolLM2-135M (a tokenizer without BOS): the first 200 real PubMedQA test items (../shared), the
fixture suite, and held-out bits/byte. Run from the repository root: .venv/bin/python bench/harness_agreement_smollm2.py"""

import json
import math
import os
import sys
import time

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
from pathlib import Path

sys.path.insert(0, "containers/tests")
import torch

torch.set_num_threads(2)
from medllama.base_models import GGUF_BASES, convert_gguf, installed_gguf

out = Path("runs/.base-model/smollm2")
if not (out / "config.json").exists():
    convert_gguf(GGUF_BASES["smollm2"], installed_gguf(GGUF_BASES["smollm2"]), out)
import lm_eval
import test_evaluate_harness_agreement as agree
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from medllama.evaluate import pubmedqa, suite
from medllama.evaluate.perplexity import LN2, frame_document, score_documents
from medllama.evaluate.requests import continuation_logprobs
from medllama.tokenizer import load_base_tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

tok = load_base_tokenizer(out)
theirs = AutoTokenizer.from_pretrained(out)
print(
    "ours bos",
    tok.bos_id,
    "prefix",
    tok.prefix,
    "start",
    tok.start_id,
    "| HF adds bos:",
    theirs.encode("x")[:2],
    theirs.bos_token_id,
)
model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
MAX = 2048
lm = HFLM(pretrained=model, tokenizer=theirs, batch_size=8, max_length=MAX)
import tempfile

work = Path(tempfile.mkdtemp(prefix="harness-agreement-"))
# real PubMedQA, first 200 test items (sorted by PMID)
real = Path(os.environ.get("MEDLLAMA_SHARED", "../shared")) / "data" / "pubmedqa"
task = pubmedqa.load_task(real, limit=200)
ori = json.loads((real / "ori_pqal.json").read_text())
rows = [
    {
        "QUESTION": ori[i.id]["QUESTION"],
        "CONTEXTS": ori[i.id]["CONTEXTS"],
        "final_decision": i.label,
    }
    for i in task.items
]
(work / "pq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
names = agree._write_configs(
    work,
    {
        "pubmedqa_real": [("pubmedqa/pubmedqa.yaml", work / "pq.jsonl")],
        **agree._harness_tasks(work),
    },
)
tm = TaskManager(include_path=str(work / "configs"), include_defaults=False)
t0 = time.time()
res = lm_eval.simple_evaluate(
    model=lm,
    tasks=[n for p in names.values() for n in p],
    task_manager=tm,
    log_samples=True,
    num_fewshot=0,
)
print(f"harness {time.time() - t0:.0f}s")
samples = {
    k: [s for n in p for s in sorted(res["samples"][n], key=lambda s: s["doc_id"])]
    for k, p in names.items()
}
tasks, _ = suite.load_suite(agree.FIXTURES)
tasks = [task, *tasks]
task.name = "pubmedqa_real"
for t in tasks:
    t.build_requests(tok, MAX)
    lp = continuation_logprobs(model, t.requests, batch_size=8, pad_id=tok.pad_id)
    pred = t.predict(lp)
    at = 0
    gap = 0.0
    picks = 0
    args_ok = 0
    metric_ok = 0
    for k, (item, s) in enumerate(zip(t.items, samples[t.name], strict=True)):
        h = [r[0] for r in s["filtered_resps"]]
        o = lp[at : at + len(item.pairs)]
        at += len(item.pairs)
        gap = max(gap, max(abs(a - b) for a, b in zip(o, h)))
        picks += int(
            max(range(len(h)), key=lambda j: (h[j], -j))
            == max(range(len(o)), key=lambda j: (o[j], -j))
        )
        args_ok += [tuple(a) for a in s["arguments"]] == list(item.pairs)
        metric_ok += all((pred[m][k] == item.label) == bool(s[m]) for m in t.metrics)
    print(
        f"{t.name}: {len(t.items)} items; same args {args_ok}, same acc pick {picks}, same metrics {metric_ok}; max ll gap {gap:.2e}"
    )
    if t.name == "pubmedqa_real":
        # the old framing: always prepend the start token
        class Old:
            prefix = (tok.start_id,)

            def encode(self, x):
                return tok.encode(x)

        import dataclasses

        old = dataclasses.replace(t, requests=[])
        old.build_requests(Old(), MAX)
        lo = continuation_logprobs(model, old.requests, batch_size=8, pad_id=tok.pad_id)
        po = old.predict(lo)["acc"]
        print(
            f"  old always-BOS framing: {sum(a != b for a, b in zip(po, pred['acc']))} of {len(po)} picks differ from the harness-framed ones"
        )
# rolling bits/byte
texts = [
    p.read_text().strip()
    for p in sorted(Path("fixtures/general-text").glob("*.txt"))[:8]
]
for window in (256, 2048):
    lmw = HFLM(pretrained=model, tokenizer=theirs, batch_size=4, max_length=window)
    hl = lmw.loglikelihood_rolling(
        [Instance("loglikelihood_rolling", {}, (t,), k) for k, t in enumerate(texts)],
        disable_tqdm=True,
    )
    docs = [(str(k), *frame_document(tok, t)) for k, t in enumerate(texts)]
    sc = score_documents(
        model,
        docs,
        seq_len=window,
        batch_size=4,
        prefix_id=tok.start_id,
        pad_id=tok.pad_id,
    )
    nb = sum(len(t.encode()) for t in texts)
    ours = sum(s.nll for s in sc) / LN2 / nb
    theirs_bpb = -sum(hl) / math.log(2) / nb
    print(
        f"bits/byte window {window}: ours {ours:.6f} harness {theirs_bpb:.6f} rel {(ours / theirs_bpb - 1) * 100:+.5f} %"
    )
