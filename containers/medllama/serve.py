"""A local stand-in for the serving container: the same HTTP contract, backed by a locally trained model.

The deployed endpoint runs the Hugging Face vLLM DLC, whose SageMaker routes are ``GET|POST /ping`` and
``POST /invocations`` with an OpenAI-shaped body (vLLM's SageMaker router; research notes §9.2). This server
answers the same completion requests and errors, so ``medllama invoke --local`` and the endpoint look alike:

    request:  {"model": "medllama", "prompt": "...", "max_tokens": 64, "temperature": 0.0, "stream": false}
    response: {"id", "object": "text_completion", "created", "model",
               "choices": [{"index": 0, "text", "logprobs": null, "finish_reason": "length"|"stop"}],
               "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}
    errors:   {"object": "error", "message", "type", "param": null, "code"} with the HTTP status in "code"

With ``"stream": true`` it sends server-sent events (``data: {...}`` chunks, then ``data: [DONE]``).
Llama 2 base has no chat template, so only completions are served (vLLM rejects chat for it too).

Hostile requests (a page on another origin, a lying Content-Length, slow or many clients) are turned away
before the model is touched; see ``medllama.serve_http``. The prompt is tokenised and its length checked
before a request waits for the one-at-a-time generation lock.

    python -m medllama.serve --model_dir runs/<id>/model --port 8080
"""

from __future__ import annotations

import argparse
import errno
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from medllama.base_models import describe_base_model
from medllama.serve_http import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT_S,
    MAX_BODY_BYTES,
    BoundedThreadingHTTPServer,
    RequestError,
    allowed_hosts,
    body_length,
    check_origin,
    error_body,
)

__all__ = ["MAX_BODY_BYTES", "CompletionRequest", "Generator", "RequestError", "make_handler", "parse_request"]

# torch.manual_seed's range; outside it the call raises instead of seeding.
SEED_MIN, SEED_MAX = -(1 << 63), (1 << 64) - 1


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False


