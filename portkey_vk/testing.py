"""``FakePortkey``: a real, local control plane to test code that uses Portkey's admin API.

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

It serves, below its base path, ``/virtual-keys`` (list, create, retrieve, update, delete),
``/providers`` (the same) and ``/integrations`` (list and retrieve), with the shapes, envelopes
and oddities of Portkey's OpenAPI description; ``docs/testing.md`` gives every rule.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import fnmatch
import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timezone
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import unquote

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from portkey_vk import APIResponseValidationError, VirtualKey
from portkey_vk._config import API_KEY_HEADER, REDACTED

__all__ = ["FakePortkey", "RecordedRequest"]

DEFAULT_FAKE_API_KEY: Final = "pk-fake-0123456789abcdef"
#: The largest ``page_size`` a list accepts; a larger one is answered with 400.
MAX_PAGE_SIZE: Final = 1000

_UNAUTHORISED: Final = {"success": False, "data": {"message": "Unauthorised Request"}}
_log = logging.getLogger("portkey_vk.testing")

# A body that is present but is not JSON, told apart from an absent body (None).
_NOT_JSON: Final = object()
_EMPTY_QUERY: Final[MultiDictProxy[str]] = MultiDictProxy(MultiDict())

# Headers whose values are credentials, hidden from RecordedRequest's repr besides any header the
# name rule below calls sensitive (which covers x-portkey-api-key).
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
# The server computes these from the body; a scripted value that disagrees hangs the client.
_SERVER_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE: Final = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
_ISO_TIMESTAMP: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)

# Body fields of POST /virtual-keys with a place of their own; any other field is provider
# configuration (awsRegion, vertexProjectId, ... in the spec's examples) and goes to model_config.
_VK_CREATE_FIELDS: Final = frozenset(
    {
        "name",
        "provider",
        "key",
        "note",
        "apiVersion",
        "resourceName",
        "deploymentName",
        "deploymentConfig",
        "usage_limits",
        "rate_limits",
        "expires_at",
        "secret_mappings",
        "workspace_id",
    }
)
# What GET /integrations/{slug} adds to a list item (IntegrationDetailResponse - IntegrationList).
_INTEGRATION_DETAIL_ONLY: Final = frozenset(
    {
        "masked_key",
        "configurations",
        "global_workspace_access_settings",
        "allow_all_models",
        "workspace_count",
        "secret_mappings",
        "pricing_adjustments",
    }
)
_INTEGRATION_TYPES: Final = frozenset({"workspace", "organisation", "all"})
_RESOURCES: Final = frozenset({"virtual-keys", "providers", "integrations"})


@attrs.frozen
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: the HTTP method.
        path: the raw (still percent-encoded) path, without the query, e.g.
            ``/v1/virtual-keys/a%2Fb``.
        headers: the request headers (case-insensitive).
        slug: the decoded slug, for ``/virtual-keys/{slug}``, ``/providers/{slug}`` and
            ``/integrations/{slug}``; ``None`` for any other path.
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
            name: (REDACTED if _is_credential_header(name) else value)
            for name, value in self.headers.items()
        }
        query = [
            (name, REDACTED if _is_sensitive(name) else value) for name, value in self.query.items()
        ]
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"slug={self.slug!r}, query={query!r}, json={_redacted(self.json)!r}, "
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
class _Entry:
    """A stored virtual key, provider or integration.

    ``seq`` orders creation across virtual keys and providers, which one provider list mixes.
    ``secret`` is the provider key a POST or PUT sent, kept in clear but never served.
    """

    data: dict[str, Any]
    seq: int
    secret: str | None = None
    as_provider: bool = False


@attrs.frozen
class _Call:
    """What a route handler needs of a request (after auth and routing)."""

    slug: str
    query: MultiDictProxy[str]
    body: Any


class _Refusal(Exception):
    """Ends a route handler with an error response in Portkey's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_Handler = Callable[[_Call], Any]
_S = TypeVar("_S", _Scripted, _Delay)


