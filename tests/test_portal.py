"""The shared event-loop thread behind ``Portkey``, where the known designs break: many threads,
a caller that already runs a loop, a call from the loop's own thread, fork, Ctrl-C and
interpreter exit. Fork, Ctrl-C and exit run in a subprocess, as a user's script would.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from portkey_vk import Portkey, PortkeyError, _portal
from portkey_vk.testing import FakePortkey
from tests.quiet import meaningful

SLUG = "openai-prod"


@pytest.fixture
def served(fake: FakePortkey) -> FakePortkey:
    fake.add_virtual_key(SLUG, name="OpenAI prod")
    return fake


@pytest.fixture
def sync_client(served: FakePortkey) -> Iterator[Portkey]:
    with Portkey(api_key=served.api_key, base_url=served.base_url) as client:
        yield client


def script(code: str, fake: FakePortkey) -> list[str]:
    """``python -X dev -W error -c code`` with the fake's URL and key in ``sys.argv[1:3]``."""
    return [
        *(sys.executable, "-X", "dev", "-W", "error", "-c", textwrap.dedent(code)),
        *(fake.base_url, fake.api_key),
    ]


def run_script(
    code: str, fake: FakePortkey, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        script(code, fake),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_thirty_sequential_calls_use_one_connection(
    served: FakePortkey, sync_client: Portkey
) -> None:
    for _ in range(30):
        sync_client.virtual_keys.retrieve(SLUG)
    assert served.connection_count == 1


def test_eight_threads_share_one_client(served: FakePortkey, sync_client: Portkey) -> None:
    errors: list[BaseException] = []
    names: list[str | None] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        try:
            for _ in range(40):
                names.append(sync_client.virtual_keys.retrieve(SLUG).name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert names == ["OpenAI prod"] * 320
    assert 1 <= served.connection_count <= 8
    assert len(served.requests) == 320


def test_works_inside_asyncio_run(served: FakePortkey, sync_client: Portkey) -> None:
    async def helper() -> str | None:
        # A sync helper called from async code (a notebook cell, a legacy callback).
        return sync_client.virtual_keys.retrieve(SLUG).name

    assert asyncio.run(helper()) == "OpenAI prod"
    assert asyncio.run(helper()) == "OpenAI prod"
    assert served.connection_count == 1


def test_works_from_a_thread_running_its_own_loop(sync_client: Portkey) -> None:
    loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(asyncio.to_thread(lambda: None))
        assert result is None

        async def in_loop() -> str | None:
            return sync_client.virtual_keys.retrieve(SLUG).name

        assert loop.run_until_complete(in_loop()) == "OpenAI prod"
    finally:
        loop.close()


def test_a_call_from_the_portals_own_thread_is_a_clear_error(sync_client: Portkey) -> None:
    async def on_the_portal() -> str:
        try:
            sync_client.virtual_keys.retrieve(SLUG)
        except PortkeyError as exc:
            return str(exc)
        return "no error"

    outcome: list[str] = []
    caller = threading.Thread(target=lambda: outcome.append(_portal.run(on_the_portal)))
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "deadlocked"
    assert "own event loop thread" in outcome[0]
    assert "AsyncPortkey" in outcome[0]
    assert sync_client.virtual_keys.retrieve(SLUG).name == "OpenAI prod"


def test_fork_child_starts_afresh_and_parent_keeps_working(served: FakePortkey) -> None:
    code = """
        import os, sys, warnings
        # Python 3.12+ warns about forking a multi-threaded process; forking is the point here.
        warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
        from portkey_vk import Portkey
        base_url, api_key = sys.argv[1:3]
        client = Portkey(api_key=api_key, base_url=base_url)
        assert client.virtual_keys.retrieve("openai-prod").name == "OpenAI prod"
        pid = os.fork()
        if pid == 0:
            # First call in the child, on the client inherited from the parent.
            name = client.virtual_keys.retrieve("openai-prod").name
            fresh = Portkey(api_key=api_key, base_url=base_url)
            assert fresh.virtual_keys.retrieve("openai-prod").name == name
            print("child ok", name, flush=True)
            sys.exit(0)  # a normal exit, so the child's own exit hook runs too
        for _ in range(3):
            assert client.virtual_keys.retrieve("openai-prod").name == "OpenAI prod"
        _, status = os.waitpid(pid, 0)
        assert client.virtual_keys.retrieve("openai-prod").name == "OpenAI prod"
        print("parent ok, child exit", os.waitstatus_to_exitcode(status), flush=True)
    """
    done = run_script(code, served)
    assert done.returncode == 0, done.stderr
    assert "child ok OpenAI prod" in done.stdout
    assert "parent ok, child exit 0" in done.stdout
    assert meaningful(done.stderr) == ""
    # Parent: 1 + 3 + 1 calls; child: 2 calls, on connections of its own.
    assert len(served.requests) == 7


def test_ctrl_c_interrupts_at_once_and_cancels_the_call(served: FakePortkey) -> None:
    code = """
        import signal, sys, time
        from portkey_vk import Portkey, _portal
        # As in a terminal, whatever the test runner's shell did to SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        base_url, api_key = sys.argv[1:3]
        client = Portkey(api_key=api_key, base_url=base_url, max_retries=0)
        client.virtual_keys.retrieve("openai-prod")
        print("calling", flush=True)
        try:
            client.virtual_keys.retrieve("openai-prod")
            print("not interrupted", flush=True)
        except KeyboardInterrupt:
            print("interrupted at", time.time(), flush=True)
        deadline = time.monotonic() + 2
        while _portal.in_flight() and time.monotonic() < deadline:
            time.sleep(0.005)
        print("in flight", _portal.in_flight(), flush=True)
        print("next", client.virtual_keys.retrieve("openai-prod").name, flush=True)
    """
    # The warm-up call is served at once; the second hangs long enough to be interrupted.
    served.delay_next(0.0)
    served.delay_next(4.0)
    proc = subprocess.Popen(
        script(code, served),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "calling"
        deadline = time.monotonic() + 10
        while len(served.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)  # the request is in flight on the portal
        sent_at = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err == ""
    interrupted = [line for line in out.splitlines() if line.startswith("interrupted at")]
    assert interrupted, out
    assert float(interrupted[0].rsplit(" ", 1)[1]) - sent_at < 1.0
    assert "in flight 0" in out
    assert "next OpenAI prod" in out


def test_a_script_that_never_closes_exits_promptly_and_quietly(served: FakePortkey) -> None:
    code = """
        import sys
        from portkey_vk import Portkey
        base_url, api_key = sys.argv[1:3]
        client = Portkey(api_key=api_key, base_url=base_url)
        print(client.virtual_keys.retrieve("openai-prod").name)
        copy = client.with_options(timeout=5)
        copy.virtual_keys.with_raw_response.retrieve("openai-prod").parse()
        other = Portkey(api_key=api_key, base_url=base_url)
        other.virtual_keys.retrieve("openai-prod")
        del other  # garbage-collected unclosed, mid-script
    """
    started = time.monotonic()
    done = run_script(code, served)
    assert time.monotonic() - started < 10
    assert done.returncode == 0, done.stderr
    assert done.stdout == "OpenAI prod\n"
    assert meaningful(done.stderr) == ""


def test_in_flight_counts_running_calls(served: FakePortkey, sync_client: Portkey) -> None:
    served.delay_next(0.5)
    caller = threading.Thread(target=sync_client.virtual_keys.retrieve, args=(SLUG,))
    caller.start()
    deadline = time.monotonic() + 5
    while _portal.in_flight() == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _portal.in_flight() == 1
    caller.join(10)
    assert _portal.in_flight() == 0


def test_the_portal_is_one_daemon_thread_per_process(sync_client: Portkey) -> None:
    sync_client.virtual_keys.retrieve(SLUG)
    portals = [t for t in threading.enumerate() if t.name == _portal.THREAD_NAME]
    assert len(portals) == 1
    assert portals[0].daemon
    assert os.getpid() == _portal._state.runtime.pid  # type: ignore[union-attr]


def test_dropped_clients_leave_nothing_in_the_portal(served: FakePortkey) -> None:
    # Each dropped client used to leave its dead finalizer behind: 10,000 clients, 10,000
    # entries (about 1 MB) kept for the life of the process.
    _portal.run(asyncio.sleep, 0)  # a running portal, as in any process that made a call
    gc.collect()
    baseline = len(_portal._state.guards)
    kept = Portkey(api_key=served.api_key, base_url=served.base_url)
    assert len(_portal._state.guards) == baseline + 1
    for i in range(2_000):
        client = Portkey(api_key=served.api_key, base_url=served.base_url)
        copy = client.with_options(timeout=5)
        if i % 100 == 0:  # some were used and closed, some only dropped
            assert copy.virtual_keys.retrieve(SLUG).slug == SLUG
            client.close()
    del client, copy
    gc.collect()
    assert len(_portal._state.guards) == baseline + 1
    # The one still alive is still guarded, and closed when it goes too.
    assert kept.virtual_keys.retrieve(SLUG).slug == SLUG
    del kept
    gc.collect()
    assert len(_portal._state.guards) == baseline
