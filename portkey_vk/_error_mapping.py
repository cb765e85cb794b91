"""Failures to typed errors: a non-2xx answer, or an exception from the HTTP library.

Every error the pipeline raises is built here, from scrubbed material only, so the message,
body, headers and cause of an error never hold a secret (:mod:`portkey_vk._scrub` checks once
more before it is raised).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import TYPE_CHECKING, Final

import aiohttp
from multidict import CIMultiDictProxy

from portkey_vk._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConnectionFailure,
    parse_error_body,
    status_error_class,
)
from portkey_vk._scrub import UnderlyingError

if TYPE_CHECKING:
    from yarl import URL

    from portkey_vk._scrub import Scrubber

__all__ = ["connection_error", "maybe_created_note", "request_id_of", "status_error"]

_REQUEST_ID_HEADERS: Final = ("x-portkey-request-id", "x-portkey-trace-id")
# Failures that happen before a single byte of the request reaches the server: refused, DNS,
# TLS handshake (ClientSSLError and its certificate variant are ClientConnectorErrors too).
_NEVER_SENT: Final = (aiohttp.ClientConnectorError,)
# A connection that closed under a request already sent: the server may have acted on it.
_DROPPED: Final = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


def request_id_of(headers: CIMultiDictProxy[str] | dict[str, str]) -> str | None:
    """Return Portkey's request id from response headers, if any."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def maybe_created_note(method: str) -> str:
    """The sentence a failed non-idempotent write adds to its error."""
    return (
        f" The {method} may or may not have taken effect on the server; it was not retried, "
        "so check before repeating it."
    )


def status_error(
    scrubber: Scrubber,
    method: str,
    *,
    status: int,
    headers: CIMultiDictProxy[str],
    raw: bytes,
    url: URL,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for a non-2xx answer."""
    safe_headers = scrubber.headers(headers)
    body, message, code = parse_error_body(scrubber.body(raw))
    body = scrubber.tree(body)
    message = _default_message(status) if message is None else scrubber.text(message)
    return status_error_class(status)(
        message,
        status_code=status,
        error_code=code if code is None else scrubber.text(code),
        body=body,
        headers=safe_headers,
        request_id=request_id_of(safe_headers),
        method=method,
        url=str(url),
    )


def connection_error(
    scrubber: Scrubber, exc: BaseException, *, timeout: float | None, method: str, url: URL
) -> APIConnectionError:
    """Build the :class:`APIConnectionError` (or timeout) for an exception from aiohttp.

    The original is not kept: its text may quote raw response bytes, and an aiohttp
    ``ClientResponseError`` holds the request headers with the API key. A scrubbed stand-in
    takes its place as ``__cause__``.
    """
    error: APIConnectionError
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        error = APITimeoutError(
            f"Request timed out after {timeout}s: {method} {url}", method=method, url=str(url)
        )
    else:
        text = _describe(scrubber, exc)
        error = APIConnectionError(
            f"Connection error: {method} {url}: {text}", method=method, url=str(url)
        )
    cause: BaseException = exc
    if isinstance(exc, aiohttp.ClientResponseError) and exc.__cause__ is not None:
        # Its own cause (the parser's error) says what went wrong without the request.
        cause = exc.__cause__
    error.__cause__ = UnderlyingError.of(cause, scrubber)
    error.__suppress_context__ = True
    # Whether the request may have reached the server decides whether a write may be retried.
    if isinstance(exc, _NEVER_SENT):
        error.failure = ConnectionFailure.NEVER_SENT
    elif isinstance(exc, _DROPPED):
        error.failure = ConnectionFailure.DROPPED
    return error


def _describe(scrubber: Scrubber, exc: BaseException) -> str:
    """What went wrong, in one line, without the raw response bytes aiohttp quotes."""
    try:
        if isinstance(exc, aiohttp.ClientResponseError):
            # Its str() repeats the URL and repr()s the parser's message, escaping it once more.
            text = f"{exc.status}, message={exc.message}"
        else:
            text = str(exc)
    except Exception:  # a broken __str__ must not hide the failure itself
        text = ""
    text = " ".join(scrubber.foreign(text).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"
