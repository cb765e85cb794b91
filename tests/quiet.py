"""What a child process's stderr must not contain, minus what is timing rather than a fault.

asyncio's debug mode (``-X dev``) logs "Executing <Task ...> took 0.102 seconds" for any step
slower than 0.1 s. On a loaded 2-core CI machine the first call of a fresh interpreter (imports,
the pool, TLS defaults, the first structuring function) can cross that line: tests that want a
silent stderr (no unclosed connector, no ResourceWarning, no traceback) drop those notes and
nothing else.
"""

from __future__ import annotations

import re

__all__ = ["meaningful", "meaningful_bytes"]

_SLOW_CALLBACK = re.compile(r"^Executing <.*> took \d+\.\d+ seconds\n?", re.MULTILINE)
_SLOW_CALLBACK_BYTES = re.compile(rb"^Executing <.*> took \d+\.\d+ seconds\n?", re.MULTILINE)


def meaningful(stderr: str) -> str:
    """``stderr`` without asyncio's slow-callback notes: what the assertions are about."""
    return _SLOW_CALLBACK.sub("", stderr)


def meaningful_bytes(stderr: bytes) -> bytes:
    """:func:`meaningful` for output captured as bytes."""
    return _SLOW_CALLBACK_BYTES.sub(b"", stderr)
