"""``portkey-vk``: output, ``--json``, the offline demo, and one exit code per kind of failure.

Most cases call ``main(argv)`` in-process (fast, and the output is captured); the console entry
points and Ctrl-C-free error paths also run as real subprocesses, as a user would meet them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from portkey_vk import __version__
from portkey_vk.cli import EXIT_CODES, main
from portkey_vk.testing import FakePortkey
from tests.conftest import unused_port
from tests.hostile import Behaviour, HostileServer, respond

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
    assert done.stderr == b""
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
