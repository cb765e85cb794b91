"""Benchmark portkey_vk against its ceiling (raw aiohttp) and its peers, on loopback.

    python benchmarks/run.py            # the default run, about 2-3 minutes
    python benchmarks/run.py --quick    # a smoke run, well under a minute

It also times listing 5,000 keys (page_size=100) from a server that adds 50 ms to every answer,
async and sync, against one page at a time (issue 10's target: <= 1.0 s; ``--skip-listing``).

And it times, per answer, the secret scrub against the JSON decode of the same body, for plain
bodies and real-looking ones (non-ASCII names, notes with newlines, ``&`` and ``%``), one key
and a 100-key page (``benchmarks/scrub.py``; ``--skip-scrub``, ``--old-scrub PATH`` to time
another ``_scrub.py`` beside this one).

And the fleet row (``benchmarks/fleet.py``; ``--skip-fleet``): 8 processes sharing a cache on a
real redis-server, against a control plane that adds 20 ms: control-plane requests per 10,000
reads, a shared hit against an uncached call, and the in-process hit path with a backend.

Every client reads the same virtual key from the same local server (``benchmarks/server.py``, a
separate process that answers from a pre-rendered response and reports its own CPU). The clients
are interleaved in rounds, in a rotating order, so that noise from a shared machine falls on all
of them alike; each row reports the median over rounds, the min-max, and the median of its
per-round ratios to raw aiohttp in the same mode. Absolute numbers drift from run to run; the
ratios are what to compare.

Results are printed as a table and written as JSON to ``benchmarks/results/<time>.json`` and
``benchmarks/results/latest.json`` (or ``--json PATH``).
"""

# Imports inside functions are deliberate: each client's library is loaded only when it is
# measured, so that no row pays for (or profits from) another's imports.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
API_KEY = "pk-bench-0123456789abcdef"
SLUG = "openai-prod-1"
HEADERS = {"x-portkey-api-key": API_KEY, "Accept": "application/json"}

# -- the server ---------------------------------------------------------------------------------


