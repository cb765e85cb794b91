"""Faults under writes, through the public API on both surfaces: what is sent again, and secrets.

The policy lives in ``portkey_vk/_retry.py``: GET/PUT/DELETE are retried like a read; a POST only
on 429 or when the request certainly never reached the server. After a 5xx, 408 or a timeout a
POST raises, and says it may or may not have taken effect. Each case states the requests the
server saw. (Raw-socket faults, such as a connection dropped mid-answer, are in the hostile-
server suites.)

The provider secret (``key``, and the secret values of ``secret_mappings``) must never show in a
repr, a log record, an exception or its body.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portkey_vk import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface, unused_port

MakeClient = Callable[..., Surface]
SECRET = "sk-provider-secret-0123456789"
MAPPED = "vault-secret-key-name-42"
MAYBE = "may or may not have taken effect"
NOW = {"Retry-After": "0"}
CREATE = {"name": "n", "provider": "openai", "key": SECRET}


@pytest.fixture
def writer(fake: FakePortkey, make_client: MakeClient) -> Surface:
    fake.add_virtual_key("k")
    return make_client(max_retries=2, timeout=0.3)


def methods(fake: FakePortkey) -> list[str]:
    return [request.method for request in fake.requests]


# -- create (POST): not retried once it may have reached the server -----------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, InternalServerError), (502, InternalServerError), (503, InternalServerError)],
)
def test_create_after_a_5xx_is_not_retried_and_says_it_may_have_happened(
    fake: FakePortkey, writer: Surface, status: int, error: type[APIStatusError]
) -> None:
    fake.fail_next(status, times=3, headers=NOW)
    with pytest.raises(error) as info:
        writer.call("create", **CREATE)
    assert methods(fake) == ["POST"]
    assert MAYBE in str(info.value)
    assert MAYBE in info.value.message


def test_create_after_a_408_is_not_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(408, times=3, headers=NOW)
    with pytest.raises(APIStatusError, match=MAYBE):
        writer.call("create", **CREATE)
    assert methods(fake) == ["POST"]


def test_create_after_a_timeout_is_not_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.delay_next(1.0, method="POST")
    with pytest.raises(APITimeoutError) as info:
        writer.call("create", **CREATE)
    assert methods(fake) == ["POST"]
    assert MAYBE in str(info.value)


def test_create_after_a_429_is_retried_and_succeeds(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(429, headers=NOW)
    ref = writer.call("create", **CREATE)
    assert methods(fake) == ["POST", "POST"]
    assert writer.retrieve(ref.slug).name == "n"


def test_create_429_every_time_gives_up_without_the_maybe(
    fake: FakePortkey, writer: Surface
) -> None:
    fake.fail_next(429, times=5, headers=NOW)
    with pytest.raises(RateLimitError) as info:
        writer.call("create", **CREATE)
    assert methods(fake) == ["POST"] * 3
    assert MAYBE not in str(info.value), "a 429 did nothing"


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadRequestError), (409, ConflictError), (422, APIStatusError)]
)
def test_create_refused_by_the_server_is_one_request_without_the_maybe(
    fake: FakePortkey, writer: Surface, status: int, error: type[APIStatusError]
) -> None:
    fake.fail_next(status, headers=NOW)
    with pytest.raises(error) as info:
        writer.call("create", **CREATE)
    assert methods(fake) == ["POST"]
    assert MAYBE not in str(info.value)


def test_create_to_nobody_is_retried_because_it_never_arrived(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portkey_vk")
    client = make_client(base_url=f"http://127.0.0.1:{unused_port()}/v1", max_retries=2)
    with pytest.raises(APIConnectionError) as info:
        client.call("create", **CREATE)
    assert not isinstance(info.value, APITimeoutError)
    assert MAYBE not in str(info.value)
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying POST")]
    assert len(retries) == 2


def test_a_create_that_failed_and_one_that_succeeded_on_the_same_client(
    fake: FakePortkey, writer: Surface
) -> None:
    fake.fail_next(500, method="POST")
    with pytest.raises(InternalServerError):
        writer.call("create", **CREATE)
    writer.call("create", **CREATE)
    assert methods(fake) == ["POST", "POST"]


# -- update (PUT) and delete (DELETE): retried like a read --------------------------------------


def test_update_after_a_5xx_is_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(500, headers=NOW)
    fake.fail_next(503, headers=NOW)
    writer.call("update", "k", note="after two failures")
    assert methods(fake) == ["PUT"] * 3
    assert writer.retrieve("k").note == "after two failures"


def test_update_after_a_timeout_is_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.delay_next(1.0, method="PUT")
    writer.call("update", "k", note="x")
    assert methods(fake) == ["PUT", "PUT"]


def test_update_that_keeps_failing_raises_after_every_attempt(
    fake: FakePortkey, writer: Surface
) -> None:
    fake.fail_next(502, times=5, headers=NOW)
    with pytest.raises(InternalServerError) as info:
        writer.call("update", "k", note="x")
    assert methods(fake) == ["PUT"] * 3
    assert MAYBE not in str(info.value), "sending a PUT again is safe; nothing to warn about"


def test_delete_after_a_5xx_is_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(503, headers=NOW)
    writer.call("delete", "k")
    assert methods(fake) == ["DELETE", "DELETE"]
    with pytest.raises(NotFoundError):
        writer.retrieve("k")


def test_delete_404_after_an_attempt_that_may_have_deleted_it_succeeds(
    fake: FakePortkey, writer: Surface
) -> None:
    # The first attempt's answer was lost (a 5xx); the retry finds the key gone.
    fake.fail_next(503, headers=NOW)
    fake.fail_next(404)
    assert writer.call("delete", "k") is None
    assert methods(fake) == ["DELETE", "DELETE"]


def test_delete_after_a_timeout_is_retried(fake: FakePortkey, writer: Surface) -> None:
    fake.delay_next(1.0, method="DELETE")
    assert writer.call("delete", "k") is None
    assert methods(fake) == ["DELETE", "DELETE"]


def test_delete_404_after_a_429_is_not_found(fake: FakePortkey, writer: Surface) -> None:
    # A 429 did nothing, so the 404 that follows is the truth.
    fake.fail_next(429, headers=NOW)
    with pytest.raises(NotFoundError):
        writer.call("delete", "missing")
    assert methods(fake) == ["DELETE", "DELETE"]


def test_delete_404_at_once_is_not_found(fake: FakePortkey, writer: Surface) -> None:
    with pytest.raises(NotFoundError):
        writer.call("delete", "missing")
    assert methods(fake) == ["DELETE"]


def test_a_list_page_is_retried_like_a_read(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(503, headers=NOW, method="GET")
    assert [vk.slug for vk in writer.items()] == ["k"]
    assert methods(fake) == ["GET", "GET"]


# -- the provider secret ----------------------------------------------------------------------


def _texts(value: object) -> Iterator[str]:
    """Everything an exception (or any object) could show: its chain and an APIError's fields."""
    seen: set[int] = set()
    current: Any = value
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield repr(current)
        yield str(current)
        yield from (repr(arg) for arg in getattr(current, "args", ()))
        for name in ("message", "url", "body", "headers", "request_id", "error_code", "extra"):
            field = getattr(current, name, None)
            yield repr(field)
            if hasattr(field, "items"):
                yield repr(dict(field.items()))
        current = getattr(current, "__cause__", None) or getattr(current, "__context__", None)


