"""The base every resource derives from, and the one generic ``with_raw_response`` view.

:class:`AsyncAPIResource` gives each resource ``_get/_post/_put/_delete/_get_page``.

A resource is a table of its operations (method, path, params, model); the request logic lives
in the transport and the retry loop, the decoding in :mod:`portkey_vk._response` and
:mod:`portkey_vk._pagination`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from portkey_vk._cache import bypass, query_items, scope_of
from portkey_vk._config import (
    has_control_chars,
    validate_headers,
    validate_timeout,
    validate_workspace_id,
)
from portkey_vk._pagination import AsyncPage, AsyncPaginator, PageSource, parse_page
from portkey_vk._response import AsyncAPIResponse, parse
from portkey_vk._types import NotGiven

if TYPE_CHECKING:
    from portkey_vk._cache import Cache, Scope
    from portkey_vk._config import ClientConfig
    from portkey_vk._transport import AsyncTransport, RawResponse

__all__ = ["AsyncAPIResource", "AsyncRawResponseView", "validate_page_size", "validate_slug"]

_T = TypeVar("_T")
_R = TypeVar("_R", bound="AsyncAPIResource")

MAX_PAGE_SIZE: Final = 1000


def validate_slug(slug: object, what: str = "slug") -> str:
    """Return ``slug`` if it can name a resource, or raise ``ValueError`` before any request."""
    if type(slug) is str and slug.isascii() and slug.isprintable() and slug:
        # The usual slug, in two C-level passes: printable ASCII holds no control character.
        return slug
    if not isinstance(slug, str):
        # ValueError, not TypeError: callers catch one class for every refused slug.
        raise ValueError(f"{what} must be a str, got {type(slug).__name__}")  # noqa: TRY004
    if not slug:
        raise ValueError(f"{what} must not be empty")
    if has_control_chars(slug):
        raise ValueError(f"{what} must not contain control characters: {slug!r}")
    return slug


def validate_page_size(page_size: object) -> int:
    """Return ``page_size`` if it is an int from 1 to 1000, or raise before any request."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError(f"page_size must be an int, got {type(page_size).__name__}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}, got {page_size}")
    return page_size


