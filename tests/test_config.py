"""Client construction: argument and environment resolution, validation before any request."""

from __future__ import annotations

import contextlib
import functools
import ssl
import sys
import warnings
from decimal import Decimal
from fractions import Fraction

import pytest
from yarl import URL

import portkey_vk
from portkey_vk import (
    DEFAULT_BASE_URL,
    AsyncPortkey,
    InsecureTransportWarning,
    Portkey,
    PortkeyError,
)
from portkey_vk._config import encode_path_segment, redact
from portkey_vk._transport import _proxy_for
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface


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


# -- bad input that aiohttp would only find while writing the request --------------------------
# Each used to pass construction and fail every attempt as APIConnectionError (0 requests sent),
# or escape as OverflowError. Now: PortkeyError or ValueError before anything is sent.

KEY_SECRET_PART = "pk-live-0123456789abcdef"
TOKEN_PUNCTUATION = "!#$%&'*+-.^_`|~"


KEY_BAD_CHARS = [
    "\x00",
    "\x01",
    "\x08",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x80",
    "\x85",
    "\x9f",
    "\t",
    " ",
    "\u00a0",
    "\u200b",
    "\u2028",
    "\u202e",
    "\ufeff",
    "é",
    "“",
    "\ud800",
    "\U0001f511",
]


@pytest.mark.parametrize(
    ("bad", "surface"),
    [
        *((bad, surface) for bad in KEY_BAD_CHARS for surface in ("AsyncPortkey", "Portkey")),
        # The environment cannot hold NUL or a lone surrogate at all.
        *((bad, "env") for bad in KEY_BAD_CHARS if bad not in ("\x00", "\ud800")),
    ],
    ids=repr,
)
@pytest.mark.parametrize("where", ["middle", "end-before-newline"])
def test_an_api_key_that_http_cannot_carry_is_refused_without_echoing_it(
    bad: str, where: str, surface: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = (
        f"{KEY_SECRET_PART[:8]}{bad}{KEY_SECRET_PART[8:]}"
        if where == "middle"
        else f"{KEY_SECRET_PART}{bad}x\n"
    )
    if surface == "env":
        monkeypatch.setenv("PORTKEY_API_KEY", key)
        construct = AsyncPortkey
    else:
        construct = functools.partial(getattr(portkey_vk, surface), api_key=key)
    with pytest.raises(PortkeyError) as info:
        construct()
    message = str(info.value)
    assert KEY_SECRET_PART[:8] not in message
    assert KEY_SECRET_PART[8:] not in message
    assert f"U+{ord(bad):04X}" in message


def test_a_key_with_surrounding_whitespace_is_trimmed() -> None:
    assert AsyncPortkey(api_key=f" \t{KEY_SECRET_PART}\r\n")._config.api_key == KEY_SECRET_PART


HEADER_NAME_OK = [
    "X-Custom",
    "x_trace",
    "a",
    "x" * 200,
    "9",
    f"x{TOKEN_PUNCTUATION}z",
]
HEADER_NAME_BAD = [
    "",
    " x",
    "x ",
    "x\x00y",
    "x\x01",
    "x\x7f",
    "x\x85",
    "x\ty",
    "x\r\ny",
    "é",
    "x\u202e",
    "\ud800",
    *(f"x{ch}y" for ch in '"(),/:;<=>?@[\\]{}'),
]
HEADER_VALUE_BAD = [
    *(f"a{chr(code)}b" for code in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F]),
    *(f"a{chr(code)}b" for code in range(0x80, 0xA0)),
    "a\ud800b",
    "\udfff",
]
HEADER_VALUE_OK = ["", "plain", "a\tb", " padded ", "café", "€", "\U0001f511", "a\u2028b", "\u202e"]


