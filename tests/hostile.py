"""A scriptable HTTP/1.1 server that misbehaves on purpose, for fault-injection tests.

It speaks raw bytes over asyncio streams (no aiohttp on the server side), so it can do what a
well-behaved framework refuses to: reset a connection, lie about ``Content-Length``, stall after
the headers, answer garbage. Each request the server reads consumes the next scripted
:data:`Behaviour`; when the script is empty, :attr:`HostileServer.default` answers.

::

    async with HostileServer(reset(), ok()) as server:
        ...  # the first request is reset, the second gets a virtual key
        assert len(server.requests) == 2
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import socket
import ssl as _ssl
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import attrs
from yarl import URL

from portkey_vk import AsyncPortkey

__all__ = [
    "API_KEY",
    "ForwardProxy",
    "HostileServer",
    "Request",
    "assert_pool_clean",
    "async_test",
    "client_for",
    "close_mid_body",
    "echo_key",
    "hang",
    "ok",
    "raw",
    "reset",
    "respond",
    "stall_after_headers",
]

API_KEY = "pk-hostile-SECRET-5f3c9a1e7d"
VK_BODY: dict[str, Any] = {
    "slug": "vk",
    "name": "VK",
    "status": "active",
    "created_at": "2024-05-01T10:00:00Z",
    "object": "virtual-key",
}

_P = ParamSpec("_P")
_T = TypeVar("_T")


@attrs.frozen
class Request:
    """What the server read: request line, headers (lower-cased names), arrival time."""

    method: str
    target: str
    headers: Mapping[str, str]
    connection: int
    at: float


Behaviour = Callable[[asyncio.StreamWriter, Request, asyncio.Event], Awaitable[bool]]
"""Answers one request; returns whether the connection stays open for the next one."""


def _head(status: int, headers: Mapping[str, str], length: int | None) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Whatever"
    lines = [f"HTTP/1.1 {status} {reason}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes | str | object = None,
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str = "application/json",
) -> Behaviour:
    """A well-formed response; ``body`` may be bytes, str or a JSON value."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    head = _head(status, {"Content-Type": content_type, **(headers or {})}, len(data))

    async def behaviour(writer: asyncio.StreamWriter, _: Request, __: asyncio.Event) -> bool:
        writer.write(head + data)
        await writer.drain()
        return True

    return behaviour


def ok(**fields: Any) -> Behaviour:
    """200 with a valid virtual key body."""
    return respond(200, {**VK_BODY, **fields})


def echo_key(status: int = 401) -> Behaviour:
    """Echo the request's API key back in the body and in a header, as a hostile server might."""

    async def behaviour(writer: asyncio.StreamWriter, req: Request, stop: asyncio.Event) -> bool:
        key = req.headers.get("x-portkey-api-key", "")
        body = json.dumps({"message": f"bad key {key}", "echo": key, "error": {"key": key}})
        return await respond(status, body, {"X-Echo": key, "X-Portkey-Request-Id": key})(
            writer, req, stop
        )

    return behaviour


def raw(data: bytes, *, keep_open: bool = False) -> Behaviour:
    """Send ``data`` verbatim; then close, or keep the connection silent until the server stops."""

    async def behaviour(writer: asyncio.StreamWriter, _: Request, stop: asyncio.Event) -> bool:
        writer.write(data)
        await writer.drain()
        if keep_open:
            await stop.wait()
        return False

    return behaviour


def reset() -> Behaviour:
    """Abort the connection with a TCP RST before answering."""

    async def behaviour(writer: asyncio.StreamWriter, _: Request, __: asyncio.Event) -> bool:
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout turns close() into an RST instead of a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False

    return behaviour


def close_mid_body(*, claimed: int = 1000, sent: bytes = b'{"slug": "vk", "na') -> Behaviour:
    """Promise ``claimed`` bytes of body, send fewer, then close (a body shorter than its
    ``Content-Length``)."""
    return raw(_head(200, {"Content-Type": "application/json"}, claimed) + sent)


def stall_after_headers(*, sent: bytes = b"") -> Behaviour:
    """Send the headers (and optionally a little body), then never another byte."""
    return raw(_head(200, {"Content-Type": "application/json"}, 1000) + sent, keep_open=True)


def hang() -> Behaviour:
    """Accept the request and never answer."""

    async def behaviour(_: asyncio.StreamWriter, __: Request, stop: asyncio.Event) -> bool:
        await stop.wait()
        return False

    return behaviour


class HostileServer:
    """A raw HTTP/1.1 server on 127.0.0.1 that plays a script of :data:`Behaviour` s."""

    def __init__(
        self,
        *script: Behaviour,
        default: Behaviour | None = None,
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        self.ssl = ssl
        self.script: collections.deque[Behaviour] = collections.deque(script)
        self.default = default or ok()
        self.requests: list[Request] = []
        self.connections = 0
        self._stop = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def base_url(self, host: str = "127.0.0.1", path: str = "/v1") -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def then(self, *behaviours: Behaviour) -> None:
        self.script.extend(behaviours)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        self._writers.add(writer)
        try:
            while not self._stop.is_set():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                request = Request(method, target, headers, conn, time.monotonic())
                self.requests.append(request)
                behaviour = self.script.popleft() if self.script else self.default
                try:
                    keep = await behaviour(writer, request, self._stop)
                except OSError:
                    return
                if not keep:
                    return
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.wait_for(self._server.wait_closed(), 5)


class ForwardProxy:
    """A minimal HTTP forward proxy on 127.0.0.1 that records what it was asked to relay.

    Absolute-form requests (``GET http://host/path``) are relayed to the origin; ``CONNECT``
    opens a blind tunnel (for https). Either way the first request head is kept in
    :attr:`requests`, so a test can see that a client went through the proxy, and with which
    headers (``Proxy-Authorization``).
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)
        }
        self.requests.append(Request(method, target, headers, len(self.requests), time.monotonic()))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = URL(target)
            up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
            kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
            rewritten = "\r\n".join([f"{method} {url.raw_path_qs} {version}", *kept])
            up_writer.write(rewritten.encode("latin-1"))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def client_for(base_url: str, **options: Any) -> AsyncPortkey:
    """An AsyncPortkey with test-friendly defaults: short timeout, no retries."""
    options.setdefault("timeout", 2.0)
    options.setdefault("max_retries", 0)
    return AsyncPortkey(api_key=API_KEY, base_url=base_url, **options)


def assert_pool_clean(client: AsyncPortkey) -> None:
    """No connection is checked out of the pool (none leaked by a failed request)."""
    session = client._transport._session
    if session is None:
        return
    connector = session.connector
    assert connector is not None
    acquired = len(connector._acquired)  # type: ignore[attr-defined]
    assert acquired == 0, f"{acquired} connection(s) still checked out of the pool"


def async_test(fn: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, _T]:
    """Run an async test body on a fresh event loop (no pytest async plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
