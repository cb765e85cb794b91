"""The API key goes to base_url's origin and nowhere else: not across a redirect, not into a
repr, an exception, a log line, and ``~/.netrc`` never adds credentials. Proxies from the
environment are honoured and TLS is verified unless told otherwise."""

from __future__ import annotations

import asyncio
import base64
import collections
import gzip
import json
import logging
import os
import queue
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from portkey_vk import APIConnectionError, APIError, AsyncPortkey, Portkey, PortkeyError
from portkey_vk._scrub import UnderlyingError
from portkey_vk._transport import ERROR_BODY_LIMIT
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface, unused_port
from tests.hostile import (
    API_KEY,
    VK_BODY,
    ForwardProxy,
    HostileServer,
    assert_pool_clean,
    async_test,
    client_for,
    echo_key,
    in_pieces,
    ok,
    raw,
    respond,
)
from tests.leaks import assert_clean, assert_records_clean, found, frame_locals


def _texts(obj: object) -> Iterator[str]:
    yield repr(obj)
    yield str(obj)


def _exception_texts(exc: BaseException) -> Iterator[str]:
    """Everything an exception could show: its chain's str/repr and an APIError's fields."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield from _texts(current)
        yield from (repr(arg) for arg in current.args)
        for name in ("message", "url", "body", "headers", "request_id", "error_code"):
            value = getattr(current, name, None)
            yield repr(value)
            if hasattr(value, "items"):
                yield repr(dict(value.items()))
        current = current.__cause__ or current.__context__


def assert_no_key(exc: BaseException, *, fragments: bool = False) -> None:
    for text in _exception_texts(exc):
        assert API_KEY not in text, text
    # Every reachable string, in every decoded form (tests/leaks.py).
    assert_clean(exc, API_KEY, fragments=fragments)


# -- redirects ----------------------------------------------------------------------------------


def _redirect(status: int, location: str) -> Any:
    return respond(status, "", {"Location": location})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "location",
    [
        pytest.param("http://localhost:{port}/v1/virtual-keys/vk", id="other-host"),
        pytest.param("//localhost:{port}/v1/virtual-keys/vk", id="scheme-relative-other-host"),
        pytest.param("http://127.0.0.1:{other}/v1/virtual-keys/vk", id="other-port"),
        pytest.param("https://127.0.0.1:{port}/v1/virtual-keys/vk", id="other-scheme"),
        pytest.param("http://127.0.0.1:{other}/?leak={key}", id="key-in-location"),
    ],
)
@async_test
async def test_cross_origin_redirect_is_refused_and_not_retried(status: int, location: str) -> None:
    async with HostileServer() as other, HostileServer() as server:
        target = location.format(port=server.port, other=other.port, key=API_KEY)
        server.then(_redirect(status, target))
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(APIConnectionError, match=r"another origin|API key") as info:
                await client.virtual_keys.retrieve("vk")
            assert_no_key(info.value)
            assert_pool_clean(client)
            # A refusal would be refused again: one request, no retry, and nobody else asked.
            assert len(server.requests) == 1
            assert other.requests == []
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("/v1/virtual-keys/moved", id="relative"),
        pytest.param("http://127.0.0.1:{port}/v1/virtual-keys/moved", id="absolute"),
        pytest.param("moved", id="relative-segment"),
    ],
)
@async_test
async def test_same_origin_redirect_is_followed(location: str) -> None:
    async with HostileServer() as server:
        server.then(_redirect(307, location.format(port=server.port)), ok(name="moved"))
        async with client_for(server.base_url()) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.name == "moved"
            assert_pool_clean(client)
    _, second = server.requests
    assert second.target == "/v1/virtual-keys/moved"
    assert second.headers["x-portkey-api-key"] == API_KEY


@async_test
async def test_same_origin_redirect_carrying_the_key_is_refused() -> None:
    # Following it would put the key into the URL, and from there into logs and errors.
    async with HostileServer() as server:
        server.then(_redirect(302, f"/v1/virtual-keys/{API_KEY}"))
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.virtual_keys.retrieve("vk")
            assert_no_key(info.value)
    assert len(server.requests) == 1


@async_test
async def test_redirect_loop_stops_after_five_hops() -> None:
    async with HostileServer(default=_redirect(302, "/v1/virtual-keys/vk")) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(APIConnectionError, match="Too many redirects"):
                await client.virtual_keys.retrieve("vk")
            assert_pool_clean(client)
    assert len(server.requests) == 6


@async_test
async def test_https_to_http_redirect_is_refused(tls: TLS) -> None:
    async with HostileServer() as plain, HostileServer(ssl=tls.server) as server:
        server.then(_redirect(302, f"{plain.base_url()}/virtual-keys/vk"))
        async with client_for(server.base_url(), ssl=tls.client) as client:
            with pytest.raises(APIConnectionError, match="another origin"):
                await client.virtual_keys.retrieve("vk")
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
        assert plain.requests == []


# -- the key echoed by a hostile server -------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429, 500, 503, 418])
@async_test
async def test_key_echoed_in_an_error_is_redacted(status: int) -> None:
    async with HostileServer(default=echo_key(status)) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
    exc = info.value
    assert_no_key(exc)
    assert "[REDACTED]" in repr(getattr(exc, "body", None))
    # The server really did echo it: the test would see a leak.
    assert server.requests[0].headers["x-portkey-api-key"] == API_KEY


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"<html>bad key {API_KEY}</html>", id="html"),
        pytest.param(f'{{"created_at": "{API_KEY}"}}', id="invalid-field"),
        pytest.param(f'["{API_KEY}"]', id="array"),
    ],
)
@async_test
async def test_key_echoed_in_an_invalid_2xx_body_is_redacted(body: str) -> None:
    async with HostileServer(respond(200, body, {"X-Echo": API_KEY})) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
    assert_no_key(info.value)


@async_test
async def test_key_echoed_in_a_valid_2xx_is_redacted_from_model_and_raw_response() -> None:
    async with HostileServer(
        default=ok(name=API_KEY, note=f"key {API_KEY}", extra_field=API_KEY)
    ) as server:
        async with client_for(server.base_url()) as client:
            vk = await client.virtual_keys.retrieve("vk")
            raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
    assert API_KEY not in repr(vk)
    assert API_KEY not in repr(vk.to_dict())
    assert API_KEY not in raw_response.text()
    assert vk.name == "[REDACTED]"


@async_test
async def test_malformed_response_error_chain_holds_no_key() -> None:
    # aiohttp raises ClientResponseError for a response it cannot parse, and that error's repr
    # includes the request's headers; it must not ride along as the cause.
    bad = raw(b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}")
    async with HostileServer(bad, bad) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.virtual_keys.retrieve("vk")
    assert_no_key(info.value)
    assert "no colon" in info.value.message or "Invalid" in info.value.message


# -- repr and str of every object -------------------------------------------------------------


@async_test
async def test_no_repr_or_str_shows_the_key() -> None:
    async with FakePortkey(api_key=API_KEY) as fake:
        fake.add_virtual_key("vk", key="sk-****abcd")
        fake.fail_next(500, headers={"Retry-After": "0"})
        client = AsyncPortkey(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
        async with client:
            copy = client.with_options(timeout=5, default_headers={"X-Team": "a"})
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
            vk = await copy.virtual_keys.retrieve("vk")
            raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
            objects: list[object] = [
                client,
                copy,
                client._config,
                copy._config,
                client._transport,
                client.virtual_keys,
                client.virtual_keys.with_raw_response,
                vk,
                raw_response,
                fake,
                *fake.requests,
                info.value,
            ]
            for obj in objects:
                for text in _texts(obj):
                    assert API_KEY not in text, f"{type(obj).__name__}: {text}"
        assert fake.requests[0].headers["x-portkey-api-key"] == API_KEY


def test_key_problems_never_echo_the_key() -> None:
    bad = "pk-line\nbreak-SECRET"
    with pytest.raises(PortkeyError) as info:
        AsyncPortkey(api_key=bad, base_url="http://127.0.0.1:1/v1")
    assert "SECRET" not in str(info.value)
    with pytest.raises(PortkeyError) as info:
        AsyncPortkey(
            api_key=API_KEY,
            base_url="http://127.0.0.1:1/v1",
            default_headers={"X-Portkey-Api-Key": API_KEY},
        )
    assert API_KEY not in str(info.value)


# -- logging ----------------------------------------------------------------------------------


@async_test
async def test_no_log_record_at_any_level_contains_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    malformed = raw(b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 2\r\n\r\n{}")
    async with HostileServer() as server:
        async with client_for(server.base_url(), max_retries=1) as client:
            for script in (
                [echo_key(503), echo_key(401)],  # a retry, then an error echoing the key
                [malformed] * 2,  # connection errors, retried
                [_redirect(302, f"http://localhost:{server.port}/{API_KEY}")],
                [respond(200, f"<html>{API_KEY}</html>", {"X-Echo": API_KEY})],
            ):
                server.then(*script)
                with pytest.raises(APIError):
                    await client.virtual_keys.retrieve("vk")
            server.then(_redirect(302, "/v1/virtual-keys/moved"), echo_key(200))
            await client.virtual_keys.retrieve("vk")
            assert server.script == collections.deque()
    assert len(caplog.records) >= 10
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert API_KEY not in text, text
    assert_records_clean(caplog.records, API_KEY)
    assert any(record.levelno == logging.DEBUG for record in caplog.records)


# -- netrc ------------------------------------------------------------------------------------


@async_test
async def test_netrc_never_adds_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-SECRET\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    async with HostileServer() as server:
        # Control: aiohttp's own trust_env=True does read this netrc, so the test can see a leak.
        async with aiohttp.ClientSession(trust_env=True) as session:
            async with session.get(server.base_url() + "/virtual-keys/vk") as resp:
                await resp.read()
        assert "authorization" in server.requests[0].headers
        async with client_for(server.base_url()) as client:
            await client.virtual_keys.retrieve("vk")
        ours = server.requests[1]
        assert "authorization" not in ours.headers
        assert "netrc" not in repr(ours.headers)


# -- proxies ----------------------------------------------------------------------------------


@async_test
async def test_http_proxy_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy() as proxy, HostileServer() as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with client_for(server.base_url()) as client:
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
    assert [r.target for r in proxy.requests] == [f"{server.base_url()}/virtual-keys/vk"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
@async_test
async def test_proxy_credentials_reach_the_proxy_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tls: TLS, scheme: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    server_ssl = tls.server if scheme == "https" else None
    async with ForwardProxy() as proxy, HostileServer(ssl=server_ssl) as server:
        # Lower-case names work too, and a password may need percent-encoding.
        proxy_url = f"http://proxy-user:pr%C3%B6xy%20pw@127.0.0.1:{proxy.port}"
        monkeypatch.setenv(f"{scheme}_proxy", proxy_url)
        async with client_for(server.base_url(), ssl=tls.client) as client:
            await client.virtual_keys.retrieve("vk")
    expected = "Basic " + base64.b64encode("proxy-user:pröxy pw".encode()).decode()
    assert proxy.requests[0].headers["proxy-authorization"] == expected
    assert proxy.requests[0].method == ("CONNECT" if scheme == "https" else "GET")
    assert "proxy-authorization" not in server.requests[0].headers
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET" in logged
    assert expected not in logged


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1", ".0.0.1"])
@async_test
async def test_no_proxy_bypasses(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    async with ForwardProxy() as proxy, HostileServer() as server:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", no_proxy)
        async with client_for(server.base_url()) as client:
            await client.virtual_keys.retrieve("vk")
    assert proxy.requests == []
    assert len(server.requests) == 1


@async_test
async def test_https_proxy_tunnels_and_never_sees_the_key(
    monkeypatch: pytest.MonkeyPatch, tls: TLS
) -> None:
    async with ForwardProxy() as proxy, HostileServer(ssl=tls.server) as server:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # must not be used for https
        async with client_for(server.base_url(), ssl=tls.client) as client:
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
    (connect,) = proxy.requests
    assert connect.method == "CONNECT"
    assert connect.target == f"127.0.0.1:{server.port}"
    assert API_KEY not in repr(connect)
    assert server.requests[0].headers["x-portkey-api-key"] == API_KEY


# -- TLS --------------------------------------------------------------------------------------


class TLS:
    """A private CA, a server context with a cert for 127.0.0.1, a client context trusting it."""

    def __init__(self) -> None:
        ca = trustme.CA()
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.server)
        self.client = ssl.create_default_context()
        ca.configure_trust(self.client)


@pytest.fixture(scope="module")
def tls() -> TLS:
    return TLS()


@async_test
async def test_tls_is_verified_by_default(tls: TLS) -> None:
    async with HostileServer(ssl=tls.server) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIConnectionError, match=r"(?i)certificate"):
                await client.virtual_keys.retrieve("vk")
            assert_pool_clean(client)


@async_test
async def test_private_ca_context_works(tls: TLS) -> None:
    async with HostileServer(ssl=tls.server) as server:
        async with client_for(server.base_url(), ssl=tls.client) as client:
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
            # with_options copies share the pool, and so its TLS settings.
            copy = client.with_options(timeout=5)
            assert (await copy.virtual_keys.retrieve("vk")).slug == "vk"
    assert server.connections == 1


@async_test
async def test_private_ca_still_checks_the_hostname(tls: TLS) -> None:
    # The certificate names 127.0.0.1 only.
    async with HostileServer(ssl=tls.server) as server:
        async with client_for(server.base_url(host="localhost"), ssl=tls.client) as client:
            with pytest.raises(APIConnectionError, match=r"(?i)certificate|hostname"):
                await client.virtual_keys.retrieve("vk")


@async_test
async def test_ssl_false_disables_verification_when_asked(tls: TLS) -> None:
    async with HostileServer(ssl=tls.server) as server:
        async with client_for(server.base_url(), ssl=False) as client:
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"


@pytest.mark.parametrize("bad", ["no", 0, 1, object()])
def test_ssl_option_is_type_checked(bad: object) -> None:
    with pytest.raises(TypeError, match="ssl"):
        AsyncPortkey(api_key=API_KEY, base_url="https://127.0.0.1:1/v1", ssl=bad)  # type: ignore[arg-type]


# -- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "args", "exit_code", "via"),
    [
        pytest.param([echo_key(401)], [], 3, "env", id="401-echo-env"),
        pytest.param([echo_key(401)], [], 3, "argument", id="401-echo-argument"),
        pytest.param([ok(name=API_KEY, note=API_KEY)], ["--json"], 0, "env", id="200-echo-json"),
        pytest.param(
            [raw(b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 2\r\n\r\n{}")] * 3,
            [],
            5,
            "argument",
            id="malformed",
        ),
        pytest.param(
            [
                raw(
                    b"HTTP/1.1 200 OK\r\nX-Big: "
                    + b"a" * 85
                    + API_KEY.encode()
                    + b"a" * 9000
                    + b"\r\n\r\n"
                )
            ]
            * 3,
            [],
            5,
            "env",
            id="header-too-long-quoting-15-characters",
        ),
        pytest.param(
            [respond(302, "", {"Location": "/v1/virtual-keys/%2570%256b" + API_KEY[2:]})],
            [],
            5,
            "env",
            id="location-double-percent-encoded",
        ),
    ],
)
@async_test
async def test_cli_never_prints_the_key(
    script: list[Any], args: list[str], exit_code: int, via: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    env["PORTKEY_LOG"] = "debug"
    async with HostileServer(*script) as server:
        argv = ["retrieve", "vk", "--base-url", server.base_url(), "--timeout", "2", *args]
        if via == "env":
            env["PORTKEY_API_KEY"] = API_KEY
        else:
            argv += ["--api-key", API_KEY]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "portkey_vk",
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    output = stdout.decode() + stderr.decode()
    assert process.returncode == exit_code, output
    assert API_KEY not in output
    assert found(output, [API_KEY], fragments=True) is None, output
    assert server.requests[0].headers["x-portkey-api-key"] == API_KEY


# -- round 2: the key in any decoded form, in cause chains, in header names ---------------------


def _percent(text: str, *, upper: bool = False) -> str:
    return "".join(f"%{ord(ch):02X}" if upper else f"%{ord(ch):02x}" for ch in text)


def _json_u(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


_K = API_KEY
# How a hostile server may write the key so that a decoding step (URL, JSON, HTML, or a caller
# decoding once more) turns it back into the key. Up to four decodings, in any order.
KEY_FORMS = {
    "percent-first-char": "%70" + _K[1:],
    "percent-all": _percent(_K),
    "percent-upper-hex": _percent(_K, upper=True),
    "percent-mixed-case-hex": "".join(_percent(ch, upper=bool(i % 2)) for i, ch in enumerate(_K)),
    "percent-partial": _K[:3] + _percent(_K[3:11]) + _K[11:],
    "percent-double": _percent(_K).replace("%", "%25"),
    "percent-triple": _percent(_K).replace("%", "%2525"),
    "percent-quadruple": _percent(_K).replace("%", "%252525"),
    "json-u-first-char": "\\u0070" + _K[1:],
    "json-u-all": _json_u(_K),
    "json-u-upper-hex": "\\u0070\\u006B" + _K[2:],
    "json-needless-escapes": _K.replace("-", "\\-"),
    "html-decimal": "&#112;" + _K[1:],
    "html-hex": "&#x70;" + _K[1:],
    "html-leading-zeros": "&#0000112;" + _K[1:],
    "json-then-percent": "\\u0025" + "70" + _K[1:],
    "percent-then-json": "%5Cu0070" + _K[1:],
    "percent-then-html": "%26%23112%3B" + _K[1:],
    "html-then-percent": "&#37;70" + _K[1:],
}
_FORM_PARAMS = [pytest.param(form, id=name) for name, form in KEY_FORMS.items()]


def _is_token(text: str) -> bool:
    return all(ch.isalnum() or ch in "!#$%&'*+-.^_`|~" for ch in text)


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("form", _FORM_PARAMS)
@async_test
async def test_same_origin_location_holding_an_encoded_key_is_refused(
    form: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    async with HostileServer() as server:
        server.then(_redirect(status, f"/v1/virtual-keys/x-{form}"))
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(APIConnectionError, match="API key") as info:
                await client.virtual_keys.retrieve("vk")
            assert_no_key(info.value)
            assert_pool_clean(client)
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
    # Refused before following, and not retried: the encoded key never went back on the wire.
    assert [r.target for r in server.requests] == ["/v1/virtual-keys/vk"] * 2
    assert_records_clean(caplog.records, API_KEY)


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("/v1/virtual-keys/vk?k={form}", id="query"),
        pytest.param("/v1/virtual-keys/vk#{form}", id="fragment"),
        pytest.param("http://{form}@127.0.0.1:{port}/v1/virtual-keys/vk", id="userinfo"),
        pytest.param("http://u:{form}@127.0.0.1:{port}/v1/virtual-keys/vk", id="password"),
        pytest.param("http://127.0.0.1:{port}/v1/{form}/vk", id="absolute"),
        pytest.param("{form}", id="relative-segment"),
    ],
)
@async_test
async def test_encoded_key_anywhere_in_a_location_is_refused(location: str) -> None:
    async with HostileServer() as server:
        target = location.format(form=KEY_FORMS["percent-mixed-case-hex"], port=server.port)
        server.then(_redirect(307, target))
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIConnectionError, match="API key") as info:
                await client.virtual_keys.retrieve("vk")
            assert_no_key(info.value)
    assert len(server.requests) == 1


def _echoing_body(form: str) -> str:
    # Written by hand, not json.dumps: the form must reach the body exactly as given.
    return (
        '{"slug": "vk", "name": "' + form + '", "note": "the key is ' + form + '", '
        '"object": "virtual-key", "extra_echo": ["' + form + '"], "' + form + '": 1}'
    )


def _echo_headers(form: str) -> dict[str, str]:
    headers = {"X-Echo": form, "X-Portkey-Request-Id": form}
    if _is_token(form):
        headers[form] = "1"  # the key as a header name
    return headers


@pytest.mark.parametrize("form", _FORM_PARAMS)
@async_test
async def test_encoded_key_echoed_in_a_2xx_reaches_no_field(form: str) -> None:
    answer = respond(200, _echoing_body(form), _echo_headers(form))
    async with HostileServer(default=answer) as server:
        async with client_for(server.base_url()) as client:
            raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
            shown: list[object] = [
                raw_response,
                raw_response.content,
                raw_response.text(),
                raw_response.headers,
                raw_response.request_id,
            ]
            try:
                vk = await client.virtual_keys.retrieve("vk")
                shown += [vk, vk.to_dict(), raw_response.json(), await raw_response.parse()]
            except APIError as exc:  # the form made the body invalid JSON
                assert form == KEY_FORMS["json-needless-escapes"]
                shown.append(exc)
    for obj in shown:
        assert_clean(obj, API_KEY)


@pytest.mark.parametrize("status", [401, 503])
@pytest.mark.parametrize("form", _FORM_PARAMS)
@async_test
async def test_encoded_key_echoed_in_an_error_reaches_no_field(form: str, status: int) -> None:
    body = '{"message": "bad key ' + form + '", "echo": "' + form + '"}'
    async with HostileServer(default=respond(status, body, _echo_headers(form))) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
    exc = info.value
    assert_no_key(exc)
    for shown in (str(exc), exc.message, getattr(exc, "body", None), getattr(exc, "headers", None)):
        assert_clean(shown, API_KEY)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("status", [200, 400])
@async_test
async def test_key_in_a_utf16_or_utf32_json_body_is_scrubbed(encoding: str, status: int) -> None:
    # json.loads() of bytes reads UTF-16 and UTF-32: a byte search for the key finds nothing.
    body = json.dumps({**VK_BODY, "name": API_KEY, "message": f"bad {API_KEY}"}).encode(encoding)
    async with HostileServer(default=respond(status, body)) as server:
        async with client_for(server.base_url()) as client:
            if status == 200:
                vk = await client.virtual_keys.retrieve("vk")
                raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
                assert vk.name == "[REDACTED]"
                for obj in (vk, raw_response.content, raw_response.text(), raw_response.json()):
                    assert_clean(obj, API_KEY)
            else:
                with pytest.raises(APIError) as info:
                    await client.virtual_keys.retrieve("vk")
                assert_no_key(info.value)
                assert info.value.message == "bad [REDACTED]"


@async_test
async def test_key_between_nuls_in_a_text_error_is_scrubbed() -> None:
    # UTF-16 text that is not JSON, read as UTF-8: NULs between the characters, which a
    # terminal shows as nothing.
    body = b"error for key " + API_KEY.encode("utf-16-le")
    async with HostileServer(default=respond(500, body, content_type="text/plain")) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
    assert_no_key(info.value)


@async_test
async def test_key_with_a_slash_echoed_json_escaped_is_scrubbed() -> None:
    key = "pk/hostile/SECRET-5f3c9a1e7d"
    escaped = key.replace("/", "\\/")
    body = '{"slug": "vk", "name": "' + escaped + '", "object": "virtual-key"}'
    error = respond(401, '{"message": "' + escaped + '"}')
    async with HostileServer(respond(200, body), error) as server:
        async with client_for(server.base_url(), api_key=key) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.name == "[REDACTED]"
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
    assert_clean(vk, key)
    assert_clean(info.value, key)
    assert server.requests[0].headers["x-portkey-api-key"] == key


@pytest.mark.parametrize("form", ["plain", "percent-all", "html-decimal"])
@pytest.mark.parametrize("status", [200, 401, 503])
@async_test
async def test_key_in_the_reason_phrase_is_nowhere(
    form: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    phrase = KEY_FORMS.get(form, API_KEY)
    body = json.dumps(VK_BODY if status == 200 else {"message": "no"}).encode()
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    async with HostileServer(default=raw(head + body)) as server:
        async with client_for(server.base_url()) as client:
            if status == 200:
                raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
                assert_clean(raw_response, API_KEY)
            else:
                with pytest.raises(APIError) as info:
                    await client.virtual_keys.retrieve("vk")
                assert_no_key(info.value)
    assert_records_clean(caplog.records, API_KEY)


# -- the cause chain: aiohttp quotes raw bytes of a malformed answer ----------------------------

_KB = API_KEY.encode()


def _long_line(prefix: bytes, offset: int, suffix: bytes = b"") -> bytes:
    # aiohttp quotes the first 100 bytes of an over-long line: the key starts at ``offset``,
    # so that 100 - offset characters of it would be quoted.
    return prefix + b"a" * offset + _KB + b"a" * 9000 + suffix


MALFORMED = {
    "content-length": raw(b"HTTP/1.1 200 OK\r\nContent-Length: " + _KB + b"\r\n\r\n{}"),
    "content-length-percent": raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: " + _percent(API_KEY).encode() + b"\r\n\r\n{}"
    ),
    "chunk-size": raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _KB + b"\r\n{}\r\n0\r\n\r\n"
    ),
    "status-code": raw(b"HTTP/1.1 2" + _KB + b" OK\r\nContent-Length: 2\r\n\r\n{}"),
    "status-line": raw(_KB + b" 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    "no-colon": raw(b"HTTP/1.1 200 OK\r\n" + _KB + b"\r\nContent-Length: 2\r\n\r\n{}"),
    "header-value-too-long-15": raw(_long_line(b"HTTP/1.1 200 OK\r\nX-Big: ", 85, b"\r\n\r\n")),
    "header-value-too-long-8": raw(_long_line(b"HTTP/1.1 200 OK\r\nX-Big: ", 92, b"\r\n\r\n")),
    "header-name-too-long": raw(_long_line(b"HTTP/1.1 200 OK\r\nX", 85, b": v\r\n\r\n")),
    "reason-too-long": raw(_long_line(b"HTTP/1.1 200 ", 85, b"\r\n\r\n")),
    # The quote covers only what arrived in aiohttp's last read: it starts inside the key.
    "split-no-colon": in_pieces(
        b"HTTP/1.1 200 OK\r\n" + _KB[:14], _KB[14:] + b"\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "split-content-length": in_pieces(
        b"HTTP/1.1 200 OK\r\nContent-Length: " + _KB[:14], _KB[14:] + b"\r\n\r\n{}"
    ),
    "split-chunk-size": in_pieces(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _KB[:9],
        _KB[9:] + b"\r\n{}\r\n0\r\n\r\n",
    ),
    "split-status-code": in_pieces(b"HTTP/1.1 2" + _KB[:5], _KB[5:] + b" OK\r\n\r\n"),
}


@pytest.mark.parametrize("answer", [pytest.param(b, id=name) for name, b in MALFORMED.items()])
@async_test
async def test_malformed_answer_quoting_the_key_leaves_no_piece_of_it(
    answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    async with HostileServer(answer, answer) as server:
        async with client_for(server.base_url(), max_retries=1) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.virtual_keys.retrieve("vk")
            assert_pool_clean(client)
    exc = info.value
    # Not one 8-character piece of the key, in anything reachable from the error: its chain
    # (__cause__, __context__), args, attributes, notes and traceback.format_exception().
    assert_no_key(exc, fragments=True)
    assert_records_clean(caplog.records, API_KEY, fragments=True)
    # What went wrong is still said, and the cause says which aiohttp error it was.
    assert "ClientResponseError" in exc.message or "TransferEncodingError" in exc.message
    assert isinstance(exc.__cause__, UnderlyingError)
    assert exc.__cause__.type_name.startswith("aiohttp.")
    # An aiohttp parse error is retried (GET): both attempts met the same answer.
    assert len(server.requests) == 2


def test_malformed_answer_through_the_sync_client_leaves_no_piece_of_the_key() -> None:
    async def serve(ready: Any, done: Any) -> None:
        answer = MALFORMED["split-no-colon"]
        async with HostileServer(default=answer) as server:
            ready.put(server.base_url())
            await asyncio.get_running_loop().run_in_executor(None, done.wait)

    ready: queue.Queue[str] = queue.Queue()
    done = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(serve(ready, done)), daemon=True)
    thread.start()
    try:
        with Portkey(api_key=API_KEY, base_url=ready.get(timeout=10), max_retries=0) as client:
            with pytest.raises(APIConnectionError) as info:
                client.virtual_keys.retrieve("vk")
    finally:
        done.set()
        thread.join(10)
    assert_no_key(info.value, fragments=True)


@pytest.mark.parametrize("left", [8, 15, 27])
@pytest.mark.parametrize("form", ["plain", "percent-all", "json-u-all"])
@async_test
async def test_key_straddling_the_error_body_limit_leaves_no_piece(form: str, left: int) -> None:
    # Error bodies are read up to 64 KiB; the key is placed so that ``left`` characters of its
    # (encoded) form fall before the cut.
    encoded = KEY_FORMS.get(form, API_KEY).encode()
    limit = ERROR_BODY_LIMIT
    filler = b"quota exceeded for this key " * (limit // 28 + 1)
    body = filler[: limit - left] + encoded + b" trailing text" * 100
    answer = respond(500, body, content_type="text/plain")
    async with HostileServer(default=answer) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.retrieve("vk")
            assert_pool_clean(client)
    assert_no_key(info.value, fragments=True)
    # Cut at the last separator before the key: the readable part is kept.
    assert isinstance(info.value.body, str)
    assert limit - 40 <= len(info.value.body) <= limit
    assert info.value.message.startswith("quota exceeded for this key")


# -- header names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(API_KEY, id="the-key"),
        pytest.param("X-" + API_KEY, id="containing-the-key"),
        pytest.param(KEY_FORMS["percent-all"], id="percent-encoded"),
        pytest.param("X-" + KEY_FORMS["percent-first-char"], id="containing-percent-encoded"),
        pytest.param(KEY_FORMS["html-decimal"].replace(";", ""), id="html-without-semicolon"),
    ],
)
@pytest.mark.parametrize(
    "status", [pytest.param(200, id="2xx"), pytest.param(404, id="4xx"), pytest.param(0, id="big")]
)
@async_test
async def test_header_named_after_the_key_is_not_shown(name: str, status: int) -> None:
    headers = {name: "v", "X-Portkey-Request-Id": "req-1", "X-Kept": "kept"}
    if status == 0:  # an answer over max_response_bytes: APIResponseTooLargeError's headers
        answer = respond(200, json.dumps({**VK_BODY, "pad": "x" * 4096}), headers)
    else:
        answer = respond(status, VK_BODY if status == 200 else {"message": "no"}, headers)
    async with HostileServer(default=answer) as server:
        async with client_for(server.base_url(), max_response_bytes=1024) as client:
            if status == 200:
                raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
                shown: object = raw_response.headers
                assert_clean(raw_response, API_KEY)
            else:
                with pytest.raises(APIError) as info:
                    await client.virtual_keys.retrieve("vk")
                assert_no_key(info.value)
                shown = info.value.headers  # type: ignore[attr-defined]
    assert_clean(shown, API_KEY)
    assert_clean(list(shown.keys()), API_KEY)  # type: ignore[attr-defined]
    # The other headers are untouched.
    assert shown["X-Kept"] == "kept"  # type: ignore[index]
    assert shown["x-portkey-request-id"] == "req-1"  # type: ignore[index]


# -- logs at info and debug ---------------------------------------------------------------------


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
@async_test
async def test_no_log_record_holds_any_form_or_piece_of_the_key(
    level: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(level, logger="portkey_vk")
    form = KEY_FORMS["percent-double"]
    async with HostileServer() as server:
        async with client_for(server.base_url(), max_retries=1) as client:
            for script in (
                [_redirect(302, f"/v1/virtual-keys/{form}")],
                [respond(503, '{"message": "' + form + '"}', {"Retry-After": "0"})] * 2,
                [MALFORMED["header-value-too-long-15"], MALFORMED["split-chunk-size"]],
                [raw(b"HTTP/1.1 401 " + _KB + b"\r\nContent-Length: 2\r\n\r\n{}")],
                [respond(200, _echoing_body(KEY_FORMS["json-u-all"])[:-1])],  # invalid JSON
            ):
                server.then(*script)
                with pytest.raises(APIError):
                    await client.virtual_keys.retrieve("vk")
            server.then(_redirect(307, "/v1/virtual-keys/moved"), respond(200, _echoing_body(form)))
            await client.virtual_keys.retrieve("vk")
            assert server.script == collections.deque()
    assert assert_records_clean(caplog.records, API_KEY, fragments=True) >= 10


@pytest.mark.parametrize("form", ["plain", "percent-double", "json-then-percent"])
@async_test
async def test_unfollowed_redirect_holding_the_key_shows_it_nowhere(form: str) -> None:
    # A create answered 302 is not followed (it would turn into a GET): the answer is raised as
    # an error, Location header included.
    location = "/v1/virtual-keys/" + KEY_FORMS.get(form, API_KEY)
    async with HostileServer(_redirect(302, location)) as server:
        async with client_for(server.base_url()) as client:
            with pytest.raises(APIError) as info:
                await client.virtual_keys.create(name="n", provider="openai")
    assert_no_key(info.value)
    assert len(server.requests) == 1


@async_test
async def test_key_echoed_in_a_gzip_body_is_scrubbed_after_decompression() -> None:
    body = gzip.compress(_echoing_body(KEY_FORMS["json-u-all"]).encode())
    answer = respond(200, body, {"Content-Encoding": "gzip"})
    async with HostileServer(default=answer) as server:
        async with client_for(server.base_url()) as client:
            vk = await client.virtual_keys.retrieve("vk")
            raw_response = await client.virtual_keys.with_raw_response.retrieve("vk")
    assert vk.name == "[REDACTED]"
    for shown in (vk, vk.to_dict(), raw_response.content, raw_response.json()):
        assert_clean(shown, API_KEY)


# -- frame locals: what an error reporter sends with a traceback ---------------------------------

API_KEY_IN_FRAMES = "pk-frames-0123456789abcdef"
_PACKAGE = str(Path(sys.modules["portkey_vk"].__file__ or "").parent)


def _frames_holding_the_key(exc: BaseException) -> list[str]:
    return sorted(
        {
            f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{name}"
            for frame, name, text in frame_locals(exc)
            # The test's own frames hold the key; so may a caller's, in their own variables.
            if frame.f_code.co_filename.startswith(_PACKAGE) and found(text, [API_KEY_IN_FRAMES])
        }
    )


@pytest.mark.parametrize(
    "case",
    [
        "bad extra header",
        "bad timeout",
        "body not JSON",
        "not found",
        "server error",
        "connection refused",
        "create server error",
        "list server error",
        "bad key from the environment",
    ],
)
def test_no_frame_of_a_raised_error_holds_the_api_key(
    make_client: Callable[..., Surface],
    fake: FakePortkey,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    # Sentry and its peers send the local variables of every frame of a traceback, taking the
    # items of mappings and the repr of other objects. No caller's frame holds the API key at
    # call time (the client does), so none of ours may: not the client's headers, not a key
    # read from the environment. (Arguments a caller passes, a provider key for one, are in
    # the caller's own call frame anyway.)
    fake.api_key = API_KEY_IN_FRAMES
    fake.add_virtual_key("vk")
    if case == "bad key from the environment":
        monkeypatch.setenv("PORTKEY_API_KEY", API_KEY_IN_FRAMES + "\x01")
        with pytest.raises(PortkeyError) as info:
            make_client(api_key=None)
        assert _frames_holding_the_key(info.value) == []
        return
    port = unused_port()
    client = make_client(
        api_key=API_KEY_IN_FRAMES,
        max_retries=0,
        **({"base_url": f"http://127.0.0.1:{port}/v1"} if case == "connection refused" else {}),
    )
    if "server error" in case:
        fake.fail_next(500, times=2)
    calls: dict[str, Callable[[], Any]] = {
        "bad extra header": lambda: client.call("retrieve", "vk", extra_headers={"a b": "v"}),
        "bad timeout": lambda: client.call("retrieve", "vk", timeout=-1),
        "body not JSON": lambda: client.call(
            "update", "vk", note="n", extra_body={"x": float("nan")}
        ),
        "not found": lambda: client.call("retrieve", "nope"),
        "server error": lambda: client.call("retrieve", "vk"),
        "connection refused": lambda: client.call("retrieve", "vk"),
        "create server error": lambda: client.call("create", name="n", provider="openai"),
        "list server error": client.items,
    }
    with pytest.raises((PortkeyError, ValueError)) as info:
        calls[case]()
    assert _frames_holding_the_key(info.value) == []
    # Not vacuous: the walk reached our frames, where a held key would have been seen.
    assert any(
        frame.f_code.co_filename.startswith(_PACKAGE) for frame, _, _ in frame_locals(info.value)
    )
