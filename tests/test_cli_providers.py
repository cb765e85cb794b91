"""`portkey-vk providers ...` and `portkey-vk migration-check`, in-process against FakePortkey."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from portkey_vk.cli import main
from portkey_vk.cli._common import printable
from portkey_vk.testing import FakePortkey

SECRET = "pk-cli-providers-secret"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePortkey]:
    with FakePortkey(api_key=SECRET) as server:
        monkeypatch.setenv("PORTKEY_API_KEY", SECRET)
        monkeypatch.setenv("PORTKEY_BASE_URL", server.base_url)
        yield server


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out)
    err = capsys.readouterr().err
    assert SECRET not in out.getvalue() + err
    assert "Traceback" not in err
    return code, out.getvalue(), err


# -- providers ---------------------------------------------------------------------------------


def test_list(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_provider("prod-openai", name="Prod OpenAI", integration_id="openai-org")
    served.add_provider("eu-azure", name="EU", status="exhausted", integration_id="azure")
    code, out, err = run(["providers", "list"], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "STATUS", "INTEGRATION", "EXPIRES"]
    assert lines[1].split() == ["prod-openai", "Prod", "OpenAI", "active", "openai-org", "-"]
    assert lines[2].split() == ["eu-azure", "EU", "exhausted", "azure", "-"]
    assert lines[3] == "2 providers"


def test_list_json_with_a_workspace(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    served.add_provider("mine", workspace_id="ws-1")
    served.add_provider("theirs", workspace_id="ws-2")
    code, out, _ = run(["providers", "list", "--json", "--workspace", "ws-1"], capsys)
    assert code == 0
    assert [p["slug"] for p in json.loads(out)] == ["mine"]
    assert served.requests[-1].query["workspace_id"] == "ws-1"


def test_get(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_provider(
        "prod", name="Prod", note="team search", usage_limits={"credit_limit": 5, "type": "cost"}
    )
    code, out, _ = run(["providers", "get", "prod"], capsys)
    assert code == 0
    assert "integration_id" in out
    assert "team search" in out
    assert '"credit_limit": 5' in out
    code, out, _ = run(["providers", "get", "prod", "--json"], capsys)
    assert json.loads(out)["name"] == "Prod"


def test_get_missing_is_exit_4(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["providers", "get", "nope"], capsys)
    assert (code, out) == (4, "")
    assert err.startswith("portkey-vk: error: NotFoundError: 404")


def test_create(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_integration("openai-org")  # a provider is created on an existing integration
    served.add_integration("i")
    code, out, _ = run(
        [
            "providers",
            "create",
            "--name",
            "Prod",
            "--integration",
            "openai-org",
            "--slug",
            "prod",
            "--note",
            "n",
            "--usage-limits",
            '{"credit_limit": 10, "type": "cost"}',
            "--rate-limits",
            '{"type": "requests", "unit": "rpm", "value": 60}',
            "--expires-at",
            "2027-01-01T00:00:00Z",
            "--workspace",
            "ws-1",
        ],
        capsys,
    )
    assert code == 0
    assert out.splitlines()[1] == 'use it as model="@prod/<model>"'
    assert served.requests[-1].json == {
        "name": "Prod",
        "integration_id": "openai-org",
        "workspace_id": "ws-1",
        "slug": "prod",
        "note": "n",
        "usage_limits": {"credit_limit": 10, "type": "cost"},
        "rate_limits": {"type": "requests", "unit": "rpm", "value": 60},
        "expires_at": "2027-01-01T00:00:00+00:00",
    }
    code, out, _ = run(
        ["providers", "create", "--name", "X", "--integration", "i", "--json"], capsys
    )
    assert code == 0
    assert set(json.loads(out)) == {"id", "slug"}


@pytest.mark.parametrize(
    "extra",
    [
        ["--usage-limits", "{not json"],
        ["--usage-limits", "5"],
        ["--rate-limits", '{"value": "many"}'],
        ["--expires-at", "soon"],
        ["--expires-at", "2027-01-01T00:00:00"],  # no offset: ambiguous
        ["--name", ""],
    ],
)
def test_create_usage_errors_send_nothing(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    code, _, err = run(["providers", "create", "--name", "n", "--integration", "i", *extra], capsys)
    assert code == 2
    assert err.startswith("portkey-vk: error: ")
    assert served.requests == []


def test_create_needs_name_and_integration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["providers", "create", "--name", "n"])
    assert info.value.code == 2
    assert "--integration" in capsys.readouterr().err


def test_update(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_provider("prod", note="old", expires_at=datetime(2027, 1, 1, tzinfo=timezone.utc))
    code, out, _ = run(
        [
            "providers",
            "update",
            "prod",
            "--note",
            "null",
            "--usage-limits",
            "null",
            "--expires-at",
            "none",
            "--reset-usage",
        ],
        capsys,
    )
    assert (code, out) == (0, "updated provider prod\n")
    assert served.requests[-1].json == {
        "note": None,
        "usage_limits": None,
        "expires_at": None,
        "reset_usage": True,
    }


def test_update_with_nothing_to_change(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["providers", "update", "prod"], capsys)
    assert code == 2
    assert "at least one field" in err
    assert served.requests == []


def test_delete_needs_yes_off_a_terminal(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served.add_provider("prod")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(["providers", "delete", "prod"], capsys)
    assert code == 2
    assert "--yes" in err
    assert served.requests == []
    code, out, _ = run(["providers", "delete", "prod", "--yes"], capsys)
    assert (code, out) == (0, "deleted provider prod\n")
    assert served.requests[-1].method == "DELETE"


def test_delete_asks_on_a_terminal(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served.add_provider("prod")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, _ = run(["providers", "delete", "prod"], capsys)
    assert (code, out) == (0, "not deleted\n")
    assert served.requests == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, out, _ = run(["providers", "delete", "prod"], capsys)
    assert (code, out) == (0, "deleted provider prod\n")


def test_no_key_is_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORTKEY_API_KEY", raising=False)
    code, out, err = run(["providers", "list"], capsys)
    assert (code, out) == (3, "")
    assert "PORTKEY_API_KEY" in err


def test_a_refused_key_is_exit_3(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["migration-check", "--api-key", "pk-wrong"], capsys)
    assert code == 3
    assert "AuthenticationError" in err


# -- migration-check ---------------------------------------------------------------------------


def stock(fake: FakePortkey) -> None:
    fake.add_virtual_key("prod-openai", name="Prod OpenAI", ai_provider_name="openai")
    fake.add_virtual_key("legacy", name="Legacy", ai_provider_name="anthropic", as_provider=False)
    fake.add_virtual_key("spent", status="exhausted", as_provider=False)


def test_migration_check_not_ready(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    stock(served)
    code, out, err = run(["migration-check"], capsys)
    assert code == 1
    assert err == ""  # no progress when stderr is not a terminal
    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "AI", "PROVIDER", "STATUS", "PROVIDER", "MODEL"]
    assert lines[1].split() == [
        "prod-openai",
        "Prod",
        "OpenAI",
        "openai",
        "active",
        "yes",
        "@prod-openai/<model>",
    ]
    assert lines[2].split() == ["legacy", "Legacy", "anthropic", "active", "no", "-"]
    assert lines[3].split() == ["spent", "spent", "openai", "exhausted", "no", "-"]
    assert lines[4].startswith("3 virtual keys: 1 resolve as providers")
    assert lines[4].endswith("Not ready: active virtual keys do not resolve as providers.")
    assert lines[5] == "  not a provider: legacy"
    assert {r.method for r in served.requests} == {"GET"}


def test_migration_check_ready(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_virtual_key("a")
    served.add_virtual_key("b", status="exhausted", as_provider=False)
    code, out, _ = run(["migration-check", "--concurrency", "1"], capsys)
    assert code == 0
    assert "Ready: every active virtual key resolves as a provider." in out


def test_migration_check_json(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    stock(served)
    served.add_virtual_key("other", workspace_id="ws-2")
    code, out, _ = run(["migration-check", "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["ready"] is False
    assert report["summary"]["blocking"] == 1
    assert [row["slug"] for row in report["rows"]] == ["prod-openai", "legacy", "spent", "other"]
    code, out, _ = run(["migration-check", "--json", "--workspace", "ws-2"], capsys)
    assert code == 0
    assert json.loads(out)["workspace_id"] == "ws-2"
    assert [row["slug"] for row in json.loads(out)["rows"]] == ["other"]


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_migration_check_bad_concurrency(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    try:
        code = main(["migration-check", "--concurrency", value], out=io.StringIO())
    except SystemExit as exc:  # argparse refuses a non-int itself
        code = int(str(exc.code))
    assert code == 2
    assert served.requests == []


def test_migration_check_progress_on_a_terminal(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stock(served)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run(["migration-check"], capsys)
    assert code == 1
    assert "\rchecked 3/3 virtual keys" in err
    assert err.endswith("\r\x1b[K")  # the progress line is cleared


def test_human_output_escapes_control_characters(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    served.add_virtual_key("evil", name="\x1b[31mred\x1b[0m\r\u202eboss")
    served.add_provider("p", name="tab\there\nnew line")
    _, out, _ = run(["migration-check"], capsys)
    assert "\x1b" not in out
    assert "\r" not in out
    assert "\u202e" not in out
    assert "\\x1b[31mred\\x1b[0m\\x0d\\u202eboss" in out
    _, out, _ = run(["providers", "list"], capsys)
    assert "tab\\x09here\\x0anew line" in out
    _, out, _ = run(["providers", "get", "p"], capsys)
    assert "tab\\x09here\\x0anew line" in out
    # JSON escapes by itself, and keeps the data exact.
    _, out, _ = run(["migration-check", "--json"], capsys)
    assert json.loads(out)["rows"][0]["name"] == "\x1b[31mred\x1b[0m\r\u202eboss"


def test_printable() -> None:
    assert printable("plain text, ünïcode 名前") == "plain text, ünïcode 名前"
    assert printable("a\x00b\x7fc\x9fd") == "a\\x00b\\x7fc\\x9fd"
    assert printable("\u200bzero\u2028line") == "\\u200bzero\\u2028line"
    assert printable("\U000e0001tag") == "\\U000e0001tag"


def test_the_commands_run_as_a_program(served: FakePortkey) -> None:
    served.add_virtual_key("a")
    result = subprocess.run(
        [sys.executable, "-m", "portkey_vk", "migration-check", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ready"] is True