class FakePortkey:
    """A fake Portkey control plane: virtual keys, providers and integrations.

    It answers a wrong or missing API key with Portkey's 401 body, an unknown route with 404, a
    known route with a method it does not serve with 405, a malformed request with 400 and an
    unknown slug with 404, all in Portkey's ``{"success": false, "data": {"message": ...}}``
    shape. Failures can be scripted with :meth:`fail_next` and slowness with :meth:`delay_next`.
    Everything it received is in :attr:`requests`.

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
        self._organisation_id = str(uuid.uuid4())
        self._keys: dict[str, _Entry] = {}
        self._providers: dict[str, _Entry] = {}
        self._integrations: dict[str, _Entry] = {}
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
        # (resource, addressed by slug?) -> method -> handler.
        self._routes: dict[tuple[str, bool], dict[str, _Handler]] = {
            ("virtual-keys", False): {
                "GET": self._list_virtual_keys,
                "POST": self._create_virtual_key,
            },
            ("virtual-keys", True): {
                "GET": self._get_virtual_key,
                "PUT": self._update_virtual_key,
                "DELETE": self._delete_virtual_key,
            },
            ("providers", False): {"GET": self._list_providers, "POST": self._create_provider},
            ("providers", True): {
                "GET": self._get_provider,
                "PUT": self._update_provider,
                "DELETE": self._delete_provider,
            },
            ("integrations", False): {"GET": self._list_integrations},
            ("integrations", True): {"GET": self._get_integration},
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

    def provider_key_of(self, slug: str) -> str | None:
        """The provider key (in clear) that ``POST``/``PUT /virtual-keys`` stored for ``slug``.

        The fake serves a key only masked, as Portkey does; this is how a test checks what was
        stored. ``None`` when no request sent one (a key added with :meth:`add_virtual_key`
        serves its ``key`` field exactly as given instead).

        Raises:
            KeyError: no virtual key ``slug`` is stored.
        """
        _check_slug(slug)
        with self._lock:
            return self._keys[slug].secret

    # -- what tests script ---------------------------------------------------------------------

    def add_virtual_key(self, slug: str, *, as_provider: bool = True, **fields: Any) -> VirtualKey:
        """Store a virtual key and return it as the SDK will parse it.

        Every field not given gets a sensible default (``status="active"``, a ``created_at`` of
        now, ``object="virtual-key"``, ...). Values may be JSON values, datetimes, enums or models;
        unknown field names are served as they are, and so is ``key`` (unlike a key created by
        ``POST``, which is served masked). A ``workspace_id`` field puts the key in that
        workspace. A key stored again under the same slug replaces the old one and moves to the
        end of the list order.

        Args:
            slug: the key's slug, a non-empty string.
            as_provider: also serve the key as a provider with the same slug (``GET
                /providers/{slug}``, in ``GET /providers``), as the live control plane presents
                migrated keys. Not a field: it is never served.
            **fields: the key's fields.

        Raises:
            ValueError: ``slug`` is not a non-empty string, ``as_provider`` is not a bool, a
                field has a type the SDK would refuse to parse, or a float is NaN or infinite;
                nothing is stored.
            TypeError: a value is not JSON-serialisable; nothing is stored.
        """
        _check_slug(slug)
        _check_bool("as_provider", as_provider)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": slug,
            "note": None,
            "status": "active",
            "usage_limits": None,
            "reset_usage": 0,
            "created_at": _now(),
            "expires_at": None,
            "model_config": {},
            "rate_limits": [],
            "secret_mappings": [],
            "ai_provider_name": "openai",
            "masked_api_key": "sk-****abcd",
            "object": "virtual-key",
        }
        data.update(_json_fields(fields))
        # Parse before storing: a key the SDK cannot read must fail here, at the test's call,
        # not later as a confusing answer to the code under test.
        try:
            parsed = VirtualKey.from_dict(data)
        except APIResponseValidationError as exc:
            raise ValueError(f"add_virtual_key({slug!r}): {exc}") from exc
        with self._lock:
            self._store(self._keys, slug, _Entry(data, 0, as_provider=as_provider))
        return parsed

    def remove_virtual_key(self, slug: str) -> None:
        """Forget a stored key; later requests for it (and its provider mirror) get 404."""
        _check_slug(slug)
        with self._lock:
            self._keys.pop(slug, None)

    def add_provider(self, slug: str, **fields: Any) -> dict[str, Any]:
        """Store a provider and return its JSON as ``GET /providers/{slug}`` serves it.

        Every field not given gets a default (``name`` = slug, ``status="active"``,
        ``integration_id="openai"``, ``created_at`` now, ``object="provider"``, ...); values may be
        JSON values, datetimes, enums or models, and unknown fields are served as they are. A
        ``workspace_id`` field puts it in that workspace. A provider shadows a virtual key's
        provider mirror of the same slug.

        Raises:
            ValueError: ``slug`` is not a non-empty string, or a float is NaN or infinite;
                nothing is stored.
            TypeError: a value is not JSON-serialisable; nothing is stored.
        """
        _check_slug(slug)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": slug,
            "note": None,
            "status": "active",
            "usage_limits": None,
            "reset_usage": 0,
            "created_at": _now(),
            "rate_limits": [],
            "expires_at": None,
            "integration_id": "openai",
            "ai_provider_id": "openai",
            "object": "provider",
        }
        data.update(_json_fields(fields))
        with self._lock:
            self._store(self._providers, slug, _Entry(data, 0))
        return _json_fields(data)

    def add_integration(self, slug: str, **fields: Any) -> dict[str, Any]:
        """Store an integration and return its JSON as ``GET /integrations/{slug}`` serves it.

        Every field not given gets a default (``name`` = slug, ``ai_provider_id="openai"``,
        ``status="active"``, ``object="integration"``, ``configurations={}``, ...). A ``key``
        field is never served: ``masked_key`` is built from it. In ``configurations``, a field
        whose name says secret, password, token or key is served as ``masked_<name>`` with a
        masked value, as Portkey does. Without a ``workspace_id`` field the integration is
        organisation-level (global); with one, it belongs to that workspace.

        Raises:
            ValueError: ``slug`` is not a non-empty string, or a float is NaN or infinite;
                nothing is stored.
            TypeError: a value is not JSON-serialisable; nothing is stored.
        """
        _check_slug(slug)
        now = _now()
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "organisation_id": self._organisation_id,
            "ai_provider_id": "openai",
            "name": slug,
            "status": "active",
            "created_at": now,
            "last_updated_at": now,
            "slug": slug,
            "description": None,
            "object": "integration",
            "masked_key": "sk-****abcd",
            "configurations": {},
        }
        given = _json_fields(fields)
        secret = given.pop("key", None)
        if isinstance(secret, str) and "masked_key" not in given:
            data["masked_key"] = _mask(secret)
        data.update(given)
        if isinstance(data["configurations"], dict):
            data["configurations"] = _masked_configurations(data["configurations"])
        with self._lock:
            self._store(self._integrations, slug, _Entry(data, 0))
        return _json_fields(data)

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
        if not _is_int(status) or not 200 <= status <= 599:
            raise ValueError(f"status must be an int from 200 to 599, not {status!r}")
        _check_times(times)
        checked = _checked_headers(headers)
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
        _check_times(times)
        method, path = self._check_target(method, path)
        with self._lock:
            self._delays.append(_Delay(float(seconds), times, method, path))

    def reset(self) -> None:
        """Forget stored keys, providers, integrations, scripts and recorded requests."""
        with self._lock:
            self._keys.clear()
            self._providers.clear()
            self._integrations.clear()
            self._script.clear()
            self._delays.clear()
            self._requests.clear()
            self._peers.clear()

    def _check_target(self, method: object, path: object) -> tuple[str | None, str | None]:
        if method is not None and (not isinstance(method, str) or not _TOKEN.fullmatch(method)):
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

    def _store(self, table: dict[str, _Entry], slug: str, entry: _Entry) -> None:
        # Re-storing a slug is a new creation: it takes a fresh place at the end of the order.
        table.pop(slug, None)
        self._seq += 1
        entry.seq = self._seq
        table[slug] = entry

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
        resource, slug = _route_of(below)
        refused: web.HTTPException | None = None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            body, refused = b"", exc
        decoded = _decode_json(body)
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
                    None if decoded is _NOT_JSON else decoded,
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
            return _error(refused.status, refused.reason)
        if request.headers.get(API_KEY_HEADER) != self.api_key:
            return web.json_response(_UNAUTHORISED, status=401)
        if resource is None:
            return _error(404, "Not Found")
        handlers = self._routes[resource, slug is not None]
        handler = handlers.get(method)
        if handler is None:
            return _error(405, "Method Not Allowed", {"Allow": ", ".join(handlers)})
        call = _Call(slug or "", query, decoded)
        try:
            with self._lock:
                # Serialised under the lock: the answer is a snapshot, not a view a later
                # call may change while it is being written.
                text = json.dumps(handler(call))
        except _Refusal as refusal:
            return _error(refusal.status, refusal.message)
        return web.Response(
            text=text,
            content_type="application/json",
            headers={"x-portkey-request-id": str(uuid.uuid4())},
        )

    # -- virtual keys --------------------------------------------------------------------------

    def _key_entry(self, call: _Call) -> _Entry:
        entry = self._keys.get(call.slug)
        if entry is None or not _visible(entry.data, _workspace_param(call.query)):
            raise _Refusal(404, f"Virtual key {call.slug!r} not found")
        return entry

    def _list_virtual_keys(self, call: _Call) -> dict[str, Any]:
        workspace = _workspace_param(call.query)
        items = [entry.data for entry in self._keys.values() if _visible(entry.data, workspace)]
        return _page(items, call.query, default_size=50)

    def _get_virtual_key(self, call: _Call) -> dict[str, Any]:
        return self._key_entry(call).data

    def _create_virtual_key(self, call: _Call) -> dict[str, Any]:
        body = _object_body(call.body)
        name = _required(body, "name")
        provider = _required(body, "provider")
        mappings = _secret_mappings(body)
        key = _given(body, "key")
        if key is None and not any(mapping["target_field"] == "key" for mapping in mappings):
            raise _Refusal(400, "key is required unless a secret_mappings entry targets 'key'")
        model_config: dict[str, Any] = {}
        for field in ("apiVersion", "resourceName", "deploymentName"):
            value = _string(body, field)
            if value is not None:
                model_config[field] = value
        deployments = _deployments(body)
        if deployments is not None:
            model_config["deployments"] = deployments
        for field, value in body.items():
            if field not in _VK_CREATE_FIELDS:
                model_config[field] = _mask_any(value) if _is_sensitive(field) else value
        slug = self._new_slug(name, fallback="virtual-key")
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": name,
            "note": _string(body, "note"),
            "status": "active",
            "usage_limits": _object_or_null(body, "usage_limits"),
            "reset_usage": 0,
            "created_at": _now(),
            "expires_at": _timestamp(body, "expires_at"),
            "model_config": model_config,
            "rate_limits": _rate_limits(body.get("rate_limits")),
            "secret_mappings": mappings,
            "ai_provider_name": provider,
            "masked_api_key": None if key is None else _mask(key),
            "object": "virtual-key",
        }
        if key is not None:
            data["key"] = _mask(key)
        workspace = _workspace_field(body)
        if workspace is not None:
            data["workspace_id"] = workspace
        _check_virtual_key(data)
        self._store(self._keys, slug, _Entry(data, 0, secret=key, as_provider=True))
        return {"success": True, "data": {"slug": slug}}

    def _update_virtual_key(self, call: _Call) -> dict[str, Any]:
        entry = self._key_entry(call)
        body = _object_body(call.body)
        data = _json_copy(entry.data)
        secret = entry.secret
        if "name" in body:
            data["name"] = _required(body, "name")
        if "key" in body:
            secret = _required(body, "key")
            data["key"] = data["masked_api_key"] = _mask(secret)
        if "note" in body:
            data["note"] = _string(body, "note")
        if "deploymentConfig" in body:
            config = data.get("model_config")
            model_config = dict(config) if isinstance(config, dict) else {}
            deployments = _deployments(body)
            if deployments is None:
                model_config.pop("deployments", None)
            else:
                model_config["deployments"] = deployments
            data["model_config"] = model_config
        if "secret_mappings" in body:
            data["secret_mappings"] = _secret_mappings(body)
        _apply_limits(data, body)
        _check_virtual_key(data)
        entry.data, entry.secret = data, secret
        return {"success": True, "data": {}}

    def _delete_virtual_key(self, call: _Call) -> dict[str, Any]:
        self._key_entry(call)
        del self._keys[call.slug]
        return {"success": True, "data": {}}

    # -- providers -----------------------------------------------------------------------------

    def _provider_of(self, slug: str) -> tuple[_Entry, bool] | None:
        """The provider served under ``slug`` and whether it mirrors a virtual key."""
        entry = self._providers.get(slug)
        if entry is not None:
            return entry, False
        key = self._keys.get(slug)
        if key is not None and key.as_provider:
            return key, True
        return None

    def _provider_entry(self, call: _Call) -> tuple[_Entry, bool]:
        found = self._provider_of(call.slug)
        if found is None or not _visible(found[0].data, _workspace_param(call.query)):
            raise _Refusal(404, f"Provider {call.slug!r} not found")
        return found

    def _list_providers(self, call: _Call) -> dict[str, Any]:
        workspace = _workspace_param(call.query)
        views = [(entry, False) for entry in self._providers.values()]
        views += [
            (entry, True)
            for slug, entry in self._keys.items()
            if entry.as_provider and slug not in self._providers
        ]
        views.sort(key=lambda view: view[0].seq)
        items = [
            _provider_json(entry, mirrored)
            for entry, mirrored in views
            if _visible(entry.data, workspace)
        ]
        return _page(items, call.query, default_size=50)

    def _get_provider(self, call: _Call) -> dict[str, Any]:
        return _provider_json(*self._provider_entry(call))

    def _create_provider(self, call: _Call) -> dict[str, Any]:
        body = _object_body(call.body)
        name = _required(body, "name")
        integration_id = _required(body, "integration_id")
        slug = _given(body, "slug")
        if slug is None:
            slug = self._new_slug(name, fallback="provider")
        elif self._provider_of(slug) is not None:
            raise _Refusal(409, f"Provider {slug!r} already exists")
        integration = self._integrations.get(integration_id)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": name,
            "note": _string(body, "note"),
            "status": "active",
            "usage_limits": _object_or_null(body, "usage_limits"),
            "reset_usage": 0,
            "created_at": _now(),
            "rate_limits": _rate_limits(body.get("rate_limits")),
            "expires_at": _timestamp(body, "expires_at"),
            "integration_id": integration_id,
            "ai_provider_id": None
            if integration is None
            else integration.data.get("ai_provider_id"),
            "object": "provider",
        }
        workspace = _workspace_field(body)
        if workspace is not None:
            data["workspace_id"] = workspace
        self._store(self._providers, slug, _Entry(data, 0))
        return {"id": data["id"], "slug": slug}

    def _update_provider(self, call: _Call) -> dict[str, Any]:
        entry, mirrored = self._provider_entry(call)
        body = _object_body(call.body)
        data = _json_copy(entry.data)
        if "name" in body:
            data["name"] = _required(body, "name")
        if "note" in body:
            data["note"] = _string(body, "note")
        _apply_limits(data, body)
        if "reset_usage" in body:
            if not isinstance(body["reset_usage"], bool):
                raise _Refusal(400, "reset_usage must be a boolean")
            if body["reset_usage"]:
                data["reset_usage"] = 0
                data["last_reset_at"] = _now()
        if mirrored:
            # A mirrored provider is the virtual key itself: the key must stay readable.
            _check_virtual_key(data)
        entry.data = data
        return {"id": data.get("id"), "slug": call.slug}

    def _delete_provider(self, call: _Call) -> dict[str, Any]:
        _, mirrored = self._provider_entry(call)
        # Deleting a mirrored provider deletes the key: on the live control plane they are one.
        del (self._keys if mirrored else self._providers)[call.slug]
        return {"success": True, "data": {}}

    def _new_slug(self, name: str, *, fallback: str) -> str:
        # Always suffixed, as the live API does: a test must read the slug from the response
        # rather than guess it from the name.
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].rstrip("-") or fallback
        while True:
            slug = f"{base}-{uuid.uuid4().hex[:6]}"
            if slug not in self._keys and slug not in self._providers:
                return slug

    # -- integrations --------------------------------------------------------------------------

    def _list_integrations(self, call: _Call) -> dict[str, Any]:
        workspace = _workspace_param(call.query)
        kind = _one_param(call.query, "type") or "all"
        if kind not in _INTEGRATION_TYPES:
            raise _Refusal(400, f"type must be workspace, organisation or all, not {kind!r}")
        items = []
        for entry in self._integrations.values():
            owner = entry.data.get("workspace_id")
            if kind == "workspace" and owner is None:
                continue
            if kind == "organisation" and owner is not None:
                continue
            # A workspace sees organisation-level integrations and its own.
            if workspace is not None and owner not in (None, workspace):
                continue
            items.append(
                {
                    name: value
                    for name, value in entry.data.items()
                    if name not in _INTEGRATION_DETAIL_ONLY
                }
            )
        return _page(items, call.query, default_size=100)

    def _get_integration(self, call: _Call) -> dict[str, Any]:
        entry = self._integrations.get(call.slug)
        if entry is None:
            raise _Refusal(404, f"Integration {call.slug!r} not found")
        return entry.data

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

    async def __aenter__(self) -> FakePortkey:
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

    def start(self) -> FakePortkey:
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
        return (
            f"FakePortkey({where}, {len(self._keys)} keys, {len(self._providers)} providers, "
            f"{len(self._integrations)} integrations)"
        )


# -- the server's helpers ----------------------------------------------------------------------


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer every failure in Portkey's JSON shape: never aiohttp's text or a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return _error(exc.status, exc.reason)
    except Exception as exc:
        # A bug in the fake must not pass for an answer of the control plane, and must be
        # findable: the message says whose fault it is, the log keeps the traceback.
        _log.exception("FakePortkey failed on %s %s", request.method, request.raw_path)
        return _error(500, f"FakePortkey internal error: {type(exc).__name__}")


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"success": False, "data": {"message": message}}, status=status, headers=headers
    )


def _route_of(below: str | None) -> tuple[str | None, str | None]:
    """``(resource, decoded slug)`` of a path below the base path; ``(None, None)`` if unknown."""
    if below is None:
        return None, None
    parts = below.split("/")
    if len(parts) not in (2, 3) or parts[0] or parts[1] not in _RESOURCES:
        return None, None
    if len(parts) == 2:
        return parts[1], None
    if not parts[2]:
        return None, None
    return parts[1], unquote(parts[2], errors="replace")


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


def _decode_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        # NaN and Infinity are Python's extension, not JSON: a client that sends them has a bug
        # the live API would refuse too.
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _page(items: list[Any], query: MultiDictProxy[str], *, default_size: int) -> dict[str, Any]:
    page = _int_param(query, "current_page", default=0, minimum=0)
    size = _int_param(query, "page_size", default=default_size, minimum=1)
    if size > MAX_PAGE_SIZE:
        raise _Refusal(400, f"page_size must be at most {MAX_PAGE_SIZE}, not {size}")
    start = page * size
    return {"object": "list", "total": len(items), "data": items[start : start + size]}


def _one_param(query: MultiDictProxy[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise _Refusal(400, f"{name} is given more than once")
    return values[0] if values else None


def _int_param(query: MultiDictProxy[str], name: str, *, default: int, minimum: int) -> int:
    text = _one_param(query, name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or int(text) < minimum:
        raise _Refusal(400, f"{name} must be an integer >= {minimum}, not {text!r}")
    return int(text)


def _workspace_param(query: MultiDictProxy[str]) -> str | None:
    # An empty workspace_id means none, as the official SDKs drop "" before sending.
    return _one_param(query, "workspace_id") or None


def _visible(data: Mapping[str, Any], workspace: str | None) -> bool:
    """Whether a key or provider is in scope: no workspace asked, or exactly its workspace."""
    return workspace is None or data.get("workspace_id") == workspace


def _provider_json(entry: _Entry, mirrored: bool) -> dict[str, Any]:
    if not mirrored:
        return entry.data
    key = entry.data
    provider = {
        name: key.get(name)
        for name in (
            "id",
            "slug",
            "name",
            "note",
            "status",
            "usage_limits",
            "reset_usage",
            "created_at",
            "rate_limits",
            "expires_at",
        )
    }
    provider["integration_id"] = key.get("integration_id") or key.get("ai_provider_name")
    provider["ai_provider_id"] = key.get("ai_provider_name")
    provider["object"] = "provider"
    for name in ("last_reset_at", "workspace_id"):
        if name in key:
            provider[name] = key[name]
    return provider


# -- request body validation ---------------------------------------------------------------------


def _object_body(body: Any) -> dict[str, Any]:
    if body is _NOT_JSON:
        raise _Refusal(400, "The request body is not valid JSON")
    if not isinstance(body, dict):
        raise _Refusal(400, "The request body must be a JSON object")
    return body


def _string(body: Mapping[str, Any], field: str) -> str | None:
    """An optional string field; absent or null is ``None``."""
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise _Refusal(400, f"{field} must be a string")
    return value


def _required(body: Mapping[str, Any], field: str) -> str:
    """A string field that must be present, not null and not blank."""
    value = _string(body, field)
    if value is None:
        raise _Refusal(400, f"{field} is required")
    if not value.strip():
        raise _Refusal(400, f"{field} must not be empty")
    return value


def _given(body: Mapping[str, Any], field: str) -> str | None:
    """An optional field that, when given (not null), must be a non-blank string."""
    return None if body.get(field) is None else _required(body, field)


def _object_or_null(body: Mapping[str, Any], field: str) -> dict[str, Any] | None:
    value = body.get(field)
    if value is not None and not isinstance(value, dict):
        raise _Refusal(400, f"{field} must be an object or null")
    return value


def _rate_limits(value: Any) -> list[Any]:
    # Requests send one object (the spec) or a list (the official update sample); the resource
    # always holds a list, and null clears it.
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise _Refusal(400, "rate_limits must be an object, a list of objects or null")


def _timestamp(body: Mapping[str, Any], field: str) -> str | None:
    value = _string(body, field)
    if value is not None and not _is_timestamp(value):
        raise _Refusal(400, f"{field} must be an ISO 8601 date-time, not {value!r}")
    return value


def _is_timestamp(text: str) -> bool:
    match = _ISO_TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    day, clock, fraction, zone = match.groups()
    # Normalised so Python 3.10's fromisoformat, which reads neither "Z" nor every fraction
    # length, judges only whether the date and time exist.
    normal = day
    if clock:
        normal += "T" + clock + ("." + (fraction + "000000")[:6] if fraction else "")
        normal += "+00:00" if zone == "Z" else zone or ""
    try:
        datetime.fromisoformat(normal)
    except ValueError:
        return False
    return True


def _workspace_field(body: Mapping[str, Any]) -> str | None:
    value = body.get("workspace_id")
    if value is not None and not isinstance(value, str):
        raise _Refusal(400, "workspace_id must be a string")
    return value or None


def _secret_mappings(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = body.get("secret_mappings")
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refusal(400, "secret_mappings must be a list")
    seen: set[str] = set()
    for mapping in value:
        if not isinstance(mapping, dict):
            raise _Refusal(400, "each secret_mappings entry must be an object")
        target = mapping.get("target_field")
        if not isinstance(target, str) or not (
            target == "key" or (target.startswith("model_config.") and len(target) > 13)
        ):
            raise _Refusal(
                400, "secret_mappings target_field must be 'key' or 'model_config.<field>'"
            )
        if target in seen:
            raise _Refusal(400, f"secret_mappings target_field {target!r} is given twice")
        seen.add(target)
        reference = mapping.get("secret_reference_id")
        if not isinstance(reference, str) or not reference:
            raise _Refusal(400, "secret_mappings secret_reference_id must be a non-empty string")
        if mapping.get("secret_key") is not None and not isinstance(mapping["secret_key"], str):
            raise _Refusal(400, "secret_mappings secret_key must be a string or null")
        if mapping.get("value_format") not in (None, "json", "string"):
            raise _Refusal(400, "secret_mappings value_format must be 'json', 'string' or null")
    return value


def _deployments(body: Mapping[str, Any]) -> list[Any] | None:
    value = body.get("deploymentConfig")
    if value is None:
        return None
    if not isinstance(value, list):
        raise _Refusal(400, "deploymentConfig must be a list")
    for item in value:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(field), str) for field in ("apiVersion", "deploymentName")
        ):
            raise _Refusal(
                400, "each deploymentConfig entry needs apiVersion and deploymentName strings"
            )
        if item.get("alias") is not None and not isinstance(item["alias"], str):
            raise _Refusal(400, "deploymentConfig alias must be a string")
        if "is_default" in item and not isinstance(item["is_default"], bool):
            raise _Refusal(400, "deploymentConfig is_default must be a boolean")
    return value


def _apply_limits(data: dict[str, Any], body: Mapping[str, Any]) -> None:
    """The fields PUT shares on keys and providers; null clears each."""
    if "usage_limits" in body:
        data["usage_limits"] = _object_or_null(body, "usage_limits")
    if "rate_limits" in body:
        data["rate_limits"] = _rate_limits(body["rate_limits"])
    if "expires_at" in body:
        data["expires_at"] = _timestamp(body, "expires_at")


def _check_virtual_key(data: Mapping[str, Any]) -> None:
    # The SDK's own model is the judge of what a stored key may hold, so the fake never stores
    # a key its clients cannot read (usage_limits.credit_limit "ten", say).
    try:
        VirtualKey.from_dict(data)
    except APIResponseValidationError as exc:
        raise _Refusal(400, str(exc)) from exc


# -- values, masking and redaction ---------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_slug(slug: object) -> None:
    if not isinstance(slug, str) or not slug:
        raise ValueError(f"slug must be a non-empty str, not {slug!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        # ValueError like every other refusal of the kit's input, as the SDK's own checks do.
        raise ValueError(f"{name} must be a bool, not {value!r}")  # noqa: TRY004


def _check_times(times: object) -> None:
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"times must be an int >= 1, not {times!r}")


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    # aiohttp writes whatever it is given: a CR/LF drops the connection and a wrong
    # Content-Length hangs the client, neither of which is a status a test meant to script.
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if name.lower() in _SERVER_HEADERS:
            raise ValueError(f"header {name!r} is set by the server from the body")
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name!r} must be a str without control characters")
        checked[name] = value
    return checked


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
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


def _json_copy(value: Any) -> Any:
    # A round trip proves the value serialisable (TypeError otherwise; ValueError for NaN and
    # infinities, which are not JSON) and makes the stored copy independent of the caller's
    # mutable objects.
    return json.loads(json.dumps(value, allow_nan=False))


def _json_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = _json_copy({name: _jsonable(value) for name, value in fields.items()})
    return copied


def _is_sensitive(name: str) -> bool:
    """Whether a field's name says it holds a credential (key, secret, password, token, ...)."""
    folded = name.lower().replace("_", "").replace("-", "")
    return folded.endswith(("key", "token")) or any(
        word in folded for word in ("secret", "password", "credential", "serviceaccount")
    )


