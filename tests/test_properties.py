"""Property-based tests: bodies generated from the spec's ``VirtualKeys`` schema (plus extra keys,
nulls and unknown enum values) parse and round-trip; any slug either reaches a real server as
exactly one path segment decoding to itself, or is refused before a request is sent.

The default run tries a few hundred examples; ``pytest -m long`` (``nox -s tests_long``) tries
10,000 of each.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from portkey_vk import (
    NotFoundError,
    RateLimit,
    SecretMapping,
    UsageLimits,
    VirtualKey,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import AsyncSurface

# The OpenAPI documents live in the repository (and the sdist), each naming its upstream commit.
SPEC = Path(__file__).parent / "data" / "openapi" / "retrieve-virtual-key.openapi.yaml"
DEFAULT_EXAMPLES = 300
# hypothesis-jsonschema draws cost ~30 ms each (nested objects, free-form model_config).
DEFAULT_BODY_EXAMPLES = 100
LONG_EXAMPLES = 10_000
LONG_TIMEOUT = 1800


def _load_schema() -> dict[str, Any]:
    """The spec's ``VirtualKeys`` schema as JSON Schema: refs inlined, ``nullable`` expanded."""
    if not SPEC.is_file():
        # The spec ships with the tests; a missing one is a broken checkout or sdist, not a
        # reason to skip the suite.
        raise FileNotFoundError(f"the OpenAPI spec is missing: {SPEC}")
    spec = yaml.safe_load(SPEC.read_text())
    components = spec["components"]["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(copy.deepcopy(components[node["$ref"].rsplit("/", 1)[1]]))
        out = {
            key: convert(value)
            for key, value in node.items()
            if key not in ("example", "description", "nullable", "default")
        }
        if node.get("nullable"):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out

    schema: dict[str, Any] = convert(components["VirtualKeys"])
    # JSON Schema allows any other property with any value; the fields the live API sends beyond
    # the spec are typed attributes of VirtualKey, so give them their real types here.
    string_or_null = {"type": ["string", "null"]}
    schema["properties"].update(
        dict.fromkeys(
            ("id", "ai_provider_name", "key", "masked_api_key", "integration_id"), string_or_null
        )
    )
    schema["properties"]["last_reset_at"] = {**string_or_null, "format": "date-time"}
    return schema


SCHEMA = _load_schema()
_ENUM_FIELDS = {
    (): ("status", "object"),
    ("usage_limits",): ("type", "periodic_reset"),
    ("rate_limits",): ("type", "unit"),
    ("secret_mappings",): ("value_format",),
}
_MODELS = {
    (): VirtualKey,
    ("usage_limits",): UsageLimits,
    ("rate_limits",): RateLimit,
    ("secret_mappings",): SecretMapping,
}
_json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_unknown_enum = st.text(min_size=1, max_size=12).filter(
    lambda v: (
        v
        not in {
            "active",
            "exhausted",
            "virtual-key",
            "cost",
            "tokens",
            "monthly",
            "weekly",
            "requests",
            "rpd",
            "rph",
            "rpm",
            "json",
            "string",
        }
    )
)


def _objects_at(body: dict[str, Any], path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    if not path:
        yield body
        return
    value = body.get(path[0])
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


@st.composite
def hostile_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A schema-valid body, then extra keys, nulls and unknown enum values sprinkled in."""
    body: dict[str, Any] = draw(from_schema(SCHEMA))
    for path, fields in _ENUM_FIELDS.items():
        for obj in _objects_at(body, path):
            for name in fields:
                if draw(st.booleans()):
                    obj[name] = draw(_unknown_enum)
            # Extra keys only: a known name with a value of the wrong type must fail, and does
            # (test_converter covers that), so it is no "extra".
            known = {field.name for field in attrs.fields(_MODELS[path])}
            extra_names = st.text(max_size=12).filter(lambda name, known=known: name not in known)
            obj.update(draw(st.dictionaries(extra_names, _json, max_size=3)))
            for name in list(obj):
                if draw(st.integers(0, 4)) == 0:
                    obj[name] = None
    return body


def _other_form(body: dict[str, Any]) -> dict[str, Any]:
    """The same body with each limits field in the form the document does not use (issue 21).

    ``usage_limits`` (one object) as an array of one, ``rate_limits`` (an array) of one as the
    object: what the live API and the official SDKs' models use in places.
    """
    out = dict(body)
    if isinstance(out.get("usage_limits"), dict):
        out["usage_limits"] = [out["usage_limits"]]
    rate_limits = out.get("rate_limits")
    if isinstance(rate_limits, list) and len(rate_limits) == 1:
        out["rate_limits"] = rate_limits[0]
    return out


def _check_round_trip(body: dict[str, Any]) -> None:
    vk = VirtualKey.from_dict(body)
    again = VirtualKey.from_dict(vk.to_dict())
    assert again == vk
    assert again.to_dict() == vk.to_dict()
    # Unknown keys come back unchanged.
    known = {field.name for field in attrs.fields(VirtualKey)}
    for name in body.keys() - known:
        assert vk.to_dict()[name] == body[name]


_FAST = settings(
    max_examples=DEFAULT_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_BODIES = settings(_FAST, max_examples=DEFAULT_BODY_EXAMPLES)
_LONG = settings(_FAST, max_examples=LONG_EXAMPLES)


@_BODIES
@given(from_schema(SCHEMA))
def test_schema_bodies_parse_and_round_trip(body: dict[str, Any]) -> None:
    _check_round_trip(body)


@_BODIES
@given(hostile_bodies())
def test_bodies_with_extras_nulls_and_unknown_enums_round_trip(body: dict[str, Any]) -> None:
    _check_round_trip(body)


@_BODIES
@given(hostile_bodies())
def test_limits_in_the_other_form_read_the_same(body: dict[str, Any]) -> None:
    other = _other_form(body)
    assert VirtualKey.from_dict(other) == VirtualKey.from_dict(body)
    _check_round_trip(other)


@pytest.mark.long
@pytest.mark.timeout(LONG_TIMEOUT)
@_LONG
@given(hostile_bodies())
def test_bodies_round_trip_long(body: dict[str, Any]) -> None:
    _check_round_trip(body)


# -- slugs --------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNRESERVED_OR_ESCAPE = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+")
_slugs = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("/.%?#\\ &=+;:@!$'()*,[]~\x00\n\u2028é你😀"), max_size=12),
    st.sampled_from([".", "..", "...", "./..", "%2F", "%", "%zz", "a/../b", "?x=1", "#f", "\\"]),
)


class SlugProbe:
    """One FakePortkey and one client on a private loop, reused across hypothesis examples."""

    def __init__(self, fake: FakePortkey) -> None:
        self.fake = fake
        self.surface = AsyncSurface.create(
            api_key=fake.api_key, base_url=fake.base_url, max_retries=0
        )
        self.prefix = "/v1/virtual-keys/"

    def check(self, slug: str) -> None:
        before = len(self.fake.requests)
        if not slug or _CONTROL.search(slug) or any(0xD800 <= ord(c) <= 0xDFFF for c in slug):
            with pytest.raises(ValueError):
                self.surface.retrieve(slug)
            assert len(self.fake.requests) == before, "refused slugs send no request"
            return
        with pytest.raises(NotFoundError):
            self.surface.retrieve(slug)
        requests = self.fake.requests
        assert len(requests) == before + 1
        path = requests[-1].path
        assert path.startswith(self.prefix), path
        segment = path[len(self.prefix) :]
        assert _UNRESERVED_OR_ESCAPE.fullmatch(segment), segment
        assert segment.strip(".") != "", "a dot segment could be normalised away"
        assert unquote(segment, errors="strict") == slug

    def close(self) -> None:
        self.surface.dispose()


@pytest.fixture(scope="module")
def probe() -> Iterator[SlugProbe]:
    with FakePortkey() as fake:
        probe = SlugProbe(fake)
        yield probe
        probe.close()


def _slug_test(examples: int) -> Callable[[SlugProbe], None]:
    @settings(_FAST, max_examples=examples)
    @given(slug=_slugs)
    def run(probe: SlugProbe, slug: str) -> None:
        probe.check(slug)

    return run  # type: ignore[return-value]


test_slugs_arrive_as_one_segment = _slug_test(DEFAULT_EXAMPLES)
test_slugs_arrive_as_one_segment_long = pytest.mark.long(
    pytest.mark.timeout(LONG_TIMEOUT)(_slug_test(LONG_EXAMPLES))
)


@pytest.mark.parametrize(
    "slug", ["", "a\x00b", "line\nbreak", "tab\there", "\x7f", "c1\x85", "lone\ud800", "\udfff"]
)
def test_bad_slugs_are_refused_before_any_request(probe: SlugProbe, slug: str) -> None:
    probe.check(slug)


@pytest.mark.parametrize("slug", [".", "..", "a/b", "a/../b", "%2F", "?q=1", "#frag", "\\", "你好"])
def test_tricky_slugs_arrive_intact(probe: SlugProbe, slug: str) -> None:
    probe.check(slug)