class Server:
    """``benchmarks/server.py`` in a child process; stopped by closing its stdin."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/v1"
        self.url = f"{self.base_url}/virtual-keys/{SLUG}"

    def stats(self) -> dict[str, float]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/__stats")
            data: dict[str, float] = json.loads(conn.getresponse().read())
            return data
        finally:
            conn.close()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the clients --------------------------------------------------------------------------------
# Each runner makes `warmup` untimed calls, then times `n` calls and returns the seconds taken.
# The client process's CPU seconds over the same span land in `_clock.cpu`: on a shared machine
# wall time swings with the neighbours' load, CPU per call much less, so both are reported.


class _Clock:
    def __init__(self) -> None:
        self.cpu = 0.0
        self._wall = self._cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> float:
        wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return wall


_clock = _Clock()


async def _drive(call: Callable[[], Any], n: int, warmup: int, concurrency: int) -> float:
    for _ in range(warmup):
        await call()
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    _clock.start()
    if concurrency == 1:
        for _ in range(n):
            await call()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _clock.stop()


def _drive_sync(call: Callable[[], Any], n: int, warmup: int, threads: int) -> float:
    for _ in range(warmup):
        call()
    if threads == 1:
        _clock.start()
        for _ in range(n):
            call()
        return _clock.stop()

    def work(count: int) -> None:
        for _ in range(count):
            call()

    shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        _clock.start()
        list(pool.map(work, shares))
        return _clock.stop()


def raw_aiohttp(server: Server, n: int, warmup: int, concurrency: int) -> float:
    import aiohttp

    async def main() -> float:
        async with aiohttp.ClientSession() as session:

            async def call() -> Any:
                async with session.get(server.url, headers=HEADERS) as resp:
                    body = await resp.read()
                return json.loads(body)

            return await _drive(call, n, warmup, concurrency)

    return asyncio.run(main())


def portkey_vk_async(server: Server, n: int, warmup: int, concurrency: int) -> float:
    from portkey_vk import AsyncPortkey

    async def main() -> float:
        async with AsyncPortkey(api_key=API_KEY, base_url=server.base_url) as client:
            retrieve = client.virtual_keys.retrieve
            return await _drive(lambda: retrieve(slug=SLUG), n, warmup, concurrency)

    return asyncio.run(main())


def portkey_vk_sync(server: Server, n: int, warmup: int, threads: int) -> float:
    from portkey_vk import Portkey  # type: ignore[attr-defined]

    with Portkey(api_key=API_KEY, base_url=server.base_url) as client:
        retrieve = client.virtual_keys.retrieve
        return _drive_sync(lambda: retrieve(slug=SLUG), n, warmup, threads)


def raw_httpx_sync(server: Server, n: int, warmup: int, threads: int) -> float:
    import httpx

    with httpx.Client(headers=HEADERS) as client:
        return _drive_sync(lambda: json.loads(client.get(server.url).content), n, warmup, threads)


def official_sync(server: Server, n: int, warmup: int, threads: int) -> float:
    from portkey_ai import Portkey as OfficialPortkey

    client = OfficialPortkey(api_key=API_KEY, base_url=server.base_url)
    try:
        retrieve = client.virtual_keys.retrieve
        return _drive_sync(lambda: retrieve(slug=SLUG), n, warmup, threads)
    finally:
        client.close()


def official_async(server: Server, n: int, warmup: int, concurrency: int) -> float:
    from portkey_ai import AsyncPortkey as OfficialAsyncPortkey

    async def main() -> float:
        client = OfficialAsyncPortkey(api_key=API_KEY, base_url=server.base_url)
        try:
            retrieve = client.virtual_keys.retrieve
            return await _drive(lambda: retrieve(slug=SLUG), n, warmup, concurrency)
        finally:
            await client.close()

    return asyncio.run(main())


@dataclass
class Case:
    """One row of the table: a client in one mode, and the raw aiohttp row it is judged by."""

    key: str
    label: str
    runner: Callable[[Server, int, int, int], float]
    parallel: int
    reference: str
    n_scale: float = 1.0
    seconds: list[float] = field(default_factory=list)
    server_busy: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _has_sync_facade() -> bool:
    import portkey_vk

    return hasattr(portkey_vk, "Portkey")


def build_cases(concurrency: int, threads: int, only: set[str] | None) -> list[Case]:
    seq, conc = "aiohttp_seq", "aiohttp_conc"
    cases = [
        Case(seq, "raw aiohttp (ceiling)", raw_aiohttp, 1, seq),
        Case(
            conc, f"raw aiohttp (ceiling), {concurrency} concurrent", raw_aiohttp, concurrency, conc
        ),
        Case("pvk_async_seq", "portkey_vk async", portkey_vk_async, 1, seq),
        Case(
            "pvk_async_conc",
            f"portkey_vk async, {concurrency} concurrent",
            portkey_vk_async,
            concurrency,
            conc,
        ),
    ]
    if _has_sync_facade():
        cases += [
            Case("pvk_sync_seq", "portkey_vk sync", portkey_vk_sync, 1, seq),
            Case(
                "pvk_sync_threads",
                f"portkey_vk sync, {threads} threads",
                portkey_vk_sync,
                threads,
                seq,
            ),
        ]
    if _has("httpx"):
        cases.append(Case("httpx_sync_seq", "raw httpx sync", raw_httpx_sync, 1, seq))
    if _has("portkey_ai"):
        # The official SDK is slow enough that a full N would dominate the run; its rate is what
        # matters, and a third of the calls measures it as well.
        cases += [
            Case(
                "official_sync_seq",
                "portkey-ai sync (official)",
                official_sync,
                1,
                seq,
                n_scale=1 / 3,
            ),
            Case(
                "official_async_seq",
                "portkey-ai async (official)",
                official_async,
                1,
                seq,
                n_scale=1 / 3,
            ),
            Case(
                "official_async_conc",
                f"portkey-ai async (official), {concurrency} concurrent",
                official_async,
                concurrency,
                conc,
                n_scale=1 / 3,
            ),
        ]
    if only:
        cases = [c for c in cases if c.key in only or c.key in (seq, conc)]
    return cases


def run_rounds(server: Server, cases: list[Case], n: int, rounds: int) -> None:
    for round_no in range(rounds):
        # Rotate the order so that no client always runs first (cold caches) or last.
        shift = round_no % len(cases)
        for case in cases[shift:] + cases[:shift]:
            count = max(50, int(n * case.n_scale))
            warmup = max(20, count // 10)
            before = server.stats()
            seconds = case.runner(server, count, warmup, case.parallel)
            after = server.stats()
            # The server's CPU covers warm-up and setup too, so it overstates its share a little.
            cpu = after["cpu"] - before["cpu"]
            wall = seconds * (count + warmup) / count
            case.seconds.append(seconds)
            case.rates.append(count / seconds)
            case.cpu_us.append(_clock.cpu / count * 1e6)
            case.server_busy.append(cpu / wall if wall else 0.0)
        line = "  ".join(f"{c.key}={c.rates[-1]:,.0f}" for c in cases)
        print(f"  round {round_no + 1}/{rounds}: {line}", flush=True)


# -- the cache (issue 12) -----------------------------------------------------------------------
# Cache hits against an uncached call of the same client library, in the same process and round:
# a hit is a few microseconds, so hit rows time many more calls than the network rows do.


def _cache_async(server: Server, n: int, cached: bool) -> float:
    from portkey_vk import AsyncPortkey, Cache

    async def main() -> float:
        cache = Cache(ttl=3600.0) if cached else None
        async with AsyncPortkey(api_key=API_KEY, base_url=server.base_url, cache=cache) as client:
            retrieve = client.virtual_keys.retrieve
            return await _drive(lambda: retrieve(slug=SLUG), n, max(20, n // 10), 1)

    return asyncio.run(main())


def _cache_sync(server: Server, n: int, cached: bool) -> float:
    from portkey_vk import Cache, Portkey  # type: ignore[attr-defined]

    cache = Cache(ttl=3600.0) if cached else None
    with Portkey(api_key=API_KEY, base_url=server.base_url, cache=cache) as client:
        retrieve = client.virtual_keys.retrieve
        return _drive_sync(lambda: retrieve(slug=SLUG), n, max(20, n // 10), 1)


def _single_flight(server: Server, concurrency: int) -> int:
    """Requests on the wire for ``concurrency`` simultaneous reads of one uncached slug."""
    from portkey_vk import AsyncPortkey, Cache

    async def main() -> None:
        async with AsyncPortkey(
            api_key=API_KEY, base_url=server.base_url, cache=Cache(ttl=30.0)
        ) as client:
            await asyncio.gather(
                *(client.virtual_keys.retrieve(slug=SLUG) for _ in range(concurrency))
            )

    before = server.stats()["requests"]
    asyncio.run(main())
    # Each stats answer counts the stats request itself: the second one is not a read.
    return int(server.stats()["requests"] - before) - 1


def measure_cache(server: Server, n: int, rounds: int, concurrency: int) -> dict[str, Any]:
    hit_n = n * 25
    runners: dict[str, Callable[[], float]] = {
        "async_uncached": lambda: _cache_async(server, n, cached=False),
        "async_hit": lambda: _cache_async(server, hit_n, cached=True),
    }
    counts = {"async_uncached": n, "async_hit": hit_n}
    if _has_sync_facade():
        runners["sync_uncached"] = lambda: _cache_sync(server, n, cached=False)
        runners["sync_hit"] = lambda: _cache_sync(server, hit_n, cached=True)
        counts.update(sync_uncached=n, sync_hit=hit_n)
    rates: dict[str, list[float]] = {key: [] for key in runners}
    for round_no in range(rounds):
        keys = list(runners)
        shift = round_no % len(keys)
        for key in keys[shift:] + keys[:shift]:
            rates[key].append(counts[key] / runners[key]())
        print(
            f"  cache round {round_no + 1}/{rounds}: "
            + "  ".join(f"{k}={v[-1]:,.0f}" for k, v in rates.items()),
            flush=True,
        )
    out: dict[str, Any] = {"hit_n": hit_n, "n": n, "rates": rates}
    for surface in ("async", "sync"):
        if f"{surface}_hit" not in rates:
            continue
        hits, misses = rates[f"{surface}_hit"], rates[f"{surface}_uncached"]
        out[surface] = {
            "hit_req_per_s": statistics.median(hits),
            "uncached_req_per_s": statistics.median(misses),
            # Paired per round, like every other ratio here.
            "ratio": statistics.median(a / b for a, b in zip(hits, misses, strict=True)),
        }
    out["single_flight"] = {
        "concurrency": concurrency,
        "requests": _single_flight(server, concurrency),
    }
    return out


# -- import time, memory, structuring -----------------------------------------------------------


def _probe(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "probe.py"), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _compile_bytecode(modules: list[str]) -> None:
    """Write the ``.pyc`` files a user's ``pip install`` writes, for every installed package.

    uv installs without compiling, and with ``PYTHONDONTWRITEBYTECODE`` set (as on our CI
    machines) no import ever writes them: every timed import would then compile each module
    from source, measuring the compiler (2-3x the real cost, and more for the library with more
    source) rather than what a user waits for. The measured packages' own folders are compiled
    too, for an editable install whose source lives outside site-packages.
    """
    import compileall
    import importlib.util
    import sysconfig

    folders = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    for module in modules:
        spec = importlib.util.find_spec(module)
        folders.update(spec.submodule_search_locations or () if spec else ())
    for folder in sorted(folders):
        compileall.compile_dir(folder, quiet=2, workers=0)


def measure_imports(reps: int) -> dict[str, dict[str, Any]]:
    modules = ["-", "aiohttp", "portkey_vk", "httpx", "portkey_ai"]
    modules = [m for m in modules if m == "-" or _has(m)]
    _compile_bytecode([m for m in modules if m != "-"])
    samples: dict[str, list[dict[str, float]]] = {m: [] for m in modules}
    for _ in range(reps):
        for module in modules:  # interleaved, like the throughput rounds
            samples[module].append(_probe("import", module))
    out: dict[str, dict[str, Any]] = {}
    for module, runs in samples.items():
        secs = [r["seconds"] for r in runs]
        row = {
            "import_ms_median": statistics.median(secs) * 1e3,
            "import_ms_min": min(secs) * 1e3,
            "import_ms_max": max(secs) * 1e3,
            "rss_mb_median": statistics.median(r["rss_mb"] for r in runs),
            "import_ms": [x * 1e3 for x in secs],
        }
        if module not in ("-", "aiohttp") and "aiohttp" in samples:
            # Paired with the aiohttp import of the same repetition, like the throughput ratios:
            # a neighbour's burst of load then slows both sides of a ratio, not one.
            ref = [r["seconds"] for r in samples["aiohttp"]]
            row["ratio_to_aiohttp"] = statistics.median(
                a / b for a, b in zip(secs, ref, strict=True)
            )
        out["python" if module == "-" else module] = row
    return out


def measure_rss_after_calls(server: Server, calls: int) -> dict[str, float]:
    clients = ["aiohttp", "portkey_vk"]
    if _has_sync_facade():
        clients.append("portkey_vk_sync")
    return {c: _probe("calls", c, server.base_url, str(calls))["rss_mb"] for c in clients}


def measure_structure() -> dict[str, float]:
    from server import VIRTUAL_KEY  # benchmarks/ is on sys.path: main() put it there

    from portkey_vk import VirtualKey

    body = json.dumps(VIRTUAL_KEY).encode()
    number = 2000
    best_structure = min(
        timeit.repeat(lambda: VirtualKey.from_dict(VIRTUAL_KEY), number=number, repeat=7)
    )
    best_loads = min(timeit.repeat(lambda: json.loads(body), number=number, repeat=7))
    return {
        "structure_us": best_structure / number * 1e6,
        "json_loads_us": best_loads / number * 1e6,
    }


# -- listing ------------------------------------------------------------------------------------
# Issue 10's target: every key of a 5,000-key list at page_size=100 from a server that adds 50 ms
# to each answer, in at most 1 s. One page at a time would take 50 x 50 ms = 2.5 s at least; the
# paginator fetches up to 4 pages ahead once the first page gives the total.

LIST_KEYS = 5000
LIST_PAGE_SIZE = 100
LIST_DELAY = 0.05
LIST_TARGET_S = 1.0


def list_async(base_url: str) -> tuple[float, int]:
    from portkey_vk import AsyncPortkey

    async def main() -> tuple[float, int]:
        async with AsyncPortkey(api_key=API_KEY, base_url=base_url) as client:
            await client.virtual_keys.list(page_size=LIST_PAGE_SIZE)  # warm-up, untimed
            started = time.perf_counter()
            count = 0
            async for _ in client.virtual_keys.list(page_size=LIST_PAGE_SIZE):
                count += 1
            return time.perf_counter() - started, count

    return asyncio.run(main())


def list_sync(base_url: str) -> tuple[float, int]:
    from portkey_vk import Portkey  # type: ignore[attr-defined]

    with Portkey(api_key=API_KEY, base_url=base_url) as client:
        client.virtual_keys.list(page_size=LIST_PAGE_SIZE)  # warm-up, untimed
        started = time.perf_counter()
        count = sum(1 for _ in client.virtual_keys.list(page_size=LIST_PAGE_SIZE))
        return time.perf_counter() - started, count


def list_one_page_at_a_time(base_url: str) -> tuple[float, int]:
    """The reference: each page asked for only after the previous one arrived."""
    from portkey_vk import AsyncPortkey

    async def main() -> tuple[float, int]:
        async with AsyncPortkey(api_key=API_KEY, base_url=base_url) as client:
            await client.virtual_keys.list(page_size=LIST_PAGE_SIZE)  # warm-up, untimed
            started = time.perf_counter()
            page = await client.virtual_keys.list(page_size=LIST_PAGE_SIZE)
            count = len(page.data)
            while page.has_next_page():
                page = await page.get_next_page()
                count += len(page.data)
            return time.perf_counter() - started, count

    return asyncio.run(main())


def measure_listing(rounds: int) -> dict[str, Any]:
    """Full iteration of the list, async and sync, against a server adding LIST_DELAY.

    Each run uses a fresh client that first reads one page, untimed (as every throughput row
    warms up): the timed part is the iteration, not the import of the model code or the
    first TCP connection.
    """
    server = Server("--list", str(LIST_KEYS), "--delay", str(LIST_DELAY))
    runners: dict[str, Callable[[str], tuple[float, int]]] = {
        "async": list_async,
        "one_page_at_a_time": list_one_page_at_a_time,
    }
    if _has_sync_facade():
        runners["sync"] = list_sync
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for round_no in range(rounds):
            for name, runner in runners.items():
                elapsed, count = runner(server.base_url)
                if count != LIST_KEYS:
                    raise RuntimeError(f"listing {name}: {count} keys, expected {LIST_KEYS}")
                seconds[name].append(elapsed)
            line = "  ".join(f"{name}={seconds[name][-1]:.3f}s" for name in runners)
            print(f"  listing round {round_no + 1}/{rounds}: {line}", flush=True)
    finally:
        server.stop()
    return {
        "keys": LIST_KEYS,
        "page_size": LIST_PAGE_SIZE,
        "delay_s": LIST_DELAY,
        "rows": {
            name: {
                "seconds_median": statistics.median(values),
                "seconds_min": min(values),
                "seconds_max": max(values),
                "seconds": values,
            }
            for name, values in seconds.items()
        },
    }


# -- report -------------------------------------------------------------------------------------


def summarise(cases: list[Case]) -> list[dict[str, Any]]:
    by_key = {c.key: c for c in cases}
    rows = []
    for case in cases:
        ref = by_key[case.reference]
        ratios = [mine / theirs for mine, theirs in zip(case.rates, ref.rates, strict=True)]
        # Inverted, so that like the rate ratio, 1.00 means "as cheap as raw aiohttp".
        cpu_ratios = [theirs / mine for mine, theirs in zip(case.cpu_us, ref.cpu_us, strict=True)]
        rows.append(
            {
                "key": case.key,
                "client": case.label,
                "parallel": case.parallel,
                "reference": case.reference,
                "req_per_s_median": statistics.median(case.rates),
                "req_per_s_min": min(case.rates),
                "req_per_s_max": max(case.rates),
                "ratio_to_reference": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "server_cpu_share": statistics.median(case.server_busy),
                "client_cpu_us_per_call": statistics.median(case.cpu_us),
                "cpu_ratio_to_reference": statistics.median(cpu_ratios),
                "rates": case.rates,
                "cpu_us": case.cpu_us,
            }
        )
    return rows


def _ratio(results: dict[str, Any], key: str) -> float | None:
    for row in results["throughput"]:
        if row["key"] == key:
            return float(row["ratio_to_reference"])
    return None


def _median_rate(results: dict[str, Any], key: str) -> float | None:
    for row in results["throughput"]:
        if row["key"] == key:
            return float(row["req_per_s_median"])
    return None


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issues 6, 10, 12 and 18, judged on this run's ratios and figures."""
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, ok: Callable[[float], bool], goal: str) -> None:
        targets.append(
            {
                "target": name,
                "goal": goal,
                "value": value,
                "met": None if value is None else ok(value),
            }
        )

    add(
        "portkey_vk async sequential / raw aiohttp",
        _ratio(results, "pvk_async_seq"),
        lambda v: v >= 0.90,
        ">= 0.90x",
    )
    add(
        "portkey_vk async concurrent / raw aiohttp concurrent",
        _ratio(results, "pvk_async_conc"),
        lambda v: v >= 0.90,
        ">= 0.90x",
    )
    add(
        "portkey_vk sync sequential / raw aiohttp",
        _ratio(results, "pvk_sync_seq"),
        lambda v: v >= 0.60,
        ">= 0.60x",
    )
    sync_rate = _median_rate(results, "pvk_sync_seq")
    httpx_rate = _median_rate(results, "httpx_sync_seq")
    sync_vs_httpx = None
    if sync_rate and httpx_rate:
        # Paired per round, like every other ratio here.
        mine = next(r for r in results["throughput"] if r["key"] == "pvk_sync_seq")["rates"]
        theirs = next(r for r in results["throughput"] if r["key"] == "httpx_sync_seq")["rates"]
        sync_vs_httpx = statistics.median(a / b for a, b in zip(mine, theirs, strict=True))
    add("portkey_vk sync sequential / raw httpx sync", sync_vs_httpx, lambda v: v > 1.0, "> 1.00x")
    imports = results.get("imports") or {}
    if "portkey_vk" in imports and "aiohttp" in imports:
        pvk, aio = imports["portkey_vk"], imports["aiohttp"]
        add(
            "import portkey_vk / import aiohttp",
            pvk["ratio_to_aiohttp"],
            lambda v: v <= 1.15,
            "<= 1.15x",
        )
        add(
            "RSS after import: portkey_vk - aiohttp (MB)",
            pvk["rss_mb_median"] - aio["rss_mb_median"],
            lambda v: v <= 5.0,
            "<= +5 MB",
        )
    cache = results.get("cache") or {}
    for surface in ("async", "sync"):
        if surface in cache:
            add(
                f"cache hit / uncached call, {surface} (issue 12)",
                cache[surface]["ratio"],
                lambda v: v >= 20.0,
                ">= 20x",
            )
    if "single_flight" in cache:
        flight = cache["single_flight"]
        add(
            f"requests for {flight['concurrency']} concurrent reads of one uncached slug "
            "(issue 12)",
            flight["requests"],
            lambda v: v == 1,
            "= 1",
        )
    listing = results.get("listing")
    if listing:
        for name in ("async", "sync"):
            row = listing["rows"].get(name)
            add(
                f"list {listing['keys']:,} keys at page_size={listing['page_size']}, "
                f"+{listing['delay_s'] * 1e3:.0f} ms per page, {name} (s)",
                None if row is None else row["seconds_median"],
                lambda v: v <= LIST_TARGET_S,
                f"<= {LIST_TARGET_S:.1f} s",
            )
    fleet = results.get("fleet")
    if fleet is not None:
        measured = "skipped" not in fleet
        add(
            "fleet: control-plane requests per 10,000 reads of 10 keys within a ttl (issue 18)",
            fleet["requests_per_10k_reads"] if measured else None,
            lambda v: v <= 10,
            "<= 10 (one per key per ttl)",
        )
        add(
            "fleet: uncached call (+20 ms) / shared hit (issue 18)",
            fleet["shared_hit_ratio"] if measured else None,
            lambda v: v >= 10.0,
            ">= 10x",
        )
        add(
            "fleet: uncached call / in-process hit with a backend (issue 18)",
            fleet["in_process_hit_ratio"] if measured else None,
            lambda v: v >= 20.0,
            ">= 20x",
        )
    official = _median_rate(results, "official_async_conc")
    mine_conc = _median_rate(results, "pvk_async_conc")
    if official and mine_conc:
        add(
            "portkey_vk async concurrent / official async concurrent",
            mine_conc / official,
            lambda v: v >= 10.0,
            ">= 10x",
        )
    return targets


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"portkey_vk benchmark: N={meta['n']} per client per round, {meta['rounds']} rounds, "
        f"Python {meta['python']}, {meta['cpus']} CPUs ({meta['cpu_model']}), "
        f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}",
        "",
        "| client | req/s (median) | min-max | ratio to raw aiohttp (median, min-max) "
        "| client CPU/call | CPU ratio | server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["throughput"]:
        ref = "concurrent" if row["reference"] == "aiohttp_conc" else "sequential"
        lines.append(
            f"| {row['client']} | {row['req_per_s_median']:,.0f} | "
            f"{row['req_per_s_min']:,.0f}-{row['req_per_s_max']:,.0f} | "
            f"{row['ratio_to_reference']:.2f}x ({row['ratio_min']:.2f}-{row['ratio_max']:.2f}) "
            f"vs {ref} | {row['client_cpu_us_per_call']:.0f} us | "
            f"{row['cpu_ratio_to_reference']:.2f}x | {row['server_cpu_share']:.0%} |"
        )
    lines += [
        "",
        "Ratios are medians of per-round ratios to the raw aiohttp row of the same round and mode "
        "(sequential or concurrent). CPU ratio: raw aiohttp's client CPU per call divided by "
        "this row's (1.00 = as cheap), less sensitive to a busy machine than req/s. Server CPU: "
        "the benchmark server's share of one core while the row ran.",
    ]
    imports = results.get("imports")
    if imports:
        lines += [
            "",
            "| import (fresh process, from compiled bytecode as after `pip install`) "
            "| ms (median) | min-max | ratio to aiohttp (median) "
            "| RSS after |",
            "|---|---:|---:|---:|---:|",
        ]
        for module, row in imports.items():
            ratio = f"{row['ratio_to_aiohttp']:.2f}x" if "ratio_to_aiohttp" in row else ""
            if module == "aiohttp":
                ratio = "1.00x"
            name = "(interpreter only)" if module == "python" else f"import {module}"
            lines.append(
                f"| {name} | {row['import_ms_median']:.1f} | {row['import_ms_min']:.1f}-"
                f"{row['import_ms_max']:.1f} | {ratio} | {row['rss_mb_median']:.1f} MB |"
            )
    rss = results.get("rss_after_calls")
    if rss:
        lines += [
            "",
            f"RSS after {meta['rss_calls']:,} sequential calls: "
            + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()),
        ]
    structure = results.get("structure")
    if structure:
        lines.append(
            f"Structuring one VirtualKey: {structure['structure_us']:.1f} us "
            f"(json.loads of its body: {structure['json_loads_us']:.1f} us)"
        )
    cache = results.get("cache")
    if cache:
        lines += [
            "",
            "| cache (issue 12) | cache hits/s (median) | uncached calls/s (median) "
            "| hit / uncached (median of rounds) |",
            "|---|---:|---:|---:|",
        ]
        for surface in ("async", "sync"):
            if surface in cache:
                row = cache[surface]
                lines.append(
                    f"| portkey_vk {surface}, sequential | {row['hit_req_per_s']:,.0f} | "
                    f"{row['uncached_req_per_s']:,.0f} | {row['ratio']:.1f}x |"
                )
        flight = cache["single_flight"]
        lines.append(
            f"Single flight: {flight['concurrency']} concurrent reads of one uncached slug sent "
            f"{flight['requests']} request(s)."
        )
    lines.append(
        f"Server CPU over the whole run: {results['server_cpu_s']:.1f} s "
        f"for {results['server_requests']:,} requests"
    )
    listing = results.get("listing")
    if listing:
        lines += [
            "",
            f"| listing {listing['keys']:,} keys, page_size={listing['page_size']}, "
            f"+{listing['delay_s'] * 1e3:.0f} ms per answer | s (median) | min-max |",
            "|---|---:|---:|",
        ]
        labels = {
            "async": "portkey_vk async, `async for` (fetch-ahead)",
            "sync": "portkey_vk sync, `for` (fetch-ahead)",
            "one_page_at_a_time": "one page at a time (`get_next_page()` loop)",
        }
        for name, row in listing["rows"].items():
            lines.append(
                f"| {labels.get(name, name)} | {row['seconds_median']:.3f} | "
                f"{row['seconds_min']:.3f}-{row['seconds_max']:.3f} |"
            )
    if results.get("scrub"):
        from scrub import render_scrub

        lines += ["", "Secret scrub vs JSON decode, per answer (fastest of 7 batches):", ""]
        lines += render_scrub(results["scrub"])
    if results.get("fleet"):
        from fleet import render_fleet

        lines += ["", *render_fleet(results["fleet"])]
    lines += [
        "",
        "| target (issues 6, 10, 12, 18) | goal | this run | met |",
        "|---|---|---:|---|",
    ]
    for target in results["targets"]:
        value = "n/a" if target["value"] is None else f"{target['value']:.2f}"
        met = {True: "yes", False: "NO", None: "not measured"}[target["met"]]
        lines.append(f"| {target['target']} | {target['goal']} | {value} | {met} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N and few rounds: a smoke run")
    parser.add_argument(
        "-n",
        "--requests",
        type=int,
        default=None,
        help="timed calls per client per round (default 2000; quick 400)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 7; quick 2")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--import-reps", type=int, default=None, help="default 11; quick 3")
    parser.add_argument("--rss-calls", type=int, default=1000)
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated row keys (raw aiohttp always runs), e.g. "
        "pvk_async_seq,pvk_async_conc",
    )
    parser.add_argument(
        "--skip-extras",
        action="store_true",
        help="throughput only: no import, RSS or structuring measurements",
    )
    parser.add_argument(
        "--skip-cache", action="store_true", help="no cache section (hits vs uncached calls)"
    )
    parser.add_argument(
        "--list-rounds", type=int, default=None, help="listing benchmark rounds; default 5, quick 2"
    )
    parser.add_argument(
        "--skip-listing", action="store_true", help="no listing benchmark (issue 10's target)"
    )
    parser.add_argument(
        "--skip-scrub", action="store_true", help="no scrub vs decode table (issue 16)"
    )
    parser.add_argument(
        "--skip-fleet", action="store_true", help="no fleet row (issue 18; needs a redis-server)"
    )
    parser.add_argument(
        "--old-scrub",
        type=Path,
        default=None,
        help="another _scrub.py to time beside this one, e.g. from `git show main:...`",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    n = args.requests or (400 if args.quick else 2000)
    rounds = args.rounds or (2 if args.quick else 7)
    import_reps = args.import_reps or (3 if args.quick else 11)
    only = set(args.only.split(",")) if args.only else None

    sys.path.insert(0, str(HERE))
    import portkey_vk

    meta = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "portkey_vk": portkey_vk.__version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "loadavg_start": _loadavg(),
        "n": n,
        "rounds": rounds,
        "concurrency": args.concurrency,
        "threads": args.threads,
        "rss_calls": args.rss_calls,
    }
    server = Server()
    results: dict[str, Any] = {"meta": meta}
    try:
        cases = build_cases(args.concurrency, args.threads, only)
        print(f"throughput: {len(cases)} rows x {rounds} rounds, N={n}", flush=True)
        start_stats = server.stats()
        run_rounds(server, cases, n, rounds)
        results["throughput"] = summarise(cases)
        if not args.skip_cache:
            print(f"cache: hits vs uncached calls, {rounds} rounds", flush=True)
            results["cache"] = measure_cache(server, n, rounds, args.concurrency)
        if not args.skip_extras:
            print(f"imports: {import_reps} fresh processes per module", flush=True)
            results["imports"] = measure_imports(import_reps)
            print(f"RSS after {args.rss_calls} calls", flush=True)
            results["rss_after_calls"] = measure_rss_after_calls(server, args.rss_calls)
            results["structure"] = measure_structure()
        end_stats = server.stats()
        results["server_cpu_s"] = end_stats["cpu"] - start_stats["cpu"]
        results["server_requests"] = int(end_stats["requests"] - start_stats["requests"])
    finally:
        server.stop()
    if not args.skip_listing:
        list_rounds = args.list_rounds or (2 if args.quick else 5)
        print(f"listing: {LIST_KEYS:,} keys x {list_rounds} rounds", flush=True)
        results["listing"] = measure_listing(list_rounds)
    if not args.skip_scrub:
        print("scrub vs decode, per answer", flush=True)
        from scrub import measure_scrub

        results["scrub"] = measure_scrub(0.05 if args.quick else 0.3, args.old_scrub)
    if not args.skip_fleet:
        print("fleet: 8 processes, one Redis, +20 ms control plane", flush=True)
        from fleet import measure_fleet

        results["fleet"] = measure_fleet(args.quick)
    meta["loadavg_end"] = _loadavg()
    results["targets"] = check_targets(results)
    table = render(results)
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stamp = meta["time"].replace(":", "").replace("+0000", "Z")
    paths = [RESULTS / f"{stamp}.json", RESULTS / "latest.json"]
    if args.json:
        paths.append(args.json)
    for path in paths:
        path.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(table + "\n")
    print(f"\nwritten: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
