"""The fast path must be invisible: same models, same errors, as the cattrs converter's own path.

``structure`` first tries one generated function per model and falls back to the detailed cattrs
converter on any doubt. These tests feed both the same (often wrong) JSON and require identical
results, down to value types (``1`` vs ``1.0``) and enum members.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, get_args

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portkey_vk import (
    APIResponseValidationError,
    AzureDeployment,
    GlobalWorkspaceAccess,
    Integration,
    IntegrationConfigurations,
    IntegrationModel,
    IntegrationWorkspace,
    Provider,
    RateLimit,
    SecretMapping,
    UsageLimits,
    VirtualKey,
)
from portkey_vk._converter import _optional_inner, converter
from portkey_vk._fast_structure import _NotFast, fast_for, structure
from portkey_vk._json import MAX_DEPTH
from portkey_vk._models import OpenEnum, alias_of, limits_field


def _fast_virtual_key() -> Any:
    fast = fast_for(VirtualKey)
    assert fast is not None
    return fast


MODELS = (
    VirtualKey,
    UsageLimits,
    RateLimit,
    SecretMapping,
    Provider,
    Integration,
    IntegrationWorkspace,
    IntegrationModel,
    IntegrationConfigurations,
    GlobalWorkspaceAccess,
    AzureDeployment,
)
# Compared field by field below; Integration's nested models (configurations, deployments,
# global access) are drawn inside it rather than on their own, which would only repeat str fields.
COMPARED = MODELS[:8]


def _scalars(finite: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(allow_nan=not finite, allow_infinity=not finite),
        st.text(max_size=4),
        st.sampled_from(
            [
                "active",
                "archived",
                "",
                "cost",
                "rpm",
                "string",
                "virtual-key",
                "provider",
                "expired",
                "2024-05-17T09:21:33.123Z",
                "2024-05-17T09:21:33.1234567+05:30",
                "2024-05-17",
                "not a date",
            ]
        ),
    )


def _json_values(finite: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(finite),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    )


# What a JSON answer can hold (decode refuses NaN and infinities), and what a caller's dict can.
_json = _json_values(finite=True)
_junk = _json_values(finite=False)


def _for_type(tp: Any, junk: bool) -> st.SearchStrategy[Any]:
    """Well-typed values for ``tp``; with ``junk``, often anything JSON can hold."""
    inner = _optional_inner(tp)
    any_json = _junk if junk else _json
    if inner is None:
        return any_json
    limits = limits_field(tp)
    if limits is not None:
        # Both forms the API sends (issue 21): an object or an array, whatever the model holds.
        item = _model_dict(limits[0], junk)
        # Where one object is held, an array of several is an error (only junk draws it).
        good: st.SearchStrategy[Any] = item | st.lists(item, max_size=3 if junk or limits[1] else 1)
    elif attrs.has(inner):
        good = _model_dict(inner, junk)
    elif getattr(inner, "__origin__", None) is tuple:
        good = st.lists(_model_dict(get_args(inner)[0], junk), max_size=3)
    elif isinstance(inner, type) and issubclass(inner, OpenEnum):
        # Values never seen before take the slow path once (it creates the member).
        news = ["brand-new", ""] if junk else []
        good = st.sampled_from([m.value for m in inner] + news)
    elif inner is datetime:
        # A "Z" (on 3.10) or 7+ fractional digits are read by the slow path only.
        good = (
            st.datetimes().map(lambda d: d.isoformat() + "Z")
            if junk
            else st.datetimes(timezones=st.just(timezone.utc)).map(datetime.isoformat)
        )
    elif inner is float:
        good = st.integers() | st.floats(allow_nan=junk, allow_infinity=junk)
    elif inner is int:
        # Integral floats (100.0) are valid ints, converted by the slow path only.
        good = st.integers()
        if junk:
            good |= st.integers(min_value=-(2**50), max_value=2**50).map(float)
    elif inner is str:
        good = st.text(max_size=5)
    elif inner is bool:
        good = st.booleans()
    else:
        good = st.dictionaries(st.text(max_size=3), any_json, max_size=3)
    return st.one_of(st.none(), good, good, _junk) if junk else st.none() | good


@st.composite
def _model_dict(draw: st.DrawFn, cls: type[Any], junk: bool) -> dict[str, Any]:
    fields = [f for f in attrs.fields(attrs.resolve_types(cls)) if f.name != "extra"]
    out: dict[str, Any] = {}
    for field in fields:
        if draw(st.booleans()):
            # A field the API also sends under another name comes under either, or both.
            alias = alias_of(field)
            names = (
                [field.name]
                if alias is None
                else draw(st.sampled_from([[field.name], [alias], [field.name, alias]]))
            )
            for name in names:
                out[name] = draw(_for_type(field.type, junk))
    unknown = [name for name in ("extra", "workspace_id", "type", "\x00extra") if name not in out]
    unknown = [name for name in unknown if name not in {f.name for f in fields}]
    out.update(
        draw(st.dictionaries(st.sampled_from(unknown), _junk if junk else _json, max_size=2))
    )
    return out


def _snapshot(value: object) -> str:
    # repr tells 1 from 1.0 and an enum member from its string; == does not.
    if attrs.has(type(value)):
        inner = ", ".join(
            f"{f.name}={_snapshot(getattr(value, f.name))}" for f in attrs.fields(type(value))
        )
        return f"{type(value).__name__}({inner})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_snapshot(item) for item in value) + ")"
    return repr(value)


def _outcome(func: Any, data: object, cls: type[Any]) -> tuple[str, str]:
    try:
        return ("ok", _snapshot(func(data, cls)))
    except APIResponseValidationError as exc:
        return ("error", exc.message)
    except Exception as exc:  # the detailed converter's raw exceptions
        return ("raw-error", type(exc).__name__)


def _detailed(data: object, cls: type[Any]) -> Any:
    return converter.structure(data, cls)


def test_every_model_has_a_fast_path() -> None:
    # Without it every call pays cattrs' detailed validation (see docs/performance.md).
    assert all(fast_for(cls) is not None for cls in MODELS)


@pytest.mark.parametrize("junk", [False, True], ids=["well-typed", "junk"])
@pytest.mark.parametrize("cls", COMPARED)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_fast_path_matches_the_detailed_converter(
    cls: type[Any], junk: bool, data: st.DataObject
) -> None:
    fast_path_matches(cls, junk, data)


@pytest.mark.long
@pytest.mark.parametrize("junk", [False, True], ids=["well-typed", "junk"])
@pytest.mark.parametrize("cls", COMPARED)
@settings(max_examples=2000, deadline=None)
@given(data=st.data())
def test_fast_path_matches_the_detailed_converter_long(
    cls: type[Any], junk: bool, data: st.DataObject
) -> None:
    fast_path_matches(cls, junk, data)


def fast_path_matches(cls: type[Any], junk: bool, data: st.DataObject) -> None:
    """The fast path accepts only what the detailed converter accepts, and builds the same."""
    payload = data.draw(_model_dict(cls, junk))
    fast_ok = True
    try:
        fast_result = fast_for(cls)(payload)  # type: ignore[misc]
    except Exception:
        fast_ok = False
    # Well-typed answers (nearly every real one) must not pay for the detailed path.
    assert fast_ok or junk
    detailed = _outcome(_detailed, payload, cls)
    if fast_ok:
        assert detailed == ("ok", _snapshot(fast_result))
    public = _outcome(structure, payload, cls)
    if detailed[0] == "ok":
        assert public == detailed
        # Whatever is accepted equals itself and writes back as strict JSON.
        model = structure(payload, cls)
        assert model == model
        assert structure(model.to_dict(), cls) == model
        json.dumps(model.to_dict(), allow_nan=False)
    else:
        assert public[0] == "error"
        assert "@ $" in public[1]


@pytest.mark.parametrize(
    "payload",
    [None, [], "x", 1, {"rate_limits": "rpm"}, {"usage_limits": [{}, {}]}, {"created_at": 5}],
)
def test_fast_path_declines_and_the_error_still_names_the_path(payload: object) -> None:
    with pytest.raises(APIResponseValidationError, match=r"@ \$"):
        structure(payload, VirtualKey)


def test_unknown_enum_values_are_the_same_member_on_both_paths() -> None:
    fast = structure({"status": "archived-by-fast-path"}, VirtualKey)
    slow = converter.structure({"status": "archived-by-fast-path"}, VirtualKey)
    assert fast.status is slow.status
    assert fast.status is not None
    assert not fast.status.known


NAN = float("nan")
INF = float("inf")


def _nested(depth: int, leaf: object = 1) -> object:
    """A value of arrays and objects nested ``depth`` deep (0: the leaf itself)."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"reset_usage": NAN}, "$.reset_usage"),
        ({"reset_usage": INF}, "$.reset_usage"),
        ({"reset_usage": -INF}, "$.reset_usage"),
        ({"usage_limits": {"credit_limit": NAN}}, "$.usage_limits.credit_limit"),
        ({"usage_limits": {"alert_threshold": -INF}}, "$.usage_limits.alert_threshold"),
        ({"usage_limits": {"periodic_reset_days": NAN}}, "$.usage_limits.periodic_reset_days"),
        ({"rate_limits": [{"value": 1}, {"value": INF}]}, "$.rate_limits[1].value"),
        ({"model_config": {"a": [1, {"b": NAN}]}}, "$.model_config['a'][1]['b']"),
        ({"model_config": {"t": (INF,)}}, "$.model_config['t'][0]"),
        ({"tags": NAN}, "$.tags"),
        ({"tags": ["x", -INF]}, "$.tags[1]"),
        ({"workspace_id": NAN}, "$.workspace_id"),
        ({"future": {"x": [NAN]}}, "$.future['x'][0]"),
        ({"usage_limits": {"future": NAN}}, "$.usage_limits.future"),
        ({"secret_mappings": [{"future": [INF]}]}, "$.secret_mappings[0].future[0]"),
    ],
)
def test_non_finite_numbers_decline_and_the_error_names_the_path(
    payload: dict[str, Any], path: str
) -> None:
    with pytest.raises(_NotFast):
        _fast_virtual_key()(payload)
    with pytest.raises(APIResponseValidationError) as info:
        VirtualKey.from_dict(payload)
    assert info.value.message.endswith(f"@ {path}")
    assert "finite" in info.value.message or "integer" in info.value.message


