"""The HTTP edge: the aiohttp session's lifecycle, and one attempt of one request.

Everything above this module is plain Python. A resource asks :meth:`AsyncTransport.request`
for an operation (method, path segments, query, JSON body, per-call headers and timeout);
:mod:`portkey_vk._retry` runs the attempts, each made here by :meth:`AsyncTransport.attempt`:
redirects (:mod:`portkey_vk._redirects`) under one deadline, the body read under a size cap,
failures turned into typed errors (:mod:`portkey_vk._error_mapping`), and the answer scrubbed of
secrets (:mod:`portkey_vk._scrub`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
import urllib.request
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from portkey_vk._config import ClientConfig, encode_path_segment, validate_headers, validate_timeout
from portkey_vk._error_mapping import connection_error, request_id_of, status_error
from portkey_vk._errors import (
    APIConnectionError,
    APIResponseTooLargeError,
    APITimeoutError,
    PortkeyError,
)
from portkey_vk._logging import logger as log
from portkey_vk._logging import redacted_headers, setup_from_env
from portkey_vk._redirects import MAX_REDIRECTS, REDIRECT_STATUSES, follow, refusal
from portkey_vk._retry import IDEMPOTENT_METHODS, retry_delay, send

if TYPE_CHECKING:
    from portkey_vk._config import SSLOption
    from portkey_vk._scrub import Scrubber

__all__ = ["AsyncTransport", "PreparedRequest", "RawResponse", "retry_delay"]

setup_from_env()

DEFAULT_CONNECTION_LIMIT: Final = 100
# An error answer is only ever shown as a message and a body; reading more than this of it
# would let a server make every failure cost memory (a 20 MB error page, an endless stream).
ERROR_BODY_LIMIT: Final = 64 * 1024
# A service reads the same few keys over and over; percent-encoding and building their URLs each
# time is pure overhead. Bounded, so that a caller iterating over many slugs only ever holds
# this many URLs.
_URL_CACHE_SIZE: Final = 256
_JSON_HEADERS: Final = {"Content-Type": "application/json"}
_DROPPED: Final = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
# An attempt starting with less than its full timeout left (less this much) is a request sent
# again within the same attempt, and gets only what remains.
_DEADLINE_SLACK: Final = 0.001

# Sessions abandoned in a forked child: they belong to the parent's event loop, so closing them
# here would touch the parent's (shared) epoll set. Holding them keeps their __del__ from warning.
_ABANDONED: list[aiohttp.ClientSession] = []
# Every transport, so that a forked child can abandon the sessions it inherited (see below).
_LIVE: weakref.WeakSet[AsyncTransport] = weakref.WeakSet()


def pin_forever(obj: object) -> None:
    """Keep ``obj`` alive until the process ends, through interpreter teardown too.

    For objects a forked child inherited from its parent's event loop: finalising them at the
    child's exit (aiohttp's and asyncio's ``__del__``) would unregister the parent's sockets from
    the epoll set both processes share, leaving the parent's pooled connections deaf.
    """
    import ctypes  # noqa: PLC0415 - only ever needed in a forked child

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _after_fork_in_child() -> None:
    pin_forever(_ABANDONED)
    for transport in list(_LIVE):
        if transport._session is not None:
            _ABANDONED.append(transport._session)
            transport._session = None
            transport._loop = None


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)


class RawResponse:
    """A complete 2xx response: status, headers and the whole body, already read and scrubbed.

    Read-only by convention. A plain slotted class rather than a frozen attrs one: a frozen
    ``__init__`` sets every field through ``object.__setattr__``, and one is built per call.
    """

    __slots__ = ("body", "elapsed", "headers", "method", "status", "url")

    def __init__(  # noqa: PLR0917 - built per call, positionally: keywords cost more
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        url: URL,
        elapsed: float,
        method: str = "GET",
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.elapsed = elapsed
        self.method = method

    @property
    def request_id(self) -> str | None:
        """Portkey's request id, from ``x-portkey-request-id`` or ``x-portkey-trace-id``."""
        return request_id_of(self.headers)

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, url={str(self.url)!r})"


