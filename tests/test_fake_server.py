"""FakePortkey's admin routes, spoken to in plain HTTP as the wire contract defines them.

The SDK has no list/create/update/delete yet, so these tests are the contract's only check: every
request is real HTTP (urllib) to the fake on 127.0.0.1, and every answer is read as bytes off the
socket.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode

import pytest

from portkey_vk import VirtualKey
from portkey_vk.testing import FakePortkey

_NO_BODY = object()


class Answer:
    """One response: status, decoded JSON (or None) and headers."""

    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self.status = status
        self.raw = body
        self.body: Any = json.loads(body) if body else None
        self.headers = headers

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body!r})"


def call(
    fake: FakePortkey,
    method: str,
    path: str,
    body: Any = _NO_BODY,
    *,
    query: dict[str, Any] | list[tuple[str, Any]] | None = None,
    key: str | None = "",
    raw: bytes | None = None,
) -> Answer:
    """Send ``method`` ``path`` (below the base path) with ``body`` as JSON and the fake's key."""
    url = fake.base_url + path + ("?" + urlencode(query) if query else "")
    data = raw if raw is not None else None if body is _NO_BODY else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("x-portkey-api-key", key or fake.api_key)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return Answer(response.status, response.read(), response.headers)
    except HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.read(), exc.headers)


def error(status: int, answer: Answer) -> str:
    """The message of a Portkey-shaped error answer, after checking its status and shape."""
    assert answer.status == status, answer
    assert answer.body["success"] is False
    assert set(answer.body) == {"success", "data"}
    message = answer.body["data"]["message"]
    assert isinstance(message, str)
    return message


def create_key(fake: FakePortkey, **fields: Any) -> str:
    body = {"name": "OpenAI prod", "provider": "openai", "key": "sk-live-0123456789wxyz"}
    body.update(fields)
    answer = call(fake, "POST", "/virtual-keys", body)
    assert answer.status == 200, answer
    slug = answer.body["data"]["slug"]
    assert isinstance(slug, str)
    return slug


# -- virtual keys: create ------------------------------------------------------------------------


def test_create_virtual_key_answers_the_slug_and_stores_the_key(fake: FakePortkey) -> None:
    answer = call(
        fake,
        "POST",
        "/virtual-keys",
        {
            "name": "OpenAI Prod (EU)",
            "provider": "openai",
            "key": "sk-live-0123456789wxyz",
            "note": "for search",
            "usage_limits": {"credit_limit": 10, "periodic_reset": "monthly"},
            "rate_limits": {"type": "requests", "unit": "rpm", "value": 100},
            "expires_at": "2030-01-01T00:00:00Z",
        },
    )
    assert answer.status == 200
    assert set(answer.body) == {"success", "data"}
    assert answer.body["success"] is True
    slug = answer.body["data"]["slug"]
    assert set(answer.body["data"]) == {"slug"}
    # Lowercased, runs of anything but [a-z0-9] to one '-', and a random 6-hex suffix.
    assert re.fullmatch(r"openai-prod-eu-[0-9a-f]{6}", slug)

    stored = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert stored["slug"] == slug
    assert stored["name"] == "OpenAI Prod (EU)"
    assert stored["note"] == "for search"
    assert stored["ai_provider_name"] == "openai"
    assert stored["status"] == "active"
    assert stored["object"] == "virtual-key"
    assert stored["usage_limits"] == {"credit_limit": 10, "periodic_reset": "monthly"}
    # One rate limit object in the request, a list in the resource.
    assert stored["rate_limits"] == [{"type": "requests", "unit": "rpm", "value": 100}]
    assert stored["expires_at"] == "2030-01-01T00:00:00Z"
    assert stored["secret_mappings"] == []
    assert stored["reset_usage"] == 0
    # The provider secret is stored, but only ever served masked.
    assert stored["masked_api_key"] == "sk-****wxyz"
    assert stored["key"] == "sk-****wxyz"
    assert "0123456789" not in json.dumps(stored)
    assert fake.provider_key_of(slug) == "sk-live-0123456789wxyz"
    # The SDK reads what the fake created.
    vk = VirtualKey.from_dict(stored)
    assert vk.expires_at is not None
    assert vk.expires_at.year == 2030


def test_created_slugs_are_distinct_even_for_one_name(fake: FakePortkey) -> None:
    slugs = {create_key(fake, name="Same") for _ in range(5)}
    assert len(slugs) == 5
    assert all(re.fullmatch(r"same-[0-9a-f]{6}", slug) for slug in slugs)


def test_a_name_without_ascii_letters_gets_a_generic_slug(fake: FakePortkey) -> None:
    assert re.fullmatch(r"virtual-key-[0-9a-f]{6}", create_key(fake, name="中文 ✓"))


def test_a_short_provider_key_is_fully_masked(fake: FakePortkey) -> None:
    slug = create_key(fake, key="sk-short")
    stored = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert stored["masked_api_key"] == "****"
    assert "short" not in json.dumps(stored)


