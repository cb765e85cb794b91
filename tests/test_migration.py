"""``check_migration`` (async) and ``check_migration_sync``: read-only, bounded, typed rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from portkey_vk import (
    AuthenticationError,
    InternalServerError,
    ProviderStatus,
    VirtualKeyStatus,
)
from portkey_vk.migration import (
    MigrationReport,
    MigrationRow,
    check_migration,
    check_migration_sync,
)
from portkey_vk.resources.providers import AsyncProviders
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface


def check(surface: Surface, **kwargs: Any) -> MigrationReport:
    """The check on the surface's client: awaited for AsyncPortkey, the sync variant for Portkey."""
    return surface.run_variant(check_migration, check_migration_sync, **kwargs)  # type: ignore[no-any-return]


def stock(fake: FakePortkey) -> None:
    fake.add_virtual_key("migrated", name="Migrated", ai_provider_name="openai")
    fake.add_virtual_key("legacy", name="Legacy", ai_provider_name="anthropic", as_provider=False)
    fake.add_virtual_key("spent", status="exhausted", as_provider=False)
    fake.add_virtual_key("renewed", ai_provider_name="openai")
    fake.add_provider("renewed", status="expired")


def test_each_key_is_looked_up_as_a_provider(fake: FakePortkey, client: Surface) -> None:
    stock(fake)
    report = check(client)
    assert [row.slug for row in report.rows] == ["migrated", "legacy", "spent", "renewed"]
    migrated, legacy, spent, renewed = report.rows
    assert migrated == MigrationRow(
        slug="migrated",
        name="Migrated",
        ai_provider="openai",
        status=VirtualKeyStatus.ACTIVE,
        provider_found=True,
        provider_status=ProviderStatus.ACTIVE,
        status_matches=True,
        model_prefix="@migrated",
    )
    assert (legacy.provider_found, legacy.provider_status, legacy.status_matches) == (
        False,
        None,
        None,
    )
    assert legacy.model_prefix is None
    assert legacy.blocking
    assert not spent.provider_found
    assert not spent.blocking  # exhausted: not in use, so it does not block
    assert renewed.provider_found
    assert renewed.provider_status is ProviderStatus.EXPIRED
    assert renewed.status_matches is False
    assert not report.ready
    assert report.blocking == (legacy,)
    assert report.missing == (legacy, spent)
    assert report.mismatched == (renewed,)
    assert report.summary() == (
        "4 virtual keys: 2 resolve as providers (1 with another status), 2 do not (1 active). "
        "Not ready: active virtual keys do not resolve as providers."
    )


def test_ready_when_every_active_key_resolves(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("a")
    fake.add_virtual_key("gone", status="exhausted", as_provider=False)
    report = check(client)
    assert report.ready
    assert report.summary().endswith("Ready: every active virtual key resolves as a provider.")
    assert check(client).to_dict() == report.to_dict()


def test_no_keys_is_ready(client: Surface) -> None:
    report = check(client)
    assert report.rows == ()
    assert report.ready
    assert report.summary().startswith("0 virtual keys: ")


def test_it_only_reads(fake: FakePortkey, client: Surface) -> None:
    stock(fake)
    check(client)
    assert {r.method for r in fake.requests} == {"GET"}
    lookups = sorted(r.slug for r in fake.requests if r.path.startswith("/v1/providers/"))
    assert lookups == ["legacy", "migrated", "renewed", "spent"]
    assert fake.requests[0].path == "/v1/virtual-keys"


def test_every_page_is_read(fake: FakePortkey, client: Surface) -> None:
    for index in range(130):
        fake.add_virtual_key(f"k{index:03}", as_provider=index % 2 == 0)
    report = check(client)
    assert len(report.rows) == 130
    assert len(report.found) == 65
    assert [row.slug for row in report.rows] == [f"k{index:03}" for index in range(130)]
    pages = [r.query["current_page"] for r in fake.requests if r.path == "/v1/virtual-keys"]
    assert pages == ["0", "1"]


@pytest.mark.parametrize("limit", [1, 3])
def test_lookups_are_bounded(
    fake: FakePortkey, client: Surface, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    for index in range(9):
        fake.add_virtual_key(f"k{index}")
    in_flight = 0
    most = 0
    original = AsyncProviders.retrieve

    async def counting(self: AsyncProviders, *args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.02)
            return await original(self, *args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(AsyncProviders, "retrieve", counting)
    report = check(client, concurrency=limit)
    assert len(report.found) == 9
    assert most == limit


def test_progress(fake: FakePortkey, client: Surface) -> None:
    for index in range(5):
        fake.add_virtual_key(f"k{index}")
    seen: list[tuple[int, int | None]] = []
    check(client, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 5) for n in range(1, 6)]


def test_the_workspace(fake: FakePortkey, make_client: Callable[..., Surface]) -> None:
    fake.add_virtual_key("mine", workspace_id="ws-1")
    fake.add_virtual_key("theirs", workspace_id="ws-2")
    client = make_client(workspace_id="ws-1")
    report = check(client)
    assert report.workspace_id == "ws-1"
    assert [row.slug for row in report.rows] == ["mine"]
    assert report.ready
    assert all(r.query["workspace_id"] == "ws-1" for r in fake.requests)

    report = check(client, workspace_id="ws-2")
    assert [row.slug for row in report.rows] == ["theirs"]
    assert fake.requests[-1].query["workspace_id"] == "ws-2"

    before = len(fake.requests)
    report = check(client, workspace_id=None)
    assert report.workspace_id is None
    assert {row.slug for row in report.rows} == {"mine", "theirs"}
    assert all("workspace_id" not in r.query for r in fake.requests[before:])


def test_an_error_other_than_404_stops_the_check(
    fake: FakePortkey, make_client: Callable[..., Surface]
) -> None:
    for index in range(6):
        fake.add_virtual_key(f"k{index}")
    fake.fail_next(500, times=100, path="/providers/*")
    client = make_client(max_retries=0)
    with pytest.raises(InternalServerError):
        check(client, concurrency=2)
    fake.reset()
    with pytest.raises(AuthenticationError):
        check(make_client(api_key="pk-wrong"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"concurrency": 0}, ValueError),
        ({"concurrency": 65}, ValueError),
        ({"concurrency": True}, TypeError),
        ({"concurrency": "8"}, TypeError),
        ({"workspace_id": ""}, ValueError),
        ({"progress": "print"}, TypeError),
    ],
)
def test_bad_arguments_send_nothing(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        check(client, **kwargs)
    assert fake.requests == []


def test_the_report_as_json(fake: FakePortkey, client: Surface) -> None:
    stock(fake)
    data = json.loads(json.dumps(check(client).to_dict()))
    assert data["ready"] is False
    assert data["summary"] == {
        "virtual_keys": 4,
        "found": 2,
        "missing": 2,
        "blocking": 1,
        "status_mismatches": 1,
    }
    assert data["rows"][0] == {
        "slug": "migrated",
        "name": "Migrated",
        "ai_provider": "openai",
        "status": "active",
        "provider_found": True,
        "provider_status": "active",
        "status_matches": True,
        "model_prefix": "@migrated",
    }
