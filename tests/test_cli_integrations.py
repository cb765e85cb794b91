"""`portkey-vk integrations ...`, in-process against FakePortkey."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from portkey_vk.cli import main
from portkey_vk.testing import FakePortkey

SECRET = "pk-cli-integrations-secret"
PROVIDER_KEY = "sk-provider-cli-0123456789"
AWS = "aws-secret-cli-9876543210"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePortkey]:
    with FakePortkey(api_key=SECRET) as server:
        monkeypatch.setenv("PORTKEY_API_KEY", SECRET)
        monkeypatch.setenv("PORTKEY_BASE_URL", server.base_url)
        monkeypatch.delenv("PORTKEY_PROVIDER_KEY", raising=False)
        yield server


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(argv, out=out, stdin=io.StringIO(stdin))
    err = capsys.readouterr().err
    for secret in (SECRET, PROVIDER_KEY, AWS):
        assert secret not in out.getvalue() + err
    assert "Traceback" not in err
    return code, out.getvalue(), err


def test_list_and_get(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_integration("openai-org", name="OpenAI\x1b[2J", key=PROVIDER_KEY)
    served.add_integration("team", workspace_id="ws-1")
    code, out, _ = run(["integrations", "list"], capsys)
    assert code == 0
    assert "openai-org" in out
    assert "\x1b" not in out  # server text is escaped for the terminal
    assert out.endswith("2 integrations\n")
    code, out, _ = run(["integrations", "list", "--type", "workspace", "--json"], capsys)
    assert [i["slug"] for i in json.loads(out)] == ["team"]
    code, out, _ = run(["integrations", "get", "openai-org"], capsys)
    assert code == 0
    assert "masked_key" in out
    code, out, _ = run(["integrations", "get", "openai-org", "--json"], capsys)
    assert json.loads(out)["slug"] == "openai-org"
    code, _, err = run(["integrations", "get", "missing"], capsys)
    assert code == 4
    assert err


def test_create_reads_the_key_from_stdin_and_configurations_from_a_file(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "bedrock.json"
    settings.write_text(json.dumps({"aws_region": "eu-west-1", "aws_secret_access_key": AWS}))
    argv = ["integrations", "create", "--name", "Bedrock", "--provider", "bedrock"]
    argv += ["--key-stdin", "--configurations-file", str(settings), "--slug", "bedrock-eu"]
    argv += ["--workspace", "ws-1", "--no-default-provider", "--json"]
    code, out, _ = run(argv, capsys, stdin=PROVIDER_KEY + "\n")
    assert code == 0
    assert json.loads(out)["slug"] == "bedrock-eu"
    assert served.requests[-1].json == {
        "name": "Bedrock",
        "ai_provider_id": "bedrock",
        "key": PROVIDER_KEY,
        "configurations": {"aws_region": "eu-west-1", "aws_secret_access_key": AWS},
        "slug": "bedrock-eu",
        "workspace_id": "ws-1",
        "create_default_provider": False,
    }


def test_create_reads_the_key_from_the_environment(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTKEY_PROVIDER_KEY", PROVIDER_KEY)
    code, out, _ = run(
        ["integrations", "create", "--name", "OpenAI", "--provider", "openai"], capsys
    )
    assert code == 0
    assert out.startswith("created integration openai-")
    assert served.requests[-1].json["key"] == PROVIDER_KEY


def test_a_secret_on_the_command_line_is_refused(
    served: FakePortkey, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["integrations", "create", "--name", "n", "--provider", "openai", "--key", PROVIDER_KEY]
    with pytest.raises(SystemExit) as info:
        main(argv, out=io.StringIO())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--key" in err
    assert PROVIDER_KEY not in err
    assert served.requests == []


def test_an_error_echoing_the_key_does_not_show_it(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    served.fail_next(400, body={"message": f"bad key {PROVIDER_KEY} and {AWS}"})
    settings = tmp_path / "c.json"
    settings.write_text(json.dumps({"aws_secret_access_key": AWS}))
    argv = ["integrations", "update", "i", "--key-stdin", "--configurations-file", str(settings)]
    code, _, err = run(argv, capsys, stdin=PROVIDER_KEY)
    assert code == 1
    assert "bad key" in err


def test_update_and_delete(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_integration("i")
    code, out, _ = run(["integrations", "update", "i", "--description", "d"], capsys)
    assert (code, out) == (0, "updated integration i\n")
    assert served.requests[-1].json == {"description": "d"}
    code, _, err = run(["integrations", "update", "i"], capsys)
    assert code == 2
    assert "at least one field" in err
    code, _, err = run(["integrations", "delete", "i"], capsys)
    assert code == 2  # no --yes and no terminal
    code, out, _ = run(["integrations", "delete", "i", "--yes"], capsys)
    assert (code, out) == (0, "deleted integration i\n")


def test_update_takes_the_key_from_the_environment_only_when_asked(
    served: FakePortkey, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served.add_integration("i")
    monkeypatch.setenv("PORTKEY_PROVIDER_KEY", PROVIDER_KEY)
    run(["integrations", "update", "i", "--name", "n"], capsys)
    assert "key" not in served.requests[-1].json
    run(["integrations", "update", "i", "--key-from-env"], capsys)
    assert served.requests[-1].json == {"key": PROVIDER_KEY}


def test_models(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_integration("i", models=[{"slug": "gpt-4o", "enabled": False}])
    code, out, _ = run(["integrations", "models", "i"], capsys)
    assert code == 0
    assert "gpt-4o" in out
    assert [r.method for r in served.requests] == ["GET"]
    argv = ["integrations", "models", "i", "--enable", "gpt-4o", "--disable", "o1", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert [(m["slug"], m["enabled"]) for m in json.loads(out)] == [
        ("gpt-4o", True),
        ("o1", False),
    ]
    assert served.requests[-2].json == {
        "models": [{"slug": "gpt-4o", "enabled": True}, {"slug": "o1", "enabled": False}]
    }
    code, _, _ = run(["integrations", "models", "i", "--enable", "a", "--disable", "a"], capsys)
    assert code == 2
    code, _, _ = run(["integrations", "models", "missing"], capsys)
    assert code == 4


def test_workspaces(served: FakePortkey, capsys: pytest.CaptureFixture[str]) -> None:
    served.add_integration("i")
    argv = ["integrations", "workspaces", "i", "--grant", "ws-1", "--revoke", "ws-2"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert "ws-1" in out
    assert served.requests[-2].json == {
        "workspaces": [{"id": "ws-1", "enabled": True}, {"id": "ws-2", "enabled": False}]
    }
    code, out, _ = run(["integrations", "workspaces", "i", "--json"], capsys)
    assert [(w["id"], w["enabled"]) for w in json.loads(out)] == [("ws-1", True), ("ws-2", False)]
