"""FakePortkey itself: a feature users rely on to test their own code."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import urllib.request
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.error import HTTPError

import pytest
from aiohttp import web

from portkey_vk import AsyncPortkey, PortkeyError, UsageLimits, VirtualKeyStatus
from portkey_vk.testing import FakePortkey, RecordedRequest


def _get(url: str, key: str | None, method: str = "GET") -> tuple[int, object]:
    request = urllib.request.Request(url, method=method)
    if key is not None:
        request.add_header("x-portkey-api-key", key)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_serves_portkeys_shapes(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    status, body = _get(fake.base_url + "/virtual-keys/k", fake.api_key)
    assert status == 200
    assert isinstance(body, dict)
    assert body["slug"] == "k"
    assert body["object"] == "virtual-key"
    assert _get(fake.base_url + "/virtual-keys/k", None) == (
        401,
        {"success": False, "data": {"message": "Unauthorised Request"}},
    )
    assert _get(fake.base_url + "/virtual-keys/k", "wrong")[0] == 401
    assert _get(fake.base_url + "/virtual-keys/nope", fake.api_key)[0] == 404
    assert _get(fake.base_url + "/elsewhere", fake.api_key)[0] == 404
    assert _get(fake.base_url + "/virtual-keys/a/b", fake.api_key)[0] == 404
    # DELETE is a route of its own now; a method no route serves is 405.
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key, method="PATCH")[0] == 405


def test_add_virtual_key_accepts_python_values(fake: FakePortkey) -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    vk = fake.add_virtual_key(
        "k",
        status=VirtualKeyStatus.EXHAUSTED,
        expires_at=when,
        usage_limits=UsageLimits(credit_limit=5),
        rate_limits=({"value": 1},),
        model_config={"nested": [when]},
    )
    assert vk.status is VirtualKeyStatus.EXHAUSTED
    assert vk.expires_at == when
    assert vk.usage_limits == UsageLimits(credit_limit=5)
    assert vk.model_config == {"nested": [when.isoformat()]}


def test_fail_next_bodies_and_reset(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.fail_next(599)
    fake.fail_next(418, body="short and stout")
    fake.fail_next(400, body={"error": {"message": "m"}})
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key) == (
        599,
        {"success": False, "data": {"message": "Error"}},
    )
    with pytest.raises(json.JSONDecodeError):
        _get(fake.base_url + "/virtual-keys/k", fake.api_key)
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[1] == {"error": {"message": "m"}}
    assert len(fake.requests) == 3
    fake.remove_virtual_key("k")
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404
    fake.fail_next(500, times=3)
    fake.delay_next(10)
    fake.reset()
    assert fake.requests == []
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404


def test_recorded_requests_hide_the_key_in_repr(fake: FakePortkey) -> None:
    _get(fake.base_url + "/virtual-keys/k", fake.api_key)
    recorded = fake.requests[0]
    assert recorded.headers["x-portkey-api-key"] == fake.api_key
    assert fake.api_key not in repr(recorded)
    assert "[REDACTED]" in repr(recorded)


def test_lifecycle_and_repr() -> None:
    fake = FakePortkey(api_key="pk-custom", base_path="/gw/v1/")
    assert "not started" in repr(fake)
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    with fake:
        assert fake.base_url.endswith("/gw/v1")
        assert fake.base_url in repr(fake)
        assert fake.api_key == "pk-custom"
    fake.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    with pytest.raises(ValueError, match="base_path"):
        FakePortkey(base_path="v1")


def test_async_mode_runs_on_the_current_loop() -> None:
    async def main() -> str | None:
        async with FakePortkey() as fake:
            fake.add_virtual_key("k")
            async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
                raw = await client.virtual_keys.with_raw_response.retrieve("k")
                assert raw.status_code == 200
                assert raw.url == fake.base_url + "/virtual-keys/k"
                assert raw.elapsed > 0
                assert json.loads(raw.content)["slug"] == "k"
                assert raw.json()["slug"] == "k"
                assert '"slug": "k"' in raw.text()
                assert repr(raw) == f"<AsyncAPIResponse [200] {raw.url}>"
                first = await raw.parse()
                assert await raw.parse() is first
                return first.slug
        return None

    assert asyncio.run(main()) == "k"


def test_raw_json_of_a_non_json_body() -> None:
    async def main() -> None:
        async with FakePortkey() as fake:
            fake.fail_next(200, body=b"nope")
            async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
                raw = await client.virtual_keys.with_raw_response.retrieve("k")
                with pytest.raises(PortkeyError, match="not valid JSON"):
                    raw.json()

    asyncio.run(main())


# -- the hardening of issue 13, item 13: bad input is refused at the call -------------------------


def test_a_key_the_sdk_cannot_parse_is_refused_and_not_stored(fake: FakePortkey) -> None:
    fake.add_virtual_key("kept", name="old")
    with pytest.raises(ValueError, match=r"add_virtual_key\('k'\).*name"):
        fake.add_virtual_key("k", name=42)
    with pytest.raises(ValueError, match="created_at"):
        fake.add_virtual_key("kept", created_at="not a date")
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404
    # A failed re-store leaves the old key as it was.
    status, body = _get(fake.base_url + "/virtual-keys/kept", fake.api_key)
    assert status == 200
    assert isinstance(body, dict)
    assert body["name"] == "old"


@pytest.mark.parametrize("add", ["add_virtual_key", "add_provider", "add_integration"])
def test_a_value_that_is_not_json_is_a_type_error_and_stores_nothing(
    fake: FakePortkey, add: str
) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        getattr(fake, add)("k", note=object())
    with pytest.raises(TypeError):
        getattr(fake, add)("k", tags={("tuple", "key"): 1})
    # NaN and infinities are not JSON either; Python's json would send them all the same.
    with pytest.raises(ValueError, match="not JSON compliant"):
        getattr(fake, add)("k", usage_limits={"credit_limit": math.nan})
    route = {"add_virtual_key": "virtual-keys", "add_provider": "providers"}.get(
        add, "integrations"
    )
    assert _get(f"{fake.base_url}/{route}/k", fake.api_key)[0] == 404
    assert "0 keys, 0 providers, 0 integrations" in repr(fake)


@pytest.mark.parametrize("slug", ["", 42, None, b"k"])
@pytest.mark.parametrize(
    "use", ["add_virtual_key", "add_provider", "add_integration", "remove_virtual_key"]
)
def test_a_slug_must_be_a_non_empty_str(fake: FakePortkey, use: str, slug: object) -> None:
    with pytest.raises(ValueError, match="slug must be a non-empty str"):
        getattr(fake, use)(slug)
    with pytest.raises(ValueError, match="slug must be a non-empty str"):
        fake.provider_key_of(slug)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", [None, 0, "no"])
def test_as_provider_must_be_a_bool(fake: FakePortkey, flag: object) -> None:
    with pytest.raises(ValueError, match="as_provider must be a bool"):
        fake.add_virtual_key("k", as_provider=flag)  # type: ignore[arg-type]
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404


@pytest.mark.parametrize("status", [99, 100, 199, 600, 1000, -1, True, "500", 500.0, None])
def test_fail_next_refuses_a_status_outside_200_to_599(fake: FakePortkey, status: object) -> None:
    with pytest.raises(ValueError, match="status must be an int from 200 to 599"):
        fake.fail_next(status)  # type: ignore[arg-type]
    fake.add_virtual_key("k")
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 200, "nothing scripted"


def test_fail_next_accepts_the_bounds_and_http_status(fake: FakePortkey) -> None:
    fake.fail_next(200, body={"ok": 1})
    fake.fail_next(HTTPStatus.SERVICE_UNAVAILABLE)
    fake.fail_next(599)
    url = fake.base_url + "/virtual-keys/k"
    assert _get(url, fake.api_key) == (200, {"ok": 1})
    assert _get(url, fake.api_key) == (
        503,
        {"success": False, "data": {"message": "Service Unavailable"}},
    )
    assert _get(url, fake.api_key)[0] == 599


@pytest.mark.parametrize("times", [0, -1, True, 1.5, "2", None])
def test_fail_next_and_delay_next_refuse_a_bad_times(fake: FakePortkey, times: object) -> None:
    with pytest.raises(ValueError, match="times must be an int >= 1"):
        fake.fail_next(500, times=times)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times must be an int >= 1"):
        fake.delay_next(0.1, times=times)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Bad": "a\r\nInjected: 1"}, "without control characters"),
        ({"X-Bad": "a\x00"}, "without control characters"),
        ({"X-Bad": 5}, "must be a str"),
        ({"Bad Name": "v"}, "not a valid HTTP token"),
        ({"": "v"}, "not a valid HTTP token"),
        ({"Content-Length": "10"}, "set by the server"),
        ({"transfer-encoding": "chunked"}, "set by the server"),
    ],
)
def test_fail_next_refuses_headers_aiohttp_cannot_send(
    fake: FakePortkey, headers: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        fake.fail_next(500, headers=headers)
    fake.fail_next(500, headers={"Retry-After": "0", "X-Tab": "a\tb"})
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 500


def test_fail_next_refuses_a_body_that_is_not_json(fake: FakePortkey) -> None:
    with pytest.raises(TypeError):
        fake.fail_next(500, body=object())
    assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404, "nothing scripted"


@pytest.mark.parametrize("seconds", [-0.1, math.nan, math.inf, True, "1", None])
def test_delay_next_refuses_a_bad_delay(fake: FakePortkey, seconds: object) -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        fake.delay_next(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ({"method": ""}, "method must be an HTTP method"),
        ({"method": "GE T"}, "method must be an HTTP method"),
        ({"method": 5}, "method must be an HTTP method"),
        ({"path": "virtual-keys"}, "path must be a str starting with '/'"),
        ({"path": b"/virtual-keys"}, "path must be a str starting with '/'"),
        ({"path": "/v1/virtual-keys"}, "drop the '/v1' prefix"),
        ({"path": "/v1"}, "drop the '/v1' prefix"),
    ],
)
def test_targets_are_checked(fake: FakePortkey, target: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        fake.fail_next(500, **target)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=fragment):
        fake.delay_next(0, **target)  # type: ignore[arg-type]


def _fake_threads() -> int:
    return sum(thread.name == "FakePortkey" for thread in threading.enumerate())


def test_start_twice_is_refused_and_leaves_no_orphan_thread() -> None:
    before = _fake_threads()
    fake = FakePortkey()
    fake.start()
    try:
        url = fake.base_url
        with pytest.raises(RuntimeError, match="already started"):
            fake.start()
        with pytest.raises(RuntimeError, match="already started"), fake:
            pass  # pragma: no cover - never entered
        assert fake.base_url == url, "the running server is untouched"
        assert _fake_threads() == before + 1
        assert _get(url + "/virtual-keys/k", fake.api_key)[0] == 404
    finally:
        fake.stop()
    assert _fake_threads() == before
    # A stopped fake starts again, on a new port, keeping what it stored.
    fake.add_virtual_key("k")
    with fake:
        assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 200
    assert _fake_threads() == before


def test_async_with_while_started_is_refused() -> None:
    async def main() -> None:
        with FakePortkey() as threaded:
            with pytest.raises(RuntimeError, match="already started"):
                async with threaded:
                    pass  # pragma: no cover - never entered
            assert _get(threaded.base_url + "/virtual-keys/k", threaded.api_key)[0] == 404
        async with FakePortkey() as looped:
            url = looped.base_url
            with pytest.raises(RuntimeError, match="already started"):
                async with looped:
                    pass  # pragma: no cover - never entered
            with pytest.raises(RuntimeError, match="already started"):
                looped.start()
            assert looped.base_url == url
        # Stopped by its own `async with`: it may start again.
        async with looped:
            assert looped.base_url.startswith("http://127.0.0.1:")

    before = _fake_threads()
    asyncio.run(main())
    assert _fake_threads() == before


def test_an_internal_error_is_a_json_500_not_a_traceback(
    fake: FakePortkey, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(call: object) -> object:
        raise ZeroDivisionError("boom")

    # The one way to reach the guard: a route handler that fails as a bug in the fake would.
    fake._routes["virtual-keys", True]["GET"] = broken  # type: ignore[assignment]
    fake.add_virtual_key("k")
    with caplog.at_level(logging.ERROR, logger="portkey_vk.testing"):
        status, body = _get(fake.base_url + "/virtual-keys/k", fake.api_key)
    assert (status, body) == (
        500,
        {"success": False, "data": {"message": "FakePortkey internal error: ZeroDivisionError"}},
    )
    # The traceback goes to the log, where a failing test shows it.
    assert [record.exc_info[0] for record in caplog.records if record.exc_info] == [
        ZeroDivisionError
    ]
    assert "GET /v1/virtual-keys/k" in caplog.text
    # The server is still up.
    assert _get(fake.base_url + "/providers/k", fake.api_key)[0] == 200


# -- what `requests` records ----------------------------------------------------------------------


def _send(
    fake: FakePortkey, method: str, path: str, body: bytes | None = None, **headers: str
) -> int:
    request = urllib.request.Request(fake.base_url + path, data=body, method=method)
    request.add_header("x-portkey-api-key", fake.api_key)
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except HTTPError as exc:
        with exc:
            return exc.code


def test_requests_record_query_json_body_and_slug(fake: FakePortkey) -> None:
    fake.add_integration("i")  # a provider is created on an existing integration
    body = json.dumps({"name": "P", "integration_id": "i", "slug": "p/1"}).encode()
    assert _send(fake, "POST", "/providers?workspace_id=w%201&tag=a&tag=b", body) == 200
    assert _send(fake, "GET", "/providers/p%2F1") == 200
    assert _send(fake, "GET", "/integrations/i%20x") == 404
    assert _send(fake, "PUT", "/virtual-keys/k", b"{oops") == 404
    post, get, integration, put = fake.requests
    assert (post.method, post.path, post.slug) == ("POST", "/v1/providers", None)
    assert post.query["workspace_id"] == "w 1"
    assert post.query.getall("tag") == ["a", "b"]
    assert post.json == {"name": "P", "integration_id": "i", "slug": "p/1"}
    assert post.body == body
    assert (get.path, get.slug, get.json, get.body, dict(get.query)) == (
        "/v1/providers/p%2F1",
        "p/1",
        None,
        b"",
        {},
    )
    assert integration.slug == "i x"
    # A body that is not JSON: json is None, body keeps the bytes.
    assert (put.json, put.body, put.slug) == (None, b"{oops", "k")


def test_recorded_request_defaults_keep_old_constructions_working() -> None:
    recorded = RecordedRequest("GET", "/v1/virtual-keys/k", {"accept": "*/*"}, "k")
    assert (recorded.json, recorded.body, dict(recorded.query)) == (None, b"", {})
    assert "slug='k'" in repr(recorded)


def test_recorded_request_repr_hides_every_credential(fake: FakePortkey) -> None:
    provider_key = "sk-provider-secret-0123456789"
    body = {
        "name": "n",
        "provider": "bedrock",
        "key": provider_key,
        "awsSecretAccessKey": "aws-secret-value",
        "awsRegion": "eu-west-1",
        "secret_mappings": [
            {
                "target_field": "model_config.awsAccessKeyId",
                "secret_reference_id": "ref-hidden",
                "secret_key": "sk-hidden",
                "value_format": "string",
            },
            "odd",
        ],
        "nested": [{"api_key": "nested-hidden", "ok": 1}],
    }
    status = _send(
        fake,
        "POST",
        "/virtual-keys?token=query-hidden&workspace_id=w",
        json.dumps(body).encode(),
        Authorization="Bearer auth-hidden",
        Cookie="session=cookie-hidden",
    )
    assert status == 400  # refused for the "odd" mapping, and recorded all the same
    recorded = fake.requests[-1]
    assert recorded.json["key"] == provider_key  # the data is all there...
    shown = repr(recorded)
    for secret in (
        fake.api_key,
        provider_key,
        "aws-secret-value",
        "ref-hidden",
        "sk-hidden",
        "nested-hidden",
        "query-hidden",
        "auth-hidden",
        "cookie-hidden",
    ):
        assert secret not in shown  # ...but repr shows none of it
    for visible in ("eu-west-1", "model_config.awsAccessKeyId", "'string'", "'workspace_id', 'w'"):
        assert visible in shown
    assert "'odd'" not in shown


# -- targeted scripts -----------------------------------------------------------------------------


def test_a_method_target_is_consumed_only_by_that_method(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.fail_next(503, method="post")  # the method is matched case-insensitively
    assert _send(fake, "GET", "/virtual-keys/k") == 200
    assert _send(fake, "DELETE", "/virtual-keys/k") == 200
    assert _send(fake, "POST", "/virtual-keys", b"{}") == 503
    assert _send(fake, "POST", "/virtual-keys", b"{}") == 400, "consumed once"


def test_a_path_target_matches_the_whole_path_below_the_base(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.fail_next(500, path="/providers")
    fake.fail_next(502, path="/virtual-keys/*", times=2)
    fake.fail_next(504, path="/integrations*")
    assert _send(fake, "GET", "/providers/k") == 200, "/providers is the list route only"
    assert _send(fake, "GET", "/virtual-keys?current_page=0") == 200
    assert _send(fake, "GET", "/integrations/x") == 504
    assert _send(fake, "GET", "/virtual-keys/k") == 502
    assert _send(fake, "GET", "/providers?page_size=1") == 500, "the query is not matched"
    assert _send(fake, "PUT", "/virtual-keys/k", b"{}") == 502
    assert [_send(fake, "GET", path) for path in ("/providers", "/virtual-keys/k")] == [200, 200]


def test_a_path_target_matches_the_raw_encoded_path(fake: FakePortkey) -> None:
    fake.add_virtual_key("a/b")
    fake.fail_next(500, path="/virtual-keys/a%2Fb")
    assert _send(fake, "GET", "/virtual-keys/a%2Fb") == 500


def test_scripts_are_served_in_order_to_the_requests_they_match(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.fail_next(500, path="/providers", method="GET")
    fake.fail_next(503)
    fake.fail_next(429, method="GET", path="/providers")
    # The first script matching each request wins; unmatched ones wait their turn.
    assert _send(fake, "GET", "/virtual-keys/k") == 503
    assert _send(fake, "GET", "/virtual-keys/k") == 200
    assert _send(fake, "POST", "/providers", b"{}") == 400
    assert _send(fake, "GET", "/providers") == 500
    assert _send(fake, "GET", "/providers") == 429
    assert _send(fake, "GET", "/providers") == 200


def test_a_targeted_path_never_matches_outside_the_base_path() -> None:
    with FakePortkey(base_path="/portkey/v1") as hosted:
        hosted.fail_next(500, path="/*")
        root = hosted.base_url.removesuffix("/portkey/v1")
        request = urllib.request.Request(root + "/elsewhere", method="GET")
        request.add_header("x-portkey-api-key", hosted.api_key)
        with pytest.raises(HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        info.value.close()
        assert info.value.code == 404
        assert _send(hosted, "GET", "/providers") == 500


def test_a_targeted_delay_waits_for_its_request(fake: FakePortkey) -> None:
    fake.add_virtual_key("k")
    fake.delay_next(1.0, path="/providers/*")
    started = time.monotonic()
    assert _send(fake, "GET", "/virtual-keys/k") == 200
    assert time.monotonic() - started < 1.0, "not the delay's route"
    started = time.monotonic()
    assert _send(fake, "GET", "/providers/k") == 200
    assert time.monotonic() - started >= 1.0


def test_reset_forgets_providers_integrations_and_targeted_scripts(fake: FakePortkey) -> None:
    fake.add_provider("p")
    fake.add_integration("i")
    fake.fail_next(500, path="/providers/*")
    fake.delay_next(10, method="GET")
    fake.reset()
    assert _send(fake, "GET", "/providers/p") == 404
    assert _send(fake, "GET", "/integrations/i") == 404
    assert "0 keys, 0 providers, 0 integrations" in repr(fake)


def test_an_aiohttp_http_exception_keeps_its_status_in_portkeys_shape(fake: FakePortkey) -> None:
    def refuse(call: object) -> object:
        raise web.HTTPTooManyRequests()

    fake._routes["providers", False]["GET"] = refuse  # type: ignore[assignment]
    assert _get(fake.base_url + "/providers", fake.api_key) == (
        429,
        {"success": False, "data": {"message": "Too Many Requests"}},
    )


def test_a_failed_start_releases_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePortkey()

    async def cannot_bind() -> None:
        raise OSError("address in use")

    before = _fake_threads()
    with monkeypatch.context() as patch:
        patch.setattr(fake, "_astart", cannot_bind)
        with pytest.raises(OSError, match="address in use"):
            fake.start()
        assert _fake_threads() == before
        with pytest.raises(OSError, match="address in use"):
            asyncio.run(fake.__aenter__())
    # Neither failure left the fake marked as started.
    with fake:
        assert _get(fake.base_url + "/virtual-keys/k", fake.api_key)[0] == 404
    assert _fake_threads() == before


def test_a_root_base_path_serves_every_route() -> None:
    with FakePortkey(base_path="/") as rooted:
        rooted.add_provider("p")
        assert _get(rooted.base_url + "/providers/p", rooted.api_key)[0] == 200
        assert rooted.requests[-1].path == "/providers/p"
        rooted.fail_next(500, path="/providers/*")
        assert _get(rooted.base_url + "/providers/p", rooted.api_key)[0] == 500


def test_add_integration_serves_configurations_that_are_not_an_object_as_given(
    fake: FakePortkey,
) -> None:
    assert fake.add_integration("i", configurations=None)["configurations"] is None
    served = fake.add_integration("j", masked_key="given", key="sk-0123456789abcdef")
    assert (served["masked_key"], "key" in served) == ("given", False)