def parse_request(body: bytes, served_name: str, max_model_len: int) -> CompletionRequest:
    """Validates an OpenAI completions body the way vLLM does; raises RequestError with a message."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"request body is not valid JSON: {err}") from None
    except ValueError as err:  # an integer longer than Python's 4300-digit conversion limit
        raise RequestError(HTTPStatus.BAD_REQUEST, f"request body has a number too long to read: {err}") from None
    except RecursionError:
        raise RequestError(HTTPStatus.BAD_REQUEST, "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
    if "messages" in data:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            "chat requests need a chat template; this base model serves completions (use 'prompt')",
        )
    model = data.get("model", served_name)
    if model != served_name:
        raise RequestError(HTTPStatus.NOT_FOUND, f"The model `{model}` does not exist.", "NotFoundError")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise RequestError(HTTPStatus.BAD_REQUEST, "'prompt' must be a non-empty string")

    def number(name: str, default: float, kind: type, low: float, high: float) -> Any:
        value = data.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not float(value).is_integer())
        ):
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}",
            )
        if not low <= value <= high:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"'{name}' must be between {low} and {high}, got {value!r}")
        return kind(value)

    stop = data.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError(HTTPStatus.BAD_REQUEST, "'stop' must be a string or a list of strings")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not SEED_MIN <= seed <= SEED_MAX):
        shown = repr(seed) if len(repr(seed)) <= 40 else f"{repr(seed)[:37]}..."
        raise RequestError(
            HTTPStatus.BAD_REQUEST, f"'seed' must be an integer from {SEED_MIN} to {SEED_MAX}, got {shown}"
        )
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"'stream' must be true or false, got {stream!r}")
    return CompletionRequest(
        prompt=prompt,
        max_tokens=number("max_tokens", 16, int, 1, max_model_len),
        temperature=number("temperature", 1.0, float, 0.0, 2.0),
        top_p=number("top_p", 1.0, float, 1e-6, 1.0),
        seed=seed,
        stop=tuple(stop),
        stream=stream,
    )


class Generator:
    """Holds the model; one generation at a time (a lock), like a single-sequence engine.

    Prompts are tokenised by :meth:`prepare` before a request waits for that lock, with a tokenizer of their
    own: a fast tokenizer is not safe to share between threads, and the generation side decodes with its own.
    """

    def __init__(self, model_dir: Path, max_model_len: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.prompt_tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.prompt_lock = threading.Lock()
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device).eval()
        self.max_model_len = max_model_len
        self.lock = threading.Lock()

    def prepare(self, req: CompletionRequest) -> Any:
        """The prompt's token ids on the model's device; RequestError when it does not fit the context."""
        with self.prompt_lock:
            ids = self.prompt_tokenizer(req.prompt, return_tensors="pt").input_ids
        if ids.shape[1] + req.max_tokens > self.max_model_len:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"prompt ({ids.shape[1]} tokens) plus max_tokens ({req.max_tokens}) exceeds the maximum context "
                f"length of {self.max_model_len} tokens",
            )
        return ids.to(self.device)

    def _kwargs(self, req: CompletionRequest, ids: Any) -> dict[str, Any]:
        sample = req.temperature > 0
        if req.seed is not None:
            self.torch.manual_seed(req.seed)
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": self.torch.ones_like(ids),
            "max_new_tokens": req.max_tokens,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.eos_token_id,
        }
        if sample:
            kwargs.update(temperature=req.temperature, top_p=req.top_p)
        return kwargs

    @staticmethod
    def _apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        return (text[:cut], True) if cut >= 0 else (text, False)

    def complete(self, req: CompletionRequest, ids: Any) -> tuple[str, str, int, int]:
        """Returns (text, finish_reason, prompt_tokens, completion_tokens) for ids from :meth:`prepare`."""
        with self.lock, self.torch.no_grad():
            out = self.model.generate(**self._kwargs(req, ids))
        new = out[0, ids.shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        text, stopped = self._apply_stop(text, req.stop)
        ended = bool(len(new) and new[-1].item() == self.tokenizer.eos_token_id)
        finish = "stop" if stopped or ended or len(new) < req.max_tokens else "length"
        return text, finish, int(ids.shape[1]), len(new)

    def stream(self, req: CompletionRequest, ids: Any) -> Iterator[str]:
        """Yields text pieces as they are generated, for ids from :meth:`prepare`."""
        from transformers import TextIteratorStreamer

        with self.lock:
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            kwargs = self._kwargs(req, ids) | {"streamer": streamer}

            def run() -> None:
                with self.torch.no_grad():
                    self.model.generate(**kwargs)

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            emitted = ""
            for piece in streamer:
                candidate, stopped = self._apply_stop(emitted + piece, req.stop)
                if candidate[len(emitted) :]:
                    yield candidate[len(emitted) :]
                emitted = candidate
                if stopped:
                    break
            worker.join()


def make_handler(
    generator: Generator,
    served_name: str,
    hosts: frozenset[str],
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
) -> type[BaseHTTPRequestHandler]:
    """The request handler; ``hosts`` are the Host header values to answer (serve_http.allowed_hosts)."""
    counter = itertools.count(1)
    completion_routes = ("/invocations", "/v1/completions")

    class Handler(BaseHTTPRequestHandler):
        server_version = "medllama-local-serve"
        protocol_version = "HTTP/1.1"
        # Every read and write on the connection gives up after this long, so a client that stalls (or never
        # sends its headers) frees its thread; http.server then closes the connection.
        timeout = read_timeout

        def log_message(self, format: str, *args: Any) -> None:  # one line per request on stdout
            print(f"{self.address_string()} {format % args}", flush=True)

        def _body_unread(self) -> bool:
            """True when the request announced a body that was not read: the connection must close, or those
            bytes would be parsed as the next request."""
            if getattr(self, "_body_read", False):
                return False
            if self.headers.get("Transfer-Encoding") is not None:
                return True
            length = self.headers.get("Content-Length")
            if length is None:  # a POST without a length may still send a body we cannot delimit
                return self.command == "POST"
            return length.strip() != "0"

        def _send_json(self, status: int, obj: dict[str, Any]) -> None:
            body = json.dumps(obj).encode()
            close = self._body_unread()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _error(self, err: RequestError) -> None:
            self._send_json(err.status, error_body(err.status, err.message, err.kind))

        def do_GET(self) -> None:
            self._body_read = False
            try:
                check_origin(self.headers, hosts, needs_json=False)
                if self.path != "/ping":
                    raise RequestError(HTTPStatus.NOT_FOUND, f"no route GET {self.path}", "NotFoundError")
                self._send_json(200, {"status": "healthy"})
            except RequestError as err:
                self._error(err)

        def _read_body(self) -> bytes:
            length = body_length(self.headers)
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                raise RequestError(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"request body not received within {read_timeout:g} s",
                    "RequestTimeout",
                ) from None
            if len(body) < length:
                raise RequestError(HTTPStatus.BAD_REQUEST, f"request body ended after {len(body)} of {length} bytes")
            self._body_read = True
            return body

        def do_POST(self) -> None:
            self._body_read = False
            self._streaming = False
            try:
                check_origin(self.headers, hosts, needs_json=self.path in completion_routes)
                if self.path == "/ping":
                    self._send_json(200, {"status": "healthy"})
                    return
                if self.path not in completion_routes:
                    raise RequestError(HTTPStatus.NOT_FOUND, f"no route POST {self.path}", "NotFoundError")
                req = parse_request(self._read_body(), served_name, generator.max_model_len)
                ids = generator.prepare(req)  # before the generation lock: a prompt too long never waits for it
                cid = f"cmpl-{next(counter)}"
                if req.stream:
                    self._stream(cid, req, ids)
                    return
                text, finish, n_prompt, n_new = generator.complete(req, ids)
                self._send_json(
                    200,
                    {
                        "id": cid,
                        "object": "text_completion",
                        "created": int(time.time()),
                        "model": served_name,
                        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
                        "usage": {
                            "prompt_tokens": n_prompt,
                            "completion_tokens": n_new,
                            "total_tokens": n_prompt + n_new,
                        },
                    },
                )
            except RequestError as err:
                if not self._streaming:
                    self._error(err)
            except OSError:
                self.close_connection = True  # the client went away; nothing to answer
            except Exception as err:  # a bug or a model failure: say so instead of dropping the connection
                print(f"medllama.serve: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
                if not self._streaming:
                    self.close_connection = True
                    self._error(
                        RequestError(
                            HTTPStatus.INTERNAL_SERVER_ERROR,
                            "internal error; see the server log",
                            "InternalServerError",
                        )
                    )

        def _stream(self, cid: str, req: CompletionRequest, ids: Any) -> None:
            pieces = generator.stream(req, ids)
            first = next(pieces, None)
            self._streaming = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def event(payload: str) -> None:
                self.wfile.write(f"data: {payload}\n\n".encode())
                self.wfile.flush()

            created = int(time.time())

            def chunk(text: str, finish_reason: str | None) -> str:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
                body = {"id": cid, "object": "text_completion", "created": created, "model": served_name}
                return json.dumps(body | {"choices": [choice]})

            for piece in itertools.chain([first] if first is not None else [], pieces):
                event(chunk(piece, None))
            event(chunk("", "stop"))
            event("[DONE]")

    return Handler


def bind(host: str, port: int, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> BoundedThreadingHTTPServer:
    """The listening server, before the model is loaded (a busy port fails fast); set its handler later."""
    return BoundedThreadingHTTPServer((host, port), BaseHTTPRequestHandler, max_connections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medllama.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True, help="an HF model folder (config.json, weights, tokenizer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080, the SageMaker container port)")
    parser.add_argument("--served_model_name", default="medllama", help="the 'model' value requests must carry")
    parser.add_argument("--max_model_len", type=int, default=512, help="prompt + generated tokens limit")
    parser.add_argument(
        "--max_connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"connections served at once; more are answered 503 (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--read_timeout",
        type=float,
        default=DEFAULT_READ_TIMEOUT_S,
        help=f"seconds a stalled client may hold a connection (default {DEFAULT_READ_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    if args.max_connections < 1 or not 0 < args.read_timeout <= 3600 or args.max_model_len < 2:
        parser.error("--max_connections must be >= 1, --read_timeout in (0, 3600] and --max_model_len >= 2")

    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").is_file():
        print(f"medllama.serve: no model at {model_dir} (expected an HF folder with config.json)", file=sys.stderr)
        return 1
    try:
        server = bind(args.host, args.port, args.max_connections)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            print(f"medllama.serve: port {args.port} on {args.host} is already in use; pass --port", file=sys.stderr)
            return 1
        raise
    about = describe_base_model(model_dir)
    print(f"loading model from {model_dir} (tuned from base model {about['name']})", flush=True)
    generator = Generator(model_dir, args.max_model_len)
    hosts = allowed_hosts(args.host, server.server_port)
    server.RequestHandlerClass = make_handler(generator, args.served_model_name, hosts, args.read_timeout)
    print(
        f"serving {args.served_model_name} on http://{args.host}:{server.server_port} (/ping, /invocations)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
