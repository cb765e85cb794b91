"""The API key goes to base_url's origin and nowhere else: not across a redirect, not into a
repr, an exception, a log line, and ``~/.netrc`` never adds credentials. Proxies from the
environment are honoured and TLS is verified unless told otherwise."""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from portkey_vk import APIConnectionError, APIError, AsyncPortkey, PortkeyError
from portkey_vk.testing import FakePortkey
from tests.hostile import (
    API_KEY,
    ForwardProxy,
    HostileServer,
    assert_pool_clean,
    async_test,
    client_for,
    echo_key,
    ok,
    raw,
    respond,
)


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


def assert_no_key(exc: BaseException) -> None:
    for text in _exception_texts(exc):
        assert API_KEY not in text, text


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
    assert server.requests[0].headers["x-portkey-api-key"] == API_KEY
