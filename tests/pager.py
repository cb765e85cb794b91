"""A scriptable list server: each ``GET /v1/virtual-keys`` is answered by a function of the page.

FakePortkey serves a well-behaved list; the odd servers a paginator must survive (one that ignores
``current_page``, lies about ``total``, repeats or shifts items, never says ``total``) are easier
to write as a function ``answer(page, size) -> body`` than as ordered scripts, which concurrent
fetch-ahead requests would consume in arrival order rather than page order. It runs on
``127.0.0.1`` on a thread of its own, so the async and the sync surface both reach it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

API_KEY = "pk-pager-0123456789abcdef"

Answer = Callable[[int, int], Any]


def key(index: int, **fields: Any) -> dict[str, Any]:
    """A virtual key the SDK parses, named by its index."""
    return {"id": f"id-{index}", "slug": f"k{index}", "name": f"key {index}", **fields}


def honest(count: int, *, total: bool = True) -> Answer:
    """A list of ``count`` keys, paged as Portkey pages it."""

    def answer(page: int, size: int) -> Any:
        items = [key(i) for i in range(page * size, min(count, (page + 1) * size))]
        return {"object": "list", "total": count, "data": items} if total else {"data": items}

    return answer


class Pager:
    """The server. ``answer`` may return a body, or ``(status, body)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.delay = 0.0
        #: Seconds to wait before answering a given page (over ``delay``), when set.
        self.delay_for: Callable[[int], float] | None = None
        self.requests: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.finished = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="pager")
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pages_asked(self) -> list[int]:
        with self._lock:
            return [int(query["current_page"]) for query in self.requests]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        with self._lock:
            self.requests.append(query)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            page = int(query["current_page"])
            delay = self.delay_for(page) if self.delay_for is not None else self.delay
            if delay:
                await asyncio.sleep(delay)
            result = self.answer(page, int(query["page_size"]))
        finally:
            with self._lock:
                self.in_flight -= 1
                self.finished += 1
        status, body = result if isinstance(result, tuple) else (200, result)
        return web.json_response(body, status=status)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/v1/virtual-keys", self._handle)
        runner = self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def __enter__(self) -> Pager:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def serve(answer: Answer) -> Iterator[Pager]:
    with Pager(answer) as pager:
        yield pager
