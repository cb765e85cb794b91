"""``portkey-vk``: read a virtual key from the command line, or run the offline demo.

Built on the sync facade, :class:`portkey_vk.Portkey`. Errors are one line on stderr and a
distinct exit code (see :data:`EXIT_CODES`); the API key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import unicodedata
from collections.abc import Sequence
from typing import Final, TextIO

from portkey_vk._client import AsyncPortkey
from portkey_vk._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_TIMEOUT, redact
from portkey_vk._errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PortkeyError,
)
from portkey_vk._models import VirtualKey
from portkey_vk._sync import Portkey
from portkey_vk._version import __version__

__all__ = ["EXIT_CODES", "main"]

EXIT_OK: Final = 0
EXIT_API_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_NOT_FOUND: Final = 4
EXIT_CONNECTION: Final = 5
EXIT_INTERRUPTED: Final = 130

EXIT_CODES: Final = {
    EXIT_OK: "success",
    EXIT_API_ERROR: "any other API error (e.g. 429, 5xx after retries, an invalid response)",
    EXIT_USAGE: "usage error: bad arguments, an invalid base URL or slug",
    EXIT_AUTH: f"authentication: no API key (set {API_KEY_ENV}), or it was refused (401/403)",
    EXIT_NOT_FOUND: "no virtual key has this slug (404)",
    EXIT_CONNECTION: "the control plane could not be reached, or timed out",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
"""Every exit code ``portkey-vk`` uses, and what it means."""

_PROG: Final = "portkey-vk"
_SUMMARY_FIELDS: Final = (
    "slug",
    "name",
    "status",
    "ai_provider_name",
    "masked_api_key",
    "note",
    "created_at",
    "expires_at",
    "usage_limits",
    "rate_limits",
)
_DEMO_SLUG: Final = "demo-openai-key"
# Unicode categories a terminal must never receive raw from a server: controls (C0, DEL, C1, so
# ESC and CSI sequences that retitle or clear the terminal), format characters (bidi overrides
# and isolates that reorder what is shown, zero-width and tag characters that hide text),
# surrogates, and line/paragraph separators.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Format characters that scripts and emoji need to render at all, and cannot reorder text.
_JOINERS: Final = frozenset({"\u200c", "\u200d"})
# An error is one line; a server's message could otherwise be megabytes.
_MAX_ERROR_CHARS: Final = 1000


class _UsageError(Exception):
    """Bad input caught before any request, reported with the usage exit code."""


class _NoKeyError(Exception):
    """No API key anywhere, reported with the authentication exit code."""


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Read Portkey virtual keys (GET /virtual-keys/{slug}).",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    retrieve = commands.add_parser(
        "retrieve",
        help="print one virtual key",
        description="Print the virtual key SLUG.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    retrieve.add_argument("slug", metavar="SLUG", help="the virtual key's slug")
    retrieve.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Portkey API key (default: ${API_KEY_ENV}; prefer the variable, as arguments "
        "show up in process lists and shell history)",
    )
    retrieve.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the control plane's API root (default: ${BASE_URL_ENV}, then Portkey's cloud)",
    )
    retrieve.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds each attempt may take (default: %(default)s)",
    )
    retrieve.add_argument("--json", action="store_true", help="print the key as JSON")

    commands.add_parser(
        "demo",
        help="offline demo against the bundled fake control plane",
        description="Start the bundled FakePortkey on 127.0.0.1, store a sample key, and read "
        "it with both AsyncPortkey and Portkey. Needs no network and no API key.",
    )
    return parser


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _for_terminal(text: str, out: TextIO | None = None) -> str:
    """``text`` with every character unsafe for a terminal written as a Python-style escape.

    Also escapes what the stream's encoding cannot write (an emoji to an ASCII console), which
    would otherwise end the program with a UnicodeEncodeError.
    """
    if not text.isprintable():  # one C-level pass for the usual, harmless text
        text = "".join(
            _escape(ch)
            if unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in _JOINERS
            else ch
            for ch in text
        )
    encoding = getattr(out, "encoding", None)
    if encoding:
        text = text.encode(encoding, "backslashreplace").decode(encoding)
    return text


def _summary(vk: VirtualKey, out: TextIO | None = None) -> str:
    data = vk.to_dict()
    width = max(len(name) for name in _SUMMARY_FIELDS)
    lines = []
    for name in _SUMMARY_FIELDS:
        value = data.get(name)
        if value is None or value == []:
            continue
        # json.dumps escapes controls and non-ASCII; a str is the server's text as it came.
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{name:<{width}}  {_for_terminal(text, out)}")
    return "\n".join(lines)


def _retrieve(args: argparse.Namespace, out: TextIO) -> int:
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key.strip():
        raise _NoKeyError(f"no Portkey API key: set {API_KEY_ENV} or pass --api-key")
    try:
        client = Portkey(api_key=args.api_key, base_url=args.base_url, timeout=args.timeout)
    except (PortkeyError, TypeError, ValueError) as exc:
        raise _UsageError(str(exc)) from exc
    with client:
        try:
            vk = client.virtual_keys.retrieve(args.slug)
        except ValueError as exc:  # the slug was refused before any request
            raise _UsageError(str(exc)) from exc
    if args.json:
        # Exact JSON, and pure ASCII: every control, bidi or non-ASCII character of the
        # server's text is a \uXXXX escape, so nothing reaches the terminal raw. Models hold no
        # NaN or infinity, so allow_nan=False never fires; it keeps the output JSON regardless.
        text = json.dumps(vk.to_dict(), indent=2, default=str, ensure_ascii=True, allow_nan=False)
        out.write(text + "\n")
    else:
        out.write(_summary(vk, out) + "\n")
    return EXIT_OK


def _demo(out: TextIO) -> int:
    from portkey_vk.testing import FakePortkey  # noqa: PLC0415 - only the demo needs a server

    with FakePortkey() as fake:
        fake.add_virtual_key(
            _DEMO_SLUG,
            name="Demo OpenAI key",
            note="served by portkey_vk.testing.FakePortkey",
            usage_limits={"credit_limit": 100, "type": "cost", "periodic_reset": "monthly"},
            rate_limits=[{"type": "requests", "unit": "rpm", "value": 600}],
        )
        out.write(f"FakePortkey serving at {fake.base_url}\n\n")

        async def read_async() -> VirtualKey:
            async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
                return await client.virtual_keys.retrieve(_DEMO_SLUG)

        from_async = asyncio.run(read_async())
        out.write("AsyncPortkey: await client.virtual_keys.retrieve(...)\n")
        out.write(_summary(from_async, out) + "\n\n")

        with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            from_sync = client.virtual_keys.retrieve(_DEMO_SLUG)
        out.write("Portkey: client.virtual_keys.retrieve(...)\n")
        out.write(_summary(from_sync, out) + "\n\n")
        same = "the same" if from_async == from_sync else "DIFFERENT"
        out.write(f"Both clients read {same} key.\n")
    return EXIT_OK if from_async == from_sync else EXIT_API_ERROR


def _exit_code(exc: PortkeyError) -> int:
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, APIConnectionError):
        return EXIT_CONNECTION
    return EXIT_API_ERROR


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``portkey-vk`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code.

    Errors are reported as one line on stderr, never a traceback; the exit codes are listed in
    :data:`EXIT_CODES` and in ``portkey-vk --help``.
    """
    out = sys.stdout if out is None else out
    args = _parser().parse_args(argv)  # exits with EXIT_USAGE on bad arguments
    secret = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV, "")
    try:
        if args.command == "demo":
            return _demo(out)
        return _retrieve(args, out)
    except _UsageError as exc:
        _error(f"error: {exc}", secret)
        return EXIT_USAGE
    except _NoKeyError as exc:
        _error(f"error: {exc}", secret)
        return EXIT_AUTH
    except PortkeyError as exc:
        # An APIStatusError reads "<status> <Portkey's message> (error code <code>, ...)".
        hint = ""
        if isinstance(exc, AuthenticationError):
            hint = f" (check {'--api-key' if getattr(args, 'api_key', None) else API_KEY_ENV})"
        _error(f"error: {type(exc).__name__}: {exc}{hint}", secret)
        return _exit_code(exc)
    except KeyboardInterrupt:
        _error("interrupted", secret)
        return EXIT_INTERRUPTED


def _error(message: str, secret: str) -> None:
    # Error messages carry the server's text (Portkey's message, a snippet of an HTML page).
    line = _for_terminal(" ".join(redact(message, secret).split()), sys.stderr)
    if len(line) > _MAX_ERROR_CHARS:
        line = line[:_MAX_ERROR_CHARS] + "..."
    print(f"{_PROG}: {line}", file=sys.stderr)
