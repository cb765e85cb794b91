"""Client CPU instructions per call, counted by callgrind: an A/B that a busy machine cannot skew.

    python benchmarks/instructions.py                      # this checkout's portkey_vk
    python benchmarks/instructions.py --python OTHER/bin/python   # another install, same server

Requests per second on a shared 2-core machine swing by 2x between rounds; instructions do not.
Each client reads the benchmark server's virtual key (``benchmarks/server.py``, its own process,
not counted) ``--few`` and then ``--many`` times under ``valgrind --tool=callgrind``; the
difference of the two totals divided by the difference of the counts is what one call costs,
start-up and imports cancelled out. Raw aiohttp is the ceiling, measured the same way in the same
run, so the ratio holds across machines. Needs valgrind (Debian's ``valgrind`` package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLIENTS = {
    "aiohttp": """
import asyncio, aiohttp, json
async def main():
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for _ in range(N):
            async with session.get(URL) as response:
                json.loads(await response.read())
asyncio.run(main())
""",
    "portkey_vk async": """
import asyncio
from portkey_vk import AsyncPortkey
async def main():
    async with AsyncPortkey(api_key=API_KEY, base_url=BASE) as client:
        for _ in range(N):
            await client.virtual_keys.retrieve(slug=SLUG)
asyncio.run(main())
""",
    "portkey_vk sync": """
from portkey_vk import Portkey
with Portkey(api_key=API_KEY, base_url=BASE) as client:
    for _ in range(N):
        client.virtual_keys.retrieve(slug=SLUG)
""",
}


def count(python: str, code: str, n: int, port: int) -> int:
    prelude = (
        f"N = {n}\nAPI_KEY = 'pk-bench-0123456789abcdef'\nSLUG = 'openai-prod-1'\n"
        f"BASE = 'http://127.0.0.1:{port}/v1'\nURL = BASE + '/virtual-keys/' + SLUG\n"
        "HEADERS = {'x-portkey-api-key': API_KEY, 'Accept': 'application/json'}\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                # Every thread (the sync client's loop thread too), no per-call detail needed.
                "--dump-instr=no",
                python,
                "-c",
                prelude + code,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0", "PORTKEY_LOG": ""},
        )
        total = 0
        for path in Path(scratch).glob("callgrind.out*"):
            match = re.search(r"^summary:\s+(\d+)", path.read_text(), re.MULTILINE)
            if match:
                total += int(match.group(1))
        return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--many", type=int, default=600)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated clients besides aiohttp, e.g. 'portkey_vk sync'",
    )
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results = {}
        wanted = None if args.only is None else {"aiohttp", *args.only.split(",")}
        for name, code in CLIENTS.items():
            if wanted is not None and name not in wanted:
                continue
            few = count(args.python, code, args.few, port)
            many = count(args.python, code, args.many, port)
            results[name] = (many - few) / (args.many - args.few)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    ceiling = results["aiohttp"]
    print(f"instructions per call ({args.python}):")
    for name, per_call in results.items():
        extra = per_call - ceiling
        ratio = ceiling / per_call
        print(f"  {name:18} {per_call:12,.0f}   +{extra:10,.0f} over aiohttp   {ratio:.3f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
