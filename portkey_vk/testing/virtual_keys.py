"""The fake's virtual keys: ``/virtual-keys`` (list, create) and ``/virtual-keys/{slug}``.

Seeded with :meth:`VirtualKeys.add_virtual_key`; a key is also served as a provider of the same
slug (see :mod:`portkey_vk.testing.providers`), as the live control plane presents migrated keys.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Final

from portkey_vk import APIResponseValidationError, VirtualKey
from portkey_vk._types import VIRTUAL_KEYS_PAGE_SIZE
from portkey_vk.testing._core import Call, Entry, FakeCore, Routes
from portkey_vk.testing._validation import (
    Refusal,
    apply_limits,
    check_bool,
    check_slug,
    check_virtual_key,
    deployments_of,
    given_string,
    is_sensitive,
    json_copy,
    json_fields,
    mask,
    mask_any,
    object_body,
    object_or_null,
    optional_string,
    page_of,
    rate_limits_of,
    required_string,
    secret_mappings_of,
    timestamp_field,
    utc_now,
    visible,
    workspace_field,
    workspace_param,
)

__all__ = ["VIRTUAL_KEYS", "VirtualKeys"]

#: The resource's path segment and the name of its table.
VIRTUAL_KEYS: Final = "virtual-keys"

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


class VirtualKeys(FakeCore):
    """Virtual keys: what :class:`~portkey_vk.testing.FakePortkey` serves of them."""

    @property
    def _keys(self) -> dict[str, Entry]:
        return self._tables[VIRTUAL_KEYS]

    def provider_key_of(self, slug: str) -> str | None:
        """The provider key (in clear) that ``POST``/``PUT /virtual-keys`` stored for ``slug``.

        The fake serves a key only masked, as Portkey does; this is how a test checks what was
        stored. ``None`` when no request sent one (a key added with :meth:`add_virtual_key`
        serves its ``key`` field exactly as given instead).

        Raises:
            KeyError: no virtual key ``slug`` is stored.
        """
        check_slug(slug)
        with self._lock:
            return self._keys[slug].secret

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
        check_slug(slug)
        check_bool("as_provider", as_provider)
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": slug,
            "note": None,
            "status": "active",
            "usage_limits": None,
            "reset_usage": 0,
            "created_at": utc_now(),
            "expires_at": None,
            "model_config": {},
            "rate_limits": [],
            "secret_mappings": [],
            "ai_provider_name": "openai",
            "masked_api_key": "sk-****abcd",
            "object": "virtual-key",
        }
        data.update(json_fields(fields))
        # Parse before storing: a key the SDK cannot read must fail here, at the test's call,
        # not later as a confusing answer to the code under test.
        try:
            parsed = VirtualKey.from_dict(data)
        except APIResponseValidationError as exc:
            raise ValueError(f"add_virtual_key({slug!r}): {exc}") from exc
        with self._lock:
            self._store(self._keys, slug, Entry(data, 0, as_provider=as_provider))
        return parsed

    def remove_virtual_key(self, slug: str) -> None:
        """Forget a stored key; later requests for it (and its provider mirror) get 404."""
        check_slug(slug)
        with self._lock:
            self._keys.pop(slug, None)

    def _key_entry(self, call: Call) -> Entry:
        entry = self._keys.get(call.slug)
        if entry is None or not visible(entry.data, workspace_param(call.query)):
            raise Refusal(404, f"Virtual key {call.slug!r} not found")
        return entry

    def _list_virtual_keys(self, call: Call) -> dict[str, Any]:
        workspace = workspace_param(call.query)
        items = [entry.data for entry in self._keys.values() if visible(entry.data, workspace)]
        return page_of(items, call.query, default_size=VIRTUAL_KEYS_PAGE_SIZE)

    def _get_virtual_key(self, call: Call) -> dict[str, Any]:
        return self._key_entry(call).data

    def _create_virtual_key(self, call: Call) -> dict[str, Any]:
        body = object_body(call.body)
        name = required_string(body, "name")
        provider = required_string(body, "provider")
        mappings = secret_mappings_of(body)
        key = given_string(body, "key")
        if key is None and not any(mapping["target_field"] == "key" for mapping in mappings):
            raise Refusal(400, "key is required unless a secret_mappings entry targets 'key'")
        model_config: dict[str, Any] = {}
        for field in ("apiVersion", "resourceName", "deploymentName"):
            value = optional_string(body, field)
            if value is not None:
                model_config[field] = value
        deployments = deployments_of(body)
        if deployments is not None:
            model_config["deployments"] = deployments
        for field, value in body.items():
            if field not in _VK_CREATE_FIELDS:
                model_config[field] = mask_any(value) if is_sensitive(field) else value
        slug = self._new_slug(name, fallback="virtual-key")
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "slug": slug,
            "name": name,
            "note": optional_string(body, "note"),
            "status": "active",
            "usage_limits": object_or_null(body, "usage_limits"),
            "reset_usage": 0,
            "created_at": utc_now(),
            "expires_at": timestamp_field(body, "expires_at"),
            "model_config": model_config,
            "rate_limits": rate_limits_of(body.get("rate_limits")),
            "secret_mappings": mappings,
            "ai_provider_name": provider,
            "masked_api_key": None if key is None else mask(key),
            "object": "virtual-key",
        }
        if key is not None:
            data["key"] = mask(key)
        workspace = workspace_field(body)
        if workspace is not None:
            data["workspace_id"] = workspace
        check_virtual_key(data)
        self._store(self._keys, slug, Entry(data, 0, secret=key, as_provider=True))
        return {"success": True, "data": {"slug": slug}}

    def _update_virtual_key(self, call: Call) -> dict[str, Any]:
        entry = self._key_entry(call)
        body = object_body(call.body)
        data = json_copy(entry.data)
        secret = entry.secret
        if "name" in body:
            data["name"] = required_string(body, "name")
        if "key" in body:
            secret = required_string(body, "key")
            data["key"] = data["masked_api_key"] = mask(secret)
        if "note" in body:
            data["note"] = optional_string(body, "note")
        if "deploymentConfig" in body:
            config = data.get("model_config")
            model_config = dict(config) if isinstance(config, dict) else {}
            deployments = deployments_of(body)
            if deployments is None:
                model_config.pop("deployments", None)
            else:
                model_config["deployments"] = deployments
            data["model_config"] = model_config
        if "secret_mappings" in body:
            data["secret_mappings"] = secret_mappings_of(body)
        apply_limits(data, body)
        check_virtual_key(data)
        entry.data, entry.secret = data, secret
        return {"success": True, "data": {}}

    def _delete_virtual_key(self, call: Call) -> dict[str, Any]:
        self._key_entry(call)
        del self._keys[call.slug]
        return {"success": True, "data": {}}

    ROUTES: ClassVar[Routes | None] = Routes(
        VIRTUAL_KEYS,
        "keys",
        collection={"GET": _list_virtual_keys, "POST": _create_virtual_key},
        item={"GET": _get_virtual_key, "PUT": _update_virtual_key, "DELETE": _delete_virtual_key},
    )
