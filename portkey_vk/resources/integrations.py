"""``client.integrations``: Portkey integrations, their models and their workspaces.

An integration holds an AI provider's credentials (organisation-wide or for one workspace);
providers are created on it (``client.providers.create(integration_id=<its slug>)``). Its
sub-resources say which models it serves (``client.integrations.models``) and which
workspaces may use it (``client.integrations.workspaces``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from portkey_vk import _params
from portkey_vk._cache import cached_read
from portkey_vk._models import (
    GlobalWorkspaceAccess,
    Integration,
    IntegrationModel,
    IntegrationModelUpdate,
    IntegrationWorkspace,
    ResourceRef,
    SecretMapping,
    WorkspaceAccess,
)
from portkey_vk._pagination import AsyncPaginator, WholeList
from portkey_vk._raw import (
    AsyncIntegrationModelsWithRawResponse,
    AsyncIntegrationsWithRawResponse,
    AsyncIntegrationWorkspacesWithRawResponse,
)
from portkey_vk._resource import AsyncAPIResource, raw_response_view, validate_slug
from portkey_vk._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from portkey_vk._cache import Cache
    from portkey_vk._config import ClientConfig
    from portkey_vk._transport import AsyncTransport

__all__ = [
    "INTEGRATION_TYPES",
    "AsyncIntegrationModels",
    "AsyncIntegrationWorkspaces",
    "AsyncIntegrations",
    "configuration_secrets",
]

_PATH: Final = "integrations"

INTEGRATION_TYPES: Final = ("workspace", "organisation", "all")
"""What ``client.integrations.list(type=...)`` accepts."""


# The document's pattern for the slugs a create may choose (the integration's, a provider's).
_SLUG_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")
# What names a secret in ``configurations``, beyond the fields the document lists.
_SECRET_FIELDS: Final = frozenset(
    {"aws_secret_access_key", "azure_entra_client_secret", "vertex_service_account_json"}
)
_SECRET_SUFFIXES: Final = ("_secret", "_key", "_token", "password")


class AsyncIntegrationModels(AsyncAPIResource):
    """An integration's models: ``client.integrations.models.list(slug)`` and the rest."""

    __slots__ = ()

    with_raw_response = raw_response_view(AsyncIntegrationModelsWithRawResponse)

    def list(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[IntegrationModel]:
        """List the models of the integration ``slug`` (``GET /integrations/{slug}/models``).

        ::

            async for model in client.integrations.models.list("openai-prod"):
                print(model.slug, model.enabled, model.is_custom)

        The document gives this list no paging parameters: one answer holds it whole
        (``{"models": [...], "total": N}``), so one request is one page.

        Args:
            slug: the integration's slug.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            Every model (``async for m in ...``), or the page (``page = await ...``:
            ``page.data``, ``page.total``).

        Raises:
            ValueError: a bad ``slug`` or header (no request is sent).
            NotFoundError: no integration has this slug.
        """
        return self._get_page(
            (_PATH, validate_slug(slug), "models"),
            IntegrationModel,
            WholeList("models"),
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def update(
        self,
        slug: str,
        *,
        models: Sequence[IntegrationModelUpdate | Mapping[str, Any]],
        allow_all_models: bool | NotGiven = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Enable, disable or configure models of an integration (``PUT .../models``).

        ::

            await client.integrations.models.update(
                "openai-prod", models=[IntegrationModelUpdate(slug="gpt-4o", enabled=True)]
            )

        Models not named keep their settings. Retried like a read: the same update twice has
        the same effect as once.

        Args:
            slug: the integration's slug.
            models: the models to change, each an :class:`IntegrationModelUpdate` or a mapping
                of one, with ``slug`` and ``enabled``.
            allow_all_models: whether models not named (new ones too) are enabled by default.
            extra_body: more JSON fields to send.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            TypeError, ValueError: a bad argument, or a model without ``slug`` or ``enabled``
                (no request is sent).
            NotFoundError: no integration has this slug.
        """
        slug = validate_slug(slug)
        body = _params.Body()
        body.add("models", _required_items(models, IntegrationModelUpdate, "models", "slug"))
        body.add("allow_all_models", _params.optional_bool(allow_all_models, "allow_all_models"))
        body.merge(extra_body)
        return await self._put(
            (_PATH, slug, "models"),
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def delete(
        self,
        slug: str,
        *,
        slugs: Sequence[str],
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Remove custom models from an integration (``DELETE .../models?slugs=a,b``).

        ::

            await client.integrations.models.delete("openai-prod", slugs=["my-ft-model"])

        The slugs are sent as one comma-separated ``slugs`` value, as the document says.
        Retried like a read; a 404 after an attempt that may have landed is success.

        Args:
            slug: the integration's slug.
            slugs: the custom models' slugs (at least one; none may contain a comma).
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            TypeError, ValueError: no slug, a slug that is not a str, is empty or contains a
                comma (no request is sent).
            NotFoundError: no integration has this slug.
        """
        slug = validate_slug(slug)
        if isinstance(slugs, str | bytes) or not isinstance(slugs, Sequence):
            raise TypeError(f"slugs must be a sequence of str, got {type(slugs).__name__}")
        if not slugs:
            raise ValueError("slugs must name at least one model")
        names = [validate_slug(name, f"slugs[{i}]") for i, name in enumerate(slugs)]
        for index, name in enumerate(names):
            if "," in name:
                raise ValueError(f"slugs[{index}] must not contain a comma: {name!r}")
        return await self._delete(
            (_PATH, slug, "models"),
            query={"slugs": ",".join(names)},
            extra_headers=extra_headers,
            timeout=timeout,
        )


class AsyncIntegrationWorkspaces(AsyncAPIResource):
    """Which workspaces may use an integration: ``client.integrations.workspaces``."""

    __slots__ = ()

    with_raw_response = raw_response_view(AsyncIntegrationWorkspacesWithRawResponse)

    def list(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[IntegrationWorkspace]:
        """List the workspaces' access to ``slug`` (``GET /integrations/{slug}/workspaces``).

        ::

            async for access in client.integrations.workspaces.list("openai-prod"):
                print(access.id, access.enabled, access.usage_limits)

        The document gives this list no paging parameters: one answer holds it whole
        (``{"workspaces": [...], "total": N}``), so one request is one page.

        Args:
            slug: the integration's slug.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            Every workspace's access (``async for w in ...``), or the page
            (``page = await ...``: ``page.data``, ``page.total``).

        Raises:
            ValueError: a bad ``slug`` or header (no request is sent).
            NotFoundError: no integration has this slug.
        """
        return self._get_page(
            (_PATH, validate_slug(slug), "workspaces"),
            IntegrationWorkspace,
            WholeList("workspaces", identity_fields=("id",)),
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def update(
        self,
        slug: str,
        *,
        workspaces: Sequence[WorkspaceAccess | Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        global_workspace_access: GlobalWorkspaceAccess | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        override_existing_workspace_access: bool | NotGiven = NOT_GIVEN,
        create_default_provider: bool | NotGiven = NOT_GIVEN,
        default_provider_slug: str | NotGiven = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Grant, change or revoke workspaces' access (``PUT .../workspaces``).

        ::

            await client.integrations.workspaces.update(
                "openai-prod",
                workspaces=[
                    WorkspaceAccess(
                        id="ws-team-1", enabled=True, usage_limits=UsageLimits(credit_limit=50)
                    )
                ],
            )

        Limits are sent as the document's arrays of at most one. Retried like a read.

        Args:
            slug: the integration's slug.
            workspaces: each workspace's access, a :class:`WorkspaceAccess` or a mapping of
                one, with ``id`` and ``enabled``.
            global_workspace_access: access for every workspace, present and future (a
                :class:`GlobalWorkspaceAccess` or mapping with ``enabled``).
            override_existing_workspace_access: whether the global settings replace each
                workspace's own.
            create_default_provider: whether granting access creates a default provider in
                the workspace (Portkey's default: yes).
            default_provider_slug: that provider's slug (letters, digits, ``_`` and ``-``).
            extra_body: more JSON fields to send.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            TypeError, ValueError: a bad argument, or nothing to change (no request is sent).
            NotFoundError: no integration has this slug.
        """
        slug = validate_slug(slug)
        body = _params.Body()
        if not isinstance(workspaces, NotGiven):
            body.add("workspaces", _required_items(workspaces, WorkspaceAccess, "workspaces", "id"))
        if not isinstance(global_workspace_access, NotGiven):
            access = _params.model_value(
                global_workspace_access, GlobalWorkspaceAccess, "global_workspace_access"
            )
            if access.get("enabled") is None:
                raise ValueError("global_workspace_access needs 'enabled'")
            body.add("global_workspace_access", _limits_as_arrays(access))
        body.add(
            "override_existing_workspace_access",
            _params.optional_bool(
                override_existing_workspace_access, "override_existing_workspace_access"
            ),
        )
        body.add(
            "create_default_provider",
            _params.optional_bool(create_default_provider, "create_default_provider"),
        )
        body.add(
            "default_provider_slug", _chosen_slug(default_provider_slug, "default_provider_slug")
        )
        body.merge(extra_body)
        if not body:
            raise ValueError("update() needs at least one field to change")
        return await self._put(
            (_PATH, slug, "workspaces"),
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
        )


class AsyncIntegrations(AsyncAPIResource):
    """Portkey integrations: ``client.integrations.list()``, ``retrieve``, ``create``, ...

    ``client.integrations.models`` and ``client.integrations.workspaces`` manage which models
    an integration serves and which workspaces may use it.
    """

    __slots__ = ("models", "workspaces")
    _path = _PATH

    models: AsyncIntegrationModels
    """An integration's models: list, enable or disable (``update``), delete custom ones."""
    workspaces: AsyncIntegrationWorkspaces
    """Which workspaces may use an integration: list, grant or revoke (``update``)."""

    with_raw_response = raw_response_view(AsyncIntegrationsWithRawResponse)

    def __init__(
        self, config: ClientConfig, transport: AsyncTransport, cache: Cache | None = None
    ) -> None:
        super().__init__(config, transport, cache)
        self.models = AsyncIntegrationModels(config, transport, cache)
        self.workspaces = AsyncIntegrationWorkspaces(config, transport, cache)

    def list(
        self,
        *,
        page_size: int = 100,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        type: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[Integration]:
        """List integrations (``GET /integrations``), paged for you.

        ::

            async for integration in client.integrations.list(type="organisation"):
                print(integration.slug, integration.ai_provider_id)

        List items carry the summary fields; :meth:`retrieve` adds ``masked_key`` and
        ``configurations``.

        Args:
            page_size: integrations per page, 1 to 1000 (Portkey's default is 100).
            workspace_id: only integrations this workspace can use; ``None`` for no filter.
                Not given: the client's ``workspace_id``.
            type: ``workspace`` (workspace-scoped only), ``organisation`` (organisation-level
                only) or ``all``; ``None`` leaves it to the server (``all``).
            extra_headers: headers added to these requests only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            Every integration, page after page (``async for i in client.integrations.list()``), or
            the first page alone (``page = await client.integrations.list()``: ``page.data``,
            ``page.total``, ``page.has_next_page()``, ``page.get_next_page()``).

        Raises:
            TypeError, ValueError: a bad ``page_size``, ``workspace_id``, ``type`` or header
                (no request is sent).
        """
        return self._get_offset_page(
            (_PATH,),
            Integration,
            page_size,
            query={"workspace_id": self._workspace(workspace_id), "type": _type(type)},
            extra_headers=extra_headers,
            timeout=timeout,
        )

    @cached_read
    async def retrieve(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Integration:
        """Retrieve the integration ``slug`` with its details (``GET /integrations/{slug}``).

        The provider key is only ever shown masked (``masked_key``), and so are the sensitive
        ``configurations`` fields.

        Args:
            slug: the integration's slug, sent as exactly one percent-encoded path segment.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            The integration, with ``masked_key`` and ``configurations``.

        Raises:
            ValueError: a bad ``slug`` (no request is sent).
            NotFoundError: no integration has this slug.
            APIResponseValidationError: the answer was not an integration.
        """
        return await self._cached_get(
            (_PATH, validate_slug(slug)),
            Integration,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    @_params.carries_secrets("key", "configurations", "secret_mappings", "extra_body")
    async def create(
        self,
        *,
        name: str,
        ai_provider_id: str,
        key: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven = NOT_GIVEN,
        workspace_id: str | NotGiven = NOT_GIVEN,
        slug: str | NotGiven = NOT_GIVEN,
        configurations: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        create_default_provider: bool | NotGiven = NOT_GIVEN,
        default_provider_slug: str | NotGiven = NOT_GIVEN,
        secret_mappings: Sequence[SecretMapping | Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ResourceRef:
        """Create an integration (``POST /integrations``); return its id and slug.

        ::

            ref = await client.integrations.create(
                name="openai-prod", ai_provider_id="openai", key=os.environ["OPENAI_API_KEY"]
            )
            await client.providers.create(name="Prod", integration_id=ref.slug)

        The provider ``key`` and every secret in ``configurations`` are secrets like the API
        key: never in a repr, a log line or an error. Omitted arguments are not sent; without
        ``workspace_id`` the integration is organisation-level (the client's ``workspace_id``
        is not used: an integration's scope is chosen, not defaulted). Retried only when the
        request certainly did not reach the server or on 429.

        Args:
            name: the integration's display name.
            ai_provider_id: the AI provider, e.g. ``openai``, ``azure-openai``, ``bedrock``.
            key: the provider's API key, if it needs one.
            description: a free-text description.
            workspace_id: the workspace it belongs to (a workspace-scoped integration).
            slug: its slug (letters, digits, ``_`` and ``-``); by default Portkey derives one.
            configurations: provider settings (``{"aws_region": ..., "aws_secret_access_key":
                ...}``), sent as given, unknown fields included.
            create_default_provider: whether a workspace-scoped integration gets a default
                provider (Portkey's default: yes).
            default_provider_slug: that provider's slug.
            secret_mappings: fields filled from secret references.
            extra_body: more JSON fields to send, for what this SDK does not know yet.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            The new integration's ``slug`` and ``id``.

        Raises:
            TypeError, ValueError: an argument of the wrong type or value (no request is sent).
            ConflictError: an integration already has this ``slug``.
            APIStatusError, APIConnectionError: the create failed (see above for retries).
        """
        body = _params.Body()
        body.add("name", _params.required_str(name, "name"))
        body.add("ai_provider_id", _params.required_str(ai_provider_id, "ai_provider_id"))
        body.add("key", _params.optional_nonempty_str(key, "key"))
        body.add("description", _params.optional_str(description, "description", nullable=False))
        if not isinstance(workspace_id, NotGiven):
            body.add("workspace_id", _params.required_str(workspace_id, "workspace_id"))
        body.add("slug", _chosen_slug(slug, "slug"))
        body.add("configurations", _configurations(configurations))
        body.add(
            "create_default_provider",
            _params.optional_bool(create_default_provider, "create_default_provider"),
        )
        body.add(
            "default_provider_slug", _chosen_slug(default_provider_slug, "default_provider_slug")
        )
        body.add("secret_mappings", _mappings(secret_mappings))
        body.merge(extra_body)
        secrets = _params.Secrets(_secrets(key, body.data))
        # Not frame locals while the request runs: error reporters send those.
        del key, configurations, secret_mappings, extra_body
        return await self._post(
            (_PATH,),
            ResourceRef,
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets.values,
        )

    @_params.carries_secrets("key", "configurations", "secret_mappings", "extra_body")
    async def update(
        self,
        slug: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven = NOT_GIVEN,
        key: str | NotGiven = NOT_GIVEN,
        configurations: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        secret_mappings: Sequence[SecretMapping | Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        pricing_adjustments: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change an integration (``PUT /integrations/{slug}``); rotate its secret with ``key``.

        ::

            await client.integrations.update("openai-prod", key=new_secret)

        Only the given fields are sent. Retried like a read: the same update twice has the
        same effect as once. A cached ``retrieve`` of it is dropped.

        Args:
            slug: the integration's slug.
            name: a new display name.
            description: a new description.
            key: a new provider API key (a secret, never shown anywhere).
            configurations: new provider settings, sent as given (secrets in them are kept
                out of every repr, log and error).
            secret_mappings: new secret mappings.
            pricing_adjustments: pricing multipliers (``{"multiplier": {"default": 0.8}}``),
                or ``None`` to remove them.
            extra_body: more JSON fields to send.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            ValueError: no field to change, or a bad ``slug`` (no request is sent).
            TypeError: an argument of the wrong type (no request is sent).
            NotFoundError: no integration has this slug.
        """
        slug = validate_slug(slug)
        body = _params.Body()
        body.add("name", _params.optional_nonempty_str(name, "name"))
        body.add("description", _params.optional_str(description, "description", nullable=False))
        body.add("key", _params.optional_nonempty_str(key, "key"))
        body.add("configurations", _configurations(configurations))
        body.add("secret_mappings", _mappings(secret_mappings))
        body.add("pricing_adjustments", _pricing(pricing_adjustments))
        body.merge(extra_body)
        if not body:
            raise ValueError("update() needs at least one field to change")
        secrets = _params.Secrets(_secrets(key, body.data))
        del key, configurations, secret_mappings, extra_body  # not frame locals while it runs
        return await self._put(
            (_PATH, slug),
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets.values,
        )

    async def delete(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Delete an integration (``DELETE /integrations/{slug}``).

        Retried like a read. When an attempt may have reached the server (a timeout, a dropped
        connection, a 5xx) and a retry then gets 404, the integration is gone and the delete
        succeeds.

        Args:
            slug: the integration's slug.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            ValueError: a bad ``slug`` (no request is sent).
            NotFoundError: no integration has this slug.
        """
        return await self._delete(
            (_PATH, validate_slug(slug)), extra_headers=extra_headers, timeout=timeout
        )


def configuration_secrets(value: object) -> tuple[str, ...]:
    """The secret strings in an integration's ``configurations`` (to scrub like the API key).

    A field is secret when the document says so (``aws_secret_access_key``,
    ``azure_entra_client_secret``, every string in ``vertex_service_account_json``) or its name
    ends in ``_secret``, ``_key`` (but not ``_key_id``), ``_token`` or ``password``; nested
    objects are searched too.
    """
    found: list[str] = []

    def every_string(item: object) -> None:
        if isinstance(item, str):
            if item:
                found.append(item)
        elif isinstance(item, Mapping):
            for inner in item.values():
                every_string(inner)
        elif isinstance(item, list | tuple):
            for inner in item:
                every_string(inner)

    def walk(item: object) -> None:
        if isinstance(item, Mapping):
            for name, inner in item.items():
                if isinstance(name, str) and _is_secret_field(name):
                    every_string(inner)
                else:
                    walk(inner)
        elif isinstance(item, list | tuple):
            for inner in item:
                walk(inner)

    walk(value)
    return tuple(found)


def _is_secret_field(name: str) -> bool:
    lowered = name.lower()
    if lowered in _SECRET_FIELDS:
        return True
    if lowered.endswith("_key_id"):
        return False
    return lowered.endswith(_SECRET_SUFFIXES)


def _secrets(key: object, body: Mapping[str, Any]) -> tuple[str, ...]:
    # The body's own fields too: a key or configurations passed through extra_body is as secret.
    keys = {k for k in (key, body.get("key")) if isinstance(k, str) and k}
    return (
        *keys,
        *configuration_secrets(body.get("configurations")),
        *_params.secrets_in_mappings(body.get("secret_mappings")),
    )


def _configurations(value: object) -> Any:
    if isinstance(value, NotGiven):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"configurations must be a mapping, got {type(value).__name__}")
    # Sent as given, unknown fields included; only checked to be JSON (its repr is not shown).
    return _params.json_value(value, "configurations")


def _pricing(value: object) -> Any:
    if isinstance(value, NotGiven) or value is None:
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"pricing_adjustments must be a mapping, got {type(value).__name__}")
    return _params.json_value(value, "pricing_adjustments")


def _mappings(value: object) -> Any:
    if value is None:
        raise TypeError("secret_mappings must be a sequence of SecretMapping, not None")
    return _params.secret_mappings(value)


def _chosen_slug(value: object, name: str) -> Any:
    """A slug the caller chooses for something a create makes, checked as the document says."""
    if isinstance(value, NotGiven):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not _SLUG_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be 1 to 255 letters, digits, '_' or '-', got {value!r}")
    return value


def _required_items(value: object, cls: type[Any], name: str, first: str) -> list[Any]:
    """A sequence of ``cls`` models or mappings as JSON, each with ``first`` and ``enabled``."""
    if isinstance(value, NotGiven) or value is None:
        raise TypeError(f"{name} must be a sequence of {cls.__name__}, got {type(value).__name__}")
    items: list[Any] = _params.model_list(value, cls, name)
    for index, item in enumerate(items):
        for required in (first, "enabled"):
            if item.get(required) is None:
                raise ValueError(f"{name}[{index}] needs {required!r}")
        items[index] = _limits_as_arrays(item)
    return items


def _limits_as_arrays(item: dict[str, Any]) -> dict[str, Any]:
    # The document takes workspace limits as arrays of at most one; one object is sent so.
    for field in ("usage_limits", "rate_limits"):
        if isinstance(item.get(field), dict):
            item = {**item, field: [item[field]]}
    return item


def _type(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"type must be a str or None, got {type(value).__name__}")
    if value not in INTEGRATION_TYPES:
        raise ValueError(f"type must be one of {', '.join(INTEGRATION_TYPES)}; got {value!r}")
    return value
