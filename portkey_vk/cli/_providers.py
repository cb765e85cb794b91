"""``portkey-vk providers list | get | create | update | delete``: the provider commands."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, Final

from portkey_vk._models import Provider
from portkey_vk._sync import Portkey
from portkey_vk._types import NOT_GIVEN, NotGiven
from portkey_vk.cli._common import (
    Handler,
    Run,
    UsageError,
    add_connection_options,
    client,
    plain_text,
    printable,
    table_or_dash,
    usage_checked,
)

__all__ = ["command", "register"]

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


def register(commands: Any, epilog: str) -> None:
    """Add ``providers list | get | create | update | delete`` to the ``portkey-vk`` commands."""
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

    listing = command(actions, "list", "list providers", _list, epilog)
    listing.add_argument(
        "--page-size", type=int, default=50, metavar="N", help="providers per request"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    get = command(actions, "get", "print one provider", _get, epilog)
    get.add_argument("slug", metavar="SLUG", help="the provider's slug")
    get.add_argument("--json", action="store_true", help="print the provider as JSON")

    create = command(actions, "create", "create a provider on an integration", _create, epilog)
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

    update = command(actions, "update", "change a provider", _update, epilog)
    update.add_argument("slug", metavar="SLUG", help="the provider's slug")
    update.add_argument("--name", help="a new display name")
    update.add_argument("--note", help="a new note ('null' clears it)")
    _limit_options(update, clearable=True)
    update.add_argument(
        "--reset-usage", action="store_true", help="reset the usage counted against the limits"
    )

    delete = command(actions, "delete", "delete a provider", _delete, epilog)
    delete.add_argument("slug", metavar="SLUG", help="the provider's slug")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def command(
    parent: Any,
    name: str,
    summary: str,
    handler: Handler,
    epilog: str,
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A providers-style command: connection options, ``--workspace`` and its handler."""
    parser: argparse.ArgumentParser = parent.add_parser(
        name,
        help=summary,
        description=description or summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add_connection_options(parser)
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


def _list(args: argparse.Namespace, run: Run) -> int:
    out = run.out
    with _client(args) as portkey:
        providers = usage_checked(lambda: list(portkey.providers.list(page_size=args.page_size)))
    if args.json:
        out.write(json.dumps([p.to_dict() for p in providers], indent=2, default=str) + "\n")
        return 0
    rows = [
        [p.slug, p.name, plain_text(p.status), p.integration_id, plain_text(p.expires_at)]
        for p in providers
    ]
    out.write(table_or_dash(["SLUG", "NAME", "STATUS", "INTEGRATION", "EXPIRES"], rows))
    out.write(f"{len(providers)} provider{'' if len(providers) == 1 else 's'}\n")
    return 0


def _get(args: argparse.Namespace, run: Run) -> int:
    out = run.out
    with _client(args) as portkey:
        provider = usage_checked(lambda: portkey.providers.retrieve(args.slug))
    if args.json:
        out.write(json.dumps(provider.to_dict(), indent=2, default=str) + "\n")
    else:
        out.write(_summary(provider) + "\n")
    return 0


def _create(args: argparse.Namespace, run: Run) -> int:
    out = run.out
    fields = {
        "name": args.name,
        "integration_id": args.integration,
        "slug": NOT_GIVEN if args.slug is None else args.slug,
        "note": NOT_GIVEN if args.note is None else args.note,
        "usage_limits": _json_option(args.usage_limits, "--usage-limits", nullable=False),
        "rate_limits": _json_option(args.rate_limits, "--rate-limits", nullable=False),
        "expires_at": _time_option(args.expires_at, nullable=False),
    }
    with _client(args) as portkey:
        ref = usage_checked(lambda: portkey.providers.create(**fields))
    if args.json:
        out.write(json.dumps({"id": ref.id, "slug": ref.slug}) + "\n")
    else:
        out.write(f"created provider {printable(ref.slug)} (id {printable(ref.id)})\n")
        out.write(f'use it as model="@{printable(ref.slug)}/<model>"\n')
    return 0


def _update(args: argparse.Namespace, run: Run) -> int:
    out = run.out
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
    with _client(args) as portkey:
        usage_checked(lambda: portkey.providers.update(args.slug, **fields))
    out.write(f"updated provider {printable(args.slug)}\n")
    return 0


def _delete(args: argparse.Namespace, run: Run) -> int:
    out = run.out
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete without --yes when not run from a terminal")
        answer = input(f"Delete provider {printable(args.slug)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.write("not deleted\n")
            return 0
    with _client(args) as portkey:
        usage_checked(lambda: portkey.providers.delete(args.slug))
    out.write(f"deleted provider {printable(args.slug)}\n")
    return 0


# -- helpers ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Portkey:
    return client(args, workspace_id=args.workspace)


# -- helpers -------------------------------------------------------------------------------------


def _json_option(text: str | None, option: str, *, nullable: bool) -> Any:
    if text is None:
        return NOT_GIVEN
    if nullable and text.strip().lower() in _NULL:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict | list):
        raise UsageError(f"{option} must be a JSON object or array")
    return value


def _time_option(text: str | None, *, nullable: bool) -> Any:
    if text is None:
        return NOT_GIVEN
    if nullable and text.strip().lower() in _NULL:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--expires-at is not an ISO 8601 time: {text!r}") from exc


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
