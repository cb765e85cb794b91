"""Scrub cost against JSON decode cost, per answer, for plain bodies and real-looking ones.

    python benchmarks/scrub.py                       # this checkout's scrubber
    python benchmarks/scrub.py --old /tmp/old.py     # and another _scrub.py, in the same run

Real answers hold what the throughput server's pre-rendered key does not: non-ASCII names
(sent as ``\\u00e9`` escapes by a server that writes ASCII JSON), notes with newlines, ``&`` and
``%`` in text. Every ``\\``, ``%`` or ``&`` makes the scrubber look for an encoded secret, so
both kinds of body are timed, one key and a 100-key page, against ``portkey_vk._json.decode``
of the same body (the work every answer pays anyway).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portkey_vk._json import decode
from portkey_vk._scrub import Scrubber

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from server import API_KEY, VIRTUAL_KEY  # noqa: E402

PROVIDER_KEY = "sk-bench-provider-0123456789abcdefghij"

# What real keys hold: names in any script, notes written in a text area, `&` and `%`.
REAL_NAMES = (
    "Café & Co — prod",
    "日本チーム (東京)",
    "Équipe R&D 🚀",
    "Ops 100% uptime",
    "Zoë's sandbox",
)
REAL_NOTES = (
    "Shared by the platform team;\nrotate quarterly.\n\tOwner: José Núñez",
    "Budget: 80% of Q3 & Q4\nSee https://wiki.example.com/llm?team=ops&env=prod",
    'Quotes "inside" and a backslash \\ here\r\nsecond line',
)


def real_key(index: int) -> dict[str, Any]:
    """A virtual key as a real workspace holds it (index picks the name and note)."""
    return dict(
        VIRTUAL_KEY,
        slug=f"vk-{index:05d}",
        id=f"00000000-0000-4000-8000-{index:012d}",
        name=REAL_NAMES[index % len(REAL_NAMES)],
        note=REAL_NOTES[index % len(REAL_NOTES)],
        tags=["prod", "équipe-ü", "R&D"],
    )


def plain_key(index: int) -> dict[str, Any]:
    """The throughput server's key: no `\\`, `%` or `&` anywhere."""
    return dict(VIRTUAL_KEY, slug=f"vk-{index:05d}", id=f"00000000-0000-4000-8000-{index:012d}")


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "total": len(items), "data": items}


def bodies() -> dict[str, bytes]:
    """The timed bodies, by row name. Real ones are written as ASCII JSON (``\\u00e9``),
    as most servers (and json.dumps by default) write them."""
    return {
        "plain, 1 key": json.dumps(plain_key(0), separators=(",", ":")).encode(),
        "real, 1 key": json.dumps(real_key(0), separators=(",", ":")).encode(),
        "plain, 100-key page": json.dumps(
            _page([plain_key(i) for i in range(100)]), separators=(",", ":")
        ).encode(),
        "real, 100-key page": json.dumps(
            _page([real_key(i) for i in range(100)]), separators=(",", ":")
        ).encode(),
        "real UTF-8, 100-key page": json.dumps(
            _page([real_key(i) for i in range(100)]), separators=(",", ":"), ensure_ascii=False
        ).encode(),
    }


def _per_call_us(call: Callable[[], object], budget: float) -> float:
    """The fastest of 7 batches, per call, in microseconds (the least disturbed by a shared
    machine's other work)."""
    number = 1
    while True:
        seconds = timeit.timeit(call, number=number)
        if seconds * 7 >= budget or number >= 1 << 20:
            break
        number *= 2
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("old_scrub", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure_scrub(budget: float = 0.2, old: Path | None = None) -> list[dict[str, Any]]:
    """One row per body: decode, scrub (and the old scrub) in microseconds per answer."""
    scrubber = Scrubber([API_KEY, PROVIDER_KEY])
    old_scrubber = _load(old).Scrubber([API_KEY, PROVIDER_KEY]) if old else None
    rows = []
    for name, body in bodies().items():
        if scrubber.body(body) is not body:
            raise RuntimeError(f"scrub benchmark: {name} was changed, so it holds a secret")
        row: dict[str, Any] = {
            "body": name,
            "bytes": len(body),
            "decode_us": _per_call_us(lambda b=body: decode(b), budget),
            "scrub_us": _per_call_us(lambda b=body: scrubber.body(b), budget),
        }
        row["ratio"] = row["scrub_us"] / row["decode_us"]
        if old_scrubber is not None:
            row["old_scrub_us"] = _per_call_us(lambda b=body: old_scrubber.body(b), budget)
            row["old_ratio"] = row["old_scrub_us"] / row["decode_us"]
        rows.append(row)
    return rows


def render_scrub(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as a markdown table."""
    old = "old_scrub_us" in rows[0]
    head = "| body | bytes | decode | scrub | scrub/decode |"
    rule = "|---|---:|---:|---:|---:|"
    if old:
        head += " old scrub | old scrub/decode |"
        rule += "---:|---:|"
    lines = [head, rule]
    for row in rows:
        line = (
            f"| {row['body']} | {row['bytes']:,} | {row['decode_us']:.1f} us | "
            f"{row['scrub_us']:.1f} us | {row['ratio']:.2f}x |"
        )
        if old:
            line += f" {row['old_scrub_us']:.1f} us | {row['old_ratio']:.2f}x |"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, default=None, help="another _scrub.py to compare")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds per measurement")
    args = parser.parse_args(argv)
    print("\n".join(render_scrub(measure_scrub(args.budget, args.old))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