def test_create_maps_azure_fields_into_model_config(fake: FakePortkey) -> None:
    deployments = [
        {"apiVersion": "2024-02-01", "alias": "gpt4", "deploymentName": "d1", "is_default": True},
        {"apiVersion": "2024-02-01", "deploymentName": "d2"},
    ]
    slug = create_key(
        fake,
        provider="azure-openai",
        resourceName="my-resource",
        apiVersion="2024-02-01",
        deploymentName=None,
        deploymentConfig=deployments,
        azureAuthMode="default",
        awsSecretAccessKey="aws-secret-0123456789abcd",
    )
    stored = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert stored["model_config"] == {
        "apiVersion": "2024-02-01",
        "resourceName": "my-resource",
        "deployments": deployments,
        # Provider-specific fields land in model_config; a secret-looking one only masked.
        "azureAuthMode": "default",
        "awsSecretAccessKey": "aws****abcd",
    }


def test_create_with_a_key_secret_mapping_needs_no_key(fake: FakePortkey) -> None:
    mappings = [
        {"target_field": "key", "secret_reference_id": "my-openai-secret"},
        {
            "target_field": "model_config.awsSecretAccessKey",
            "secret_reference_id": "aws",
            "secret_key": "secret",
            "value_format": "string",
        },
    ]
    answer = call(
        fake,
        "POST",
        "/virtual-keys",
        {"name": "mapped", "provider": "bedrock", "secret_mappings": mappings},
    )
    assert answer.status == 200, answer
    slug = answer.body["data"]["slug"]
    stored = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert stored["secret_mappings"] == mappings
    assert stored["masked_api_key"] is None
    assert "key" not in stored
    assert fake.provider_key_of(slug) is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"provider": "openai", "key": "sk-x"}, "name is required"),
        ({"name": "  ", "provider": "openai", "key": "sk-x"}, "name must not be empty"),
        ({"name": 5, "provider": "openai", "key": "sk-x"}, "name must be a string"),
        ({"name": "n", "key": "sk-x"}, "provider is required"),
        ({"name": "n", "provider": "openai"}, "key is required unless"),
        ({"name": "n", "provider": "openai", "key": None}, "key is required unless"),
        ({"name": "n", "provider": "openai", "key": ""}, "key must not be empty"),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [{"target_field": "model_config.x", "secret_reference_id": "s"}],
            },
            "key is required unless",
        ),
        ({"name": "n", "provider": "openai", "key": "k", "note": 1}, "note must be a string"),
        (
            {"name": "n", "provider": "openai", "key": "k", "usage_limits": [1]},
            "usage_limits must be an object",
        ),
        (
            {"name": "n", "provider": "openai", "key": "k", "usage_limits": {"credit_limit": "x"}},
            "credit_limit",
        ),
        ({"name": "n", "provider": "openai", "key": "k", "rate_limits": 3}, "rate_limits"),
        ({"name": "n", "provider": "openai", "key": "k", "rate_limits": [1]}, "rate_limits"),
        ({"name": "n", "provider": "openai", "key": "k", "expires_at": "soon"}, "expires_at"),
        ({"name": "n", "provider": "openai", "key": "k", "expires_at": "2030-02-30"}, "expires_at"),
        ({"name": "n", "provider": "openai", "key": "k", "workspace_id": 3}, "workspace_id"),
        ({"name": "n", "provider": "openai", "key": "k", "secret_mappings": {}}, "must be a list"),
        (
            {"name": "n", "provider": "openai", "key": "k", "secret_mappings": ["key"]},
            "must be an object",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [{"target_field": "key", "secret_reference_id": ""}],
            },
            "secret_reference_id",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [{"target_field": "name", "secret_reference_id": "s"}],
            },
            "target_field must be",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [
                    {"target_field": "key", "secret_reference_id": "s"},
                    {"target_field": "key", "secret_reference_id": "t"},
                ],
            },
            "given twice",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [
                    {"target_field": "key", "secret_reference_id": "s", "secret_key": 1}
                ],
            },
            "secret_key",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "secret_mappings": [
                    {"target_field": "key", "secret_reference_id": "s", "value_format": "xml"}
                ],
            },
            "value_format",
        ),
        (
            {"name": "n", "provider": "openai", "key": "k", "deploymentConfig": {}},
            "deploymentConfig must be a list",
        ),
        (
            {"name": "n", "provider": "openai", "key": "k", "deploymentConfig": [{"alias": "a"}]},
            "apiVersion and deploymentName",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "key": "k",
                "deploymentConfig": [{"apiVersion": "v", "deploymentName": "d", "alias": 1}],
            },
            "alias",
        ),
        (
            {
                "name": "n",
                "provider": "openai",
                "key": "k",
                "deploymentConfig": [
                    {"apiVersion": "v", "deploymentName": "d", "is_default": "yes"}
                ],
            },
            "is_default",
        ),
        ([{"name": "n"}], "must be a JSON object"),
        ("name", "must be a JSON object"),
    ],
)
def test_create_refuses_a_bad_body(fake: FakePortkey, body: Any, fragment: str) -> None:
    assert fragment in error(400, call(fake, "POST", "/virtual-keys", body))
    assert call(fake, "GET", "/virtual-keys").body["total"] == 0, "nothing is stored"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        # Python's json reads these; they are not JSON, and the fake would serve them back.
        (
            b'{"name": "n", "provider": "p", "key": "k", "usage_limits": {"credit_limit": NaN}}',
            "not valid JSON",
        ),
        (b'{"name": "n", "provider": "p", "key": "k", "reset_usage": -Infinity}', "not valid JSON"),
    ],
)
def test_create_refuses_a_body_that_is_not_a_json_object(
    fake: FakePortkey, raw: bytes, fragment: str
) -> None:
    assert fragment in error(400, call(fake, "POST", "/virtual-keys", raw=raw))


