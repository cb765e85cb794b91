"""``AsyncPortkey``: wires settings, the transport and the resources together."""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Mapping
from types import TracebackType

from portkey_vk._cache import Cache
from portkey_vk._config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientConfig,
)
from portkey_vk._resource import AsyncAPIResource
from portkey_vk._transport import AsyncTransport
from portkey_vk._types import NOT_GIVEN, NotGiven
from portkey_vk.resources.integrations import AsyncIntegrations
from portkey_vk.resources.providers import AsyncProviders
from portkey_vk.resources.virtual_keys import AsyncVirtualKeys

__all__ = ["AsyncPortkey"]


class AsyncPortkey:
    """Async client for Portkey's control plane.

    ::

        async with AsyncPortkey() as client:  # reads PORTKEY_API_KEY
            vk = await client.virtual_keys.retrieve(slug="my-openai-key")

    One aiohttp connection pool per client, created lazily inside the running event loop and
    kept alive across calls. Create one client per event loop and reuse it.

    Args:
        api_key: Portkey API key, sent as ``x-portkey-api-key``. Defaults to the
            ``PORTKEY_API_KEY`` environment variable; missing or empty raises
            :class:`PortkeyError`. Never shown in a repr, log line or error.
        base_url: the control plane's API root. Defaults to ``PORTKEY_BASE_URL``, then
            ``https://api.portkey.ai/v1``. A self-hosted control plane with a path prefix works;
            a trailing slash does not matter. Only ``http``/``https`` are accepted.
        timeout: seconds each attempt may take end to end (connect + send + read).
        max_retries: extra attempts after a connection error, a timeout, 408, 409, 429 or 5xx.
        default_headers: headers sent with every request.
        ssl: TLS verification: ``None`` (verify with the system's CA bundle), an
            :class:`ssl.SSLContext` (e.g. for a private CA), or ``False`` to disable
            verification (only ever for local testing).
        max_response_bytes: the largest answer read (after decompression); a larger 2xx
            raises :class:`APIResponseTooLargeError`. 32 MiB by default.
        workspace_id: the workspace used by every call that takes a ``workspace_id`` and was
            not given one (org-admin API keys need one on every call); a call's own
            ``workspace_id=None`` sends none.
        cache: a :class:`Cache` that ``retrieve`` calls are served from (single flight,
            stale-if-error, bounded; see ``docs/caching.md``). ``None``, the default: every
            call asks the control plane. One cache may be shared by several clients.
    """

    _config: ClientConfig
    _transport: AsyncTransport
    _cache: Cache | None
    virtual_keys: AsyncVirtualKeys
    """Virtual keys: retrieve, list, create, update, delete (deprecated upstream in favour of
    Providers)."""
    providers: AsyncProviders
    """Providers, which replace virtual keys: list, retrieve, create, update, delete."""
    integrations: AsyncIntegrations
    """Integrations, which hold the credentials providers use, with their models and workspaces."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        ssl: _ssl.SSLContext | bool | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        workspace_id: str | None = None,
        cache: Cache | None = None,
    ) -> None:
        config = ClientConfig.create(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            ssl=ssl,
            max_response_bytes=max_response_bytes,
            workspace_id=workspace_id,
        )
        self._wire(config, AsyncTransport(config.base_url, ssl=config.ssl), _check_cache(cache))

    def _wire(self, config: ClientConfig, transport: AsyncTransport, cache: Cache | None) -> None:
        self._config = config
        self._transport = transport
        self._cache = cache
        self.virtual_keys = AsyncVirtualKeys(config, transport, cache)
        self.providers = AsyncProviders(config, transport, cache)
        self.integrations = AsyncIntegrations(config, transport, cache)
        if cache is not None:
            cache._learn_resources(
                attr._path for attr in vars(self).values() if isinstance(attr, AsyncAPIResource)
            )

    @property
    def base_url(self) -> str:
        """The control plane's API root, without a trailing slash."""
        return self._config.base_str

    @property
    def timeout(self) -> float:
        """Seconds each attempt may take."""
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        """Extra attempts after a retryable failure."""
        return self._config.max_retries

    @property
    def default_headers(self) -> Mapping[str, str]:
        """Headers sent with every request (the API key header is not listed)."""
        return dict(self._config.default_headers)

    @property
    def workspace_id(self) -> str | None:
        """The default workspace of calls that take a ``workspace_id``, if any."""
        return self._config.workspace_id

    @property
    def max_response_bytes(self) -> int:
        """The largest answer this client reads."""
        return self._config.max_response_bytes

    @property
    def cache(self) -> Cache | None:
        """The :class:`Cache` that ``retrieve`` calls are served from; ``None`` when uncached."""
        return self._cache

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called on this client or a ``with_options`` sibling."""
        return self._transport.closed

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_response_bytes: int | None = None,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        cache: Cache | NotGiven | None = NOT_GIVEN,
    ) -> AsyncPortkey:
        """Return a copy with other settings that shares this client's connection pool.

        The original is unchanged. ``default_headers`` are merged over the current ones;
        ``workspace_id`` replaces the default workspace when given (``None``: none).
        The copy shares this client's ``cache`` unless given one: ``cache=None`` for an
        uncached view, or another :class:`Cache`. Closing either client closes the shared pool.
        """
        config = self._config.replace(
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            max_response_bytes=max_response_bytes,
            workspace_id=workspace_id,
        )
        copy = object.__new__(type(self))
        copy._wire(
            config,
            self._transport,
            self._cache if isinstance(cache, NotGiven) else _check_cache(cache),
        )
        return copy

    async def close(self) -> None:
        """Close the connection pool. Idempotent; calls after it raise :class:`PortkeyError`."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncPortkey:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, timeout={self.timeout}, "
            f"max_retries={self.max_retries})"
        )


def _check_cache(cache: object) -> Cache | None:
    if cache is not None and not isinstance(cache, Cache):
        raise TypeError(f"cache must be a portkey_vk.Cache or None, got {type(cache).__name__}")
    return cache
