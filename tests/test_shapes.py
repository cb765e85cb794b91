"""Every shape Portkey's own SDKs read is read here too (issue 21).

The document types every limits field as an array; the official SDKs (and so, very probably, the
live API) use an object in places. One converter rule reads both forms into what each model
holds; these tests feed it the official SDKs' shapes (tests/data/official_shapes.json), every
limits field of every model in every form, and both forms through real HTTP on both surfaces.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

import portkey_vk
from portkey_vk import (
    APIResponseValidationError,
    AsyncPortkey,
    GlobalWorkspaceAccess,
    Integration,
    Portkey,
    Provider,
    RateLimit,
    UsageLimits,
    VirtualKey,
)
from portkey_vk._converter import converter
from portkey_vk._fast_structure import structure
from portkey_vk._models import Model, alias_of, limits_field

TABLE = json.loads((Path(__file__).parent / "data" / "official_shapes.json").read_text())["shapes"]

USAGE = {"credit_limit": 10, "type": "cost", "alert_threshold": 8, "periodic_reset": "monthly"}
RATE = {"type": "requests", "unit": "rpm", "value": 100}
SAMPLE = {"usage_limits": USAGE, "rate_limits": RATE}


def _form(value: dict[str, Any], form: str) -> object:
    return value if form == "object" else [value]


def _models() -> list[type[Model]]:
    found = [getattr(portkey_vk, name) for name in portkey_vk.__all__]
    return [m for m in found if isinstance(m, type) and issubclass(m, Model) and attrs.has(m)]


LIMITS_FIELDS = [
    (model, field.name, kind[1])
    for model in _models()
    for field in attrs.fields(attrs.resolve_types(model))
    if (kind := limits_field(field.type)) is not None
]


def _limits_sample(name: str) -> dict[str, Any]:
    return USAGE if name == "usage_limits" else RATE


def _both_paths(data: object, cls: type[Any]) -> Any:
    """Structure on the public (fast) path and on cattrs' own; they must agree."""
    model = structure(data, cls)
    assert converter.structure(data, cls) == model
    assert structure(model.to_dict(), cls) == model
    return model


def test_every_model_with_limits_is_covered() -> None:
    # The rule finds fields by type; if this list shrinks, a model stopped getting it.
    names = {(model.__name__, name) for model, name, _ in LIMITS_FIELDS}
    assert {
        ("VirtualKey", "usage_limits"),
        ("VirtualKey", "rate_limits"),
        ("Provider", "usage_limits"),
        ("Provider", "rate_limits"),
        ("GlobalWorkspaceAccess", "usage_limits"),
        ("GlobalWorkspaceAccess", "rate_limits"),
        ("IntegrationWorkspace", "usage_limits"),
        ("IntegrationWorkspace", "rate_limits"),
    } <= names


@pytest.mark.parametrize(
    ("model", "name", "many"), LIMITS_FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in LIMITS_FIELDS]
)
@pytest.mark.parametrize("form", ["object", "array"])
def test_every_limits_field_reads_both_forms(
    model: type[Model], name: str, many: bool, form: str
) -> None:
    sample = _limits_sample(name)
    item = _both_paths(sample, UsageLimits if name == "usage_limits" else RateLimit)
    got = getattr(_both_paths({name: _form(sample, form)}, model), name)
    assert got == ((item,) if many else item)


@pytest.mark.parametrize(
    ("model", "name", "many"), LIMITS_FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in LIMITS_FIELDS]
)
def test_empty_and_null_limits_are_none(model: type[Model], name: str, many: bool) -> None:
    assert getattr(_both_paths({name: None}, model), name) is None
    # `[]` where a sequence is held stays the empty sequence, so to_dict() gives `[]` back.
    assert getattr(_both_paths({name: []}, model), name) == (() if many else None)


@pytest.mark.parametrize(
    ("model", "name", "many"), LIMITS_FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in LIMITS_FIELDS]
)
@pytest.mark.parametrize("value", ["cost", 5, 1.5, True])
def test_a_limits_field_of_another_kind_is_an_error_naming_it(
    model: type[Model], name: str, many: bool, value: object
) -> None:
    with pytest.raises(APIResponseValidationError, match=rf"@ \$\.{name}$") as info:
        model.from_dict({name: value})
    assert "expected an object or an array" in info.value.message
    assert model.__name__ in info.value.message


