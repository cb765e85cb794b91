"""A loopback HTTP/1.1 server for the benchmarks that is never the bottleneck.

aiohttp.web tops out near 17k req/s on a small machine, which would flatten every client's
numbers into the server's; this is a bare ``asyncio.Protocol`` that answers every GET with one
pre-rendered response, so it spends a few microseconds per request. Keep-alive only, no request
bodies: exactly what the clients under test send.

Run as its own process (``python benchmarks/server.py``): it prints its port on the first line of
stdout and stops when its stdin closes (the parent exited) or after ``--max-seconds``.
``GET /__stats`` answers ``{"cpu": <process CPU seconds>, "requests": <count>}``, so a run can show
that the server stayed mostly idle.

With ``--list N --delay S`` it serves instead a paged list of N keys (``GET /v1/virtual-keys?
current_page=&page_size=``), each answer held back S seconds, for the listing benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from typing import ClassVar

API_KEY = "pk-bench-0123456789abcdef"
SLUG = "openai-prod-1"

# A realistic answer of the live API: every documented field filled, the undocumented ones it
# really sends, and one key no SDK version knows (kept in ``extra``).
VIRTUAL_KEY = {
    "id": "5b0c6a5e-7c1f-4e0f-9d7b-1f2a3b4c5d6e",
    "slug": SLUG,
    "name": "OpenAI production",
    "note": "Shared by the platform team; rotate quarterly.",
    "status": "active",
    "usage_limits": {
        "credit_limit": 500.0,
        "type": "cost",
        "alert_threshold": 400.0,
        "periodic_reset": "monthly",
        "next_usage_reset_at": "2025-12-01T00:00:00.000Z",
    },
    "reset_usage": 123.456789,
    "created_at": "2024-05-17T09:21:33.123Z",
    "expires_at": None,
    "model_config": {"azureDeploymentConfig": [], "organisation": "org-abc123"},
    "rate_limits": [
        {"type": "requests", "unit": "rpm", "value": 600},
        {"type": "tokens", "unit": "rpd", "value": 2000000},
    ],
    "secret_mappings": [
        {
            "target_field": "key",
            "secret_reference_id": "vault-openai-prod",
            "secret_key": None,
            "value_format": "string",
        }
    ],
    "object": "virtual-key",
    "ai_provider_name": "openai",
    "key": "sk-****************************abcd",
    "masked_api_key": "sk-****abcd",
    "integration_id": "c3d4e5f6-a7b8-4c9d-8e0f-112233445566",
    "last_reset_at": "2025-11-01T00:00:00Z",
    "tags": ["prod", "platform"],
    "workspace_id": "ws-default",
}

BODY = json.dumps(VIRTUAL_KEY, separators=(",", ":")).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"x-portkey-request-id: 0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n" + BODY
)
_END = b"\r\n\r\n"


class _Stats:
    requests = 0


def _stats_response() -> bytes:
    body = json.dumps({"cpu": time.process_time(), "requests": _Stats.requests}).encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class _Protocol(asyncio.Protocol):
    __slots__ = ("_buffer", "_transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        count = buffer.count(_END)
        if not count:
            self._buffer = buffer
            return
        end = buffer.rfind(_END) + 4
        self._buffer = buffer[end:]
        _Stats.requests += count
        if b"/__stats" in buffer[:end]:
            # Only the run's controller asks for stats, one request per connection at a time.
            self._transport.write(_stats_response())
            return
        self._transport.write(RESPONSE * count if count > 1 else RESPONSE)


class _ListProtocol(asyncio.Protocol):
    """``GET /v1/virtual-keys?current_page=N&page_size=M`` over a list of keys, each answer
    held back ``delay`` seconds as a remote control plane would be (``--list``)."""

    keys: ClassVar[list[bytes]] = []
    delay: ClassVar[float] = 0.0
    _pages: ClassVar[dict[tuple[int, int], bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        loop = asyncio.get_running_loop()
        while _END in self._buffer:
            head, _, self._buffer = self._buffer.partition(_END)
            _Stats.requests += 1
            target = head.split(b" ", 2)[1].decode()
            if target.startswith("/__stats"):
                self._transport.write(_stats_response())
                continue
            loop.call_later(self.delay, self._answer, target)

    def _answer(self, target: str) -> None:
        query = dict(
            part.split("=", 1) for part in target.partition("?")[2].split("&") if "=" in part
        )
        page, size = int(query.get("current_page", 0)), int(query.get("page_size", 50))
        body = self._pages.get((page, size))
        if body is None:
            items = b",".join(self.keys[page * size : (page + 1) * size])
            body = b'{"object":"list","total":%d,"data":[%s]}' % (len(self.keys), items)
            self._pages[page, size] = body
        if not self._transport.is_closing():
            self._transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


def _list_keys(count: int) -> list[bytes]:
    keys = []
    for index in range(count):
        item = dict(VIRTUAL_KEY, slug=f"vk-{index:05d}", id=f"00000000-0000-4000-8000-{index:012d}")
        keys.append(json.dumps(item, separators=(",", ":")).encode())
    return keys


async def _serve(port: int, max_seconds: float, list_keys: int = 0, delay: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    protocol: type[asyncio.Protocol] = _Protocol
    if list_keys:
        _ListProtocol.keys = _list_keys(list_keys)
        _ListProtocol.delay = delay
        protocol = _ListProtocol
    server = await loop.create_server(protocol, "127.0.0.1", port, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()

    def watch_stdin() -> None:
        # The parent holds our stdin; EOF means it is gone, so stop rather than linger.
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max_seconds)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument(
        "--list", type=int, default=0, metavar="N", help="serve a paged list of N keys instead"
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds added to every list answer"
    )
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.max_seconds, args.list, args.delay))


if __name__ == "__main__":
    main()
