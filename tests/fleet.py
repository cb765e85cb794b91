"""A fleet of real processes sharing one Redis: each runs an AsyncPortkey with a shared cache.

The test process owns the FakePortkey (it records every request that reaches the "control plane")
and the redis-server. :class:`Fleet` starts its workers once (``python -m tests.fleet --serve``)
and hands them orders, one JSON line each on stdin; :func:`start_fleet` spawns one-off workers
(``python -m tests.fleet SPEC``) for a test that kills one. Each order: wait for a common start,
read, answer one JSON line of results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from portkey_vk import APIError, AsyncPortkey, Cache
from portkey_vk.cache import BackendError, BackendKey, BackendScope, RedisBackend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(
    *,
    base_url: str,
    api_key: str,
    redis_url: str,
    slugs: Sequence[str],
    start_at: float,
    concurrency: int = 64,
    duration: float = 0.0,
    interval: float = 0.05,
    ttl: float = 30.0,
    stale_if_error: float = 0.0,
    timeout: float = 10.0,
    backend_timeout: float = 0.5,
    write: str | None = None,
    max_retries: int = 0,
    barrier: str | None = None,
) -> dict[str, Any]:
    """One worker's orders.

    Without ``duration``: read every slug of ``slugs`` once, ``concurrency`` at a time. With it:
    read the slugs in turn every ``interval`` seconds for ``duration`` seconds, recording each
    answer's ``name`` (the write proof watches it change). ``write``: first rename that slug.
    ``barrier``: a directory; the worker says it is ready there and starts when :func:`go`
    says so, instead of at ``start_at`` (process start-up on a loaded machine takes seconds).
    """
    return {
        "base_url": base_url,
        "api_key": api_key,
        "redis_url": redis_url,
        "slugs": list(slugs),
        "start_at": start_at,
        "concurrency": concurrency,
        "duration": duration,
        "interval": interval,
        "ttl": ttl,
        "stale_if_error": stale_if_error,
        "timeout": timeout,
        "backend_timeout": backend_timeout,
        "write": write,
        "max_retries": max_retries,
        "barrier": barrier,
    }


def start_fleet(specs: Sequence[dict[str, Any]]) -> list[subprocess.Popen[str]]:
    """Spawn one worker process per spec."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fleet", json.dumps(s)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in specs
    ]


class Fleet:
    """``size`` worker processes started once, each serving one order at a time."""

    def __init__(self, size: int) -> None:
        env = {**os.environ, "PYTHONPATH": ROOT}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.fleet", "--serve"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(size)
        ]
        self._lines: list[queue.Queue[str]] = []
        self._errors: list[list[str]] = []
        self._threads: list[threading.Thread] = []
        for proc in self.procs:
            lines: queue.Queue[str] = queue.Queue()
            errors: list[str] = []
            assert proc.stdout is not None
            assert proc.stderr is not None
            for stream, put in ((proc.stdout, lines.put), (proc.stderr, errors.append)):
                thread = threading.Thread(target=_drain, args=(stream, put), daemon=True)
                thread.start()
                self._threads.append(thread)
            self._lines.append(lines)
            self._errors.append(errors)

    def send(self, specs: Sequence[dict[str, Any]], first: int = 0) -> Orders:
        """Hand ``specs`` to workers ``first``, ``first + 1``...; their results come later."""
        chosen = list(range(first, first + len(specs)))
        for index, s in zip(chosen, specs, strict=True):
            stdin = self.procs[index].stdin
            assert stdin is not None
            stdin.write(json.dumps(s) + "\n")
            stdin.flush()
        return Orders(self, chosen)

    def run(self, specs: Sequence[dict[str, Any]], timeout: float = 60.0) -> list[dict[str, Any]]:
        """:meth:`send`, then the results."""
        return self.send(specs).results(timeout)

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(5)
        for proc in self.procs:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