def test_timestamps_in_every_iso_form_are_accepted(fake: FakePortkey) -> None:
    for stamp in (
        "2030-01-01",
        "2030-01-01T10:00",
        "2030-01-01T10:00:00",
        "2030-01-01T10:00:00.1234567+02:00",
        "2030-01-01 10:00:00.5Z",
    ):
        create_key(fake, expires_at=stamp)
    assert call(fake, "GET", "/virtual-keys").body["total"] == 5


# -- virtual keys: list, update, delete ----------------------------------------------------------


def test_list_virtual_keys_in_creation_order_with_paging(fake: FakePortkey) -> None:
    fake.add_virtual_key("a")
    made = create_key(fake)
    fake.add_virtual_key("c")
    answer = call(fake, "GET", "/virtual-keys")
    assert answer.status == 200
    assert answer.body["object"] == "list"
    assert answer.body["total"] == 3
    assert [item["slug"] for item in answer.body["data"]] == ["a", made, "c"]
    assert answer.body["data"][0] == call(fake, "GET", "/virtual-keys/a").body

    page = call(fake, "GET", "/virtual-keys", query={"current_page": 1, "page_size": 2}).body
    assert (page["total"], [item["slug"] for item in page["data"]]) == (3, ["c"])
    past = call(fake, "GET", "/virtual-keys", query={"current_page": 5, "page_size": 2}).body
    assert (past["total"], past["data"]) == (3, [])
    # Storing a slug again is a new creation: it moves to the end.
    fake.add_virtual_key("a")
    slugs = [item["slug"] for item in call(fake, "GET", "/virtual-keys").body["data"]]
    assert slugs == [made, "c", "a"]


def test_list_page_size_defaults_to_50(fake: FakePortkey) -> None:
    for index in range(51):
        fake.add_virtual_key(f"k{index}")
    first = call(fake, "GET", "/virtual-keys").body
    assert (first["total"], len(first["data"])) == (51, 50)
    second = call(fake, "GET", "/virtual-keys", query={"current_page": 1}).body
    assert [item["slug"] for item in second["data"]] == ["k50"]
    everything = call(fake, "GET", "/virtual-keys", query={"page_size": 1000}).body
    assert len(everything["data"]) == 51


@pytest.mark.parametrize("route", ["/virtual-keys", "/providers", "/integrations"])
@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"current_page": -1}, "current_page must be an integer >= 0"),
        ({"current_page": "one"}, "current_page must be an integer >= 0"),
        ({"current_page": "1.5"}, "current_page"),
        ({"current_page": ""}, "current_page"),
        ({"current_page": "9" * 30}, "current_page"),
        ({"page_size": 0}, "page_size must be an integer >= 1"),
        ({"page_size": -5}, "page_size"),
        ({"page_size": 1001}, "page_size must be at most 1000"),
        ([("page_size", 1), ("page_size", 2)], "page_size is given more than once"),
        ([("workspace_id", "a"), ("workspace_id", "b")], "workspace_id is given more than once"),
    ],
)
def test_list_refuses_bad_paging(
    fake: FakePortkey, route: str, query: dict[str, Any] | list[tuple[str, Any]], fragment: str
) -> None:
    assert fragment in error(400, call(fake, "GET", route, query=query))


