"""Every error the SDK raises, in one hierarchy that can be caught by meaning.

::

    PortkeyError
    └── APIError
        ├── APIStatusError            (a non-2xx answer; carries status, message, code, body)
        │   ├── BadRequestError            400
        │   ├── AuthenticationError        401
        │   ├── PaymentRequiredError       402
        │   ├── PermissionDeniedError      403
        │   ├── NotFoundError              404
        │   ├── ConflictError              409
        │   ├── UnprocessableEntityError   422
        │   ├── RateLimitError             429
        │   └── InternalServerError        >= 500
        ├── APIConnectionError        (no usable answer: refused, reset, DNS, redirect refused)
        │   └── APITimeoutError
        └── APIResponseValidationError (a 2xx body that is not JSON or does not fit its model)
            └── APIResponseTooLargeError  (a 2xx body over ``max_response_bytes``)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from portkey_vk._json import decode

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseTooLargeError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectionFailure",
    "InternalServerError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PortkeyError",
    "RateLimitError",
    "UnprocessableEntityError",
]

# Portkey's admin API names its own error codes AB01..AB09; AB09 is the one with a status of
# its own (402, "Subscription exhausted"), the rest ride on ordinary statuses.
_SNIPPET_CHARS = 200


class PortkeyError(Exception):
    """Base class of every error raised by portkey_vk.

    Bad input caught before any request is sent (a missing API key, a malformed base URL)
    is raised as a plain ``PortkeyError``.
    """


class APIError(PortkeyError):
    """An error met while talking to the control plane.

    Attributes:
        message: a human-readable description.
        method: the HTTP method of the request, when one was made.
        url: the request URL (it never contains the API key, which travels in a header).
    """

    message: str
    method: str | None
    url: str | None

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class ConnectionFailure(enum.Enum):
    """How an attempt failed without a usable answer: what :attr:`APIConnectionError.failure` says.

    It tells whether the request may have reached the server, which decides whether a write may
    be sent again (see ``docs/write-safety.md``).
    """

    NEVER_SENT = "never_sent"
    """Refused, DNS, TLS handshake: not a byte of the request reached the server."""
    DROPPED = "dropped"
    """The connection closed after the request was sent, before a whole answer arrived."""
    REDIRECT_REFUSED = "redirect_refused"
    """The SDK refused a redirect (another origin, a secret in it): refused again on any retry."""
    OTHER = "other"
    """Anything else (a timeout, a broken answer): the request may have reached the server."""


class APIConnectionError(APIError):
    """No usable response arrived.

    Connection refused or reset, DNS failure, a server that disconnected mid-answer, or a
    redirect the SDK refused to follow. Retried (up to ``max_retries``) unless it is a refused
    redirect.

    Attributes:
        failure: how it failed (:class:`ConnectionFailure`), and so whether the request may have
            reached the server.
    """

    failure: ConnectionFailure

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        method: str | None = None,
        url: str | None = None,
        failure: ConnectionFailure = ConnectionFailure.OTHER,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.failure = failure

    @property
    def never_sent(self) -> bool:
        """Whether the failed attempt certainly did not reach the server."""
        return self.failure is ConnectionFailure.NEVER_SENT


class APITimeoutError(APIConnectionError):
    """An attempt did not complete within its ``timeout`` (connect + send + read). Retried."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)


class APIResponseValidationError(APIError):
    """A 2xx response whose body is not JSON, or does not fit the model the call returns.

    Also raised by ``from_dict`` on any model. The message names the model that failed and the
    offending field path (``response does not fit the Provider model: ... @ $.created_at``).

    Attributes:
        status_code: the HTTP status of the response.
        body: the parsed JSON body, or the text when it was not JSON.
        headers: the response headers.
        request_id: Portkey's request id, when the response carried one.
    """

    status_code: int
    body: object
    headers: Mapping[str, str]
    request_id: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object,
        headers: Mapping[str, str],
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.body = body
        self.headers = headers
        self.request_id = request_id


