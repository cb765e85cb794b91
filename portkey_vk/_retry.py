"""The retry loop, and the policy that decides what may be sent again.

Every operation goes through :func:`request`: its options are prepared by the transport (bad
input raises there, before any request), then :func:`send` runs the attempts and parses the
answer. What is retried depends on whether sending again could do something twice:

- ``GET``, ``PUT`` and ``DELETE`` are idempotent: a connection error, a timeout, 408, 409, 429
  or 5xx is retried up to ``max_retries`` times, with backoff and ``Retry-After`` honoured.
- ``POST`` (a create) is retried only when the request certainly never reached the server
  (connection refused, DNS failure, TLS handshake failure) or when it answered 429 (nothing was
  done). After a timeout, a dropped connection or a 5xx it raises, saying so.
- A connection dropped under an idempotent request is sent again at once, within the same
  attempt's deadline: what aiohttp would otherwise do silently (it is switched off in
  :mod:`portkey_vk._transport`), done here so the policy sees every request that went on the
  wire. A ``DELETE`` answered 404 after an attempt that may have reached the server succeeded:
  the earlier attempt deleted it.

A whole call takes at most ``(max_retries + 1) x timeout`` plus the backoff between attempts
(at most 8 s each, or a server's ``Retry-After`` of up to 60 s).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from portkey_vk._error_mapping import maybe_created_note
from portkey_vk._errors import APIConnectionError, APIStatusError, ConnectionFailure, NotFoundError
from portkey_vk._logging import logger as log
from portkey_vk._wire import PreparedRequest, RawResponse

if TYPE_CHECKING:
    from portkey_vk._config import ClientConfig
    from portkey_vk._options import RequestOptions
    from portkey_vk._transport import AsyncTransport

__all__ = ["request", "retry_delay", "send"]

INITIAL_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 8.0
MAX_RETRY_AFTER: Final = 60.0
_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


def request(
    transport: AsyncTransport,
    config: ClientConfig,
    options: RequestOptions[Any],
    *,
    parse: bool = True,
) -> Coroutine[Any, Any, Any]:
    """The one entry point of every operation: prepare ``options``, then send with retries.

    Returns the retry loop's coroutine, which gives the parsed answer (the
    :class:`RawResponse` itself with ``parse=False``: a page fetched ahead is parsed only when
    its turn comes). Not a coroutine itself: bad input raises here, at the call, before any
    request; and the caller awaits the loop directly, one frame fewer at every I/O wait.
    """
    req = transport.prepare(config, options)
    return send(transport, config, req, options.parser if parse else None)


async def send(
    transport: AsyncTransport,
    config: ClientConfig,
    req: PreparedRequest,
    parser: Callable[[RawResponse], Any] | None = None,
) -> Any:
    """Send ``req`` with retries; return the parsed 2xx answer, or raise a typed scrubbed error.

    Without a ``parser`` the :class:`RawResponse` itself is returned. Parsing happens here, in
    the loop's own coroutine, so that a call costs no extra frame for it.
    """
    attempt = 0
    # Whether an earlier attempt may have reached the server (and done the work).
    may_have_acted = False
    while True:
        deadline = time.monotonic() + req.timeout
        try:
            try:
                raw = await transport.attempt(config, req, deadline, attempt + 1)
                return raw if parser is None else parser(raw)
            except APIConnectionError as exc:
                if not (req.idempotent and exc.failure is ConnectionFailure.DROPPED):
                    raise
                may_have_acted = True
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "re-sending %s %s at once: the connection dropped", req.method, req.url
                    )
                raw = await transport.attempt(config, req, deadline, attempt + 1)
                return raw if parser is None else parser(raw)
        except (APIStatusError, APIConnectionError) as exc:
            if may_have_acted and req.method == "DELETE" and isinstance(exc, NotFoundError):
                # Gone now, and possibly by our own earlier attempt: the delete succeeded.
                raw = _deleted(exc, req)
                return raw if parser is None else parser(raw)
            retry = _may_retry(req, exc)
            if not retry or attempt >= config.max_retries:
                if not retry and not req.idempotent and _may_have_reached(exc):
                    exc.message += maybe_created_note(req.method)
                    exc.args = (exc.message, *exc.args[1:])
                raise req.scrubber.exception(exc) from exc.__cause__
            may_have_acted = may_have_acted or _may_have_reached(exc)
            delay = retry_delay(attempt, exc.headers if isinstance(exc, APIStatusError) else None)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "retrying %s %s in %.3fs (attempt %d of %d): %s",
                    req.method,
                    req.url,
                    delay,
                    attempt + 2,
                    config.max_retries + 1,
                    type(exc).__name__,
                )
            await asyncio.sleep(delay)
            attempt += 1


def _may_retry(req: PreparedRequest, exc: APIStatusError | APIConnectionError) -> bool:
    if isinstance(exc, APIStatusError):
        if not req.idempotent:
            return exc.status_code == 429
        return exc.status_code in _RETRYABLE_STATUSES or exc.status_code >= 500
    if exc.failure is ConnectionFailure.REDIRECT_REFUSED:
        return False
    return req.idempotent or exc.failure is ConnectionFailure.NEVER_SENT


def _may_have_reached(exc: APIStatusError | APIConnectionError) -> bool:
    if isinstance(exc, APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 408
    return exc.failure not in _NOT_REACHED


_NOT_REACHED: Final = frozenset({ConnectionFailure.NEVER_SENT, ConnectionFailure.REDIRECT_REFUSED})


def _deleted(exc: NotFoundError, req: PreparedRequest) -> RawResponse:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s -> 404 after an attempt that may have deleted it: done", req.method, req.url
        )
    return RawResponse(exc.status_code, exc.headers, b"", req.url, 0.0, req.method)  # type: ignore[arg-type]


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
    # The exponent is capped: 2.0**1024 overflows, and 8 s is reached long before.
    delay = min(INITIAL_RETRY_DELAY * 2.0 ** min(attempt, 16), MAX_RETRY_DELAY)
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
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            value = (when - datetime.now(timezone.utc)).total_seconds()
            # A date in the past means "now"; only garbage and huge values are ignored.
            value = max(value, 0.0)
    if not math.isfinite(value) or value < 0 or value > MAX_RETRY_AFTER:
        return None
    return value