def _is_credential_header(name: str) -> bool:
    return name.lower() in _CREDENTIAL_HEADERS or _is_sensitive(name)


def _mask(secret: str) -> str:
    """``sk-****abcd``: three leading and four trailing characters of a long secret, or none."""
    if len(secret) < 12:
        return "****"
    return f"{secret[:3]}****{secret[-4:]}"


def _mask_any(value: Any) -> Any:
    return _mask(value) if isinstance(value, str) else "****"


def _masked_configurations(configurations: Mapping[str, Any]) -> dict[str, Any]:
    # Portkey's rule: a sensitive field is served as masked_<name>; IDs, URLs, regions unchanged.
    masked: dict[str, Any] = {}
    for name, value in configurations.items():
        if _is_sensitive(name) and not name.startswith("masked_"):
            masked[f"masked_{name}"] = _mask_any(value)
        else:
            masked[name] = value
    return masked


def _redacted(value: Any) -> Any:
    """A JSON value with credentials replaced by ``[REDACTED]``, for ``repr``."""
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for name, item in value.items():
            if name == "secret_mappings" and isinstance(item, list):
                shown[name] = [_redacted_mapping(mapping) for mapping in item]
            elif isinstance(name, str) and _is_sensitive(name):
                shown[name] = REDACTED
            else:
                shown[name] = _redacted(item)
        return shown
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _redacted_mapping(mapping: Any) -> Any:
    # Only which field is mapped and how is shown; where the secret lives is hidden.
    if not isinstance(mapping, dict):
        return REDACTED
    return {
        name: (item if name in ("target_field", "value_format") else REDACTED)
        for name, item in mapping.items()
    }