def assert_secret_free(*values: object) -> None:
    for value in values:
        for text in _texts(value):
            assert SECRET not in text, text
            assert MAPPED not in text, text


WITH_MAPPING = {
    **CREATE,
    "secret_mappings": [
        {"target_field": "model_config.x", "secret_reference_id": "ref", "secret_key": MAPPED}
    ],
}
ECHO = {
    "success": False,
    "data": {"message": f"invalid key {SECRET} for {MAPPED}", "errorCode": SECRET},
    "echo": {"request": {**WITH_MAPPING}},
}


@pytest.mark.parametrize("status", [400, 500])
def test_an_error_echoing_the_request_body_is_scrubbed(
    fake: FakePortkey, writer: Surface, status: int
) -> None:
    fake.fail_next(status, body=ECHO, headers={"X-Echo": SECRET, **NOW})
    with pytest.raises(APIStatusError) as info:
        writer.call("create", **WITH_MAPPING)
    assert_secret_free(info.value)
    assert "[REDACTED]" in info.value.message
    assert info.value.body["echo"]["request"]["key"] == "[REDACTED]"
    # The server did get the secret: it is only kept out of what the SDK hands back.
    assert fake.requests[-1].json["key"] == SECRET


def test_an_update_error_echoing_the_new_key_is_scrubbed(
    fake: FakePortkey, writer: Surface
) -> None:
    fake.fail_next(422, body={"error": {"message": f"bad key: {SECRET}"}})
    with pytest.raises(APIStatusError) as info:
        writer.call("update", "k", key=SECRET)
    assert_secret_free(info.value)


