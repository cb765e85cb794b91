"""Fault injection: a real local server misbehaves on purpose; the SDK must answer with the right
typed error (or a successful retry), within its timeout, leak no pooled connection, and serve the
next call."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import gzip
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from portkey_vk import (
    APIConnectionError,
    APIError,
    APIResponseTooLargeError,
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
    RateLimitError,
    UnprocessableEntityError,
)
from portkey_vk._config import DEFAULT_MAX_RESPONSE_BYTES
from portkey_vk._transport import ERROR_BODY_LIMIT
from tests.conftest import unused_port
from tests.hostile import (
    VK_BODY,
    Behaviour,
    HostileServer,
    Request,
    assert_pool_clean,
    async_test,
    client_for,
    close_mid_body,
    compression_bomb,
    declared,
    delayed,
    endless_chunked,
    hang,
    ok,
    raw,
    reset,
    respond,
    stall_after_headers,
)

TIMEOUT = 0.3


async def _fails_then_recovers(
    server: HostileServer, expected: type[APIError], *, timeout: float = TIMEOUT
) -> APIError:
    """One call meets the scripted fault; the next one (default behaviour) must succeed."""
    async with client_for(server.base_url(), timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(APIError) as info:
            await client.virtual_keys.retrieve("vk")
        elapsed = time.monotonic() - started
        assert type(info.value) is expected, repr(info.value)
        # Bounded by the timeout (plus scheduling slack), never a hang.
        assert elapsed < timeout + 1.0
        assert_pool_clean(client)
        vk = await client.virtual_keys.retrieve("vk")
        assert vk.slug == "vk"
        assert_pool_clean(client)
        assert client._transport.connection_count() <= 1
        return info.value


# -- the transport breaks ---------------------------------------------------------------------


@async_test
async def test_connection_refused_is_a_connection_error() -> None:
    port = unused_port()
    async with client_for(f"http://127.0.0.1:{port}/v1", max_retries=1) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.virtual_keys.retrieve("vk")
        assert type(info.value) is APIConnectionError
        assert "Connect" in info.value.message
        assert_pool_clean(client)


@async_test
async def test_connection_refused_then_server_appears_is_retried() -> None:
    # The first attempt meets a dead port; the server comes up during the backoff.
    port = unused_port()
    async with client_for(f"http://127.0.0.1:{port}/v1", max_retries=2) as client:

        async def start_late() -> asyncio.Server:
            await asyncio.sleep(0.1)
            body = json.dumps(VK_BODY).encode()

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                writer.close()

            return await asyncio.start_server(handle, "127.0.0.1", port)

        late = asyncio.create_task(start_late())
        vk = await client.virtual_keys.retrieve("vk")
        server = await late
        server.close()
        await server.wait_closed()
        assert vk.slug == "vk"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        # aiohttp itself re-sends an idempotent request once, at once, when the connection drops
        # before any response (a stale keep-alive race); two drops in a row reach the caller.
        pytest.param([reset(), reset()], APIConnectionError, id="reset-before-response"),
        pytest.param([raw(b""), raw(b"")], APIConnectionError, id="close-without-answer"),
        pytest.param(close_mid_body(), APIConnectionError, id="close-mid-body"),
        pytest.param(
            close_mid_body(claimed=500, sent=json.dumps(VK_BODY).encode()),
            APIConnectionError,
            id="body-shorter-than-content-length",
        ),
        pytest.param(hang(), APITimeoutError, id="accept-never-answer"),
        pytest.param(stall_after_headers(), APITimeoutError, id="headers-then-stall"),
        pytest.param(
            stall_after_headers(sent=b'{"slug": "v'), APITimeoutError, id="part-body-then-stall"
        ),
        pytest.param(raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), APIConnectionError, id="not-http"),
        pytest.param(
            raw(b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}"),
            APIConnectionError,
            id="malformed-header",
        ),
        pytest.param(
            raw(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"),
            APIConnectionError,
            id="header-too-long",
        ),
        pytest.param(
            raw(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"),
            APIConnectionError,
            id="bad-gzip",
        ),
        pytest.param(
            raw(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"slu'),
            APIConnectionError,
            id="chunked-cut-short",
        ),
    ],
)
@async_test
async def test_transport_fault_is_typed_bounded_and_leaves_pool_clean(
    fault: object, expected: type[APIError]
) -> None:
    faults = fault if isinstance(fault, list) else [fault]
    async with HostileServer(*faults) as server:
        exc = await _fails_then_recovers(server, expected)
    # The cause is kept for debugging, but it is never a bare aiohttp/asyncio error at the top.
    assert isinstance(exc, APIConnectionError)
    assert not isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError))


@async_test
async def test_single_reset_is_resent_at_once_by_aiohttp() -> None:
    async with HostileServer(reset(), ok(name="resent")) as server:
        async with client_for(server.base_url(), max_retries=0) as client:
            started = time.monotonic()
            vk = await client.virtual_keys.retrieve("vk")
            assert time.monotonic() - started < 0.3
            assert vk.name == "resent"
            assert len(server.requests) == 2
            assert_pool_clean(client)


@async_test
async def test_reset_is_retried_and_the_retry_result_returned() -> None:
    # Four resets: aiohttp re-sends once per attempt, so this takes both of our retries.
    async with HostileServer(*[reset()] * 4, ok(name="third attempt")) as server:
        async with client_for(server.base_url(), max_retries=2) as client:
            started = time.monotonic()
            vk = await client.virtual_keys.retrieve("vk")
            elapsed = time.monotonic() - started
            assert vk.name == "third attempt"
            assert len(server.requests) == 5
            # Two backoffs: 0.5 s then 1.0 s, each with up to 25 % jitter downwards.
            assert 0.375 + 0.75 - 0.05 <= elapsed < 1.5 + 1.0
            assert_pool_clean(client)


@async_test
async def test_timeout_then_success_is_retried() -> None:
    async with HostileServer(hang(), ok(name="after timeout")) as server:
        async with client_for(server.base_url(), timeout=TIMEOUT, max_retries=1) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.name == "after timeout"
            assert_pool_clean(client)


@async_test
async def test_per_call_timeout_bounds_each_attempt() -> None:
    async with HostileServer(hang(), hang()) as server:
        async with client_for(server.base_url(), timeout=30, max_retries=1) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.virtual_keys.retrieve("vk", timeout=0.2)
            elapsed = time.monotonic() - started
            # Two attempts of 0.2 s and one backoff of at most 0.5 s.
            assert 0.4 <= elapsed < 0.2 * 2 + 0.5 + 0.5
            assert len(server.requests) == 2
            assert_pool_clean(client)


@async_test
async def test_cancellation_mid_request_leaves_pool_clean() -> None:
    async with HostileServer(hang()) as server:
        async with client_for(server.base_url(), timeout=30) as client:
            task = asyncio.create_task(client.virtual_keys.retrieve("vk"))
            while not server.requests:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert_pool_clean(client)
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"


# -- 2xx answers that are not a virtual key ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "in_message"),
    [
        pytest.param(
            "<html><body>Welcome to nginx!</body></html>", "text/html", "not valid JSON", id="html"
        ),
        pytest.param(
            '{"slug": "vk", "name": "trunc',
            "application/json",
            "not valid JSON",
            id="truncated-json",
        ),
        pytest.param("[]", "application/json", "array", id="json-array"),
        pytest.param("[1, 2]", "application/json", "array", id="json-array-items"),
        pytest.param("null", "application/json", "null", id="json-null"),
        pytest.param('"vk"', "application/json", "str", id="json-string"),
        pytest.param("", "application/json", "not valid JSON", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", "application/json", "not valid JSON", id="binary"),
        pytest.param(
            '{"created_at": "yesterday"}', "application/json", "$.created_at", id="bad-date"
        ),
        # An object is a valid rate_limits since issue 21 (tests/test_shapes.py); a string is not.
        pytest.param(
            '{"rate_limits": "rpm"}', "application/json", "$.rate_limits", id="string-for-limits"
        ),
        pytest.param('{"name": 12}', "application/json", "$.name", id="number-for-string"),
    ],
)
@async_test
async def test_2xx_that_is_not_a_virtual_key_is_a_validation_error(
    body: str | bytes, content_type: str, in_message: str
) -> None:
    async with HostileServer(respond(200, body, content_type=content_type)) as server:
        exc = await _fails_then_recovers(server, APIResponseValidationError)
    assert isinstance(exc, APIResponseValidationError)
    assert in_message in exc.message
    assert exc.status_code == 200
    # Not retried: the same answer would come back.
    assert len(server.requests) == 2


@async_test
async def test_five_megabyte_body_parses() -> None:
    big_config = {f"field_{i}": "x" * 1000 for i in range(5_000)}
    body = json.dumps({**VK_BODY, "model_config": big_config}).encode()
    assert len(body) > 5_000_000
    async with HostileServer(respond(200, body)) as server:
        async with client_for(server.base_url(), timeout=10) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.model_config == big_config
            assert_pool_clean(client)


# -- status codes -----------------------------------------------------------------------------

_NAMED = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _expected_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return InternalServerError
    return _NAMED.get(status, APIStatusError)


def _retried(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


@async_test
async def test_every_status_400_to_599_maps_and_retries_per_policy() -> None:
    statuses = range(400, 600)
    async with HostileServer(default=respond(200, VK_BODY)) as server:
        async with client_for(server.base_url(), max_retries=1) as client:
            for status in statuses:
                before = len(server.requests)
                body = {"success": False, "data": {"message": f"status {status}"}}
                # Retry-After: 0 keeps the retried statuses instant.
                failing = respond(status, body, {"Retry-After": "0"})
                server.then(failing, failing)
                with pytest.raises(APIStatusError) as info:
                    await client.virtual_keys.retrieve("vk")
                exc = info.value
                assert type(exc) is _expected_class(status), status
                assert exc.status_code == status
                assert exc.message == f"status {status}"
                sent = len(server.requests) - before
                assert sent == (2 if _retried(status) else 1), status
                server.script.clear()
                assert_pool_clean(client)
            assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
            # Every answer was complete, so one keep-alive connection served all of them.
            assert server.connections == 1
    retried = [s for s in statuses if _retried(s)]
    assert len(server.requests) == 200 + len(retried) + 1


@pytest.mark.parametrize("status", [502, 503, 504])
@async_test
async def test_html_from_a_proxy_is_still_an_internal_server_error(status: int) -> None:
    page = f"<html><head><title>{status} Bad Gateway</title></head><body>nginx</body></html>"
    async with HostileServer(respond(status, page, content_type="text/html")) as server:
        exc = await _fails_then_recovers(server, InternalServerError)
    assert isinstance(exc, InternalServerError)
    assert exc.status_code == status
    assert "nginx" in exc.message
    assert exc.body == page


# -- Retry-After ------------------------------------------------------------------------------


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


# (header value, lowest and highest expected wait). Backoff without a usable header is
# 0.5 s less up to 25 % jitter: 0.375..0.5 s.
_BACKOFF = (0.375, 0.5)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        pytest.param({"Retry-After": "0"}, (0.0, 0.1), id="seconds-0"),
        pytest.param({"Retry-After": "0.8"}, (0.8, 0.95), id="seconds-fraction"),
        pytest.param({"retry-after-ms": "150"}, (0.15, 0.3), id="retry-after-ms"),
        pytest.param(
            {"retry-after-ms": "150", "Retry-After": "5"}, (0.15, 0.3), id="ms-wins-over-seconds"
        ),
        pytest.param({"Retry-After": "date:-30"}, (0.0, 0.1), id="http-date-past"),
        pytest.param({"Retry-After": "date:+2"}, (1.0, 2.1), id="http-date-future"),
        pytest.param({"Retry-After": "soon, please"}, _BACKOFF, id="garbage"),
        pytest.param({"Retry-After": ""}, _BACKOFF, id="empty"),
        pytest.param({"Retry-After": "-5"}, _BACKOFF, id="negative"),
        pytest.param({"Retry-After": "nan"}, _BACKOFF, id="nan"),
        pytest.param({"Retry-After": "inf"}, _BACKOFF, id="inf"),
        pytest.param({"Retry-After": "3600"}, _BACKOFF, id="huge-seconds"),
        pytest.param({"Retry-After": "61"}, _BACKOFF, id="just-over-60"),
        pytest.param({"retry-after-ms": "600000"}, _BACKOFF, id="huge-ms"),
        pytest.param({"Retry-After": "date:+3600"}, _BACKOFF, id="huge-date"),
        pytest.param({"Retry-After": "Mon, 99 Foo 20xx 99:99:99 GMT"}, _BACKOFF, id="garbage-date"),
    ],
)
@async_test
async def test_retry_after(headers: dict[str, str], wait: tuple[float, float]) -> None:
    resolved = {
        name: _http_date(float(value[5:])) if value.startswith("date:") else value
        for name, value in headers.items()
    }
    async with HostileServer(respond(429, {"message": "slow down"}, resolved)) as server:
        async with client_for(server.base_url(), max_retries=1) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.slug == "vk"
            assert_pool_clean(client)
    first, second = server.requests
    waited = second.at - first.at
    low, high = wait
    assert low - 0.02 <= waited <= high + 0.1, f"waited {waited:.3f}s for {resolved}"


# -- time: one deadline per attempt, a bounded whole call ---------------------------------------


def _slow_redirect(delay: float) -> Behaviour:
    """Wait, then redirect to the same URL: a same-origin chain where every hop is slow."""
    return delayed(delay, respond(307, "", {"Location": "/v1/virtual-keys/vk"}))


def _trickle(interval: float) -> Behaviour:
    """Promise a body and send it one byte at a time: each read is quick, the whole is not."""

    async def behaviour(writer: asyncio.StreamWriter, _: Request, stop: asyncio.Event) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n"
        )
        while not stop.is_set():
            writer.write(b" ")
            await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):  # not the builtin on 3.10
                await asyncio.wait_for(stop.wait(), interval)
        return False

    return behaviour


# Backoff before retry n (0-based) is 0.5 * 2**n s less up to 25 % jitter.
def _backoff(retries: int) -> tuple[float, float]:
    nominal = sum(0.5 * 2**n for n in range(retries))
    return 0.75 * nominal, nominal


@pytest.mark.parametrize(
    ("attempt", "retries"),
    [
        pytest.param([hang()], 1, id="hang"),
        pytest.param([stall_after_headers()], 1, id="headers-then-stall"),
        pytest.param([_trickle(0.05)], 1, id="trickled-body"),
        # Each hop takes 0.2 s of the attempt's 0.3 s: the second hop runs out of time. A fresh
        # timeout per hop would follow all 5 redirects, 1.2 s per attempt.
        pytest.param([_slow_redirect(0.2)] * 2, 2, id="slow-redirect-chain"),
        # Dropped at 0.25 s and sent again at once, which then hangs: the re-send gets the
        # 0.05 s left, not a new 0.3 s.
        pytest.param([delayed(0.25, reset()), hang()], 2, id="late-drop-then-hang"),
    ],
)
@async_test
async def test_whole_call_is_bounded_by_attempts_times_timeout_plus_backoff(
    attempt: list[Behaviour], retries: int
) -> None:
    timeout = 0.3
    async with HostileServer(*attempt * (retries + 1)) as server:
        async with client_for(server.base_url(), timeout=timeout, max_retries=retries) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.virtual_keys.retrieve("vk")
            elapsed = time.monotonic() - started
            assert_pool_clean(client)
    low, high = _backoff(retries)
    # The documented worst case: (max_retries + 1) x timeout + backoff (+ scheduling slack).
    bound = (retries + 1) * timeout + high
    print(f"\n{len(server.requests)} requests, {elapsed:.2f} s (bound {bound:.2f} s)")
    assert elapsed <= bound + 0.35, elapsed
    assert elapsed >= (retries + 1) * (timeout - 0.05) + low - 0.05, elapsed
    assert len(server.requests) == (retries + 1) * len(attempt)
    assert server.script == collections.deque()


@async_test
async def test_late_drop_resend_gets_only_what_remains_of_the_attempt() -> None:
    async with HostileServer(delayed(0.25, reset()), hang()) as server:
        async with client_for(server.base_url(), timeout=0.3, max_retries=0) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.virtual_keys.retrieve("vk")
            elapsed = time.monotonic() - started
    print(f"\nlate drop then hang: {elapsed:.2f} s")
    # One attempt, two requests, one deadline: 0.3 s, not 0.25 + 0.3.
    assert len(server.requests) == 2
    assert elapsed < 0.3 + 0.1, elapsed


@pytest.mark.long
@async_test
async def test_slow_redirect_chain_with_timeout_2_ends_in_about_7_seconds_not_36() -> None:
    # Each hop answers after 1.9 s: with a fresh 2 s timeout per hop, every attempt would follow
    # all 5 redirects (6 x 1.9 = 11.4 s) and the call would take about 36 s.
    timeout, retries = 2.0, 2
    async with HostileServer(default=_slow_redirect(1.9)) as server:
        async with client_for(server.base_url(), timeout=timeout, max_retries=retries) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.virtual_keys.retrieve("vk")
            elapsed = time.monotonic() - started
    low, high = _backoff(retries)
    print(f"\n{len(server.requests)} requests, {elapsed:.2f} s")
    assert (retries + 1) * timeout + low - 0.1 <= elapsed <= (retries + 1) * timeout + high + 0.5
    assert len(server.requests) == 6


# -- memory: max_response_bytes while streaming and after decompression ------------------------

MIB = 1 << 20


async def _traced(call: Coroutine[Any, Any, Any]) -> tuple[BaseException | None, int, float]:
    """Run ``call``; return what it raised, the peak of traced memory, and the time it took."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        await call
    except Exception as exc:  # the error is the result here
        error: BaseException | None = exc
    else:
        error = None
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak, elapsed


