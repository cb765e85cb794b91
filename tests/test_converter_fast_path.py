"""The fast path must be invisible: same models, same errors, as the cattrs converter's own path.

``structure`` first tries one generated function per model and falls back to the detailed cattrs
converter on any doubt. These tests feed both the same (often wrong) JSON and require identical
results, down to value types (``1`` vs ``1.0``) and enum members.
"""

from __future__ import annotations

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
    Provider,
    RateLimit,
    SecretMapping,
    UsageLimits,
    VirtualKey,
)
from portkey_vk._converter import _optional_inner, converter
from portkey_vk._fast_structure import fast_for, structure
from portkey_vk._models import OpenEnum

MODELS = (
    VirtualKey,
    UsageLimits,
    RateLimit,
    SecretMapping,
    Provider,
    Integration,
    IntegrationConfigurations,
    GlobalWorkspaceAccess,
    AzureDeployment,
)
# Compared field by field below; Integration's nested models (configurations, deployments,
# global access) are drawn inside it rather than on their own, which would only repeat str fields.
COMPARED = MODELS[:6]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(),
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
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _for_type(tp: Any, junk: bool) -> st.SearchStrategy[Any]:
    """Well-typed values for ``tp``; with ``junk``, often anything JSON can hold."""
    inner = _optional_inner(tp)
    if inner is None:
        return _json
    if attrs.has(inner):
        good: st.SearchStrategy[Any] = _model_dict(inner, junk)
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
        good = st.integers() | st.floats()
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
        good = st.dictionaries(st.text(max_size=3), _json, max_size=3)
    return st.one_of(st.none(), good, good, _json) if junk else st.none() | good


@st.composite
def _model_dict(draw: st.DrawFn, cls: type[Any], junk: bool) -> dict[str, Any]:
    fields = [f for f in attrs.fields(attrs.resolve_types(cls)) if f.name != "extra"]
    out: dict[str, Any] = {}
    for field in fields:
        if draw(st.booleans()):
            out[field.name] = draw(_for_type(field.type, junk))
    out.update(
        draw(
            st.dictionaries(
                st.sampled_from(["extra", "workspace_id", "\x00extra"]), _json, max_size=2
            )
        )
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
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fast_path_matches_the_detailed_converter(
    cls: type[Any], junk: bool, data: st.DataObject
) -> None:
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
    else:
        assert public[0] == "error"
        assert "@ $" in public[1]


@pytest.mark.parametrize("payload", [None, [], "x", 1, {"rate_limits": {}}, {"created_at": 5}])
def test_fast_path_declines_and_the_error_still_names_the_path(payload: object) -> None:
    with pytest.raises(APIResponseValidationError, match=r"@ \$"):
        structure(payload, VirtualKey)


def test_unknown_enum_values_are_the_same_member_on_both_paths() -> None:
    fast = structure({"status": "archived-by-fast-path"}, VirtualKey)
    slow = converter.structure({"status": "archived-by-fast-path"}, VirtualKey)
    assert fast.status is slow.status
    assert fast.status is not None
    assert not fast.status.known