def test_a_2xx_echoing_the_secret_is_scrubbed(fake: FakePortkey, writer: Surface) -> None:
    fake.fail_next(200, body={"id": "i", "slug": "s", "key": SECRET, "extra": MAPPED})
    ref = writer.call("create", **WITH_MAPPING)
    assert ref.slug == "s"
    assert_secret_free(ref, ref.to_dict())
    fake.fail_next(200, body={"success": True, "data": {"slug": "s", "key": SECRET}})
    raw, parsed = writer.call_raw("create", **CREATE)
    assert_secret_free(parsed, raw.content, raw.text(), raw.json())  # type: ignore[attr-defined]


def test_refused_arguments_never_quote_the_secret(fake: FakePortkey, writer: Surface) -> None:
    for change in (
        {"usage_limits": SECRET},
        {"rate_limits": [SECRET]},
        {"secret_mappings": [{"target_field": 5, "secret_key": MAPPED}]},
        {"expires_at": SECRET},
        {"extra_body": {"key": object()}},
        {"key": [SECRET]},
    ):
        with pytest.raises((TypeError, ValueError)) as info:
            writer.call("create", **{**CREATE, **change})
        assert_secret_free(info.value)
    assert len(fake.requests) == 0


def test_no_log_record_holds_the_secret(
    fake: FakePortkey, writer: Surface, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    fake.fail_next(429, headers=NOW)
    writer.call("create", **WITH_MAPPING)
    fake.fail_next(500, body=ECHO, headers=NOW)
    writer.call("update", "k", key=SECRET, secret_mappings=WITH_MAPPING["secret_mappings"])
    fake.fail_next(500, body=ECHO)
    with pytest.raises(InternalServerError):
        writer.call("create", **WITH_MAPPING)
    writer.call("delete", "k")
    assert len(caplog.records) >= 8
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert SECRET not in text, text
        assert MAPPED not in text, text


def test_reprs_of_everything_a_write_touches(fake: FakePortkey, writer: Surface) -> None:
    ref = writer.call("create", **WITH_MAPPING)
    raw, _ = writer.call_raw("update", ref.slug, key=SECRET)
    assert_secret_free(ref, raw, writer.client)
    for request in fake.requests:  # the fake's own record hides it too
        assert SECRET not in repr(request)
        assert MAPPED not in repr(request)
    # What the server serves back is its own business; the provider key comes back masked.
    vk = writer.retrieve(ref.slug)
    assert SECRET not in repr(vk)
    assert SECRET not in repr(vk.to_dict())


_SCRIPT = textwrap.dedent(
    f"""
    import asyncio
    from portkey_vk import AsyncPortkey, APIStatusError
    from portkey_vk.testing import FakePortkey

    async def main():
        async with FakePortkey() as fake:
            async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
                fake.fail_next(429, headers={{"Retry-After": "0"}}, body={{"echo": {SECRET!r}}})
                ref = await client.virtual_keys.create(name="n", provider="openai", key={SECRET!r})
                await client.virtual_keys.update(ref.slug, key={SECRET!r})
                fake.fail_next(500, body={{"message": "no " + {SECRET!r}}})
                try:
                    await client.virtual_keys.create(name="n", provider="o", key={SECRET!r})
                except APIStatusError as exc:
                    print(exc)
                await client.virtual_keys.delete(ref.slug)
        print("done")

    asyncio.run(main())
    """
)


def test_portkey_log_debug_never_prints_the_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    env["PORTKEY_LOG"] = "debug"
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.endswith("done\n")
    assert "[REDACTED]" in done.stdout
    assert " DEBUG " in done.stderr
    assert "POST" in done.stderr
    assert SECRET not in done.stdout + done.stderr
