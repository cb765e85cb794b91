"""Every operation of the integrations document answers the SDK correctly, on both surfaces.

The server is :class:`tests.spec_mock.SpecMock` over ``admin-integrations.openapi.yaml``
(``tests/data/openapi``), strict as in ``tests/test_spec_mock.py``: what the SDK sends must fit
the document, and what the document says comes back must parse into the typed models.

What was observed about paging: the document gives ``GET /integrations/{slug}/models`` and
``/workspaces`` no query parameter at all (the mock refuses any), and answers
``{"models": [...], "total": N}``; so the SDK sends none, and one request is the whole list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from portkey_vk import (
    IntegrationModel,
    IntegrationModelUpdate,
    IntegrationWorkspace,
    RateLimit,
    ResourceRef,
    UsageLimits,
    WorkspaceAccess,
)
from tests.conftest import Surface
from tests.spec_mock import SpecMock

SPEC = Path(__file__).parent / "data" / "openapi" / "admin-integrations.openapi.yaml"
DOCUMENT = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
USAGE = UsageLimits(credit_limit=10, periodic_reset="monthly", alert_threshold=8)
RATE = RateLimit(type="requests", unit="rpd", value=1)
UUID = "00000000-0000-4000-8000-000000000000"


def integration_list(client: Surface, mock: SpecMock) -> None:
    (item,) = client.collect(lambda c: c.integrations.list())
    assert (item.slug, item.id) == ("string", UUID)


def integration_create(client: Surface, mock: SpecMock) -> None:
    ref = client.run(
        lambda c: c.integrations.create(
            name="Production OpenAI",
            ai_provider_id="openai",
            key="sk-spec-secret-123456",
            description="prod",
            workspace_id="ws-my-team-1234",
            slug="production-openai",
            create_default_provider=True,
            default_provider_slug="prod-default",
            secret_mappings=[{"target_field": "key", "secret_reference_id": "my-aws-secret"}],
        )
    )
    assert ref == ResourceRef(slug="string", id=UUID)
    assert mock.sent()["key"] == "sk-spec-secret-123456"


def integration_retrieve(client: Surface, mock: SpecMock) -> None:
    integration = client.run(lambda c: c.integrations.retrieve("openai-prod"))
    assert integration.allow_all_models is True
    assert integration.global_workspace_access_settings is not None
    assert integration.global_workspace_access_settings.usage_limits == (USAGE,)


def integration_update(client: Surface, mock: SpecMock) -> None:
    result = client.run(
        lambda c: c.integrations.update(
            "openai-prod",
            name="n",
            description="d",
            key="sk-new-secret-654321",
            secret_mappings=[{"target_field": "key", "secret_reference_id": "r"}],
            pricing_adjustments={"multiplier": {"default": 0.8}},
        )
    )
    assert result is None
    assert mock.sent()["pricing_adjustments"] == {"multiplier": {"default": 0.8}}


def integration_delete(client: Surface, mock: SpecMock) -> None:
    assert client.run(lambda c: c.integrations.delete("openai-prod")) is None


def models_list(client: Surface, mock: SpecMock) -> None:
    page = client.run(lambda c: c.integrations.models.list("openai-prod"))
    assert page.total == 1
    (model,) = page.data
    assert isinstance(model, IntegrationModel)
    assert (model.slug, model.enabled, model.is_custom, model.is_finetune) == (
        "string",
        True,
        True,
        True,
    )
    assert model.pricing_config == {
        "type": "static",
        "pay_as_you_go": {"request_token": {"price": 1}, "response_token": {"price": 1}},
    }
    assert model.extra == {}
    assert client.collect(lambda c: c.integrations.models.list("openai-prod")) == [model]
    # No paging parameter is documented, none is sent: one request per list.
    assert [e.query for e in mock.exchanges] == [{}, {}]


def models_update(client: Surface, mock: SpecMock) -> None:
    client.run(
        lambda c: c.integrations.models.update(
            "openai-prod",
            models=[
                IntegrationModelUpdate(
                    slug="gpt-4o",
                    enabled=True,
                    is_custom=False,
                    configurations={"custom_host": "https://h"},
                    pricing_config={"type": "static"},
                ),
                {"slug": "ft", "enabled": False, "is_finetune": True, "base_model_slug": "b"},
            ],
            allow_all_models=False,
        )
    )
    assert mock.sent()["models"][0]["slug"] == "gpt-4o"


def models_delete(client: Surface, mock: SpecMock) -> None:
    client.run(lambda c: c.integrations.models.delete("openai-prod", slugs=["gpt-4", "ft-1"]))
    assert mock.exchanges[-1].query == {"slugs": ["gpt-4,ft-1"]}


def workspaces_list(client: Surface, mock: SpecMock) -> None:
    (access,) = client.collect(lambda c: c.integrations.workspaces.list("openai-prod"))
    assert access == IntegrationWorkspace(
        id="ws-my-team-1234", enabled=True, usage_limits=(USAGE,), rate_limits=(RATE,)
    )
    assert mock.exchanges[-1].query == {}


def workspaces_update(client: Surface, mock: SpecMock) -> None:
    client.run(
        lambda c: c.integrations.workspaces.update(
            "openai-prod",
            workspaces=[
                WorkspaceAccess(
                    id="ws-my-team-1234",
                    enabled=True,
                    usage_limits=UsageLimits(credit_limit=50, type="cost"),
                    rate_limits=RATE,
                    reset_usage=False,
                    create_default_provider=False,
                    default_provider_slug="team",
                )
            ],
            global_workspace_access={"enabled": False, "rate_limits": [{"value": 5}]},
            override_existing_workspace_access=True,
            create_default_provider=False,
            default_provider_slug="all-teams",
        )
    )
    assert mock.sent()["workspaces"][0]["usage_limits"] == [{"credit_limit": 50, "type": "cost"}]


CASES: dict[str, Callable[[Surface, SpecMock], None]] = {
    "GET /integrations": integration_list,
    "POST /integrations": integration_create,
    "GET /integrations/{slug}": integration_retrieve,
    "PUT /integrations/{slug}": integration_update,
    "DELETE /integrations/{slug}": integration_delete,
    "GET /integrations/{slug}/models": models_list,
    "PUT /integrations/{slug}/models": models_update,
    "DELETE /integrations/{slug}/models": models_delete,
    "GET /integrations/{slug}/workspaces": workspaces_list,
    "PUT /integrations/{slug}/workspaces": workspaces_update,
}


def test_the_cases_cover_every_documented_operation() -> None:
    assert set(CASES) == SpecMock(DOCUMENT).documented


@pytest.mark.parametrize("operation", sorted(CASES))
def test_the_sdk_speaks_the_document(operation: str, spec_client: Surface, mock: SpecMock) -> None:
    CASES[operation](spec_client, mock)
    assert mock.problems() == []
    assert mock.answered() == {operation}


# -- the document's oddities ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "configurations",
    [
        {"openai_organization": "org"},
        {"aws_auth_type": "accessKey", "aws_region": "us-east-1", "aws_secret_access_key": "s"},
    ],
)
def test_no_configurations_fits_the_documents_one_of(
    mock: SpecMock, configurations: dict[str, Any]
) -> None:
    # `configurations` is a oneOf of ten shapes, three of which (OpenAI, Hugging Face, custom
    # host) require nothing and allow anything: every object matches several, so a strict
    # oneOf refuses them all. The SDK sends configurations as given (the live API takes
    # them); the operation cases above leave them out for this reason only.
    code, answer = mock.send(
        "POST",
        "/integrations",
        {"name": "n", "ai_provider_id": "openai", **{"configurations": configurations}},
    )
    assert code == 400
    assert "configurations" in answer["data"]["message"]


def test_the_mock_refuses_paging_parameters_on_the_models_list(mock: SpecMock) -> None:
    code, answer = mock.send("GET", "/integrations/i/models?current_page=0&page_size=10")
    assert code == 400
    assert "not documented" in answer["data"]["message"]
