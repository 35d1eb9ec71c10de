"""HTTP hygiene for ``medllama.serve``: what a request must look like before the model is touched.

``http.server`` trusts its client: it reads whatever ``Content-Length`` says (``-1`` reads to the end of the
stream), starts one thread per connection without limit and waits forever for a slow client. This module holds
the checks that run first, each ending in a JSON error with a reason rather than a dropped connection:

- the Host and Origin guard (only this server's own loopback names; a page on another origin, or a DNS
  rebinding name, gets 403) and ``Content-Type: application/json`` for completions (415), as in the review app;
- ``Content-Length``: ASCII digits only (400), at most :data:`MAX_BODY_BYTES` (413); chunked bodies and a
  missing length are refused (411);
- a server with a cap on open connections (503 past it) whose connections time out when the client stalls.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_READ_TIMEOUT_S = 20.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def error_body(status: int, message: str, kind: str) -> dict[str, Any]:
    """vLLM's error shape."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": int(status)}


def body_length(headers: Message) -> int:
    """The request body's length from its headers, or RequestError (before a byte of the body is read)."""
    if headers.get("Transfer-Encoding") is not None:
        raise RequestError(
            HTTPStatus.LENGTH_REQUIRED,
            "chunked request bodies are not supported; send Content-Length",
            "LengthRequired",
        )
    values = headers.get_all("Content-Length") or []
    if not values:
        raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", "LengthRequired")
    if len({v.strip() for v in values}) > 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "conflicting Content-Length headers")
    raw = values[0].strip()
    # ASCII digits only: int() would also take "-1", "+5", " 5", "1_000" and other scripts' digits.
    if not re.fullmatch(r"[0-9]+", raw):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"Content-Length must be a whole number of bytes, got {raw[:40]!r}")
    if len(raw) > len(str(MAX_BODY_BYTES)) or int(raw) > MAX_BODY_BYTES:
        raise RequestError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"request body of {raw[:40]} bytes is over the limit of {MAX_BODY_BYTES} bytes",
            "PayloadTooLarge",
        )
    return int(raw)


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Host header values this server answers to: its loopback names (and the address it was bound to)."""
    names = set(LOOPBACK_NAMES)
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name}:{port}" for name in names)


def check_origin(headers: Message, hosts: Iterable[str], needs_json: bool) -> None:
    """The review server's guard: own Host names only, no foreign Origin, JSON bodies for completions."""
    hosts = frozenset(hosts)
    if headers.get("Host") not in hosts:
        raise RequestError(
            HTTPStatus.FORBIDDEN,
            f"unexpected Host header {headers.get('Host', '')[:80]!r}; use http://127.0.0.1:<port>",
            "Forbidden",
        )
    origin = headers.get("Origin")
    if origin is not None and origin not in {f"http://{h}" for h in hosts}:
        raise RequestError(HTTPStatus.FORBIDDEN, "cross-origin requests are not allowed", "Forbidden")
    if needs_json and not re.match(r"application/json\b", headers.get("Content-Type", ""), re.IGNORECASE):
        raise RequestError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
            "UnsupportedMediaType",
        )


class BoundedThreadingHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once; one more is answered 503 and closed."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        message = f"server busy: {self.max_connections} connections are open; retry shortly"
        body = json.dumps(error_body(503, message, "ServiceUnavailableError")).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        try:
            request.settimeout(1.0)
            request.sendall(head.encode() + body)
        except OSError:
            pass
        self.shutdown_request(request)
