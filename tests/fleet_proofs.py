"""Fleet proofs waiting for a feature (not collected: no ``test_`` prefix; rename when it lands).

A write in one process must reach what the *other* processes hold in memory. Today a write drops
the shared entries at once (tests/test_redis_backend.py proves a new process sees the new value),
but another process's in-process tier serves its copy until its own ``ttl`` ends. The planned fix:
each process with a backend subscribes to one invalidation channel per prefix (``PUBLISH`` of the
hashed groups a write drops), and drops the matching in-process entries.
"""

from __future__ import annotations

import time
from pathlib import Path

from portkey_vk.testing import FakePortkey
from tests.fleet import go, results, spec, start_fleet
from tests.redis_server import RedisServer

FLEET = 8


def proof_a_write_in_one_process_is_seen_by_the_next_read_everywhere(
    fake: FakePortkey, shared: RedisServer, tmp_path: Path
) -> None:
    fake.add_virtual_key("k", name="before")
    readers = start_fleet(
        [
            spec(
                base_url=fake.base_url,
                api_key=fake.api_key,
                redis_url=shared.url,
                slugs=["k"],
                start_at=0,
                barrier=str(tmp_path),
                duration=4.0,
                interval=0.02,
            )
            for _ in range(FLEET - 1)
        ]
    )
    go(str(tmp_path), FLEET - 1)
    time.sleep(1.0)
    (writer,) = start_fleet(
        [
            spec(
                base_url=fake.base_url,
                api_key=fake.api_key,
                redis_url=shared.url,
                slugs=[],
                start_at=0,
                write="k",
            )
        ]
    )
    (wrote,) = results([writer])
    written_at = wrote["began"]
    for reader in results(readers):
        late = [name for t, _, name in reader["seen"] if t > written_at + 0.1]
        assert late
        assert all(name.startswith("renamed-") for name in late)
