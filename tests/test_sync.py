"""What only the sync facade has: plain (non-awaitable) results, sync context managers, shared
pools across ``with_options`` copies, and closing clients nobody closed.

Everything both surfaces share (errors, retries, encoding, raw responses...) runs through the
behaviour suite, parametrised over the async client and this facade.
"""

from __future__ import annotations

import gc
import inspect
import time

import pytest

import portkey_vk
from portkey_vk import (
    APIResponse,
    AsyncPortkey,
    NotFoundError,
    Portkey,
    PortkeyError,
    VirtualKey,
    _portal,
    _sync,
)
from portkey_vk.testing import FakePortkey


@pytest.fixture
def sync_client(fake: FakePortkey) -> Portkey:
    fake.add_virtual_key("openai-prod", name="OpenAI prod")
    return Portkey(api_key=fake.api_key, base_url=fake.base_url)


def test_package_exports_the_generated_facade() -> None:
    assert portkey_vk.Portkey is _sync.Portkey
    assert portkey_vk.APIResponse is _sync.APIResponse
    assert {"Portkey", "APIResponse"} <= set(portkey_vk.__all__)


def test_results_are_plain_values_not_awaitables(sync_client: Portkey) -> None:
    with sync_client:
        vk = sync_client.virtual_keys.retrieve("openai-prod")
        raw = sync_client.virtual_keys.with_raw_response.retrieve("openai-prod")
        parsed = raw.parse()
    assert isinstance(vk, VirtualKey)
    assert vk.name == "OpenAI prod"
    assert isinstance(raw, APIResponse)
    assert not inspect.isawaitable(parsed)
    assert parsed == vk
    assert raw.parse() is parsed  # cached, as on the async side
    assert raw.status_code == 200
    assert raw.json()["slug"] == "openai-prod"
    assert repr(raw).startswith("<APIResponse [200] ")


def test_errors_are_the_same_classes_as_async(sync_client: Portkey) -> None:
    with sync_client, pytest.raises(NotFoundError) as info:
        sync_client.virtual_keys.retrieve("missing")
    assert info.value.status_code == 404


def test_settings_are_the_async_clients(fake: FakePortkey) -> None:
    kwargs = {
        "api_key": fake.api_key,
        "base_url": fake.base_url + "/",
        "timeout": 7.5,
        "max_retries": 4,
        "default_headers": {"x-team": "search"},
    }
    sync, reference = Portkey(**kwargs), AsyncPortkey(**kwargs)  # type: ignore[arg-type]
    for name in ("base_url", "timeout", "max_retries", "default_headers", "is_closed"):
        assert getattr(sync, name) == getattr(reference, name), name
    assert repr(sync) == repr(reference).replace("AsyncPortkey", "Portkey")
    assert fake.api_key not in repr(sync)
    sync.close()


def test_with_options_returns_a_portkey_sharing_the_pool(
    fake: FakePortkey, sync_client: Portkey
) -> None:
    copy = sync_client.with_options(timeout=3.0, default_headers={"x-copy": "1"})
    assert isinstance(copy, Portkey)
    assert (copy.timeout, sync_client.timeout) == (3.0, 60.0)
    for _ in range(5):
        sync_client.virtual_keys.retrieve("openai-prod")
        copy.virtual_keys.retrieve("openai-prod")
    assert fake.connection_count == 1
    assert fake.requests[-1].headers["x-copy"] == "1"
    copy.close()
    assert sync_client.is_closed


def test_close_and_context_manager_are_idempotent(sync_client: Portkey) -> None:
    with sync_client as entered:
        assert entered is sync_client
        sync_client.virtual_keys.retrieve("openai-prod")
    sync_client.close()
    with sync_client:
        pass
    assert sync_client.is_closed
    with pytest.raises(PortkeyError, match="closed"):
        sync_client.virtual_keys.retrieve("openai-prod")


def test_construction_errors_need_no_event_loop() -> None:
    with pytest.raises(PortkeyError, match="PORTKEY_API_KEY"):
        Portkey()
    with pytest.raises(PortkeyError, match="http"):
        Portkey(api_key="k", base_url="ftp://example.com")


def test_an_unclosed_client_is_closed_when_garbage_collected(fake: FakePortkey) -> None:
    # Built here, not by a fixture: pytest's fixture cache would keep it alive.
    fake.add_virtual_key("openai-prod")
    sync_client = Portkey(api_key=fake.api_key, base_url=fake.base_url)
    sync_client.virtual_keys.retrieve("openai-prod")
    # The resource keeps the pool open on its own: dropping the client must not close it.
    resource = sync_client.virtual_keys
    transport = sync_client._async._transport
    del sync_client
    gc.collect()
    resource.retrieve("openai-prod")
    assert not transport.closed
    del resource
    gc.collect()
    deadline = time.monotonic() + 5
    while not transport.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert transport.closed
    assert transport.connection_count() == 0


def test_a_dropped_with_options_copy_leaves_the_pool_open(sync_client: Portkey) -> None:
    sync_client.with_options(max_retries=0).virtual_keys.retrieve("openai-prod")
    gc.collect()
    time.sleep(0.05)  # a wrongly scheduled close would have run on the portal by now
    assert not sync_client.is_closed
    sync_client.virtual_keys.retrieve("openai-prod")
    assert _portal.in_flight() == 0
    sync_client.close()
