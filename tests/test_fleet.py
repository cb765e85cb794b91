"""The fleet proofs: real processes, one real Redis, one FakePortkey counting its reads.

The workers are started once for the module (:class:`tests.fleet.Fleet`) and each test hands
them orders: process start-up (seconds on a loaded machine) is paid once, not per proof.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from portkey_vk.testing import FakePortkey
from tests.fleet import Fleet, go, spec, start_fleet
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, for the tests below

FLEET = 8


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    workers = Fleet(FLEET)
    try:
        yield workers
    finally:
        workers.close()


@pytest.fixture
def fake() -> Iterator[FakePortkey]:
    with FakePortkey() as server:
        yield server


@pytest.fixture
def shared(redis_server: RedisServer) -> RedisServer:
    if redis_server.proc is None:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as sync:
        sync.flushall()
    return redis_server


def reads(fake: FakePortkey, slug: str | None = None) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and (slug is None or r.slug == slug))


def orders(fake: FakePortkey, server: RedisServer, **kwargs: Any) -> dict[str, Any]:
    # The workers are running already: a common start soon after the orders are handed out.
    kwargs.setdefault("start_at", time.time() + 0.5)
    return spec(base_url=fake.base_url, api_key=fake.api_key, redis_url=server.url, **kwargs)


def no_failures(out: list[dict[str, Any]]) -> None:
    assert [r["failed"] for r in out] == [[]] * len(out)


def test_a_cold_burst_of_the_whole_fleet_sends_one_request(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer
) -> None:
    fake.add_virtual_key("hot", name="hot")
    fake.delay_next(0.2)  # the one request takes a while, as a real control plane does
    out = fleet.run([orders(fake, shared, slugs=["hot"] * 64)] * FLEET)
    no_failures(out)
    assert sum(len(r["seen"]) for r in out) == FLEET * 64
    assert reads(fake, "hot") == 1
    # One process asked; every other one got the shared answer, 64 tasks one Redis flight each.
    assert sum(r["stats"]["backend_hits"] for r in out) == FLEET - 1
    assert all(r["stats"]["misses"] == 1 for r in out)


def test_a_thousand_reads_per_process_over_a_hundred_slugs_send_a_hundred_requests(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer
) -> None:
    slugs = [f"k{n}" for n in range(100)]
    for slug in slugs:
        fake.add_virtual_key(slug, name=slug)
    specs = []
    for seed in range(FLEET):
        mine = slugs * 10
        random.Random(seed).shuffle(mine)
        # A generous Redis timeout: on a loaded 2-core machine, 400 concurrent reads can starve
        # a process past 0.5 s, and each such timeout is (rightly) one more direct request.
        specs.append(orders(fake, shared, slugs=mine, concurrency=50, backend_timeout=5.0))
    out = fleet.run(specs, timeout=120)
    no_failures(out)
    assert sum(r["stats"]["backend_errors"] for r in out) == 0
    assert reads(fake) == 100
    assert all(name == slug for r in out for _, slug, name in r["seen"])


def test_a_flight_holder_killed_mid_request_is_taken_over(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer, tmp_path: Path
) -> None:
    fake.add_virtual_key("slow", name="slow")
    # The first request does not come back before its process dies (the fake's shutdown waits
    # for it: the shorter, the faster this test ends).
    hang = 4.0
    fake.delay_next(hang)
    (holder,) = start_fleet([orders(fake, shared, slugs=["slow"], start_at=0)])
    others = fleet.send(
        [
            orders(fake, shared, slugs=["slow"] * 8, timeout=5.0, barrier=str(tmp_path))
            for _ in range(FLEET - 1)
        ]
    )
    deadline = time.monotonic() + 60
    while reads(fake, "slow") == 0:
        assert time.monotonic() < deadline, "the holder never asked"
        time.sleep(0.02)
    asked_at = time.time()
    started = go(str(tmp_path), FLEET - 1)
    time.sleep(0.5)  # the others wait on the holder's flight
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    killed_at = time.time()
    # Killed while its request was still out: what follows is a take-over, not its answer.
    assert killed_at < asked_at + hang
    out = others.results()
    no_failures(out)
    assert reads(fake, "slow") <= 2
    assert all(r["began"] - started < 0.5 for r in out)
    last = max(t for r in out for t, _, _ in r["seen"])
    # Taken over within about a second of the holder's death (its lease), not after a timeout.
    assert last - killed_at < 2.0, last - killed_at


def test_a_control_plane_outage_fails_no_call_within_stale_if_error(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer, tmp_path: Path
) -> None:
    slugs = [f"k{n}" for n in range(5)]
    for slug in slugs:
        fake.add_virtual_key(slug, name=slug)
    specs = [
        orders(
            fake,
            shared,
            slugs=slugs,
            barrier=str(tmp_path),
            duration=2.5,
            ttl=0.2,
            stale_if_error=600,
            interval=0.02,
        )
        for _ in range(FLEET)
    ]
    pending = fleet.send(specs)
    go(str(tmp_path), FLEET)
    time.sleep(0.7)
    # Down for the rest of the run (1.8 s, nine ttls): every entry expires during the outage.
    fake.fail_next(503, times=1_000_000)
    out = pending.results()
    no_failures(out)
    assert sum(r["stats"]["stale_served"] for r in out) > 0
    assert all(len(r["seen"]) > 25 for r in out)


def test_redis_stopped_mid_run_and_restarted_fails_no_call_and_shared_hits_resume(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer, tmp_path: Path
) -> None:
    slugs = ["a", "b"]
    for slug in slugs:
        fake.add_virtual_key(slug, name=slug)
    specs = [
        orders(
            fake,
            shared,
            slugs=slugs,
            barrier=str(tmp_path),
            duration=3.6,
            ttl=0.3,
            interval=0.02,
            backend_timeout=0.25,
        )
        for _ in range(FLEET)
    ]
    pending = fleet.send(specs)
    go(str(tmp_path), FLEET)
    time.sleep(0.7)
    shared.stop()
    time.sleep(0.7)
    shared.start()
    time.sleep(0.7)  # the fleet finds Redis again
    before = reads(fake)
    time.sleep(1.5)
    during = reads(fake) - before
    out = pending.results()
    no_failures(out)
    assert sum(r["stats"]["backend_errors"] for r in out) > 0
    # With the shared tier back: about one request per key per ttl for the whole fleet
    # (2 keys x 5 ttls = 10), where 8 lone processes would send about 80.
    assert during <= 25, during


def test_a_forged_and_a_garbled_entry_are_refused_and_answered_from_the_control_plane(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer
) -> None:
    fake.add_virtual_key("f", name="real-f")
    fake.add_virtual_key("g", name="real-g")
    no_failures(fleet.run([orders(fake, shared, slugs=["f", "g"], start_at=0)]))
    with redis.Redis.from_url(shared.url) as sync:
        names = [n for n in sync.scan_iter() if b":lock:" not in n and b":wake:" not in n]
        assert len(names) == 2
        forged = names[0]
        (field,) = sync.hkeys(forged)
        value = sync.hget(forged, field)
        assert isinstance(value, bytes)
        sync.hset(forged, field, value.replace(b"real-", b"evil-"))
        (field,) = sync.hkeys(names[1])
        sync.hset(names[1], field, b"\x00garbage")
    out = fleet.run([orders(fake, shared, slugs=["f", "g"], concurrency=2)] * FLEET)
    no_failures(out)
    assert {name for r in out for _, _, name in r["seen"]} == {"real-f", "real-g"}
    assert sum(r["stats"]["rejected"] for r in out) >= 2
    assert reads(fake, "f") == 2
    assert reads(fake, "g") == 2


def test_two_api_keys_on_one_redis_never_read_each_others_entries(
    fleet: Fleet, shared: RedisServer
) -> None:
    with FakePortkey(api_key="pk-key-one") as one, FakePortkey(api_key="pk-key-two") as two:
        one.add_virtual_key("same", name="one's")
        two.add_virtual_key("same", name="two's")
        specs = [orders(one, shared, slugs=["same"] * 8)] * 4
        specs += [orders(two, shared, slugs=["same"] * 8)] * 4
        out = fleet.run(specs)
        no_failures(out)
        assert {name for r in out[:4] for _, _, name in r["seen"]} == {"one's"}
        assert {name for r in out[4:] for _, _, name in r["seen"]} == {"two's"}
        assert reads(one) == 1
        assert reads(two) == 1


def test_a_write_in_one_process_is_seen_by_the_next_read_in_every_other_process(
    fleet: Fleet, fake: FakePortkey, shared: RedisServer, tmp_path: Path
) -> None:
    fake.add_virtual_key("k", name="before")
    # A long ttl: without the fleet's invalidations, every reader would keep "before" to the end.
    readers = [
        orders(
            fake,
            shared,
            slugs=["k"],
            barrier=str(tmp_path),
            duration=2.5,
            interval=0.02,
            ttl=600,
        )
        for _ in range(FLEET - 1)
    ]
    pending = fleet.send(readers)
    go(str(tmp_path), FLEET - 1)
    time.sleep(1.3)  # every reader holds "before" in memory, and listens (past the 1 s bound)
    (wrote,) = fleet.send(
        [orders(fake, shared, slugs=[], start_at=0, write="k")], first=FLEET - 1
    ).results()
    out = pending.results()
    no_failures(out)
    for reader in out:
        assert any(name == "before" for _, _, name in reader["seen"])
        # Each read is recorded when it returns: one that began before the write returned may
        # still carry the old name, and a read takes a few ms (0.1 s under load).
        late = [name for t, _, name in reader["seen"] if t > wrote["wrote"] + 0.1]
        assert late
        assert set(late) == {f"renamed-{wrote['pid']}"}, set(late)
    # One read per process at most after the write (each one's first), and one before it.
    assert reads(fake, "k") <= 1 + FLEET - 1
