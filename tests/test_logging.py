"""``PORTKEY_LOG``: silent by default, one line per attempt and retry when asked, never the key."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from portkey_vk import AsyncPortkey
from portkey_vk.testing import FakePortkey
from tests.hostile import API_KEY, async_test

_SCRIPT = textwrap.dedent(
    f"""
    import asyncio
    from portkey_vk import AsyncPortkey
    from portkey_vk.testing import FakePortkey

    async def main():
        async with FakePortkey(api_key={API_KEY!r}) as fake:
            fake.add_virtual_key("vk")
            fake.fail_next(503, headers={{"Retry-After": "0"}})
            async with AsyncPortkey(api_key={API_KEY!r}, base_url=fake.base_url) as client:
                await client.virtual_keys.retrieve("vk")
            print("done")

    asyncio.run(main())
    """
)


def _run(level: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    if level is not None:
        env["PORTKEY_LOG"] = level
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == "done\n"
    assert API_KEY not in done.stdout + done.stderr
    return done.stderr


@pytest.mark.parametrize("level", [None, "warning"])
def test_silent_unless_asked(level: str | None) -> None:
    assert _run(level) == ""


@pytest.mark.parametrize("level", ["info", " Info "])
def test_info_logs_each_attempt_and_retry(level: str) -> None:
    lines = _run(level).splitlines()
    url = r"http://127\.0\.0\.1:\d+/v1/virtual-keys/vk"
    assert len(lines) == 3, lines
    assert re.search(rf"INFO GET {url} -> 503 \(attempt 1, [\d.]+ ms\)$", lines[0])
    assert re.search(rf"INFO retrying GET {url} in 0\.000s \(attempt 2 of 3\): ", lines[1])
    assert lines[1].endswith("InternalServerError")
    assert re.search(rf"INFO GET {url} -> 200 \(attempt 2, [\d.]+ ms\)$", lines[2])


def test_debug_adds_redacted_request_headers() -> None:
    lines = _run("debug").splitlines()
    debug = [line for line in lines if " DEBUG " in line]
    assert len(debug) == 2
    assert all("'x-portkey-api-key': '[REDACTED]'" in line for line in debug)
    assert all("User-Agent" in line for line in debug)
    assert len(lines) == 5


@pytest.fixture
def record_counter() -> Iterator[list[logging.LogRecord]]:
    made: list[logging.LogRecord] = []
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        if record.name.startswith("portkey_vk"):
            made.append(record)
        return record

    logging.setLogRecordFactory(factory)
    yield made
    logging.setLogRecordFactory(previous)


@async_test
async def test_logging_off_builds_no_record_on_the_hot_path(
    record_counter: list[logging.LogRecord],
) -> None:
    # isEnabledFor guards every call: with logging off no record is even created.
    assert not logging.getLogger("portkey_vk").isEnabledFor(logging.INFO)
    async with FakePortkey(api_key=API_KEY) as fake:
        fake.add_virtual_key("vk")
        fake.fail_next(503, times=2, headers={"Retry-After": "0"})
        async with AsyncPortkey(api_key=API_KEY, base_url=fake.base_url) as client:
            for _ in range(50):
                await client.virtual_keys.retrieve("vk")
    assert record_counter == []