def test_update_virtual_key_changes_only_what_is_given(fake: FakePortkey) -> None:
    slug = create_key(
        fake,
        note="before",
        usage_limits={"credit_limit": 5},
        deploymentConfig=[{"apiVersion": "v", "deploymentName": "d"}],
        resourceName="r",
    )
    before = call(fake, "GET", f"/virtual-keys/{slug}").body
    answer = call(fake, "PUT", f"/virtual-keys/{slug}", {"name": "renamed"})
    assert (answer.status, answer.body) == (200, {"success": True, "data": {}})
    after = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert after == {**before, "name": "renamed"}

    answer = call(
        fake,
        "PUT",
        f"/virtual-keys/{slug}",
        {
            "key": "sk-rotated-00000000zzzz",
            "note": None,
            "usage_limits": None,
            "rate_limits": [{"type": "tokens", "unit": "rph", "value": 9}],
            "expires_at": "2031-01-01T00:00:00Z",
            "deploymentConfig": None,
            "secret_mappings": [
                {"target_field": "model_config.resourceName", "secret_reference_id": "s"}
            ],
            "workspace_id": "ignored-on-put",
        },
    )
    assert answer.status == 200, answer
    after = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert after["note"] is None
    assert after["usage_limits"] is None
    assert after["rate_limits"] == [{"type": "tokens", "unit": "rph", "value": 9}]
    assert after["expires_at"] == "2031-01-01T00:00:00Z"
    assert after["model_config"] == {"resourceName": "r"}
    assert after["secret_mappings"][0]["target_field"] == "model_config.resourceName"
    assert after["masked_api_key"] == after["key"] == "sk-****zzzz"
    assert fake.provider_key_of(slug) == "sk-rotated-00000000zzzz"
    assert "workspace_id" not in after
    # A one-object rate limit becomes a list; null clears the list, and the mappings too.
    call(fake, "PUT", f"/virtual-keys/{slug}", {"rate_limits": {"value": 1}})
    assert call(fake, "GET", f"/virtual-keys/{slug}").body["rate_limits"] == [{"value": 1}]
    call(fake, "PUT", f"/virtual-keys/{slug}", {"rate_limits": None, "secret_mappings": None})
    cleared = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert (cleared["rate_limits"], cleared["secret_mappings"]) == ([], [])
    call(fake, "PUT", f"/virtual-keys/{slug}", {"deploymentConfig": [], "expires_at": None})
    cleared = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert (cleared["model_config"]["deployments"], cleared["expires_at"]) == ([], None)


def test_update_of_a_key_added_without_model_config(fake: FakePortkey) -> None:
    fake.add_virtual_key("k", model_config=None)
    dep = [{"apiVersion": "v", "deploymentName": "d"}]
    assert call(fake, "PUT", "/virtual-keys/k", {"deploymentConfig": dep}).status == 200
    assert call(fake, "GET", "/virtual-keys/k").body["model_config"] == {"deployments": dep}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": None}, "name is required"),
        ({"name": ""}, "name must not be empty"),
        ({"key": None}, "key is required"),
        ({"key": 42}, "key must be a string"),
        ({"usage_limits": "none"}, "usage_limits"),
        ({"usage_limits": {"credit_limit": "ten"}}, "credit_limit"),
        ({"rate_limits": "fast"}, "rate_limits"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"secret_mappings": [{"target_field": "key"}]}, "secret_reference_id"),
        ({"deploymentConfig": [{}]}, "deploymentConfig"),
        ([], "must be a JSON object"),
    ],
)
def test_update_refuses_a_bad_body_and_keeps_the_key(
    fake: FakePortkey, body: Any, fragment: str
) -> None:
    before = call(fake, "GET", f"/virtual-keys/{create_key(fake)}").body
    slug = before["slug"]
    assert fragment in error(400, call(fake, "PUT", f"/virtual-keys/{slug}", body))
    assert call(fake, "GET", f"/virtual-keys/{slug}").body == before


def test_update_and_delete_of_an_unknown_key_is_404(fake: FakePortkey) -> None:
    assert "'nope' not found" in error(404, call(fake, "PUT", "/virtual-keys/nope", {"name": "x"}))
    assert "'nope' not found" in error(404, call(fake, "DELETE", "/virtual-keys/nope"))


def test_delete_virtual_key(fake: FakePortkey) -> None:
    slug = create_key(fake)
    answer = call(fake, "DELETE", f"/virtual-keys/{slug}")
    assert (answer.status, answer.body) == (200, {"success": True, "data": {}})
    assert call(fake, "GET", f"/virtual-keys/{slug}").status == 404
    assert call(fake, "GET", f"/providers/{slug}").status == 404
    assert call(fake, "DELETE", f"/virtual-keys/{slug}").status == 404
    with pytest.raises(KeyError):
        fake.provider_key_of(slug)


def test_slugs_are_decoded_for_every_method(fake: FakePortkey) -> None:
    fake.add_virtual_key("a/b é")
    assert call(fake, "PUT", "/virtual-keys/a%2Fb%20%C3%A9", {"note": "n"}).status == 200
    assert call(fake, "GET", "/providers/a%2Fb%20%C3%A9").body["note"] == "n"
    assert call(fake, "DELETE", "/virtual-keys/a%2Fb%20%C3%A9").status == 200
    assert [request.slug for request in fake.requests] == ["a/b é"] * 3
    assert fake.requests[0].path == "/v1/virtual-keys/a%2Fb%20%C3%A9"


# -- workspaces ----------------------------------------------------------------------------------


