"""``client.virtual_keys``: the one ``retrieve`` implementation behind every surface.

The async classes here are the only place request logic lives; the sync facade
(:mod:`portkey_vk._sync`) is generated from them and runs these very coroutines.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Final

from portkey_vk._config import (
    ClientConfig,
    encode_path_segment,
    validate_headers,
    validate_timeout,
)
from portkey_vk._models import VirtualKey
from portkey_vk._response import AsyncAPIResponse, parse_virtual_key
from portkey_vk._transport import AsyncTransport, RawResponse

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["AsyncVirtualKeys", "AsyncVirtualKeysWithRawResponse"]

_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A service reads the same few keys over and over; validating, percent-encoding and building the
# URL again each time is pure overhead. Bounded, so that a caller iterating over many slugs only
# ever holds this many URLs.
_URL_CACHE_SIZE: Final = 256


def _validate_slug(slug: object) -> str:
    if not isinstance(slug, str):
        # ValueError, not TypeError: callers catch one class for every refused slug.
        raise ValueError(f"slug must be a str, got {type(slug).__name__}")  # noqa: TRY004
    if not slug:
        raise ValueError("slug must not be empty")
    if _CONTROL_CHARS.search(slug):
        raise ValueError(f"slug must not contain control characters: {slug!r}")
    return slug


class AsyncVirtualKeys:
    """Read Portkey virtual keys: ``await client.virtual_keys.retrieve(slug)``.

    Deprecated upstream: virtual keys are superseded by the Providers API, but existing keys keep
    working and Portkey promises to keep serving them, so the SDK issues no runtime warning.
    """

    __slots__ = ("_config", "_transport", "_urls")

    def __init__(self, config: ClientConfig, transport: AsyncTransport) -> None:
        self._config = config
        self._transport = transport
        self._urls: dict[str, URL] = {}

    def _build_url(self, slug: str) -> URL:
        url = self._config.url_for("virtual-keys", encode_path_segment(slug))
        # Only exact str keys: a str subclass might hash or compare in its own way.
        if type(slug) is str:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[slug] = url
        return url

    @property
    def with_raw_response(self) -> AsyncVirtualKeysWithRawResponse:
        """The same methods, returning an :class:`AsyncAPIResponse` with status and headers."""
        return AsyncVirtualKeysWithRawResponse(self)

    def _get(
        self,
        slug: str,
        extra_headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Coroutine[Any, Any, RawResponse]:
        # Not a coroutine itself: callers await the transport's directly, one frame fewer to
        # create and to resume at every I/O wait. They call it inside their own coroutine, so a
        # refused argument still raises when the caller is awaited, before any request.
        # A cached slug was validated and encoded when it was first seen.
        url = self._urls.get(slug) if type(slug) is str else None
        if url is None:
            _validate_slug(slug)
        if extra_headers is not None:
            extra_headers = validate_headers(extra_headers, "extra_headers")
        if timeout is not None:
            timeout = validate_timeout(timeout)
        if url is None:
            url = self._build_url(slug)
        return self._transport.get(self._config, url, extra_headers=extra_headers, timeout=timeout)

    async def retrieve(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> VirtualKey:
        """Retrieve the virtual key ``slug`` (``GET /virtual-keys/{slug}``).

        Deprecated upstream in favour of the Providers API; existing virtual keys keep working.

        Args:
            slug: the virtual key's slug. Sent as exactly one percent-encoded path segment, so
                ``a/b`` or ``..`` reach the server intact.
            extra_headers: headers added to this request only (over the client's defaults).
            timeout: seconds for each attempt (connect + send + read), overriding the client's.

        Returns:
            The virtual key.

        Raises:
            ValueError: ``slug`` is empty, not a str, or has control characters (no request is
                sent).
            AuthenticationError: the API key was refused (401).
            NotFoundError: no virtual key has this slug (404).
            APIStatusError: any other non-2xx answer, after retries where they apply.
            APITimeoutError: every attempt timed out.
            APIConnectionError: the control plane could not be reached.
            APIResponseValidationError: the answer was not a virtual key.
        """
        raw = await self._get(slug, extra_headers, timeout)
        return parse_virtual_key(raw)


class AsyncVirtualKeysWithRawResponse:
    """``client.virtual_keys.with_raw_response``: the same calls, returning raw responses."""

    __slots__ = ("_resource",)

    def __init__(self, resource: AsyncVirtualKeys) -> None:
        self._resource = resource

    async def retrieve(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncAPIResponse:
        """Like :meth:`AsyncVirtualKeys.retrieve`, but return the raw response.

        Call ``await response.parse()`` for the :class:`VirtualKey`.
        """
        raw = await self._resource._get(slug, extra_headers, timeout)
        return AsyncAPIResponse(raw)
