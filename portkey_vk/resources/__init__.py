"""API resources: one module per resource of the control plane, each an AsyncAPIResource."""

from portkey_vk.resources.integrations import AsyncIntegrations
from portkey_vk.resources.providers import AsyncProviders
from portkey_vk.resources.virtual_keys import AsyncVirtualKeys

__all__ = ["AsyncIntegrations", "AsyncProviders", "AsyncVirtualKeys"]
