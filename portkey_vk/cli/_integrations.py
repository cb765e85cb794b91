"""``portkey-vk integrations ...``: integrations, their models and their workspaces.

``list | get | create | update | delete``, ``models SLUG [--enable M] [--disable M]`` and
``workspaces SLUG [--grant WS] [--revoke WS]``. The provider's key is read from stdin
(``--key-stdin``) or from ``PORTKEY_PROVIDER_KEY``, and ``configurations`` (which may hold
secrets) from a file, never from an argument.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Final

from portkey_vk._models import Integration
from portkey_vk._sync import Portkey
from portkey_vk._types import NOT_GIVEN
from portkey_vk.cli._common import (
    PROVIDER_KEY_ENV,
    Run,
    UsageError,
    client,
    plain_text,
    printable,
    table_or_dash,
    usage_checked,
)
from portkey_vk.cli._providers import command
from portkey_vk.cli._virtual_keys import _provider_key
from portkey_vk.resources.integrations import INTEGRATION_TYPES, configuration_secrets

__all__ = ["register"]

_FIELDS: Final = (
    "slug",
    "name",
    "ai_provider_id",
    "status",
    "description",
    "workspace_id",
    "masked_key",
    "allow_all_models",
    "workspace_count",
    "created_at",
    "last_updated_at",
)


def register(commands: Any, epilog: str) -> None:
    """Add ``integrations ...`` to the ``portkey-vk`` commands."""
    group = commands.add_parser(
        "integrations",
        help="list, get, create, update or delete integrations; their models and workspaces",
        description="Manage Portkey integrations, which hold the AI providers' credentials.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    actions = group.add_subparsers(dest="integrations_command", required=True, metavar="ACTION")

    listing = command(actions, "list", "list integrations", _list, epilog)
    listing.add_argument("--type", choices=INTEGRATION_TYPES, help="which integrations")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    get = command(actions, "get", "print one integration", _get, epilog)
    get.add_argument("slug", metavar="SLUG", help="the integration's slug")
    get.add_argument("--json", action="store_true", help="print the integration as JSON")

    create = command(
        actions,
        "create",
        "create an integration",
        _create,
        epilog,
        description="Create an integration. The provider's key is read from stdin with "
        f"--key-stdin, else from ${PROVIDER_KEY_ENV} if set; never from an argument, which "
        "would show up in process lists and shell history.",
    )
    create.add_argument("--name", required=True, help="display name")
    create.add_argument(
        "--provider", required=True, metavar="P", help="the AI provider, e.g. openai, bedrock"
    )
    create.add_argument("--slug", help="the slug to give it (default: derived from the name)")
    create.add_argument("--description", help="a free-text description")
    _secret_options(create)
    create.add_argument(
        "--no-default-provider",
        action="store_true",
        help="do not create a default provider (workspace-scoped integrations)",
    )
    create.add_argument("--json", action="store_true", help="print {id, slug} as JSON")

    update = command(
        actions,
        "update",
        "change an integration",
        _update,
        epilog,
        description="Change an integration: only the options given are sent. --key-stdin "
        f"rotates the provider's key (or --key-from-env, from ${PROVIDER_KEY_ENV}).",
    )
    update.add_argument("slug", metavar="SLUG", help="the integration's slug")
    update.add_argument("--name", help="a new display name")
    update.add_argument("--description", help="a new description")
    _secret_options(update)
    update.add_argument(
        "--key-from-env", action="store_true", help=f"read the new key from ${PROVIDER_KEY_ENV}"
    )

    delete = command(actions, "delete", "delete an integration", _delete, epilog)
    delete.add_argument("slug", metavar="SLUG", help="the integration's slug")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    models = command(
        actions,
        "models",
        "list an integration's models, or enable and disable some",
        _models,
        epilog,
    )
    models.add_argument("slug", metavar="SLUG", help="the integration's slug")
    models.add_argument("--enable", action="append", default=[], metavar="MODEL")
    models.add_argument("--disable", action="append", default=[], metavar="MODEL")
    models.add_argument("--json", action="store_true", help="print the models as JSON")

    workspaces = command(
        actions,
        "workspaces",
        "list the workspaces that may use an integration, or grant and revoke access",
        _workspaces,
        epilog,
    )
    workspaces.add_argument("slug", metavar="SLUG", help="the integration's slug")
    workspaces.add_argument("--grant", action="append", default=[], metavar="WS")
    workspaces.add_argument("--revoke", action="append", default=[], metavar="WS")
    workspaces.add_argument("--json", action="store_true", help="print the access as JSON")


def _secret_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key-stdin", action="store_true", help="read the provider's key from stdin"
    )
    parser.add_argument(
        "--configurations-file",
        metavar="PATH",
        help="provider settings as a JSON object, read from this file (it may hold secrets)",
    )


# -- commands ----------------------------------------------------------------------------------


def _list(args: argparse.Namespace, run: Run) -> int:
    with _client(args) as portkey:
        items = usage_checked(lambda: list(portkey.integrations.list(type=args.type)))
    if args.json:
        run.out.write(json.dumps([i.to_dict() for i in items], indent=2, default=str) + "\n")
        return 0
    rows = [
        [i.slug, i.name, i.ai_provider_id, plain_text(i.status), i.workspace_id or "-"]
        for i in items
    ]
    run.out.write(table_or_dash(["SLUG", "NAME", "PROVIDER", "STATUS", "WORKSPACE"], rows))
    run.out.write(f"{len(items)} integration{'' if len(items) == 1 else 's'}\n")
    return 0


def _get(args: argparse.Namespace, run: Run) -> int:
    with _client(args) as portkey:
        integration = usage_checked(lambda: portkey.integrations.retrieve(args.slug))
    if args.json:
        run.out.write(json.dumps(integration.to_dict(), indent=2, default=str) + "\n")
    else:
        run.out.write(_summary(integration) + "\n")
    return 0


def _create(args: argparse.Namespace, run: Run) -> int:
    key = _key(args, run, from_env=True)
    configurations = _configurations(args, run)
    fields: dict[str, Any] = {
        "name": args.name,
        "ai_provider_id": args.provider,
        "key": key,
        "configurations": configurations,
        "slug": NOT_GIVEN if args.slug is None else args.slug,
        "description": NOT_GIVEN if args.description is None else args.description,
        "workspace_id": NOT_GIVEN if args.workspace is None else args.workspace,
        "create_default_provider": False if args.no_default_provider else NOT_GIVEN,
    }
    with _client(args) as portkey:
        ref = usage_checked(lambda: portkey.integrations.create(**fields))
    if args.json:
        run.out.write(json.dumps({"id": ref.id, "slug": ref.slug}) + "\n")
    else:
        run.out.write(f"created integration {printable(ref.slug)} (id {printable(ref.id)})\n")
    return 0


def _update(args: argparse.Namespace, run: Run) -> int:
    fields: dict[str, Any] = {
        "name": NOT_GIVEN if args.name is None else args.name,
        "description": NOT_GIVEN if args.description is None else args.description,
        "key": _key(args, run, from_env=args.key_from_env),
        "configurations": _configurations(args, run),
    }
    with _client(args) as portkey:
        usage_checked(lambda: portkey.integrations.update(args.slug, **fields))
    run.out.write(f"updated integration {printable(args.slug)}\n")
    return 0


def _delete(args: argparse.Namespace, run: Run) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete without --yes when not run from a terminal")
        answer = input(f"Delete integration {printable(args.slug)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            run.out.write("not deleted\n")
            return 0
    with _client(args) as portkey:
        usage_checked(lambda: portkey.integrations.delete(args.slug))
    run.out.write(f"deleted integration {printable(args.slug)}\n")
    return 0


def _models(args: argparse.Namespace, run: Run) -> int:
    both = set(args.enable) & set(args.disable)
    if both:
        raise UsageError(f"both enabled and disabled: {', '.join(map(printable, sorted(both)))}")
    changes = [{"slug": m, "enabled": True} for m in args.enable]
    changes += [{"slug": m, "enabled": False} for m in args.disable]
    with _client(args) as portkey:
        if changes:
            usage_checked(lambda: portkey.integrations.models.update(args.slug, models=changes))
        models = usage_checked(lambda: list(portkey.integrations.models.list(args.slug)))
    if args.json:
        run.out.write(json.dumps([m.to_dict() for m in models], indent=2, default=str) + "\n")
        return 0
    rows = [[m.slug, m.name, _yes_no(m.enabled), _yes_no(m.is_custom)] for m in models]
    run.out.write(table_or_dash(["MODEL", "NAME", "ENABLED", "CUSTOM"], rows))
    return 0


def _workspaces(args: argparse.Namespace, run: Run) -> int:
    both = set(args.grant) & set(args.revoke)
    if both:
        raise UsageError(f"both granted and revoked: {', '.join(map(printable, sorted(both)))}")
    changes = [{"id": w, "enabled": True} for w in args.grant]
    changes += [{"id": w, "enabled": False} for w in args.revoke]
    with _client(args) as portkey:
        if changes:
            usage_checked(
                lambda: portkey.integrations.workspaces.update(args.slug, workspaces=changes)
            )
        access = usage_checked(lambda: list(portkey.integrations.workspaces.list(args.slug)))
    if args.json:
        run.out.write(json.dumps([w.to_dict() for w in access], indent=2, default=str) + "\n")
        return 0
    rows = [
        [
            w.id,
            _yes_no(w.enabled),
            json.dumps([u.to_dict() for u in w.usage_limits]) if w.usage_limits else "-",
        ]
        for w in access
    ]
    run.out.write(table_or_dash(["WORKSPACE", "ENABLED", "USAGE LIMITS"], rows))
    return 0


# -- helpers -------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Portkey:
    return client(args, workspace_id=args.workspace)


def _key(args: argparse.Namespace, run: Run, *, from_env: bool) -> Any:
    """The provider's key: stdin with ``--key-stdin``, else the environment when allowed."""
    if args.key_stdin:
        key = _provider_key(args, run.stdin, required=False)
    elif from_env:
        key = os.environ.get(PROVIDER_KEY_ENV, "").strip("\r\n") or None
    else:
        key = None
    if key is None:
        return NOT_GIVEN
    run.secrets.append(key)
    return key


def _configurations(args: argparse.Namespace, run: Run) -> Any:
    path = args.configurations_file
    if path is None:
        return NOT_GIVEN
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise UsageError(f"--configurations-file: cannot read {printable(path)}") from exc
    try:
        value = json.loads(text)
    except ValueError:
        # Not the decoder's message: it quotes the text, which may hold a secret.
        raise UsageError("--configurations-file is not valid JSON") from None
    if not isinstance(value, dict):
        raise UsageError("--configurations-file must hold a JSON object")
    run.secrets.extend(configuration_secrets(value))
    return value


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _summary(integration: Integration) -> str:
    data = integration.to_dict()
    width = max(len(name) for name in _FIELDS)
    lines = []
    for name in _FIELDS:
        value = data.get(name)
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"{name:<{width}}  {printable(text)}")
    return "\n".join(lines)
