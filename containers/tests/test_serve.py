"""Local serve: spawned for real with the tiny model, speaking the vLLM container's request/response schema,
and attacked the way a process on the same machine could (issue #21, item 5): lying or malformed
Content-Length, unread bodies, huge numbers, foreign origins, slow and many clients, long prompts while a
generation holds the lock."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medllama.serve import RequestError, bind, make_handler, parse_request
from medllama.serve_http import DEFAULT_MAX_CONNECTIONS, allowed_hosts


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


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    pid: int


@pytest.fixture(scope="module")
def served(tiny_base_model: Path) -> Iterator[Served]:
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
    yield Served(url, port, proc.pid)
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def server(served: Served) -> str:
    return served.url


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


# --- hostile requests (#21.5) ----------------------------------------------------------------------------------


def exchange(
    port: int, data: bytes, *, half_close: bool = False, wait: float = 10.0
) -> tuple[list[dict[str, Any]], bool]:
    """Sends raw bytes; returns every response read back and whether the server closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before taking everything
        raw, closed = read_until_closed(sock, wait)
    return parse_responses(raw), closed


def read_until_closed(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """Everything the server sends within `wait` seconds, and whether it closed the connection."""
    raw = b""
    deadline = time.monotonic() + wait
    sock.settimeout(wait)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return raw, False
        except ConnectionResetError:
            return raw, True
        if not chunk:
            return raw, True
        raw += chunk
    return raw, False


def parse_responses(raw: bytes) -> list[dict[str, Any]]:
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        body, raw = rest[:length], rest[length:]
        out.append({"status": int(lines[0].split()[1]), "headers": headers, "body": body})
    return out


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def completion_headers(port: int, **extra: str) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", **extra}


def error_message(response: dict[str, Any]) -> str:
    return json.loads(response["body"])["message"]


@pytest.mark.parametrize("value", ["-1", "abc", "+5", "1e3", "5 x", "0x10", "\u0663", "1_0"])
def test_content_length_that_is_not_digits_gets_400_and_nothing_is_read(served: Served, value: str) -> None:
    body = json.dumps({"prompt": "x" * 60_000, "max_tokens": 1}).encode()
    data = request(
        served.port, "POST", "/invocations", completion_headers(served.port, **{"Content-Length": value}), body
    )
    # Half-closed, as the attack did: with "-1" the old server read to the end of the stream (8 MB, tokenised
    # under the generation lock); other values dropped the connection without a response.
    responses, closed = exchange(served.port, data, half_close=True)
    assert [r["status"] for r in responses] == [400]
    assert "Content-Length must be a whole number of bytes" in error_message(responses[0])
    assert closed


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Content-Length": "2000000"}, 413, "over the limit of 1048576 bytes"),
        ({"Content-Length": "9" * 5001}, 413, "over the limit"),
        ({}, 411, "Content-Length is required"),
        ({"Transfer-Encoding": "chunked"}, 411, "chunked request bodies are not supported"),
    ],
)
def test_lengths_over_the_limit_missing_or_chunked_are_refused_before_reading(
    served: Served, headers: dict[str, str], status: int, message: str
) -> None:
    data = request(served.port, "POST", "/invocations", completion_headers(served.port, **headers), b'{"prompt": "x"}')
    responses, closed = exchange(served.port, data)
    assert [r["status"] for r in responses] == [status]
    assert message in error_message(responses[0])
    assert closed


def test_an_unread_body_is_never_parsed_as_a_second_request(served: Served) -> None:
    smuggled = request(served.port, "GET", "/ping", {"Host": f"127.0.0.1:{served.port}"})
    cases = [
        # a route that does not read its body (404), an oversized one (413) and a GET with a body
        request(
            served.port, "POST", "/nope", completion_headers(served.port, **{"Content-Length": str(len(smuggled))})
        ),
        request(served.port, "POST", "/invocations", completion_headers(served.port, **{"Content-Length": "2000000"})),
        request(
            served.port, "GET", "/ping", {"Host": f"127.0.0.1:{served.port}", "Content-Length": str(len(smuggled))}
        ),
    ]
    for head in cases:
        responses, closed = exchange(served.port, head + smuggled)
        assert len(responses) == 1, [r["status"] for r in responses]
        assert closed
    # a request whose body is read keeps its connection: two pipelined pings get two answers
    ping = request(served.port, "GET", "/ping", {"Host": f"127.0.0.1:{served.port}"})
    responses, _ = exchange(served.port, ping + ping, wait=2)
    assert [r["status"] for r in responses] == [200, 200]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"prompt": "x", "seed": 1000000000000000000000000000000}', "'seed' must be an integer from"),
        (b'{"prompt": "x", "seed": ' + b"9" * 5001 + b"}", "a number too long to read"),
        (b'{"prompt": "x", "max_tokens": ' + b"9" * 5001 + b"}", "a number too long to read"),
        (b'{"prompt": "x", "max_tokens": 1e999}', "'max_tokens' must be an integer, got inf"),
        (b'{"prompt": "x", "temperature": NaN}', "'temperature' must be between"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ],
)
def test_numbers_out_of_range_get_400_not_a_dropped_connection(server: str, body: bytes, message: str) -> None:
    status, got = post(f"{server}/invocations", body)
    assert status == 400
    assert message in json.loads(got)["message"]


