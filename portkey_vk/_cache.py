"""``Cache``: an opt-in, in-memory cache of hot reads (``retrieve``), shared by both surfaces.

::

    client = AsyncPortkey(cache=Cache(ttl=30.0, stale_if_error=300.0))

What it does, in one place for every resource (see ``docs/caching.md``):

- **fresh hits** come from memory for ``ttl`` seconds; a sync client's hit never needs the event
  loop thread (:func:`peek` runs the async method's own code up to the lookup, on the caller's
  thread);
- **single flight**: concurrent identical reads on one event loop share one request, whether the
  key was cached before or not; an error reaches each waiter (each gets its own copy);
- **stale if error**: when a refresh fails with a connection error, a timeout, 408, 429 or 5xx,
  an entry that expired less than ``stale_if_error`` seconds ago is served instead (logged at
  WARNING once per key and outage); 401, 403 and 404 drop the entry and raise;
- **negative caching**: with ``negative_ttl``, a 404 is remembered and raised from memory;
- **bounded**: at most ``max_entries``, least recently used evicted first;
- **writes invalidate**: a write through any client sharing the cache drops the entries its
  request options name (its path and what lies below it, its parent's list, and the paths it
  says it also changes), and detaches a read of them already in flight.

Entries are keyed by the request options of the read (:func:`key_of`: the path segments and the
query, such as a workspace), the base URL and a keyed digest of the API key: the same ``Cache``
may serve clients with different keys, and never hands one key's answer to another. The key
itself is never stored.

Thread safety: one :class:`threading.Lock` guards the entries, the statistics and the flights;
it is held only for dictionary operations, never across an ``await``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from portkey_vk._backend import (
    BackendError,
    BackendKey,
    BackendScope,
    CacheBackend,
    Change,
    StoredAnswer,
)
from portkey_vk._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConnectionFailure,
    NotFoundError,
    PermissionDeniedError,
)
from portkey_vk._logging import logger as log

if TYPE_CHECKING:
    from portkey_vk._config import ClientConfig
    from portkey_vk._options import Path, RequestOptions
    from portkey_vk._wire import RawResponse

__all__ = [
    "MISS",
    "Cache",
    "CacheStats",
    "Miss",
    "bypass",
    "cached_read",
    "is_cached_read",
    "key_of",
    "peek",
    "query_items",
    "scope_of",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

# (base URL, keyed digest of the API key): which control plane and which credentials.
Scope = tuple[str, str]
# (path segments, query items, scope).
Key = tuple[tuple[str, ...], tuple[tuple[str, str], ...], Scope]

# A digest of the API key, keyed with a per-process secret: a dump of the cache's keys reveals
# neither the API key nor anything a dictionary attack on a plain hash could recover.
_DIGEST_KEY: Final = os.urandom(32)
# After a failed refresh served a stale value, further reads of that key get it at once for
# this long (or ``ttl`` if shorter) instead of each waiting for the control plane to fail again.
STALE_RETRY_INTERVAL: Final = 5.0
# Statuses a refresh may fail with and still serve stale data: the control plane is struggling,
# not saying the entry is wrong.
_STALE_STATUSES: Final = frozenset({408, 429})
# Seconds a shared entry outlives ``ttl + stale_if_error`` in the store: clocks of a fleet differ.
SHARED_MARGIN: Final = 5.0
# The fleet's flight lock lives this long unless its holder renews it (every third of it): a
# holder that dies is taken over within about this many seconds.
FLIGHT_LEASE: Final = 1.0
# While a process cannot hear the fleet's writes (its listener is not subscribed yet, or lost
# Redis), it keeps what it reads through the shared tier in memory this long at most (or ``ttl``
# if shorter): a write elsewhere reaches it within this bound instead of at once.
UNHEARD_TTL: Final = 1.0
# The content type of a remembered 404 in the shared tier (the error's scrubbed fields as JSON).
_NOT_FOUND_TYPE: Final = "application/vnd.portkey-vk.not-found+json"
# How long a sync invalidate()/clear() waits for the shared tier's part on another thread's loop.
_SYNC_WAIT: Final = 5.0
# Statuses that say the cached answer must not be served any longer.
_DROP_ERRORS: Final = (AuthenticationError, PermissionDeniedError, NotFoundError)


def scope_of(config: ClientConfig) -> Scope:
    """The part of a cache key that names the control plane and the credentials."""
    digest = hmac.new(_DIGEST_KEY, config.api_key.encode(), hashlib.sha256).hexdigest()
    return (config.base_str, digest[:32])


def key_of(options: RequestOptions[Any], scope: Scope) -> Key:
    """The entry of a read: its path and query, for this control plane and these credentials.

    Whatever the answer depends on must be in the path or the query, not in headers.
    """
    # Exact str segments only: a str subclass might hash or compare in its own way.
    path = tuple(map(str.__str__, options.path))
    return (path, query_items(options.query) if options.query else (), scope)


@attrs.frozen(repr=False)
class CacheStats:
    """A snapshot of a :class:`Cache`'s counters (``client.cache.stats``).

    Attributes:
        hits: reads answered from a fresh entry (a remembered 404 included).
        misses: reads that started a request.
        coalesced: reads that joined a request already in flight for the same key.
        stale_served: reads answered with an expired entry because its refresh failed.
        evictions: entries dropped to stay within ``max_entries``.
        size: entries held now (fresh, stale or remembered 404s).
        backend_hits: misses answered from the shared tier (``backend=``) without a request.
        backend_errors: operations of the shared tier that failed (the call went on without it).
        rejected: shared entries refused because they failed their check (forged or garbled).
    """

    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    stale_served: int = 0
    evictions: int = 0
    size: int = 0
    backend_hits: int = 0
    backend_errors: int = 0
    rejected: int = 0

    def __repr__(self) -> str:
        text = (
            f"CacheStats(hits={self.hits}, misses={self.misses}, coalesced={self.coalesced}, "
            f"stale_served={self.stale_served}, evictions={self.evictions}, size={self.size}"
        )
        # The shared tier's counters only where there is one: an in-process cache reads as before.
        if self.backend_hits or self.backend_errors or self.rejected:
            text += (
                f", backend_hits={self.backend_hits}, backend_errors={self.backend_errors}, "
                f"rejected={self.rejected}"
            )
        return text + ")"


class _Entry:
    """One cached answer: a value, or a remembered 404."""

    __slots__ = ("error", "expires", "retry_at", "stale_until", "value", "warned")

    def __init__(
        self, value: Any, error: NotFoundError | None, expires: float, stale_until: float
    ) -> None:
        self.value = value
        self.error = error
        self.expires = expires
        self.stale_until = stale_until
        # While now < retry_at after a failed refresh, the stale value is served without asking.
        self.retry_at = -math.inf
        self.warned = False


class _Flight:
    """One request shared by every read of its key on one event loop."""

    __slots__ = ("detached", "key", "loop", "task", "terms", "waiters")

    def __init__(self, key: Key, loop: asyncio.AbstractEventLoop, terms: object) -> None:
        self.key = key
        self.loop = loop
        # The leader's own options (client settings, timeout, headers): a transient failure
        # under them says nothing about a follower whose options differ.
        self.terms = terms
        self.task: asyncio.Task[tuple[Any, bool]] | None = None
        self.waiters = 1
        # Set when a write invalidated the key while this read was in flight: its answer may
        # predate the write, so it is handed to its waiters but not stored.
        self.detached = False


class _Shared:
    """What a read through the shared tier hands to ``_fly``.

    A value (or a remembered 404 in ``error``), its age, whether it is stale, and ``cap``: the
    most seconds this process may keep it (short while it cannot hear the fleet's writes).
    """

    __slots__ = ("age", "cap", "error", "stale", "value")

    def __init__(
        self,
        value: Any,
        age: float,
        *,
        stale: bool = False,
        error: NotFoundError | None = None,
    ) -> None:
        self.value = value
        self.age = age
        self.stale = stale
        self.error = error
        self.cap = math.inf


class Miss:
    """What :func:`peek` returns when the answer is not in memory."""

    __slots__ = ()


MISS: Final = Miss()


class _Peeking(threading.local):
    active = False


_peeking = _Peeking()


class _Done(Generic[_T]):
    """An awaitable that is already complete: a cached value, or a remembered 404 to raise."""

    __slots__ = ("error", "value")

    def __init__(self, value: _T, error: APIError | None = None) -> None:
        self.value = value
        self.error = error

    def __await__(self) -> Generator[Any, None, _T]:
        if self.error is not None:
            raise fresh_copy(self.error)
        yield from ()  # a generator that never suspends
        return self.value


def fresh_copy(exc: APIError) -> APIError:
    """A new exception object equal to ``exc``, without its traceback.

    Raising one object from many places (each waiter of a flight, each hit on a remembered 404)
    would grow its traceback with every raise and keep every frame alive.
    """
    copy = type(exc).__new__(type(exc))
    copy.__dict__.update(exc.__dict__)
    copy.args = exc.args
    copy.__cause__ = exc.__cause__
    copy.__suppress_context__ = True
    return copy


def cached_read(fn: _F) -> _F:
    """Mark a resource's async read as served through the client's cache.

    The method must reach :meth:`AsyncAPIResource._cached_get` before it awaits anything else
    (validating its arguments first is fine): the generated sync twin first runs it up to that
    lookup on the caller's thread (:func:`peek`), and only goes to the event loop on a miss.
    """
    fn.__portkey_cached_read__ = True  # type: ignore[attr-defined]
    return fn


def is_cached_read(fn: object) -> bool:
    """Whether ``fn`` was marked with :func:`cached_read` (for the sync facade's generator)."""
    return bool(getattr(fn, "__portkey_cached_read__", False))


def peek(coro: Coroutine[Any, Any, _T]) -> _T | Miss:
    """Run a :func:`cached_read` coroutine on this thread as far as its cache lookup.

    Returns the cached value (or raises the remembered error, or the method's own refusal of bad
    input) when the answer is in memory, without any event loop; :data:`MISS` otherwise, and
    the caller then runs the method on the event loop as usual.
    """
    _peeking.active = True
    try:
        coro.send(None)
    except StopIteration as done:
        result: _T = done.value
        return result
    except _PeekMiss:
        return MISS
    finally:
        _peeking.active = False
    # It suspended on something other than the lookup: give up, run it for real instead.
    coro.close()
    return MISS


def bypass(request: Coroutine[Any, Any, _T]) -> Coroutine[Any, Any, _T]:
    """``request`` itself, for a read the cache does not serve; a miss when peeking."""
    if _peeking.active:
        request.close()
        raise _PeekMiss
    return request


class _PeekMiss(Exception):
    """Raised inside a peeked coroutine where the answer is not in memory."""


def _stale_worthy(exc: BaseException) -> bool:
    if isinstance(exc, APIStatusError):
        return exc.status_code >= 500 or exc.status_code in _STALE_STATUSES
    return (
        isinstance(exc, APIConnectionError)
        and exc.failure is not ConnectionFailure.REDIRECT_REFUSED
    )


def _validate_seconds(value: object, what: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "positive" if positive else "non-negative"
        raise ValueError(f"{what} must be a {bound}, finite number of seconds, got {value!r}")
    return float(value)


class Cache:
    """An in-memory cache of ``retrieve`` answers, opt-in per client: ``AsyncPortkey(cache=...)``.

    ::

        client = AsyncPortkey(cache=Cache(ttl=30.0, stale_if_error=300.0))
        vk = await client.virtual_keys.retrieve(slug="prod-openai")  # one request
        vk = await client.virtual_keys.retrieve(slug="prod-openai")  # from memory for 30 s

    One ``Cache`` may be shared by several clients (async and sync, different API keys): entries
    are keyed by base URL and a keyed digest of the API key as well as by resource, slug and
    workspace, so one key's answer is never served to another.

    Args:
        ttl: seconds an answer is served from memory.
        max_entries: the most entries held; the least recently used is evicted first.
        stale_if_error: seconds past ``ttl`` during which an entry is still served when its
            refresh fails with a connection error, a timeout, 408, 429 or 5xx. ``0``: never.
        negative_ttl: seconds a 404 is remembered (and raised from memory). ``0``: never.
        clock: a monotonic clock in seconds, for tests; :func:`time.monotonic` by default.
        backend: a shared tier for a whole fleet (:class:`portkey_vk.cache.RedisBackend`):
            misses look there before the control plane, one process of the fleet asks it per
            key, and the answer is shared with the others. ``None``: this process only.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: ``ttl`` not positive, ``max_entries`` below 1, a negative duration, or a
            value that is not finite.
    """

    __slots__ = (
        "__weakref__",
        "_backend",
        "_backend_hits",
        "_backend_scopes",
        "_by_prefix",
        "_clock",
        "_coalesced",
        "_entries",
        "_evictions",
        "_flights",
        "_groups",
        "_hits",
        "_home",
        "_lock",
        "_max_entries",
        "_misses",
        "_negative_ttl",
        "_resource_paths",
        "_stale_if_error",
        "_stale_served",
        "_tasks",
        "_ttl",
    )

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        stale_if_error: float = 0.0,
        negative_ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        backend: CacheBackend | None = None,
    ) -> None:
        self._ttl = _validate_seconds(ttl, "ttl", positive=True)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise TypeError(f"max_entries must be an int, got {type(max_entries).__name__}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max_entries = max_entries
        self._stale_if_error = _validate_seconds(stale_if_error, "stale_if_error", positive=False)
        self._negative_ttl = _validate_seconds(negative_ttl, "negative_ttl", positive=False)
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self._clock = clock
        if backend is not None and not isinstance(backend, CacheBackend):
            raise TypeError(f"backend must be a CacheBackend, got {type(backend).__name__}")
        self._backend = backend
        # The top-level paths of the clients' cached reads, told by each client that uses this
        # cache: invalidate(slug) without a resource drops the slug's shared entries under each
        # (this process may hold none of them in memory).
        self._resource_paths: set[str] = set()
        self._backend_hits = 0
        self._backend_scopes: dict[Scope, BackendScope] = {}
        # A shared group's hashed name -> the scope and path prefix it stands for: what a change
        # heard from the fleet (hashed names only) drops here.
        self._groups: dict[str, tuple[Scope, Path]] = {}
        # The last event loop that read through the shared tier: where a sync invalidate() or
        # clear() called from a thread without a loop sends the shared tier's part.
        self._home: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[Key, _Entry] = collections.OrderedDict()
        # Every prefix of an entry's path -> the keys below it, so that a write or invalidate()
        # finds what it makes stale without a scan.
        self._by_prefix: dict[Path, set[Key]] = {}
        self._flights: dict[tuple[Key, asyncio.AbstractEventLoop], _Flight] = {}
        self._hits = self._misses = self._coalesced = 0
        self._stale_served = self._evictions = 0
        _LIVE.add(self)

    # -- public --------------------------------------------------------------------------------

    @property
    def ttl(self) -> float:
        """Seconds an answer is served from memory."""
        return self._ttl

    @property
    def max_entries(self) -> int:
        """The most entries held at once."""
        return self._max_entries

    @property
    def stale_if_error(self) -> float:
        """Seconds past ``ttl`` an entry may still be served when its refresh fails."""
        return self._stale_if_error

    @property
    def negative_ttl(self) -> float:
        """Seconds a 404 is remembered."""
        return self._negative_ttl

    @property
    def backend(self) -> CacheBackend | None:
        """The shared tier, if any."""
        return self._backend

    @property
    def stats(self) -> CacheStats:
        """The counters so far, as one consistent snapshot."""
        shared = self._backend.stats if self._backend is not None else None
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                coalesced=self._coalesced,
                stale_served=self._stale_served,
                evictions=self._evictions,
                size=len(self._entries),
                backend_hits=self._backend_hits,
                backend_errors=0 if shared is None else shared.errors,
                rejected=0 if shared is None else shared.rejected,
            )

    def invalidate(self, slug: str, *, resource: str | None = None) -> int:
        """Drop every entry of ``slug`` (in every workspace, for every API key sharing the cache).

        ``resource`` narrows it to one resource (its path, e.g. ``"virtual-keys"``); what lies
        below the slug (an integration's models) goes with it. A read of the slug already in
        flight is detached: its callers get its answer, but it is not stored. Returns how many
        entries were dropped in this process.

        With a ``backend``, the slug's shared entries are dropped too and every process of the
        fleet drops its copies. That part needs the event loop the backend runs on: called on
        a running loop, it is scheduled there and this returns at once; called from a thread
        without one (a sync client's caller), it runs on the loop of this cache's last shared
        read (a sync client's) and this waits for it (5 s at most); if this process never read
        through the shared tier, only this process's entries are dropped. :meth:`ainvalidate`
        awaits it instead.
        """
        dropped, resources = self._invalidate_here(slug, resource)
        if self._backend is not None:
            self._in_background(functools.partial(self._invalidate_fleet, slug, resources))
        return dropped

    async def ainvalidate(self, slug: str, *, resource: str | None = None) -> int:
        """:meth:`invalidate`, and the shared tier's part awaited (with a ``backend``).

        The slug's shared entries are dropped and every process of the fleet is told to drop
        its own copies, before this returns. Returns how many entries this process dropped.
        """
        dropped, resources = self._invalidate_here(slug, resource)
        if self._backend is not None:
            await self._invalidate_fleet(slug, resources)
        return dropped

    def _invalidate_here(self, slug: str, resource: str | None) -> tuple[int, list[str]]:
        if not isinstance(slug, str):
            raise TypeError(f"slug must be a str, got {type(slug).__name__}")
        if resource is not None and not isinstance(resource, str):
            raise TypeError(f"resource must be a str or None, got {type(resource).__name__}")
        with self._lock:
            if resource is not None:
                resources = [resource]
            else:
                resources = [prefix[0] for prefix in self._by_prefix if len(prefix) == 1]
                resources += [f.key[0][0] for f in self._flights.values() if f.key[0]]
            names = list(dict.fromkeys(resources))
            return self._invalidate_below([(name, slug) for name in names]), names

    def clear(self) -> None:
        """Drop every entry and detach every read in flight; the counters are kept.

        With a ``backend``, also every shared entry under its prefix, and every process of the
        fleet drops its copies (see :meth:`invalidate` for when that part happens).
        """
        self._clear_here()
        if self._backend is not None:
            self._in_background(self._clear_fleet)

    async def aclear(self) -> None:
        """:meth:`clear`, and the shared tier's part awaited (with a ``backend``)."""
        self._clear_here()
        if self._backend is not None:
            await self._clear_fleet()

    def _clear_here(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_prefix.clear()
            for flight in self._flights.values():
                flight.detached = True
            self._flights.clear()

    def _learn_resources(self, paths: Iterable[str | None]) -> None:
        """Remember the resources a client reads through this cache (see ``invalidate``)."""
        with self._lock:
            self._resource_paths.update(path for path in paths if path)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        # Always true, like any options object: without it, ``__len__`` would make an empty
        # cache falsy, and ``if client.cache:`` would read as "no cache".
        return True

    def __repr__(self) -> str:
        shared = "" if self._backend is None else f", backend={self._backend!r}"
        return (
            f"Cache(ttl={self._ttl}, max_entries={self._max_entries}, "
            f"stale_if_error={self._stale_if_error}, negative_ttl={self._negative_ttl}, "
            f"size={len(self._entries)}{shared})"
        )

    # -- the shared tier -----------------------------------------------------------------------

    def _in_background(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run the shared part of a sync ``invalidate``/``clear`` (see :meth:`invalidate`)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        home = None if self._home is None else self._home()
        if home is None or home.is_closed() or not home.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(work(), home)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            future.result(_SYNC_WAIT)

    async def _invalidate_fleet(self, slug: str, resources: list[str]) -> None:
        """Drop ``slug``'s shared groups for every API key this cache knows, and tell the fleet."""
        backend = self._backend
        assert backend is not None
        with self._lock:
            scopes = list(self._backend_scopes.values())
            seen = {path[0] for _, path in self._groups.values() if path}
        names = list(dict.fromkeys([*resources, *sorted(seen), *sorted(self._resource_paths)]))
        for bscope in dict.fromkeys(scopes):
            groups = [bscope.group((name, slug)) for name in names]
            with contextlib.suppress(BackendError):
                await backend.delete(bscope, groups)
            with contextlib.suppress(BackendError):
                await backend.publish(bscope, groups)

    async def _clear_fleet(self) -> None:
        """Drop the backend's prefix, and tell the fleet (every API key this cache knows)."""
        backend = self._backend
        assert backend is not None
        with contextlib.suppress(BackendError):
            await backend.clear()
        with self._lock:
            scopes = list(self._backend_scopes.values())
        for bscope in dict.fromkeys(scopes):
            with contextlib.suppress(BackendError):
                await backend.publish(bscope, None)

    def _heard(self, bscope: BackendScope, change: Change, groups: tuple[str, ...]) -> None:
        """What the backend's listener heard from the fleet, on its event loop."""
        with self._lock:
            scopes = {s for s, b in self._backend_scopes.items() if b == bscope}
            if not scopes:
                return
            if change == "lost":
                # We may miss writes until we hear again: keep what we hold only briefly.
                bound = self._clock() + min(self._ttl, UNHEARD_TTL)
                for key, entry in self._entries.items():
                    if key[2] in scopes and entry.expires > bound:
                        entry.expires = bound
                return
            targets: set[tuple[Scope, Path]] | None = None
            if change == "groups":
                targets = {self._groups[g] for g in groups if g in self._groups}
                targets = {t for t in targets if t[0] in scopes}
                if not targets:
                    return

            def doomed(key: Key) -> bool:
                return key[2] in scopes and (targets is None or (key[2], key[0][:2]) in targets)

            if targets is None:
                keys = [k for k in self._entries if k[2] in scopes]
            else:
                keys = [k for _, p in targets for k in self._by_prefix.get(p, ()) if doomed(k)]
            for key in set(keys):
                self._drop(key)
            for slot, flight in list(self._flights.items()):
                if doomed(flight.key):
                    flight.detached = True
                    del self._flights[slot]

    def _remember_group(self, group: str, key: Key) -> None:
        with self._lock:
            groups = self._groups
            groups[group] = (key[2], key[0][:2])
            if len(groups) > 2 * self._max_entries + 64:
                # Keep the groups of what is held or in flight; the others hear nothing useful.
                live = {(k[2], k[0][:2]) for k in self._entries}
                live.update((f.key[2], f.key[0][:2]) for f in self._flights.values())
                self._groups = {g: where for g, where in groups.items() if where in live}

    def _scope_of(self, config: ClientConfig) -> Scope:
        """:func:`scope_of` ``config``, remembering its shared-tier scope when there is a backend.

        The shared scope is derived from the API key with a fixed salt, so that every process
        of a fleet finds the same entries; the in-process one stays keyed per process.
        """
        scope = scope_of(config)
        if self._backend is not None:
            with self._lock:
                if scope not in self._backend_scopes:
                    derived = BackendScope.derive(config.api_key, config.base_str)
                    self._backend_scopes[scope] = derived
        return scope

    def _fetch_shared(
        self,
        key: Key,
        options: RequestOptions[Any],
        request: Callable[[RequestOptions[Any]], Coroutine[Any, Any, Any]],
        timeout: float,
        *,
        terms: object = None,
        budget: float = math.inf,
    ) -> Awaitable[Any]:
        """After a miss, with a backend: the shared tier, then (one process) the control plane.

        ``terms`` and ``budget`` as for :meth:`_fetch`.
        """
        if _peeking.active:
            raise _PeekMiss
        fetch = functools.partial(self._shared_read, key, options, request, timeout)
        return self._through(key, fetch, "/".join(key[0]), terms, budget)

    async def _shared_read(
        self,
        key: Key,
        options: RequestOptions[Any],
        request: Callable[[RequestOptions[Any]], Coroutine[Any, Any, Any]],
        timeout: float,
    ) -> _Shared:
        """:meth:`_shared_answer`, kept in memory briefly unless the fleet's writes are heard.

        Heard throughout: subscribed before the read began, and still (the same subscription)
        when it ends. A write elsewhere then either lands before our read (we read its result)
        or is heard after it (and drops what we stored, or detaches our flight).
        """
        backend = self._backend
        assert backend is not None
        bscope = self._backend_scopes[key[2]]
        bkey = bscope.key(key[0], key[1])
        self._remember_group(bkey.group, key)
        self._home = weakref.ref(asyncio.get_running_loop())
        heard = backend.listen(bscope, self._heard)
        shared = await self._shared_answer(bkey, key, options, request, timeout)
        if heard is None or backend.listen(bscope, self._heard) != heard:
            shared.cap = min(self._ttl, UNHEARD_TTL)
        return shared

    async def _shared_answer(
        self,
        bkey: BackendKey,
        key: Key,
        options: RequestOptions[Any],
        request: Callable[[RequestOptions[Any]], Coroutine[Any, Any, Any]],
        timeout: float,
    ) -> _Shared:
        """The fleet's single flight: a fresh shared entry, or the flight's answer, or our own.

        Any failure of the store sends this read straight to the control plane.
        """
        backend = self._backend
        assert backend is not None
        deadline = time.monotonic() + timeout
        try:
            while True:
                hit, stale = await self._shared_hit(bkey, key, options)
                if hit is not None:
                    return hit
                token = await backend.lock(bkey, FLIGHT_LEASE)
                if token is not None:
                    renew = asyncio.ensure_future(_renew(backend, bkey, token))
                    try:
                        # Another process may have landed its flight between our look and our
                        # lock: look again before asking the control plane.
                        hit, stale = await self._shared_hit(bkey, key, options)
                        if hit is not None:
                            return hit
                        # Read before asking: a write that lands meanwhile bumps it, and then
                        # our (older) answer is not stored over the write's drop.
                        generation = await backend.generation(bkey)
                        return await self._fly_shared(bkey, options, request, stale, generation)
                    finally:
                        renew.cancel()
                        with contextlib.suppress(BackendError):
                            await backend.release(bkey, token)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # The holder is slow past our own timeout: ask the control plane ourselves.
                    break
                await backend.wait(bkey, remaining)
        except BackendError:
            pass
        return _Shared(await request(options), 0.0)

    async def _shared_hit(
        self, bkey: BackendKey, key: Key, options: RequestOptions[Any]
    ) -> tuple[_Shared | None, tuple[StoredAnswer, float] | None]:
        """A fresh shared answer, or ``None`` and the stale one worth keeping for an outage."""
        assert self._backend is not None
        stored = await self._backend.get(bkey)
        if stored is None:
            return None, None
        age = max(0.0, time.time() - stored.stored_at)
        if stored.status == 404 and stored.content_type == _NOT_FOUND_TYPE:
            error = _stored_not_found(stored) if age < self._negative_ttl else None
            if error is None:
                return None, None
            with self._lock:
                self._backend_hits += 1
            return _Shared(None, age, error=error), None
        if stored.status != 200:
            return None, None
        if age < self._ttl:
            value = _parse_stored(options, key, stored)
            if value is not _UNPARSED:
                with self._lock:
                    self._backend_hits += 1
                return _Shared(value, age), None
        elif age < self._ttl + self._stale_if_error:
            return None, (stored, age)
        return None, None

    async def _fly_shared(
        self,
        bkey: BackendKey,
        options: RequestOptions[Any],
        request: Callable[[RequestOptions[Any]], Coroutine[Any, Any, Any]],
        stale: tuple[StoredAnswer, float] | None,
        generation: str | None,
    ) -> _Shared:
        """The fleet's flight is ours: ask the control plane, share the wire answer."""
        backend = self._backend
        assert backend is not None
        seen: list[RawResponse] = []
        parser = options.parser

        def keep(raw: RawResponse) -> Any:
            seen.append(raw)
            return parser(raw)

        try:
            value = await request(options.replace(parser=keep))
        except APIError as exc:
            if isinstance(exc, _DROP_ERRORS):
                with contextlib.suppress(BackendError):
                    await backend.delete(bkey.scope, [bkey.group])
                if isinstance(exc, NotFoundError) and self._negative_ttl > 0:
                    # Remembered fleet-wide too: one request per missing slug per negative_ttl.
                    # Our own drop just counted as a write: the count to check is the new one.
                    with contextlib.suppress(BackendError):
                        generation = await backend.generation(bkey)
                        await backend.set(
                            bkey,
                            _not_found_answer(exc),
                            self._negative_ttl + SHARED_MARGIN,
                            generation=generation,
                        )
                    return _Shared(None, 0.0, error=exc)
            elif stale is not None and _stale_worthy(exc):
                value = _parse_stored(options, None, stale[0])
                if value is not _UNPARSED:
                    return _Shared(value, stale[1], stale=True)
            raise
        if seen:
            raw = seen[-1]
            answer = StoredAnswer(
                raw.status, raw.body, raw.headers.get("Content-Type", ""), time.time()
            )
            with contextlib.suppress(BackendError):
                await backend.set(
                    bkey,
                    answer,
                    self._ttl + self._stale_if_error + SHARED_MARGIN,
                    generation=generation,
                )
        return _Shared(value, 0.0)

    async def _invalidate_shared(
        self, options: RequestOptions[Any], result: object, scope: Scope
    ) -> None:
        """After a write: drop the shared entries it makes stale, for every process at once."""
        backend = self._backend
        bscope = self._backend_scopes.get(scope)
        if backend is None or bscope is None:
            return
        paths = [options.path, *options.invalidates]
        slug = getattr(result, "slug", None)
        if options.method == "POST" and isinstance(slug, str):
            paths.append((*options.path, slug))
        groups = [bscope.group(p) for p in paths]
        groups += [bscope.group(p[:-1]) for p in paths if len(p) > 1]
        groups = list(dict.fromkeys(groups))
        with contextlib.suppress(BackendError):
            await backend.delete(bscope, groups)
        # Then the fleet drops its copies: a process that reads again now finds the group gone.
        with contextlib.suppress(BackendError):
            await backend.publish(bscope, groups)

    # -- the read path (AsyncAPIResource._cached_get) ------------------------------------------

    def _hit(self, key: Key) -> Awaitable[Any] | None:
        """The answer for ``key`` from memory (an already-complete awaitable), or ``None``.

        Not a coroutine, so that :func:`peek` can take a hit on a thread without an event loop.
        """
        entry = self._lookup(key)
        if entry is None:
            return None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("cache hit %s", "/".join(key[0]))
        return _Done(entry.value, entry.error)

    def _fetch(
        self,
        key: Key,
        fetch: Callable[[], Coroutine[Any, Any, _T]],
        terms: object = None,
        budget: float = math.inf,
    ) -> Awaitable[_T]:
        """After a miss: the answer from ``fetch``, one request per key and event loop.

        ``terms`` are the caller's own options (equal terms fail alike) and ``budget`` the
        seconds its own attempts could take: a caller that joins a read in flight waits that
        long at most, and gets an attempt of its own when the read failed under other terms.
        """
        if _peeking.active:
            raise _PeekMiss
        return self._through(key, fetch, "/".join(key[0]), terms, budget)

    def _lookup(self, key: Key) -> _Entry | None:
        """The entry to serve without a request: fresh, or stale within a refresh back-off."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            now = self._clock()
            if now < entry.expires:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry
            if now < entry.retry_at:
                self._entries.move_to_end(key)
                self._stale_served += 1
                return entry
            if now >= entry.stale_until:
                self._drop(key)
            return None

    async def _through(
        self,
        key: Key,
        fetch: Callable[[], Coroutine[Any, Any, _T]],
        what: str,
        terms: object,
        budget: float,
    ) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        # Flights are per event loop: a task of one loop cannot be awaited from another.
        slot = (key, loop)
        with self._lock:
            flight = self._flights.get(slot)
            joined = flight is not None
            if flight is not None:
                flight.waiters += 1
                self._coalesced += 1
            else:
                flight = self._flights[slot] = _Flight(key, loop, terms)
                self._misses += 1
                flight.task = loop.create_task(self._fly(slot, flight, fetch, what))
            task = flight.task
            assert task is not None
        self._log_start(what, joined)
        try:
            if joined and budget < math.inf:
                # A follower's own options bound its wait, whatever the leader's allow.
                value, stale = await asyncio.wait_for(asyncio.shield(task), budget)
            else:
                value, stale = await asyncio.shield(task)
        except (asyncio.CancelledError, asyncio.TimeoutError) as exc:
            # This waiter left, or its own time ran out (or its loop is shutting down). The last
            # one to leave cancels the request: nobody would read its answer.
            self._leave(slot, flight, task)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise APITimeoutError(
                f"Request timed out after {budget:.3g}s waiting for the same read of {what}, "
                "in flight for another call",
                method="GET",
            ) from None
        except APIError as exc:
            flight.waiters -= 1
            if joined and flight.terms != terms and _stale_worthy(exc) and loop.time() < deadline:
                # Failed under the leader's options (a shorter timeout, fewer retries), not
                # necessarily under this caller's: it gets its own attempt, coalesced with the
                # other followers in the same case.
                return await self._through(key, fetch, what, terms, deadline - loop.time())
            # Each waiter raises its own copy: one object raised in many tasks would collect
            # every waiter's traceback.
            raise fresh_copy(exc) from exc.__cause__
        flight.waiters -= 1
        if stale:
            with self._lock:
                self._stale_served += 1
        return value  # type: ignore[no-any-return]

    def _leave(
        self,
        slot: tuple[Key, asyncio.AbstractEventLoop],
        flight: _Flight,
        task: asyncio.Task[Any],
    ) -> None:
        flight.waiters -= 1
        if flight.waiters == 0 and not task.done():
            with self._lock:
                if self._flights.get(slot) is flight:
                    del self._flights[slot]
            task.cancel()

    def _log_start(self, what: str, joined: bool) -> None:
        if not joined and log.isEnabledFor(logging.INFO):
            stats = self.stats
            log.info(
                "cache miss %s: fetching (hits=%d misses=%d coalesced=%d stale_served=%d "
                "evictions=%d size=%d)",
                what,
                stats.hits,
                stats.misses,
                stats.coalesced,
                stats.stale_served,
                stats.evictions,
                stats.size,
            )
        elif joined and log.isEnabledFor(logging.DEBUG):
            log.debug("cache coalesced %s: joined the request in flight", what)

    async def _fly(
        self,
        slot: tuple[Key, asyncio.AbstractEventLoop],
        flight: _Flight,
        fetch: Callable[[], Coroutine[Any, Any, Any]],
        what: str,
    ) -> tuple[Any, bool]:
        try:
            value = await fetch()
        except APIError as exc:
            return self._failed(slot, flight, exc, what)
        except BaseException:
            self._land(slot, flight, None)
            raise
        now = self._clock()
        age = 0.0
        life = self._ttl
        if type(value) is _Shared:
            if value.error is not None:
                until = now + min(self._negative_ttl - value.age, value.cap)
                self._land(slot, flight, _Entry(None, value.error, until, until), drop=True)
                raise value.error
            if value.stale:
                self._land(slot, flight, None)
                return value.value, True
            age = value.age
            life = min(self._ttl - age, value.cap)
            value = value.value
        entry = _Entry(value, None, now + life, now + self._ttl + self._stale_if_error - age)
        self._land(slot, flight, entry)
        return value, False

    def _failed(
        self,
        slot: tuple[Key, asyncio.AbstractEventLoop],
        flight: _Flight,
        exc: APIError,
        what: str,
    ) -> tuple[Any, bool]:
        """A refresh failed: serve a stale entry, remember a 404, or drop and re-raise."""
        key = slot[0]
        now = self._clock()
        if isinstance(exc, _DROP_ERRORS):
            negative = None
            if isinstance(exc, NotFoundError) and self._negative_ttl > 0:
                until = now + self._negative_ttl
                negative = _Entry(None, exc, until, until)
            self._land(slot, flight, negative, drop=True)
            raise exc
        self._land(slot, flight, None)
        if not _stale_worthy(exc):
            raise exc
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.error is not None or now >= entry.stale_until:
                raise exc
            entry.retry_at = min(now + min(self._ttl, STALE_RETRY_INTERVAL), entry.stale_until)
            warn = not entry.warned
            entry.warned = True
            value = entry.value
        if warn and log.isEnabledFor(logging.WARNING):
            # The error's class and message are already scrubbed of the API key.
            log.warning(
                "serving a stale %s (expired %.1fs ago) because its refresh failed: %s: %s",
                what,
                now - entry.expires,
                type(exc).__name__,
                exc,
            )
        return value, True

    def _land(
        self,
        slot: tuple[Key, asyncio.AbstractEventLoop],
        flight: _Flight,
        entry: _Entry | None,
        *,
        drop: bool = False,
    ) -> None:
        """End ``flight``: unregister it, and store ``entry`` (or drop the old one).

        Nothing is stored when a write detached the flight meanwhile. One lock for both, so no
        invalidation can fall between them.
        """
        key = slot[0]
        with self._lock:
            if self._flights.get(slot) is flight:
                del self._flights[slot]
            if flight.detached:
                return
            if drop and key in self._entries:
                self._drop(key)
            if entry is None:
                return
            entries = self._entries
            if key in entries:
                entries[key] = entry
                entries.move_to_end(key)
                return
            entries[key] = entry
            path = key[0]
            for end in range(1, len(path) + 1):
                self._by_prefix.setdefault(path[:end], set()).add(key)
            while len(entries) > self._max_entries:
                self._drop(next(iter(entries)))
                self._evictions += 1

    def _drop(self, key: Key) -> None:
        """Remove ``key``'s entry and its index; the lock is held."""
        del self._entries[key]
        path = key[0]
        for end in range(1, len(path) + 1):
            keys = self._by_prefix.get(path[:end])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_prefix[path[:end]]

    def _invalidate_write(self, options: RequestOptions[Any], result: object) -> None:
        """After a write (or its failure): drop the cached reads its options make stale.

        Its path and everything below it, its parent's list, the paths it names in
        ``invalidates``, and for a create (a ``POST`` answered with a ``slug``) a 404 remembered
        for the new slug.
        """
        paths = [options.path, *options.invalidates]
        slug = getattr(result, "slug", None)
        if options.method == "POST" and isinstance(slug, str):
            paths.append((*options.path, slug))
        with self._lock:
            self._invalidate_below(paths, parents=True)

    def _invalidate_below(self, paths: list[Path], *, parents: bool = False) -> int:
        """Drop the entries at or below ``paths`` and detach the matching reads in flight.

        With ``parents``, also the entries at each path's parent exactly (its list). The lock
        is held.
        """
        keys: set[Key] = set()
        for path in paths:
            keys.update(self._by_prefix.get(path, ()))
            if parents and len(path) > 1:
                keys.update(
                    k for k in self._by_prefix.get(path[:-1], ()) if len(k[0]) == len(path) - 1
                )
        for key in keys:
            self._drop(key)
        for slot, flight in list(self._flights.items()):
            if _stale_by(flight.key[0], paths, parents=parents):
                flight.detached = True
                del self._flights[slot]
        return len(keys)


_UNPARSED: Final = object()


async def _renew(backend: CacheBackend, key: BackendKey, token: str) -> None:
    """Keep the fleet's flight ours while our request runs (cancelled when it ends)."""
    while True:
        await asyncio.sleep(FLIGHT_LEASE / 3)
        try:
            if not await backend.extend(key, token, FLIGHT_LEASE):
                return
        except BackendError:
            return


def _parse_stored(options: RequestOptions[Any], key: Key | None, stored: StoredAnswer) -> Any:
    """A shared entry through the read's own parser, or :data:`_UNPARSED` if it does not fit.

    The entry passed its HMAC, so this process's code wrote it; a model of another version
    may still refuse it, and then the control plane is asked, as on a miss.
    """
    from multidict import CIMultiDict, CIMultiDictProxy  # noqa: PLC0415 - aiohttp's, loaded
    from yarl import URL  # noqa: PLC0415

    from portkey_vk._wire import RawResponse  # noqa: PLC0415 - the shared tier only

    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": stored.content_type}))
    where = URL(key[2][0]) if key is not None else URL()
    raw = RawResponse(stored.status, headers, stored.body, where, 0.0, "GET")
    try:
        return options.parser(raw)
    except APIError:
        return _UNPARSED


def _not_found_answer(exc: NotFoundError) -> StoredAnswer:
    """A 404 as the shared tier keeps it: the error's fields (already scrubbed), as JSON."""
    body = json.dumps(
        {
            "message": exc.message,
            "error_code": exc.error_code,
            "body": exc.body,
            "headers": dict(exc.headers),
            "request_id": exc.request_id,
            "url": exc.url,
        },
        default=str,
    ).encode()
    return StoredAnswer(404, body, _NOT_FOUND_TYPE, time.time())


def _stored_not_found(stored: StoredAnswer) -> NotFoundError | None:
    """The :class:`NotFoundError` a shared entry remembers, or ``None`` if it is not one."""
    try:
        data = json.loads(stored.body)
        message, code, headers = data["message"], data["error_code"], data["headers"]
        request_id, url = data["request_id"], data["url"]
    except (ValueError, KeyError, TypeError):
        return None
    if (
        not isinstance(message, str)
        or not isinstance(headers, dict)
        or not all(isinstance(v, str) for v in headers.values())
        or not all(isinstance(v, str | None) for v in (code, request_id, url))
    ):
        return None
    return NotFoundError(
        message,
        status_code=404,
        error_code=code,
        body=data.get("body"),
        headers=headers,
        request_id=request_id,
        method="GET",
        url=url,
    )


def _stale_by(path: Path, written: list[Path], *, parents: bool) -> bool:
    """Whether a read of ``path`` is made stale by writes to ``written``."""
    for target in written:
        if path[: len(target)] == target:
            return True
        if parents and len(target) > 1 and path == target[:-1]:
            return True
    return False


def query_items(params: Mapping[str, str | int | None] | None) -> tuple[tuple[str, str], ...]:
    """The part of a cache key that a request's query adds (a workspace, for instance)."""
    if not params:
        return ()
    return tuple(sorted((k, str(v)) for k, v in params.items() if v is not None))


# Every cache, so that a forked child can make its own usable again (see below).
_LIVE: weakref.WeakSet[Cache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Another thread may have held a cache's lock at the moment of the fork, and would never
    # release it here; flights belong to the parent's event loops, which do not run here. The
    # entries are plain values and stay.
    for cache in list(_LIVE):
        cache._lock = threading.Lock()
        cache._flights.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)
