"""``portkey-vk`` against a careless user and a closed pipe (issue 19, items 8 to 10).

A secret typed as an option is refused without being echoed; ``| head -1`` ends quietly; CSV
carries the server's strings unchanged but for the formula guard.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from portkey_vk import cli
from portkey_vk.cli import main
from portkey_vk.testing import FakePortkey

SECRET = "pk-cli-hardening-secret"
TYPED = "sk-typed-on-argv-0123456789"


@pytest.fixture
def served() -> Iterator[FakePortkey]:
    with FakePortkey(api_key=SECRET) as server:
        server.add_virtual_key("openai-prod", name="OpenAI prod")
        yield server


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def _commands() -> list[list[str]]:
    """Every command path: ``[]``, ``["retrieve"]``, ``["providers", "list"]``, ..."""
    return [prog.split()[1:] for prog, _ in _parsers(cli._parser())]


def test_no_parser_takes_abbreviations() -> None:
    parsers = list(_parsers(cli._parser()))
    assert len(parsers) > 10
    assert [prog for prog, p in parsers if p.allow_abbrev] == []


def test_create_with_key_is_refused_without_echoing_it(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create", "--name", "n", "--provider", "openai", "--key", TYPED]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--api-key", SECRET, "--base-url", served.base_url])
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert TYPED not in out + err
    assert "--key: secrets are never taken as arguments" in err
    assert served.requests == []


def test_update_with_key_and_piped_stdin_sends_nothing(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    # --key used to abbreviate --key-stdin: the secret became the slug, the piped key its value.
    argv = ["update", "--key", TYPED, "--note", "x", "--api-key", SECRET]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--base-url", served.base_url], stdin=io.StringIO("sk-piped-key\n"))
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert TYPED not in out + err
    assert served.requests == []


@pytest.mark.parametrize("flag", ["--key", "--api-key", "--secret", "--password", "--token"])
@pytest.mark.parametrize("joined", [False, True], ids=["spaced", "equals"])
@pytest.mark.parametrize("where", ["first", "after-command", "last"])
def test_every_command_refuses_secret_flags_silently(
    flag: str, joined: bool, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_args = [f"{flag}={TYPED}"] if joined else [flag, TYPED]
    for command in _commands():
        extra = [] if not command or command == ["providers"] else ["SLUG"]
        if where == "first":
            argv = [*secret_args, *command, *extra]
        elif where == "after-command":
            argv = [*command, *secret_args, *extra]
        else:
            argv = [*command, *extra, *secret_args]
        if flag == "--api-key" and where != "first" and "--api-key" in _options(command):
            continue  # the documented (discouraged) option, where its command has it
        with pytest.raises(SystemExit) as info:
            main(argv, stdin=io.StringIO("sk-piped\n"))
        out, err = capsys.readouterr()
        assert info.value.code == 2, argv
        assert TYPED not in out + err, argv


def _options(command: list[str]) -> set[str]:
    for prog, parser in _parsers(cli._parser()):
        if prog.split()[1:] == command:
            return set(parser._option_string_actions)
    raise AssertionError(command)


def test_unrecognized_arguments_are_named_but_values_are_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["create", "--name", "n", "--provider", "openai", "--kye", TYPED])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert TYPED not in err
    assert "unrecognized arguments: --kye and 1 other argument" in err


# -- a closed pipe ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [["--jsonl"], ["--csv"], ["--json"], []], ids=str)
def test_a_reader_that_stops_early_ends_the_listing_quietly(fmt: list[str]) -> None:
    with FakePortkey(api_key=SECRET) as server:
        for i in range(3000):
            server.add_virtual_key(f"key-{i:05d}", name=f"name {i} " + "x" * 60)
        env = {**os.environ, "PORTKEY_API_KEY": SECRET, "PORTKEY_BASE_URL": server.base_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "portkey_vk", "list", "--page-size", "1000", *fmt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # as `head -1` does
        err = proc.stderr.read().decode()
        proc.stderr.close()
        code = proc.wait(timeout=60)
    assert first
    assert err == ""
    assert code == 0


# -- CSV keeps the data ---------------------------------------------------------------------------

NAMES = [
    "line\nbreak",
    "carriage\r\nreturn",
    'quote " and, comma',
    "\x1b]0;title\x07",
    "bidi \u202e override",
    "tab\tinside",
    "=HYPERLINK(1)",
    "+1",
    "-1",
    "@SUM(A1)",
    "emoji \U0001f600 and é",
    "",
]


def test_csv_gives_back_the_servers_strings(capsys: pytest.CaptureFixture[str]) -> None:
    with FakePortkey(api_key=SECRET) as server:
        for i, name in enumerate(NAMES):
            server.add_virtual_key(f"k{i:02d}", name=name, note=name)
        out = io.StringIO()
        code = main(["list", "--csv", "--api-key", SECRET, "--base-url", server.base_url], out=out)
    assert (code, capsys.readouterr().err) == (0, "")
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows[0] == ["slug", "name", "ai_provider_name", "status", "created_at", "note"]
    names = {row[0]: (row[1], row[5]) for row in rows[1:]}
    for i, name in enumerate(NAMES):
        expected = "'" + name if name[:1] in ("=", "+", "-", "@") else name
        assert names[f"k{i:02d}"] == (expected, expected)


def test_csv_to_a_terminal_is_escaped_as_the_table_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli._common, "is_terminal", lambda stream: stream is out)
    with FakePortkey(api_key=SECRET) as server:
        server.add_virtual_key("evil", name="=\x1b]0;t\x07", note="two\nlines")
        code = main(["list", "--csv", "--api-key", SECRET, "--base-url", server.base_url], out=out)
    assert code == 0
    assert "\x1b" not in out.getvalue()
    row = list(csv.reader(io.StringIO(out.getvalue(), newline="")))[-1]
    assert (row[0], row[1], row[5]) == ("evil", "'=\\x1b]0;t\\x07", "two\\x0alines")
