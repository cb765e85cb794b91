"""FakePortkey itself: a feature users rely on to test their own code."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import datetime, timezone
from urllib.error import HTTPError

import pytest

from portkey_vk import AsyncPortkey, PortkeyError, UsageLimits, VirtualKeyStatus
from portkey_vk.testing import FakePortkey


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
