"""The retry policy: backoff with jitter, the server's Retry-After, and which requests may be
sent again (a write only when it certainly did not reach the server), against a hostile server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from portkey_vk import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncPortkey,
    InternalServerError,
    NotFoundError,
)
from portkey_vk._models import ResourceRef
from portkey_vk._retry import retry_delay
from tests.conftest import unused_port
from tests.hostile import (
    API_KEY,
    Behaviour,
    HostileServer,
    Request,
    assert_pool_clean,
    async_test,
    client_for,
    close_mid_body,
    echo_body,
    hang,
    raw,
    reset,
    respond,
)
from tests.leaks import assert_clean, assert_records_clean


def _percent(text: str) -> str:
    return "".join(f"%{ord(ch):02x}" for ch in text)


@pytest.mark.parametrize(
    ("attempt", "nominal"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (1024, 8.0), (10**6, 8.0)],
)
def test_backoff_doubles_to_a_cap_with_jitter(attempt: int, nominal: float) -> None:
    delays = {retry_delay(attempt, None) for _ in range(200)}
    assert all(0.75 * nominal <= d <= nominal for d in delays)
    assert len(delays) > 1, "jitter"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "60"}, 60.0),
    ],
)
def test_retry_after_is_exact(headers: dict[str, str], expected: float) -> None:
    assert retry_delay(0, headers) == expected


def test_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    delay = retry_delay(0, {"retry-after": format_datetime(when, usegmt=True)})
    assert 8.0 <= delay <= 10.0


def test_retry_after_date_in_the_past_means_now() -> None:
    when = datetime.now(timezone.utc) - timedelta(seconds=100)
    assert retry_delay(0, {"retry-after": format_datetime(when, usegmt=True)}) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "soon"},
        {"retry-after": "-5"},
        {"retry-after": "61"},
        {"retry-after": "100000"},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "abc"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "120000"},
        {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"},
        {},
    ],
)
def test_unusable_retry_after_falls_back_to_backoff(headers: dict[str, str]) -> None:
    delay = retry_delay(1, headers)
    assert 0.75 <= delay <= 1.0


def test_retry_after_date_without_zone_is_utc() -> None:
    # RFC 5322's "-0000" means "UTC, origin unknown"; email.utils returns it naive.
    assert retry_delay(0, {"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}) == 0.0


# -- the write-safety policy against a hostile server -------------------------------------------
#
# Each case records how many requests reached the server; docs/reliability.md tables them.

PROVIDER_KEY = "sk-provider-secret-4b1d7e0c9a"
CREATED = respond(200, {"success": True, "data": {"slug": "new-vk"}})
NOTE = "may or may not have taken effect"


def _dropped_after_read(kind: str) -> Behaviour:
    # The request was read in full, then the connection ends without an answer.
    return reset() if kind == "reset" else raw(b"")


async def _create(client: AsyncPortkey) -> ResourceRef:
    return await client.virtual_keys.create(name="n", provider="openai", key=PROVIDER_KEY)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(_dropped_after_read("reset"), APIConnectionError, id="reset-after-read"),
        pytest.param(_dropped_after_read("close"), APIConnectionError, id="closed-after-read"),
        pytest.param(close_mid_body(), APIConnectionError, id="closed-mid-answer"),
        pytest.param(respond(500, {"message": "boom"}), InternalServerError, id="500"),
        pytest.param(respond(502, "<html>bad gateway</html>"), InternalServerError, id="502"),
        pytest.param(
            respond(503, {"message": "busy"}, {"Retry-After": "0"}), InternalServerError, id="503"
        ),
        pytest.param(respond(408, {"message": "slow"}), APIStatusError, id="408"),
        pytest.param(hang(), APITimeoutError, id="timeout"),
    ],
)
@async_test
async def test_post_that_may_have_reached_the_server_is_not_retried(
    fault: Behaviour, expected: type[APIError]
) -> None:
    async with HostileServer(fault) as server:
        async with client_for(server.base_url(), timeout=0.3, max_retries=2) as client:
            started = time.monotonic()
            with pytest.raises(APIError) as info:
                await _create(client)
            elapsed = time.monotonic() - started
            assert_pool_clean(client)
    exc = info.value
    assert type(exc) is expected, repr(exc)
    assert NOTE in exc.message
    assert NOTE in str(exc)
    # Exactly one request: sending a create again could create a second key.
    assert len(server.requests) == 1
    assert server.requests[0].method == "POST"
    assert elapsed < 0.3 + 0.5  # no backoff was slept
    assert_clean(exc, API_KEY, PROVIDER_KEY)


@async_test
async def test_post_is_retried_after_connection_refused() -> None:
    # Nothing listens on the port at first: the request certainly never left.
    port = unused_port()
    async with client_for(f"http://127.0.0.1:{port}/v1", max_retries=2) as client:
        seen: list[Request] = []

        async def start_late() -> asyncio.Server:
            await asyncio.sleep(0.1)

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                seen.append(Request("POST", "", {}, 1, time.monotonic(), body))
                answer = json.dumps({"success": True, "data": {"slug": "new-vk"}}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
                writer.close()

            return await asyncio.start_server(handle, "127.0.0.1", port)

        late = asyncio.create_task(start_late())
        ref = await _create(client)
        server = await late
        server.close()
        await server.wait_closed()
    assert ref.slug == "new-vk"
    assert len(seen) == 1
    assert json.loads(seen[0].body)["key"] == PROVIDER_KEY


@async_test
async def test_post_is_retried_after_429() -> None:
    limited = respond(429, {"message": "slow down"}, {"Retry-After": "0"})
    async with HostileServer(limited, CREATED) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            ref = await _create(client)
    assert ref.slug == "new-vk"
    assert [r.method for r in server.requests] == ["POST", "POST"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize(
    ("faults", "requests"),
    [
        # A dropped connection is sent again at once (within the attempt), then retried.
        pytest.param([_dropped_after_read("reset")], 2, id="reset-after-read"),
        pytest.param([_dropped_after_read("close")], 2, id="closed-after-read"),
        pytest.param([respond(500, {"message": "boom"})], 2, id="500"),
        pytest.param([respond(503, {"message": "busy"}, {"Retry-After": "0"})], 2, id="503"),
        pytest.param([hang()], 2, id="timeout"),
        pytest.param(
            [_dropped_after_read("reset"), _dropped_after_read("reset")], 3, id="two-drops"
        ),
    ],
)
@async_test
async def test_put_and_delete_are_retried(
    method: str, faults: list[Behaviour], requests: int
) -> None:
    async with HostileServer(*faults, respond(200, {"success": True})) as server:
        async with client_for(server.base_url(), timeout=0.3, max_retries=2) as client:
            if method == "PUT":
                result = await client.virtual_keys.update("vk", note="n", key=PROVIDER_KEY)
            else:
                result = await client.virtual_keys.delete("vk")
            assert_pool_clean(client)
    assert result is None
    assert [r.method for r in server.requests] == [method] * requests


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(_dropped_after_read("reset"), id="reset-after-read"),
        pytest.param(_dropped_after_read("close"), id="closed-after-read"),
        pytest.param(respond(500, {"message": "boom"}), id="500"),
        pytest.param(hang(), id="timeout"),
    ],
)
@async_test
async def test_delete_answered_404_after_an_attempt_that_may_have_acted_succeeds(
    fault: Behaviour,
) -> None:
    gone = respond(404, {"message": "virtual key not found"})
    async with HostileServer(fault, gone) as server:
        async with client_for(server.base_url(), timeout=0.3, max_retries=2) as client:
            assert await client.virtual_keys.delete("vk") is None
            assert_pool_clean(client)
    # The first attempt may have deleted it: the 404 of the retry means it is gone, as asked.
    assert [r.method for r in server.requests] == ["DELETE", "DELETE"]


@async_test
async def test_delete_answered_404_at_once_is_not_found() -> None:
    async with HostileServer(respond(404, {"message": "virtual key not found"})) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(NotFoundError):
                await client.virtual_keys.delete("vk")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(echo_body(400), id="400-echo"),
        pytest.param(echo_body(422), id="422-echo"),
        pytest.param(echo_body(500), id="500-echo-not-retried"),
        pytest.param(
            respond(400, {"message": "bad key " + _percent(PROVIDER_KEY)}), id="400-percent"
        ),
        pytest.param(
            respond(400, '{"message": "bad key \\u0073' + PROVIDER_KEY[1:] + '"}'),
            id="400-json-escaped",
        ),
        pytest.param(respond(400, "bad key " + PROVIDER_KEY, content_type="text/plain"), id="text"),
        pytest.param(
            respond(400, {"message": "no"}, {"X-Echo": PROVIDER_KEY, PROVIDER_KEY: "1"}),
            id="headers",
        ),
    ],
)
@async_test
async def test_provider_key_echoed_in_an_error_is_scrubbed_everywhere(
    answer: Behaviour, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="portkey_vk")
    async with HostileServer(answer) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(APIStatusError) as info:
                await _create(client)
    # The server really received it: an echo would show it.
    assert json.loads(server.requests[0].body)["key"] == PROVIDER_KEY
    assert len(server.requests) == 1
    exc = info.value
    assert_clean(exc, PROVIDER_KEY, API_KEY)
    for shown in (str(exc), exc.message, exc.body, exc.headers):
        assert_clean(shown, PROVIDER_KEY)
    assert_records_clean(caplog.records, PROVIDER_KEY, API_KEY)


@async_test
async def test_provider_key_echoed_in_a_create_answer_is_scrubbed() -> None:
    async def echo_created(writer: Any, req: Request, stop: Any) -> bool:
        sent = json.loads(req.body)
        body = {"success": True, "data": {"slug": "new-vk", "echo": sent, "key": sent["key"]}}
        return await respond(200, body, {"X-Echo": sent["key"]})(writer, req, stop)

    async with HostileServer(echo_created, echo_created) as server:
        async with client_for(server.base_url()) as client:
            ref = await _create(client)
            raw_response = await client.virtual_keys.with_raw_response.create(
                name="n", provider="openai", key=PROVIDER_KEY
            )
    assert ref.slug == "new-vk"
    for shown in (ref, ref.to_dict(), raw_response.content, raw_response.headers):
        assert_clean(shown, PROVIDER_KEY)


@pytest.mark.parametrize("status", [307, 308])
@async_test
async def test_write_redirected_to_a_location_holding_the_provider_key_is_refused(
    status: int,
) -> None:
    location = "/v1/virtual-keys/vk?k=" + _percent(PROVIDER_KEY)
    async with HostileServer(respond(status, "", {"Location": location})) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            with pytest.raises(APIConnectionError, match="API key") as info:
                await client.virtual_keys.update("vk", key=PROVIDER_KEY)
    assert len(server.requests) == 1
    assert_clean(info.value, PROVIDER_KEY, API_KEY)
