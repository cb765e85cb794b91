"""``client.integrations``: list and retrieve Portkey integrations (read-only).

An integration holds an AI provider's credentials (organisation-wide or for one workspace);
providers are created on it (``client.providers.create(integration_id=<its slug>)``). This SDK
only reads integrations: their keys are managed in Portkey's app or API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from portkey_vk._cache import cached_read
from portkey_vk._models import Integration
from portkey_vk._pagination import AsyncPaginator
from portkey_vk._raw import AsyncIntegrationsWithRawResponse
from portkey_vk._resource import AsyncAPIResource, raw_response_view, validate_slug
from portkey_vk._types import NOT_GIVEN, NotGiven

__all__ = ["INTEGRATION_TYPES", "AsyncIntegrations"]

_PATH: Final = "integrations"

INTEGRATION_TYPES: Final = ("workspace", "organisation", "all")
"""What ``client.integrations.list(type=...)`` accepts."""


class AsyncIntegrations(AsyncAPIResource):
    """Portkey integrations, read-only: ``client.integrations.list()`` and ``retrieve(slug)``."""

    __slots__ = ()

    with_raw_response = raw_response_view(AsyncIntegrationsWithRawResponse)

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


def _type(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"type must be a str or None, got {type(value).__name__}")
    if value not in INTEGRATION_TYPES:
        raise ValueError(f"type must be one of {', '.join(INTEGRATION_TYPES)}; got {value!r}")
    return value
