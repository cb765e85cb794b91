"""The HTTP edge: the aiohttp session's lifecycle, and one attempt of one request.

Everything above this module is plain Python. :meth:`AsyncTransport.prepare` turns a call's
:class:`~portkey_vk._options.RequestOptions` into a :class:`~portkey_vk._wire.PreparedRequest`
(validated and encoded, before any request); :mod:`portkey_vk._retry` runs the attempts, each
made here by :meth:`AsyncTransport.attempt`: redirects (:mod:`portkey_vk._redirects`) followed
under one deadline, each hop sent once (the body read under a size cap, failures turned into
typed errors by :mod:`portkey_vk._error_mapping`), and the answer scrubbed of secrets
(:mod:`portkey_vk._scrub`).
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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import aiohttp
from yarl import URL

from portkey_vk._config import ClientConfig, encode_path_segment, validate_headers, validate_timeout
from portkey_vk._error_mapping import connection_error, status_error
from portkey_vk._errors import (
    APIConnectionError,
    APIResponseTooLargeError,
    APITimeoutError,
    PortkeyError,
)
from portkey_vk._logging import logger as log
from portkey_vk._logging import redacted_headers, setup_from_env
from portkey_vk._redirects import MAX_REDIRECTS, REDIRECT_STATUSES, follow, refusal
from portkey_vk._wire import PreparedRequest, RawResponse

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from portkey_vk._config import SSLOption
    from portkey_vk._options import RequestOptions

__all__ = ["AsyncTransport"]

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
        # (method, path) -> the config it was prepared for, and the request (see prepare()).
        self._plain: dict[tuple[str, tuple[str, ...]], tuple[ClientConfig, PreparedRequest]] = {}
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

    def prepare(self, config: ClientConfig, options: RequestOptions[object]) -> PreparedRequest:
        """Validate and encode ``options`` for ``config``: what every attempt of it sends.

        Bad input (headers, timeout, a body that is not JSON) raises here, before any request.
        A plain read (no query, body, headers or timeout of its own) is prepared once per path
        and reused: a service reads the same few keys over and over.
        """
        path = options.path
        plain = (
            options.query is None
            and options.json_body is None
            and options.extra_headers is None
            and options.timeout is None
            and not options.secrets
            and options.max_response_bytes is None
        )
        if plain:
            hit = self._plain.get((options.method, path))
            if hit is not None and hit[0] is config:
                return hit[1]
        url = self._urls.get(path)
        if url is None:
            url = self._url_for(config, path)
        if options.query:
            query = {k: str(v) for k, v in options.query.items() if v is not None}
            if query:
                url = url.update_query(query)
        # Everything that can refuse the call runs before a local holds the client's headers:
        # error reporters such as Sentry send every local of every frame of a traceback, and
        # those headers carry the API key, which no caller's frame holds.
        extra_headers = options.extra_headers
        extra = None if extra_headers is None else validate_headers(extra_headers, "extra_headers")
        body: bytes | None = None
        if options.json_body is not None:
            try:
                body = json.dumps(options.json_body, ensure_ascii=False, allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"the request body cannot be sent as JSON: {exc}") from None
        if options.timeout is None:
            seconds, client_timeout = config.timeout, config.client_timeout
        else:
            seconds = validate_timeout(options.timeout)
            client_timeout = aiohttp.ClientTimeout(total=seconds)
        headers: Mapping[str, str] = config.headers
        if extra is not None:
            headers = {**headers, **extra}
        if self._request_proxy_headers:
            headers = {**headers, **self._request_proxy_headers}
        if body is not None:
            headers = {**headers, **_JSON_HEADERS}
        secrets = options.secrets
        scrubber = config.scrubber.with_secrets(secrets) if secrets else config.scrubber
        limit = config.max_response_bytes
        if options.max_response_bytes is not None:
            limit = min(limit, options.max_response_bytes)
        req = PreparedRequest(
            options.method, url, headers, body, seconds, client_timeout, scrubber, limit
        )
        if plain and all(type(segment) is str for segment in path):
            # Bounded like the URLs, and only reused for the very same config: with_options
            # copies share this transport with other headers, timeouts or keys.
            if len(self._plain) >= _URL_CACHE_SIZE:
                self._plain.clear()
            self._plain[options.method, path] = (config, req)
        return req

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
        """Make one attempt of ``req``: send it, following redirects, all within ``deadline``.

        Returns a 2xx :class:`RawResponse`; raises :class:`APIStatusError` for any other answer
        and :class:`APIConnectionError` (or :class:`APITimeoutError`) when none arrived.
        """
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = await self._open_session()
        scrubber = req.scrubber
        target = req.url
        client_timeout = req.client_timeout
        started = time.monotonic()
        for hop in range(MAX_REDIRECTS + 1):
            remaining = deadline - (time.monotonic() if hop else started)
            if hop or remaining < req.timeout - _DEADLINE_SLACK:
                # Every hop shares the attempt's deadline, and so does a request sent again at
                # once after a dropped connection: a slow redirect chain or a late drop must
                # not get a fresh timeout.
                client_timeout = _remaining_timeout(req, target, remaining)
            status, headers, raw = await self._send_once(
                session, config, req, target, client_timeout, number
            )
            if 200 <= status < 300:
                elapsed = time.monotonic() - started
                body = scrubber.body(raw)
                return RawResponse(
                    status, scrubber.headers(headers), body, target, elapsed, req.method
                )
            if status in REDIRECT_STATUSES and "Location" in headers:
                next_target = follow(
                    config,
                    scrubber,
                    method=req.method,
                    status=status,
                    url=target,
                    location=headers["Location"],
                )
                if next_target is not None:
                    target = next_target
                    continue
            raise status_error(
                scrubber, req.method, status=status, headers=headers, raw=raw, url=target
            )
        raise refusal(
            f"Too many redirects (more than {MAX_REDIRECTS}): {req.method} {target}",
            req.method,
            target,
        )

    async def _send_once(  # noqa: PLR0917 - one call site, in attempt()
        self,
        session: aiohttp.ClientSession,
        config: ClientConfig,
        req: PreparedRequest,
        target: URL,
        client_timeout: aiohttp.ClientTimeout,
        number: int,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """Send ``req`` to ``target`` once: its status, headers and (capped) body, unscrubbed.

        A failure with no answer raises the typed error, logged at INFO with the attempt number.
        """
        method = req.method
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s headers=%s", method, target, redacted_headers(req.headers))
        started = time.monotonic()
        status = 0
        error: APIConnectionError | APIResponseTooLargeError | None = None
        try:
            async with session.request(
                method,
                target,
                headers=req.headers,
                data=req.body,
                timeout=client_timeout,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
            ) as resp:
                status = resp.status
                resp_headers = resp.headers
                raw = await _read(resp, req)
        except asyncio.CancelledError:
            raise
        except _TooLarge as exc:
            error = APIResponseTooLargeError(
                f"The response to {method} {target} is larger than max_response_bytes "
                f"({req.limit} bytes); it was not read further.",
                status_code=status,
                body=None,
                headers=req.scrubber.headers(resp_headers),
                limit=req.limit,
                size=exc.size,
                method=method,
                url=str(target),
            )
        except Exception as exc:
            error = connection_error(
                req.scrubber, exc, timeout=req.timeout, method=method, url=target
            )
        if log.isEnabledFor(logging.INFO):
            outcome = status if error is None else type(error).__name__
            elapsed = (time.monotonic() - started) * 1e3
            log.info("%s %s -> %s (attempt %d, %.1f ms)", method, target, outcome, number, elapsed)
        if error is not None:
            # Raised outside the except block, so aiohttp's error is not also kept as
            # __context__: connection_error chose a scrubbed stand-in as the cause.
            raise error
        return status, resp_headers, raw


async def _read(resp: aiohttp.ClientResponse, req: PreparedRequest) -> bytes:
    """The body: a 2xx whole (up to ``max_response_bytes``), an error's first 64 KiB."""
    if 200 <= resp.status < 300:
        length = resp.content_length
        if length is not None and length <= req.limit and "Content-Encoding" not in resp.headers:
            # The usual answer: its size is declared, and aiohttp's parser stops there.
            return await resp.read()
        return await _read_capped(resp, req.limit)
    raw = await _read_capped(resp, ERROR_BODY_LIMIT, truncate=True)
    if len(raw) > ERROR_BODY_LIMIT:
        # Cut where no echoed secret can straddle the limit.
        raw = req.scrubber.cut(raw[:ERROR_BODY_LIMIT])
    return raw


def _remaining_timeout(
    req: PreparedRequest, target: URL, remaining: float
) -> aiohttp.ClientTimeout:
    """The timeout of a hop (or a re-send) that gets only what is left of the attempt's."""
    if remaining <= 0:
        raise req.scrubber.exception(
            APITimeoutError(
                f"Request timed out after {req.timeout}s: {req.method} {target}",
                method=req.method,
                url=str(target),
            )
        )
    return aiohttp.ClientTimeout(total=remaining)


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
