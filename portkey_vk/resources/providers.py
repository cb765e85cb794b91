"""``client.providers``: list, retrieve, create, update and delete Portkey providers.

Providers replace virtual keys: a provider draws its credentials from an integration and adds
its own limits; requests name it in the model string (``model="@prod-openai/gpt-4o"``). The
async class here is the only place these operations are written; the sync facade
(:mod:`portkey_vk._sync`) is generated from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from portkey_vk import _params
from portkey_vk._cache import cached_read
from portkey_vk._models import Provider, RateLimit, ResourceRef, UsageLimits
from portkey_vk._pagination import AsyncPaginator
from portkey_vk._raw import AsyncProvidersWithRawResponse
from portkey_vk._resource import AsyncAPIResource, raw_response_view, validate_slug
from portkey_vk._types import NOT_GIVEN, NotGiven

__all__ = ["AsyncProviders"]

_PATH: Final = "providers"


class AsyncProviders(AsyncAPIResource):
    """Portkey providers: ``await client.providers.retrieve(slug)`` and the rest.

    Every operation takes a ``workspace_id``: not given, the client's ``workspace_id`` is used;
    ``None`` sends none for that call (a workspace API key implies its own workspace; an
    organisation admin key needs one).
    """

    __slots__ = ()
    _path = _PATH

    with_raw_response = raw_response_view(AsyncProvidersWithRawResponse)

    def list(
        self,
        *,
        page_size: int = 50,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncPaginator[Provider]:
        """List providers (``GET /providers?current_page=N&page_size=M``), paged for you.

        ::

            async for provider in client.providers.list():       # every one, every page
                ...
            page = await client.providers.list(page_size=20)      # the first page only

        Args:
            page_size: providers per page, 1 to 1000.
            workspace_id: only this workspace's providers; ``None`` for no workspace filter.
                Not given: the client's ``workspace_id``.
            extra_headers: headers added to these requests only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            Every provider, page after page (``async for p in client.providers.list()``), or
            the first page alone (``page = await client.providers.list()``: ``page.data``,
            ``page.total``, ``page.has_next_page()``, ``page.get_next_page()``).

        Raises:
            TypeError, ValueError: a bad ``page_size``, ``workspace_id`` or header (no request
                is sent).
        """
        return self._get_offset_page(
            (_PATH,),
            Provider,
            page_size,
            query={"workspace_id": self._workspace(workspace_id)},
            extra_headers=extra_headers,
            timeout=timeout,
        )

    @cached_read
    async def retrieve(
        self,
        slug: str,
        *,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Provider:
        """Retrieve the provider ``slug`` (``GET /providers/{slug}``).

        Args:
            slug: the provider's slug, sent as exactly one percent-encoded path segment.
            workspace_id: the workspace to look in; ``None`` for none. Not given: the client's
                ``workspace_id``.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            The provider.

        Raises:
            ValueError: ``slug`` is empty, not a str, or has control characters (no request is
                sent).
            NotFoundError: no provider has this slug (in this workspace).
            AuthenticationError, APIStatusError, APIConnectionError, APITimeoutError: as for
                every call.
            APIResponseValidationError: the answer was not a provider.
        """
        return await self._cached_get(
            (_PATH, validate_slug(slug)),
            Provider,
            query={"workspace_id": self._workspace(workspace_id)},
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def create(
        self,
        *,
        name: str,
        integration_id: str,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        slug: str | NotGiven = NOT_GIVEN,
        note: str | NotGiven | None = NOT_GIVEN,
        usage_limits: UsageLimits | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        rate_limits: RateLimit
        | Mapping[str, Any]
        | Sequence[RateLimit | Mapping[str, Any]]
        | NotGiven
        | None = NOT_GIVEN,
        expires_at: datetime | NotGiven | None = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ResourceRef:
        """Create a provider on an integration (``POST /providers``); return its id and slug.

        ::

            ref = await client.providers.create(name="Prod OpenAI", integration_id="openai-org")
            ref.slug  # use it as model="@<slug>/gpt-4o"

        The integration holds the AI provider's credentials, so a provider takes no secret.
        Omitted arguments are not sent; ``None`` is sent as ``null``. Retried only when the
        request certainly did not reach the server (connection refused, DNS, TLS handshake) or
        on 429; after a timeout, a dropped connection or a 5xx the error says the provider may
        or may not have been created.

        Args:
            name: the provider's display name.
            integration_id: the integration's slug (what ``client.integrations.list()`` gives
                as ``slug``).
            workspace_id: the workspace to create it in, sent in the body (org-admin API keys
                need one); ``None`` for none. Not given: the client's ``workspace_id``.
            slug: the slug to give it; by default Portkey derives one from ``name`` plus a
                random suffix.
            note: a free-text note.
            usage_limits: a :class:`UsageLimits` or mapping.
            rate_limits: one :class:`RateLimit` or mapping, sent as the object the API
                documents; a sequence is sent as an array.
            expires_at: a timezone-aware expiry time.
            extra_body: more JSON fields to send, for what this SDK does not know yet.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Returns:
            The new provider's ``slug`` and ``id`` (Portkey answers with a bare
            ``{"id", "slug"}``).

        Raises:
            TypeError, ValueError: an argument of the wrong type or value (no request is sent).
            ConflictError: a provider already has this ``slug``.
            APIStatusError, APIConnectionError: the create failed (see above for retries).
        """
        body = _params.Body()
        body.add("name", _params.required_str(name, "name"))
        body.add("integration_id", _params.required_str(integration_id, "integration_id"))
        workspace = self._workspace(workspace_id)
        if workspace is not None:
            body.add("workspace_id", workspace)
        if not isinstance(slug, NotGiven):
            body.add("slug", validate_slug(_params.optional_str(slug, "slug", nullable=False)))
        body.add("note", _params.optional_str(note, "note"))
        body.add("usage_limits", _params.usage_limits(usage_limits))
        body.add("rate_limits", _params.rate_limits_as_documented(rate_limits))
        body.add("expires_at", _params.timestamp(expires_at, "expires_at"))
        body.merge(extra_body)
        return await self._post(
            (_PATH,),
            ResourceRef,
            json_body=body.data,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def update(
        self,
        slug: str,
        *,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        name: str | NotGiven = NOT_GIVEN,
        note: str | NotGiven | None = NOT_GIVEN,
        usage_limits: UsageLimits | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        rate_limits: RateLimit
        | Mapping[str, Any]
        | Sequence[RateLimit | Mapping[str, Any]]
        | NotGiven
        | None = NOT_GIVEN,
        expires_at: datetime | NotGiven | None = NOT_GIVEN,
        reset_usage: bool | NotGiven = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change a provider (``PUT /providers/{slug}``).

        ::

            await client.providers.update("prod-openai", note="EU traffic", reset_usage=True)

        Only the given fields are sent; ``None`` clears a field (``note``, ``usage_limits``,
        ``rate_limits``, ``expires_at``). Retried like a read: sending the same update twice
        has the same effect as once.

        Args:
            slug: the provider's slug.
            workspace_id: the workspace it is in, sent in the query; ``None`` for none. Not
                given: the client's ``workspace_id``.
            name: a new display name.
            note: a new note, or ``None`` to clear it.
            usage_limits: new usage limits, or ``None`` to remove them.
            rate_limits: new rate limits (one, sent as an object, or a sequence, sent as an
                array), or ``None`` to remove them.
            expires_at: a new timezone-aware expiry, or ``None`` for none.
            reset_usage: ``True`` resets the usage counted against the limits.
            extra_body: more JSON fields to send.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            ValueError: no field to change, or a bad ``slug`` (no request is sent).
            TypeError: an argument of the wrong type (no request is sent).
            NotFoundError: no provider has this slug (in this workspace).
        """
        slug = validate_slug(slug)
        params = {"workspace_id": self._workspace(workspace_id)}
        body = _params.Body()
        body.add("name", _params.optional_nonempty_str(name, "name"))
        body.add("note", _params.optional_str(note, "note"))
        body.add("usage_limits", _params.usage_limits(usage_limits))
        body.add("rate_limits", _params.rate_limits_as_documented(rate_limits))
        body.add("expires_at", _params.timestamp(expires_at, "expires_at"))
        body.add("reset_usage", _params.optional_bool(reset_usage, "reset_usage"))
        body.merge(extra_body)
        if not body:
            raise ValueError("update() needs at least one field to change")
        return await self._put(
            (_PATH, slug),
            json_body=body.data,
            query=params,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def delete(
        self,
        slug: str,
        *,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Delete a provider (``DELETE /providers/{slug}``).

        Retried like a read. When an attempt may have reached the server (a timeout, a dropped
        connection, a 5xx) and a retry then gets 404, the provider is gone and the delete
        succeeds.

        Args:
            slug: the provider's slug.
            workspace_id: the workspace it is in; ``None`` for none. Not given: the client's
                ``workspace_id``.
            extra_headers: headers added to this request only.
            timeout: seconds for each attempt, overriding the client's.

        Raises:
            ValueError: a bad ``slug`` (no request is sent).
            NotFoundError: no provider has this slug (in this workspace).
        """
        return await self._delete(
            (_PATH, validate_slug(slug)),
            query={"workspace_id": self._workspace(workspace_id)},
            extra_headers=extra_headers,
            timeout=timeout,
        )
