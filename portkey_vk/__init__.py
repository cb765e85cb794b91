"""portkey_vk: a fast, typed SDK for reading Portkey virtual keys, async and sync.

::

    from portkey_vk import AsyncPortkey, Portkey

    async with AsyncPortkey() as client:
        vk = await client.virtual_keys.retrieve(slug="my-openai-key")

    with Portkey() as client:
        vk = client.virtual_keys.retrieve(slug="my-openai-key")
"""

from typing import TYPE_CHECKING, Any

from portkey_vk._cache import Cache, CacheStats
from portkey_vk._client import AsyncPortkey
from portkey_vk._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    InsecureTransportWarning,
)
from portkey_vk._errors import (
    APIConnectionError,
    APIError,
    APIResponseTooLargeError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailure,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PortkeyError,
    RateLimitError,
    UnprocessableEntityError,
)
from portkey_vk._models import (
    AzureDeployment,
    GlobalWorkspaceAccess,
    Integration,
    IntegrationConfigurations,
    IntegrationModel,
    IntegrationModelUpdate,
    IntegrationObject,
    IntegrationStatus,
    IntegrationWorkspace,
    PeriodicReset,
    Provider,
    ProviderBase,
    ProviderObject,
    ProviderStatus,
    RateLimit,
    RateLimitType,
    RateLimitUnit,
    ResourceRef,
    SecretMapping,
    SecretValueFormat,
    UsageLimits,
    UsageLimitType,
    VirtualKey,
    VirtualKeyObject,
    VirtualKeyStatus,
    WorkspaceAccess,
)
from portkey_vk._pagination import AsyncPage, AsyncPaginator, SyncPage
from portkey_vk._resource import AsyncRawResponseView
from portkey_vk._response import AsyncAPIResponse
from portkey_vk._scrub import UnderlyingError
from portkey_vk._types import NOT_GIVEN, NotGiven
from portkey_vk._version import __version__

if TYPE_CHECKING:
    from portkey_vk._sync import APIResponse, Portkey, RawResponseView

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APIResponseTooLargeError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncAPIResponse",
    "AsyncPage",
    "AsyncPaginator",
    "AsyncPortkey",
    "AsyncRawResponseView",
    "AuthenticationError",
    "AzureDeployment",
    "BadRequestError",
    "Cache",
    "CacheStats",
    "ConflictError",
    "ConnectionFailure",
    "GlobalWorkspaceAccess",
    "InsecureTransportWarning",
    "Integration",
    "IntegrationConfigurations",
    "IntegrationModel",
    "IntegrationModelUpdate",
    "IntegrationObject",
    "IntegrationStatus",
    "IntegrationWorkspace",
    "InternalServerError",
    "NotFoundError",
    "NotGiven",
    "PaymentRequiredError",
    "PeriodicReset",
    "PermissionDeniedError",
    "Portkey",
    "PortkeyError",
    "Provider",
    "ProviderBase",
    "ProviderObject",
    "ProviderStatus",
    "RateLimit",
    "RateLimitError",
    "RateLimitType",
    "RateLimitUnit",
    "RawResponseView",
    "ResourceRef",
    "SecretMapping",
    "SecretValueFormat",
    "SyncPage",
    "UnderlyingError",
    "UnprocessableEntityError",
    "UsageLimitType",
    "UsageLimits",
    "VirtualKey",
    "VirtualKeyObject",
    "VirtualKeyStatus",
    "WorkspaceAccess",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The sync facade pulls in anyio and the portal thread's machinery, a tenth of the import
    # time; an async service never needs it, so it is loaded on first use.
    if name in _SYNC_NAMES:
        from portkey_vk import _sync  # noqa: PLC0415

        return getattr(_sync, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SYNC_NAMES = ("APIResponse", "Portkey", "RawResponseView")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SYNC_NAMES})
