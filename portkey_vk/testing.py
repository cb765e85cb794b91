"""``FakePortkey``: a real, local control plane to test code that reads virtual keys.

::

    from portkey_vk import Portkey
    from portkey_vk.testing import FakePortkey

    with FakePortkey() as fake:
        fake.add_virtual_key(slug="openai-prod", name="OpenAI prod")
        with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            assert client.virtual_keys.retrieve(slug="openai-prod").name == "OpenAI prod"

It is an aiohttp server on ``127.0.0.1`` and a free port: the SDK under test speaks real HTTP to
it, so tests exercise the same code paths as production. ``with FakePortkey()`` runs it on a
thread of its own; ``async with FakePortkey()`` runs it on the current event loop.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from portkey_vk._config import API_KEY_HEADER, REDACTED
from portkey_vk._models import VirtualKey

__all__ = ["FakePortkey", "RecordedRequest"]

DEFAULT_FAKE_API_KEY: Final = "pk-fake-0123456789abcdef"
_UNAUTHORISED: Final = {"success": False, "data": {"message": "Unauthorised Request"}}


@attrs.frozen
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: the HTTP method.
        path: the raw (still percent-encoded) path, e.g. ``/v1/virtual-keys/a%2Fb``.
        headers: the request headers (case-insensitive); the API key is hidden from ``repr``
            only.
        slug: the decoded slug, for virtual-key requests.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    slug: str | None = None

    def __repr__(self) -> str:
        shown = {
            name: (REDACTED if name.lower() == API_KEY_HEADER else value)
            for name, value in self.headers.items()
        }
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"slug={self.slug!r}, headers={shown!r})"
        )


@attrs.define
class _Scripted:
    status: int
    headers: Mapping[str, str]
    body: bytes


class FakePortkey:
    """A fake Portkey control plane serving ``GET {base_path}/virtual-keys/{slug}``.

    It answers a wrong or missing API key with Portkey's 401 body, an unknown slug with 404, and
    a stored key with its JSON. Failures can be scripted with :meth:`fail_next` and slowness with
    :meth:`delay_next`. Everything it received is in :attr:`requests`.

    Args:
        api_key: the one API key it accepts.
        base_path: the API root's path; ``/portkey/v1`` imitates a self-hosted control plane
            behind a path prefix.
    """

    def __init__(self, *, api_key: str = DEFAULT_FAKE_API_KEY, base_path: str = "/v1") -> None:
        if not base_path.startswith("/"):
            raise ValueError("base_path must start with '/'")
        self.api_key = api_key
        self._base_path = base_path.rstrip("/")
        self._keys: dict[str, dict[str, Any]] = {}
        self._script: collections.deque[_Scripted] = collections.deque()
        self._delays: collections.deque[float] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._peers: set[object] = set()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- what tests read -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url`` to a client."""
        if self._port is None:
            raise RuntimeError("FakePortkey is not started; use `with` or `async with`")
        return f"http://127.0.0.1:{self._port}{self._base_path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def connection_count(self) -> int:
        """How many distinct TCP connections have sent requests so far."""
        with self._lock:
            return len(self._peers)

    # -- what tests script ---------------------------------------------------------------------

    def add_virtual_key(self, slug: str, **fields: Any) -> VirtualKey:
        """Store a virtual key and return it as the SDK will parse it.

        Every field not given gets a sensible default (``status="active"``, a ``created_at`` of
        now, ``object="virtual-key"``, …). Values may be JSON values, datetimes, enums or models;
        unknown field names are served as they are.
        """
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": slug,
            "note": None,
            "status": "active",
            "usage_limits": None,
            "reset_usage": 0,
            "created_at": now,
            "expires_at": None,
            "model_config": {},
            "rate_limits": [],
            "secret_mappings": [],
            "ai_provider_name": "openai",
            "masked_api_key": "sk-****abcd",
            "object": "virtual-key",
        }
        data.update({name: _jsonable(value) for name, value in fields.items()})
        with self._lock:
            self._keys[slug] = data
        return VirtualKey.from_dict(data)

    def remove_virtual_key(self, slug: str) -> None:
        """Forget a stored key; later requests for it get 404."""
        with self._lock:
            self._keys.pop(slug, None)

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: object = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` instead of serving them.

        ``body`` may be bytes or str (sent as they are) or a JSON value; by default it is
        Portkey's error shape, ``{"success": false, "data": {"message": <reason>}}``.
        """
        if body is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = "Error"
            raw = json.dumps({"success": False, "data": {"message": reason}}).encode()
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        with self._lock:
            for _ in range(times):
                self._script.append(_Scripted(status, dict(headers or {}), raw))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``times`` requests."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def reset(self) -> None:
        """Forget stored keys, scripted failures, delays and recorded requests."""
        with self._lock:
            self._keys.clear()
            self._script.clear()
            self._delays.clear()
            self._requests.clear()
            self._peers.clear()

    # -- the server ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        prefix = self._base_path + "/virtual-keys/"
        slug = None
        if raw_path.startswith(prefix) and "/" not in raw_path[len(prefix) :]:
            slug = unquote(raw_path[len(prefix) :], errors="replace")
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    request.method, raw_path, CIMultiDictProxy(CIMultiDict(request.headers)), slug
                )
            )
            self._peers.add(
                request.transport.get_extra_info("peername") if request.transport else None
            )
            delay = self._delays.popleft() if self._delays else 0.0
            scripted = self._script.popleft() if self._script else None
            stored = self._keys.get(slug) if slug is not None else None
        if delay:
            await asyncio.sleep(delay)
        if scripted is not None:
            return web.Response(
                status=scripted.status,
                body=scripted.body,
                headers={"Content-Type": "application/json", **scripted.headers},
            )
        if request.headers.get(API_KEY_HEADER) != self.api_key:
            return web.json_response(_UNAUTHORISED, status=401)
        if request.method != "GET" or slug is None:
            return web.json_response(
                {"success": False, "data": {"message": "Not Found"}}, status=404
            )
        if stored is None:
            return web.json_response(
                {"success": False, "data": {"message": f"Virtual key {slug!r} not found"}},
                status=404,
            )
        return web.json_response(stored, headers={"x-portkey-request-id": str(uuid.uuid4())})

    async def _astart(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        self._runner = runner

    async def _astop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> FakePortkey:
        await self._astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._astop()

    def start(self) -> FakePortkey:
        """Start serving on a background thread (what ``with FakePortkey()`` does)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # surfaced to the starting thread below
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._astop())
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=serve, name="FakePortkey", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the background server started by :meth:`start`."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread_loop = self._thread = None
        self._port = None

    def __enter__(self) -> FakePortkey:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"FakePortkey({where}, {len(self._keys)} keys)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
