"""The fake's integrations: ``/integrations``, ``/integrations/{slug}`` and its sub-resources.

``/integrations`` lists and creates, ``/integrations/{slug}`` retrieves, updates and deletes,
``/integrations/{slug}/models`` and ``/integrations/{slug}/workspaces`` list and change the
integration's models and workspace access. Seeded with :meth:`Integrations.add_integration`. A
list item leaves out what only the retrieve answer holds (``masked_key``, ``configurations``,
...), as Portkey does; secrets are served only masked, and a key sent in is kept (in
``Entry.secret``) but never served. The models and workspace lists are answered whole (the
document gives them no paging parameters): ``{"models": [...], "total": N}``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar, Final

from portkey_vk._types import INTEGRATIONS_PAGE_SIZE
from portkey_vk.testing._core import Call, Entry, FakeCore, Routes
from portkey_vk.testing._validation import (
    Refusal,
    check_slug,
    given_string,
    json_copy,
    json_fields,
    mask,
    masked_configurations,
    object_body,
    one_param,
    page_of,
    required_string,
    utc_now,
    workspace_field,
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
# Where an entry keeps its models and workspace access: never served by retrieve or list.
_MODELS: Final = "_models"
_WORKSPACES: Final = "_workspaces"
_HIDDEN: Final = frozenset({_MODELS, _WORKSPACES})
_SLUG: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")


class Integrations(FakeCore):
    """Integrations: what :class:`~portkey_vk.testing.FakePortkey` serves of them."""

    def add_integration(self, slug: str, **fields: Any) -> dict[str, Any]:
        """Store an integration and return its JSON as ``GET /integrations/{slug}`` serves it.

        Every field not given gets a default (``name`` = slug, ``ai_provider_id="openai"``,
        ``status="active"``, ``object="integration"``, ``configurations={}``, ...). A ``key``
        field is never served: ``masked_key`` is built from it. In ``configurations``, a field
        whose name says secret, password, token or key is served as ``masked_<name>`` with a
        masked value, as Portkey does. Without a ``workspace_id`` field the integration is
        organisation-level (global); with one, it belongs to that workspace. ``models`` (a
        list of ``{"slug", "enabled", ...}``) and ``workspaces`` (a list of ``{"id",
        "enabled", ...}``) seed what ``/integrations/{slug}/models`` and ``/workspaces`` serve.

        Raises:
            ValueError: ``slug`` is not a non-empty string, or a float is NaN or infinite;
                nothing is stored.
            TypeError: a value is not JSON-serialisable; nothing is stored.
            ValueError: a seeded model or workspace lacks its slug/id or ``enabled``.
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
        try:
            models = [_model_of(item) for item in _list_of(given.pop("models", []), "models")]
            workspaces = [
                _access_of(item) for item in _list_of(given.pop("workspaces", []), "workspaces")
            ]
        except Refusal as refusal:
            raise ValueError(refusal.message) from None
        secret = given.pop("key", None)
        if isinstance(secret, str) and "masked_key" not in given:
            data["masked_key"] = mask(secret)
        data.update(given)
        if isinstance(data["configurations"], dict):
            data["configurations"] = masked_configurations(data["configurations"])
        data[_MODELS] = models
        data[_WORKSPACES] = workspaces
        data.setdefault("workspace_count", sum(1 for w in workspaces if w["enabled"]))
        with self._lock:
            self._store(
                self._tables[INTEGRATIONS],
                slug,
                Entry(data, 0, secret if isinstance(secret, str) else None),
            )
        return json_fields(_served(data))

    def _integration(self, call: Call) -> Entry:
        entry = self._tables[INTEGRATIONS].get(call.slug)
        if entry is None:
            raise Refusal(404, f"Integration {call.slug!r} not found")
        return entry

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
                    if name not in _INTEGRATION_DETAIL_ONLY and name not in _HIDDEN
                }
            )
        return page_of(items, call.query, default_size=INTEGRATIONS_PAGE_SIZE)

    def _get_integration(self, call: Call) -> dict[str, Any]:
        return _served(self._integration(call).data)

    def _create_integration(self, call: Call) -> dict[str, Any]:
        body = object_body(call.body)
        name = required_string(body, "name")
        provider = required_string(body, "ai_provider_id")
        slug = given_string(body, "slug")
        if slug is None:
            slug = self._new_slug(name, fallback="integration")
        elif not _SLUG.fullmatch(slug):
            raise Refusal(400, "slug may hold only letters, digits, '_' and '-'")
        elif slug in self._tables[INTEGRATIONS]:
            raise Refusal(409, f"Integration {slug!r} already exists")
        key = given_string(body, "key")
        now = utc_now()
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "organisation_id": self._organisation_id,
            "ai_provider_id": provider,
            "name": name,
            "status": "active",
            "created_at": now,
            "last_updated_at": now,
            "slug": slug,
            "description": _string_or_none(body, "description"),
            "object": "integration",
            "masked_key": None if key is None else mask(key),
            "configurations": masked_configurations(_object(body, "configurations")),
            "allow_all_models": True,
            "workspace_count": 0,
            "secret_mappings": _mappings(body),
            "pricing_adjustments": None,
            _MODELS: [],
            _WORKSPACES: [],
        }
        workspace = workspace_field(body)
        if workspace is not None:
            data["workspace_id"] = workspace
        for flag in ("create_default_provider",):
            if flag in body and not isinstance(body[flag], bool):
                raise Refusal(400, f"{flag} must be a boolean")
        if "default_provider_slug" in body:
            _checked_slug(body, "default_provider_slug")
        self._store(self._tables[INTEGRATIONS], slug, Entry(data, 0, key))
        return {"id": data["id"], "slug": slug}

    def _update_integration(self, call: Call) -> dict[str, Any]:
        entry = self._integration(call)
        body = object_body(call.body)
        data = json_copy(entry.data)
        if "name" in body:
            data["name"] = required_string(body, "name")
        if "description" in body:
            data["description"] = _string_or_none(body, "description")
        if "key" in body:
            key = required_string(body, "key")
            data["masked_key"] = mask(key)
            entry.secret = key
        if "configurations" in body:
            data["configurations"] = masked_configurations(_object(body, "configurations"))
        if "secret_mappings" in body:
            data["secret_mappings"] = _mappings(body)
        if "pricing_adjustments" in body:
            value = body["pricing_adjustments"]
            if value is not None and not isinstance(value, dict):
                raise Refusal(400, "pricing_adjustments must be an object or null")
            data["pricing_adjustments"] = value
        data["last_updated_at"] = utc_now()
        entry.data = data
        return {}

    def _delete_integration(self, call: Call) -> dict[str, Any]:
        self._integration(call)
        del self._tables[INTEGRATIONS][call.slug]
        return {}

    def _list_models(self, call: Call) -> dict[str, Any]:
        models = self._integration(call).data[_MODELS]
        return {"models": models, "total": len(models)}

    def _update_models(self, call: Call) -> dict[str, Any]:
        entry = self._integration(call)
        body = object_body(call.body)
        if "models" not in body:
            raise Refusal(400, "models is required")
        updates = [_model_of(item) for item in _list_of(body["models"], "models")]
        if "allow_all_models" in body and not isinstance(body["allow_all_models"], bool):
            raise Refusal(400, "allow_all_models must be a boolean")
        data = json_copy(entry.data)
        models = {model["slug"]: model for model in data[_MODELS]}
        for update in updates:
            models[update["slug"]] = {**models.get(update["slug"], {}), **update}
        data[_MODELS] = list(models.values())
        if "allow_all_models" in body:
            data["allow_all_models"] = body["allow_all_models"]
        entry.data = data
        return {}

    def _delete_models(self, call: Call) -> dict[str, Any]:
        entry = self._integration(call)
        slugs = one_param(call.query, "slugs")
        if not slugs:
            raise Refusal(400, "slugs is required")
        doomed = set(slugs.split(","))
        for model in entry.data[_MODELS]:
            if model["slug"] in doomed and not model.get("is_custom"):
                raise Refusal(400, f"{model['slug']!r} is not a custom model")
        data = json_copy(entry.data)
        data[_MODELS] = [m for m in data[_MODELS] if m["slug"] not in doomed]
        entry.data = data
        return {}

    def _list_workspaces(self, call: Call) -> dict[str, Any]:
        workspaces = self._integration(call).data[_WORKSPACES]
        return {"workspaces": workspaces, "total": len(workspaces)}

    def _update_workspaces(self, call: Call) -> dict[str, Any]:
        entry = self._integration(call)
        body = object_body(call.body)
        updates = [_access_of(item) for item in _list_of(body.get("workspaces", []), "workspaces")]
        data = json_copy(entry.data)
        if "global_workspace_access" in body:
            access = body["global_workspace_access"]
            if not isinstance(access, dict) or not isinstance(access.get("enabled"), bool):
                raise Refusal(400, "global_workspace_access needs a boolean enabled")
            data["global_workspace_access_settings"] = {
                "enabled": access["enabled"],
                "usage_limits": _limits(access, "usage_limits"),
                "rate_limits": _limits(access, "rate_limits"),
            }
        for flag in ("override_existing_workspace_access", "create_default_provider"):
            if flag in body and not isinstance(body[flag], bool):
                raise Refusal(400, f"{flag} must be a boolean")
        if "default_provider_slug" in body:
            _checked_slug(body, "default_provider_slug")
        workspaces = {access["id"]: access for access in data[_WORKSPACES]}
        for update in updates:
            workspaces[update["id"]] = {**workspaces.get(update["id"], {}), **update}
        data[_WORKSPACES] = list(workspaces.values())
        data["workspace_count"] = sum(1 for w in data[_WORKSPACES] if w["enabled"])
        entry.data = data
        return {}

    ROUTES: ClassVar[Routes | None] = Routes(
        INTEGRATIONS,
        "integrations",
        collection={"GET": _list_integrations, "POST": _create_integration},
        item={"GET": _get_integration, "PUT": _update_integration, "DELETE": _delete_integration},
        below={
            "models": {"GET": _list_models, "PUT": _update_models, "DELETE": _delete_models},
            "workspaces": {"GET": _list_workspaces, "PUT": _update_workspaces},
        },
    )