class AsyncAPIResource:
    """Base class of ``client.virtual_keys``, ``client.providers``, ...: the request helpers.

    Every helper validates its input before any request, sends through the one transport
    entry point, and parses into ``cast_to``; on a ``with_raw_response`` copy of the resource it
    returns the :class:`AsyncAPIResponse` instead, parsed on demand.
    """

    __slots__ = ("_cache", "_config", "_raw", "_scope", "_transport")

    def __init__(
        self, config: ClientConfig, transport: AsyncTransport, cache: Cache | None = None
    ) -> None:
        self._config = config
        self._transport = transport
        self._raw = False
        self._cache = cache
        # Computed once per client, and only for a cached one: the key digest is not free.
        self._scope: Scope | None = None if cache is None else scope_of(config)

    @property
    def with_raw_response(self) -> AsyncRawResponseView[Any]:
        """The same methods, returning an :class:`AsyncAPIResponse` with status and headers.

        ``await response.parse()`` gives what the method itself returns.
        """
        copy = object.__new__(type(self))
        copy._config = self._config
        copy._transport = self._transport
        copy._raw = True
        # Raw reads bypass the cache; raw writes still invalidate it.
        copy._cache = self._cache
        copy._scope = self._scope
        return AsyncRawResponseView(copy)

    # -- helpers for subclasses ----------------------------------------------------------------

    def _workspace(self, workspace_id: str | NotGiven | None) -> str | None:
        """The call's workspace: its own, ``None`` for none, the client's when not given."""
        if isinstance(workspace_id, NotGiven):
            return self._config.workspace_id
        return validate_workspace_id(workspace_id)

    def _request(
        self,
        method: str,
        path: tuple[str, ...],
        cast_to: type[_T] | None,
        *,
        params: Mapping[str, str | int | None] | None = None,
        body: object = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        secrets: tuple[str, ...] = (),
    ) -> Coroutine[Any, Any, Any]:
        # Not a coroutine itself: the caller awaits the retry loop's directly, which also
        # parses, so a call costs no frame of ours between the resource and the pipeline.
        parser = _parser(cast_to)
        if self._raw:
            parser = functools.partial(AsyncAPIResponse, parser=parser)
        return self._transport.request(
            self._config,
            method,
            path,
            params=params,
            json_body=body,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets,
            parser=parser,
        )

    def _get(
        self,
        path: tuple[str, ...],
        *,
        cast_to: type[_T],
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, _T]:
        return self._request(
            "GET", path, cast_to, params=params, extra_headers=extra_headers, timeout=timeout
        )

    def _cached_get(
        self,
        path: tuple[str, ...],
        *,
        cast_to: type[_T],
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Awaitable[_T]:
        """``_get`` through the client's :class:`Cache`, when it has one (``retrieve``).

        ``path`` is ``(resource, slug, ...)``; the entry is keyed by it, the query (a workspace)
        and the client's base URL and API key, not by headers: whatever the answer depends on
        must be in ``path`` or ``params``. Writes to the same ``(resource, slug)`` through
        ``_post``/``_put``/``_delete`` invalidate it. Mark the calling method with
        :func:`portkey_vk._cache.cached_read` so that the sync facade takes hits without the
        event loop, and reach this call before awaiting anything else.

        Without a cache this is ``_get`` exactly: one attribute test, the same coroutine.
        """
        cache = self._cache
        if cache is None:
            return self._request(
                "GET", path, cast_to, params=params, extra_headers=extra_headers, timeout=timeout
            )
        if self._raw or self._transport.closed:
            # A raw response is not a cacheable value; a closed client raises, as uncached.
            return bypass(
                self._request(
                    "GET",
                    path,
                    cast_to,
                    params=params,
                    extra_headers=extra_headers,
                    timeout=timeout,
                )
            )
        assert self._scope is not None
        # Bad input raises on a hit too, as it would have without the cache.
        if extra_headers is not None:
            validate_headers(extra_headers, "extra_headers")
        if timeout is not None:
            validate_timeout(timeout)
        # Exact str segments only: a str subclass might hash or compare in its own way.
        key = (tuple(map(str.__str__, path)), query_items(params) if params else (), self._scope)
        done = cache._hit(key)
        if done is not None:
            return done
        fetch = functools.partial(
            self._request,
            "GET",
            path,
            cast_to,
            params=params,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        return cache._fetch(key, fetch)

    async def _invalidating(self, path: tuple[str, ...], write: Coroutine[Any, Any, _T]) -> _T:
        """Run a write, then drop the cached reads of the slug it touched, whatever happened.

        Also after a failure: a write that timed out or got a 5xx may have been applied.
        """
        assert self._cache is not None
        try:
            result = await write
        finally:
            self._cache._invalidate_path(path)
        slug = getattr(result, "slug", None)
        if len(path) == 1 and isinstance(slug, str):
            # A create: a 404 remembered for the new slug must go.
            self._cache.invalidate(slug, resource=path[0])
        return result

    def _post(
        self,
        path: tuple[str, ...],
        *,
        body: object,
        cast_to: type[_T],
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        secrets: tuple[str, ...] = (),
    ) -> Coroutine[Any, Any, _T]:
        write = self._request(
            "POST",
            path,
            cast_to,
            params=params,
            body=body,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets,
        )
        return write if self._cache is None else self._invalidating(path, write)

    def _put(
        self,
        path: tuple[str, ...],
        *,
        body: object,
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        secrets: tuple[str, ...] = (),
    ) -> Coroutine[Any, Any, None]:
        write = self._request(
            "PUT",
            path,
            None,
            params=params,
            body=body,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets,
        )
        return write if self._cache is None else self._invalidating(path, write)

    def _delete(
        self,
        path: tuple[str, ...],
        *,
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Coroutine[Any, Any, None]:
        write = self._request(
            "DELETE", path, None, params=params, extra_headers=extra_headers, timeout=timeout
        )
        return write if self._cache is None else self._invalidating(path, write)

    def _get_page(
        self,
        path: tuple[str, ...],
        *,
        cast_to: type[_T],
        page_size: int,
        params: Mapping[str, str | int | None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[_T]:
        """A paginator over ``GET path?current_page=N&page_size=M`` (plus ``params``)."""
        page_size = validate_page_size(page_size)
        transport, config = self._transport, self._config
        # Validated once here, not per page: bad input raises at the call, before any request.
        request = functools.partial(
            transport.request,
            config,
            "GET",
            path,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        query = dict(params or {})

        def send(index: int) -> Coroutine[Any, Any, RawResponse]:
            return request(params={"current_page": index, "page_size": page_size, **query})

        # Fail fast on bad headers or timeout: build (and discard) the first request now.
        send(0).close()

        def parse(response: RawResponse, index: int) -> AsyncPage[_T]:
            return parse_page(response, cast_to, index, page_size, source)

        source: PageSource[_T] = PageSource(send, parse)

        raw: Callable[[], Awaitable[Any]] | None = None
        if self._raw:

            async def first_raw() -> AsyncAPIResponse[AsyncPage[_T]]:
                response = await send(0)
                return AsyncAPIResponse(response, lambda r: parse(r, 0))

            raw = first_raw
        return AsyncPaginator(source, raw)


_PARSERS: dict[object, Callable[[RawResponse], Any]] = {}


def _parser(cast_to: type[Any] | None) -> Callable[[RawResponse], Any]:
    # One parser per model, made once: a partial per call would cost on every call.
    parser = _PARSERS.get(cast_to)
    if parser is None:
        parser = _PARSERS[cast_to] = functools.partial(parse, cast_to=cast_to)
    return parser


class AsyncRawResponseView(Generic[_R]):
    """``resource.with_raw_response``: every method of the resource, returning raw responses.

    One generic view for every resource: ``await view.retrieve(...)`` (or any other method)
    returns an :class:`AsyncAPIResponse` whose ``await parse()`` gives what the method returns.
    """

    __slots__ = ("_resource",)

    def __init__(self, resource: _R) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Callable[..., Awaitable[AsyncAPIResponse[Any]]]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._resource, name)
        if not callable(method):
            raise AttributeError(  # noqa: TRY004 - getattr() expects an AttributeError
                f"{type(self._resource).__name__}.{name} is not a method"
            )

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> AsyncAPIResponse[Any]:
            result: AsyncAPIResponse[Any] = await method(*args, **kwargs)
            return result

        return call

    def __dir__(self) -> list[str]:
        return [
            n for n in dir(self._resource) if not n.startswith("_") and n != "with_raw_response"
        ]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {type(self._resource).__name__}>"