class Orders:
    """Orders handed to some of a :class:`Fleet`'s workers."""

    def __init__(self, fleet: Fleet, workers: list[int]) -> None:
        self.fleet = fleet
        self.workers = workers

    def results(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Each worker's result; a worker that failed (or fell silent) fails the test."""
        out = []
        deadline = time.monotonic() + timeout
        for index in self.workers:
            proc = self.fleet.procs[index]
            try:
                line = self.fleet._lines[index].get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"worker {index} gave no result: {''.join(self.fleet._errors[index])[-3000:]}"
                ) from None
            result = json.loads(line)
            assert "error" not in result, (result["error"], proc.poll())
            out.append(result)
        return out


def _drain(stream: Any, put: Any) -> None:
    for line in stream:
        put(line)


def go(barrier: str, workers: int, timeout: float = 60.0) -> float:
    """Once ``workers`` are ready at ``barrier``, start them all; returns when (``time.time``)."""
    deadline = time.monotonic() + timeout
    while len(list(Path(barrier).glob("ready-*"))) < workers:
        assert time.monotonic() < deadline, "the fleet did not get ready"
        time.sleep(0.01)
    Path(barrier, "go").touch()
    return time.time()


def results(procs: Sequence[subprocess.Popen[str]], timeout: float = 60.0) -> list[dict[str, Any]]:
    """Each worker's result, once all have exited; a worker that failed fails the test."""
    out = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        assert proc.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


async def _work(s: dict[str, Any]) -> dict[str, Any]:
    backend = RedisBackend(s["redis_url"], timeout=s["backend_timeout"])
    cache = Cache(ttl=s["ttl"], stale_if_error=s["stale_if_error"], backend=backend)
    failed: list[str] = []
    seen: list[tuple[float, str, str]] = []
    async with AsyncPortkey(
        api_key=s["api_key"],
        base_url=s["base_url"],
        cache=cache,
        timeout=s["timeout"],
        max_retries=s["max_retries"],
    ) as client:

        async def read(slug: str) -> None:
            try:
                vk = await client.virtual_keys.retrieve(slug=slug)
            except APIError as exc:
                failed.append(f"{slug}: {type(exc).__name__}")
            else:
                seen.append((time.time(), slug, str(vk.name)))

        # Connect before the start, so that the burst measures the cache, not process start-up.
        with contextlib.suppress(BackendError):
            await backend.get(backend_probe())
        if s["barrier"] is not None:
            Path(s["barrier"], f"ready-{os.getpid()}").touch()
            while not Path(s["barrier"], "go").exists():
                await asyncio.sleep(0.01)
        else:
            await asyncio.sleep(max(0.0, s["start_at"] - time.time()))
        began = time.time()
        if s["write"] is not None:
            await client.virtual_keys.update(slug=s["write"], name=f"renamed-{os.getpid()}")
        wrote = time.time()
        if s["duration"]:
            end = time.monotonic() + s["duration"]
            while time.monotonic() < end:
                for slug in s["slugs"]:
                    await read(slug)
                await asyncio.sleep(s["interval"])
        else:
            slugs = s["slugs"]
            for i in range(0, len(slugs), s["concurrency"]):
                await asyncio.gather(*(read(slug) for slug in slugs[i : i + s["concurrency"]]))
        stats = cache.stats
    await backend.aclose()
    return {
        "pid": os.getpid(),
        "began": began,
        "wrote": wrote,
        "failed": failed,
        "seen": seen,
        "stats": {
            "hits": stats.hits,
            "misses": stats.misses,
            "coalesced": stats.coalesced,
            "stale_served": stats.stale_served,
            "backend_hits": stats.backend_hits,
            "backend_errors": stats.backend_errors,
            "rejected": stats.rejected,
        },
    }


def backend_probe() -> BackendKey:
    """A key nobody writes: reading it opens the worker's Redis connection early."""
    return BackendScope.derive("probe", "probe").key(("probe",))


def _serve() -> None:
    """Serve orders from stdin, one JSON line each, until it closes."""
    for line in sys.stdin:
        try:
            result = asyncio.run(_work(json.loads(line)))
        except Exception as exc:
            result = {"error": f"worker failed: {type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)


def _main() -> None:
    if sys.argv[1] == "--serve":
        _serve()
        return
    orders = json.loads(sys.argv[1])
    try:
        result = asyncio.run(_work(orders))
    except Exception as exc:
        print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    _main()