async def _next_call_uses_a_new_connection(client: Any, server: HostileServer) -> None:
    # The oversized answer was not read to its end, so its connection must not go back to the
    # pool: the next call opens a second one, and nothing stays checked out.
    assert_pool_clean(client)
    assert client._transport.connection_count() == 0
    server.then(ok())
    assert (await client.virtual_keys.retrieve("vk")).slug == "vk"
    assert server.connections == 2
    assert_pool_clean(client)


@async_test
async def test_declared_200_mb_answer_is_refused_before_reading_it() -> None:
    async with HostileServer(declared(200_000_000)) as server:
        async with client_for(server.base_url(), timeout=10) as client:
            exc, peak, elapsed = await _traced(client.virtual_keys.retrieve("vk"))
            assert isinstance(exc, APIResponseTooLargeError), repr(exc)
            assert isinstance(exc, APIResponseValidationError)
            print(f"\n{elapsed * 1e3:.0f} ms, traced peak {peak / MIB:.2f} MiB")
            assert (exc.size, exc.limit) == (200_000_000, DEFAULT_MAX_RESPONSE_BYTES)
            assert exc.body is None
            assert exc.status_code == 200
            assert "max_response_bytes" in exc.message
            assert elapsed < 1.0
            assert peak < 1 * MIB, peak
            await _next_call_uses_a_new_connection(client, server)


