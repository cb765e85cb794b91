"""The base every resource derives from, and the one generic ``with_raw_response`` view.

A resource is a table of its operations: each method checks its arguments, then builds one
:class:`~portkey_vk._options.RequestOptions` through the thin spellings here
(``_get/_cached_get/_post/_put/_delete/_get_page``) and hands it to :meth:`_request`, the one
way down: the cache for the reads it keeps, the retry loop (:mod:`portkey_vk._retry`), the
transport. The request logic lives below, the decoding in :mod:`portkey_vk._response` and
:mod:`portkey_vk._pagination`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypedDict, TypeVar, overload

from portkey_vk._cache import bypass, key_of
from portkey_vk._config import (
    has_control_chars,
    validate_headers,
    validate_timeout,
    validate_workspace_id,
)
from portkey_vk._options import Path, Query, RequestOptions
from portkey_vk._pagination import AsyncPaginator, OffsetPaging, PageSource, Paging, parse_items
from portkey_vk._response import AsyncAPIResponse, parse
from portkey_vk._retry import request
from portkey_vk._types import MAX_PAGE_SIZE, NotGiven

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from portkey_vk._cache import Cache, Scope
    from portkey_vk._config import ClientConfig
    from portkey_vk._transport import AsyncTransport
    from portkey_vk._wire import RawResponse

__all__ = [
    "AsyncAPIResource",
    "AsyncRawResponseView",
    "CallOptions",
    "raw_response_view",
    "validate_page_size",
    "validate_slug",
]

_T = TypeVar("_T")
_R = TypeVar("_R", bound="AsyncAPIResource")
_V = TypeVar("_V", bound="AsyncRawResponseView[Any]")


class CallOptions(TypedDict, total=False):
    """What an operation may add to its method and path: the rest of a :class:`RequestOptions`.

    One list, so that a new per-call option is added here and in ``RequestOptions`` only.
    """

    query: Query | None
    json_body: object
    extra_headers: Mapping[str, str] | None
    timeout: float | None
    secrets: tuple[str, ...]
    invalidates: tuple[Path, ...]


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

    #: The first path segment of this resource's cached reads (``"virtual-keys"``), or ``None``.
    #: The client tells its cache every resource's, so that ``invalidate(slug)`` without a
    #: resource reaches the shared entries other processes hold under each of them.
    _path: ClassVar[str | None] = None

    def __init__(
        self, config: ClientConfig, transport: AsyncTransport, cache: Cache | None = None
    ) -> None:
        self._config = config
        self._transport = transport
        self._raw = False
        self._cache = cache
        # Computed once per client, and only for a cached one: the key digest is not free.
        self._scope: Scope | None = None if cache is None else cache._scope_of(config)

    # -- helpers for subclasses ----------------------------------------------------------------

    def _workspace(self, workspace_id: str | NotGiven | None) -> str | None:
        """The call's workspace: its own, ``None`` for none, the client's when not given."""
        if isinstance(workspace_id, NotGiven):
            return self._config.workspace_id
        return validate_workspace_id(workspace_id)

    def _options(
        self,
        method: str,
        path: Path,
        parser: Callable[[RawResponse], Any],
        call: CallOptions,
        paging: Paging | None = None,
    ) -> RequestOptions[Any]:
        if self._raw:
            # with_raw_response: the answer is handed back whole, and parsed on demand.
            parser = functools.partial(AsyncAPIResponse, parser=parser)
        return RequestOptions(method, path, parser, paging=paging, **call)

    def _request(self, options: RequestOptions[Any]) -> Coroutine[Any, Any, Any]:
        """Send ``options`` through the one pipeline; a write also invalidates the cache.

        Not a coroutine itself for a read: the caller awaits the retry loop's directly, which
        also parses, so a call costs no frame of ours between the resource and the pipeline.
        Bad input raises here, before any request.
        """
        sent = request(self._transport, self._config, options)
        if self._cache is None or options.method == "GET":
            return sent
        return self._invalidating(options, sent)

    async def _invalidating(
        self, options: RequestOptions[Any], write: Coroutine[Any, Any, _T]
    ) -> _T:
        """Run a write, then drop the cached reads it makes stale, whatever happened.

        Also after a failure: a write that timed out or got a 5xx may have been applied.
        """
        assert self._cache is not None
        result: Any = None
        try:
            result = await write
        finally:
            self._cache._invalidate_write(options, result)
            if self._cache._backend is not None:
                assert self._scope is not None
                await self._cache._invalidate_shared(options, result, self._scope)
        return result  # type: ignore[no-any-return]

    def _get(
        self, path: Path, cast_to: type[_T], **call: Unpack[CallOptions]
    ) -> Coroutine[Any, Any, _T]:
        return self._request(self._options("GET", path, _parser(cast_to), call))

    def _cached_get(
        self, path: Path, cast_to: type[_T], **call: Unpack[CallOptions]
    ) -> Awaitable[_T]:
        """``_get`` through the client's :class:`Cache`, when it has one (``retrieve``).

        The entry is keyed by the request options (path and query, such as a workspace) and
        the client's base URL and API key, not by headers: whatever the answer depends on must
        be in the path or the query. Writes invalidate it (see ``Cache._invalidate_write``).
        Mark the calling method with :func:`portkey_vk._cache.cached_read` so that the sync
        facade takes hits without the event loop, and reach this call before awaiting
        anything else.

        Without a cache this is ``_get`` exactly: one attribute test, the same coroutine.
        """
        options = self._options("GET", path, _parser(cast_to), call)
        cache = self._cache
        if cache is None:
            return self._request(options)
        if self._raw or self._transport.closed:
            # A raw response is not a cacheable value; a closed client raises, as uncached.
            return bypass(self._request(options))
        assert self._scope is not None
        # Bad input raises on a hit too, as it would have without the cache.
        if options.extra_headers is not None:
            validate_headers(options.extra_headers, "extra_headers")
        if options.timeout is not None:
            validate_timeout(options.timeout)
        key = key_of(options, self._scope)
        done = cache._hit(key)
        if done is not None:
            return done
        config = self._config
        timeout = config.timeout if options.timeout is None else options.timeout
        # What decides how this call's own request could fail, and how long it could take.
        terms = (config, options.timeout, options.extra_headers)
        budget = (config.max_retries + 1) * timeout
        if cache._backend is not None:
            return cache._fetch_shared(
                key, options, self._request, timeout, terms=terms, budget=budget
            )
        return cache._fetch(key, functools.partial(self._request, options), terms, budget)

    def _post(
        self, path: Path, cast_to: type[_T], **call: Unpack[CallOptions]
    ) -> Coroutine[Any, Any, _T]:
        return self._request(self._options("POST", path, _parser(cast_to), call))

    def _put(self, path: Path, **call: Unpack[CallOptions]) -> Coroutine[Any, Any, None]:
        return self._request(self._options("PUT", path, _parser(None), call))

    def _delete(self, path: Path, **call: Unpack[CallOptions]) -> Coroutine[Any, Any, None]:
        return self._request(self._options("DELETE", path, _parser(None), call))

    def _get_page(
        self, path: Path, cast_to: type[_T], paging: Paging, **call: Unpack[CallOptions]
    ) -> AsyncPaginator[_T]:
        """A paginator over ``GET path``, paged as ``paging`` says (see :class:`Paging`)."""
        parser = functools.partial(parse_items, cast_to=cast_to, paging=paging)
        options = RequestOptions("GET", path, parser, paging=paging, **call)
        source: PageSource[_T] = PageSource(self._transport, self._config, options)
        # Fail fast on bad headers or timeout: prepare (and discard) the first request now.
        self._transport.prepare(self._config, paging.request(options, 0))
        raw: Callable[[], Awaitable[Any]] | None = None
        if self._raw:

            async def first_raw() -> AsyncAPIResponse[Any]:
                response = await source.send(0)
                return AsyncAPIResponse(response, lambda r: source.parse(r, 0))

            raw = first_raw
        return AsyncPaginator(source, raw)

    def _get_offset_page(
        self, path: Path, cast_to: type[_T], page_size: int, **call: Unpack[CallOptions]
    ) -> AsyncPaginator[_T]:
        """A paginator over ``GET path?current_page=N&page_size=M`` (Portkey's main lists)."""
        return self._get_page(path, cast_to, OffsetPaging(validate_page_size(page_size)), **call)


_PARSERS: dict[object, Callable[[RawResponse], Any]] = {}


def _parser(cast_to: type[Any] | None) -> Callable[[RawResponse], Any]:
    # One parser per model, made once: a partial per call would cost on every call.
    parser = _PARSERS.get(cast_to)
    if parser is None:
        parser = _PARSERS[cast_to] = functools.partial(parse, cast_to=cast_to)
    return parser


class AsyncRawResponseView(Generic[_R]):
    """``resource.with_raw_response``: every method of the resource, returning raw responses.

    The base of each resource's generated view (``AsyncVirtualKeysWithRawResponse`` in
    :mod:`portkey_vk._raw`): ``await view.retrieve(...)`` (or any other method) has the method's
    signature and returns an :class:`AsyncAPIResponse` whose ``await parse()`` gives what the
    method returns.
    """

    __slots__ = ("_resource",)

    def __init__(self, resource: _R) -> None:
        # A raw-mode copy of the resource (see raw_response_view): its answers come back whole.
        self._resource = resource

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {type(self._resource).__name__}>"


class raw_response_view(Generic[_V]):
    """Declares a resource's ``with_raw_response``: ``with_raw_response = raw_response_view(View)``.

    ``resource.with_raw_response`` is then ``View(copy)``, where ``copy`` is the resource in raw
    mode (each method returns the :class:`AsyncAPIResponse`), so the view is typed per method.
    """

    __slots__ = ("_extra", "_owner", "_view")

    def __init__(self, view: Callable[[Any], _V]) -> None:
        self._view = view
        self._owner: type | None = None
        self._extra: tuple[str, ...] = ()

    def __set_name__(self, owner: type, name: str) -> None:
        # What else a copy needs, worked out once for the class that declares the view.
        self._owner = owner
        self._extra = _extra_state(owner)

    @property
    def view(self) -> Callable[[Any], _V]:
        """The generated view class this descriptor builds."""
        return self._view

    @overload
    def __get__(self, resource: None, owner: type[Any]) -> raw_response_view[_V]: ...

    @overload
    def __get__(self, resource: AsyncAPIResource, owner: type[Any]) -> _V: ...

    def __get__(
        self, resource: AsyncAPIResource | None, owner: type[Any]
    ) -> _V | raw_response_view[_V]:
        """The same methods, returning an :class:`AsyncAPIResponse` with status and headers.

        ``await response.parse()`` gives what the method itself returns.
        """
        if resource is None:
            return self
        # _raw_copy, inlined: this runs on every ``with_raw_response``.
        cls = type(resource)
        copy = object.__new__(cls)
        copy._config = resource._config
        copy._transport = resource._transport
        copy._cache = resource._cache
        copy._scope = resource._scope
        copy._raw = True
        extra = self._extra if cls is self._owner else _extra_state(cls)
        if extra:
            _copy_extra(resource, copy, extra)
        return self._view(copy)


def _copy_extra(resource: AsyncAPIResource, copy: AsyncAPIResource, extra: tuple[str, ...]) -> None:
    """Copy a subclass's own state (sub-resources such as ``integrations.models``) to ``copy``."""
    for name in extra:
        if name == "__dict__":
            copy.__dict__.update(resource.__dict__)
        elif hasattr(resource, name):
            setattr(copy, name, getattr(resource, name))


_COPIED: Final = frozenset({"_cache", "_config", "_raw", "_scope", "_transport"})


def _extra_state(cls: type) -> tuple[str, ...]:
    """The slots ``raw_response_view`` does not copy by name, and ``__dict__`` if any."""
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in _COPIED and name != "__weakref__":
                names[name] = None
    if hasattr(cls, "__dictoffset__") and cls.__dictoffset__:
        names["__dict__"] = None
    return tuple(names)
