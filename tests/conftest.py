"""Shared fixtures: a real fake control plane, and clients on every surface.

The behaviour suite is written once against a small "surface" interface and parametrised over
the async client (driven on a private event loop) and the generated sync facade, so both are
proven to behave identically without copying tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from portkey_vk import AsyncPortkey, Portkey, VirtualKey, _portal
from portkey_vk.testing import FakePortkey
from tests.spec_mock import SpecMock


class RawResult(Protocol):
    status_code: int
    headers: Any
    request_id: str | None


class Surface(Protocol):
    """What a behaviour test may do with a client, whichever surface it is."""

    name: str
    client: Any

    def retrieve(self, slug: str, **kwargs: Any) -> VirtualKey: ...

    def retrieve_raw(self, slug: str, **kwargs: Any) -> tuple[RawResult, VirtualKey]: ...

    def with_options(self, **kwargs: Any) -> Surface: ...

    def close(self) -> None: ...

    def dispose(self) -> None:
        """Close the client and whatever the surface made to drive it (its loop)."""

    def connection_count(self) -> int: ...

    # -- any code on the client ------------------------------------------------------------------

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)``'s result: awaited on the async surface, as returned on the sync one."""

    def collect(self, fn: Callable[[Any], Any]) -> list[Any]:
        """Every item of the list ``fn(client)`` returns, every page."""

    def run_variant(
        self, async_fn: Callable[..., Any], sync_fn: Callable[..., Any], **kwargs: Any
    ) -> Any:
        """``async_fn(client, **kwargs)`` awaited on the async surface, ``sync_fn`` on the sync."""

    # -- any method of any resource, and lists ------------------------------------------------

    def call(self, method: str, *args: Any, resource: str = ..., **kwargs: Any) -> Any: ...

    def call_raw(
        self, method: str, *args: Any, resource: str = ..., **kwargs: Any
    ) -> tuple[RawResult, Any]: ...

    def items(
        self,
        *,
        stop_after: int | None = None,
        raise_after: int | None = None,
        resource: str = ...,
        **kwargs: Any,
    ) -> list[Any]: ...

    def first_page(self, *, resource: str = ..., **kwargs: Any) -> Any: ...

    def next_page(self, page: Any) -> Any: ...

    def pages(self, page: Any) -> list[Any]: ...

    def page_items(self, page: Any) -> list[Any]: ...

    def settle(self) -> dict[str, int]: ...


