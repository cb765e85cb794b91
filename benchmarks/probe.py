"""One measurement in a fresh interpreter, printed as a JSON line; run by ``benchmarks/run.py``.

``python benchmarks/probe.py import MODULE`` times ``import MODULE`` and reads the RSS after it;
``python benchmarks/probe.py calls CLIENT BASE_URL N`` imports CLIENT's library, makes N calls to
the benchmark server and reads the RSS after them. A fresh process per measurement is the only
way to see a cold import and a memory footprint that earlier measurements did not inflate.
"""

# Imports inside functions are deliberate: each client's library is loaded only when it is
# measured, so that no row pays for (or profits from) another's imports.
# ruff: noqa: PLC0415

from __future__ import annotations

# Only what the interpreter has already loaded: anything else would be paid before the timed
# import and make it look cheaper than it is for a user.
import sys
import time

API_KEY = "pk-bench-0123456789abcdef"
SLUG = "openai-prod-1"


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not on Windows, where /proc is missing too; then report peak RSS

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def probe_import(module: str) -> dict[str, float]:
    before = rss_mb()
    started = time.perf_counter()
    if module != "-":
        __import__(module)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rss_mb": rss_mb(), "rss_before_mb": before}


async def _aiohttp_calls(base_url: str, n: int) -> None:
    import json

    import aiohttp

    url = f"{base_url}/virtual-keys/{SLUG}"
    headers = {"x-portkey-api-key": API_KEY, "Accept": "application/json"}
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.get(url, headers=headers) as resp:
                json.loads(await resp.read())


async def _portkey_vk_calls(base_url: str, n: int) -> None:
    from portkey_vk import AsyncPortkey

    async with AsyncPortkey(api_key=API_KEY, base_url=base_url) as client:
        for _ in range(n):
            await client.virtual_keys.retrieve(slug=SLUG)


def _portkey_vk_sync_calls(base_url: str, n: int) -> None:
    from portkey_vk import Portkey  # type: ignore[attr-defined]

    with Portkey(api_key=API_KEY, base_url=base_url) as client:
        for _ in range(n):
            client.virtual_keys.retrieve(slug=SLUG)


def probe_calls(client: str, base_url: str, n: int) -> dict[str, float]:
    import asyncio

    started = time.perf_counter()
    if client == "aiohttp":
        asyncio.run(_aiohttp_calls(base_url, n))
    elif client == "portkey_vk":
        asyncio.run(_portkey_vk_calls(base_url, n))
    elif client == "portkey_vk_sync":
        _portkey_vk_sync_calls(base_url, n)
    else:
        raise SystemExit(f"unknown client {client!r}")
    return {"seconds": time.perf_counter() - started, "rss_mb": rss_mb()}


def main() -> None:
    kind = sys.argv[1]
    if kind == "import":
        result = probe_import(sys.argv[2])
    elif kind == "calls":
        result = probe_calls(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit("usage: probe.py import MODULE | calls CLIENT BASE_URL N")
    import json

    print(json.dumps(result))


if __name__ == "__main__":
    main()
