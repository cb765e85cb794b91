"""API resources: one module per resource of the control plane."""

from portkey_vk.resources.virtual_keys import AsyncVirtualKeys, AsyncVirtualKeysWithRawResponse

__all__ = ["AsyncVirtualKeys", "AsyncVirtualKeysWithRawResponse"]
