"""What a user who watches the SDK sees: OpenTelemetry spans from aiohttp, and ``PORTKEY_LOG``.

The SDK has no tracing of its own: a user who instruments aiohttp
(``opentelemetry-instrumentation-aiohttp-client``) gets one client span per attempt, on either
surface, with no secret in any attribute; a sync call's spans are children of the caller's
current span although they run on the portal thread. ``PORTKEY_LOG=info`` shows each attempt,
each retry and each cache miss with the cache's counters.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.instrumentation.aiohttp_client")

from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from portkey_vk import AsyncPortkey, Cache, Portkey, _portal
from portkey_vk.testing import FakePortkey
from tests.hostile import API_KEY

# Retry at once, so a retried call costs no wall time.
NOW = {"Retry-After": "0"}


class Traced:
    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    def client_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


@pytest.fixture
def traced() -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Traced(provider, exporter)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def _attributes_text(spans: list[ReadableSpan]) -> str:
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts += [f"{k}={v!r}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            parts += [f"{k}={v!r}" for k, v in (event.attributes or {}).items()]
    return "\n".join(parts)


def _url_of(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url"))


def test_one_client_span_per_attempt_async_without_the_key(traced: Traced) -> None:
    async def main() -> None:
        async with FakePortkey(api_key=API_KEY) as fake:
            fake.add_virtual_key("vk")
            fake.fail_next(503, times=2, headers=NOW)
            async with AsyncPortkey(api_key=API_KEY, base_url=fake.base_url) as client:
                await client.virtual_keys.retrieve("vk")

    asyncio.run(main())
    spans = traced.client_spans()
    assert len(spans) == 3  # two 503s and the answer: one span per attempt
    assert all(_url_of(s).endswith("/v1/virtual-keys/vk") for s in spans)
    assert API_KEY not in _attributes_text(spans)


def test_sync_spans_are_children_of_the_callers_span(traced: Traced) -> None:
    tracer = traced.provider.get_tracer("test")
    with FakePortkey(api_key=API_KEY) as fake:
        fake.add_virtual_key("vk")
        fake.fail_next(500, headers=NOW)
        with Portkey(api_key=API_KEY, base_url=fake.base_url) as client:
            with tracer.start_as_current_span("job") as job:
                client.virtual_keys.retrieve("vk")
            client.virtual_keys.retrieve("vk")  # outside any span: a root of its own
    spans = traced.client_spans()
    assert len(spans) == 3
    job_id = job.get_span_context().span_id
    parents = [s.parent.span_id if s.parent else None for s in spans]
    assert parents == [job_id, job_id, None]
    assert all(s.context.trace_id == job.get_span_context().trace_id for s in spans[:2])
    assert API_KEY not in _attributes_text(spans)


def test_a_cache_hit_makes_no_span(traced: Traced) -> None:
    with FakePortkey(api_key=API_KEY) as fake:
        fake.add_virtual_key("vk")
        cache = Cache(ttl=30)
        with Portkey(api_key=API_KEY, base_url=fake.base_url, cache=cache) as client:
            for _ in range(5):
                client.virtual_keys.retrieve("vk")
    assert len(traced.client_spans()) == 1
    assert cache.stats.hits == 4


def test_captured_headers_are_safe_when_the_key_header_is_sanitized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Capturing every request header records the API key header too, unless it is listed in
    # the sanitize fields, as docs/observability.md says.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", ".*")
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "x-portkey-api-key"
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakePortkey(api_key=API_KEY) as fake:
            fake.add_virtual_key("vk")
            with Portkey(api_key=API_KEY, base_url=fake.base_url) as client:
                client.virtual_keys.retrieve("vk")
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(spans) == 1
    text = _attributes_text(spans)
    assert API_KEY not in text
    assert "x_portkey_api_key" in text or "x-portkey-api-key" in text  # captured, redacted


_SCRIPT = textwrap.dedent(
    f"""
    import asyncio
    from portkey_vk import AsyncPortkey, Cache
    from portkey_vk.testing import FakePortkey

    async def main():
        async with FakePortkey(api_key={API_KEY!r}) as fake:
            fake.add_virtual_key("vk")
            fake.fail_next(503, headers={{"Retry-After": "0"}})
            cache = Cache(ttl=30)
            async with AsyncPortkey(
                api_key={API_KEY!r}, base_url=fake.base_url, cache=cache
            ) as client:
                for _ in range(3):
                    await client.virtual_keys.retrieve("vk")
            print(cache.stats)

    asyncio.run(main())
    """
)


def _run(level: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    env["PORTKEY_LOG"] = level
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert API_KEY not in done.stdout + done.stderr
    return done.stdout, done.stderr


def _messages(stderr: str) -> list[str]:
    # "<date> <time> portkey_vk INFO <message>"
    return [line.split(" ", 4)[4] for line in stderr.splitlines() if " portkey_vk " in line]


def test_portkey_log_info_shows_retries_and_cache_counters() -> None:
    stdout, stderr = _run("info")
    assert stdout.strip() == (
        "CacheStats(hits=2, misses=1, coalesced=0, stale_served=0, evictions=0, size=1)"
    )
    messages = _messages(stderr)
    assert messages[0] == (
        "cache miss virtual-keys/vk: fetching "
        "(hits=0 misses=1 coalesced=0 stale_served=0 evictions=0 size=0)"
    )
    assert messages[1].startswith("GET http://127.0.0.1:")
    assert messages[1].endswith("-> 503 (attempt 1, " + messages[1].rsplit(", ", 1)[1])
    assert messages[2].startswith("retrying GET ")
    assert "(attempt 2 of 3): InternalServerError" in messages[2]
    assert " -> 200 (attempt 2, " in messages[3]
    assert len(messages) == 4, messages  # hits are not logged at INFO


def test_portkey_log_debug_adds_each_hit() -> None:
    _, stderr = _run("debug")
    messages: list[Any] = _messages(stderr)
    assert messages.count("cache hit virtual-keys/vk") == 2


def test_a_sync_call_sees_the_callers_context_variables() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

    async def read() -> str:
        return request_id.get()

    token = request_id.set("req-42")
    try:
        assert _portal.run(read) == "req-42"
    finally:
        request_id.reset(token)
    assert _portal.run(read) == "-"