def test_another_origin_another_host_name_or_a_form_post_cannot_run_a_generation(served: Served) -> None:
    body = b'{"prompt": "Asthma", "max_tokens": 1}'
    length = {"Content-Length": str(len(body))}
    cases = [
        (completion_headers(served.port, Origin="http://evil.example", **length), 403, "cross-origin"),
        (completion_headers(served.port, Origin="null", **length), 403, "cross-origin"),
        ({**completion_headers(served.port, **length), "Host": f"evil.example:{served.port}"}, 403, "Host header"),
        ({**completion_headers(served.port, **length), "Content-Type": "text/plain"}, 415, "application/json"),
        (
            {**completion_headers(served.port, **length), "Content-Type": "application/x-www-form-urlencoded"},
            415,
            "application/json",
        ),
    ]
    for headers, status, message in cases:
        responses, _ = exchange(served.port, request(served.port, "POST", "/invocations", headers, body))
        assert [r["status"] for r in responses] == [status], headers
        assert message in error_message(responses[0])
    own = completion_headers(served.port, Origin=f"http://127.0.0.1:{served.port}", Connection="close", **length)
    responses, _ = exchange(served.port, request(served.port, "POST", "/invocations", own, body))
    assert [r["status"] for r in responses] == [200]
    rebinding = request(served.port, "GET", "/ping", {"Host": "attacker.example"})
    assert [r["status"] for r in exchange(served.port, rebinding)[0]] == [403]


def threads_of(pid: int) -> int:
    return int(re.search(r"^Threads:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="counts threads through /proc")
def test_many_slow_clients_hold_at_most_the_connection_cap(served: Served) -> None:
    before = threads_of(served.pid)
    partial = f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n".encode()  # never finished
    socks = []
    try:
        for _ in range(DEFAULT_MAX_CONNECTIONS + 24):
            sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
            sock.sendall(partial)
            socks.append(sock)
        time.sleep(1.0)
        assert threads_of(served.pid) <= before + DEFAULT_MAX_CONNECTIONS
        # the ones past the cap were told so at once, and closed
        refused = 0
        for sock in socks:
            sock.settimeout(0.05)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if data.startswith(b"HTTP/1.1 503"):
                refused += 1
        assert refused >= 24
    finally:
        for sock in socks:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # closed by their clients, the slots come back
        try:
            with urllib.request.urlopen(f"{served.url}/ping", timeout=2) as res:
                assert res.status == 200
                break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


class FakeGenerator:
    """The generator's interface without a model, for HTTP-level tests in this process."""

    max_model_len = 64

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def prepare(self, req: Any) -> list[int]:
        return [1]

    def complete(self, req: Any, ids: Any) -> tuple[str, str, int, int]:
        with self.lock:
            return "ok", "stop", 1, 1


@contextmanager
def in_process(generator: Any, *, max_connections: int = 4, read_timeout: float = 5.0) -> Iterator[int]:
    """A server in a thread of this process; yields its port."""
    server = bind("127.0.0.1", 0, max_connections)
    port = server.server_port
    server.RequestHandlerClass = make_handler(generator, "medllama", allowed_hosts("127.0.0.1", port), read_timeout)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_a_stalled_client_is_dropped_after_the_read_timeout_and_its_slot_reused() -> None:
    with in_process(FakeGenerator(), max_connections=2, read_timeout=0.5) as port:
        headers = completion_headers(port, **{"Content-Length": "100"})
        stalled_body = socket.create_connection(("127.0.0.1", port), timeout=5)
        stalled_body.sendall(request(port, "POST", "/invocations", headers, b'{"prompt": '))
        stalled_head = socket.create_connection(("127.0.0.1", port), timeout=5)
        stalled_head.sendall(b"GET /ping HTTP/1.1\r\n")
        time.sleep(0.1)
        # both slots taken: the next client is told at once
        ping = request(port, "GET", "/ping", {"Host": f"127.0.0.1:{port}", "Connection": "close"})
        assert [r["status"] for r in exchange(port, ping, wait=2)[0]] == [503]
        start = time.monotonic()
        raw, closed = read_until_closed(stalled_body, 3)
        answer = parse_responses(raw)
        assert [r["status"] for r in answer] == [408]
        assert "not received within 0.5 s" in error_message(answer[0])
        assert closed
        assert read_until_closed(stalled_head, 3) == (b"", True)  # closed without a request to answer
        assert time.monotonic() - start < 2
        stalled_body.close()
        stalled_head.close()
        time.sleep(0.1)
        assert [r["status"] for r in exchange(port, ping, wait=2)[0]] == [200]


@pytest.fixture(scope="module")
def generator(tiny_base_model: Path) -> Any:
    from medllama.serve import Generator

    return Generator(tiny_base_model, 128)


def test_a_prompt_too_long_is_refused_without_waiting_for_the_generation_lock(generator: Any) -> None:
    with in_process(generator) as port:
        body = json.dumps({"prompt": "word " * 5000, "max_tokens": 8}).encode()
        headers = completion_headers(port, **{"Content-Length": str(len(body)), "Connection": "close"})
        with generator.lock:  # a long generation is running
            start = time.monotonic()
            responses, _ = exchange(port, request(port, "POST", "/invocations", headers, body), wait=10)
            waited = time.monotonic() - start
        assert [r["status"] for r in responses] == [400]
        assert "exceeds the maximum context length of 128 tokens" in error_message(responses[0])
        assert waited < 5
        # and a prompt that fits does wait for the lock, then runs
        ok = json.dumps({"prompt": "Asthma", "max_tokens": 2, "temperature": 0}).encode()
        headers = completion_headers(port, **{"Content-Length": str(len(ok)), "Connection": "close"})
        responses, _ = exchange(port, request(port, "POST", "/invocations", headers, ok))
        assert [r["status"] for r in responses] == [200]