def test_workspace_id_scopes_keys_exactly(fake: FakePortkey) -> None:
    in_w1 = create_key(fake, workspace_id="w1")
    create_key(fake, workspace_id="w2")
    fake.add_virtual_key("added-w1", workspace_id="w1")
    fake.add_virtual_key("nowhere")
    create_key(fake, workspace_id="")  # the official SDKs' "unset"

    everything = call(fake, "GET", "/virtual-keys").body
    assert everything["total"] == 5
    w1 = call(fake, "GET", "/virtual-keys", query={"workspace_id": "w1"}).body
    assert [item["slug"] for item in w1["data"]] == [in_w1, "added-w1"]
    assert w1["total"] == 2
    assert all(item["workspace_id"] == "w1" for item in w1["data"])
    assert call(fake, "GET", "/virtual-keys", query={"workspace_id": "w3"}).body["total"] == 0
    # An empty workspace_id is no filter at all.
    assert call(fake, "GET", "/virtual-keys", query={"workspace_id": ""}).body["total"] == 5
    # The same rule on one key: in scope, or 404.
    assert call(fake, "GET", f"/virtual-keys/{in_w1}", query={"workspace_id": "w1"}).status == 200
    assert call(fake, "GET", f"/virtual-keys/{in_w1}", query={"workspace_id": "w2"}).status == 404
    assert call(fake, "GET", "/virtual-keys/nowhere", query={"workspace_id": "w1"}).status == 404
    put = call(fake, "PUT", f"/virtual-keys/{in_w1}", {"note": "x"}, query={"workspace_id": "w2"})
    assert put.status == 404
    assert (
        call(fake, "DELETE", f"/virtual-keys/{in_w1}", query={"workspace_id": "w2"}).status == 404
    )


def test_workspace_id_scopes_providers_and_is_read_from_the_create_body(
    fake: FakePortkey,
) -> None:
    fake.add_integration("openai")
    body = {"name": "P", "integration_id": "openai", "workspace_id": "w1", "slug": "p-w1"}
    assert call(fake, "POST", "/providers", body).status == 200
    # On POST the workspace goes in the body; one in the query is not read.
    body = {"name": "Q", "integration_id": "openai", "slug": "q"}
    assert call(fake, "POST", "/providers", body, query={"workspace_id": "w1"}).status == 200
    fake.add_virtual_key("vk-w1", workspace_id="w1")
    listed = call(fake, "GET", "/providers", query={"workspace_id": "w1"}).body
    assert [item["slug"] for item in listed["data"]] == ["p-w1", "vk-w1"]
    assert listed["data"][1]["workspace_id"] == "w1"
    assert call(fake, "GET", "/providers").body["total"] == 3
    assert call(fake, "GET", "/providers/q", query={"workspace_id": "w1"}).status == 404
    assert (
        call(fake, "PUT", "/providers/p-w1", {"note": "n"}, query={"workspace_id": "w2"}).status
        == 404
    )
    assert call(fake, "DELETE", "/providers/p-w1", query={"workspace_id": "w1"}).status == 200


# -- providers -----------------------------------------------------------------------------------


def test_create_provider_answers_a_bare_id_and_slug(fake: FakePortkey) -> None:
    fake.add_integration("my-openai", ai_provider_id="openai")
    answer = call(
        fake,
        "POST",
        "/providers",
        {
            "name": "My first provider",
            "integration_id": "my-openai",
            "note": "n",
            "usage_limits": {"credit_limit": 10},
            "rate_limits": {"type": "requests", "unit": "rpm", "value": 5},
            "expires_at": "2030-01-01T00:00:00Z",
        },
    )
    assert answer.status == 200
    assert set(answer.body) == {"id", "slug"}
    slug = answer.body["slug"]
    assert re.fullmatch(r"my-first-provider-[0-9a-f]{6}", slug)
    provider = call(fake, "GET", f"/providers/{slug}").body
    assert provider == {
        "id": answer.body["id"],
        "slug": slug,
        "name": "My first provider",
        "note": "n",
        "status": "active",
        "usage_limits": {"credit_limit": 10},
        "reset_usage": 0,
        "created_at": provider["created_at"],
        "rate_limits": [{"type": "requests", "unit": "rpm", "value": 5}],
        "expires_at": "2030-01-01T00:00:00Z",
        "integration_id": "my-openai",
        "ai_provider_id": "openai",
        "object": "provider",
    }
    # Not a virtual key.
    assert call(fake, "GET", f"/virtual-keys/{slug}").status == 404


