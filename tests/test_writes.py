"""``virtual_keys.create/update/delete``: the body on the wire, NOT_GIVEN vs None, validation.

Every test runs on both surfaces (async and sync) against FakePortkey. Bad arguments must raise
before any request: each such test ends with ``fake.requests == []``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from portkey_vk import (
    NOT_GIVEN,
    NotFoundError,
    NotGiven,
    RateLimit,
    ResourceRef,
    SecretMapping,
    UsageLimits,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface

MakeClient = Callable[..., Surface]
SECRET = "sk-provider-secret-0123456789"


def created(fake: FakePortkey) -> dict[str, Any]:
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/virtual-keys")
    body: dict[str, Any] = request.json
    return body


# -- create ---------------------------------------------------------------------------------------


def test_create_sends_only_what_was_given_and_returns_the_slug(
    fake: FakePortkey, client: Surface
) -> None:
    ref = client.call(
        "create",
        name="prod-openai",
        provider="openai",
        key=SECRET,
        usage_limits=UsageLimits(credit_limit=100, type="cost"),  # type: ignore[arg-type]
        note=None,
    )
    assert isinstance(ref, ResourceRef)
    assert ref.slug is not None
    assert ref.slug.startswith("prod-openai")
    assert created(fake) == {
        "name": "prod-openai",
        "provider": "openai",
        "key": SECRET,
        "usage_limits": {"credit_limit": 100, "type": "cost"},
        "note": None,
    }
    assert fake.requests[-1].headers["Content-Type"] == "application/json"
    assert fake.provider_key_of(ref.slug) == SECRET
    stored = client.retrieve(ref.slug)
    assert stored.name == "prod-openai"
    assert stored.usage_limits is not None
    assert stored.usage_limits.credit_limit == 100
    assert SECRET not in repr(stored)


def test_create_with_every_field_uses_the_wire_names(fake: FakePortkey, client: Surface) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    client.call(
        "create",
        name="azure",
        provider="azure-openai",
        key=SECRET,
        note="n",
        usage_limits={"credit_limit": 5, "type": "tokens", "periodic_reset": "weekly"},
        rate_limits=[RateLimit(type="requests", unit="rpm", value=10), {"value": 5}],  # type: ignore[arg-type]
        expires_at=expires,
        secret_mappings=[SecretMapping(target_field="model_config.x", secret_reference_id="r")],
        deployment_config=[{"apiVersion": "2024-02-01", "deploymentName": "gpt4", "alias": "a"}],
        api_version="2024-02-01",
        resource_name="res",
        deployment_name="dep",
        workspace_id="ws-1",
        extra_body={"awsRegion": "eu-west-1"},
    )
    assert created(fake) == {
        "name": "azure",
        "provider": "azure-openai",
        "key": SECRET,
        "note": "n",
        "usage_limits": {"credit_limit": 5, "type": "tokens", "periodic_reset": "weekly"},
        "rate_limits": [{"type": "requests", "unit": "rpm", "value": 10}, {"value": 5}],
        "expires_at": "2030-01-02T03:04:05+02:00",
        "secret_mappings": [{"target_field": "model_config.x", "secret_reference_id": "r"}],
        "deploymentConfig": [{"apiVersion": "2024-02-01", "deploymentName": "gpt4", "alias": "a"}],
        "apiVersion": "2024-02-01",
        "resourceName": "res",
        "deploymentName": "dep",
        "workspace_id": "ws-1",
        "awsRegion": "eu-west-1",
    }


@pytest.mark.parametrize(
    "rate_limits",
    [
        {"type": "requests", "unit": "rpm", "value": 10},
        RateLimit(type="requests", unit="rpm", value=10),  # type: ignore[arg-type]
        ({"type": "requests", "unit": "rpm", "value": 10},),
    ],
    ids=["mapping", "model", "tuple"],
)
def test_rate_limits_one_or_many_are_an_array(
    fake: FakePortkey, client: Surface, rate_limits: Any
) -> None:
    client.call("create", name="n", provider="openai", key=SECRET, rate_limits=rate_limits)
    assert created(fake)["rate_limits"] == [{"type": "requests", "unit": "rpm", "value": 10}]


def test_the_clients_workspace_is_the_default(fake: FakePortkey, make_client: MakeClient) -> None:
    client = make_client(workspace_id="ws-default")
    client.call("create", name="n", provider="openai", key=SECRET)
    assert created(fake)["workspace_id"] == "ws-default"
    client.call("create", name="n", provider="openai", key=SECRET, workspace_id=None)
    assert "workspace_id" not in created(fake)


def test_not_given_is_the_default_and_means_not_sent(fake: FakePortkey, client: Surface) -> None:
    client.call("create", name="n", provider="openai", key=SECRET, note=NOT_GIVEN)
    assert "note" not in created(fake)
    assert NotGiven() is NOT_GIVEN
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


@pytest.mark.parametrize(
    "body",
    [
        {"success": True, "data": {"slug": "from-envelope", "id": "id-1"}},
        {"id": "id-1", "slug": "from-envelope", "object": "virtual-key"},
    ],
    ids=["envelope", "flat"],
)
def test_create_reads_both_answer_shapes(fake: FakePortkey, client: Surface, body: Any) -> None:
    fake.fail_next(200, body=body)
    ref = client.call("create", name="n", provider="openai", key=SECRET)
    assert (ref.slug, ref.id) == ("from-envelope", "id-1")


def test_create_by_secret_mapping_needs_no_key(fake: FakePortkey, client: Surface) -> None:
    ref = client.call(
        "create",
        name="vault",
        provider="openai",
        secret_mappings=[{"target_field": "key", "secret_reference_id": "vault-ref"}],
    )
    assert "key" not in created(fake)
    assert client.retrieve(ref.slug).secret_mappings is not None


CREATE = {"name": "n", "provider": "openai", "key": SECRET}


@pytest.mark.parametrize(
    ("change", "error", "names"),
    [
        ({"name": 5}, TypeError, "name"),
        ({"name": " "}, ValueError, "name"),
        ({"provider": None}, TypeError, "provider"),
        ({"key": 123}, TypeError, "key"),
        ({"key": ""}, ValueError, "key"),
        ({"key": None}, TypeError, "key"),
        ({"note": 5}, TypeError, "note"),
        ({"usage_limits": 100}, TypeError, "usage_limits"),
        ({"usage_limits": {"credit_limit": "ten"}}, ValueError, "usage_limits.credit_limit"),
        ({"usage_limits": UsageLimits(credit_limit="ten")}, ValueError, "usage_limits"),  # type: ignore[arg-type]
        ({"usage_limits": {"credit_limit": float("nan")}}, ValueError, "usage_limits"),
        ({"rate_limits": "rpm"}, TypeError, "rate_limits"),
        ({"rate_limits": [{"value": "many"}]}, ValueError, "rate_limits[0]"),
        ({"rate_limits": [5]}, TypeError, "rate_limits[0]"),
        ({"expires_at": datetime(2030, 1, 1)}, ValueError, "expires_at"),
        ({"expires_at": "2030-01-01T00:00:00Z"}, TypeError, "expires_at"),
        ({"secret_mappings": {"target_field": "key"}}, TypeError, "secret_mappings"),
        ({"secret_mappings": [{"target_field": 1}]}, ValueError, "secret_mappings[0]"),
        ({"deployment_config": {"apiVersion": "x"}}, TypeError, "deployment_config"),
        ({"deployment_config": [{"apiVersion": "x"}]}, ValueError, "deployment_config[0]"),
        ({"api_version": 1}, TypeError, "api_version"),
        ({"resource_name": 1}, TypeError, "resource_name"),
        ({"deployment_name": 1}, TypeError, "deployment_name"),
        ({"workspace_id": ""}, ValueError, "workspace_id"),
        ({"extra_body": {"x": object()}}, TypeError, "extra_body"),
        ({"extra_body": {1: "x"}}, TypeError, "extra_body"),
        ({"extra_body": ["x"]}, TypeError, "extra_body"),
        ({"extra_headers": {"x-a": "1\n2"}}, ValueError, "line break"),
        ({"timeout": 0}, ValueError, "timeout"),
    ],
)
def test_create_refuses_bad_arguments_before_any_request(
    fake: FakePortkey, client: Surface, change: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error) as info:
        client.call("create", **{**CREATE, **change})
    assert names in str(info.value)
    assert SECRET not in str(info.value)
    assert fake.requests == []


def test_create_needs_name_and_provider(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(TypeError):
        client.call("create", name="n", key=SECRET)
    assert fake.requests == []


# -- update -----------------------------------------------------------------------------------


def test_update_sends_only_the_given_fields_and_returns_none(
    fake: FakePortkey, client: Surface
) -> None:
    fake.add_virtual_key("k", note="old", usage_limits={"credit_limit": 1})
    new_secret = "sk-rotated-secret-9876543210"
    assert client.call("update", "k", note="rotated", key=new_secret) is None
    request = fake.requests[-1]
    assert (request.method, request.path) == ("PUT", "/v1/virtual-keys/k")
    assert request.json == {"note": "rotated", "key": new_secret}
    assert fake.provider_key_of("k") == new_secret
    vk = client.retrieve("k")
    assert vk.note == "rotated"
    assert vk.usage_limits is not None, "not given: left alone"


def test_update_none_clears_a_field(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k", note="old", usage_limits={"credit_limit": 1}, expires_at=None)
    client.call("update", "k", note=None, usage_limits=None, rate_limits=None)
    assert fake.requests[-1].json == {"note": None, "usage_limits": None, "rate_limits": None}
    vk = client.retrieve("k")
    assert (vk.note, vk.usage_limits, vk.rate_limits) == (None, None, ())


def test_update_with_every_field(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("k")
    when = datetime(2031, 5, 6, tzinfo=timezone.utc)
    client.call(
        "update",
        "k",
        name="renamed",
        usage_limits=UsageLimits(credit_limit=7.5),
        rate_limits=RateLimit(type="tokens", unit="rpd", value=1000),  # type: ignore[arg-type]
        expires_at=when,
        secret_mappings=None,
        deployment_config=[{"apiVersion": "v", "deploymentName": "d", "is_default": True}],
        extra_body={"future_field": [1, 2]},
    )
    assert fake.requests[-1].json == {
        "name": "renamed",
        "usage_limits": {"credit_limit": 7.5},
        "rate_limits": [{"type": "tokens", "unit": "rpd", "value": 1000}],
        "expires_at": "2031-05-06T00:00:00+00:00",
        "secret_mappings": None,
        "deploymentConfig": [{"apiVersion": "v", "deploymentName": "d", "is_default": True}],
        "future_field": [1, 2],
    }
    assert client.retrieve("k").name == "renamed"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "fragment"),
    [
        (("k",), {}, ValueError, "at least one field"),
        (("k",), {"extra_body": {}}, ValueError, "at least one field"),
        (("",), {"note": "x"}, ValueError, "slug"),
        (("a\nb",), {"note": "x"}, ValueError, "slug"),
        ((5,), {"note": "x"}, ValueError, "slug"),
        (("k",), {"name": None}, TypeError, "name"),
        (("k",), {"name": ""}, ValueError, "name"),
        (("k",), {"key": None}, TypeError, "key"),
        (("k",), {"expires_at": datetime(2030, 1, 1)}, ValueError, "timezone"),
        (("k",), {"usage_limits": [1]}, TypeError, "usage_limits"),
        (("k",), {"rate_limits": 5}, TypeError, "rate_limits"),
    ],
)
def test_update_refuses_bad_arguments_before_any_request(
    fake: FakePortkey,
    client: Surface,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    fake.add_virtual_key("k")
    with pytest.raises(error, match=fragment):
        client.call("update", *args, **kwargs)
    assert fake.requests == []


def test_update_of_a_missing_key_is_not_found(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.call("update", "missing", note="x")
    assert len(fake.requests) == 1


# -- delete -----------------------------------------------------------------------------------


def test_delete_removes_the_key_and_returns_none(fake: FakePortkey, client: Surface) -> None:
    fake.add_virtual_key("a/b")
    assert client.call("delete", "a/b") is None
    request = fake.requests[-1]
    assert (request.method, request.path, request.slug) == (
        "DELETE",
        "/v1/virtual-keys/a%2Fb",
        "a/b",
    )
    assert request.body == b""
    with pytest.raises(NotFoundError):
        client.retrieve("a/b")


def test_delete_of_a_missing_key_is_not_found(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(NotFoundError):
        client.call("delete", "missing")
    assert len(fake.requests) == 1, "a plain 404 is not retried"


@pytest.mark.parametrize("slug", ["", "a\x00", None])
def test_delete_refuses_a_bad_slug(fake: FakePortkey, client: Surface, slug: Any) -> None:
    with pytest.raises(ValueError, match="slug"):
        client.call("delete", slug)
    assert fake.requests == []


# -- with_raw_response --------------------------------------------------------------------------


def test_raw_response_of_every_write(fake: FakePortkey, client: Surface) -> None:
    raw, ref = client.call_raw("create", name="raw", provider="openai", key=SECRET)
    assert raw.status_code == 200
    assert raw.request_id is not None
    assert isinstance(ref, ResourceRef)
    assert raw.json() == {"success": True, "data": {"slug": ref.slug}}  # type: ignore[attr-defined]
    raw, result = client.call_raw("update", ref.slug, note="x")
    assert (raw.status_code, result) == (200, None)
    assert fake.requests[-1].method == "PUT"
    raw, result = client.call_raw("delete", ref.slug)
    assert (raw.status_code, result) == (200, None)
    assert fake.requests[-1].method == "DELETE"


def test_raw_view_refuses_bad_arguments_too(fake: FakePortkey, client: Surface) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        client.call_raw("update", "k")
    assert fake.requests == []
