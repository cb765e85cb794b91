"""The fake's server core: lifecycle, threads, recording, fault scripting and routing.

:class:`FakeCore` knows no resource. It runs the aiohttp server (on a thread of its own or on
the caller's loop), records every request, serves what :meth:`FakeCore.fail_next` and
:meth:`FakeCore.delay_next` scripted, checks the API key and routes ``/{resource}``,
``/{resource}/{slug}`` and ``/{resource}/{slug}/{sub-resource}`` to the handlers that each
resource's module declares in its :class:`Routes`. Handlers run under one lock and answer a
JSON value or raise :class:`~portkey_vk.testing._validation.Refusal`.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import unquote

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from portkey_vk._config import API_KEY_HEADER
from portkey_vk._scrub import REDACTED
from portkey_vk.testing._validation import (
    HTTP_TOKEN,
    NOT_JSON,
    Refusal,
    check_times,
    checked_headers,
    decode_json,
    is_credential_header,
    is_int,
    is_sensitive,
    redacted,
)

__all__ = [
    "DEFAULT_FAKE_API_KEY",
    "Call",
    "Entry",
    "FakeCore",
    "Handler",
    "RecordedRequest",
    "Routes",
]

#: The API key a :class:`FakePortkey` accepts when none is given.
DEFAULT_FAKE_API_KEY: Final = "pk-fake-0123456789abcdef"

_UNAUTHORISED: Final = {"success": False, "data": {"message": "Unauthorised Request"}}
_log = logging.getLogger("portkey_vk.testing")

_EMPTY_QUERY: Final[MultiDictProxy[str]] = MultiDictProxy(MultiDict())


@attrs.frozen
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: the HTTP method.
        path: the raw (still percent-encoded) path, without the query, e.g.
            ``/v1/virtual-keys/a%2Fb``.
        headers: the request headers (case-insensitive).
        slug: the decoded slug, for ``/{resource}/{slug}`` of a resource the fake serves
            (``/virtual-keys/{slug}``, ``/providers/{slug}``, ``/integrations/{slug}``);
            ``None`` for any other path.
        query: the decoded query parameters, a read-only ``MultiDictProxy`` (``getall`` gives
            every value of a repeated parameter).
        json: the decoded JSON body; ``None`` when there was no body or it was not JSON (``body``
            tells the two apart).
        body: the raw body bytes.

    ``repr`` never shows a credential: the API key and other credential headers, a provider
    ``key`` (or any field whose name says secret, password, token or key) in the JSON body, and
    the references inside ``secret_mappings`` are replaced by ``[REDACTED]``; ``body`` is not
    shown at all.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    slug: str | None = None
    query: MultiDictProxy[str] = _EMPTY_QUERY
    json: Any = None
    body: bytes = attrs.field(default=b"", repr=False)

    def __repr__(self) -> str:
        headers = {
            name: (REDACTED if is_credential_header(name) else value)
            for name, value in self.headers.items()
        }
        query = [
            (name, REDACTED if is_sensitive(name) else value) for name, value in self.query.items()
        ]
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"slug={self.slug!r}, query={query!r}, json={redacted(self.json)!r}, "
            f"headers={headers!r})"
        )


@attrs.define
class _Scripted:
    """A scripted failure, served to the next ``remaining`` requests it matches."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    remaining: int
    method: str | None
    path: str | None


@attrs.define
class _Delay:
    """A scripted delay, applied to the next ``remaining`` requests it matches."""

    seconds: float
    remaining: int
    method: str | None
    path: str | None


@attrs.define
class Entry:
    """A stored virtual key, provider or integration.

    ``seq`` orders creation across virtual keys and providers, which one provider list mixes.
    ``secret`` is the provider key a POST or PUT sent, kept in clear but never served.
    """

    data: dict[str, Any]
    seq: int
    secret: str | None = None
    as_provider: bool = False


@attrs.frozen
class Call:
    """What a route handler needs of a request (after auth and routing)."""

    slug: str
    query: MultiDictProxy[str]
    body: Any


#: A route handler as a resource module writes it: a method of the fake taking the call.
Handler = Callable[[Any, Call], Any]
_S = TypeVar("_S", _Scripted, _Delay)
_F = TypeVar("_F", bound="FakeCore")