def test_create_provider_with_a_slug_and_an_unknown_integration(fake: FakePortkey) -> None:
    # A provider draws its credentials from an integration: on one that does not exist, 404
    # (issue 17), and nothing is stored.
    body = {"name": "P", "integration_id": "not-added", "slug": "chosen"}
    assert "'not-added' not found" in error(404, call(fake, "POST", "/providers", body))
    assert call(fake, "GET", "/providers").body["total"] == 0
    fake.add_integration("added", ai_provider_id="anthropic")
    body = {"name": "P", "integration_id": "added", "slug": "chosen"}
    answer = call(fake, "POST", "/providers", body)
    assert answer.body["slug"] == "chosen"
    provider = call(fake, "GET", "/providers/chosen").body
    assert (provider["integration_id"], provider["ai_provider_id"]) == ("added", "anthropic")
    assert "'chosen' already exists" in error(409, call(fake, "POST", "/providers", body))
    fake.add_virtual_key("vk")
    body = {"name": "P", "integration_id": "added", "slug": "vk"}
    assert "'vk' already exists" in error(409, call(fake, "POST", "/providers", body))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"integration_id": "i"}, "name is required"),
        ({"name": "n"}, "integration_id is required"),
        ({"name": "n", "integration_id": ""}, "integration_id must not be empty"),
        ({"name": "n", "integration_id": "i", "slug": ""}, "slug must not be empty"),
        ({"name": "n", "integration_id": "i", "slug": 3}, "slug must be a string"),
        ({"name": "n", "integration_id": "i", "rate_limits": "x"}, "rate_limits"),
        ({"name": "n", "integration_id": "i", "usage_limits": 1}, "usage_limits"),
        ({"name": "n", "integration_id": "i", "expires_at": "x"}, "expires_at"),
        ({"name": "n", "integration_id": "i", "workspace_id": []}, "workspace_id"),
        (None, "must be a JSON object"),
    ],
)
def test_create_provider_refuses_a_bad_body(fake: FakePortkey, body: Any, fragment: str) -> None:
    assert fragment in error(400, call(fake, "POST", "/providers", body))
    assert call(fake, "GET", "/providers").body["total"] == 0


def test_update_provider(fake: FakePortkey) -> None:
    stored = fake.add_provider("p", usage_limits={"credit_limit": 3}, reset_usage=7)
    answer = call(
        fake,
        "PUT",
        "/providers/p",
        {
            "name": "renamed",
            "note": "n",
            "usage_limits": None,
            "rate_limits": {"value": 1},
            "expires_at": None,
            "reset_usage": True,
        },
    )
    assert (answer.status, answer.body) == (200, {"id": stored["id"], "slug": "p"})
    provider = call(fake, "GET", "/providers/p").body
    assert provider["name"] == "renamed"
    assert provider["note"] == "n"
    assert provider["usage_limits"] is None
    assert provider["rate_limits"] == [{"value": 1}]
    assert provider["reset_usage"] == 0
    assert "last_reset_at" in provider
    call(fake, "PUT", "/providers/p", {"reset_usage": False, "expires_at": "2030-01-01"})
    provider = call(fake, "GET", "/providers/p").body
    assert provider["expires_at"] == "2030-01-01"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"reset_usage": 1}, "reset_usage must be a boolean"),
        ({"name": None}, "name is required"),
        ({"note": 3}, "note must be a string"),
        ({"expires_at": "later"}, "expires_at"),
        ("x", "must be a JSON object"),
    ],
)
def test_update_provider_refuses_a_bad_body(fake: FakePortkey, body: Any, fragment: str) -> None:
    stored = fake.add_provider("p")
    assert fragment in error(400, call(fake, "PUT", "/providers/p", body))
    assert call(fake, "GET", "/providers/p").body == stored


def test_provider_update_and_delete_of_an_unknown_slug_is_404(fake: FakePortkey) -> None:
    fake.add_virtual_key("hidden", as_provider=False)
    for method in ("GET", "PUT", "DELETE"):
        answer = call(fake, method, "/providers/hidden", {} if method == "PUT" else _NO_BODY)
        assert "Provider 'hidden' not found" in error(404, answer)


def test_delete_provider(fake: FakePortkey) -> None:
    fake.add_provider("p")
    answer = call(fake, "DELETE", "/providers/p")
    assert (answer.status, answer.body) == (200, {"success": True, "data": {}})
    assert call(fake, "GET", "/providers/p").status == 404


def test_providers_list_mixes_providers_and_mirrors_in_creation_order(fake: FakePortkey) -> None:
    fake.add_virtual_key("vk-1")
    fake.add_provider("p-1")
    fake.add_virtual_key("vk-hidden", as_provider=False)
    fake.add_virtual_key("vk-2")
    listed = call(fake, "GET", "/providers").body
    assert listed["object"] == "list"
    assert [item["slug"] for item in listed["data"]] == ["vk-1", "p-1", "vk-2"]
    assert {item["object"] for item in listed["data"]} == {"provider"}
    page = call(fake, "GET", "/providers", query={"current_page": 1, "page_size": 2}).body
    assert (page["total"], [item["slug"] for item in page["data"]]) == (3, ["vk-2"])


# -- the provider mirror of a virtual key --------------------------------------------------------


