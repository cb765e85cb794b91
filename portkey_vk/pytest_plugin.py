"""Pytest fixtures for testing your own code against a local fake Portkey control plane.

Installing ``portkey-vk`` registers this plugin (entry point ``pytest11``), so a test can ask
for the fixtures by name with no setup::

    def test_reads_the_key(portkey_fake, portkey_client):
        portkey_fake.add_virtual_key(slug="openai-prod", name="OpenAI prod")
        assert portkey_client.virtual_keys.retrieve(slug="openai-prod").name == "OpenAI prod"


    @pytest.mark.anyio
    async def test_reads_the_key_async(portkey_fake, async_portkey_client):
        portkey_fake.add_virtual_key(slug="openai-prod")
        vk = await async_portkey_client.virtual_keys.retrieve(slug="openai-prod")

Every fixture is function-scoped: each test gets a fresh, empty fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from portkey_vk import AsyncPortkey, Portkey

if TYPE_CHECKING:
    from portkey_vk.testing import FakePortkey

__all__ = ["async_portkey_client", "portkey_client", "portkey_fake"]


@pytest.fixture
def portkey_fake() -> Iterator[FakePortkey]:
    """A started :class:`~portkey_vk.testing.FakePortkey`, empty, stopped after the test.

    It runs on a thread of its own, so it serves sync and async tests alike. Store keys with
    ``portkey_fake.add_virtual_key(slug=..., **fields)``, script failures with ``fail_next``
    and slowness with ``delay_next``, and inspect what it received in ``requests``.
    """
    # Imported here, not at the top: it loads aiohttp's server half, which every pytest session
    # of every project with portkey-vk installed would otherwise pay for.
    from portkey_vk.testing import FakePortkey  # noqa: PLC0415

    with FakePortkey() as fake:
        yield fake


@pytest.fixture
def portkey_client(portkey_fake: FakePortkey) -> Iterator[Portkey]:
    """A sync :class:`~portkey_vk.Portkey` pointed at ``portkey_fake``, closed after the test."""
    with Portkey(api_key=portkey_fake.api_key, base_url=portkey_fake.base_url) as client:
        yield client


@pytest.fixture
def _portkey_asyncio_backend(request: pytest.FixtureRequest) -> None:
    # aiohttp runs on asyncio only. anyio parametrises `anyio_backend` over every backend it
    # finds installed, so with trio present each anyio test also runs on trio; skip that variant
    # here, in a sync fixture, before anyio tries to run the async fixture on trio.
    backend = request.getfixturevalue("anyio_backend")
    name = backend[0] if isinstance(backend, tuple) else backend
    if name != "asyncio":
        pytest.skip(f"async_portkey_client needs the asyncio backend (aiohttp), not {name!r}")


@pytest.fixture
async def async_portkey_client(
    _portkey_asyncio_backend: None, portkey_fake: FakePortkey
) -> AsyncIterator[AsyncPortkey]:
    """An :class:`~portkey_vk.AsyncPortkey` pointed at ``portkey_fake``, closed after the test.

    For async tests run by anyio's pytest plugin (``@pytest.mark.anyio``), on its asyncio
    backend.
    """
    async with AsyncPortkey(api_key=portkey_fake.api_key, base_url=portkey_fake.base_url) as client:
        yield client
