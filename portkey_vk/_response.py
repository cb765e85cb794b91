"""The raw response returned by ``with_raw_response`` calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from portkey_vk._errors import APIResponseValidationError
from portkey_vk._fast_structure import structure
from portkey_vk._models import VirtualKey
from portkey_vk._transport import RawResponse

__all__ = ["AsyncAPIResponse", "parse_virtual_key"]


def parse_virtual_key(raw: RawResponse) -> VirtualKey:
    """Decode a 2xx body into a :class:`VirtualKey`, or raise APIResponseValidationError."""
    try:
        data: Any = json.loads(raw.body)
    except ValueError as exc:
        text = raw.body[:200].decode("utf-8", errors="replace")
        raise APIResponseValidationError(
            f"response body is not valid JSON: {text!r}",
            status_code=raw.status,
            body=raw.body.decode("utf-8", errors="replace"),
            headers=raw.headers,
            request_id=raw.request_id,
            method="GET",
            url=str(raw.url),
        ) from exc
    try:
        return structure(data, VirtualKey)
    except APIResponseValidationError as exc:
        raise APIResponseValidationError(
            exc.message,
            status_code=raw.status,
            body=data,
            headers=raw.headers,
            request_id=raw.request_id,
            method="GET",
            url=str(raw.url),
        ) from exc.__cause__


class AsyncAPIResponse:
    """A successful HTTP response before it is parsed into a model.

    Returned by ``client.virtual_keys.with_raw_response.retrieve(...)`` for callers that need
    the status, headers or request id as well as the model.

    Attributes:
        status_code: the HTTP status (2xx).
        headers: the response headers (case-insensitive).
        request_id: Portkey's request id, from ``x-portkey-request-id`` or
            ``x-portkey-trace-id``, when present.
        url: the URL that answered.
        elapsed: seconds from sending the request to reading the whole body.
        content: the raw body bytes.
    """

    __slots__ = ("_parsed", "_raw")

    def __init__(self, raw: RawResponse) -> None:
        self._raw = raw
        self._parsed: VirtualKey | None = None

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
        try:
            return json.loads(self._raw.body)
        except ValueError as exc:
            raise APIResponseValidationError(
                "response body is not valid JSON",
                status_code=self._raw.status,
                body=self.text(),
                headers=self._raw.headers,
                request_id=self._raw.request_id,
            ) from exc

    async def parse(self) -> VirtualKey:
        """Parse the body into a :class:`VirtualKey` (cached after the first call).

        Raises:
            APIResponseValidationError: the body is not JSON or does not fit the model.
        """
        if self._parsed is None:
            self._parsed = parse_virtual_key(self._raw)
        return self._parsed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code}] {self.url}>"
