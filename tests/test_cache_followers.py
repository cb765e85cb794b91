"""Hardening round 3, the cache: a shared read is governed by each caller's own options.

Before the fix (issue 19, item 6), concurrent reads of one key shared the first caller's
timeout, headers and retries: a caller with ``timeout=0.5`` waited 2.96 s for a leader with
``timeout=10``, and a caller with ``timeout=10`` failed after 0.45 s with the leader's
``APITimeoutError``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from portkey_vk import APITimeoutError, AsyncPortkey, Cache, NotFoundError
from portkey_vk.testing import FakePortkey


def client(fake: FakePortkey, cache: Cache) -> AsyncPortkey:
    return AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url, max_retries=0, cache=cache)


def test_a_follower_waits_no_longer_than_its_own_timeout(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(2.0)

    async def main() -> tuple[float, str]:
        async with client(fake, Cache(ttl=30)) as patient:
            hasty = patient.with_options(timeout=0.3)
            leader = asyncio.ensure_future(patient.virtual_keys.retrieve("k"))
            await asyncio.sleep(0.05)  # the leader's request is in flight
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await hasty.virtual_keys.retrieve("k")
            waited = time.monotonic() - started
            return waited, (await leader).slug

    waited, slug = asyncio.run(main())
    assert waited < 1.0, waited  # its own 0.3 s, not the leader's 2 s
    assert slug == "k"  # and the leader's request went on
    assert len(fake.requests) == 1


def test_a_leader_failing_under_its_own_timeout_does_not_fail_a_patient_follower(
    fake: FakePortkey,
) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(1.0)  # only the first request is slow

    async def main() -> list[object]:
        async with client(fake, Cache(ttl=30)) as patient:
            hasty = patient.with_options(timeout=0.3)
            leader = asyncio.ensure_future(hasty.virtual_keys.retrieve("k"))
            await asyncio.sleep(0.05)
            followers = [patient.virtual_keys.retrieve("k") for _ in range(5)]
            return await asyncio.gather(leader, *followers, return_exceptions=True)

    leader, *followers = asyncio.run(main())
    assert isinstance(leader, APITimeoutError)
    # The five patient followers got their own attempt, one request for all of them.
    assert [getattr(vk, "slug", vk) for vk in followers] == ["k"] * 5
    assert len(fake.requests) == 2


def test_a_failure_that_does_not_depend_on_options_reaches_every_follower(
    fake: FakePortkey,
) -> None:
    fake.delay_next(0.3)  # a 404 for everyone, whatever their timeout

    async def main() -> list[object]:
        async with client(fake, Cache(ttl=30)) as patient:
            hasty = patient.with_options(timeout=5.0)
            leader = asyncio.ensure_future(patient.virtual_keys.retrieve("missing"))
            await asyncio.sleep(0.05)
            return await asyncio.gather(
                leader, hasty.virtual_keys.retrieve("missing"), return_exceptions=True
            )

    results = asyncio.run(main())
    assert all(isinstance(result, NotFoundError) for result in results), results
    assert len(fake.requests) == 1