@pytest.mark.parametrize(
    ("answer", "limit"),
    [
        pytest.param(endless_chunked(), MIB, id="endless-chunked-1MiB"),
        pytest.param(endless_chunked(), None, id="endless-chunked-default"),
        pytest.param(compression_bomb("gzip"), MIB, id="gzip-bomb-1MiB"),
        pytest.param(compression_bomb("gzip"), None, id="gzip-bomb-default"),
        pytest.param(compression_bomb("gzip", declare=False), MIB, id="gzip-bomb-until-close"),
        pytest.param(compression_bomb("deflate"), MIB, id="deflate-bomb-1MiB"),
        pytest.param(compression_bomb("deflate"), None, id="deflate-bomb-default"),
    ],
)
@async_test
async def test_answer_over_the_limit_is_stopped_while_streaming(
    answer: Behaviour, limit: int | None
) -> None:
    # A 1 GiB bomb is 1.06 MB on the wire: compressed_size() < limit, yet it must be refused.
    options = {} if limit is None else {"max_response_bytes": limit}
    cap = limit or DEFAULT_MAX_RESPONSE_BYTES
    async with HostileServer(answer) as server:
        async with client_for(server.base_url(), timeout=10, **options) as client:
            exc, peak, elapsed = await _traced(client.virtual_keys.retrieve("vk"))
            assert isinstance(exc, APIResponseTooLargeError), repr(exc)
            print(f"\nsize {exc.size}, {elapsed:.2f} s, traced peak {peak / MIB:.1f} MiB")
            assert exc.limit == cap
            # Counted after decompression, and stopped within one piece of the limit.
            assert cap < exc.size <= cap + MIB
            # Never much more than the limit in memory, however large the answer.
            assert peak < cap + 4 * MIB, peak
            assert elapsed < 5.0
            await _next_call_uses_a_new_connection(client, server)


