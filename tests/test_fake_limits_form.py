"""FakePortkey serves limits in either form (issue 21), and the SDK reads both alike."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portkey_vk.testing import FakePortkey
from tests.conftest import Surface

LIMITS = {
    "rate_limits": [{"type": "requests", "unit": "rpm", "value": 60}],
    "usage_limits": {"credit_limit": 10, "type": "cost"},
}


@pytest.fixture(params=["document", "object"])
def served(request: pytest.FixtureRequest) -> Iterator[FakePortkey]:
    with FakePortkey(limits_form=request.param) as fake:
        fake.add_virtual_key("vk", **LIMITS)
        fake.add_integration(
            "openai-prod",
            global_workspace_access_settings={"enabled": True, **LIMITS},
        )
        yield fake


def raw(fake: FakePortkey, path: str) -> Any:
    request = urllib.request.Request(
        fake.base_url + path, headers={"x-portkey-api-key": fake.api_key}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def test_the_wire_says_what_limits_form_asks(served: FakePortkey) -> None:
    item = raw(served, "/providers")["data"][0]
    integration = raw(served, "/integrations/openai-prod")
    if served.limits_form == "object":
        assert item["rate_limits"] == LIMITS["rate_limits"][0]
        assert "global_workspace_access" in integration
        assert "global_workspace_access_settings" not in integration
    else:
        assert item["rate_limits"] == LIMITS["rate_limits"]
        assert "global_workspace_access_settings" in integration


def test_the_sdk_reads_either_form_alike(
    served: FakePortkey, make_client: Callable[..., Surface]
) -> None:
    client = make_client(api_key=served.api_key, base_url=served.base_url)
    vk = client.retrieve("vk")
    provider = client.call("retrieve", "vk", resource="providers")
    listed = client.items(resource="providers")
    integration = client.call("retrieve", "openai-prod", resource="integrations")
    for model in (vk, provider, *listed):
        assert [limit.value for limit in model.rate_limits] == [60]
        assert model.usage_limits.credit_limit == 10
    access = integration.global_workspace_access_settings
    assert access is not None
    assert access.enabled is True


def test_an_unknown_limits_form_is_refused() -> None:
    with pytest.raises(ValueError, match="limits_form"):
        FakePortkey(limits_form="array")
