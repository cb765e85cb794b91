"""``client.virtual_keys``: retrieve, list, create, update and delete Portkey virtual keys.

The async class here is the only place these operations are written; the sync facade
(:mod:`portkey_vk._sync`) is generated from it and runs these very coroutines. Virtual keys are
deprecated upstream in favour of Providers (``client.providers``); existing keys keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from portkey_vk import _params
from portkey_vk._cache import cached_read
from portkey_vk._models import RateLimit, ResourceRef, SecretMapping, UsageLimits, VirtualKey
from portkey_vk._pagination import AsyncPaginator
from portkey_vk._raw import AsyncVirtualKeysWithRawResponse
from portkey_vk._resource import AsyncAPIResource, raw_response_view, validate_slug
from portkey_vk._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncVirtualKeys"]

_PATH: Final = "virtual-keys"
# Portkey serves each virtual key as a provider of the same slug too: a write to one changes the
# other's cached read.
_PROVIDERS: Final = "providers"


class AsyncVirtualKeys(AsyncAPIResource):
    """Portkey virtual keys: ``await client.virtual_keys.retrieve(slug)`` and the rest.

    Deprecated upstream: virtual keys are superseded by the Providers API, but existing keys keep
    working and Portkey promises to keep serving them, so the SDK issues no runtime warning.
    """

    __slots__ = ()
    _path = _PATH

    with_raw_response = raw_response_view(AsyncVirtualKeysWithRawResponse)

    @cached_read
    async def retrieve(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> VirtualKey:
        """Retrieve the virtual key ``slug`` (``GET /virtual-keys/{slug}``).

        Deprecated upstream in favour of the Providers API; existing virtual keys keep working.
        Served from the client's ``cache`` when it has one (see ``docs/caching.md``).

        Args:
            slug: the virtual key's slug. Sent as exactly one percent-encoded path segment, so
                ``a/b`` or ``..`` reach the server intact.
            extra_headers: headers added to this request only (over the client's defaults).
            timeout: seconds for each attempt (connect + send + read), overriding the client's.

        Returns:
            The virtual key.

        Raises:
            ValueError: ``slug`` is empty, not a str, or has control characters (no request is
                sent).
            AuthenticationError: the API key was refused (401).
            NotFoundError: no virtual key has this slug (404).
            APIStatusError: any other non-2xx answer, after retries where they apply.
            APITimeoutError: every attempt timed out.
            APIConnectionError: the control plane could not be reached.
            APIResponseValidationError: the answer was not a virtual key.
        """
        return await self._cached_get(
            (_PATH, validate_slug(slug)),
            VirtualKey,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    def list(
        self,
        *,
        page_size: int = 50,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[VirtualKey]:
        """List virtual keys (``GET /virtual-keys?current_page=N&page_size=M``), paged for you.

        ::

            async for vk in client.virtual_keys.list():         # every key, every page
                ...
            page = await client.virtual_keys.list(page_size=20)  # the first page only

        Args:
            page_size: keys per page, 1 to 1000.
            workspace_id: only this workspace's keys; ``None`` for no workspace filter. Not given:
                the client's ``workspace_id``.
            extra_headers: headers added to these requests only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            Every key, page after page (``async for vk in client.virtual_keys.list()``),
            fetching up to 4 pages ahead once the total is known; or the first page alone
            (``page = await client.virtual_keys.list()``: ``page.data``, ``page.total``,
            ``page.has_next_page()``, ``page.get_next_page()``, ``page.iter_pages()``).

        Raises:
            TypeError, ValueError: a bad ``page_size``, ``workspace_id`` or header (no request
                is sent).
        """
        return self._get_offset_page(
            (_PATH,),
            VirtualKey,
            page_size,
            query={"workspace_id": self._workspace(workspace_id)},
            extra_headers=extra_headers,
            timeout=timeout,
        )

    @_params.carries_secrets("key", "secret_mappings", "extra_body")
    async def create(
        self,
        *,
        name: str,
        provider: str,
        key: str | NotGiven = NOT_GIVEN,
        note: str | NotGiven | None = NOT_GIVEN,
        usage_limits: UsageLimits | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        rate_limits: RateLimit
        | Mapping[str, Any]
        | Sequence[RateLimit | Mapping[str, Any]]
        | NotGiven
        | None = NOT_GIVEN,
        expires_at: datetime | NotGiven | None = NOT_GIVEN,
        secret_mappings: Sequence[SecretMapping | Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        deployment_config: Sequence[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        api_version: str | NotGiven | None = NOT_GIVEN,
        resource_name: str | NotGiven | None = NOT_GIVEN,
        deployment_name: str | NotGiven | None = NOT_GIVEN,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ResourceRef:
        """Create a virtual key (``POST /virtual-keys``); return its slug.

        ::

            ref = await client.virtual_keys.create(
                name="prod-openai", provider="openai", key=os.environ["OPENAI_API_KEY"]
            )
            ref.slug

        Omitted arguments are not sent; ``None`` is sent as ``null``. The provider ``key`` is
        a secret like the API key: it never appears in a repr, log line or error.

        A create is retried only when the request certainly did not reach the server
        (connection refused, DNS, TLS handshake) or on 429. After a timeout, a dropped
        connection or a 5xx the error says the key may or may not have been created.

        Args:
            name: the key's display name.
            provider: the AI provider, e.g. ``openai``, ``anthropic``, ``azure-openai``.
            key: the provider's API key (optional when ``secret_mappings`` maps ``key``).
            note: a free-text note.
            usage_limits: a :class:`UsageLimits` or mapping.
            rate_limits: one :class:`RateLimit` (or mapping) or a sequence; sent as an array.
            expires_at: a timezone-aware expiry time.
            secret_mappings: fields filled from secret references.
            deployment_config: Azure deployments (``apiVersion``, ``deploymentName``,
                ``alias``, ``is_default``), sent as ``deploymentConfig``.
            api_version: Azure API version, sent as ``apiVersion``.
            resource_name: Azure resource name, sent as ``resourceName``.
            deployment_name: Azure deployment name, sent as ``deploymentName``.
            workspace_id: the workspace to create it in (org-admin API keys need one). Not
                given: the client's ``workspace_id``.
            extra_body: more JSON fields to send, for what this SDK does not know yet.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            TypeError, ValueError: an argument of the wrong type or value (no request is sent).
            APIStatusError, APIConnectionError: the create failed (see above for retries).
        """
        body = _params.Body()
        body.add("name", _params.required_str(name, "name"))
        body.add("provider", _params.required_str(provider, "provider"))
        body.add("key", _params.optional_nonempty_str(key, "key"))
        body.add("note", _params.optional_str(note, "note"))
        body.add("usage_limits", _params.usage_limits(usage_limits))
        body.add("rate_limits", _params.rate_limits(rate_limits))
        body.add("expires_at", _params.timestamp(expires_at, "expires_at"))
        body.add("secret_mappings", _params.secret_mappings(secret_mappings))
        body.add("deploymentConfig", _deployments(deployment_config))
        body.add("apiVersion", _params.optional_str(api_version, "api_version"))
        body.add("resourceName", _params.optional_str(resource_name, "resource_name"))
        body.add("deploymentName", _params.optional_str(deployment_name, "deployment_name"))
        workspace = self._workspace(workspace_id)
        if workspace is not None:
            body.add("workspace_id", workspace)
        body.merge(extra_body)
        secrets = _params.Secrets(_secrets(key, body.data))
        # Not frame locals while the request runs: error reporters send those (Body and
        # Secrets show nothing in their repr).
        del key, extra_body, secret_mappings
        return await self._post(
            (_PATH,),
            ResourceRef,
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets.values,
            invalidates=((_PROVIDERS,),),
        )

    @_params.carries_secrets("key", "secret_mappings", "extra_body")
    async def update(
        self,
        slug: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        key: str | NotGiven = NOT_GIVEN,
        note: str | NotGiven | None = NOT_GIVEN,
        usage_limits: UsageLimits | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        rate_limits: RateLimit
        | Mapping[str, Any]
        | Sequence[RateLimit | Mapping[str, Any]]
        | NotGiven
        | None = NOT_GIVEN,
        expires_at: datetime | NotGiven | None = NOT_GIVEN,
        secret_mappings: Sequence[SecretMapping | Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        deployment_config: Sequence[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change a virtual key (``PUT /virtual-keys/{slug}``); rotate its secret with ``key``.

        ::

            await client.virtual_keys.update("prod-openai", note="rotated", key=new_secret)

        Only the given fields are sent; ``None`` clears a field (``note``, ``usage_limits``,
        ``rate_limits``, ``expires_at``, ``secret_mappings``, ``deployment_config``). Retried
        like a read: sending the same update twice has the same effect as once.

        Args:
            slug: the virtual key's slug.
            name: a new display name.
            key: a new provider API key (a secret, never shown anywhere).
            note: a new note, or ``None`` to clear it.
            usage_limits: new usage limits, or ``None`` to remove them.
            rate_limits: new rate limits (one or a sequence), or ``None`` to remove them.
            expires_at: a new timezone-aware expiry, or ``None`` for none.
            secret_mappings: new secret mappings, or ``None`` to remove them.
            deployment_config: new Azure deployments (sent as ``deploymentConfig``).
            extra_body: more JSON fields to send.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            ValueError: no field to change, or a bad ``slug`` (no request is sent).
            TypeError: an argument of the wrong type (no request is sent).
            NotFoundError: no virtual key has this slug.
        """
        slug = validate_slug(slug)
        body = _params.Body()
        body.add("name", _params.optional_nonempty_str(name, "name"))
        body.add("key", _params.optional_nonempty_str(key, "key"))
        body.add("note", _params.optional_str(note, "note"))
        body.add("usage_limits", _params.usage_limits(usage_limits))
        body.add("rate_limits", _params.rate_limits(rate_limits))
        body.add("expires_at", _params.timestamp(expires_at, "expires_at"))
        body.add("secret_mappings", _params.secret_mappings(secret_mappings))
        body.add("deploymentConfig", _deployments(deployment_config))
        body.merge(extra_body)
        if not body:
            raise ValueError("update() needs at least one field to change")
        secrets = _params.Secrets(_secrets(key, body.data))
        del key, extra_body, secret_mappings  # not frame locals while the request runs
        # Returned, not just awaited: on ``with_raw_response`` it is the raw response.
        return await self._put(
            (_PATH, slug),
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
            secrets=secrets.values,
            invalidates=((_PROVIDERS, slug),),
        )

    async def delete(
        self,
        slug: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Delete a virtual key (``DELETE /virtual-keys/{slug}``).

        Retried like a read. When an attempt may have reached the server (a timeout, a dropped
        connection, a 5xx) and a retry then gets 404, the key is gone and the delete succeeds.

        Raises:
            ValueError: a bad ``slug`` (no request is sent).
            NotFoundError: no virtual key has this slug.
        """
        slug = validate_slug(slug)
        return await self._delete(
            (_PATH, slug),
            extra_headers=extra_headers,
            timeout=timeout,
            invalidates=((_PROVIDERS, slug),),
        )


def _deployments(value: Any) -> Any:
    if isinstance(value, NotGiven) or value is None:
        return value
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise TypeError("deployment_config must be a sequence of mappings")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise TypeError(f"deployment_config[{index}] must be a mapping")
        for required in ("apiVersion", "deploymentName"):
            if not isinstance(item.get(required), str):
                raise ValueError(f"deployment_config[{index}] needs a str {required!r}")  # noqa: TRY004
        out.append(_params.json_value(item, f"deployment_config[{index}]"))
    return out


def _secrets(key: object, body: Mapping[str, Any]) -> tuple[str, ...]:
    # The body's own ``key`` too: one passed through ``extra_body`` is just as secret.
    found = _params.secrets_in_mappings(body.get("secret_mappings"))
    keys = {k for k in (key, body.get("key")) if isinstance(k, str)}
    return (*keys, *found)