@pytest.mark.parametrize(
    ("model", "name", "many"), LIMITS_FIELDS, ids=[f"{m.__name__}.{n}" for m, n, _ in LIMITS_FIELDS]
)
def test_several_where_one_is_held_is_an_error_naming_the_field(
    model: type[Model], name: str, many: bool
) -> None:
    sample = _limits_sample(name)
    data = {name: [sample, sample]}
    if many:
        assert len(getattr(_both_paths(data, model), name)) == 2
        return
    with pytest.raises(APIResponseValidationError, match=rf"array of 2 @ \$\.{name}$"):
        model.from_dict(data)


@pytest.mark.parametrize("form", ["object", "array"])
def test_an_item_error_names_its_path_in_either_form(form: str) -> None:
    index = "" if form == "object" else r"\[0\]"
    for name, bad in (("usage_limits", {"credit_limit": "ten"}), ("rate_limits", {"value": "x"})):
        with pytest.raises(APIResponseValidationError, match=rf"@ \$\.{name}{index}\.\w+$"):
            VirtualKey.from_dict({name: _form(bad, form)})


def _row_id(row: dict[str, Any]) -> str:
    return f"{row['sdk'].split()[1].strip('()')}-{row['type']}"


@pytest.mark.parametrize("row", TABLE, ids=[_row_id(row) for row in TABLE])
@pytest.mark.parametrize("inner", ["object", "array"])
def test_each_official_shape_reads_into_our_models(row: dict[str, Any], inner: str) -> None:
    """Each row of the table: the answer shaped as that SDK types it, through our model."""
    model: type[Model] = getattr(portkey_vk, row["model"])
    body: dict[str, Any] = {"slug": "s"} if "slug" in attrs.fields_dict(model) else {}
    expected: dict[str, object] = {}
    for key, spec in row["limits"].items():
        if key == "global_workspace_access":
            # The SDKs type its content as a free object: its limits may come either way.
            inner_body = {"enabled": True, "usage_limits": _form(USAGE, inner)}
            inner_body["rate_limits"] = _form(RATE, inner)
            body[key] = _form(inner_body, spec["form"])
            expected[spec["reads"]] = GlobalWorkspaceAccess(
                enabled=True,
                usage_limits=(UsageLimits.from_dict(USAGE),),
                rate_limits=(RateLimit.from_dict(RATE),),
            )
            continue
        body[key] = _form(SAMPLE[key], spec["form"])
        field = attrs.fields_dict(model)[spec["reads"]]
        kind = limits_field(field.type)
        assert kind is not None
        item = kind[0].from_dict(SAMPLE[key])
        expected[spec["reads"]] = (item,) if kind[1] else item
    for key, spec in row["fields"].items():
        body[key] = spec["value"]
    got = _both_paths(body, model)
    for attribute, value in expected.items():
        assert getattr(got, attribute) == value
    for key, spec in row["fields"].items():
        if spec["reads"] == "extra":
            assert got.extra[key] == spec["value"]  # type: ignore[attr-defined]
        else:
            assert key not in got.extra  # type: ignore[attr-defined]
            alone = _both_paths({spec["reads"]: spec["value"]}, model)
            assert getattr(got, spec["reads"]) == getattr(alone, spec["reads"]) is not None


def test_the_table_names_both_sdks_and_their_files() -> None:
    assert {row["sdk"] for row in TABLE} == {"portkey-ai (Python) 2.3.4", "portkey-ai (Node) 3.1.0"}
    assert all(row["file"].endswith((".py", ".d.ts")) for row in TABLE)


# -- the other name of global_workspace_access_settings -----------------------------------------


def test_integration_reads_global_workspace_access_under_either_name() -> None:
    access = {"enabled": True, "usage_limits": [USAGE]}
    one = _both_paths({"global_workspace_access": access}, Integration)
    other = _both_paths({"global_workspace_access_settings": access}, Integration)
    assert one == other
    assert one.global_workspace_access_settings is not None
    assert one.global_workspace_access_settings.enabled is True
    assert one.extra == {}


def test_the_documented_name_wins_and_the_other_is_kept() -> None:
    data = {
        "global_workspace_access_settings": {"enabled": True},
        "global_workspace_access": {"enabled": False},
    }
    got = _both_paths(data, Integration)
    assert got.global_workspace_access_settings == GlobalWorkspaceAccess(enabled=True)
    assert got.extra == {"global_workspace_access": {"enabled": False}}
    assert got.to_dict()["global_workspace_access"] == {"enabled": False}


def test_a_bad_value_under_the_other_name_is_an_error() -> None:
    with pytest.raises(APIResponseValidationError, match="enabled"):
        Integration.from_dict({"global_workspace_access": {"enabled": "yes"}})


