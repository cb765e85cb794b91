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
import contextlib
import functools
import itertools
import json
import socket
import ssl as _ssl
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
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
    "compressed_size",
    "compression_bomb",
    "declared",
    "delayed",
    "echo_body",
    "echo_key",
    "endless_chunked",
    "hang",
    "in_pieces",
    "ok",
    "raw",
    "reset",
    "respond",
    "stall_after_headers",
    "stream",
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
    """What the server read: request line, headers (lower-cased names), arrival time, body."""

    method: str
    target: str
    headers: Mapping[str, str]
    connection: int
    at: float
    body: bytes = b""


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


def echo_body(status: int = 400) -> Behaviour:
    """Answer with the request's body inside the error message, as a careless server might."""

    async def behaviour(writer: asyncio.StreamWriter, req: Request, stop: asyncio.Event) -> bool:
        sent = req.body.decode("utf-8", errors="replace")
        body = {"message": f"invalid request: {sent}", "request": json.loads(req.body or b"null")}
        return await respond(status, body)(writer, req, stop)

    return behaviour


def delayed(seconds: float, then: Behaviour) -> Behaviour:
    """Wait ``seconds`` (less if the server stops), then behave as ``then``."""

    async def behaviour(writer: asyncio.StreamWriter, req: Request, stop: asyncio.Event) -> bool:
        with contextlib.suppress(asyncio.TimeoutError):  # not the builtin on 3.10
            await asyncio.wait_for(stop.wait(), seconds)
        if stop.is_set():
            return False
        return await then(writer, req, stop)

    return behaviour


def in_pieces(*pieces: bytes, pause: float = 0.05) -> Behaviour:
    """Send ``pieces`` as separate TCP writes with a pause between them, then close.

    aiohttp quotes, in a parse error, only the part of a line that arrived in its last read:
    this decides where that quote starts.
    """

    async def behaviour(writer: asyncio.StreamWriter, _: Request, __: asyncio.Event) -> bool:
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        return False

    return behaviour


def stream(head: bytes, pieces: Iterable[bytes], tail: bytes = b"") -> Behaviour:
    """Send ``head``, then ``pieces`` one by one as the client reads them, then ``tail``.

    Stops quietly when the client goes away (it is expected to stop reading at its limit).
    """

    async def behaviour(writer: asyncio.StreamWriter, _: Request, __: asyncio.Event) -> bool:
        with contextlib.suppress(OSError):
            writer.write(head)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
            writer.write(tail)
            await writer.drain()
        return False

    return behaviour


def declared(
    length: int, status: int = 200, *, content_type: str = "application/json", fill: bytes = b"x"
) -> Behaviour:
    """Declare a ``Content-Length`` of ``length`` and send that many ``fill`` bytes (lazily)."""
    piece = fill * (65536 // len(fill))

    def pieces() -> Iterator[bytes]:
        sent = 0
        while sent < length:
            yield piece[: length - sent]
            sent += len(piece)

    return stream(_head(status, {"Content-Type": content_type}, length), pieces())


def endless_chunked(status: int = 200, *, fill: bytes = b"a") -> Behaviour:
    """A chunked answer that never ends: 64 KiB chunks for as long as the client reads."""
    chunk = b"10000\r\n" + (fill * (65536 // len(fill) + 1))[:65536] + b"\r\n"
    head = _head(status, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, None)
    return stream(head, itertools.repeat(chunk))


@functools.cache
def _bomb(encoding: str, mebibytes: int) -> tuple[bytes, list[bytes], bytes]:
    """A ``gzip`` or ``deflate`` stream of ``mebibytes`` MiB of zeros, built in about a second.

    Compressing 1 GiB takes zlib 10 s; but after a full flush the compressor starts afresh, so
    every further MiB of zeros compresses to the same bytes: two are made and the second
    repeated. Only the trailer's checksum needs the whole GiB (a CRC-32 or Adler-32 of zeros).
    """
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    pieces = [first, *[again] * (mebibytes - 1), deflate.flush(zlib.Z_FINISH)]
    if encoding == "gzip":
        crc = 0
        for _ in range(mebibytes):
            crc = zlib.crc32(zeros, crc)
        head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        tail = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    else:
        adler = 1
        for _ in range(mebibytes):
            adler = zlib.adler32(zeros, adler)
        head, tail = b"\x78\xda", struct.pack(">I", adler)
    return head, pieces, tail


def compression_bomb(
    encoding: str = "gzip", mebibytes: int = 1024, *, status: int = 200, declare: bool = True
) -> Behaviour:
    """A ``Content-Encoding: gzip`` (or ``deflate``) answer that inflates to ``mebibytes`` MiB.

    1 GiB of zeros is about 1 MB compressed; the ``Content-Length`` declared (unless
    ``declare`` is false: then the answer ends when the connection closes) is that small size.
    """
    head, pieces, tail = _bomb(encoding, mebibytes)
    size = len(head) + sum(map(len, pieces)) + len(tail)
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    return stream(_head(status, headers, size if declare else None) + head, pieces, tail)


def compressed_size(encoding: str = "gzip", mebibytes: int = 1024) -> int:
    """How many bytes :func:`compression_bomb` sends on the wire."""
    head, pieces, tail = _bomb(encoding, mebibytes)
    return len(head) + sum(map(len, pieces)) + len(tail)


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
                body = b""
                length = int(headers.get("content-length", "0") or "0")
                if length:
                    try:
                        body = await reader.readexactly(length)
                    except (asyncio.IncompleteReadError, OSError):
                        return
                request = Request(method, target, headers, conn, time.monotonic(), body)
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
    options.setdefault("api_key", API_KEY)
    options.setdefault("timeout", 2.0)
    options.setdefault("max_retries", 0)
    return AsyncPortkey(base_url=base_url, **options)


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
