"""Local serve: spawned for real with the tiny model, speaking the vLLM container's request/response schema."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from medllama.serve import RequestError, parse_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def server(tiny_base_model: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medllama.serve",
            "--model_dir",
            str(tiny_base_model),
            "--port",
            str(port),
            "--max_model_len",
            "128",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as res:
                if res.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_ping_is_healthy(server: str) -> None:
    with urllib.request.urlopen(f"{server}/ping") as res:
        assert res.status == 200 and json.loads(res.read()) == {"status": "healthy"}


def test_invocations_returns_an_openai_completion(server: str) -> None:
    status, body = post(
        f"{server}/invocations",
        json.dumps({"model": "medllama", "prompt": "Hypertension is", "max_tokens": 8, "temperature": 0}).encode(),
    )
    assert status == 200
    out = json.loads(body)
    assert out["object"] == "text_completion" and out["model"] == "medllama"
    choice = out["choices"][0]
    assert isinstance(choice["text"], str) and choice["finish_reason"] in ("length", "stop")
    assert out["usage"]["prompt_tokens"] > 0 and 0 < out["usage"]["completion_tokens"] <= 8
    # greedy decoding is deterministic
    assert (
        json.loads(
            post(
                f"{server}/invocations",
                json.dumps({"prompt": "Hypertension is", "max_tokens": 8, "temperature": 0}).encode(),
            )[1]
        )["choices"][0]["text"]
        == choice["text"]
    )


def test_streaming_sends_server_sent_events(server: str) -> None:
    status, body = post(
        f"{server}/invocations",
        json.dumps({"prompt": "Asthma", "max_tokens": 6, "temperature": 0, "stream": True}).encode(),
    )
    assert status == 200
    events = [line[len("data: ") :] for line in body.decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "text_completion" for c in chunks)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "request body is not valid JSON"),
        (b'{"prompt": ""}', 400, "'prompt' must be a non-empty string"),
        (b'{"prompt": "x", "model": "llama"}', 404, "The model `llama` does not exist."),
        (b'{"prompt": "x", "max_tokens": 100000}', 400, "'max_tokens' must be between 1 and 128"),
        (b'{"prompt": "x", "max_tokens": 127}', 400, "exceeds the maximum context length of 128 tokens"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "chat requests need a chat template"),
    ],
)
def test_bad_requests_get_vllm_shaped_errors(server: str, body: bytes, status: int, message: str) -> None:
    got_status, got = post(f"{server}/invocations", body)
    assert got_status == status
    err = json.loads(got)
    assert err["object"] == "error" and err["code"] == status and message in err["message"]


def test_busy_port_and_missing_model_fail_clearly(server: str, tmp_path: Path, tiny_base_model: Path) -> None:
    port = server.rsplit(":", 1)[1]
    res = subprocess.run(
        [sys.executable, "-m", "medllama.serve", "--model_dir", str(tiny_base_model), "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "medllama.serve", "--model_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and "no model at" in res.stderr


def test_parse_request_defaults_and_types() -> None:
    req = parse_request(b'{"prompt": "a", "stop": "\\n", "seed": 3}', "medllama", 64)
    assert (req.max_tokens, req.temperature, req.stop, req.seed, req.stream) == (16, 1.0, ("\n",), 3, False)
    with pytest.raises(RequestError, match="'temperature' must be a number"):
        parse_request(b'{"prompt": "a", "temperature": "hot"}', "medllama", 64)
    with pytest.raises(RequestError, match="'stream' must be true or false"):
        parse_request(b'{"prompt": "a", "stream": "yes"}', "medllama", 64)
