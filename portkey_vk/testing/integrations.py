"""The fake's integrations: ``/integrations`` (list) and ``/integrations/{slug}`` (retrieve).

Seeded with :meth:`Integrations.add_integration`. A list item leaves out what only the
retrieve answer holds (``masked_key``, ``configurations``, ...), as Portkey does; secrets are
served only masked.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Final

from portkey_vk._types import INTEGRATIONS_PAGE_SIZE
from portkey_vk.testing._core import Call, Entry, FakeCore, Routes
from portkey_vk.testing._validation import (
    Refusal,
    check_slug,
    json_fields,
    mask,
    masked_configurations,
    one_param,
    page_of,
    utc_now,
    workspace_param,
)

__all__ = ["INTEGRATIONS", "Integrations"]

#: The resource's path segment and the name of its table.
INTEGRATIONS: Final = "integrations"

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


class Integrations(FakeCore):
    """Integrations: what :class:`~portkey_vk.testing.FakePortkey` serves of them."""

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
        check_slug(slug)
        now = utc_now()
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
        given = json_fields(fields)
        secret = given.pop("key", None)
        if isinstance(secret, str) and "masked_key" not in given:
            data["masked_key"] = mask(secret)
        data.update(given)
        if isinstance(data["configurations"], dict):
            data["configurations"] = masked_configurations(data["configurations"])
        with self._lock:
            self._store(self._tables[INTEGRATIONS], slug, Entry(data, 0))
        return json_fields(data)

    def _list_integrations(self, call: Call) -> dict[str, Any]:
        workspace = workspace_param(call.query)
        kind = one_param(call.query, "type") or "all"
        if kind not in _INTEGRATION_TYPES:
            raise Refusal(400, f"type must be workspace, organisation or all, not {kind!r}")
        items = []
        for entry in self._tables[INTEGRATIONS].values():
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
        return page_of(items, call.query, default_size=INTEGRATIONS_PAGE_SIZE)

    def _get_integration(self, call: Call) -> dict[str, Any]:
        entry = self._tables[INTEGRATIONS].get(call.slug)
        if entry is None:
            raise Refusal(404, f"Integration {call.slug!r} not found")
        return entry.data

    ROUTES: ClassVar[Routes | None] = Routes(
        INTEGRATIONS,
        "integrations",
        collection={"GET": _list_integrations},
        item={"GET": _get_integration},
    )