class AsyncSurface:
    """Drives an AsyncPortkey on a private event loop, one call at a time."""

    name = "async"

    def __init__(self, client: AsyncPortkey, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop

    @classmethod
    def create(cls, **kwargs: Any) -> AsyncSurface:
        return cls(AsyncPortkey(**kwargs), asyncio.new_event_loop())

    def retrieve(self, slug: str, **kwargs: Any) -> VirtualKey:
        return self.loop.run_until_complete(self.client.virtual_keys.retrieve(slug, **kwargs))

    def retrieve_raw(self, slug: str, **kwargs: Any) -> tuple[Any, VirtualKey]:
        async def go() -> tuple[Any, VirtualKey]:
            raw = await self.client.virtual_keys.with_raw_response.retrieve(slug, **kwargs)
            return raw, await raw.parse()

        return self.loop.run_until_complete(go())

    def with_options(self, **kwargs: Any) -> AsyncSurface:
        return AsyncSurface(self.client.with_options(**kwargs), self.loop)

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.client.close())

    def dispose(self) -> None:
        self.close()
        if not self.loop.is_closed():
            self.loop.close()

    def connection_count(self) -> int:
        return self.client._transport.connection_count()

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def run(self, fn: Callable[[Any], Any]) -> Any:
        return self._run(fn(self.client))

    def collect(self, fn: Callable[[Any], Any]) -> list[Any]:
        pager = fn(self.client)

        async def go() -> list[Any]:
            return [item async for item in pager]

        return self._run(go())  # type: ignore[no-any-return]

    def run_variant(
        self, async_fn: Callable[..., Any], sync_fn: Callable[..., Any], **kwargs: Any
    ) -> Any:
        return self._run(async_fn(self.client, **kwargs))

    def call(self, method: str, *args: Any, resource: str = "virtual_keys", **kwargs: Any) -> Any:
        return self._run(getattr(getattr(self.client, resource), method)(*args, **kwargs))

    def call_raw(
        self, method: str, *args: Any, resource: str = "virtual_keys", **kwargs: Any
    ) -> tuple[Any, Any]:
        view = getattr(self.client, resource).with_raw_response

        async def go() -> tuple[Any, Any]:
            raw = await getattr(view, method)(*args, **kwargs)
            return raw, await raw.parse()

        return self._run(go())  # type: ignore[no-any-return]

    def items(
        self,
        *,
        stop_after: int | None = None,
        raise_after: int | None = None,
        resource: str = "virtual_keys",
        **kwargs: Any,
    ) -> list[Any]:
        """Every item of ``list(**kwargs)``, leaving the loop by ``break`` or an exception."""

        async def go() -> list[Any]:
            seen: list[Any] = []
            try:
                async for item in getattr(self.client, resource).list(**kwargs):
                    seen.append(item)
                    if stop_after is not None and len(seen) >= stop_after:
                        break
                    if raise_after is not None and len(seen) >= raise_after:
                        raise LeftTheLoop(seen)
            finally:
                await _settle_loop()
            return seen

        return self._run(go())  # type: ignore[no-any-return]

    def first_page(self, *, resource: str = "virtual_keys", **kwargs: Any) -> Any:
        async def go() -> Any:
            return await getattr(self.client, resource).list(**kwargs)

        return self._run(go())

    def next_page(self, page: Any) -> Any:
        return self._run(page.get_next_page())

    def pages(self, page: Any) -> list[Any]:
        async def go() -> list[Any]:
            return [p async for p in page.iter_pages()]

        return self._run(go())  # type: ignore[no-any-return]

    def page_items(self, page: Any) -> list[Any]:
        async def go() -> list[Any]:
            return [item async for item in page]

        return self._run(go())  # type: ignore[no-any-return]

    def settle(self) -> dict[str, int]:
        """Tasks still pending on the client's loop, and connections still checked out."""

        async def go() -> dict[str, int]:
            await _settle_loop()
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
            return {"tasks": len(pending), "acquired": _acquired(self.client._transport)}

        return self._run(go())  # type: ignore[no-any-return]


class LeftTheLoop(Exception):
    """Raised inside a list loop by a test, to leave it by an exception."""


async def _settle_loop() -> None:
    # Dropped async generators are closed by tasks the loop schedules; let them run.
    for _ in range(20):
        await asyncio.sleep(0.01)


def _acquired(transport: Any) -> int:
    session = transport._session
    if session is None or session.connector is None:
        return 0
    return len(getattr(session.connector, "_acquired", ()))