def test_only_declared_fields_have_another_name() -> None:
    aliased = {
        (model.__name__, field.name, alias_of(field))
        for model in _models()
        for field in attrs.fields(model)
        if alias_of(field) is not None
    }
    assert aliased == {
        ("Integration", "global_workspace_access_settings", "global_workspace_access")
    }


# -- both forms through real HTTP, on both surfaces ---------------------------------------------

DOCUMENT = "document"
OFFICIAL = "official"


def _provider(form: str) -> dict[str, Any]:
    one = form == OFFICIAL
    return {
        "slug": "p",
        "object": "provider",
        "workspace_id": "ws-1",
        "usage_limits": USAGE,  # an object for the document and for both SDKs
        "rate_limits": RATE if one else [RATE],
    }


def _virtual_key(form: str) -> dict[str, Any]:
    one = form == OFFICIAL
    return {
        "slug": "k",
        "object": "virtual-key",
        "usage_limits": [USAGE] if one else USAGE,
        "rate_limits": RATE if one else [RATE],
    }


def _integration(form: str) -> dict[str, Any]:
    name = "global_workspace_access" if form == OFFICIAL else "global_workspace_access_settings"
    limits: dict[str, Any] = (
        {"usage_limits": USAGE, "rate_limits": RATE}
        if form == OFFICIAL
        else {"usage_limits": [USAGE], "rate_limits": [RATE]}
    )
    return {"slug": "i", "object": "integration", name: {"enabled": True, **limits}}


def _bodies(form: str) -> dict[str, Any]:
    def listing(item: dict[str, Any]) -> dict[str, Any]:
        return {"object": "list", "total": 1, "data": [item]}

    return {
        "/v1/virtual-keys/k": _virtual_key(form),
        "/v1/virtual-keys": listing(_virtual_key(form)),
        "/v1/providers/p": _provider(form),
        "/v1/providers": listing(_provider(form)),
        "/v1/integrations/i": _integration(form),
        "/v1/integrations": listing(_integration(form)),
    }


class CannedServer:
    """An aiohttp server on 127.0.0.1 answering each path with a fixed JSON body."""

    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {}
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="canned")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = self.bodies.get(request.path)
        if body is None:
            return web.json_response({"message": "not found"}, status=404)
        return web.json_response(body)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
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

    def __enter__(self) -> CannedServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def canned() -> Iterator[CannedServer]:
    with CannedServer() as server:
        yield server


def _check(vk: VirtualKey, vks: list[Any], provider: Provider, providers: list[Any]) -> None:
    assert vk.usage_limits == UsageLimits.from_dict(USAGE)
    assert vk.rate_limits == (RateLimit.from_dict(RATE),)
    assert vks == [vk]
    assert provider.rate_limits == (RateLimit.from_dict(RATE),)
    assert provider.usage_limits == UsageLimits.from_dict(USAGE)
    assert provider.workspace_id == "ws-1"
    assert providers == [provider]


def _check_integration(integration: Integration, integrations: list[Any]) -> None:
    assert integration.global_workspace_access_settings == GlobalWorkspaceAccess(
        enabled=True,
        usage_limits=(UsageLimits.from_dict(USAGE),),
        rate_limits=(RateLimit.from_dict(RATE),),
    )
    assert integration.extra == {}
    assert integrations == [integration]


@pytest.mark.parametrize("form", [DOCUMENT, OFFICIAL])
def test_both_forms_over_http_async(canned: CannedServer, form: str) -> None:
    canned.bodies = _bodies(form)

    async def go() -> None:
        async with AsyncPortkey(api_key="k", base_url=canned.base_url) as client:
            vk = await client.virtual_keys.retrieve("k")
            vks = [item async for item in client.virtual_keys.list()]
            provider = await client.providers.retrieve("p")
            providers = [item async for item in client.providers.list()]
            _check(vk, vks, provider, providers)
            integration = await client.integrations.retrieve("i")
            integrations = [item async for item in client.integrations.list()]
            _check_integration(integration, integrations)

    asyncio.run(go())


@pytest.mark.parametrize("form", [DOCUMENT, OFFICIAL])
def test_both_forms_over_http_sync(canned: CannedServer, form: str) -> None:
    canned.bodies = _bodies(form)
    with Portkey(api_key="k", base_url=canned.base_url) as client:
        vk = client.virtual_keys.retrieve("k")
        provider = client.providers.retrieve("p")
        _check(vk, list(client.virtual_keys.list()), provider, list(client.providers.list()))
        integration = client.integrations.retrieve("i")
        _check_integration(integration, list(client.integrations.list()))