def _served(data: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name not in _HIDDEN}


def _list_of(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Refusal(400, f"{name} must be a list of objects")
    return value


def _model_of(item: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(item.get("slug"), str) or not item["slug"]:
        raise Refusal(400, "each model needs a slug")
    if not isinstance(item.get("enabled"), bool):
        raise Refusal(400, "each model needs a boolean enabled")
    for flag in ("is_custom", "is_finetune"):
        if item.get(flag) is not None and not isinstance(item[flag], bool):
            raise Refusal(400, f"{flag} must be a boolean or null")
    model = {"name": item["slug"], "is_custom": False, "is_finetune": False}
    model.update(item)
    return model


def _access_of(item: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(item.get("id"), str) or not item["id"]:
        raise Refusal(400, "each workspace needs an id")
    if not isinstance(item.get("enabled"), bool):
        raise Refusal(400, "each workspace needs a boolean enabled")
    access: dict[str, Any] = {"id": item["id"], "enabled": item["enabled"]}
    for field in ("usage_limits", "rate_limits"):
        access[field] = _limits(item, field)
    return access


def _limits(item: dict[str, Any], field: str) -> list[Any] | None:
    # The document's arrays of at most one; one object (the other form) is taken too.
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and len(value) <= 1 and all(isinstance(v, dict) for v in value):
        return value
    raise Refusal(400, f"{field} must be an array of at most one object")


def _object(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field, {})
    if not isinstance(value, dict):
        raise Refusal(400, f"{field} must be an object")
    return value


def _string_or_none(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise Refusal(400, f"{field} must be a string")
    return value


def _mappings(body: dict[str, Any]) -> list[Any]:
    value = body.get("secret_mappings", [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Refusal(400, "secret_mappings must be a list of objects")
    for item in value:
        target = item.get("target_field")
        if not isinstance(target, str) or not (
            target == "key" or target.startswith("configurations.")
        ):
            raise Refusal(400, "secret_mappings target_field must be key or configurations.<field>")
        if not isinstance(item.get("secret_reference_id"), str):
            raise Refusal(400, "secret_mappings secret_reference_id must be a string")
    return value


def _checked_slug(body: dict[str, Any], field: str) -> None:
    value = body[field]
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise Refusal(400, f"{field} may hold only letters, digits, '_' and '-'")
