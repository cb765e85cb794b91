"""The HTTP layer: session lifecycle, one attempt, the retry loop, failures to typed errors.

Nothing above this module sees aiohttp: resources hand it a config and a path and get back a
:class:`RawResponse` with a 2xx status, or one of :mod:`portkey_vk._errors`' exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import logging
import math
import os
import random
import time
import urllib.request
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from portkey_vk._config import REDACTED, ClientConfig, redact
from portkey_vk._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    PortkeyError,
    parse_error_body,
    status_error_class,
)

if TYPE_CHECKING:
    from portkey_vk._config import SSLOption

__all__ = ["AsyncTransport", "RawResponse", "retry_delay"]

from portkey_vk._logging import logger as log
from portkey_vk._logging import redacted_headers, setup_from_env

setup_from_env()

INITIAL_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 8.0
MAX_RETRY_AFTER: Final = 60.0
MAX_REDIRECTS: Final = 5
DEFAULT_CONNECTION_LIMIT: Final = 100
_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_REQUEST_ID_HEADERS: Final = ("x-portkey-request-id", "x-portkey-trace-id")
_REDACTED_BYTES: Final = REDACTED.encode()

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
    """A complete 2xx response: status, headers and the whole body, already read.

    Read-only by convention. A plain slotted class rather than a frozen attrs one: a frozen
    ``__init__`` sets every field through ``object.__setattr__``, and one is built per call.
    """

    __slots__ = ("body", "elapsed", "headers", "status", "url")

    def __init__(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes, url: URL, elapsed: float
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.elapsed = elapsed

    @property
    def request_id(self) -> str | None:
        """Portkey's request id, from ``x-portkey-request-id`` or ``x-portkey-trace-id``."""
        return request_id_of(self.headers)

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, url={str(self.url)!r})"


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """Return Portkey's request id from response headers, if any."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def retry_delay(attempt: int, headers: Mapping[str, str] | None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    A ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date) of at most 60 s is honoured
    exactly; otherwise exponential backoff from 0.5 s doubling to 8 s, with up to 25 % jitter
    downwards so that a crowd of clients does not retry in lockstep.
    """
    if headers:
        server_delay = _retry_after(headers)
        if server_delay is not None:
            return server_delay
    delay = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    return delay * (1.0 - 0.25 * random.random())


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value: float | None = None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = None
    if value is None:
        raw = headers.get("retry-after")
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            value = (when - datetime.now(timezone.utc)).total_seconds()
            # A date in the past means "now"; only garbage and huge values are ignored.
            value = max(value, 0.0)
    if not math.isfinite(value) or value < 0 or value > MAX_RETRY_AFTER:
        return None
    return value


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
            # Its loop ended without close(): recover, closing what can still be closed. The
            # old loop's sockets can only be reclaimed by the garbage collector now.
            connector = session.connector
            session.detach()
            if connector is not None:
                with contextlib.suppress(Exception):
                    await connector.close()
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
            session.detach()

    def connection_count(self) -> int:
        """Open TCP connections in the pool (idle plus in use); for tests and diagnostics."""
        session = self._session
        if session is None or session.connector is None:
            return 0
        connector = session.connector
        idle = sum(len(conns) for conns in getattr(connector, "_conns", {}).values())
        acquired = len(getattr(connector, "_acquired", ()))
        return idle + acquired

    async def get(
        self,
        config: ClientConfig,
        url: URL,
        *,
        extra_headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> RawResponse:
        """GET ``url`` with retries; return a 2xx :class:`RawResponse` or raise a typed error."""
        headers = config.headers if not extra_headers else {**config.headers, **extra_headers}
        if self._request_proxy_headers:
            headers = {**headers, **self._request_proxy_headers}
        client_timeout = (
            config.client_timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        )
        # The retry loop, the redirect loop and the attempt share one coroutine: a nested one
        # per attempt cost a frame to create and another to resume at every I/O wake-up.
        attempt = 0
        while True:
            try:
                session = self._session
                if session is None or self._loop is not asyncio.get_running_loop():
                    session = await self._open_session()
                started = time.monotonic()
                target = url
                for _ in range(MAX_REDIRECTS + 1):
                    if log.isEnabledFor(logging.DEBUG):
                        log.debug("GET %s headers=%s", target, redacted_headers(headers))
                    error: APIConnectionError | None = None
                    try:
                        async with session.get(
                            target,
                            headers=headers,
                            timeout=client_timeout,
                            allow_redirects=False,
                            proxy=self._proxy,
                            proxy_headers=self._proxy_headers,
                        ) as resp:
                            body = await resp.read()
                            status = resp.status
                            resp_headers = resp.headers
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        error = _connection_error(exc, client_timeout, target, config.api_key)
                    elapsed = time.monotonic() - started
                    if error is not None:
                        if log.isEnabledFor(logging.INFO):
                            log.info(
                                "GET %s -> %s (attempt %d, %.1f ms)",
                                target,
                                type(error).__name__,
                                attempt + 1,
                                elapsed * 1e3,
                            )
                        # Raised outside the except block so that aiohttp's error is not also
                        # kept as __context__: _connection_error chose a cause that holds no
                        # request headers.
                        raise error
                    if log.isEnabledFor(logging.INFO):
                        log.info(
                            "GET %s -> %d (attempt %d, %.1f ms)",
                            target,
                            status,
                            attempt + 1,
                            elapsed * 1e3,
                        )
                    if 200 <= status < 300:
                        body, resp_headers = _scrub(config, body, resp_headers)
                        return RawResponse(status, resp_headers, body, target, elapsed)
                    if status in _REDIRECT_STATUSES and "Location" in resp_headers:
                        target = self._redirect_target(config, target, resp_headers["Location"])
                        continue
                    raise _status_error(config, status, resp_headers, body, target)
                raise _redirect_refusal(
                    f"Too many redirects (more than {MAX_REDIRECTS}): GET {target}", target
                )
            except (APIStatusError, APIConnectionError) as exc:
                if attempt >= config.max_retries or not _should_retry(exc):
                    raise
                delay = retry_delay(
                    attempt, exc.headers if isinstance(exc, APIStatusError) else None
                )
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "retrying GET %s in %.3fs (attempt %d of %d): %s",
                        url,
                        delay,
                        attempt + 2,
                        config.max_retries + 1,
                        type(exc).__name__,
                    )
                await asyncio.sleep(delay)
                attempt += 1

    @staticmethod
    def _redirect_target(config: ClientConfig, url: URL, location: str) -> URL:
        if config.api_key in location:
            # Following it would put the key into a URL, and from there into logs and errors.
            raise _redirect_refusal(
                f"Refused a redirect whose Location holds the API key: {url}", url
            )
        try:
            target = url.join(URL(location))
        except (ValueError, TypeError) as exc:
            raise _redirect_refusal(f"Invalid redirect Location from GET {url}", url) from exc
        if (target.scheme, target.host or "", target.port) != config.origin:
            # The API key travels in a custom header, which aiohttp would forward to any host;
            # only the base URL's origin may ever see it.
            raise _redirect_refusal(
                f"Refused to follow a redirect from {url} to another origin "
                f"({target.scheme}://{target.host}:{target.port}): the API key is only sent "
                f"to {config.base_url.origin()}",
                url,
            )
        return target


