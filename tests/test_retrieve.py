"""The behaviour suite of ``virtual_keys.retrieve``, run through every surface (async, sync)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import unquote

import pytest

import portkey_vk
from portkey_vk import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PortkeyError,
    RateLimitError,
    UnprocessableEntityError,
    VirtualKey,
    VirtualKeyStatus,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface, unused_port

MakeClient = Callable[..., Surface]


def test_retrieve_returns_the_typed_key(fake: FakePortkey, client: Surface) -> None:
    stored = fake.add_virtual_key(
        "openai-prod",
        name="OpenAI prod",
        usage_limits={"credit_limit": 10, "type": "cost", "periodic_reset": "monthly"},
        rate_limits=[{"type": "requests", "unit": "rpm", "value": 100}],
        created_at="2025-01-02T03:04:05.678Z",
    )
    vk = client.retrieve("openai-prod")
    assert isinstance(vk, VirtualKey)
    assert vk == stored
    assert vk.name == "OpenAI prod"
    assert vk.status == "active"
    assert vk.status is VirtualKeyStatus.ACTIVE
    assert vk.usage_limits is not None
    assert vk.usage_limits.credit_limit == 10
    assert vk.rate_limits is not None
    assert vk.rate_limits[0].unit == "rpm"
    assert vk.created_at == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def test_slug_can_be_passed_by_keyword(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("kw")
    assert client.retrieve(slug="kw").slug == "kw"


def test_request_carries_key_accept_user_agent_and_headers(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k")
    client = make_client(default_headers={"x-team": "payments", "x-both": "default"})
    client.retrieve("k", extra_headers={"x-call": "1", "x-both": "call"})
    headers = fake.requests[-1].headers
    assert headers["x-portkey-api-key"] == fake.api_key
    assert headers["Accept"] == "application/json"
    ua = headers["User-Agent"]
    assert ua.startswith(f"portkey-vk/{portkey_vk.__version__} python/")
    assert " aiohttp/" in ua
    assert headers["x-team"] == "payments"
    assert headers["x-call"] == "1"
    assert headers["x-both"] == "call"
    assert fake.requests[-1].method == "GET"


@pytest.mark.parametrize(
    "slug",
    ["a/b", "..", ".", "a?b#c", "100%", "%41", "x\\y", "é ü 中文", " lead", "a+b&c=d", "~-_."],
)
def test_slug_is_exactly_one_encoded_segment(fake: FakePortkey, client: Surface, slug: str) -> None:
    fake.add_virtual_key(slug)
    vk = client.retrieve(slug)
    assert vk.slug == slug
    request = fake.requests[-1]
    segment = request.path.removeprefix("/v1/virtual-keys/")
    assert "/" not in segment
    assert unquote(segment) == slug
    assert request.slug == slug
    assert segment not in {".", ".."}


@pytest.mark.parametrize(
    ("slug", "fragment"),
    [("", "empty"), ("a\nb", "control"), ("a\x00", "control"), ("\x7f", "control"), (42, "str")],
)
def test_bad_slug_is_refused_before_any_request(
    fake: FakePortkey, client: Surface, slug: object, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        client.retrieve(slug)  # type: ignore[arg-type]
    assert fake.requests == []


def test_thirty_calls_reuse_one_connection(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k")
    for _ in range(30):
        client.retrieve("k")
    assert len(fake.requests) == 30
    assert fake.connection_count == 1
    assert client.connection_count() == 1


def test_self_hosted_base_url_with_prefix_and_trailing_slash(make_client: MakeClient) -> None:
    with FakePortkey(base_path="/portkey/v1") as hosted:
        hosted.add_virtual_key("k")
        client = make_client(api_key=hosted.api_key, base_url=hosted.base_url + "/")
        assert client.retrieve("k").slug == "k"
        assert hosted.requests[-1].path == "/portkey/v1/virtual-keys/k"


def test_base_url_from_environment(
    fake: FakePortkey, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_virtual_key("k")
    monkeypatch.setenv("PORTKEY_BASE_URL", fake.base_url)
    monkeypatch.setenv("PORTKEY_API_KEY", fake.api_key)
    client = make_client(api_key=None, base_url=None)
    assert client.client.base_url == fake.base_url
    assert client.retrieve("k").slug == "k"


def test_unknown_slug_is_not_found(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(NotFoundError) as info:
        client.retrieve("missing")
    err = info.value
    assert err.status_code == 404
    assert "missing" in err.message
    assert len(fake.requests) == 1, "404 must not be retried"


def test_wrong_key_is_authentication_error_with_portkeys_message(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k")
    client = make_client(api_key="pk-wrong-key")
    with pytest.raises(AuthenticationError) as info:
        client.retrieve("k")
    err = info.value
    assert err.status_code == 401
    assert err.message == "Unauthorised Request"
    assert err.body == {"success": False, "data": {"message": "Unauthorised Request"}}
    assert "pk-wrong-key" not in str(err) + repr(err)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            {"success": False, "data": {"message": "Subscription exhausted", "errorCode": "AB09"}},
            "Subscription exhausted",
            "AB09",
        ),
        ({"error": {"message": "bad thing", "code": "invalid_slug"}}, "bad thing", "invalid_slug"),
        ({"message": "top level", "errorCode": "AB03"}, "top level", "AB03"),
        ({"error": "plain string error"}, "plain string error", None),
        ({"unexpected": True}, '{"unexpected": true}', None),
        (b"<html><body><h1>Bad gateway</h1></body></html>", "<html><body><h1>Bad", None),
        (b"", "Payment Required", None),
    ],
)
def test_error_shapes_give_message_and_code(
    fake: FakePortkey, client: Surface, body: object, message: str, code: str | None
) -> None:
    fake.fail_next(402, body=body)
    with pytest.raises(PaymentRequiredError) as info:
        client.retrieve("k")
    assert info.value.message.startswith(message)
    assert info.value.error_code == code
    if isinstance(body, dict):
        assert info.value.body == body


def test_html_502_from_a_proxy_is_internal_server_error(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(max_retries=0)
    fake.fail_next(502, body=b"<html>\n<head><title>502 Bad Gateway</title></head>\n</html>")
    with pytest.raises(InternalServerError) as info:
        client.retrieve("k")
    err = info.value
    assert err.status_code == 502
    assert "502 Bad Gateway" in err.message
    assert isinstance(err.body, str)


def test_status_error_exposes_headers_and_request_id(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(max_retries=0)
    fake.fail_next(403, headers={"x-portkey-trace-id": "trace-42"})
    with pytest.raises(PermissionDeniedError) as info:
        client.retrieve("k")
    assert info.value.request_id == "trace-42"
    assert info.value.headers["x-portkey-trace-id"] == "trace-42"
    assert "trace-42" in str(info.value)


STATUS_CLASSES = [
    (400, BadRequestError, False),
    (401, AuthenticationError, False),
    (402, PaymentRequiredError, False),
    (403, PermissionDeniedError, False),
    (404, NotFoundError, False),
    (405, APIStatusError, False),
    (408, APIStatusError, True),
    (409, ConflictError, True),
    (410, APIStatusError, False),
    (422, UnprocessableEntityError, False),
    (429, RateLimitError, True),
    (500, InternalServerError, True),
    (503, InternalServerError, True),
    (599, InternalServerError, True),
]


@pytest.mark.parametrize(("status", "cls", "retried"), STATUS_CLASSES)
def test_status_maps_to_class_and_retry_policy(
    fake: FakePortkey,
    make_client: MakeClient,
    status: int,
    cls: type[APIStatusError],
    retried: bool,
) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(status, times=5, headers={"Retry-After": "0"})
    with pytest.raises(cls) as info:
        client.retrieve("k")
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert len(fake.requests) == (3 if retried else 1)


def test_a_retry_that_succeeds_returns_its_result(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k", name="after retries")
    client = make_client(max_retries=2)
    fake.fail_next(500, times=1, headers={"retry-after-ms": "0"})
    fake.fail_next(429, times=1, headers={"Retry-After": "0"})
    assert client.retrieve("k").name == "after retries"
    assert len(fake.requests) == 3


def test_max_retries_zero_makes_one_attempt(fake: FakePortkey, make_client: MakeClient) -> None:
    client = make_client(max_retries=0)
    fake.fail_next(503, times=3)
    with pytest.raises(InternalServerError):
        client.retrieve("k")
    assert len(fake.requests) == 1


def test_retry_after_is_honoured(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(max_retries=1)
    fake.fail_next(429, headers={"Retry-After": "0.4"})
    started = time.monotonic()
    client.retrieve("k")
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0


def test_retry_after_ms_is_honoured(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(max_retries=1)
    fake.fail_next(503, headers={"retry-after-ms": "300"})
    started = time.monotonic()
    client.retrieve("k")
    assert 0.3 <= time.monotonic() - started < 2.0


def test_timeout_bounds_each_attempt(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(timeout=0.2, max_retries=0)
    fake.delay_next(2.0)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        client.retrieve("k")
    assert time.monotonic() - started < 1.5
    # The pool is usable afterwards.
    assert client.retrieve("k").slug == "k"


def test_timeouts_are_retried_and_a_later_attempt_can_succeed(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    fake.add_virtual_key("k")
    # The retry must fit in its own timeout on a loaded CI machine under coverage, where a
    # fresh connection and a traced request took over 0.2 s: 1 s leaves room, and a 1.5 s
    # delay still times out the first attempt.
    client = make_client(timeout=1.0, max_retries=1)
    fake.delay_next(1.5)
    assert client.retrieve("k").slug == "k"
    assert len(fake.requests) == 2


def test_per_call_timeout_overrides_the_clients(fake: FakePortkey, make_client: MakeClient) -> None:
    fake.add_virtual_key("k")
    client = make_client(timeout=30, max_retries=0)
    fake.delay_next(2.0)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        client.retrieve("k", timeout=0.2)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "5", True])
def test_bad_per_call_timeout_is_refused(
    fake: FakePortkey, client: Surface, timeout: object
) -> None:
    with pytest.raises((ValueError, TypeError)):
        client.retrieve("k", timeout=timeout)
    assert fake.requests == []


def test_bad_extra_headers_are_refused(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(ValueError, match="line break"):
        client.retrieve("k", extra_headers={"x-evil": "a\r\nInjected: 1"})
    with pytest.raises(TypeError):
        client.retrieve("k", extra_headers={"x-num": 1})
    with pytest.raises(PortkeyError, match="api_key"):
        client.retrieve("k", extra_headers={"X-Portkey-Api-Key": "pk-another-key"})
    assert fake.requests == []


def test_connection_refused_is_a_connection_error(make_client: MakeClient) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{unused_port()}/v1", max_retries=1)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        client.retrieve("k")
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.__cause__ is not None
    assert time.monotonic() - started < 5


def test_with_options_shares_the_pool_and_leaves_the_original(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_virtual_key("k")
    client.retrieve("k")
    tuned = client.with_options(timeout=5, max_retries=0, default_headers={"x-extra": "1"})
    assert (tuned.client.timeout, tuned.client.max_retries) == (5.0, 0)
    assert (client.client.timeout, client.client.max_retries) == (60.0, 2)
    assert tuned.client.base_url == client.client.base_url
    tuned.retrieve("k")
    assert fake.requests[-1].headers["x-extra"] == "1"
    client.retrieve("k")
    assert "x-extra" not in fake.requests[-1].headers
    assert fake.connection_count == 1


def test_repr_shows_settings_never_the_key(fake: FakePortkey, client: Surface) -> None:
    text = repr(client.client)
    assert fake.base_url in text
    assert "timeout=60.0" in text
    assert "max_retries=2" in text
    assert fake.api_key not in text
    assert fake.api_key not in repr(client.client.with_options(timeout=1))


def test_raw_response_exposes_status_headers_request_id(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k", name="raw")
    raw, parsed = client.retrieve_raw("k")
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.request_id is not None
    assert raw.request_id == raw.headers["x-portkey-request-id"]
    assert parsed.name == "raw"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"slug": "k", "created_at": "not a date"}, "$.created_at"),
        ({"slug": "k", "usage_limits": {"credit_limit": "ten"}}, "$.usage_limits.credit_limit"),
        ({"slug": "k", "rate_limits": [{"value": 1}, {"value": []}]}, "$.rate_limits[1].value"),
        ([1, 2], "$"),
        (None, "$"),
    ],
)
def test_a_body_that_does_not_fit_names_the_field(
    fake: FakePortkey, client: Surface, body: object, path: str
) -> None:
    fake.fail_next(200, body=json.dumps(body))
    with pytest.raises(APIResponseValidationError) as info:
        client.retrieve("k")
    assert path in info.value.message
    assert info.value.status_code == 200
    assert info.value.body == body


def test_a_2xx_body_that_is_not_json(fake: FakePortkey, client: Surface) -> None:
    fake.fail_next(200, body=b"<html>hello</html>")
    with pytest.raises(APIResponseValidationError, match="not valid JSON") as info:
        client.retrieve("k")
    assert info.value.body == "<html>hello</html>"


def test_closed_client_is_a_clear_error(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k")
    client.retrieve("k")
    client.close()
    client.close()  # idempotent
    with pytest.raises(PortkeyError, match="closed"):
        client.retrieve("k")


def test_live_api_shape_with_nulls_and_extras(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key(
        "live",
        usage_limits=None,
        expires_at=None,
        rate_limits=[],
        integration_id="int-1",
        last_reset_at="2025-06-01T00:00:00+02:00",
        tags=["prod"],
        brand_new_field={"nested": [1, 2]},
        status="archived",
    )
    vk = client.retrieve("live")
    assert vk.usage_limits is None
    assert vk.rate_limits == ()
    assert vk.integration_id == "int-1"
    assert vk.tags == ["prod"]
    assert vk.status == "archived"
    assert vk.status is not None
    assert not vk.status.known
    assert vk.extra == {"brand_new_field": {"nested": [1, 2]}}
    assert vk.to_dict()["brand_new_field"] == {"nested": [1, 2]}
    assert vk.to_dict()["status"] == "archived"


def test_raw_response_body_accessors(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k", name="raw body")
    raw, _ = client.retrieve_raw("k")
    assert raw.url == fake.base_url + "/virtual-keys/k"  # type: ignore[attr-defined]
    assert raw.elapsed > 0  # type: ignore[attr-defined]
    assert json.loads(raw.content)["name"] == "raw body"  # type: ignore[attr-defined]
    assert '"raw body"' in raw.text()  # type: ignore[attr-defined]
    assert raw.json()["name"] == "raw body"  # type: ignore[attr-defined]


def test_many_distinct_slugs_keep_working(fake: FakePortkey, make_client: MakeClient) -> None:
    # More slugs than the per-resource URL cache holds: it must recycle, not grow or go stale.
    client = make_client(max_retries=0)
    fake.add_virtual_key("kept")
    for index in range(300):
        with pytest.raises(NotFoundError):
            client.retrieve(f"slug-{index}")
    assert client.retrieve("kept").slug == "kept"
    assert fake.requests[-1].slug == "kept"


def test_invalid_redirect_location_is_a_connection_error(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(302, headers={"Location": "http://[not-an-ip/x"})
    with pytest.raises(APIConnectionError, match="Invalid redirect"):
        client.retrieve("k")
    assert len(fake.requests) == 1, "a refused redirect is not retried"


def test_unknown_status_without_a_body_gets_a_generic_message(
    fake: FakePortkey, make_client: MakeClient
) -> None:
    client = make_client(max_retries=0)
    fake.fail_next(499, body=b"")
    with pytest.raises(APIStatusError) as info:
        client.retrieve("k")
    assert type(info.value) is APIStatusError
    assert info.value.message == "HTTP error"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"reset_usage": float("nan")}, "$.reset_usage"),
        ({"reset_usage": float("inf")}, "$.reset_usage"),
        ({"usage_limits": {"credit_limit": float("-inf")}}, "$.usage_limits.credit_limit"),
        ({"model_config": {"weights": [0.5, float("nan")]}}, "$.model_config['weights'][1]"),
        ({"tags": {"score": float("nan")}}, "$.tags['score']"),
        ({"shadow_field": float("inf")}, "$.shadow_field"),
    ],
)
def test_an_answer_with_nan_or_infinity_is_refused_naming_the_field(
    fake: FakePortkey, client: Surface, fields: dict[str, object], path: str
) -> None:
    # json.dumps writes the NaN/Infinity literals a JavaScript-ish server might send.
    fake.fail_next(200, body=json.dumps({"slug": "vk", **fields}))
    with pytest.raises(APIResponseValidationError) as info:
        client.retrieve("vk")
    assert path in info.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize("shape", ["[", '{"a":'])
def test_an_answer_nested_too_deep_is_a_typed_error_from_retrieve_and_parse(
    fake: FakePortkey, client: Surface, shape: str
) -> None:
    # 100,000 levels: json's C scanner gives up with RecursionError, which must come out typed.
    deep = shape * 100_000
    fake.fail_next(200, body=deep)
    with pytest.raises(APIResponseValidationError, match="not valid JSON"):
        client.retrieve("vk")
    fake.fail_next(200, body=deep)
    with pytest.raises(APIResponseValidationError, match="not valid JSON"):
        client.retrieve_raw("vk")
    assert len(fake.requests) == 2
