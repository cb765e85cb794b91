"""The test-kit's layout holds its promise: a resource is one module and one registration line.

The resource below is the recipe of ``portkey_vk.testing``'s docstring, written out: a mixin of
the core with a seed method, two handlers and a ``ROUTES`` declaration, registered by being a
base of the fake. Nothing in the core is told about it.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Final

import portkey_vk._resource
import portkey_vk.testing
from portkey_vk import _types
from portkey_vk.testing import FakePortkey
from portkey_vk.testing._core import Call, Entry, FakeCore, Routes
from portkey_vk.testing._validation import Refusal, check_slug, json_fields, page_of
from tests.test_fake_server import call, error

API_KEYS: Final = "api-keys"
API_KEYS_PAGE_SIZE: Final = 20


class ApiKeys(FakeCore):
    """The recipe's resource: ``/api-keys`` (list) and ``/api-keys/{slug}`` (retrieve)."""

    def add_api_key(self, slug: str, **fields: Any) -> dict[str, Any]:
        check_slug(slug)
        data = {"id": str(uuid.uuid4()), "slug": slug, **json_fields(fields)}
        with self._lock:
            self._store(self._tables[API_KEYS], slug, Entry(data, 0))
        return json_fields(data)

    def _list_api_keys(self, call: Call) -> dict[str, Any]:
        items = [entry.data for entry in self._tables[API_KEYS].values()]
        return page_of(items, call.query, default_size=API_KEYS_PAGE_SIZE)

    def _get_api_key(self, call: Call) -> dict[str, Any]:
        entry = self._tables[API_KEYS].get(call.slug)
        if entry is None:
            raise Refusal(404, f"API key {call.slug!r} not found")
        return entry.data

    ROUTES: ClassVar[Routes | None] = Routes(
        API_KEYS,
        "api keys",
        collection={"GET": _list_api_keys},
        item={"GET": _get_api_key},
    )


# The registration line.
class ExtendedFake(FakePortkey, ApiKeys):
    """FakePortkey with one more resource."""


def test_a_new_resource_is_served_recorded_and_reset() -> None:
    with ExtendedFake() as fake:
        fake.add_api_key("ops", name="Ops")
        fake.add_virtual_key("k")
        listed = call(fake, "GET", "/api-keys", query={"page_size": "1"})
        assert listed.status == 200
        assert listed.body["total"] == 1
        assert [item["name"] for item in listed.body["data"]] == ["Ops"]
        assert call(fake, "GET", "/api-keys/ops").body["slug"] == "ops"
        assert "'missing' not found" in error(404, call(fake, "GET", "/api-keys/missing"))
        # The core's rules hold for it with no code of its own: methods, auth, scripting, paging.
        assert call(fake, "DELETE", "/api-keys/ops").headers["Allow"] == "GET"
        assert call(fake, "GET", "/api-keys", key="wrong").status == 401
        assert call(fake, "GET", "/api-keys", query={"page_size": "1001"}).status == 400
        fake.fail_next(503, path="/api-keys/*")
        assert call(fake, "GET", "/api-keys").status == 200
        assert call(fake, "GET", "/api-keys/ops").status == 503
        assert fake.requests[-1].slug == "ops"
        # The existing resources are untouched by the addition.
        assert call(fake, "GET", "/virtual-keys/k").body["slug"] == "k"
        assert repr(fake).endswith("1 keys, 0 providers, 0 integrations, 1 api keys)")
        fake.reset()
        assert call(fake, "GET", "/api-keys").body["total"] == 0


def test_the_plain_fake_does_not_serve_an_unregistered_resource() -> None:
    with FakePortkey() as fake:
        assert error(404, call(fake, "GET", "/api-keys")) == "Not Found"
        assert not hasattr(fake, "add_api_key")


def test_a_resource_without_item_routes_answers_404_for_a_slug() -> None:
    class ListOnly(FakeCore):
        def _list(self, call: Call) -> dict[str, Any]:
            return {"object": "list", "total": 0, "data": []}

        ROUTES: ClassVar[Routes | None] = Routes("things", "things", collection={"GET": _list})

    with ListOnly() as fake:
        assert call(fake, "GET", "/things").status == 200  # type: ignore[arg-type]
        assert call(fake, "GET", "/things/x").status == 404  # type: ignore[arg-type]


def test_the_page_size_ceiling_is_one_constant() -> None:
    assert portkey_vk.testing.MAX_PAGE_SIZE is _types.MAX_PAGE_SIZE
    assert vars(portkey_vk._resource)["MAX_PAGE_SIZE"] is _types.MAX_PAGE_SIZE


def test_a_subclass_that_overrides_a_handler_serves_its_own() -> None:
    class Quiet(FakePortkey):
        def _list_integrations(self, call: Call) -> dict[str, Any]:
            return {"object": "list", "total": 0, "data": []}

    with Quiet() as fake:
        fake.add_integration("i")
        assert call(fake, "GET", "/integrations").body["total"] == 0
        assert call(fake, "GET", "/integrations/i").body["slug"] == "i"
