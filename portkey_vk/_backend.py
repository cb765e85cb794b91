"""The shared tier's interface: what a :class:`~portkey_vk.Cache` calls on a store a fleet shares.

Kept apart from :mod:`portkey_vk.cache` (the public module, with the Redis implementation) so
that the in-process cache can call a backend without importing any store's code.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal

import attrs

__all__ = [
    "BackendError",
    "BackendKey",
    "BackendScope",
    "BackendStats",
    "CacheBackend",
    "Change",
    "OnChange",
    "StoredAnswer",
]

Change = Literal["groups", "all", "lost"]
"""What a listener heard: ``"groups"`` changed (their hashed names follow), ``"all"`` of a scope
was cleared, or the listener was ``"lost"`` (it may have missed changes until it hears again)."""

OnChange = Callable[["BackendScope", Change, "tuple[str, ...]"], None]
"""What :meth:`CacheBackend.listen` calls, on the event loop that listens."""

_SALT: Final = b"portkey_vk cache v1"


def _hkdf(ikm: bytes, info: bytes, *, salt: bytes = _SALT) -> bytes:
    """HKDF-SHA256 (RFC 5869) with one block of output: a key for ``info`` from ``ikm``."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


@attrs.frozen(repr=False)
class BackendScope:
    """What one API key (on one control plane) may read and write in a shared store.

    Derived from the API key, which is not kept: a namespace (in every Redis key, so that two
    API keys never meet), a key that hashes paths into names, and a key that signs values. Every
    process with the same API key and base URL derives the same scope.
    """

    namespace: str
    name_key: bytes
    mac_key: bytes

    @classmethod
    def derive(cls, api_key: str, base_url: str) -> BackendScope:
        """The scope of ``api_key`` on the control plane at ``base_url``."""
        if not isinstance(api_key, str) or not api_key:
            raise TypeError("api_key must be a non-empty str")
        if not isinstance(base_url, str):
            raise TypeError(f"base_url must be a str, got {type(base_url).__name__}")
        ikm = api_key.encode() + b"\x00" + base_url.encode()
        return cls(
            namespace=_hkdf(ikm, b"namespace").hex()[:20],
            name_key=_hkdf(ikm, b"names"),
            mac_key=_hkdf(ikm, b"values"),
        )

    def key(self, path: Sequence[str], query: Iterable[tuple[str, str]] = ()) -> BackendKey:
        """The shared key of a read of ``path`` with ``query``.

        Entries are grouped by their first two path segments (a resource and a slug): a write
        drops its whole group at once, which covers what lies below the path and every query of
        it without a scan, at the price of also dropping a sibling now and then.
        """
        group = "\x1f".join(path[:2])
        name = "\x1f".join(path) + "\x1e" + "\x1e".join(f"{k}={v}" for k, v in query)
        return BackendKey(self, self._hash(b"g", group), self._hash(b"e", name))

    def group(self, path: Sequence[str]) -> str:
        """The hashed group of ``path`` (see :meth:`key`), for :meth:`CacheBackend.delete`."""
        return self._hash(b"g", "\x1f".join(path[:2]))

    def _hash(self, kind: bytes, text: str) -> str:
        return hmac.new(self.name_key, kind + text.encode(), hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return f"BackendScope(namespace={self.namespace!r})"


@attrs.frozen
class BackendKey:
    """One entry's place in a shared store: its scope, its hashed group and its hashed name."""

    scope: BackendScope
    group: str
    entry: str


@attrs.frozen
class StoredAnswer:
    """A control-plane answer as a shared store keeps it: the wire, not a Python object.

    Attributes:
        status: the HTTP status (200, or 404 for a remembered miss).
        body: the response body, as received.
        content_type: the response's ``Content-Type``.
        stored_at: when it was stored, in seconds since the epoch (:func:`time.time`): the
            processes of a fleet share no monotonic clock.
    """

    status: int
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    content_type: str = "application/json"
    stored_at: float = 0.0


@attrs.frozen
class BackendStats:
    """A backend's counters: failures of the store, and entries refused by their check."""

    errors: int = 0
    rejected: int = 0


class BackendError(Exception):
    """The shared store failed (down, slow, full, or garbage): the cache goes on without it.

    Its message names the failure's kind only, never an address or a password.
    """


class CacheBackend(abc.ABC):
    """The interface a cache calls on a shared store; one subclass per store.

    Every method may raise :class:`BackendError` and nothing else. ``get`` answers ``None`` for an
    entry that is absent or fails its check (counted as rejected).
    """

    @abc.abstractmethod
    async def get(self, key: BackendKey) -> StoredAnswer | None:
        """The entry at ``key``, if present and authentic."""

    @abc.abstractmethod
    async def set(
        self, key: BackendKey, answer: StoredAnswer, ttl: float, *, generation: str | None = None
    ) -> None:
        """Store ``answer`` at ``key``, kept by the store for ``ttl`` seconds at most.

        With ``generation`` (from :meth:`generation`, read before the answer was asked for):
        only if no :meth:`delete` of its group came in between, so that an answer that predates
        a write is never stored after the write dropped the group.
        """

    async def generation(self, key: BackendKey) -> str | None:
        """The count of :meth:`delete` calls on ``key``'s group, as :meth:`set` checks it.

        ``None`` (the default): the store does not count, and :meth:`set` stores always.
        """
        return None

    @abc.abstractmethod
    async def delete(self, scope: BackendScope, groups: Iterable[str]) -> None:
        """Drop every entry of ``groups`` (from :meth:`BackendScope.group`)."""

    @abc.abstractmethod
    async def clear(self) -> int:
        """Drop every entry under this backend's prefix (every scope); returns how many keys."""

    @abc.abstractmethod
    async def lock(self, key: BackendKey, ttl: float) -> str | None:
        """Take the flight of ``key`` for ``ttl`` seconds: a token to release it, or ``None``."""

    @abc.abstractmethod
    async def extend(self, key: BackendKey, token: str, ttl: float) -> bool:
        """Keep the flight taken with ``token`` for ``ttl`` more seconds; ``False`` if lost."""

    @abc.abstractmethod
    async def release(self, key: BackendKey, token: str) -> None:
        """End the flight taken with ``token`` (if still ours), and wake its waiters."""

    @abc.abstractmethod
    async def wait(self, key: BackendKey, timeout: float) -> None:
        """Return when the flight of ``key`` may have landed, or after ``timeout`` seconds."""

    @property
    @abc.abstractmethod
    def stats(self) -> BackendStats:
        """The counters so far."""

    async def publish(self, scope: BackendScope, groups: Sequence[str] | None) -> None:  # noqa: B027
        """Tell every process listening on ``scope`` that ``groups`` changed (``None``: all).

        Optional: a store without messages does nothing here, and its caches bound how long
        they keep their own copies (see :meth:`listen`).
        """

    def listen(self, scope: BackendScope, on_change: OnChange) -> int | None:
        """Make sure this event loop hears changes to ``scope``; call ``on_change`` with them.

        Called on a running event loop, often (on every shared read): cheap once listening.
        Returns the number of the uninterrupted subscription that hears ``scope`` now, or
        ``None`` while nothing does (not yet, or after a loss): the caller then keeps its own
        copies only briefly. A bound method is held weakly. Never raises.
        """
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional for a store without connections
        """Release what the backend opened (never a client the user passed in)."""