class PreparedRequest:
    """One operation, validated and encoded: what every attempt of it sends."""

    __slots__ = (
        "body",
        "client_timeout",
        "headers",
        "idempotent",
        "method",
        "scrubber",
        "timeout",
        "url",
    )

    def __init__(  # noqa: PLR0917 - built per call, positionally: keywords cost more
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        client_timeout: aiohttp.ClientTimeout,
        scrubber: Scrubber,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.client_timeout = client_timeout
        self.scrubber = scrubber
        self.idempotent = method in IDEMPOTENT_METHODS


def _proxy_for(url: URL) -> tuple[str | None, dict[str, str] | None]:
    """Resolve ``HTTP(S)_PROXY``/``NO_PROXY`` for ``url``, once, the way httpx does.

    aiohttp's own ``trust_env=True`` would also read ``~/.netrc`` and attach its credentials,
    which must never happen to a request carrying an API key; so the session is built with
    ``trust_env=False`` and the proxy is passed explicitly.
    """
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    host = url.host or ""
    # Not in typeshed, but public and documented alongside getproxies_environment.
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009
    if not proxy or bypass(host, proxies):
        return None, None
    if "://" not in proxy:
        proxy = "http://" + proxy
    proxy_url = URL(proxy)
    headers = None
    if proxy_url.user:
        # A header, not aiohttp.BasicAuth: that class is deprecated (a DeprecationWarning on
        # every client built behind an authenticating proxy) and limited to latin-1.
        credentials = f"{proxy_url.user}:{proxy_url.password or ''}".encode()
        headers = {"Proxy-Authorization": "Basic " + base64.b64encode(credentials).decode()}
        proxy_url = proxy_url.with_user(None)
    return str(proxy_url), headers


async def _discard(session: aiohttp.ClientSession) -> None:
    """Close a session whose event loop has already closed, without touching that loop.

    Neither aiohttp nor asyncio can do it: aiohttp's ``BaseConnector._close`` returns early once
    its loop is closed (it only marks itself closed), and an asyncio transport's ``close()`` or
    ``abort()`` ends by scheduling ``connection_lost`` on its loop, which raises
    ``RuntimeError`` on a closed one before the socket is closed. Left alone, every pooled
    socket stays open until the garbage collector finds its transport, which then prints a
    ResourceWarning ("unclosed transport", and aiohttp's "Unclosed connector" for a connector
    never closed), once per loop the client outlived. So each connection is aborted (which
    marks it closing, and an SSL transport closed) and its socket closed here, by hand: the one
    step of ``connection_lost`` that matters, since no callback can run on a closed loop.
    """
    connector = session.connector
    session.detach()
    if connector is None:
        return
    protocols = [proto for conns in getattr(connector, "_conns", {}).values() for proto, _ in conns]
    protocols += list(getattr(connector, "_acquired", ()))
    for proto in protocols:
        _close_socket(getattr(proto, "transport", None))
    with contextlib.suppress(Exception):
        # Only marks the connector closed (its loop is closed), so its __del__ stays quiet.
        await connector.close()


def _close_socket(transport: asyncio.BaseTransport | None) -> None:
    """Abort ``transport`` of a closed loop and close the socket under it (see _discard)."""
    if transport is None:
        return
    # Both raise RuntimeError (the loop is closed) once they reach the loop, but not before
    # marking the transport closed: close() does so first on every Python (3.10's SSL abort()
    # only after), abort() drops what is left to write.
    with contextlib.suppress(Exception):
        transport.close()
    with contextlib.suppress(Exception):
        transport.abort()  # type: ignore[attr-defined]
    # An SSL transport wraps the selector transport that owns the socket.
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    raw = getattr(ssl_protocol, "_transport", None) if ssl_protocol is not None else transport
    sock = getattr(raw, "_sock", None)
    if sock is None:  # not asyncio's selector transport (uvloop), or already closed
        return
    sock.close()
    # What the transport's own connection_lost step does last; its __del__ then has no socket
    # left to warn about.
    raw._sock = None  # type: ignore[union-attr]


class AsyncTransport:
    """Owns the connection pool shared by a client and its ``with_options`` copies.

    The aiohttp session is created lazily inside the running event loop (aiohttp binds a
    session to its loop) and re-created, never reused, if the loop or the process changes.
    """

    def __init__(
        self,
        base_url: URL,
        *,
        ssl: SSLOption = True,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()
        self._closed = False
        self._ssl = True if ssl is None else ssl
        self._connection_limit = connection_limit
        self._proxy, self._proxy_headers = _proxy_for(base_url)
        # aiohttp sends proxy_headers only in an https CONNECT; a plain-http request goes to the
        # proxy itself, so its credentials ride on the request (the proxy consumes them).
        self._request_proxy_headers = self._proxy_headers if base_url.scheme == "http" else None
        self._urls: dict[tuple[str, ...], URL] = {}
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def _open_session(self) -> aiohttp.ClientSession:
        """Create the session for the running loop, retiring one bound to another loop."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise PortkeyError("This client is closed; create a new one.")
        if self._session is not None:
            await self._retire(self._session)
        connector = aiohttp.TCPConnector(limit=self._connection_limit, ssl=self._ssl)
        session = aiohttp.ClientSession(
            connector=connector,
            # Proxies are resolved by _proxy_for; trust_env would also read ~/.netrc.
            trust_env=False,
            # Each request passes its own bounded timeout; this is only a backstop.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None),
            # No skip_auto_headers: every request carries our User-Agent, so aiohttp never adds
            # its own, and skipping would cost a header copy per request.
        )
        # aiohttp silently sends an idempotent request again after a dropped connection; the
        # retry policy (portkey_vk._retry) does that itself, so that it knows of every request
        # that went on the wire (a DELETE answered 404 after one has succeeded).
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        self._loop = loop
        self._pid = os.getpid()
        return session

    async def _retire(self, session: aiohttp.ClientSession) -> None:
        old_loop = self._loop
        if os.getpid() != self._pid:
            _ABANDONED.append(session)
        elif old_loop is not None and not old_loop.is_closed():
            raise PortkeyError(
                "This client is in use on another event loop. An AsyncPortkey belongs to the "
                "loop it was first used on; create one client per loop, or use Portkey "
                "(the sync facade) from threads."
            )
        else:
            # Its loop ended without close(): recover, closing its sockets by hand.
            await _discard(session)
        self._session = None

    async def aclose(self) -> None:
        """Close the pool. Idempotent; later requests raise :class:`PortkeyError`."""
        self._closed = True
        session, self._session = self._session, None
        if session is None:
            return
        if os.getpid() != self._pid:
            _ABANDONED.append(session)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is always awaited
            running = None
        if self._loop is running:
            await session.close()
        elif self._loop is not None and not self._loop.is_closed():
            # Closed from another loop (the sync facade's portal closes from its own thread).
            future = asyncio.run_coroutine_threadsafe(session.close(), self._loop)
            await asyncio.wrap_future(future)
        else:
            await _discard(session)

    def connection_count(self) -> int:
        """Open TCP connections in the pool (idle plus in use); for tests and diagnostics."""
        session = self._session
        if session is None or session.connector is None:
            return 0
        connector = session.connector
        idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
        acquired = len(getattr(connector, "_acquired", ()))
        return idle + acquired

    # -- the pipeline --------------------------------------------------------------------------

    def request(
        self,
        config: ClientConfig,
        method: str,
        path: tuple[str, ...],
        *,
        params: Mapping[str, str | int | None] | None = None,
        json_body: object = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        secrets: tuple[str, ...] = (),
        parser: Callable[[RawResponse], Any] | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """The one entry point of every operation: validate, encode, then send with retries.

        Args:
            config: the calling client's settings.
            method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
            path: path segments below the base URL, not yet encoded; each is sent as exactly
                one percent-encoded segment (``a/b`` or ``..`` reach the server intact).
            params: the query; ``None`` values are left out.
            json_body: a JSON-ready value sent as the body (``None``: no body).
            extra_headers: headers for this request only, over the client's.
            timeout: seconds for each attempt, instead of the client's.
            secrets: values this request carries that must be scrubbed like the API key
                (a provider key in a write).
            parser: turns the 2xx :class:`RawResponse` into the call's result (a model); the
                response itself is returned without one. Run inside the retry loop's own
                coroutine, so a call costs no extra frame for parsing.

        Not a coroutine itself: the caller awaits the retry loop's directly, one frame fewer to
        create and to resume at every I/O wait. Bad input raises here, before any request.
        """
        url = self._urls.get(path)
        if url is None:
            url = self._url_for(config, path)
        if params:
            query = {k: str(v) for k, v in params.items() if v is not None}
            if query:
                url = url.update_query(query)
        # Everything that can refuse the call runs before a local holds the client's headers:
        # error reporters such as Sentry send every local of every frame of a traceback, and
        # those headers carry the API key, which no caller's frame holds.
        extra = None if extra_headers is None else validate_headers(extra_headers, "extra_headers")
        body: bytes | None = None
        if json_body is not None:
            try:
                body = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"the request body cannot be sent as JSON: {exc}") from None
        if timeout is None:
            seconds, client_timeout = config.timeout, config.client_timeout
        else:
            seconds = validate_timeout(timeout)
            client_timeout = aiohttp.ClientTimeout(total=seconds)
        headers: Mapping[str, str] = config.headers
        if extra is not None:
            headers = {**headers, **extra}
        if self._request_proxy_headers:
            headers = {**headers, **self._request_proxy_headers}
        if body is not None:
            headers = {**headers, **_JSON_HEADERS}
        scrubber = config.scrubber.with_secrets(secrets) if secrets else config.scrubber
        req = PreparedRequest(method, url, headers, body, seconds, client_timeout, scrubber)
        return send(self, config, req, parser)

    def _url_for(self, config: ClientConfig, path: tuple[str, ...]) -> URL:
        url = config.url_for(*(encode_path_segment(segment) for segment in path))
        # Only exact str segments are cached: a str subclass might hash or compare in its own
        # way, and would then be served another string's URL.
        if all(type(segment) is str for segment in path):
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[path] = url
        return url

    async def attempt(
        self, config: ClientConfig, req: PreparedRequest, deadline: float, number: int = 1
    ) -> RawResponse:
        """Make one attempt of ``req``: follow redirects, all within ``deadline``.

        Returns a 2xx :class:`RawResponse`; raises :class:`APIStatusError` for any other answer
        and :class:`APIConnectionError` (or :class:`APITimeoutError`) when none arrived.
        """
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = await self._open_session()
        scrubber = req.scrubber
        method = req.method
        body = req.body
        target = req.url
        client_timeout = req.client_timeout
        started = time.monotonic()
        for hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - (time.monotonic() if hop else started)
            if hop or remaining < req.timeout - _DEADLINE_SLACK:
                # Every hop shares the attempt's deadline, and so does a request sent again at
                # once after a dropped connection: a slow redirect chain or a late drop must
                # not get a fresh timeout.
                if remaining <= 0:
                    raise scrubber.exception(
                        APITimeoutError(
                            f"Request timed out after {req.timeout}s: {method} {target}",
                            method=method,
                            url=str(target),
                        )
                    )
                client_timeout = aiohttp.ClientTimeout(total=remaining)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s headers=%s", method, target, redacted_headers(req.headers))
            error: APIConnectionError | APIResponseTooLargeError | None = None
            try:
                async with session.request(
                    method,
                    target,
                    headers=req.headers,
                    data=body,
                    timeout=client_timeout,
                    allow_redirects=False,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                ) as resp:
                    status = resp.status
                    resp_headers = resp.headers
                    length = resp.content_length
                    if 200 <= status < 300:
                        if (
                            length is not None
                            and length <= config.max_response_bytes
                            and "Content-Encoding" not in resp_headers
                        ):
                            # The usual answer, read in place (no frame of ours): its size is
                            # declared, and aiohttp's parser stops there.
                            raw = await resp.read()
                        else:
                            raw = await _read_capped(resp, config.max_response_bytes)
                    else:
                        raw = await _read_capped(resp, ERROR_BODY_LIMIT, truncate=True)
                        if len(raw) > ERROR_BODY_LIMIT:
                            # Cut where no echoed secret can straddle the limit.
                            raw = scrubber.cut(raw[:ERROR_BODY_LIMIT])
            except asyncio.CancelledError:
                raise
            except _TooLarge as exc:
                error = APIResponseTooLargeError(
                    f"The response to {method} {target} is larger than max_response_bytes "
                    f"({config.max_response_bytes} bytes); it was not read further.",
                    status_code=status,
                    body=None,
                    headers=scrubber.headers(resp_headers),
                    limit=config.max_response_bytes,
                    size=exc.size,
                    method=method,
                    url=str(target),
                )
            except Exception as exc:
                error = connection_error(
                    scrubber, exc, timeout=req.timeout, method=method, url=target
                )
                if isinstance(exc, _DROPPED) and not isinstance(exc, aiohttp.ClientConnectorError):
                    error.__dict__["_dropped"] = True
            elapsed = time.monotonic() - started
            if error is not None:
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "%s %s -> %s (attempt %d, %.1f ms)",
                        method,
                        target,
                        type(error).__name__,
                        number,
                        elapsed * 1e3,
                    )
                # Raised outside the except block, so aiohttp's error is not also kept as
                # __context__: connection_error chose a scrubbed stand-in as the cause.
                raise error
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s -> %d (attempt %d, %.1f ms)",
                    method,
                    target,
                    status,
                    number,
                    elapsed * 1e3,
                )
            if 200 <= status < 300:
                return RawResponse(
                    status,
                    scrubber.headers(resp_headers),
                    scrubber.body(raw),
                    target,
                    elapsed,
                    method,
                )
            if status in REDIRECT_STATUSES and "Location" in resp_headers:
                location = resp_headers["Location"]
                next_target = follow(
                    config, scrubber, method=method, status=status, url=target, location=location
                )
                if next_target is not None:
                    target = next_target
                    continue
            raise status_error(
                scrubber, method, status=status, headers=resp_headers, raw=raw, url=target
            )
        raise refusal(
            f"Too many redirects (more than {MAX_REDIRECTS}): {method} {target}", method, target
        )


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


async def _read_capped(
    resp: aiohttp.ClientResponse, limit: int, *, truncate: bool = False
) -> bytes:
    """Read the (decompressed) body, never holding more than ``limit`` bytes of it.

    With ``truncate`` a larger body is cut: its first ``limit + 1`` bytes are returned (one more
    than the limit, so the caller knows) and the rest left unread (the connection is then
    closed rather than reused); otherwise a larger body raises _TooLarge.
    """
    length = resp.content_length
    if length is not None and length <= limit and "Content-Encoding" not in resp.headers:
        # The usual answer: its size is declared and aiohttp's parser stops there.
        return await resp.read()
    if (
        length is not None
        and not truncate
        and length > limit
        and ("Content-Encoding" not in resp.headers)
    ):
        raise _TooLarge(length)
    chunks: list[bytes] = []
    size = 0
    # aiohttp decompresses in bounded pieces as they are read, so a compression bomb is
    # counted (and stopped) after decompression, a piece at a time.
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            if truncate:
                chunks.append(chunk[: len(chunk) - (size - limit) + 1])
                return b"".join(chunks)
            raise _TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)