def test_a_virtual_key_is_served_as_a_provider(fake: FakePortkey) -> None:
    vk = fake.add_virtual_key(
        "claude",
        name="Claude",
        note="n",
        status="exhausted",
        ai_provider_name="anthropic",
        usage_limits={"credit_limit": 5},
        rate_limits=[{"value": 1}],
        expires_at="2030-01-01T00:00:00Z",
        model_config={"x": 1},
        secret_mappings=[{"target_field": "key", "secret_reference_id": "s"}],
        tags=["t"],
    )
    provider = call(fake, "GET", "/providers/claude").body
    key = call(fake, "GET", "/virtual-keys/claude").body
    assert provider == {
        "id": vk.id,
        "slug": "claude",
        "name": "Claude",
        "note": "n",
        "status": "exhausted",
        "usage_limits": {"credit_limit": 5},
        "reset_usage": 0,
        "created_at": key["created_at"],
        "rate_limits": [{"value": 1}],
        "expires_at": "2030-01-01T00:00:00Z",
        "integration_id": "anthropic",
        "ai_provider_id": "anthropic",
        "object": "provider",
    }
    fake.add_virtual_key("integrated", integration_id="my-integration")
    assert call(fake, "GET", "/providers/integrated").body["integration_id"] == "my-integration"


def test_a_mirrored_provider_is_the_key_itself(fake: FakePortkey) -> None:
    slug = create_key(fake)
    answer = call(fake, "PUT", f"/providers/{slug}", {"name": "via provider", "reset_usage": True})
    key = call(fake, "GET", f"/virtual-keys/{slug}").body
    assert answer.body == {"id": key["id"], "slug": slug}
    assert key["name"] == "via provider"
    assert key["last_reset_at"] == call(fake, "GET", f"/providers/{slug}").body["last_reset_at"]
    # The key must stay one the SDK can read.
    bad = call(fake, "PUT", f"/providers/{slug}", {"usage_limits": {"credit_limit": "x"}})
    assert "credit_limit" in error(400, bad)
    assert call(fake, "DELETE", f"/providers/{slug}").status == 200
    assert call(fake, "GET", f"/virtual-keys/{slug}").status == 404


def test_an_explicit_provider_shadows_the_mirror(fake: FakePortkey) -> None:
    fake.add_virtual_key("same", name="the key")
    fake.add_provider("same", name="the provider")
    assert call(fake, "GET", "/providers/same").body["name"] == "the provider"
    assert [item["name"] for item in call(fake, "GET", "/providers").body["data"]] == [
        "the provider"
    ]
    assert call(fake, "DELETE", "/providers/same").status == 200
    # The key, and so its mirror, are still there.
    assert call(fake, "GET", "/providers/same").body["name"] == "the key"


def test_as_provider_false_hides_the_mirror_only(fake: FakePortkey) -> None:
    vk = fake.add_virtual_key("private", as_provider=False)
    assert "as_provider" not in vk.extra
    assert "as_provider" not in call(fake, "GET", "/virtual-keys/private").body
    assert call(fake, "GET", "/providers/private").status == 404
    assert call(fake, "GET", "/providers").body["total"] == 0


# -- integrations --------------------------------------------------------------------------------


def test_integrations_list_and_detail(fake: FakePortkey) -> None:
    detail = fake.add_integration(
        "azure-prod",
        name="Azure prod",
        ai_provider_id="azure-openai",
        key="azure-key-0123456789abcd",
        configurations={
            "azure_resource_name": "res",
            "azure_entra_client_secret": "entra-secret-000011112222",
            "azure_entra_client_id": "client-id",
            "vertex_service_account_json": {"private_key": "-----BEGIN"},
        },
        allow_all_models=True,
    )
    assert "key" not in detail
    assert detail["masked_key"] == "azu****abcd"
    assert detail["configurations"] == {
        "azure_resource_name": "res",
        "masked_azure_entra_client_secret": "ent****2222",
        "azure_entra_client_id": "client-id",
        "masked_vertex_service_account_json": "****",
    }
    assert call(fake, "GET", "/integrations/azure-prod").body == detail
    assert "0123456789" not in call(fake, "GET", "/integrations/azure-prod").raw.decode()

    listed = call(fake, "GET", "/integrations").body
    assert listed["object"] == "list"
    assert listed["total"] == 1
    item = listed["data"][0]
    assert item == {
        "id": detail["id"],
        "organisation_id": detail["organisation_id"],
        "ai_provider_id": "azure-openai",
        "name": "Azure prod",
        "status": "active",
        "created_at": detail["created_at"],
        "last_updated_at": detail["last_updated_at"],
        "slug": "azure-prod",
        "description": None,
        "object": "integration",
    }
    assert "Integration 'nope' not found" in error(404, call(fake, "GET", "/integrations/nope"))


def test_integrations_page_size_defaults_to_100(fake: FakePortkey) -> None:
    for index in range(101):
        fake.add_integration(f"i{index}")
    listed = call(fake, "GET", "/integrations").body
    assert (listed["total"], len(listed["data"])) == (101, 100)
    assert call(fake, "GET", "/integrations", query={"current_page": 1}).body["data"][0][
        "slug"
    ] == ("i100")


