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

from portkey_vk import AsyncPortkey, Portkey, VirtualKey
from portkey_vk.testing import FakePortkey


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

    def connection_count(self) -> int: ...


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

    def connection_count(self) -> int:
        return self.client._async._transport.connection_count()


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
        getattr(surface, "dispose", surface.close)()


@pytest.fixture
def client(make_client: Callable[..., Surface]) -> Surface:
    """A client of the parametrised surface with fast retries for the fake."""
    return make_client()


def unused_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
