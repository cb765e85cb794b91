"""Provider, Integration and the base a provider shares with a virtual key.

The shapes are the spec's (``Providers``, ``IntegrationList``, ``IntegrationDetailResponse``);
what the live API adds is kept in ``extra``, and VirtualKey is exactly what it was before it had
a base class.
"""

from __future__ import annotations

import typing
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from portkey_vk import (
    APIResponseValidationError,
    AzureDeployment,
    GlobalWorkspaceAccess,
    Integration,
    IntegrationConfigurations,
    IntegrationObject,
    IntegrationStatus,
    Provider,
    ProviderBase,
    ProviderObject,
    ProviderStatus,
    RateLimit,
    UsageLimits,
    VirtualKey,
    VirtualKeyStatus,
)

PROVIDER = {
    "name": "Open AI Workspace",
    "integration_id": "my-openai-integration",
    "note": "randomness",
    "status": "expired",
    "usage_limits": {"credit_limit": 10, "periodic_reset": "monthly", "alert_threshold": 8},
    "reset_usage": 0,
    "created_at": "2025-08-27T10:00:00Z",
    "slug": "prod-openai",
    "rate_limits": [{"type": "requests", "unit": "rpm", "value": 100}],
    "expires_at": "2026-01-01T00:00:00.000Z",
    "object": "provider",
    # Not in the spec; the live API sends them.
    "id": "7b3f5c1e-0000-4000-8000-000000000001",
    "ai_provider_id": "openai",
    "workspace_id": "ws-1",
}

INTEGRATION = {
    "id": "7b3f5c1e-0000-4000-8000-000000000002",
    "organisation_id": "7b3f5c1e-0000-4000-8000-000000000003",
    "ai_provider_id": "azure-openai",
    "name": "Azure prod",
    "status": "archived",
    "created_at": "2025-08-27T10:00:00Z",
    "last_updated_at": None,
    "slug": "azure-prod",
    "description": "the team's Azure",
    "object": "integration",
    "masked_key": "sk-****abcd",
    "configurations": {
        "azure_auth_mode": "entra",
        "azure_resource_name": "res",
        "azure_deployment_config": [
            {
                "azure_api_version": "2024-06-01",
                "azure_deployment_name": "gpt4o",
                "azure_model_slug": "gpt-4o",
                "is_default": True,
                "alias": "main",
            }
        ],
        "azure_entra_tenant_id": "tenant",
        "masked_azure_entra_client_secret": "abc****wxyz",
        "masked_something_new": "****",
    },
    "global_workspace_access_settings": {
        "enabled": True,
        "usage_limits": [{"credit_limit": 5, "type": "cost"}],
        "rate_limits": None,
    },
    "allow_all_models": False,
    "workspace_count": 3,
    "secret_mappings": [{"target_field": "key", "secret_reference_id": "vault-ref"}],
    "pricing_adjustments": {"multiplier": {"default": 0.8}},
}


def test_provider_reads_the_spec_shape_and_keeps_unknown_fields() -> None:
    provider = Provider.from_dict(PROVIDER)
    assert provider.slug == "prod-openai"
    assert provider.integration_id == "my-openai-integration"
    assert provider.status is ProviderStatus.EXPIRED
    assert provider.object is ProviderObject.PROVIDER
    assert provider.usage_limits == UsageLimits(
        credit_limit=10, periodic_reset="monthly", alert_threshold=8
    )
    assert provider.rate_limits == (RateLimit(type="requests", unit="rpm", value=100),)
    assert provider.created_at == datetime(2025, 8, 27, 10, tzinfo=timezone.utc)
    assert provider.ai_provider_id == "openai"
    # Typed since issue 21 (the official SDKs read it); it was kept in `extra` before.
    assert provider.workspace_id == "ws-1"
    assert provider.extra == {}
    assert Provider.from_dict(provider.to_dict()) == provider
    assert provider.to_dict()["workspace_id"] == "ws-1"


@pytest.mark.parametrize("status", ["active", "exhausted", "expired"])
def test_provider_status_knows_the_documented_values(status: str) -> None:
    member = Provider.from_dict({"status": status}).status
    assert member is not None
    assert member.known
    assert member == status


def test_provider_status_is_open() -> None:
    member = Provider.from_dict({"status": "suspended"}).status
    assert member is not None
    assert not member.known
    assert member == "suspended"
    assert Provider.from_dict({"status": "suspended"}).to_dict()["status"] == "suspended"