@async_test
async def test_five_megabyte_gzip_body_parses_with_the_default_limit() -> None:
    big_config = {f"field_{i}": "x" * 1000 for i in range(5_000)}
    body = json.dumps({**VK_BODY, "model_config": big_config}).encode()
    packed = gzip.compress(body)
    headers = {"Content-Encoding": "gzip"}
    async with HostileServer(respond(200, packed, headers)) as server:
        async with client_for(server.base_url(), timeout=10) as client:
            vk = await client.virtual_keys.retrieve("vk")
            assert vk.model_config == big_config
            assert_pool_clean(client)
    assert len(body) > 5_000_000 > DEFAULT_MAX_RESPONSE_BYTES // 8


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        pytest.param(
            declared(20_000_000, 500, content_type="text/plain", fill=b"server error "),
            "server error",
            id="20MB-text",
        ),
        pytest.param(
            declared(20_000_000, 502, content_type="text/html", fill=b"<p>bad gateway</p>"),
            "<p>bad gateway</p>",
            id="20MB-html",
        ),
        pytest.param(endless_chunked(503, fill=b"overloaded "), "overloaded", id="endless-chunked"),
        # 64 KiB without a single separator (see Scrubber.cut): nothing of it is kept, the
        # message is the status's phrase.
        pytest.param(declared(20_000_000, 500, content_type="text/plain"), "", id="20MB-one-word"),
        pytest.param(compression_bomb("gzip", status=500), "", id="gzip-bomb-of-zeros"),
    ],
)
@async_test
async def test_error_answer_is_read_from_a_bounded_prefix(answer: Behaviour, kept: str) -> None:
    async with HostileServer(answer) as server:
        async with client_for(server.base_url(), timeout=10) as client:
            exc, peak, elapsed = await _traced(client.virtual_keys.retrieve("vk"))
            assert isinstance(exc, InternalServerError), repr(exc)
            print(f"\n{elapsed * 1e3:.0f} ms, traced peak {peak / MIB:.2f} MiB")
            # The body is a prefix of at most 64 KiB (cut at a separator), the message a
            # snippet of it.
            assert isinstance(exc.body, str)
            assert len(exc.body.encode()) <= ERROR_BODY_LIMIT
            if kept:
                assert len(exc.body) > ERROR_BODY_LIMIT - 100
                assert exc.message.startswith(kept)
            else:
                assert exc.body == ""
                assert exc.message == "Internal Server Error"
            assert len(exc.message) <= 200
            # A 20 MB (or endless, or 1 GiB inflated) error costs well under a megabyte or two.
            assert peak < 2 * MIB, peak
            assert elapsed < 2.0
            await _next_call_uses_a_new_connection(client, server)


