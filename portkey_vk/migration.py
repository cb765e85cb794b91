"""Which virtual keys already resolve as providers: a read-only migration check.

::

    from portkey_vk.migration import check_migration

    report = await check_migration(client)            # AsyncPortkey
    for row in report.rows:
        print(row.slug, row.provider_found, row.model_prefix)
    report.ready                                      # every active key resolves

It lists every virtual key (every page) and asks ``GET /providers/{slug}`` for each, a few at a
time; it never creates, changes or deletes anything. ``portkey-vk migration-check`` prints the
same report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from portkey_vk._errors import NotFoundError
from portkey_vk._models import Provider, ProviderStatus, VirtualKey, VirtualKeyStatus
from portkey_vk._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from portkey_vk._client import AsyncPortkey
    from portkey_vk._sync import Portkey

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "MigrationReport",
    "MigrationRow",
    "check_migration",
    "check_migration_sync",
]

DEFAULT_CONCURRENCY: Final = 8
"""Provider lookups in flight at once, by default."""
MAX_CONCURRENCY: Final = 64
"""The most lookups in flight at once: more would only earn 429s from the control plane."""

_LIST_PAGE_SIZE: Final = 100

Progress = Callable[[int, "int | None"], None]
"""``progress(checked, total)``: called after each key is checked; ``total`` may be ``None``."""


@attrs.frozen
class MigrationRow:
    """One virtual key and what ``GET /providers/{slug}`` says of it.

    Attributes:
        slug: the virtual key's slug (``None`` if the API sent none; such a key cannot be
            looked up and is reported as not found).
        name: the virtual key's name.
        ai_provider: the AI provider behind the key, e.g. ``openai``.
        status: the virtual key's status.
        provider_found: whether a provider answers to the same slug.
        provider_status: that provider's status (``None`` when not found).
        status_matches: whether the two statuses are the same value (``None`` when not found).
        model_prefix: what requests put before the model name once they use the provider,
            ``"@<slug>"`` as in ``model="@<slug>/gpt-4o"`` (``None`` when not found).
    """

    slug: str | None
    name: str | None
    ai_provider: str | None
    status: VirtualKeyStatus | None
    provider_found: bool
    provider_status: ProviderStatus | None
    status_matches: bool | None
    model_prefix: str | None

    @property
    def active(self) -> bool:
        """Whether the key counts as in use: ``active``, or a status the API did not send."""
        return self.status is None or self.status == VirtualKeyStatus.ACTIVE

    @property
    def blocking(self) -> bool:
        """Whether this key keeps the migration from being ready: active but not a provider."""
        return self.active and not self.provider_found

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (enums as their strings)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "ai_provider": self.ai_provider,
            "status": _text(self.status),
            "provider_found": self.provider_found,
            "provider_status": _text(self.provider_status),
            "status_matches": self.status_matches,
            "model_prefix": self.model_prefix,
        }


@attrs.frozen
class MigrationReport:
    """Every virtual key of a workspace (or of the API key's scope) and whether it resolves.

    Attributes:
        rows: one row per virtual key, in the order the list returned them.
        workspace_id: the workspace that was checked (``None``: the API key's own scope).
    """

    rows: tuple[MigrationRow, ...]
    workspace_id: str | None = None

    @property
    def ready(self) -> bool:
        """Whether every active virtual key resolves as a provider."""
        return not any(row.blocking for row in self.rows)

    @property
    def found(self) -> tuple[MigrationRow, ...]:
        """The keys that resolve as providers."""
        return tuple(row for row in self.rows if row.provider_found)

    @property
    def missing(self) -> tuple[MigrationRow, ...]:
        """The keys that do not resolve as providers (active or not)."""
        return tuple(row for row in self.rows if not row.provider_found)

    @property
    def blocking(self) -> tuple[MigrationRow, ...]:
        """The active keys that do not resolve: what to fix before switching."""
        return tuple(row for row in self.rows if row.blocking)

    @property
    def mismatched(self) -> tuple[MigrationRow, ...]:
        """The keys whose provider has another status (e.g. the key is active, it is not)."""
        return tuple(row for row in self.rows if row.status_matches is False)

    def summary(self) -> str:
        """One line: how many keys resolve, how many do not, and whether that blocks."""
        total = len(self.rows)
        line = (
            f"{total} virtual key{'' if total == 1 else 's'}: {len(self.found)} resolve as "
            f"providers ({len(self.mismatched)} with another status), {len(self.missing)} do not "
            f"({len(self.blocking)} active)"
        )
        if self.ready:
            return f"{line}. Ready: every active virtual key resolves as a provider."
        return f"{line}. Not ready: active virtual keys do not resolve as providers."

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: the summary counts, then every row."""
        return {
            "workspace_id": self.workspace_id,
            "ready": self.ready,
            "summary": {
                "virtual_keys": len(self.rows),
                "found": len(self.found),
                "missing": len(self.missing),
                "blocking": len(self.blocking),
                "status_mismatches": len(self.mismatched),
            },
            "rows": [row.to_dict() for row in self.rows],
        }


async def check_migration(
    client: AsyncPortkey,
    *,
    workspace_id: str | NotGiven | None = NOT_GIVEN,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> MigrationReport:
    """Check which virtual keys resolve as providers; read-only.

    Lists every virtual key (``GET /virtual-keys``, all pages), then asks
    ``GET /providers/{slug}`` for each, at most ``concurrency`` at a time (an
    :class:`asyncio.Semaphore`), while the list is still being read. A 404 means "not a
    provider"; any other error stops the check, cancels the lookups in flight and is raised.

    Args:
        client: the client to use (its retries and timeouts apply to every request).
        workspace_id: the workspace to check, for both the list and the lookups; ``None`` for
            none. Not given: the client's ``workspace_id``.
        concurrency: lookups in flight at once, 1 to :data:`MAX_CONCURRENCY`.
        progress: called as ``progress(checked, total)`` after each key is checked (``total``
            is the list's, or ``None`` if the server did not say).

    Returns:
        One row per virtual key, in list order.

    Raises:
        TypeError, ValueError: a bad ``workspace_id``, ``concurrency`` or ``progress`` (no
            request is sent).
        APIStatusError, APIConnectionError, APITimeoutError: a list or lookup failed (other
            than 404).
    """
    limit = _concurrency(concurrency)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    # Resolved (and validated) once, so the report names the workspace the requests used.
    workspace = client.virtual_keys._workspace(workspace_id)
    semaphore = asyncio.Semaphore(limit)
    total: int | None = None
    checked = 0

    async def check(vk: VirtualKey) -> MigrationRow:
        nonlocal checked
        async with semaphore:
            provider = await _provider(client, vk.slug, workspace)
        checked += 1
        if progress is not None:
            progress(checked, total)
        return _row(vk, provider)

    tasks: list[asyncio.Future[MigrationRow]] = []
    try:
        first = await client.virtual_keys.list(page_size=_LIST_PAGE_SIZE, workspace_id=workspace)
        total = first.total
        async for vk in first:  # this page and every page after it
            # Kept as soon as started (not collected at the end), so a list that fails midway
            # cancels every lookup already running.
            tasks.append(asyncio.ensure_future(check(vk)))  # noqa: PERF401
        rows = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return MigrationReport(tuple(rows), workspace)


def check_migration_sync(
    client: Portkey,
    *,
    workspace_id: str | NotGiven | None = NOT_GIVEN,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> MigrationReport:
    """:func:`check_migration` for the sync client, with the same arguments and result.

    It runs the async check on the background event loop that serves every sync client (the
    one ``client``'s own calls run on), rather than calling ``client.providers.retrieve`` in a
    loop: that way the lookups still overlap, ``concurrency`` at a time over the client's
    connection pool, instead of waiting for each other. ``progress`` is therefore called on
    that loop's thread; keep it short (print a line, update a counter). Ctrl-C while it runs
    cancels the lookups in flight.
    """
    from portkey_vk import _portal  # noqa: PLC0415 - the sync side loads anyio

    return _portal.run(
        check_migration,
        client._async,
        workspace_id=workspace_id,
        concurrency=concurrency,
        progress=progress,
    )


async def _provider(
    client: AsyncPortkey, slug: str | None, workspace: str | None
) -> Provider | None:
    if slug is None:
        return None
    try:
        return await client.providers.retrieve(slug, workspace_id=workspace)
    except NotFoundError:
        return None
    except ValueError:
        # A slug this SDK refuses to send (control characters) cannot be a provider's either.
        return None


def _row(vk: VirtualKey, provider: Provider | None) -> MigrationRow:
    found = provider is not None
    slug = (provider.slug if provider is not None else None) or vk.slug
    return MigrationRow(
        slug=vk.slug,
        name=vk.name,
        ai_provider=vk.ai_provider_name,
        status=vk.status,
        provider_found=found,
        provider_status=provider.status if provider is not None else None,
        status_matches=(_text(vk.status) == _text(provider.status)) if provider else None,
        model_prefix=f"@{slug}" if found and slug else None,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"concurrency must be an int, got {type(value).__name__}")
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be from 1 to {MAX_CONCURRENCY}, got {value}")
    return value
