"""``portkey-vk``: virtual keys and providers from the command line.

Built on the sync facade, :class:`portkey_vk.Portkey`. Errors are one line on stderr and a
distinct exit code (see :data:`EXIT_CODES`); the API key and the provider key are never printed,
and server-controlled text in human output has its control characters escaped. Output is plain
text (no optional dependency): a table, or ``--json``/``--jsonl``/``--csv`` for scripts.

The package, floor by floor (each module imports only from the ones above it in this list):

- ``_common``: exit codes, the usage and no-key errors, escaping for a terminal and a
  spreadsheet, the client built from the connection options, and :class:`~._common.Run`.
- one module per command group: ``_virtual_keys`` (retrieve, list, create, update, delete),
  ``_providers`` (``providers ...``), ``_integrations`` (``integrations ...``, built on the
  first two), ``_migration`` (``migration-check``), ``_demo``.
- this module: the top-level parser, the secret-option guard, and :func:`main`, which runs the
  handler a command set and turns its errors into exit codes.

Adding a command group (say ``portkey-vk integrations list``) is one new module and one line:

1. ``portkey_vk/cli/_integrations.py`` with ``register(commands, epilog)``, which adds its
   parsers with ``commands.add_parser(name, ..., allow_abbrev=False)`` (or
   :func:`portkey_vk.cli._providers.command`, which adds the connection options and
   ``--workspace``), calls :func:`~._common.add_connection_options` if it talks to the control
   plane, and ``set_defaults(run=handler)``. A handler is ``(args, run: Run) -> exit code``: it
   writes to ``run.out``, builds its client with :func:`~._common.client`, raises
   :class:`~._common.UsageError` for bad input, and lets :class:`portkey_vk.PortkeyError`
   through; ``main`` reports both. It escapes server text with :func:`~._common.printable`.
2. Its module in :data:`_GROUPS` below.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from portkey_vk._config import API_KEY_ENV
from portkey_vk._errors import AuthenticationError, PortkeyError
from portkey_vk._version import __version__
from portkey_vk.cli import _demo, _integrations, _migration, _providers, _virtual_keys
from portkey_vk.cli._common import (
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    NoKeyError,
    Run,
    UsageError,
    error,
    exit_code,
)

__all__ = ["EXIT_CODES", "main"]

# Every command group, in the order `portkey-vk --help` lists them.
_GROUPS: Final = (_virtual_keys, _demo, _providers, _integrations, _migration)
_EXAMPLES: Final = """examples:
  portkey-vk list
  portkey-vk list --workspace ws-123 --jsonl | jq -r .slug
  printf %s "$OPENAI_API_KEY" | portkey-vk create --name prod-openai --provider openai --key-stdin
  portkey-vk update prod-openai --note "rotated" --key-stdin < new-key.txt
  portkey-vk delete prod-openai --yes
  portkey-vk retrieve prod-openai --json
"""
# An option whose name has one of these words is taken for a secret: refused before argparse
# sees it, whose messages would echo the value that follows it.
_SECRET_WORDS: Final = frozenset(
    {"key", "keys", "apikey", "secret", "secrets", "password", "passwd", "token", "tokens"}
)


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage Portkey virtual keys: retrieve, list, create, update, delete.",
        epilog=f"{_EXAMPLES}\nexit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.register(commands, f"exit codes:\n{codes}")
    return parser


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
    try:
        code = int(args.run(args, Run(out=out, stdin=stdin, secrets=secrets)))
        out.flush()  # a closed pipe is found here, not in the interpreter's flush at exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`portkey-vk list | head -1`): what it asked for, so a
        # quiet success, as a `set -o pipefail` script expects of a listing cut short.
        _discard_output(out)
        return EXIT_OK
    except UsageError as exc:
        error(f"error: {exc}", secrets)
        return EXIT_USAGE
    except NoKeyError as exc:
        error(f"error: {exc}", secrets)
        return EXIT_AUTH
    except PortkeyError as exc:
        # An APIStatusError reads "<status> <Portkey's message> (error code <code>, ...)".
        hint = ""
        if isinstance(exc, AuthenticationError):
            hint = f" (check {'--api-key' if getattr(args, 'api_key', None) else API_KEY_ENV})"
        error(f"error: {type(exc).__name__}: {exc}{hint}", secrets)
        return exit_code(exc)
    except KeyboardInterrupt:
        error("interrupted", secrets)
        return EXIT_INTERRUPTED


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
