"""The fake's providers: ``/providers`` (list, create) and ``/providers/{slug}``.

Seeded with :meth:`Providers.add_provider`. Besides its own providers, it serves every virtual
key stored with ``as_provider=True`` as a provider of the same slug (a "mirror"): listing,
retrieving, updating and deleting the mirror reads and writes the key itself.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Final

from portkey_vk._types import PROVIDERS_PAGE_SIZE
from portkey_vk.testing._core import Call, Entry, FakeCore, Routes
from portkey_vk.testing._validation import (
    Refusal,
    apply_limits,
    check_slug,
    check_virtual_key,
    given_string,
    json_copy,
    json_fields,
    object_body,
    object_or_null,
    optional_string,
    page_of,
    rate_limits_of,
    required_string,
    timestamp_field,
    utc_now,
    visible,
    workspace_field,
    workspace_param,
)
from portkey_vk.testing.integrations import INTEGRATIONS
from portkey_vk.testing.virtual_keys import VIRTUAL_KEYS

__all__ = ["PROVIDERS", "Providers"]

#: The resource's path segment and the name of its table.
PROVIDERS: Final = "providers"


class Providers(FakeCore):
    """Providers: what :class:`~portkey_vk.testing.FakePortkey` serves of them."""

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
        check_slug(slug)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": slug,
            "note": None,
            "status": "active",
            "usage_limits": None,
            "reset_usage": 0,
            "created_at": utc_now(),
            "rate_limits": [],
            "expires_at": None,
            "integration_id": "openai",
            "ai_provider_id": "openai",
            "object": "provider",
        }
        data.update(json_fields(fields))
        with self._lock:
            self._store(self._tables[PROVIDERS], slug, Entry(data, 0))
        return json_fields(data)

    def _provider_of(self, slug: str) -> tuple[Entry, bool] | None:
        """The provider served under ``slug`` and whether it mirrors a virtual key."""
        entry = self._tables[PROVIDERS].get(slug)
        if entry is not None:
            return entry, False
        key = self._tables[VIRTUAL_KEYS].get(slug)
        if key is not None and key.as_provider:
            return key, True
        return None

    def _provider_entry(self, call: Call) -> tuple[Entry, bool]:
        found = self._provider_of(call.slug)
        if found is None or not visible(found[0].data, workspace_param(call.query)):
            raise Refusal(404, f"Provider {call.slug!r} not found")
        return found

    def _list_providers(self, call: Call) -> dict[str, Any]:
        workspace = workspace_param(call.query)
        views = [(entry, False) for entry in self._tables[PROVIDERS].values()]
        views += [
            (entry, True)
            for slug, entry in self._tables[VIRTUAL_KEYS].items()
            if entry.as_provider and slug not in self._tables[PROVIDERS]
        ]
        views.sort(key=lambda view: view[0].seq)
        items = [
            _provider_json(entry, mirrored)
            for entry, mirrored in views
            if visible(entry.data, workspace)
        ]
        return page_of(items, call.query, default_size=PROVIDERS_PAGE_SIZE)

    def _get_provider(self, call: Call) -> dict[str, Any]:
        return _provider_json(*self._provider_entry(call))

    def _create_provider(self, call: Call) -> dict[str, Any]:
        body = object_body(call.body)
        name = required_string(body, "name")
        integration_id = required_string(body, "integration_id")
        slug = given_string(body, "slug")
        if slug is None:
            slug = self._new_slug(name, fallback="provider")
        elif self._provider_of(slug) is not None:
            raise Refusal(409, f"Provider {slug!r} already exists")
        integration = self._tables[INTEGRATIONS].get(integration_id)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": name,
            "note": optional_string(body, "note"),
            "status": "active",
            "usage_limits": object_or_null(body, "usage_limits"),
            "reset_usage": 0,
            "created_at": utc_now(),
            "rate_limits": rate_limits_of(body.get("rate_limits")),
            "expires_at": timestamp_field(body, "expires_at"),
            "integration_id": integration_id,
            "ai_provider_id": None
            if integration is None
            else integration.data.get("ai_provider_id"),
            "object": "provider",
        }
        workspace = workspace_field(body)
        if workspace is not None:
            data["workspace_id"] = workspace
        if integration is None:
            # As the live API: a provider draws its credentials from an existing integration.
            raise Refusal(404, f"Integration {integration_id!r} not found")
        self._store(self._tables[PROVIDERS], slug, Entry(data, 0))
        return {"id": data["id"], "slug": slug}

    def _update_provider(self, call: Call) -> dict[str, Any]:
        entry, mirrored = self._provider_entry(call)
        body = object_body(call.body)
        data = json_copy(entry.data)
        if "name" in body:
            data["name"] = required_string(body, "name")
        if "note" in body:
            data["note"] = optional_string(body, "note")
        apply_limits(data, body)
        if "reset_usage" in body:
            if not isinstance(body["reset_usage"], bool):
                raise Refusal(400, "reset_usage must be a boolean")
            if body["reset_usage"]:
                data["reset_usage"] = 0
                data["last_reset_at"] = utc_now()
        if mirrored:
            # A mirrored provider is the virtual key itself: the key must stay readable.
            check_virtual_key(data)
        entry.data = data
        return {"id": data.get("id"), "slug": call.slug}

    def _delete_provider(self, call: Call) -> dict[str, Any]:
        _, mirrored = self._provider_entry(call)
        # Deleting a mirrored provider deletes the key: on the live control plane they are one.
        del (self._tables[VIRTUAL_KEYS] if mirrored else self._tables[PROVIDERS])[call.slug]
        return {"success": True, "data": {}}

    ROUTES: ClassVar[Routes | None] = Routes(
        PROVIDERS,
        "providers",
        collection={"GET": _list_providers, "POST": _create_provider},
        item={"GET": _get_provider, "PUT": _update_provider, "DELETE": _delete_provider},
    )


def _provider_json(entry: Entry, mirrored: bool) -> dict[str, Any]:
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