@pytest.mark.parametrize("name", HEADER_NAME_BAD, ids=repr)
def test_a_header_name_that_is_not_a_token_is_refused_at_construction(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        AsyncPortkey(api_key="k", default_headers={name: "v"})
    with pytest.raises(ValueError, match="header name"):
        AsyncPortkey(api_key="k").with_options(default_headers={name: "v"})


@pytest.mark.parametrize("value", HEADER_VALUE_BAD, ids=repr)
def test_a_header_value_with_a_control_character_is_refused_at_construction(value: str) -> None:
    with pytest.raises(ValueError, match=r"U\+[0-9A-F]{4}") as info:
        AsyncPortkey(api_key="k", default_headers={"x-value": value})
    # A value may be a credential: it is never quoted back.
    assert value not in str(info.value)
    with pytest.raises(ValueError):
        AsyncPortkey(api_key="k").with_options(default_headers={"x-value": value})


def test_every_refused_header_is_refused_per_call_before_any_request(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_virtual_key("k")
    for headers in [
        *({name: "v"} for name in HEADER_NAME_BAD),
        *({"x-value": value} for value in HEADER_VALUE_BAD),
    ]:
        with pytest.raises(ValueError):
            client.retrieve("k", extra_headers=headers)
    assert fake.requests == []


def test_every_ascii_character_in_a_name_is_either_refused_or_sent(
    fake: FakePortkey, client: Surface
) -> None:
    # The rule is exactly what HTTP carries: whatever is accepted arrives under its own name.
    fake.add_virtual_key("k")
    sent = []
    for code in range(128):
        name = f"x-{chr(code)}-y"
        try:
            client.retrieve("k", extra_headers={name: "v"})
        except ValueError:
            assert not chr(code).isalnum()
            assert chr(code) not in TOKEN_PUNCTUATION
        else:
            sent.append(name)
    assert len(sent) == 62 + len(TOKEN_PUNCTUATION)
    assert [r.headers.get(name) for r, name in zip(fake.requests, sent, strict=True)] == (
        ["v"] * len(sent)
    )


def test_every_latin_1_character_in_a_value_is_either_refused_or_sent_intact(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_virtual_key("k")
    sent = []
    for code in [*range(0x100), 0x2028, 0x202E, 0xFEFF, 0x1F511]:
        value = f"a{chr(code)}b"
        try:
            client.retrieve("k", extra_headers={"x-value": value})
        except ValueError:
            assert code < 0x20 or 0x7F <= code <= 0x9F
            assert code != 0x09
        else:
            sent.append(value)
    # Refused: C0 but tab (31), DEL, C1 (32).
    assert len(sent) == 256 - 64 + 4
    assert [r.headers["x-value"] for r in fake.requests] == sent


@pytest.mark.parametrize("value", HEADER_VALUE_OK, ids=repr)
def test_ordinary_header_values_are_accepted(value: str) -> None:
    assert AsyncPortkey(api_key="k", default_headers={"x-value": value}).default_headers == {
        "x-value": value
    }


@pytest.mark.parametrize("name", HEADER_NAME_OK)
def test_token_header_names_are_accepted(name: str) -> None:
    assert name in AsyncPortkey(api_key="k", default_headers={name: "v"}).default_headers


TIMEOUTS_BAD: list[tuple[object, type[Exception]]] = [
    (10**400, ValueError),
    (-(10**400), ValueError),
    (2**1024, ValueError),
    (float("nan"), ValueError),
    (float("inf"), ValueError),
    (float("-inf"), ValueError),
    (0, ValueError),
    (-0.0, ValueError),
    (-1e-300, ValueError),
    (True, TypeError),
    ("1", TypeError),
    (Decimal("1"), TypeError),
    (Fraction(1, 2), TypeError),
    (1 + 0j, TypeError),
]


@pytest.mark.parametrize(("timeout", "exc"), TIMEOUTS_BAD, ids=lambda v: repr(v)[:20])
def test_a_bad_timeout_is_refused_at_construction(timeout: object, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="timeout"):
        AsyncPortkey(api_key="k", timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(exc, match="timeout"):
        AsyncPortkey(api_key="k").with_options(timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(exc, match="timeout"):
        portkey_vk.Portkey(api_key="k", timeout=timeout)  # type: ignore[arg-type]


def test_a_bad_timeout_per_call_is_refused_before_any_request(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_virtual_key("k")
    for timeout, exc in TIMEOUTS_BAD:
        with pytest.raises(exc):
            client.retrieve("k", timeout=timeout)
    assert fake.requests == []


@pytest.mark.parametrize("timeout", [1e-300, 1e300, 10**300, 1.7976931348623157e308])
def test_extreme_but_finite_timeouts_are_accepted(timeout: float) -> None:
    assert AsyncPortkey(api_key="k", timeout=timeout).timeout == float(timeout)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://exa\x85mple.com/v1", r"control character \(U\+0085\)"),
        ("http://127.0.0.1:8/v\x9b1", "control"),
        ("http://127.0.0.1:8/\ud800", "surrogate"),
        ("http://ex ample.com/v1", "host name"),
        ("http://exa%00mple.com/v1", "host name"),
        ("http://a..b/v1", "host name"),
        ("http://-leading-hyphen.example/v1", "host name"),
        ("http://" + "a" * 64 + ".example/v1", "host name"),
        ("http://" + "a." * 127 + "example/v1", "host name"),
        ("http://127.0.0.1:0/v1", "port 0"),
    ],
)
def test_a_base_url_no_request_could_reach_is_refused_at_construction(
    url: str, fragment: str
) -> None:
    with pytest.raises(PortkeyError, match=fragment):
        AsyncPortkey(api_key="k", base_url=url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://my_service:8080", "http://my_service:8080"),
        ("http://localhost.:8080/v1", "http://localhost.:8080/v1"),
        ("http://bücher.example/v1", "http://xn--bcher-kva.example/v1"),
        ("http://[::1]:8787/v1", "http://[::1]:8787/v1"),
        ("http://" + "a" * 63 + ".example", "http://" + "a" * 63 + ".example"),
    ],
)
def test_unusual_but_valid_hosts_are_accepted(url: str, expected: str) -> None:
    loopback = URL(url).host in ("localhost.", "::1")
    with contextlib.nullcontext() if loopback else pytest.warns(InsecureTransportWarning):
        assert AsyncPortkey(api_key="k", base_url=url).base_url == expected


# -- plain http to a host that is not loopback (issue 19 item 12) ------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.portkey.ai/v1",
        "http://10.0.0.7:8787/v1",
        "http://portkey.internal.svc.cluster.local/v1",
        "http://[2001:db8::1]/v1",
        "http://localhost.example/v1",
        "http://128.0.0.1/v1",
    ],
)
@pytest.mark.parametrize("surface", ["async", "sync"])
def test_http_to_a_remote_host_warns_once_at_the_users_line(url: str, surface: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if surface == "async":
            client: AsyncPortkey | Portkey = AsyncPortkey(api_key="pk-warn-secret", base_url=url)
            line = sys._getframe().f_lineno - 1
        else:
            client = Portkey(api_key="pk-warn-secret", base_url=url)
            line = sys._getframe().f_lineno - 1
        client.with_options(timeout=5).with_options(max_retries=0)
        if isinstance(client, Portkey):
            client.close()
    assert [w.category for w in caught] == [InsecureTransportWarning]
    (warning,) = caught
    assert issubclass(warning.category, UserWarning)
    assert (warning.filename, warning.lineno) == (__file__, line)
    assert "cleartext" in str(warning.message)
    assert "pk-warn-secret" not in str(warning.message)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.portkey.ai/v1",
        "https://10.0.0.7/v1",
        "http://127.0.0.1:8787/v1",
        "http://127.255.0.9/v1",
        "http://localhost:8787/v1",
        "http://LOCALHOST./v1",
        "http://[::1]:8787/v1",
        "http://[::ffff:127.0.0.1]:8787/v1",
    ],
)
def test_https_and_loopback_are_silent(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AsyncPortkey(api_key="k", base_url=url)
        Portkey(api_key="k", base_url=url).close()


def test_http_from_the_environment_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTKEY_BASE_URL", "http://api.portkey.ai/v1")
    with pytest.warns(InsecureTransportWarning, match="http://api.portkey.ai"):
        AsyncPortkey(api_key="k")


def test_the_warning_can_be_made_an_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureTransportWarning)
        with pytest.raises(InsecureTransportWarning):
            AsyncPortkey(api_key="k", base_url="http://api.portkey.ai/v1")
    assert "InsecureTransportWarning" in portkey_vk.__all__
