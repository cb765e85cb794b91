"""One AsyncPortkey used across several ``asyncio.run()`` calls: each new loop retires the pool of
the last one, whose loop is closed by then. That must be silent (no "Unclosed connector", no
ResourceWarning, even under ``-X dev -W error``) and leak no file descriptor.

Run in a subprocess: warnings from ``__del__`` only show on stderr, and file descriptors are
counted for the whole process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.quiet import meaningful

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import asyncio, gc, json, os, ssl, sys, threading, time

    from tests.hostile import HostileServer, client_for

    tls = sys.argv[1] == "tls"
    server_ssl = client_ssl = None
    if tls:
        import trustme

        ca = trustme.CA()
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
        client_ssl = ssl.create_default_context()
        ca.configure_trust(client_ssl)

    def quiet_slow_callbacks():
        # -X dev logs every callback over 0.1 s ("Executing <Task...> took 0.106 seconds"); a TLS
        # handshake on a busy machine can take that long, and it is not what this test is about.
        asyncio.get_running_loop().slow_callback_duration = 10.0

    # The server runs on a loop of its own, in a thread, for the whole process.
    ready = threading.Event()
    found = {}

    def serve():
        async def main():
            quiet_slow_callbacks()
            async with HostileServer(ssl=server_ssl) as server:
                found["url"] = server.base_url()
                ready.set()
                await asyncio.Event().wait()

        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)

    def fds(expected=None):
        # The server's thread opens and closes its ends of connections (and, starting, a few
        # files) on its own time: give the count up to 2 s to reach what is expected, or, with
        # nothing expected, to stay the same over 0.1 s.
        counts = []
        for _ in range(100):
            gc.collect()
            counts.append(len(os.listdir("/proc/self/fd")))
            if counts[-1] == expected:
                break
            if expected is None and counts[-5:] == [counts[-1]] * 5:
                break
            time.sleep(0.02)
        return counts[-1]

    client = client_for(found["url"], ssl=client_ssl)
    counts = {"before": fds()}

    async def call():
        quiet_slow_callbacks()
        await client.virtual_keys.retrieve("vk")
        await client.virtual_keys.retrieve("vk")
        return client._transport.connection_count()

    pooled = []
    for round in range(3):
        pooled.append(asyncio.run(call()))
        counts[f"after run {round + 1}"] = fds(counts.get("after run 1"))
    asyncio.run(client.close())
    counts["after close"] = fds(counts["before"])
    print(json.dumps({"fds": counts, "pooled": pooled}))
    """
)


@pytest.mark.parametrize("scheme", ["http", "tls"])
@pytest.mark.parametrize("flags", [[], ["-X", "dev", "-W", "error"]], ids=["plain", "dev-W-error"])
def test_client_across_three_asyncio_runs_is_silent_and_leaks_no_fd(
    flags: list[str], scheme: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTKEY_", "PYTHONWARN"))}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, *flags, "-c", CHILD, scheme],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Nothing at all on stderr: no "Unclosed connector", no "unclosed transport", no
    # ResourceWarning, no "Exception ignored in".
    assert meaningful(result.stderr) == ""
    report = json.loads(result.stdout)
    counts = report["fds"]
    # Each run leaves one pooled connection (the client's socket, and the server's end of it);
    # the next run closes it and opens one, so the count stays flat; close() returns to the start.
    assert report["pooled"] == [1, 1, 1]
    assert counts["after run 1"] == counts["after run 2"] == counts["after run 3"], counts
    assert counts["after close"] == counts["before"], counts
