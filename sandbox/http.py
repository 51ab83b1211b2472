"""A small threaded HTTPS server with a route table and fault knobs, shared by every emulator.

An emulator is an `App`: it registers handlers with `@app.route(METHOD, regex)`; each handler takes a
`Request` (with the regex groups in `request.params`) and returns a `Response`. `Faults` lets a test
disturb the next requests: added latency, forced status codes, dropped connections, HTML bodies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from sandbox.tls import SandboxCA


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None  # run once the reply has been written (a Trip "answered")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    merged = {"Content-Type": "application/json; charset=utf-8"}
    merged.update(headers or {})
    return Response(status, json.dumps(payload).encode(), merged)


DROP = Response(status=-1)  # a handler returning this closes the connection without a reply

Handler = Callable[[Request], Response]
TripPoint = Literal["arrival", "processed", "answered"]


@dataclass
class Trip:
    """Runs `action` at one request: the `nth` whose path matches `only`, when it arrives (nothing is
    done, the connection is closed), once it is processed (the work is done, the connection is closed
    instead of the reply) or once it is answered. A test's action kills the client process there, so
    the product needs no test-only code path to be stopped at a precise point (docs/sandbox.md)."""

    action: Callable[[], None]
    nth: int = 1
    only: str = ""
    at: TripPoint = "arrival"
    seen: int = 0
    fired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hit(self, path: str) -> bool:
        """Counts a request; True for the one the trip is set on."""
        if not re.search(self.only, path):
            return False
        with self._lock:
            self.seen += 1
            return self.seen == self.nth

    def fire(self) -> None:
        self.fired = True
        self.action()


@dataclass
class Faults:
    """Per-server disturbances, consumed request by request. Thread-safe.

    - latency: seconds added before every reply.
    - statuses: forced replies for the next requests, e.g. [500, 503] (body is the app's `error_body`).
    - drops: how many next requests get their connection closed without a reply.
    - html: how many next requests get a 200 with an HTML body (a proxy's page: nothing is processed).
    - truncated: how many next requests are processed, then answered 200 with half of their body (or
      the start of a JSON object when there is none): a reply cut short on its way back.
    - down: every request is dropped while True.
    - lost: how many next requests are carried out but get their connection closed instead of the
      reply (the server did the work; the client cannot know).
    - drip: seconds between the bytes of every reply (a server that answers a byte at a time, which
      no socket read timeout catches).
    - only: if set, faults apply only to request paths matching this regex.
    - trip: a Trip, counted on every request whatever `only` says.
    """

    latency: float = 0.0
    statuses: list[int] = field(default_factory=list)
    drops: int = 0
    html: int = 0
    truncated: int = 0
    down: bool = False
    lost: int = 0
    drip: float = 0.0
    only: str | None = None
    trip: Trip | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.latency = 0.0
            self.statuses.clear()
            self.drops = 0
            self.html = 0
            self.truncated = 0
            self.down = False
            self.lost = 0
            self.drip = 0.0
            self.only = None
            self.trip = None

    def take(self, path: str) -> str | int | None:
        """Return 'drop', 'html', 'truncated', a status code, or None for this request."""
        with self._lock:
            if self.only is not None and not re.search(self.only, path):
                return None
            if self.down:
                return "drop"
            if self.drops > 0:
                self.drops -= 1
                return "drop"
            if self.html > 0:
                self.html -= 1
                return "html"
            if self.truncated > 0:
                self.truncated -= 1
                return "truncated"
            if self.statuses:
                return self.statuses.pop(0)
            if self.lost > 0:
                self.lost -= 1
                return "lost"
        return None


class App:
    """A route table plus the fault knobs and a request log of one emulator."""

    name = "app"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults = Faults()
        self.requests: list[Request] = []
        self._log_lock = threading.Lock()

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler)
            return handler

        return register

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def error_body(self, status: int) -> Response:
        """The body a forced status code carries; emulators override it with their service's shape."""
        return json_response(status, {"message": f"forced status {status}"})

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"message": f"no route for {request.method} {request.path}"})

    def dispatch(self, request: Request) -> Response:
        with self._log_lock:
            self.requests.append(request)
        trip = self.faults.trip
        tripped = trip is not None and trip.hit(request.path)
        if tripped and trip is not None and trip.at == "arrival":
            trip.fire()
            return DROP
        if self.faults.latency:
            time.sleep(self.faults.latency)
        fault = self.faults.take(request.path)
        if fault == "drop":
            return DROP
        if fault == "html":
            return Response(200, b"<html><body>Login</body></html>", {"Content-Type": "text/html"})
        if isinstance(fault, int):
            return self.error_body(fault)
        response = self._route(request)
        if tripped and trip is not None:
            if trip.at == "processed":
                trip.fire()
                return DROP
            response = dataclasses.replace(response, after=trip.fire)  # never mutate a shared reply
        if fault == "lost":
            return DROP
        if fault == "truncated":
            whole = response.body or b'{"errors": [{"recordIndex": 0, "errorMessages": ["'
            return Response(200, whole[: max(1, len(whole) // 2)], dict(response.headers))
        return response

    def _route(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        for route_method, regex, handler in self._routes:
            if route_method not in (request.method, method):
                continue
            match = regex.match(request.path)
            if match:
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                return handler(request)
        return self.not_found(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.app.dispatch(request)
        except Exception as exc:  # an emulator bug must show up as a 500, not hang the client
            response = json_response(500, {"message": f"sandbox error: {exc!r}"})
        if response.status == -1:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        drip = self.server.app.faults.drip
        if drip:
            self._drip(response.body if self.command != "HEAD" else b"", drip)
            return
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
        if response.after is not None:
            self.wfile.flush()
            response.after()

    def _drip(self, body: bytes, seconds: float) -> None:
        """Send the reply one byte every `seconds` (the headers first, then the body)."""
        buffered: list[bytes] = getattr(self, "_headers_buffer", [])
        head = b"".join([*buffered, b"\r\n"])
        self._headers_buffer: list[bytes] = []
        for byte in head + body:
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(seconds)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: App, context: ssl.SSLContext, port: int) -> None:
        self.app = app
        self._context = context
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Headers and body go out as separate small writes: without NODELAY, Nagle + delayed ACK add ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up mid-request (dropped-connection tests) are expected


class Server:
    """Runs one App over HTTPS on 127.0.0.1 in a background thread."""

    def __init__(self, app: App, ca: SandboxCA, port: int = 0, context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.ca = ca
        self._httpd = _Server(app, context or ca.server_context(), port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{app.name}",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