class APIResponseTooLargeError(APIResponseValidationError):
    """A 2xx answer larger than the client's ``max_response_bytes`` (after decompression).

    Reading stopped at the limit, so ``body`` is ``None``. Not retried: the same request would
    get the same answer.

    Attributes:
        limit: the client's ``max_response_bytes``.
        size: bytes seen when reading stopped (or the declared ``Content-Length``).
    """

    limit: int
    size: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object,
        headers: Mapping[str, str],
        limit: int,
        size: int,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            body=body,
            headers=headers,
            request_id=request_id,
            method=method,
            url=url,
        )
        self.limit = limit
        self.size = size


class APIStatusError(APIError):
    """The control plane answered with a non-2xx status.

    Subclasses name the common statuses; any other status is raised as this class.

    Attributes:
        status_code: the HTTP status.
        message: Portkey's error message (or a short snippet of a non-JSON body).
        error_code: Portkey's error code (``AB01`` … ``AB09``) or the ``code`` of an
            ``{"error": {...}}`` body, when the body carried one.
        body: the parsed JSON body, or the text when it was not JSON.
        headers: the response headers.
        request_id: from ``x-portkey-request-id`` or ``x-portkey-trace-id``, when present.
    """

    status_code: int
    error_code: str | None
    body: object
    headers: Mapping[str, str]
    request_id: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status_code = status_code
        self.error_code = error_code
        self.body = body
        self.headers = headers if headers is not None else {}
        self.request_id = request_id

    def __str__(self) -> str:
        details = [f"error code {self.error_code}"] if self.error_code else []
        if self.request_id:
            details.append(f"request id {self.request_id}")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{self.status_code} {self.message}{suffix}"


class BadRequestError(APIStatusError):
    """400: the request was malformed. Not retried."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked. Not retried."""


class PaymentRequiredError(APIStatusError):
    """402: the organisation's subscription is exhausted (Portkey code AB09). Not retried."""


class PermissionDeniedError(APIStatusError):
    """403: the API key may not read this virtual key. Not retried."""


class NotFoundError(APIStatusError):
    """404: no virtual key has this slug (in this workspace). Not retried."""


class ConflictError(APIStatusError):
    """409: a conflicting operation is in progress. Retried."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was understood but refused. Not retried."""


class RateLimitError(APIStatusError):
    """429: too many requests. Retried, honouring ``Retry-After``."""


class InternalServerError(APIStatusError):
    """A 5xx answer, including an HTML 502 from a proxy in front of Portkey. Retried."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """Return the most specific :class:`APIStatusError` subclass for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


def parse_error_body(raw: bytes) -> tuple[object, str | None, str | None]:
    """Decode an error body into ``(body, message, error_code)``.

    Portkey answers errors in several shapes; the first that fits wins:
    ``{"success": false, "data": {"message", "errorCode"}}``, ``{"error": {"message", "code"}}``,
    a top-level ``{"message", "errorCode"}``. Anything else yields the text and a short snippet
    of it as the message.

    A body that is not strict JSON (see :func:`portkey_vk._json.decode`: too deep, ``NaN``, bad
    syntax) is just text: the caller still raises the status's own error class, so a 5xx is
    retried whatever its body holds. Bytes that are not UTF-8 are replaced rather than refused, so
    that a mostly readable message survives.
    """
    text = raw.decode("utf-8", errors="replace")
    try:
        body: object = decode(text)
    except ValueError:
        snippet = " ".join(text.split())[:_SNIPPET_CHARS]
        return text, snippet or None, None
    if isinstance(body, dict):
        for candidate, code_key in (
            (body.get("data"), "errorCode"),
            (body.get("error"), "code"),
            (body, "errorCode"),
        ):
            if isinstance(candidate, dict) and isinstance(candidate.get("message"), str):
                return body, candidate["message"], _as_code(candidate.get(code_key))
        if isinstance(body.get("error"), str):
            return body, body["error"], None
    snippet = " ".join(text.split())[:_SNIPPET_CHARS]
    return body, snippet or None, None


def _as_code(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return str(value)
