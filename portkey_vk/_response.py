"""Answers to results: the one parse path of every operation, and ``with_raw_response``'s answer.

:func:`decode` (strict JSON), :func:`unwrap` (Portkey's ``{"success", "data"}`` envelope) and
:func:`validation_error` (a typed error that names the answer it refuses) are the pieces every
parser uses: :func:`parse` for one object, ``portkey_vk._pagination``'s page parser for lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from portkey_vk._errors import APIResponseValidationError
from portkey_vk._fast_structure import structure
from portkey_vk._json import JSONDecodeFailure
from portkey_vk._json import decode as decode_json

if TYPE_CHECKING:
    from portkey_vk._wire import RawResponse

__all__ = ["AsyncAPIResponse", "decode", "parse", "unwrap", "validation_error"]

_T = TypeVar("_T")


def decode(raw: RawResponse, cast_to: type[Any] | None = None) -> Any:
    """Decode a 2xx body as JSON, or raise :class:`APIResponseValidationError`.

    Strict (:func:`portkey_vk._json.decode`): invalid JSON, bad UTF-8, ``NaN``/``Infinity``,
    overflowing numbers and nesting too deep for the parser are all this one typed error. With
    ``cast_to``, a non-finite number is reported naming the field of the model that holds it.
    """
    try:
        return decode_json(raw.body)
    except JSONDecodeFailure as exc:
        message = f"response body is {exc.message}"
        if exc.non_finite and cast_to is not None:
            message = _non_finite_field(raw, cast_to) or message
        error = validation_error(raw, message, raw.body[:65536].decode("utf-8", errors="replace"))
    # Outside the except block: the decoder's error quotes the body, and adds nothing.
    raise error


def unwrap(body: Any) -> Any:
    """The answer inside Portkey's ``{"success": true, "data": {...}}`` envelope, if it has one.

    Some operations wrap their answer and others do not; every parser accepts both.
    """
    if type(body) is dict and "success" in body and type(body.get("data")) is dict:
        return body["data"]
    return body


def validation_error(
    raw: RawResponse, message: str, body: object, cause: BaseException | None = None
) -> APIResponseValidationError:
    """The :class:`APIResponseValidationError` refusing ``raw``: its status, headers, request id.

    ``cause`` (a model's own validation error) gives the new error its ``__cause__``.
    """
    error = APIResponseValidationError(
        message,
        status_code=raw.status,
        body=body,
        headers=raw.headers,
        request_id=raw.request_id,
        method=raw.method,
        url=str(raw.url),
    )
    if cause is not None:
        error.__cause__ = cause.__cause__
    return error


def _non_finite_field(raw: RawResponse, cast_to: type[Any]) -> str | None:
    """The model's own message naming where a non-finite number sits, from a lenient decode.

    Only ever run on an answer already refused, so the hot path never pays for it; the models
    refuse non-finite numbers anywhere, so structuring the lenient value fails naming the path.
    """
    try:
        structure(unwrap(json.loads(raw.body)), cast_to)
    except APIResponseValidationError as exc:
        return exc.message
    except (ValueError, RecursionError):
        return None
    return None


@overload
def parse(raw: RawResponse, cast_to: type[_T]) -> _T: ...
@overload
def parse(raw: RawResponse, cast_to: None) -> None: ...
def parse(raw: RawResponse, cast_to: type[_T] | None) -> _T | None:
    """Decode a 2xx body into ``cast_to``, or raise :class:`APIResponseValidationError`.

    ``cast_to=None`` is for operations whose answer carries nothing (update, delete): the body
    is not read at all, so an empty or untyped answer is fine. Portkey wraps some answers in
    ``{"success": true, "data": {...}}`` and not others; both are accepted for every model.
    """
    if cast_to is None:
        return None
    data = unwrap(decode(raw, cast_to))
    try:
        return structure(data, cast_to)
    except APIResponseValidationError as exc:
        error = validation_error(raw, exc.message, data, exc)
    raise error


class AsyncAPIResponse(Generic[_T]):
    """A successful HTTP response before it is parsed into a model.

    Returned by every method of ``client.<resource>.with_raw_response`` for callers that need
    the status, headers or request id as well as the result.

    Attributes:
        status_code: the HTTP status (2xx).
        headers: the response headers (case-insensitive).
        request_id: Portkey's request id, from ``x-portkey-request-id`` or
            ``x-portkey-trace-id``, when present.
        url: the URL that answered.
        elapsed: seconds from sending the request to reading the whole body.
        content: the raw body bytes.
    """

    __slots__ = ("_parsed", "_parser", "_raw")

    def __init__(self, raw: RawResponse, parser: Callable[[RawResponse], _T]) -> None:
        self._raw = raw
        self._parser = parser
        self._parsed: Any = _UNPARSED

    @property
    def status_code(self) -> int:
        """The HTTP status code."""
        return self._raw.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, case-insensitive."""
        return self._raw.headers

    @property
    def request_id(self) -> str | None:
        """Portkey's request id, when the response carried one."""
        return self._raw.request_id

    @property
    def url(self) -> str:
        """The URL that answered."""
        return str(self._raw.url)

    @property
    def elapsed(self) -> float:
        """Seconds from sending the request to reading the whole body."""
        return self._raw.elapsed

    @property
    def content(self) -> bytes:
        """The raw body."""
        return self._raw.body

    def text(self) -> str:
        """Return the body decoded as UTF-8 (invalid bytes replaced)."""
        return self._raw.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Return the body parsed as JSON, without model validation.

        Raises:
            APIResponseValidationError: the body is not JSON.
        """
        return decode(self._raw)

    async def parse(self) -> _T:
        """Parse the body into the operation's result (cached after the first call).

        That is what the method called without ``with_raw_response`` returns: a model, a page
        of a list, or ``None`` for operations that return nothing.

        Raises:
            APIResponseValidationError: the body is not JSON or does not fit the model.
        """
        if self._parsed is _UNPARSED:
            self._parsed = self._parser(self._raw)
        result: _T = self._parsed
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code}] {self.url}>"


_UNPARSED: Any = object()
