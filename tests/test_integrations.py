"""``client.integrations`` writes and its ``models`` and ``workspaces`` sub-resources.

Both surfaces, against FakePortkey: what goes on the wire is read from the fake's recorded
requests, what comes back is checked as typed models. Secrets, write safety, validation before
any request and cache invalidation are covered here for this resource.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest

from portkey_vk import (
    Cache,
    ConflictError,
    IntegrationModel,
    IntegrationModelUpdate,
    IntegrationWorkspace,
    InternalServerError,
    NotFoundError,
    Portkey,
    RateLimit,
    ResourceRef,
    UsageLimits,
    WorkspaceAccess,
)
from portkey_vk.resources.integrations import configuration_secrets
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface
from tests.leaks import assert_clean, assert_records_clean

NOW = {"Retry-After": "0"}
KEY = "sk-provider-secret-0123456789"
AWS = "aws-secret-access-9876543210"
VERTEX = "vertex-private-key-5566778899"


def last(fake: FakePortkey) -> Any:
    return fake.requests[-1]


def methods(fake: FakePortkey) -> list[str]:
    return [r.method for r in fake.requests]


# -- create, update, delete ---------------------------------------------------------------------


def test_create_sends_only_what_is_given(fake: FakePortkey, client: Surface) -> None:
    ref = client.run(
        lambda c: c.integrations.create(name="openai-prod", ai_provider_id="openai", key=KEY)
    )
    assert isinstance(ref, ResourceRef)
    assert ref.slug is not None
    assert ref.slug.startswith("openai-prod-")
    assert ref.id
    request = last(fake)
    assert (request.method, request.path) == ("POST", "/v1/integrations")
    assert request.json == {"name": "openai-prod", "ai_provider_id": "openai", "key": KEY}
    stored = client.run(lambda c: c.integrations.retrieve(ref.slug))
    assert stored.masked_key is not None
    assert KEY not in stored.masked_key


def test_create_with_every_field(fake: FakePortkey, client: Surface) -> None:
    configurations = {"aws_region": "eu-west-1", "aws_secret_access_key": AWS, "new_field": [1]}
    ref = client.run(
        lambda c: c.integrations.create(
            name="Bedrock",
            ai_provider_id="bedrock",
            key=KEY,
            description="prod",
            workspace_id="ws-1",
            slug="bedrock_eu-1",
            configurations=configurations,
            create_default_provider=False,
            default_provider_slug="bedrock-default",
            secret_mappings=[{"target_field": "key", "secret_reference_id": "my-ref"}],
        )
    )
    assert ref.slug == "bedrock_eu-1"
    assert last(fake).json == {
        "name": "Bedrock",
        "ai_provider_id": "bedrock",
        "key": KEY,
        "description": "prod",
        "workspace_id": "ws-1",
        "slug": "bedrock_eu-1",
        # A mapping keeps the fields the SDK does not know.
        "configurations": configurations,
        "create_default_provider": False,
        "default_provider_slug": "bedrock-default",
        "secret_mappings": [{"target_field": "key", "secret_reference_id": "my-ref"}],
    }
    stored = client.run(lambda c: c.integrations.retrieve("bedrock_eu-1"))
    assert stored.workspace_id == "ws-1"
    assert stored.configurations is not None
    assert stored.configurations.aws_region == "eu-west-1"


def test_create_does_not_default_to_the_client_workspace(
    fake: FakePortkey, make_client: Any
) -> None:
    client = make_client(workspace_id="ws-client")
    client.run(lambda c: c.integrations.create(name="n", ai_provider_id="openai"))
    assert "workspace_id" not in last(fake).json


def test_create_an_existing_slug_conflicts(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("taken")
    with pytest.raises(ConflictError):
        client.run(lambda c: c.integrations.create(name="n", ai_provider_id="o", slug="taken"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": ""}, ValueError),
        ({"ai_provider_id": None}, TypeError),
        ({"key": ""}, ValueError),
        ({"key": 5}, TypeError),
        ({"description": None}, TypeError),
        ({"slug": "has space"}, ValueError),
        ({"slug": "a" * 256}, ValueError),
        ({"default_provider_slug": "a/b"}, ValueError),
        ({"workspace_id": ""}, ValueError),
        ({"configurations": "aws"}, TypeError),
        ({"configurations": {"x": float("nan")}}, ValueError),
        ({"create_default_provider": "yes"}, TypeError),
        ({"secret_mappings": None}, TypeError),
        ({"secret_mappings": [{"target_field": 5}]}, ValueError),
        ({"extra_body": {"x": float("inf")}}, ValueError),
    ],
)
def test_create_refuses_bad_input_before_sending(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    arguments = {"name": "n", "ai_provider_id": "openai", **kwargs}
    with pytest.raises(error):
        client.run(lambda c: c.integrations.create(**arguments))
    assert fake.requests == []


def test_update_sends_only_what_is_given(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("i")
    assert (
        client.run(
            lambda c: c.integrations.update(
                "i",
                name="New",
                description="d",
                key=KEY,
                configurations={"openai_project": "p"},
                secret_mappings=[{"target_field": "key", "secret_reference_id": "r"}],
                pricing_adjustments=None,
            )
        )
        is None
    )
    request = last(fake)
    assert (request.method, request.path) == ("PUT", "/v1/integrations/i")
    assert request.json == {
        "name": "New",
        "description": "d",
        "key": KEY,
        "configurations": {"openai_project": "p"},
        "secret_mappings": [{"target_field": "key", "secret_reference_id": "r"}],
        "pricing_adjustments": None,
    }
    stored = client.run(lambda c: c.integrations.retrieve("i"))
    assert (stored.name, stored.description) == ("New", "d")


def test_update_with_nothing_to_change_sends_nothing(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        client.run(lambda c: c.integrations.update("i"))
    with pytest.raises(ValueError, match="at least one field"):
        client.run(lambda c: c.integrations.workspaces.update("i"))
    with pytest.raises(ValueError):
        client.run(lambda c: c.integrations.update("", name="x"))
    assert fake.requests == []


def test_delete(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("i")
    assert client.run(lambda c: c.integrations.delete("i")) is None
    assert (last(fake).method, last(fake).path) == ("DELETE", "/v1/integrations/i")
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.integrations.retrieve("i"))
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.integrations.delete("i"))


# -- models --------------------------------------------------------------------------------------


def test_models_list_is_one_request_one_page(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration(
        "i",
        models=[
            {"slug": "gpt-4o", "enabled": True},
            {"slug": "ft", "enabled": False, "is_custom": True, "base_model_slug": "gpt-4o"},
        ],
    )
    models = client.collect(lambda c: c.integrations.models.list("i"))
    assert all(isinstance(m, IntegrationModel) for m in models)
    assert [(m.slug, m.enabled, m.is_custom) for m in models] == [
        ("gpt-4o", True, False),
        ("ft", False, True),
    ]
    # The document gives no paging parameters: none is sent, and one answer is the list.
    assert [(r.path, dict(r.query)) for r in fake.requests] == [("/v1/integrations/i/models", {})]
    page = client.run(lambda c: c.integrations.models.list("i"))
    assert page.total == 2
    assert not page.has_next_page()


@pytest.mark.parametrize(
    "body",
    [
        [{"slug": "a", "enabled": True}, {"slug": "b", "enabled": True}],
        {"models": [{"slug": "a", "enabled": True}, {"slug": "b", "enabled": True}]},
    ],
    ids=["bare list", "no total"],
)
def test_models_list_tolerates_a_bare_list_and_a_missing_total(
    fake: FakePortkey, client: Surface, body: Any
) -> None:
    fake.fail_next(200, body=body, times=5)
    models = client.collect(lambda c: c.integrations.models.list("i"))
    assert [m.slug for m in models] == ["a", "b"]
    assert len(fake.requests) == 1


def test_models_update(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("i", models=[{"slug": "gpt-4o", "enabled": False}])
    client.run(
        lambda c: c.integrations.models.update(
            "i",
            models=[
                IntegrationModelUpdate(slug="gpt-4o", enabled=True),
                {"slug": "mine", "enabled": True, "is_custom": True, "unknown": 1},
            ],
            allow_all_models=False,
        )
    )
    request = last(fake)
    assert (request.method, request.path) == ("PUT", "/v1/integrations/i/models")
    assert request.json == {
        "models": [
            {"slug": "gpt-4o", "enabled": True},
            {"slug": "mine", "enabled": True, "is_custom": True, "unknown": 1},
        ],
        "allow_all_models": False,
    }
    models = client.collect(lambda c: c.integrations.models.list("i"))
    assert [(m.slug, m.enabled) for m in models] == [("gpt-4o", True), ("mine", True)]
    assert client.run(lambda c: c.integrations.retrieve("i")).allow_all_models is False


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"models": [{"slug": "a"}]}, ValueError),
        ({"models": [IntegrationModelUpdate(enabled=True)]}, ValueError),
        ({"models": [{"slug": "a", "enabled": "yes"}]}, ValueError),
        ({"models": {"slug": "a", "enabled": True}}, TypeError),
        ({"models": "gpt-4o"}, TypeError),
        ({"models": [], "allow_all_models": 1}, TypeError),
    ],
)
def test_models_update_refuses_bad_input_before_sending(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.run(lambda c: c.integrations.models.update("i", **kwargs))
    assert fake.requests == []


def test_models_delete_sends_one_comma_joined_value(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration(
        "i",
        models=[
            {"slug": "a", "enabled": True, "is_custom": True},
            {"slug": "b/c", "enabled": True, "is_custom": True},
            {"slug": "keep", "enabled": True},
        ],
    )
    client.run(lambda c: c.integrations.models.delete("i", slugs=["a", "b/c"]))
    request = last(fake)
    assert (request.method, request.path) == ("DELETE", "/v1/integrations/i/models")
    assert request.query.getall("slugs") == ["a,b/c"]
    assert [m.slug for m in client.collect(lambda c: c.integrations.models.list("i"))] == ["keep"]


@pytest.mark.parametrize(
    ("slugs", "error"),
    [
        (["a,b"], ValueError),
        ([], ValueError),
        ([""], ValueError),
        ("a", TypeError),
        ([5], ValueError),
    ],
)
def test_models_delete_refuses_bad_slugs_before_sending(
    fake: FakePortkey, client: Surface, slugs: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.run(lambda c: c.integrations.models.delete("i", slugs=slugs))
    assert fake.requests == []


# -- workspaces ----------------------------------------------------------------------------------


def test_workspaces_update_and_list(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("i")
    client.run(
        lambda c: c.integrations.workspaces.update(
            "i",
            workspaces=[
                WorkspaceAccess(
                    id="ws-team-1",
                    enabled=True,
                    usage_limits=UsageLimits(credit_limit=50, type="cost"),
                    rate_limits=RateLimit(type="requests", unit="rpm", value=10),
                ),
                {"id": "ws-team-2", "enabled": False, "usage_limits": [{"credit_limit": 5}]},
            ],
            global_workspace_access={"enabled": True, "usage_limits": {"credit_limit": 1}},
            override_existing_workspace_access=False,
            create_default_provider=True,
            default_provider_slug="team-openai",
        )
    )
    request = last(fake)
    assert (request.method, request.path) == ("PUT", "/v1/integrations/i/workspaces")
    # Limits go out as the document's arrays of at most one, whichever form was given.
    assert request.json == {
        "workspaces": [
            {
                "id": "ws-team-1",
                "enabled": True,
                "usage_limits": [{"credit_limit": 50, "type": "cost"}],
                "rate_limits": [{"type": "requests", "unit": "rpm", "value": 10}],
            },
            {"id": "ws-team-2", "enabled": False, "usage_limits": [{"credit_limit": 5}]},
        ],
        "global_workspace_access": {"enabled": True, "usage_limits": [{"credit_limit": 1}]},
        "override_existing_workspace_access": False,
        "create_default_provider": True,
        "default_provider_slug": "team-openai",
    }
    access = client.collect(lambda c: c.integrations.workspaces.list("i"))
    assert all(isinstance(w, IntegrationWorkspace) for w in access)
    assert [(w.id, w.enabled) for w in access] == [("ws-team-1", True), ("ws-team-2", False)]
    assert access[0].usage_limits == (UsageLimits(credit_limit=50, type="cost"),)
    assert [r.query.get("current_page") for r in fake.requests if r.method == "GET"] == [None]
    stored = client.run(lambda c: c.integrations.retrieve("i"))
    assert stored.workspace_count == 1
    assert stored.global_workspace_access_settings is not None
    assert stored.global_workspace_access_settings.enabled is True


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"workspaces": [{"id": "w"}]}, ValueError),
        ({"workspaces": [WorkspaceAccess(enabled=True)]}, ValueError),
        (
            {"workspaces": [{"id": "w", "enabled": True, "usage_limits": {"credit_limit": "x"}}]},
            ValueError,
        ),
        ({"workspaces": None}, TypeError),
        ({"global_workspace_access": {"usage_limits": []}}, ValueError),
        ({"global_workspace_access": 5}, TypeError),
        ({"default_provider_slug": "no spaces"}, ValueError),
        ({"override_existing_workspace_access": "no"}, TypeError),
    ],
)
def test_workspaces_update_refuses_bad_input_before_sending(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.run(lambda c: c.integrations.workspaces.update("i", **kwargs))
    assert fake.requests == []


def test_sub_resources_of_an_unknown_integration_are_not_found(
    fake: FakePortkey, client: Surface
) -> None:
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.integrations.models.list("missing"))
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.integrations.workspaces.update("missing", workspaces=[]))


# -- both surfaces: nesting, raw responses -------------------------------------------------------


def test_sub_resources_and_their_raw_views_on_both_surfaces(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_integration("i", models=[{"slug": "m", "enabled": True}])
    raw = client.run(lambda c: c.integrations.models.with_raw_response.list("i"))
    assert raw.status_code == 200
    nested = client.run(lambda c: c.integrations.with_raw_response.workspaces.list("i"))
    assert nested.status_code == 200
    put = client.run(
        lambda c: c.integrations.with_raw_response.models.update(
            "i", models=[{"slug": "m", "enabled": False}]
        )
    )
    assert put.status_code == 200


def test_the_sync_client_has_the_nested_resources(fake: FakePortkey) -> None:
    fake.add_integration("i", models=[{"slug": "m", "enabled": True}])
    with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
        assert [m.slug for m in client.integrations.models.list("i")] == ["m"]
        assert list(client.integrations.workspaces.list("i")) == []
        ref = client.integrations.create(name="n", ai_provider_id="openai")
        assert ref.slug is not None
        client.integrations.delete(ref.slug)


# -- write safety --------------------------------------------------------------------------------


def test_create_is_not_repeated_after_a_server_error(fake: FakePortkey, make_client: Any) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(503, headers=NOW)
    with pytest.raises(InternalServerError):
        client.run(lambda c: c.integrations.create(name="n", ai_provider_id="openai", key=KEY))
    assert methods(fake) == ["POST"]


def test_create_is_retried_on_429(fake: FakePortkey, make_client: Any) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(429, headers=NOW)
    client.run(lambda c: c.integrations.create(name="n", ai_provider_id="openai"))
    assert methods(fake) == ["POST", "POST"]


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.integrations.update("i", name="x"),
        lambda c: c.integrations.models.update("i", models=[{"slug": "m", "enabled": True}]),
        lambda c: c.integrations.workspaces.update("i", workspaces=[{"id": "w", "enabled": True}]),
    ],
    ids=["update", "models.update", "workspaces.update"],
)
def test_puts_are_retried_after_a_server_error(
    fake: FakePortkey, make_client: Any, write: Any
) -> None:
    fake.add_integration("i")
    client = make_client(max_retries=2)
    fake.fail_next(503, headers=NOW)
    client.run(write)
    assert methods(fake) == ["PUT", "PUT"]


@pytest.mark.parametrize(
    "delete",
    [
        lambda c: c.integrations.delete("i"),
        lambda c: c.integrations.models.delete("i", slugs=["m"]),
    ],
    ids=["delete", "models.delete"],
)
def test_delete_404_after_an_attempt_that_may_have_landed_succeeds(
    fake: FakePortkey, make_client: Any, delete: Any
) -> None:
    client = make_client(max_retries=2)
    fake.fail_next(503, headers=NOW)
    fake.fail_next(404)
    assert client.run(delete) is None
    assert methods(fake) == ["DELETE", "DELETE"]


# -- secrets -------------------------------------------------------------------------------------


def test_configuration_secrets_are_found_by_name() -> None:
    configurations = {
        "aws_access_key_id": "AKIA-not-secret",
        "aws_secret_access_key": AWS,
        "azure_entra_client_secret": "entra-secret",
        "vertex_service_account_json": {"private_key": VERTEX, "nested": {"client_email": "e"}},
        "my_token": "tok",
        "db_password": "pw",
        "extra_api_key": "xk",
        "aws_region": "eu-west-1",
        "deep": {"inner_secret": "inner"},
    }
    assert sorted(configuration_secrets(configurations)) == sorted(
        [AWS, "entra-secret", VERTEX, "e", "tok", "pw", "xk", "inner"]
    )


@pytest.mark.parametrize("status", [400, 503])
def test_secrets_never_reach_errors_reprs_or_logs(
    fake: FakePortkey, make_client: Any, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_retries=0)
    # A hostile answer echoing every secret it was sent.
    echo = {"message": f"bad key {KEY} {AWS} {VERTEX}", "sent": [KEY, AWS, VERTEX]}
    fake.fail_next(status, body=echo)
    configurations = {
        "aws_secret_access_key": AWS,
        "vertex_service_account_json": {"private_key": VERTEX},
    }
    with caplog.at_level(logging.DEBUG, logger="portkey_vk"):
        with pytest.raises(Exception) as info:
            client.run(
                lambda c: c.integrations.create(
                    name="n", ai_provider_id="bedrock", key=KEY, configurations=configurations
                )
            )
    assert_clean(info.value, KEY, AWS, VERTEX)
    assert_records_clean(caplog.records, KEY, AWS, VERTEX)
    # The fake did receive them.
    assert last(fake).json["key"] == KEY


def test_an_update_answer_echoing_secrets_is_scrubbed(fake: FakePortkey, client: Surface) -> None:
    fake.fail_next(200, body={"echo": KEY, "aws": AWS})
    raw = client.run(
        lambda c: c.integrations.with_raw_response.update(
            "i", key=KEY, configurations={"aws_secret_access_key": AWS}
        )
    )
    assert_clean(raw, KEY, AWS)


# -- the cache -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.integrations.update("i", name="x"),
        lambda c: c.integrations.delete("i"),
        lambda c: c.integrations.models.update("i", models=[{"slug": "m", "enabled": True}]),
        lambda c: c.integrations.workspaces.update("i", workspaces=[{"id": "w", "enabled": True}]),
        lambda c: c.integrations.models.delete("i", slugs=["m"]),
    ],
    ids=["update", "delete", "models.update", "workspaces.update", "models.delete"],
)
def test_writes_drop_the_cached_retrieve(fake: FakePortkey, make_client: Any, write: Any) -> None:
    fake.add_integration("i", models=[{"slug": "m", "enabled": True, "is_custom": True}])
    client = make_client(cache=Cache(ttl=300))
    client.run(lambda c: c.integrations.retrieve("i"))
    client.run(lambda c: c.integrations.retrieve("i"))
    gets = [r for r in fake.requests if r.method == "GET"]
    assert len(gets) == 1
    client.run(write)
    # After a delete, the 404 comes from the server, not from a stale entry.
    with contextlib.suppress(NotFoundError):
        client.run(lambda c: c.integrations.retrieve("i"))
    assert len([r for r in fake.requests if r.method == "GET"]) == 2