def _should_retry(exc: APIStatusError | APIConnectionError) -> bool:
    if isinstance(exc, APIStatusError):
        return exc.status_code in _RETRYABLE_STATUSES or exc.status_code >= 500
    return not _is_redirect_refusal(exc)


def _redirect_refusal(message: str, url: URL) -> APIConnectionError:
    exc = APIConnectionError(message, method="GET", url=str(url))
    # A refused redirect would be refused again: mark it so the retry loop gives up at once.
    exc.__dict__["_redirect_refused"] = True
    return exc


def _is_redirect_refusal(exc: APIConnectionError) -> bool:
    return bool(exc.__dict__.get("_redirect_refused"))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _connection_error(
    exc: Exception, client_timeout: aiohttp.ClientTimeout, url: URL, key: str
) -> APIConnectionError:
    # aiohttp raises many types (ClientError, OSError, parser errors, ValueError for odd
    # headers); callers get exactly one, with a message that keeps the cause.
    error: APIConnectionError
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        error = APITimeoutError(
            f"Request timed out after {client_timeout.total}s: GET {url}",
            method="GET",
            url=str(url),
        )
    else:
        error = APIConnectionError(
            f"Connection error: GET {url}: {redact(_describe(exc), key)}",
            method="GET",
            url=str(url),
        )
    cause: BaseException | None = exc
    if isinstance(exc, aiohttp.ClientResponseError):
        # Its repr embeds request_info, whose headers hold the API key; its own cause (the
        # parser's error) says what went wrong without them.
        cause = exc.__cause__
    error.__cause__ = cause
    return error


def _scrub(
    config: ClientConfig, body: bytes, headers: CIMultiDictProxy[str]
) -> tuple[bytes, CIMultiDictProxy[str]]:
    """Return ``body`` and ``headers`` with the API key replaced by ``[REDACTED]``.

    A hostile or buggy server echoing the key must not put it into an exception, a model or a
    log line.
    """
    if config.api_key_bytes in body:
        body = body.replace(config.api_key_bytes, _REDACTED_BYTES)
    key = config.api_key
    # A plain loop: half the cost of any() over a generator, on every 2xx answer.
    for value in headers.values():
        if key in value:
            return body, CIMultiDictProxy(
                CIMultiDict((name, redact(value, key)) for name, value in headers.items())
            )
    return body, headers


def _status_error(
    config: ClientConfig,
    status: int,
    headers: CIMultiDictProxy[str],
    raw: bytes,
    url: URL,
) -> APIStatusError:
    raw, safe_headers = _scrub(config, raw, headers)
    body, message, code = parse_error_body(raw)
    if message is None:
        message = _default_message(status)
    cls = status_error_class(status)
    return cls(
        message,
        status_code=status,
        error_code=code,
        body=body,
        headers=safe_headers,
        request_id=request_id_of(safe_headers),
        method="GET",
        url=str(url),
    )


def _default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"
