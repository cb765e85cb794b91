"""``portkey-vk migration-check``: which virtual keys already resolve as providers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, Final, TextIO

from portkey_vk.cli._common import Run, client, plain_text, printable, table_or_dash, usage_checked
from portkey_vk.cli._providers import command
from portkey_vk.migration import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MigrationReport,
    MigrationRow,
    check_migration_sync,
)

__all__ = ["register"]

_EXIT_READY: Final = 0
_EXIT_NOT_READY: Final = 1


def register(commands: Any, epilog: str) -> None:
    """Add ``migration-check`` to the ``portkey-vk`` commands."""
    check = command(
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


def _migration_check(args: argparse.Namespace, run: Run) -> int:
    out = run.out
    progress = _progress(sys.stderr) if sys.stderr.isatty() else None
    with client(args, workspace_id=args.workspace) as portkey:
        try:
            report = usage_checked(
                lambda: check_migration_sync(
                    portkey, concurrency=args.concurrency, progress=progress
                )
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
        return f"yes ({plain_text(row.provider_status) or 'no status'})"

    rows = [
        [
            row.slug,
            row.name,
            row.ai_provider,
            plain_text(row.status),
            found(row),
            f"{row.model_prefix}/<model>" if row.model_prefix else None,
        ]
        for row in report.rows
    ]
    headers = ["SLUG", "NAME", "AI PROVIDER", "STATUS", "PROVIDER", "MODEL"]
    return table_or_dash(headers, rows) if rows else ""
