"""``client.providers`` and ``client.integrations`` on both surfaces, against FakePortkey.

What goes on the wire (path, query, body) is checked on the fake's recorded requests; what comes
back is checked as typed models. The client-wide workspace is covered for every call that takes a
``workspace_id``, virtual keys included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from portkey_vk import (
    NOT_GIVEN,
    ConflictError,
    Integration,
    IntegrationConfigurations,
    IntegrationStatus,
    InternalServerError,
    NotFoundError,
    PortkeyError,
    Provider,
    ProviderStatus,
    RateLimit,
    ResourceRef,
    UsageLimits,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface

WS_CLIENT = "ws-client"
WS_CALL = "ws-call"
WS_OPTIONS = "ws-options"
EXPIRY = datetime(2027, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))


# -- providers: reads --------------------------------------------------------------------------


def test_list_pages_through_every_provider(fake: FakePortkey, client: Surface) -> None:
    for index in range(5):
        fake.add_provider(f"p{index}", name=f"Provider {index}")
    providers = client.collect(lambda c: c.providers.list(page_size=2))
    assert [p.slug for p in providers] == ["p0", "p1", "p2", "p3", "p4"]
    assert all(isinstance(p, Provider) for p in providers)
    pages = [r for r in fake.requests if r.path == "/v1/providers"]
    assert [(r.query["current_page"], r.query["page_size"]) for r in pages] == [
        ("0", "2"),
        ("1", "2"),
        ("2", "2"),
    ]
    assert all("workspace_id" not in r.query for r in pages)


def test_the_first_page_alone(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p0")
    fake.add_provider("p1")
    page = client.run(lambda c: c.providers.list(page_size=1))
    assert [p.slug for p in page.data] == ["p0"]
    assert page.total == 2
    assert page.has_next_page()


def test_retrieve_returns_a_typed_provider(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider(
        "prod-openai",
        name="Prod OpenAI",
        status="expired",
        integration_id="openai-org",
        usage_limits={"credit_limit": 10, "type": "cost"},
        rate_limits=[{"type": "requests", "unit": "rpm", "value": 60}],
        expires_at=EXPIRY,
        workspace_id=None,
    )
    provider = client.run(lambda c: c.providers.retrieve("prod-openai"))
    assert isinstance(provider, Provider)
    assert provider.name == "Prod OpenAI"
    assert provider.status is ProviderStatus.EXPIRED
    assert provider.integration_id == "openai-org"
    assert provider.usage_limits == UsageLimits(credit_limit=10, type="cost")
    assert provider.rate_limits == (RateLimit(type="requests", unit="rpm", value=60),)
    assert provider.expires_at == EXPIRY
    request = fake.requests[-1]
    assert (request.method, request.path, dict(request.query)) == (
        "GET",
        "/v1/providers/prod-openai",
        {},
    )


def test_a_virtual_key_resolves_as_a_provider(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("legacy", name="Legacy key", ai_provider_name="anthropic")
    provider = client.run(lambda c: c.providers.retrieve("legacy"))
    assert provider.name == "Legacy key"
    assert provider.ai_provider_id == "anthropic"


def test_retrieve_missing_is_not_found(client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.retrieve("nope"))


def test_slug_is_one_path_segment(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.retrieve("a/b?c"))
    assert fake.requests[-1].path == "/v1/providers/a%2Fb%3Fc"


@pytest.mark.parametrize("slug", ["", "a\nb", 5])
def test_bad_slugs_send_nothing(fake: FakePortkey, client: Surface, slug: Any) -> None:
    for method in ("retrieve", "delete"):
        with pytest.raises(ValueError, match="slug"):
            client.run(lambda c, m=method: getattr(c.providers, m)(slug))
    with pytest.raises(ValueError, match="slug"):
        client.run(lambda c: c.providers.update(slug, name="x"))
    assert fake.requests == []


def test_raw_response(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p")
    raw, parsed = client.call_raw("retrieve", "p", resource="providers")
    assert raw.status_code == 200
    assert raw.request_id
    assert parsed.slug == "p"


# -- providers: writes -------------------------------------------------------------------------


def test_create_sends_only_what_is_given(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("openai")  # a provider is created on an existing integration
    ref = client.run(lambda c: c.providers.create(name="Prod OpenAI", integration_id="openai"))
    assert isinstance(ref, ResourceRef)
    assert ref.slug is not None
    assert ref.slug.startswith("prod-openai-")
    assert ref.id
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/providers")
    assert request.json == {"name": "Prod OpenAI", "integration_id": "openai"}
    assert dict(request.query) == {}
    created = client.run(lambda c: c.providers.retrieve(ref.slug))
    assert (created.id, created.name, created.integration_id) == (ref.id, "Prod OpenAI", "openai")


def test_create_with_every_field(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("azure-org")
    ref = client.run(
        lambda c: c.providers.create(
            name="EU",
            integration_id="azure-org",
            workspace_id="ws-eu",
            slug="eu-azure",
            note=None,
            usage_limits=UsageLimits(credit_limit=100, type="cost", periodic_reset="monthly"),
            rate_limits=RateLimit(type="requests", unit="rpm", value=600),
            expires_at=EXPIRY,
            extra_body={"future_field": [1, 2]},
        ),
    )
    assert ref.slug == "eu-azure"
    assert fake.requests[-1].json == {
        "name": "EU",
        "integration_id": "azure-org",
        "workspace_id": "ws-eu",
        "slug": "eu-azure",
        "note": None,
        "usage_limits": {"credit_limit": 100, "type": "cost", "periodic_reset": "monthly"},
        # One limit is the single object the API documents for requests.
        "rate_limits": {"type": "requests", "unit": "rpm", "value": 600},
        "expires_at": "2027-01-01T12:30:00+02:00",
        "future_field": [1, 2],
    }
    # workspace_id goes in the body on create, never in the query.
    assert dict(fake.requests[-1].query) == {}


def test_create_sends_a_sequence_of_rate_limits_as_an_array(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_integration("i")
    limits = [{"type": "requests", "unit": "rpm", "value": 1}, RateLimit(type="tokens", value=2)]
    client.run(lambda c: c.providers.create(name="n", integration_id="i", rate_limits=limits))
    assert fake.requests[-1].json["rate_limits"] == [
        {"type": "requests", "unit": "rpm", "value": 1},
        {"type": "tokens", "value": 2},
    ]


def test_create_an_existing_slug_conflicts(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("taken")
    with pytest.raises(ConflictError):
        client.run(lambda c: c.providers.create(name="n", integration_id="i", slug="taken"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": ""}, ValueError),
        ({"name": 5}, TypeError),
        ({"integration_id": " "}, ValueError),
        ({"integration_id": None}, TypeError),
        ({"slug": ""}, ValueError),
        ({"slug": "a\x00"}, ValueError),
        ({"slug": None}, TypeError),
        ({"note": 5}, TypeError),
        ({"workspace_id": ""}, ValueError),
        ({"usage_limits": {"credit_limit": "ten"}}, ValueError),
        ({"usage_limits": 5}, TypeError),
        ({"rate_limits": "rpm"}, TypeError),
        ({"rate_limits": [{"value": "many"}]}, ValueError),
        ({"expires_at": datetime(2027, 1, 1)}, ValueError),
        ({"expires_at": "2027-01-01"}, TypeError),
        ({"extra_body": {"x": float("nan")}}, ValueError),
        ({"extra_headers": {"x-portkey-api-key": "other"}}, PortkeyError),
        ({"extra_headers": {"x-bad": "a\r\nb"}}, ValueError),
    ],
)
def test_create_refuses_bad_input_before_sending(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    arguments = {"name": "n", "integration_id": "i", **kwargs}
    with pytest.raises(error):
        client.run(lambda c: c.providers.create(**arguments))
    assert fake.requests == []


def test_create_is_not_repeated_after_a_server_error(fake: FakePortkey, client: Surface) -> None:
    # The first attempt may have created it: a retry could create a second provider.
    fake.fail_next(503, method="POST")
    with pytest.raises(InternalServerError):
        client.run(lambda c: c.providers.create(name="n", integration_id="i"))
    assert [r.method for r in fake.requests] == ["POST"]


def test_update_sends_only_what_is_given(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p", note="old", usage_limits={"credit_limit": 5})
    result = client.run(
        lambda c: c.providers.update(
            "p", name="New", note=None, usage_limits=None, reset_usage=True
        ),
    )
    assert result is None
    request = fake.requests[-1]
    assert (request.method, request.path, dict(request.query)) == ("PUT", "/v1/providers/p", {})
    assert request.json == {"name": "New", "note": None, "usage_limits": None, "reset_usage": True}
    provider = client.run(lambda c: c.providers.retrieve("p"))
    assert (provider.name, provider.note, provider.usage_limits) == ("New", None, None)
    assert provider.last_reset_at is not None


def test_update_limits_and_expiry(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p")
    client.run(
        lambda c: c.providers.update(
            "p",
            rate_limits={"type": "tokens", "unit": "rph", "value": 1000},
            expires_at=EXPIRY,
            reset_usage=False,
        ),
    )
    assert fake.requests[-1].json == {
        "rate_limits": {"type": "tokens", "unit": "rph", "value": 1000},
        "expires_at": "2027-01-01T12:30:00+02:00",
        "reset_usage": False,
    }
    client.run(lambda c: c.providers.update("p", rate_limits=None, expires_at=None))
    assert fake.requests[-1].json == {"rate_limits": None, "expires_at": None}


def test_update_needs_something_to_change(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        client.run(lambda c: c.providers.update("p"))
    with pytest.raises(ValueError, match="at least one field"):
        client.run(lambda c: c.providers.update("p", workspace_id="ws", name=NOT_GIVEN))
    assert fake.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"reset_usage": 1}, TypeError),
        ({"reset_usage": "true"}, TypeError),
        ({"name": None}, TypeError),
        ({"name": 1}, TypeError),
        ({"expires_at": datetime(2027, 1, 1)}, ValueError),
        ({"usage_limits": {"type": 5}}, ValueError),
    ],
)
def test_update_refuses_bad_input_before_sending(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.run(lambda c: c.providers.update("p", **kwargs))
    assert fake.requests == []


def test_update_missing_is_not_found(client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.update("nope", name="x"))


def test_update_is_retried_like_a_read(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p")
    fake.fail_next(503, method="PUT")
    client.run(lambda c: c.providers.update("p", note="n"))
    assert [r.method for r in fake.requests] == ["PUT", "PUT"]


def test_delete(fake: FakePortkey, client: Surface) -> None:
    fake.add_provider("p")
    assert client.run(lambda c: c.providers.delete("p")) is None
    request = fake.requests[-1]
    assert (request.method, request.path, request.body) == ("DELETE", "/v1/providers/p", b"")
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.retrieve("p"))
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.delete("p"))


# -- integrations ------------------------------------------------------------------------------


def test_integrations_list_and_filter(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration("org-openai", name="Org OpenAI", key="sk-org-0123456789abcdef")
    fake.add_integration("ws-anthropic", ai_provider_id="anthropic", workspace_id="ws-a")
    everything = client.collect(lambda c: c.integrations.list())
    assert [i.slug for i in everything] == ["org-openai", "ws-anthropic"]
    assert all(isinstance(i, Integration) for i in everything)
    # List items carry no details.
    assert everything[0].masked_key is None
    assert everything[0].configurations is None
    assert dict(fake.requests[-1].query) == {"current_page": "0", "page_size": "100"}

    workspace_only = client.collect(lambda c: c.integrations.list(type="workspace"))
    assert [i.slug for i in workspace_only] == ["ws-anthropic"]
    assert fake.requests[-1].query["type"] == "workspace"
    org_only = client.collect(lambda c: c.integrations.list(type="organisation", page_size=5))
    assert [i.slug for i in org_only] == ["org-openai"]
    assert dict(fake.requests[-1].query) == {
        "current_page": "0",
        "page_size": "5",
        "type": "organisation",
    }


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type": "organization"}, ValueError),
        ({"type": "ALL"}, ValueError),
        ({"type": 1}, TypeError),
        ({"page_size": 0}, ValueError),
        ({"page_size": 1001}, ValueError),
        ({"workspace_id": 5}, TypeError),
    ],
)
def test_integrations_list_refuses_bad_input(
    fake: FakePortkey, client: Surface, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.client.integrations.list(**kwargs)
    assert fake.requests == []


def test_integration_detail_is_masked_and_typed(fake: FakePortkey, client: Surface) -> None:
    fake.add_integration(
        "bedrock-prod",
        ai_provider_id="bedrock",
        status="archived",
        key="AKIA-not-a-real-secret-key",
        configurations={
            "aws_auth_type": "accessKey",
            "aws_region": "eu-west-1",
            "aws_secret_access_key": "very-secret-access-key-value",
        },
    )
    integration = client.run(lambda c: c.integrations.retrieve("bedrock-prod"))
    assert integration.status is IntegrationStatus.ARCHIVED
    assert integration.masked_key == "AKI****-key"
    config = integration.configurations
    assert isinstance(config, IntegrationConfigurations)
    assert (config.aws_auth_type, config.aws_region) == ("accessKey", "eu-west-1")
    assert config.masked_aws_secret_access_key == "ver****alue"
    assert "very-secret" not in repr(integration)
    assert fake.requests[-1].path == "/v1/integrations/bedrock-prod"


def test_integration_missing_is_not_found(client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.integrations.retrieve("nope"))


# -- the client-wide workspace -----------------------------------------------------------------

# Every call that takes a workspace_id, and where it sends it.
OPERATIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "virtual_keys.list": (lambda c, **kw: c.virtual_keys.list(**kw), "query"),
    "virtual_keys.create": (
        lambda c, **kw: c.virtual_keys.create(name="n", provider="openai", key="sk-x", **kw),
        "body",
    ),
    "providers.list": (lambda c, **kw: c.providers.list(**kw), "query"),
    "providers.retrieve": (lambda c, **kw: c.providers.retrieve("p", **kw), "query"),
    "providers.create": (
        lambda c, **kw: c.providers.create(name="n", integration_id="i", **kw),
        "body",
    ),
    "providers.update": (lambda c, **kw: c.providers.update("p", note="n", **kw), "query"),
    "providers.delete": (lambda c, **kw: c.providers.delete("p", **kw), "query"),
    "integrations.list": (lambda c, **kw: c.integrations.list(**kw), "query"),
}


def _sent_workspace(fake: FakePortkey, where: str) -> str | None:
    request = fake.requests[-1]
    if where == "query":
        assert "workspace_id" not in (request.json or {})
        return request.query.get("workspace_id")
    assert "workspace_id" not in request.query
    value: str | None = request.json.get("workspace_id")
    return value


def _run(surface: Surface, fake: FakePortkey, name: str, expected: str | None, **kw: Any) -> Any:
    operation, where = OPERATIONS[name]
    # The provider the call addresses lives in the workspace it should be sent to.
    fake.add_provider("p", **({"workspace_id": expected} if expected else {}))
    fake.add_integration("i")  # what providers.create creates it on
    surface.run(lambda c: operation(c, **kw))  # a list: its first page
    return _sent_workspace(fake, where)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_client_workspace_is_the_default(
    fake: FakePortkey, make_client: Callable[..., Surface], name: str
) -> None:
    client = make_client(workspace_id=WS_CLIENT)
    assert _run(client, fake, name, WS_CLIENT) == WS_CLIENT
    # A call's own workspace wins; None sends none for that call only.
    assert _run(client, fake, name, WS_CALL, workspace_id=WS_CALL) == WS_CALL
    assert _run(client, fake, name, None, workspace_id=None) is None
    assert _run(client, fake, name, WS_CLIENT) == WS_CLIENT
    # with_options replaces the default (None: none) and leaves the original alone.
    options = client.with_options(workspace_id=WS_OPTIONS)
    assert _run(options, fake, name, WS_OPTIONS) == WS_OPTIONS
    assert _run(client.with_options(workspace_id=None), fake, name, None) is None
    assert _run(client.with_options(timeout=5), fake, name, WS_CLIENT) == WS_CLIENT
    assert _run(client, fake, name, WS_CLIENT) == WS_CLIENT


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_without_a_client_workspace_none_is_sent(
    fake: FakePortkey, client: Surface, name: str
) -> None:
    assert _run(client, fake, name, None) is None
    assert _run(client, fake, name, WS_CALL, workspace_id=WS_CALL) == WS_CALL


def test_calls_without_a_workspace_never_send_one(
    fake: FakePortkey, make_client: Callable[..., Surface]
) -> None:
    # The spec gives these no workspace_id: the client's is not added to them.
    client = make_client(workspace_id=WS_CLIENT)
    fake.add_virtual_key("k", workspace_id=WS_CLIENT)
    fake.add_integration("i")
    client.run(lambda c: c.virtual_keys.retrieve("k"))
    client.run(lambda c: c.integrations.retrieve("i"))
    assert all("workspace_id" not in r.query for r in fake.requests)


def test_a_provider_in_another_workspace_is_not_found(
    fake: FakePortkey, make_client: Callable[..., Surface]
) -> None:
    fake.add_provider("p", workspace_id="ws-other")
    client = make_client(workspace_id=WS_CLIENT)
    with pytest.raises(NotFoundError):
        client.run(lambda c: c.providers.retrieve("p"))
    assert client.run(lambda c: c.providers.retrieve("p", workspace_id=None)).slug == "p"


def test_provider_update_refuses_a_blank_name_like_a_virtual_key_update(
    fake: FakePortkey, client: Surface
) -> None:
    with pytest.raises(ValueError, match="name"):
        client.run(lambda c: c.providers.update("p", name="  "))
    assert fake.requests == []
