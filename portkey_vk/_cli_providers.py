"""``portkey-vk providers ...`` and ``portkey-vk migration-check``: the commands for providers.

Kept out of :mod:`portkey_vk.cli`, which only registers them (:func:`register`, imported when
its parser is built, so this module may import ``cli`` at the top) and runs the handler each one
sets (``args.run``); errors, exit codes and redaction are ``cli``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, TextIO

from portkey_vk._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_TIMEOUT
from portkey_vk._errors import PortkeyError
from portkey_vk._models import Provider
from portkey_vk._sync import Portkey
from portkey_vk._types import NOT_GIVEN, NotGiven
from portkey_vk.cli import _for_terminal, _NoKeyError, _UsageError
from portkey_vk.migration import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MigrationReport,
    MigrationRow,
    check_migration_sync,
)

__all__ = ["printable", "register"]

_EXIT_READY: Final = 0
_EXIT_NOT_READY: Final = 1
_PROVIDER_FIELDS: Final = (
    "slug",
    "name",
    "status",
    "integration_id",
    "ai_provider_id",
    "note",
    "created_at",
    "expires_at",
    "last_reset_at",
    "usage_limits",
    "rate_limits",
)
_NULL: Final = ("null", "none")

Handler = Callable[[argparse.Namespace, TextIO], int]


def register(commands: Any, epilog: str) -> None:
    """Add ``providers`` and ``migration-check`` to the ``portkey-vk`` subcommands.

    Each command sets ``args.run(args, out) -> exit code``.
    """
    formatter = argparse.RawDescriptionHelpFormatter
    providers = commands.add_parser(
        "providers",
        help="list, get, create, update or delete providers",
        description="Manage Portkey providers, which replace virtual keys.",
        epilog=epilog,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    actions = providers.add_subparsers(dest="providers_command", required=True, metavar="ACTION")

    listing = _command(actions, "list", "list providers", _list, epilog)
    listing.add_argument(
        "--page-size", type=int, default=50, metavar="N", help="providers per request"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    get = _command(actions, "get", "print one provider", _get, epilog)
    get.add_argument("slug", metavar="SLUG", help="the provider's slug")
    get.add_argument("--json", action="store_true", help="print the provider as JSON")

    create = _command(actions, "create", "create a provider on an integration", _create, epilog)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument(
        "--integration",
        required=True,
        metavar="SLUG",
        help="the integration holding the credentials (providers take no secret of their own)",
    )
    create.add_argument("--slug", help="the slug to give it (default: derived from the name)")
    create.add_argument("--note", help="a free-text note")
    _limit_options(create)
    create.add_argument("--json", action="store_true", help="print {id, slug} as JSON")

    update = _command(actions, "update", "change a provider", _update, epilog)
    update.add_argument("slug", metavar="SLUG", help="the provider's slug")
    update.add_argument("--name", help="a new display name")
    update.add_argument("--note", help="a new note ('null' clears it)")
    _limit_options(update, clearable=True)
    update.add_argument(
        "--reset-usage", action="store_true", help="reset the usage counted against the limits"
    )

    delete = _command(actions, "delete", "delete a provider", _delete, epilog)
    delete.add_argument("slug", metavar="SLUG", help="the provider's slug")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    check = _command(
        commands,
        "migration-check",
        "check which virtual keys resolve as providers (read-only)",
        _migration_check,
        f"exit status: {_EXIT_READY} when every active virtual key resolves as a provider, "
        f"{_EXIT_NOT_READY} otherwise; errors as below.\n\n{epilog}",
        description="List every virtual key and look each one up as a provider "
        "(GET /providers/{slug}). Creates, changes and deletes nothing.",
    )
    check.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"lookups at once, 1 to {MAX_CONCURRENCY} (default: %(default)s)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def _command(
    parent: Any,
    name: str,
    summary: str,
    handler: Handler,
    epilog: str,
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = parent.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
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
    parser.add_argument(
        "--workspace",
        metavar="ID",
        help="the workspace (organisation admin API keys need one)",
    )
    parser.set_defaults(run=handler)
    return parser


def _limit_options(parser: argparse.ArgumentParser, *, clearable: bool = False) -> None:
    clear = " ('null' removes them)" if clearable else ""
    parser.add_argument(
        "--usage-limits",
        metavar="JSON",
        help='e.g. \'{"credit_limit": 100, "type": "cost", "periodic_reset": "monthly"}\'' + clear,
    )
    parser.add_argument(
        "--rate-limits",
        metavar="JSON",
        help='one object or an array, e.g. \'{"type": "requests", "unit": "rpm", "value": 600}\''
        + clear,
    )
    parser.add_argument(
        "--expires-at",
        metavar="TIME",
        help="ISO 8601 with an offset, e.g. 2027-01-01T00:00:00Z"
        + (" ('null' removes it)" if clearable else ""),
    )


# -- commands ----------------------------------------------------------------------------------


def _list(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        providers = _usage_checked(
            lambda: list(client.providers.list(page_size=args.page_size)), args
        )
    if args.json:
        out.write(json.dumps([p.to_dict() for p in providers], indent=2, default=str) + "\n")
        return 0
    rows = [
        [p.slug, p.name, _text(p.status), p.integration_id, _text(p.expires_at)] for p in providers
    ]
    out.write(_table(["SLUG", "NAME", "STATUS", "INTEGRATION", "EXPIRES"], rows))
    out.write(f"{len(providers)} provider{'' if len(providers) == 1 else 's'}\n")
    return 0


def _get(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as client:
        provider = _usage_checked(lambda: client.providers.retrieve(args.slug), args)
    if args.json:
        out.write(json.dumps(provider.to_dict(), indent=2, default=str) + "\n")
    else:
        out.write(_summary(provider) + "\n")
    return 0


def _create(args: argparse.Namespace, out: TextIO) -> int:
    fields = {
        "name": args.name,
        "integration_id": args.integration,
        "slug": NOT_GIVEN if args.slug is None else args.slug,
        "note": NOT_GIVEN if args.note is None else args.note,
        "usage_limits": _json_option(args.usage_limits, "--usage-limits", nullable=False),
        "rate_limits": _json_option(args.rate_limits, "--rate-limits", nullable=False),
        "expires_at": _time_option(args.expires_at, nullable=False),
    }
    with _client(args) as client:
        ref = _usage_checked(lambda: client.providers.create(**fields), args)
    if args.json:
        out.write(json.dumps({"id": ref.id, "slug": ref.slug}) + "\n")
    else:
        out.write(f"created provider {printable(ref.slug)} (id {printable(ref.id)})\n")
        out.write(f'use it as model="@{printable(ref.slug)}/<model>"\n')
    return 0


def _update(args: argparse.Namespace, out: TextIO) -> int:
    note: str | NotGiven | None = NOT_GIVEN
    if args.note is not None:
        note = None if args.note.lower() in _NULL else args.note
    fields = {
        "name": NOT_GIVEN if args.name is None else args.name,
        "note": note,
        "usage_limits": _json_option(args.usage_limits, "--usage-limits", nullable=True),
        "rate_limits": _json_option(args.rate_limits, "--rate-limits", nullable=True),
        "expires_at": _time_option(args.expires_at, nullable=True),
        "reset_usage": True if args.reset_usage else NOT_GIVEN,
    }
    with _client(args) as client:
        _usage_checked(lambda: client.providers.update(args.slug, **fields), args)
    out.write(f"updated provider {printable(args.slug)}\n")
    return 0


def _delete(args: argparse.Namespace, out: TextIO) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise _UsageError("refusing to delete without --yes when not run from a terminal")
        answer = input(f"Delete provider {printable(args.slug)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.write("not deleted\n")
            return 0
    with _client(args) as client:
        _usage_checked(lambda: client.providers.delete(args.slug), args)
    out.write(f"deleted provider {printable(args.slug)}\n")
    return 0


def _migration_check(args: argparse.Namespace, out: TextIO) -> int:
    progress = _progress(sys.stderr) if sys.stderr.isatty() else None
    with _client(args) as client:
        try:
            report = _usage_checked(
                lambda: check_migration_sync(
                    client, concurrency=args.concurrency, progress=progress
                ),
                args,
            )
        finally:
            if progress is not None:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(_report_table(report))
        out.write(report.summary() + "\n")
        for row in report.blocking:
            out.write(f"  not a provider: {printable(row.slug)}\n")
    return _EXIT_READY if report.ready else _EXIT_NOT_READY


# -- helpers -----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Portkey:
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key.strip():
        raise _NoKeyError(f"no Portkey API key: set {API_KEY_ENV} or pass --api-key")
    try:
        return Portkey(
            api_key=args.api_key,
            base_url=args.base_url,
            timeout=args.timeout,
            workspace_id=args.workspace,
        )
    except (PortkeyError, TypeError, ValueError) as exc:
        raise _UsageError(str(exc)) from exc


def _usage_checked(call: Callable[[], Any], args: argparse.Namespace) -> Any:
    """Run ``call``; an argument the SDK refuses before any request is a usage error."""
    try:
        return call()
    except (TypeError, ValueError) as exc:
        raise _UsageError(str(exc)) from exc


def _json_option(text: str | None, option: str, *, nullable: bool) -> Any:
    if text is None:
        return NOT_GIVEN
    if nullable and text.strip().lower() in _NULL:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _UsageError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict | list):
        raise _UsageError(f"{option} must be a JSON object or array")
    return value


def _time_option(text: str | None, *, nullable: bool) -> Any:
    if text is None:
        return NOT_GIVEN
    if nullable and text.strip().lower() in _NULL:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _UsageError(f"--expires-at is not an ISO 8601 time: {text!r}") from exc


def _progress(stream: TextIO) -> Callable[[int, int | None], None]:
    def show(done: int, total: int | None) -> None:
        of = f"/{total}" if total is not None else ""
        stream.write(f"\rchecked {done}{of} virtual keys")
        stream.flush()

    return show


def _report_table(report: MigrationReport) -> str:
    def found(row: MigrationRow) -> str:
        if not row.provider_found:
            return "no"
        if row.status_matches:
            return "yes"
        return f"yes ({_text(row.provider_status) or 'no status'})"

    rows = [
        [
            row.slug,
            row.name,
            row.ai_provider,
            _text(row.status),
            found(row),
            f"{row.model_prefix}/<model>" if row.model_prefix else None,
        ]
        for row in report.rows
    ]
    headers = ["SLUG", "NAME", "AI PROVIDER", "STATUS", "PROVIDER", "MODEL"]
    return _table(headers, rows) if rows else ""


def _summary(provider: Provider) -> str:
    data = provider.to_dict()
    width = max(len(name) for name in _PROVIDER_FIELDS)
    lines = []
    for name in _PROVIDER_FIELDS:
        value = data.get(name)
        if value is None or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{name:<{width}}  {printable(text)}")
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[printable(cell) if cell is not None else "-" for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def printable(value: object) -> str:
    r"""``value`` as text safe for a terminal: control and format characters escaped.

    A name or slug comes from the server; an ESC, a carriage return or a bidirectional override
    in it could rewrite what the user sees, so each is shown as its Python escape (``\x1b``).
    The one rule of the command line (:func:`portkey_vk.cli._for_terminal`) decides.
    """
    return _for_terminal(str(value))
