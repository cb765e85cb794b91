"""``FakePortkey``: the server core with every resource's handlers, registered here.

Each base class is one resource's handler module; its ``ROUTES`` joins the route table and its
seed methods (``add_virtual_key``, ...) join the fake. Adding a resource is one more base here.
"""

from __future__ import annotations

from portkey_vk.testing.integrations import Integrations
from portkey_vk.testing.providers import Providers
from portkey_vk.testing.virtual_keys import VirtualKeys

__all__ = ["FakePortkey"]


# The registration of every resource, one base each; their order is the order repr counts them.
class FakePortkey(VirtualKeys, Providers, Integrations):
    """A fake Portkey control plane: virtual keys, providers and integrations.

    It answers a wrong or missing API key with Portkey's 401 body, an unknown route with 404, a
    known route with a method it does not serve with 405, a malformed request with 400 and an
    unknown slug with 404, all in Portkey's ``{"success": false, "data": {"message": ...}}``
    shape. Failures can be scripted with :meth:`fail_next` and slowness with :meth:`delay_next`.
    Everything it received is in :attr:`requests`.

    Args:
        api_key: the one API key it accepts.
        base_path: the API root's path; ``/portkey/v1`` imitates a self-hosted control plane
            behind a path prefix.
        limits_form: ``"document"`` (the default) serves limits as Portkey's OpenAPI document
            spells them (``rate_limits`` an array); ``"object"`` serves every limits field as a
            single object and ``global_workspace_access``, as Portkey's own SDKs read them, so
            code can be tested against both forms (``docs/testing.md``).
    """