@pytest.mark.parametrize(
    "make",
    [
        lambda v: {"model_config": {"deep": v}},
        lambda v: {"tags": v},
        lambda v: {"future": v},
        lambda v: {"usage_limits": {"future": v}},
        lambda v: {"rate_limits": [{"future": v}]},
    ],
    ids=["model_config", "tags", "unknown-key", "nested-unknown-key", "in-a-list"],
)
def test_free_form_values_nest_at_most_max_depth(make: Any) -> None:
    # model_config's own dict is one level; the others start at the value.
    limit = MAX_DEPTH - 1 if "model_config" in make(0) else MAX_DEPTH
    at_limit = make(_nested(limit))
    fast = _fast_virtual_key()(at_limit)
    assert fast == converter.structure(at_limit, VirtualKey)
    assert fast == VirtualKey.from_dict(fast.to_dict())
    too_deep = make(_nested(limit + 1))
    with pytest.raises(_NotFast):
        _fast_virtual_key()(too_deep)
    with pytest.raises(APIResponseValidationError, match=f"deeper than {MAX_DEPTH} levels"):
        VirtualKey.from_dict(too_deep)


def test_a_depth_error_names_a_bounded_path() -> None:
    with pytest.raises(APIResponseValidationError) as info:
        VirtualKey.from_dict({"tags": _nested(100_000)})
    assert len(info.value.message) < 300


def test_a_caller_s_float_subclass_is_held_to_the_same_rule() -> None:
    class Score(float):
        pass

    with pytest.raises(APIResponseValidationError, match=r"@ \$\.tags\[0\]"):
        VirtualKey.from_dict({"tags": [Score("nan")]})
    assert VirtualKey.from_dict({"tags": [Score(1.5)]}).tags == [1.5]