@attrs.frozen
class Routes:
    """The routes one resource serves below the base path, declared by its handler module.

    Attributes:
        resource: the path segment, e.g. ``"virtual-keys"`` for ``/virtual-keys`` and
            ``/virtual-keys/{slug}``; also the name of the resource's table of stored entries.
        noun: what ``repr`` counts, e.g. ``"keys"``.
        collection: method -> handler for ``/{resource}`` (list, create).
        item: method -> handler for ``/{resource}/{slug}`` (retrieve, update, delete).
        below: sub-resource -> method -> handler for ``/{resource}/{slug}/{sub-resource}``
            (``/integrations/{slug}/models``); the handler reads the slug from its call.
    """

    resource: str
    noun: str
    collection: Mapping[str, Handler] = attrs.field(factory=dict)
    item: Mapping[str, Handler] = attrs.field(factory=dict)
    below: Mapping[str, Mapping[str, Handler]] = attrs.field(factory=dict)


class FakeCore:
    """What every resource of the fake shares: the server, recording, scripting and routing.

    A resource is a subclass (a handler module's mixin) with a ``ROUTES`` class attribute;
    :class:`~portkey_vk.testing.FakePortkey` combines them all. The core finds each ``ROUTES``
    along the class's MRO, builds the route table from it and keeps one table of entries per
    resource in ``_tables``.

    Args:
        api_key: the one API key it accepts.
        base_path: the API root's path; ``/portkey/v1`` imitates a self-hosted control plane
            behind a path prefix.
        limits_form: how answers spell limits. ``"document"`` (the default): as Portkey's
            OpenAPI document does, ``rate_limits`` an array and ``usage_limits`` an object
            (arrays of at most one on integration workspaces), and an integration's
            ``global_workspace_access_settings``. ``"object"``: as Portkey's own SDKs read them
            (and the live API very probably sends in places), every limits field a single
            object (or ``null``), and ``global_workspace_access``. Requests are accepted in
            either form whatever this says.
    """

    ROUTES: ClassVar[Routes | None] = None

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_FAKE_API_KEY,
        base_path: str = "/v1",
        limits_form: str = "document",
    ) -> None:
        if not base_path.startswith("/"):
            raise ValueError("base_path must start with '/'")
        if limits_form not in LIMITS_FORMS:
            raise ValueError(f"limits_form must be one of {', '.join(LIMITS_FORMS)}")
        self.limits_form = limits_form
        self.api_key = api_key
        self._base_path = base_path.rstrip("/")
        self._organisation_id = str(uuid.uuid4())
        self._seq = 0
        self._script: collections.deque[_Scripted] = collections.deque()
        self._delays: collections.deque[_Delay] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._peers: set[object] = set()
        self._lock = threading.Lock()
        self._started = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        # Each resource's ROUTES, in MRO order (the order FakePortkey lists its resources).
        declared = [
            vars(klass)["ROUTES"] for klass in type(self).__mro__ if vars(klass).get("ROUTES")
        ]
        self._nouns = {routes.resource: routes.noun for routes in declared}
        # resource -> slug -> entry; a table's order is its list order.
        self._tables: dict[str, dict[str, Entry]] = {routes.resource: {} for routes in declared}
        # (resource, addressed by slug?) -> method -> handler, bound to this fake; and
        # (resource, sub-resource) -> method -> handler for /{resource}/{slug}/{sub-resource}.
        self._routes: dict[tuple[str, bool], dict[str, Callable[[Call], Any]]] = {}
        self._below: dict[tuple[str, str], dict[str, Callable[[Call], Any]]] = {}
        for routes in declared:
            tables: list[tuple[Any, Mapping[str, Handler], dict[Any, Any]]] = [
                ((routes.resource, False), routes.collection, self._routes),
                ((routes.resource, True), routes.item, self._routes),
            ]
            tables += [((routes.resource, sub), t, self._below) for sub, t in routes.below.items()]
            for key, table, into in tables:
                if not table:
                    continue  # a route a resource does not declare is unknown: 404, not 405
                # Looked up by name, so a subclass that overrides a handler serves its own.
                into[key] = {
                    method: getattr(self, handler.__name__) for method, handler in table.items()
                }

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

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of serving them.

        ``body`` may be bytes or str (sent as they are) or a JSON value; by default it is
        Portkey's error shape, ``{"success": false, "data": {"message": <reason>}}``.

        Without ``method`` and ``path`` the failure applies to any request. ``method`` (e.g.
        ``"POST"``) restricts it to that method; ``path`` to requests whose raw path *below the
        base path* (no query) matches it as a whole, with ``fnmatch`` wildcards: ``"/providers"``
        is the list and create route only, ``"/virtual-keys/*"`` any one key,
        ``"/virtual-keys*"`` both. A failure that does not match a request is left for a later
        one; matching failures are served in the order they were scripted.

        Raises:
            ValueError: ``status`` is not an int in 200-599, ``times`` is not an int >= 1, a
                header is malformed or is ``Content-Length``/``Transfer-Encoding``, or ``method``
                or ``path`` is malformed.
            TypeError: ``body`` is not bytes, str or a JSON-serialisable value.
        """
        if not is_int(status) or not 200 <= status <= 599:
            raise ValueError(f"status must be an int from 200 to 599, not {status!r}")
        check_times(times)
        checked = checked_headers(headers)
        method, path = self._check_target(method, path)
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
            self._script.append(_Scripted(int(status), checked, raw, times, method, path))

    def delay_next(
        self,
        seconds: float,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Wait ``seconds`` before answering each of the next ``times`` matching requests.

        ``method`` and ``path`` select requests exactly as in :meth:`fail_next`. A delay applies
        before a scripted failure or the normal answer, whichever comes.

        Raises:
            ValueError: ``seconds`` is not a finite number >= 0, ``times`` is not an int >= 1,
                or ``method`` or ``path`` is malformed.
        """
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError(f"seconds must be a finite number >= 0, not {seconds!r}")
        check_times(times)
        method, path = self._check_target(method, path)
        with self._lock:
            self._delays.append(_Delay(float(seconds), times, method, path))

    def reset(self) -> None:
        """Forget every stored resource (keys, providers, ...), scripts and recorded requests."""
        with self._lock:
            for table in self._tables.values():
                table.clear()
            self._script.clear()
            self._delays.clear()
            self._requests.clear()
            self._peers.clear()

    def _check_target(self, method: object, path: object) -> tuple[str | None, str | None]:
        if method is not None and (not isinstance(method, str) or not HTTP_TOKEN.fullmatch(method)):
            raise ValueError(f"method must be an HTTP method such as 'POST', not {method!r}")
        if path is not None:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"path must be a str starting with '/', not {path!r}")
            # A path that repeats the base path can never match; say so rather than never fire.
            base = self._base_path
            if base and (path == base or path.startswith(base + "/")):
                raise ValueError(
                    f"path is matched below the base path; drop the {base!r} prefix from {path!r}"
                )
        return (method.upper() if isinstance(method, str) else None), path

    def _store(self, table: dict[str, Entry], slug: str, entry: Entry) -> None:
        # Re-storing a slug is a new creation: it takes a fresh place at the end of the order.
        table.pop(slug, None)
        self._seq += 1
        entry.seq = self._seq
        table[slug] = entry

    def _new_slug(self, name: str, *, fallback: str) -> str:
        # Always suffixed, as the live API does: a test must read the slug from the response
        # rather than guess it from the name.
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].rstrip("-") or fallback
        while True:
            slug = f"{base}-{uuid.uuid4().hex[:6]}"
            # Unique across every table: a provider and a virtual key share one slug space.
            if all(slug not in table for table in self._tables.values()):
                return slug

    # -- the server ----------------------------------------------------------------------------

    def _below_base(self, raw_path: str) -> str | None:
        base = self._base_path
        if not base:
            return raw_path
        if raw_path == base or raw_path.startswith(base + "/"):
            return raw_path[len(base) :]
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        below = self._below_base(raw_path)
        resource, slug, sub = _route_of(below, self._tables)
        refused: web.HTTPException | None = None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            body, refused = b"", exc
        decoded = decode_json(body)
        query: MultiDictProxy[str] = MultiDictProxy(MultiDict(request.query))
        method = request.method.upper()
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    request.method,
                    raw_path,
                    CIMultiDictProxy(CIMultiDict(request.headers)),
                    slug,
                    query,
                    None if decoded is NOT_JSON else decoded,
                    body,
                )
            )
            self._peers.add(
                request.transport.get_extra_info("peername") if request.transport else None
            )
            delay = _take(self._delays, method, below)
            scripted = _take(self._script, method, below)
        if delay is not None and delay.seconds:
            await asyncio.sleep(delay.seconds)
        if scripted is not None:
            return web.Response(
                status=scripted.status,
                body=scripted.body,
                headers={"Content-Type": "application/json", **scripted.headers},
            )
        if refused is not None:
            return error_response(refused.status, refused.reason)
        if request.headers.get(API_KEY_HEADER) != self.api_key:
            return web.json_response(_UNAUTHORISED, status=401)
        if resource is None:
            return error_response(404, "Not Found")
        handlers = (
            self._routes.get((resource, slug is not None))
            if sub is None
            else self._below.get((resource, sub))
        )
        if handlers is None:
            return error_response(404, "Not Found")
        handler = handlers.get(method)
        if handler is None:
            return error_response(405, "Method Not Allowed", {"Allow": ", ".join(handlers)})
        call = Call(slug or "", query, decoded)
        try:
            with self._lock:
                # Serialised under the lock: the answer is a snapshot, not a view a later
                # call may change while it is being written.
                answer = handler(call)
                if self.limits_form == "object":
                    answer = limits_as_objects(answer)
                text = json.dumps(answer)
        except Refusal as refusal:
            return error_response(refusal.status, refusal.message)
        return web.Response(
            text=text,
            content_type="application/json",
            headers={"x-portkey-request-id": str(uuid.uuid4())},
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def _claim(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("FakePortkey is already started; stop it before starting again")
            self._started = True

    def _release(self) -> None:
        with self._lock:
            self._started = False

    async def _astart(self) -> None:
        app = web.Application(middlewares=[_guard])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
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

    async def __aenter__(self: _F) -> _F:
        self._claim()
        try:
            await self._astart()
        except BaseException:
            self._release()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._astop()
        finally:
            self._release()

    def start(self: _F) -> _F:
        """Start serving on a background thread (what ``with FakePortkey()`` does).

        Raises:
            RuntimeError: it is already started (by ``start``, ``with`` or ``async with``);
                :meth:`stop` it first. A stopped fake may be started again.
        """
        self._claim()
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # surfaced to the starting thread below
                failure.append(exc)
                loop.close()
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._astop())
            loop.close()

        thread = threading.Thread(target=serve, name="FakePortkey", daemon=True)
        thread.start()
        started.wait()
        if failure:
            thread.join()
            self._release()
            raise failure[0]
        self._thread_loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        """Stop the background server started by :meth:`start`; a no-op if none runs.

        A fake started with ``async with`` stops when its block ends, not here.
        """
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread_loop = self._thread = None
        self._port = None
        self._release()

    def __enter__(self: _F) -> _F:
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
        counts = "".join(
            f", {len(table)} {self._nouns[resource]}" for resource, table in self._tables.items()
        )
        return f"FakePortkey({where}{counts})"


# -- the server's helpers ----------------------------------------------------------------------

LIMITS_FORMS: Final = ("document", "object")
_LIMITS_FIELDS: Final = frozenset({"rate_limits", "usage_limits"})


def limits_as_objects(value: Any) -> Any:
    """An answer with every limits field as one object (``null`` for none), the other form.

    ``global_workspace_access_settings`` becomes ``global_workspace_access``, the name Portkey's
    own SDKs read.
    """
    if isinstance(value, list):
        return [limits_as_objects(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in _LIMITS_FIELDS and isinstance(item, list):
            item = item[0] if item else None  # noqa: PLW2901 - the same field, respelt
        if key == "global_workspace_access_settings":
            key = "global_workspace_access"  # noqa: PLW2901
        out[key] = limits_as_objects(item)
    return out


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer every failure in Portkey's JSON shape: never aiohttp's text or a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return error_response(exc.status, exc.reason)
    except Exception as exc:
        # A bug in the fake must not pass for an answer of the control plane, and must be
        # findable: the message says whose fault it is, the log keeps the traceback.
        _log.exception("FakePortkey failed on %s %s", request.method, request.raw_path)
        return error_response(500, f"FakePortkey internal error: {type(exc).__name__}")


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"success": False, "data": {"message": message}}, status=status, headers=headers
    )


def _route_of(
    below: str | None, resources: Mapping[str, object]
) -> tuple[str | None, str | None, str | None]:
    """``(resource, decoded slug, sub-resource)`` of a path below the base path.

    ``(None, None, None)`` if unknown; the sub-resource is ``None`` but for
    ``/{resource}/{slug}/{sub-resource}``.
    """
    if below is None:
        return None, None, None
    parts = below.split("/")
    if len(parts) not in (2, 3, 4) or parts[0] or parts[1] not in resources:
        return None, None, None
    if len(parts) == 2:
        return parts[1], None, None
    if not parts[2] or (len(parts) == 4 and not parts[3]):
        return None, None, None
    sub = parts[3] if len(parts) == 4 else None
    return parts[1], unquote(parts[2], errors="replace"), sub


def _take(queue: collections.deque[_S], method: str, below: str | None) -> _S | None:
    """Consume one use of the first scripted item that matches the request, if any."""
    for index, item in enumerate(queue):
        if item.method is not None and item.method != method:
            continue
        if item.path is not None and (below is None or not fnmatch.fnmatchcase(below, item.path)):
            continue
        item.remaining -= 1
        if not item.remaining:
            del queue[index]
        return item
    return None
