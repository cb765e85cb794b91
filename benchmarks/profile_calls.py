"""Profile where a client spends its time per call, against the benchmark server.

    python benchmarks/profile_calls.py portkey_vk --concurrency 64           # cProfile, top 30
    python benchmarks/profile_calls.py aiohttp --tool pyinstrument            # call tree
    python benchmarks/profile_calls.py portkey_vk_sync -n 3000

Compare a portkey_vk profile with the ``aiohttp`` one: what portkey_vk adds is the difference.
"""

# Imports inside functions are deliberate: each client's library is loaded only when it is
# measured, so that no row pays for (or profits from) another's imports.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    Server,
    portkey_vk_async,
    portkey_vk_sync,
    raw_aiohttp,
    raw_httpx_sync,
)

RUNNERS: dict[str, Any] = {
    "aiohttp": raw_aiohttp,
    "portkey_vk": portkey_vk_async,
    "portkey_vk_sync": portkey_vk_sync,
    "httpx": raw_httpx_sync,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=sorted(RUNNERS))
    parser.add_argument("-n", "--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--tool", choices=["cprofile", "pyinstrument"], default="cprofile")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--limit", type=int, default=30)
    args = parser.parse_args()
    runner = RUNNERS[args.client]
    server = Server()
    try:
        runner(server, 300, 50, args.concurrency)  # warm imports and connections
        if args.tool == "cprofile":
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            seconds = runner(server, args.requests, 0, args.concurrency)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.limit)
        else:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            seconds = runner(server, args.requests, 0, args.concurrency)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"{args.requests / seconds:,.0f} req/s under the profiler ({args.client})")
    finally:
        server.stop()
        asyncio.set_event_loop_policy(None)


if __name__ == "__main__":
    main()
