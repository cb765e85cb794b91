"""Client construction: argument and environment resolution, validation before any request."""

from __future__ import annotations

import ssl

import pytest
from yarl import URL

import portkey_vk
from portkey_vk import DEFAULT_BASE_URL, AsyncPortkey, PortkeyError
from portkey_vk._config import encode_path_segment, redact
from portkey_vk._transport import _proxy_for


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTKEY_API_KEY", "pk-from-env")
    client = AsyncPortkey()
    assert client._config.api_key == "pk-from-env"
    assert client.base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_names_the_environment_variable(key: str | None) -> None:
    with pytest.raises(PortkeyError, match="PORTKEY_API_KEY"):
        AsyncPortkey(api_key=key)


def test_empty_env_key_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTKEY_API_KEY", "")
    with pytest.raises(PortkeyError, match="PORTKEY_API_KEY"):
        AsyncPortkey()


def test_key_with_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(PortkeyError) as info:
        AsyncPortkey(api_key="pk-secret\r\nx: y")
    assert "pk-secret" not in str(info.value)


def test_non_string_key_is_refused() -> None:
    with pytest.raises(PortkeyError, match="str"):
        AsyncPortkey(api_key=123)  # type: ignore[arg-type]


def test_explicit_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTKEY_API_KEY", "pk-env")
    monkeypatch.setenv("PORTKEY_BASE_URL", "https://env.example.com/v1")
    client = AsyncPortkey(api_key="pk-arg", base_url="https://arg.example.com/v1")
    assert client._config.api_key == "pk-arg"
    assert client.base_url == "https://arg.example.com/v1"


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTKEY_BASE_URL", "https://gw.example.com/portkey/v1/")
    assert AsyncPortkey(api_key="k").base_url == "https://gw.example.com/portkey/v1"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.portkey.ai/v1", "https://api.portkey.ai/v1"),
        ("https://api.portkey.ai/v1/", "https://api.portkey.ai/v1"),
        ("https://gw.example.com/portkey/v1", "https://gw.example.com/portkey/v1"),
        ("http://127.0.0.1:8787/v1//", "http://127.0.0.1:8787/v1"),
        ("  https://api.portkey.ai/v1  ", "https://api.portkey.ai/v1"),
        ("https://gw.example.com", "https://gw.example.com"),
    ],
)
def test_base_url_normalisation(given: str, expected: str) -> None:
    assert AsyncPortkey(api_key="k", base_url=given).base_url == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://api.portkey.ai/v1", "http"),
        ("api.portkey.ai/v1", "http"),
        ("file:///etc/passwd", "http"),
        ("https://", "host"),
        ("https://user:pw@api.portkey.ai/v1", "credentials"),
        ("https://api.portkey.ai/v1?x=1", "query"),
        ("https://api.port\nkey.ai/v1", "control"),
        ("http://[::1/v1", "valid URL"),
    ],
)
def test_bad_base_url_is_refused_at_construction(url: str, fragment: str) -> None:
    with pytest.raises(PortkeyError, match=fragment):
        AsyncPortkey(api_key="k", base_url=url)


def test_non_string_base_url() -> None:
    with pytest.raises(PortkeyError, match="str"):
        AsyncPortkey(api_key="k", base_url=123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": -1.0}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"timeout": "60"}, TypeError),
        ({"timeout": None}, TypeError),
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_retries": True}, TypeError),
        ({"default_headers": {"x": 1}}, TypeError),
        ({"default_headers": ["x"]}, TypeError),
        ({"default_headers": {"bad name": "v"}}, ValueError),
        ({"default_headers": {"x": "a\nb"}}, ValueError),
        ({"default_headers": {"X-Portkey-Api-Key": "v"}}, PortkeyError),
        ({"ssl": "yes"}, TypeError),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        AsyncPortkey(api_key="k", **kwargs)  # type: ignore[arg-type]


def test_settings_are_read_only_properties() -> None:
    client = AsyncPortkey(api_key="k", timeout=5, max_retries=0, default_headers={"a": "b"})
    assert (client.timeout, client.max_retries, client.default_headers) == (5.0, 0, {"a": "b"})
    with pytest.raises(AttributeError):
        client.timeout = 3  # type: ignore[misc]


def test_with_options_validates_and_merges() -> None:
    client = AsyncPortkey(api_key="k", default_headers={"a": "1", "b": "1"})
    copy = client.with_options(default_headers={"b": "2"})
    assert copy.default_headers == {"a": "1", "b": "2"}
    assert client.default_headers == {"a": "1", "b": "1"}
    assert copy._transport is client._transport
    with pytest.raises(ValueError):
        client.with_options(timeout=0)
    with pytest.raises(PortkeyError):
        client.with_options(default_headers={"x-portkey-api-key": "other"})


def test_ssl_option_is_kept() -> None:
    context = ssl.create_default_context()
    assert AsyncPortkey(api_key="k", ssl=context)._config.ssl is context
    assert AsyncPortkey(api_key="k", ssl=False)._config.ssl is False
    assert AsyncPortkey(api_key="k")._config.ssl is True


def test_config_repr_hides_the_key() -> None:
    client = AsyncPortkey(api_key="pk-very-secret")
    assert "pk-very-secret" not in repr(client._config)
    assert "pk-very-secret" not in repr(client)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), (".", "%2E"), ("a.b", "a.b"), ("é", "%C3%A9")],
)
def test_encode_path_segment(raw: str, encoded: str) -> None:
    assert encode_path_segment(raw) == encoded


def test_redact() -> None:
    assert redact("key=pk-1 and pk-1", "pk-1") == "key=[REDACTED] and [REDACTED]"
    assert redact("nothing", "pk-1") == "nothing"


def test_proxy_without_scheme_is_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "127.0.0.1:3128")
    assert _proxy_for(URL("http://control-plane.example/v1"))[0] == "http://127.0.0.1:3128"
    monkeypatch.setenv("NO_PROXY", "control-plane.example")
    assert _proxy_for(URL("http://control-plane.example/v1")) == (None, None)


def test_unknown_public_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = portkey_vk.no_such_name  # type: ignore[attr-defined]
    assert "Portkey" in dir(portkey_vk)
