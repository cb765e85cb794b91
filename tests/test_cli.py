"""``portkey-vk``: output, ``--json``, the offline demo, and one exit code per kind of failure.

Most cases call ``main(argv)`` in-process (fast, and the output is captured); the console entry
points and Ctrl-C-free error paths also run as real subprocesses, as a user would meet them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portkey_vk import __version__
from portkey_vk.cli import EXIT_CODES, main
from portkey_vk.testing import FakePortkey
from tests.conftest import unused_port

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
    assert done.stderr == ""
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
    assert "404" in one_error_line(done.stderr)