class SyncSurface:
    """Drives the generated sync facade, Portkey, exactly as a script would."""

    name = "sync"

    def __init__(self, client: Portkey) -> None:
        self.client = client

    @classmethod
    def create(cls, **kwargs: Any) -> SyncSurface:
        return cls(Portkey(**kwargs))

    def retrieve(self, slug: str, **kwargs: Any) -> VirtualKey:
        return self.client.virtual_keys.retrieve(slug, **kwargs)

    def retrieve_raw(self, slug: str, **kwargs: Any) -> tuple[Any, VirtualKey]:
        raw = self.client.virtual_keys.with_raw_response.retrieve(slug, **kwargs)
        return raw, raw.parse()

    def with_options(self, **kwargs: Any) -> SyncSurface:
        return SyncSurface(self.client.with_options(**kwargs))

    def close(self) -> None:
        self.client.close()

    def dispose(self) -> None:
        self.close()

    def connection_count(self) -> int:
        return self.client._async._transport.connection_count()

    def run(self, fn: Callable[[Any], Any]) -> Any:
        return fn(self.client)

    def collect(self, fn: Callable[[Any], Any]) -> list[Any]:
        return list(fn(self.client))

    def run_variant(
        self, async_fn: Callable[..., Any], sync_fn: Callable[..., Any], **kwargs: Any
    ) -> Any:
        return sync_fn(self.client, **kwargs)

    def call(self, method: str, *args: Any, resource: str = "virtual_keys", **kwargs: Any) -> Any:
        return getattr(getattr(self.client, resource), method)(*args, **kwargs)

    def call_raw(
        self, method: str, *args: Any, resource: str = "virtual_keys", **kwargs: Any
    ) -> tuple[Any, Any]:
        raw = getattr(getattr(self.client, resource).with_raw_response, method)(*args, **kwargs)
        return raw, raw.parse()

    def items(
        self,
        *,
        stop_after: int | None = None,
        raise_after: int | None = None,
        resource: str = "virtual_keys",
        **kwargs: Any,
    ) -> list[Any]:
        seen: list[Any] = []
        for item in getattr(self.client, resource).list(**kwargs):
            seen.append(item)
            if stop_after is not None and len(seen) >= stop_after:
                break
            if raise_after is not None and len(seen) >= raise_after:
                raise LeftTheLoop(seen)
        return seen

    def first_page(self, *, resource: str = "virtual_keys", **kwargs: Any) -> Any:
        return getattr(self.client, resource).list(**kwargs)

    def next_page(self, page: Any) -> Any:
        return page.get_next_page()

    def pages(self, page: Any) -> list[Any]:
        return list(page.iter_pages())

    def page_items(self, page: Any) -> list[Any]:
        return list(page)

    def settle(self) -> dict[str, int]:
        """Tasks still pending on the portal's loop (besides its own), connections checked out."""
        transport = self.client._async._transport

        async def go() -> dict[str, int]:
            await _settle_loop()
            current = asyncio.current_task()
            pending = [
                t for t in asyncio.all_tasks() if t is not current and not t.done() and _is_ours(t)
            ]
            return {"tasks": len(pending), "acquired": _acquired(transport)}

        return _portal.run(go)  # type: ignore[no-any-return]


def _is_ours(task: asyncio.Task[Any]) -> bool:
    # The portal's own long-lived tasks (anyio's) are not the SDK's.
    coro = task.get_coro()
    qualname = getattr(coro, "__qualname__", "")
    module = getattr(getattr(coro, "cr_code", None), "co_filename", "")
    return "anyio" not in module and "BlockingPortal" not in qualname


SURFACES: dict[str, Callable[..., Any]] = {
    "async": AsyncSurface.create,
    "sync": SyncSurface.create,
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit a developer's real key, base URL, proxies or log level."""
    for name in list(os.environ):
        if name.upper() in {
            "PORTKEY_API_KEY",
            "PORTKEY_BASE_URL",
            "PORTKEY_LOG",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        }:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakePortkey]:
    """A FakePortkey on its own thread, fresh for each test."""
    with FakePortkey() as server:
        yield server


@pytest.fixture(params=sorted(SURFACES))
def surface_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(fake: FakePortkey, surface_name: str) -> Iterator[Callable[..., Surface]]:
    """Build clients of the parametrised surface, pointed at ``fake`` unless told otherwise."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Surface:
        kwargs.setdefault("api_key", fake.api_key)
        kwargs.setdefault("base_url", fake.base_url)
        surface = SURFACES[surface_name](**kwargs)
        made.append(surface)
        return surface  # type: ignore[no-any-return]

    yield make
    for surface in made:
        surface.dispose()


@pytest.fixture
def client(make_client: Callable[..., Surface]) -> Surface:
    """A client of the parametrised surface with fast retries for the fake."""
    return make_client()


@pytest.fixture
def mock(request: pytest.FixtureRequest) -> Iterator[SpecMock]:
    """A :class:`SpecMock` over the requesting test module's ``DOCUMENT``."""
    with SpecMock(request.module.DOCUMENT) as server:
        yield server


@pytest.fixture
def spec_client(mock: SpecMock, surface_name: str) -> Iterator[Surface]:
    """A client of the parametrised surface pointed at ``mock``."""
    surface = SURFACES[surface_name](api_key="pk-spec-mock", base_url=mock.base_url)
    yield surface
    surface.dispose()


def unused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