def test_integrations_filter_by_type_and_workspace(fake: FakePortkey) -> None:
    fake.add_integration("global", status="archived")
    fake.add_integration("w1-only", workspace_id="w1")
    fake.add_integration("w2-only", workspace_id="w2")

    def slugs(**query: str) -> list[str]:
        return [
            item["slug"] for item in call(fake, "GET", "/integrations", query=query).body["data"]
        ]

    assert slugs() == ["global", "w1-only", "w2-only"]
    assert slugs(type="all") == ["global", "w1-only", "w2-only"]
    assert slugs(type="organisation") == ["global"]
    assert slugs(type="workspace") == ["w1-only", "w2-only"]
    # A workspace sees the organisation's integrations and its own.
    assert slugs(workspace_id="w1") == ["global", "w1-only"]
    assert slugs(workspace_id="w1", type="workspace") == ["w1-only"]
    assert "type must be" in error(400, call(fake, "GET", "/integrations", query={"type": "x"}))


def test_integrations_serve_what_the_document_has_and_no_more(fake: FakePortkey) -> None:
    # Integrations became writable (issue 17): what the document does not have is still 405.
    fake.add_integration("i")
    answer = call(fake, "DELETE", "/integrations", {})
    assert error(405, answer) == "Method Not Allowed"
    assert answer.headers["Allow"] == "GET, POST"
    answer = call(fake, "DELETE", "/integrations/i/workspaces")
    assert error(405, answer) == "Method Not Allowed"
    assert answer.headers["Allow"] == "GET, PUT"
    assert call(fake, "GET", "/integrations/i/unknown").status == 404
    assert call(fake, "GET", "/integrations/i").status == 200


# -- routing and auth ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/virtual-keys"),
        ("POST", "/virtual-keys"),
        ("GET", "/virtual-keys/k"),
        ("PUT", "/virtual-keys/k"),
        ("DELETE", "/virtual-keys/k"),
        ("GET", "/providers"),
        ("POST", "/providers"),
        ("GET", "/providers/k"),
        ("PUT", "/providers/k"),
        ("DELETE", "/providers/k"),
        ("GET", "/integrations"),
        ("GET", "/integrations/k"),
        ("GET", "/nowhere"),
        ("PATCH", "/providers"),
    ],
)
@pytest.mark.parametrize("key", [None, "pk-wrong"])
def test_every_route_needs_the_api_key(
    fake: FakePortkey, method: str, path: str, key: str | None
) -> None:
    fake.add_virtual_key("k")
    fake.add_integration("k")
    body = {"name": "x"} if method in ("POST", "PUT") else _NO_BODY
    answer = call(fake, method, path, body, key=key)
    assert (answer.status, answer.body) == (
        401,
        {"success": False, "data": {"message": "Unauthorised Request"}},
    )
    assert call(fake, "GET", "/virtual-keys/k").body["name"] == "k", "nothing changed"


@pytest.mark.parametrize(
    "path", ["/", "/virtual-keys/", "/virtual-keys/a/b", "/providers/", "/v2/virtual-keys", ""]
)
def test_unknown_routes_are_404_in_portkeys_shape(fake: FakePortkey, path: str) -> None:
    assert error(404, call(fake, "GET", path)) == "Not Found"


def test_a_path_outside_the_base_path_is_404() -> None:
    with FakePortkey(base_path="/portkey/v1") as hosted:
        hosted.add_virtual_key("k")
        url = hosted.base_url.removesuffix("/portkey/v1") + "/v1/virtual-keys/k"
        request = urllib.request.Request(url, headers={"x-portkey-api-key": hosted.api_key})
        with pytest.raises(HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        with info.value:
            assert info.value.code == 404
            assert json.loads(info.value.read())["data"]["message"] == "Not Found"
        assert hosted.requests[-1].slug is None


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/virtual-keys/k", "GET, PUT, DELETE"),
        ("PUT", "/virtual-keys", "GET, POST"),
        ("DELETE", "/providers", "GET, POST"),
        ("POST", "/providers/k", "GET, PUT, DELETE"),
        ("PUT", "/integrations", "GET, POST"),
    ],
)
def test_a_method_a_route_does_not_serve_is_405(
    fake: FakePortkey, method: str, path: str, allow: str
) -> None:
    answer = call(fake, method, path, {})
    assert error(405, answer) == "Method Not Allowed"
    assert answer.headers["Allow"] == allow


def test_successful_answers_carry_a_request_id(fake: FakePortkey) -> None:
    first = call(fake, "GET", "/providers")
    second = call(fake, "GET", "/providers")
    assert first.headers["x-portkey-request-id"] != second.headers["x-portkey-request-id"]
    assert first.headers["Content-Type"].startswith("application/json")


def test_a_body_over_the_size_limit_is_413_in_portkeys_shape(fake: FakePortkey) -> None:
    answer = call(fake, "POST", "/virtual-keys", raw=b" " * (1024**2 + 1))
    # The phrase is the interpreter's: "Request Entity Too Large", "Content Too Large" from 3.13.
    assert error(413, answer).endswith("Too Large")
    assert fake.requests[-1].body == b""
