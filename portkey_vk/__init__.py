"""portkey_vk: a fast, typed SDK for reading Portkey virtual keys, async and sync.

::

    from portkey_vk import AsyncPortkey, Portkey

    async with AsyncPortkey() as client:
        vk = await client.virtual_keys.retrieve(slug="my-openai-key")

    with Portkey() as client:
        vk = client.virtual_keys.retrieve(slug="my-openai-key")
"""

from portkey_vk._client import AsyncPortkey
from portkey_vk._config import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from portkey_vk._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PortkeyError,
    RateLimitError,
    UnprocessableEntityError,
)
from portkey_vk._models import (
    PeriodicReset,
    RateLimit,
    RateLimitType,
    RateLimitUnit,
    SecretMapping,
    SecretValueFormat,
    UsageLimits,
    UsageLimitType,
    VirtualKey,
    VirtualKeyObject,
    VirtualKeyStatus,
)
from portkey_vk._response import AsyncAPIResponse
from portkey_vk._sync import APIResponse, Portkey
from portkey_vk._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncAPIResponse",
    "AsyncPortkey",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PaymentRequiredError",
    "PeriodicReset",
    "PermissionDeniedError",
    "Portkey",
    "PortkeyError",
    "RateLimit",
    "RateLimitError",
    "RateLimitType",
    "RateLimitUnit",
    "SecretMapping",
    "SecretValueFormat",
    "UnprocessableEntityError",
    "UsageLimitType",
    "UsageLimits",
    "VirtualKey",
    "VirtualKeyObject",
    "VirtualKeyStatus",
    "__version__",
]