def test_provider_and_virtual_key_share_their_base() -> None:
    assert issubclass(Provider, ProviderBase)
    assert issubclass(VirtualKey, ProviderBase)
    shared = {f.name for f in attrs.fields(ProviderBase)}
    assert shared <= {f.name for f in attrs.fields(Provider)}
    assert shared <= {f.name for f in attrs.fields(VirtualKey)}
    # Each types its own status: a virtual key has no "expired", a provider does.
    assert typing.get_type_hints(VirtualKey)["status"] == VirtualKeyStatus | None
    assert typing.get_type_hints(Provider)["status"] == ProviderStatus | None
    assert not hasattr(Provider, "model_config")
    assert Provider() != VirtualKey()


def test_virtual_key_fields_keep_their_order() -> None:
    # repr, to_dict and positional arguments are as before the base class existed.
    assert [f.name for f in attrs.fields(VirtualKey)] == [
        "slug",
        "name",
        "note",
        "status",
        "usage_limits",
        "reset_usage",
        "created_at",
        "expires_at",
        "model_config",
        "rate_limits",
        "secret_mappings",
        "object",
        "id",
        "ai_provider_name",
        "key",
        "masked_api_key",
        "integration_id",
        "last_reset_at",
        "tags",
        "extra",
    ]
    assert VirtualKey("s", "n").name == "n"
    assert repr(VirtualKey(slug="s", key="sk-hidden-value")).startswith(
        "VirtualKey(slug='s', name=None"
    )
    assert "sk-hidden-value" not in repr(VirtualKey(slug="s", key="sk-hidden-value"))


def test_models_are_frozen() -> None:
    provider = Provider(slug="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        provider.slug = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        provider.__dict__  # noqa: B018 - slotted: no instance dict


def test_integration_detail_is_typed_as_far_as_the_spec_goes() -> None:
    integration = Integration.from_dict(INTEGRATION)
    assert integration.status is IntegrationStatus.ARCHIVED
    assert integration.object is IntegrationObject.INTEGRATION
    assert integration.last_updated_at is None
    assert integration.masked_key == "sk-****abcd"
    config = integration.configurations
    assert isinstance(config, IntegrationConfigurations)
    assert config.azure_auth_mode == "entra"
    assert config.masked_azure_entra_client_secret == "abc****wxyz"
    assert config.azure_deployment_config == (
        AzureDeployment(
            alias="main",
            azure_api_version="2024-06-01",
            azure_deployment_name="gpt4o",
            is_default=True,
            azure_model_slug="gpt-4o",
        ),
    )
    assert config.extra == {"masked_something_new": "****"}
    assert "masked_something_new" not in repr(config)
    assert integration.global_workspace_access_settings == GlobalWorkspaceAccess(
        enabled=True, usage_limits=(UsageLimits(credit_limit=5, type="cost"),)
    )
    assert integration.allow_all_models is False
    assert integration.workspace_count == 3
    assert integration.secret_mappings is not None
    assert integration.secret_mappings[0].secret_reference_id == "vault-ref"
    assert integration.pricing_adjustments == {"multiplier": {"default": 0.8}}
    assert Integration.from_dict(integration.to_dict()) == integration


def test_a_list_item_has_no_details() -> None:
    summary = {k: INTEGRATION[k] for k in ("id", "slug", "name", "status", "object")}
    integration = Integration.from_dict(summary)
    assert integration.configurations is None
    assert integration.masked_key is None
    assert integration.extra == {}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"allow_all_models": 1}, "$.allow_all_models"),
        ({"allow_all_models": "true"}, "$.allow_all_models"),
        ({"workspace_count": True}, "$.workspace_count"),
        (
            {"configurations": {"azure_deployment_config": [{"is_default": "yes"}]}},
            "$.configurations.azure_deployment_config[0].is_default",
        ),
        (
            {"global_workspace_access_settings": {"enabled": 0}},
            "$.global_workspace_access_settings.enabled",
        ),
    ],
)
def test_booleans_are_strict(data: dict[str, Any], path: str) -> None:
    # A boolean is a JSON true/false: 1 or "true" is a server bug, not a value to guess at.
    with pytest.raises(APIResponseValidationError) as info:
        Integration.from_dict(data)
    assert path in info.value.message


def test_a_wrong_type_names_the_provider_field() -> None:
    with pytest.raises(APIResponseValidationError, match=r"\$\.integration_id"):
        Provider.from_dict({"integration_id": 5})


def test_a_model_built_with_plain_strings_for_enums_serialises() -> None:
    # What a caller writes to pass limits to create/update: attrs fields do not convert.
    limits = UsageLimits(credit_limit=5, type="cost", periodic_reset="weekly")
    assert limits.to_dict()["type"] == "cost"
    assert limits.to_dict()["periodic_reset"] == "weekly"
    assert RateLimit(type="requests", unit="rpm").to_dict() == {
        "type": "requests",
        "unit": "rpm",
        "value": None,
    }