_RSS_CHILD = """
import asyncio, json, sys
from portkey_vk import APIError
from tests.hostile import client_for

def rss():
    # VmHWM, the peak RSS of this process image. Not getrusage's ru_maxrss: Linux carries that
    # over from the parent across fork and exec, so it would report pytest's own peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

async def main():
    async with client_for(sys.argv[1], timeout=30) as client:
        await client.virtual_keys.retrieve("vk")  # imports, first connection
        report = {"baseline": rss()}
        for case in sys.argv[2:]:
            try:
                await client.virtual_keys.retrieve("vk")
            except APIError as exc:
                report[case] = [rss(), type(exc).__name__]
    print(json.dumps(report))

asyncio.run(main())
"""


@async_test
async def test_peak_rss_of_a_client_process_stays_under_the_size_cap() -> None:
    # Peak RSS is a high-water mark: the cases run from the one expected to cost least.
    cases = {
        "error-20MB": declared(20_000_000, 500, content_type="text/plain"),
        "declared-200MB": declared(200_000_000),
        "gzip-bomb-1GiB": compression_bomb("gzip"),
        "endless-chunked": endless_chunked(),
    }
    async with HostileServer(ok(), *cases.values()) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RSS_CHILD,
            server.base_url(),
            *cases,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    report = json.loads(stdout)
    baseline = report.pop("baseline")
    growth = {case: (rss - baseline) / MIB for case, (rss, _) in report.items()}
    print(f"peak RSS growth over {baseline / MIB:.1f} MiB, in MiB: {growth}")
    assert [kind for _, kind in report.values()] == [
        "InternalServerError",
        "APIResponseTooLargeError",
        "APIResponseTooLargeError",
        "APIResponseTooLargeError",
    ]
    assert growth["error-20MB"] < 8
    assert growth["declared-200MB"] < 8
    cap = DEFAULT_MAX_RESPONSE_BYTES / MIB
    assert growth["gzip-bomb-1GiB"] < cap + 24
    assert growth["endless-chunked"] < cap + 24
