"""``portkey-vk retrieve | list | create | update | delete``: the virtual key commands."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import sys
from typing import Any, Final, TextIO

from portkey_vk._models import ResourceRef, VirtualKey
from portkey_vk.cli._common import (
    EXIT_OK,
    PROVIDER_KEY_ENV,
    Handler,
    Progress,
    Run,
    UsageError,
    add_connection_options,
    client,
    csv_cell,
    for_terminal,
    is_terminal,
    printable,
    table,
    usage_checked,
)

__all__ = ["register", "summary"]

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


def register(commands: Any, epilog: str) -> None:
    """Add the virtual key commands to the ``portkey-vk`` subcommands."""

    def command(
        name: str, help_text: str, description: str, examples: str, handler: Handler
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=f"examples:\n{examples}\n{epilog}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )
        add_connection_options(parser)
        parser.set_defaults(run=handler)
        return parser

    retrieve = command(
        "retrieve",
        "print one virtual key",
        "Print the virtual key SLUG.",
        "  portkey-vk retrieve prod-openai\n"
        "  portkey-vk retrieve prod-openai --json | jq .status\n",
        _retrieve,
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
        _list,
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
        _create,
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
        _update,
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
        _delete,
    )
    delete.add_argument("slug", metavar="SLUG", help="the virtual key's slug")
    delete.add_argument("--yes", action="store_true", help="delete without asking")


def summary(vk: VirtualKey, out: TextIO | None = None) -> str:
    """The key's non-empty fields, one a line, escaped for a terminal."""
    data = vk.to_dict()
    width = max(len(name) for name in _SUMMARY_FIELDS)
    lines = []
    for name in _SUMMARY_FIELDS:
        value = data.get(name)
        if value is None or value == []:
            continue
        # json.dumps escapes controls and non-ASCII; a str is the server's text as it came.
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{name:<{width}}  {for_terminal(text, out)}")
    return "\n".join(lines)


def _retrieve(args: argparse.Namespace, run: Run) -> int:
    with client(args) as portkey:
        vk = usage_checked(lambda: portkey.virtual_keys.retrieve(args.slug))
    if args.json:
        # Exact JSON, and pure ASCII: every control, bidi or non-ASCII character of the
        # server's text is a \uXXXX escape, so nothing reaches the terminal raw. Models hold no
        # NaN or infinity, so allow_nan=False never fires; it keeps the output JSON regardless.
        text = json.dumps(vk.to_dict(), indent=2, default=str, ensure_ascii=True, allow_nan=False)
        run.out.write(text + "\n")
    else:
        run.out.write(summary(vk, run.out) + "\n")
    return EXIT_OK


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _list(args: argparse.Namespace, run: Run) -> int:
    out, err = run.out, sys.stderr
    with client(args) as portkey:
        page = usage_checked(
            lambda: portkey.virtual_keys.list(page_size=args.page_size, workspace_id=args.workspace)
        )
        progress = Progress.on_terminal(err, page.total)
        rows: list[dict[str, Any]] = []
        writer = csv.writer(out) if args.csv else None
        to_csv = csv_cell(out)
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
    cells = [[_clip(printable(_cell(row.get(f)))) for _, f in _LIST_COLUMNS] for row in rows]
    return table([header for header, _ in _LIST_COLUMNS], cells)


def _clip(text: str) -> str:
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "\u2026"


def _provider_key(args: argparse.Namespace, stdin: TextIO, *, required: bool) -> str | None:
    """The provider's key: from stdin with ``--key-stdin``, else (for create) the environment."""
    if args.key_stdin:
        if is_terminal(stdin):
            # Typed by hand: not echoed, so it does not stay on the screen or in a recording.
            key = getpass.getpass("provider key: ", stream=sys.stderr)
        else:
            key = stdin.read().strip("\r\n")
        if not key.strip():
            raise UsageError("--key-stdin read an empty provider key")
        return key
    if required:
        key = os.environ.get(PROVIDER_KEY_ENV, "")
        if not key.strip():
            raise UsageError(
                f"no provider key: pipe it in with --key-stdin or set {PROVIDER_KEY_ENV}"
            )
        return key
    return None


def _create(args: argparse.Namespace, run: Run) -> int:
    run.secrets.append(os.environ.get(PROVIDER_KEY_ENV, ""))
    key = _provider_key(args, run.stdin, required=True)
    assert key is not None
    run.secrets.append(key)
    with client(args) as portkey:
        optional: dict[str, Any] = {}
        if args.note is not None:
            optional["note"] = args.note
        if args.workspace is not None:
            optional["workspace_id"] = args.workspace
        ref = usage_checked(
            lambda: portkey.virtual_keys.create(
                name=args.name, provider=args.provider, key=key, **optional
            )
        )
    _print_ref(ref, run.out, as_json=args.json)
    return EXIT_OK


def _print_ref(ref: ResourceRef, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(ref.to_dict(), default=str) + "\n")
    else:
        out.write(f"created {printable(ref.slug or '')}\n")


def _update(args: argparse.Namespace, run: Run) -> int:
    fields: dict[str, Any] = {}
    if args.name is not None:
        fields["name"] = args.name
    if args.note is not None:
        fields["note"] = args.note
    key = _provider_key(args, run.stdin, required=False)
    if key is not None:
        run.secrets.append(key)
        fields["key"] = key
    if not fields:
        raise UsageError("nothing to change: give --name, --note or --key-stdin")
    with client(args) as portkey:
        usage_checked(lambda: portkey.virtual_keys.update(args.slug, **fields))
    run.out.write(f"updated {printable(args.slug)}\n")
    return EXIT_OK


def _delete(args: argparse.Namespace, run: Run) -> int:
    if not args.yes:
        if not is_terminal(run.stdin):
            raise UsageError(
                "not deleting without confirmation: stdin is not a terminal; pass --yes"
            )
        sys.stderr.write(f"Delete virtual key {printable(args.slug)}? [y/N] ")
        sys.stderr.flush()
        answer = run.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise UsageError("not deleted")
    with client(args) as portkey:
        usage_checked(lambda: portkey.virtual_keys.delete(args.slug))
    run.out.write(f"deleted {printable(args.slug)}\n")
    return EXIT_OK
