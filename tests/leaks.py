"""Leak detection for the secret tests: every string reachable from an exception, a response or a
log record, searched for a secret in every form a reader could decode it from.

The search is independent of :mod:`portkey_vk._scrub` (a test must not trust the code it
checks): its own decoders, applied in any order up to :data:`DEPTH` times, and a search for any
:data:`FRAGMENT`-character piece of the secret, which is what a truncated or split quote of raw
bytes (aiohttp cuts a long header at 100 bytes) would leave.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import traceback
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = [
    "DEPTH",
    "FRAGMENT",
    "assert_clean",
    "assert_records_clean",
    "found",
    "frame_locals",
    "reachable",
]

# Decodings applied on top of each other: a reader may percent-decode a URL, JSON-decode the
# result and unescape HTML in it, in any order.
DEPTH = 4
# A piece of the secret this long is a leak, wherever it is.
FRAGMENT = 8

_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_JSON_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if len(token) == 5:
            return chr(int(token[1:], 16))
        return _JSON_SIMPLE.get(token, token)

    return _JSON_ESCAPE.sub(one, text)


def _decoders(text: str) -> Iterator[str]:
    if "%" in text:
        yield unquote(text, errors="replace")
    if "\\" in text:
        yield _json_unescape(text)
    if "&" in text:
        yield html.unescape(text)
    if "\x00" in text:
        # UTF-16/32 bytes read as latin-1 or UTF-8: the key's characters with NULs between.
        yield text.replace("\x00", "")


def views(text: str) -> Iterator[str]:
    """``text`` and everything up to DEPTH decodings in any order turn it into."""
    seen = {text}
    frontier = [text]
    yield text
    for _ in range(DEPTH):
        following = []
        for current in frontier:
            for decoded in _decoders(current):
                if decoded not in seen:
                    seen.add(decoded)
                    following.append(decoded)
                    yield decoded
        frontier = following


def _fragments(secret: str) -> list[str]:
    if len(secret) <= FRAGMENT:
        return [secret]
    return [secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)]


def found(text: str, secrets: Iterable[str], *, fragments: bool = False) -> str | None:
    """The first secret in ``text`` or a decoded view of it, or ``None``.

    With ``fragments``, any FRAGMENT-character piece of a secret counts too.
    """
    pieces = [
        piece for secret in secrets for piece in (_fragments(secret) if fragments else [secret])
    ]
    for view in views(text):
        for piece in pieces:
            if piece in view:
                return piece
    return None


def _bytes_texts(data: bytes) -> Iterator[str]:
    yield data.decode("latin-1")
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        with contextlib.suppress(UnicodeDecodeError):
            yield data.decode(encoding)


def reachable(obj: object, *, depth: int = 12, _seen: set[int] | None = None) -> Iterator[str]:
    """Every string reachable from ``obj``.

    For an exception: ``str``/``repr``, ``traceback.format_exception`` of it (the whole chain as
    a logger or a crash would print it), its args, its attributes (recursively, ``__notes__``
    included) and its ``__cause__`` and ``__context__``. Containers, mappings (keys too) and
    objects with ``__dict__`` or ``__slots__`` are walked; bytes are read in several encodings.
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen or depth < 0:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
        return
    if isinstance(obj, bytes | bytearray | memoryview):
        yield from _bytes_texts(bytes(obj))
        return
    if obj is None or isinstance(obj, bool | int | float | complex):
        return
    try:
        yield repr(obj)
        yield str(obj)
    except Exception as exc:  # a hostile __repr__ would itself be a finding
        yield f"<unprintable {type(obj).__name__}: {exc!r}>"
    walk = depth - 1
    if isinstance(obj, BaseException):
        yield "".join(traceback.format_exception(obj))
        for link in (obj.__cause__, obj.__context__):
            if link is not None:
                yield from reachable(link, depth=walk, _seen=seen)
        yield from reachable(obj.args, depth=walk, _seen=seen)
        yield from reachable(getattr(obj, "__notes__", None), depth=walk, _seen=seen)
    if isinstance(obj, Mapping) or hasattr(obj, "items"):
        try:
            items = list(obj.items())  # type: ignore[attr-defined]
        except Exception:  # not a mapping after all
            items = []
        for key, value in items:
            yield from reachable(key, depth=walk, _seen=seen)
            yield from reachable(value, depth=walk, _seen=seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from reachable(item, depth=walk, _seen=seen)
    attributes: dict[str, Any] = {}
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        attributes.update(vars(obj))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if isinstance(name, str) and hasattr(obj, name) and not name.startswith("__"):
                attributes[name] = getattr(obj, name)
    for name, value in attributes.items():
        if callable(value) and not isinstance(value, type) and not hasattr(value, "items"):
            continue
        yield name
        yield from reachable(value, depth=walk, _seen=seen)


def assert_clean(obj: object, *secrets: str, fragments: bool = False) -> int:
    """Fail if any reachable string of ``obj`` holds any of ``secrets`` (or, with ``fragments``,
    a FRAGMENT-character piece of one); return how many strings were searched."""
    assert secrets
    count = 0
    for text in reachable(obj):
        count += 1
        piece = found(text, secrets, fragments=fragments)
        assert piece is None, f"{piece!r} reachable from {type(obj).__name__}: {text[:2000]}"
    return count


def assert_records_clean(
    records: Iterable[logging.LogRecord], *secrets: str, fragments: bool = False
) -> int:
    """Fail if a log record shows a secret however it is formatted; return how many were read."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    count = 0
    for record in records:
        count += 1
        texts = [formatter.format(record), record.getMessage(), str(record.msg)]
        texts += list(reachable(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            texts += list(reachable(record.exc_info[1]))
        for text in texts:
            piece = found(text, secrets, fragments=fragments)
            assert piece is None, f"{piece!r} in a log record: {text[:2000]}"
    return count


def _as_reported(value: object, depth: int = 4) -> Iterator[str]:
    """What an error reporter capturing locals sends for ``value``: Sentry walks mappings and
    sequences and takes ``repr()`` of any other object (it never reads their attributes)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes | bytearray):
        yield from _bytes_texts(bytes(value))
    elif depth and (isinstance(value, Mapping) or type(value).__name__.endswith("MultiDictProxy")):
        for key, item in list(value.items()):  # type: ignore[attr-defined]
            yield str(key)
            yield from _as_reported(item, depth - 1)
    elif depth and isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _as_reported(item, depth - 1)
    else:
        try:
            yield repr(value)
        except Exception as exc:  # a hostile __repr__ would itself be a finding
            yield f"<unprintable {type(value).__name__}: {exc!r}>"


def frame_locals(exc: BaseException) -> Iterator[tuple[types.FrameType, str, str]]:
    """``(frame, name, text)`` for every local of every frame in ``exc``'s traceback and in
    those of its chain, serialised as an error reporter with local variables on would send it
    (Sentry's ``include_local_variables`` is on by default)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in list(frame.f_locals.items()):
                for text in _as_reported(value):
                    yield frame, name, text
            tb = tb.tb_next
        pending += [link for link in (current.__cause__, current.__context__) if link is not None]
