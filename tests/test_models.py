"""The model layer: structuring, round trips, open enums, dates and validation errors."""

from __future__ import annotations

import copy
import gc
import pickle
import threading
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from portkey_vk import (
    APIResponseValidationError,
    PeriodicReset,
    RateLimit,
    RateLimitType,
    RateLimitUnit,
    SecretMapping,
    SecretValueFormat,
    UsageLimits,
    UsageLimitType,
    VirtualKey,
    VirtualKeyObject,
    VirtualKeyStatus,
)
from portkey_vk._converter import parse_datetime
from portkey_vk._fast_structure import FAST as _FAST
from portkey_vk._models import OpenEnum

SPEC_EXAMPLE: dict[str, Any] = {
    "name": "Open AI Workspace",
    "note": "randomness",
    "status": "active",
    "usage_limits": {
        "credit_limit": 10,
        "type": "cost",
        "alert_threshold": 8,
        "periodic_reset": "monthly",
        "periodic_reset_days": None,
        "next_usage_reset_at": "2026-05-01T00:00:00Z",
    },
    "reset_usage": 0,
    "created_at": "2024-03-01T10:20:30.123Z",
    "slug": "open-ai-workspace-1a2b3c",
    "model_config": {"azureDeploymentConfig": [{"alias": "gpt4"}]},
    "rate_limits": [{"type": "requests", "unit": "rpm", "value": 100}],
    "expires_at": None,
    "secret_mappings": [
        {
            "target_field": "key",
            "secret_reference_id": "my-aws-secret",
            "secret_key": None,
            "value_format": "string",
        }
    ],
    "object": "virtual-key",
    "id": "2c6c7a5e-0000-4000-8000-000000000000",
    "ai_provider_name": "openai",
    "key": "sk-****1234",
    "masked_api_key": "sk-****1234",
    "integration_id": None,
    "last_reset_at": None,
    "tags": {"team": "payments"},
}


def test_spec_example_structures_fully() -> None:
    vk = VirtualKey.from_dict(SPEC_EXAMPLE)
    assert vk.usage_limits == UsageLimits(
        credit_limit=10,
        type=UsageLimitType.COST,
        alert_threshold=8,
        periodic_reset=PeriodicReset.MONTHLY,
        next_usage_reset_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
    )
    assert vk.rate_limits == (RateLimit(type="requests", unit=RateLimitUnit.RPM, value=100),)  # type: ignore[arg-type]
    assert vk.secret_mappings == (
        SecretMapping(
            target_field="key",
            secret_reference_id="my-aws-secret",
            value_format=SecretValueFormat.STRING,
        ),
    )
    assert vk.tags == {"team": "payments"}
    assert vk.extra == {}


def test_round_trip_is_exact() -> None:
    vk = VirtualKey.from_dict(SPEC_EXAMPLE)
    assert VirtualKey.from_dict(vk.to_dict()) == vk
    out = vk.to_dict()
    assert out["status"] == "active"
    assert type(out["status"]) is str
    assert out["rate_limits"] == [{"type": "requests", "unit": "rpm", "value": 100}]
    assert out["created_at"] == "2024-03-01T10:20:30.123000+00:00"


def test_everything_is_optional() -> None:
    vk = VirtualKey.from_dict({})
    assert vk == VirtualKey()
    assert VirtualKey.from_dict(dict.fromkeys(SPEC_EXAMPLE)) == VirtualKey()


def test_unknown_keys_are_kept_at_every_level() -> None:
    data = {
        **SPEC_EXAMPLE,
        "future_field": [1, {"a": None}],
        "extra": "a real field called extra",
        "usage_limits": {"credit_limit": 5, "new_limit_kind": "x"},
        "rate_limits": [{"value": 1, "burst": 3}],
        "secret_mappings": [{"target_field": "key", "rotation": "daily"}],
    }
    vk = VirtualKey.from_dict(data)
    assert vk.extra == {"future_field": [1, {"a": None}], "extra": "a real field called extra"}
    assert vk.usage_limits is not None
    assert vk.usage_limits.extra == {"new_limit_kind": "x"}
    out = vk.to_dict()
    assert out["future_field"] == [1, {"a": None}]
    assert out["extra"] == "a real field called extra"
    assert out["usage_limits"]["new_limit_kind"] == "x"
    assert out["rate_limits"][0]["burst"] == 3
    assert out["secret_mappings"][0]["rotation"] == "daily"
    assert VirtualKey.from_dict(out) == vk


@pytest.mark.parametrize(
    ("field", "value", "enum_cls"),
    [
        ("status", "archived", VirtualKeyStatus),
        ("object", "virtual-key-v2", None),
    ],
)
def test_unknown_enum_values_are_accepted_and_round_trip(
    field: str, value: str, enum_cls: type | None
) -> None:
    vk = VirtualKey.from_dict({field: value})
    member = getattr(vk, field)
    assert member == value
    assert str(member) == value
    assert not member.known
    if enum_cls is not None:
        assert isinstance(member, enum_cls)
        assert enum_cls(value) is member
    assert vk.to_dict()[field] == value
    assert VirtualKey.from_dict(vk.to_dict()) == vk


def test_nested_unknown_enum_values() -> None:
    vk = VirtualKey.from_dict(
        {
            "usage_limits": {"type": "requests", "periodic_reset": "daily"},
            "rate_limits": [{"type": "images", "unit": "rps"}],
            "secret_mappings": [{"value_format": "yaml"}],
        }
    )
    assert vk.usage_limits is not None
    assert vk.usage_limits.type == "requests"
    assert vk.usage_limits.periodic_reset == "daily"
    assert vk.rate_limits is not None
    assert vk.rate_limits[0].unit == "rps"
    assert vk.secret_mappings is not None
    assert vk.secret_mappings[0].value_format == "yaml"
    assert VirtualKey.from_dict(vk.to_dict()) == vk


def test_known_enum_members_compare_to_strings() -> None:
    assert VirtualKeyStatus.ACTIVE == "active"
    assert VirtualKeyStatus("exhausted") is VirtualKeyStatus.EXHAUSTED
    assert VirtualKeyStatus.ACTIVE.known
    assert f"{VirtualKeyStatus.ACTIVE}" == "active"
    assert repr(VirtualKeyStatus.ACTIVE) == "<VirtualKeyStatus.ACTIVE: 'active'>"
    with pytest.raises(ValueError):
        VirtualKeyStatus(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04:05.1Z", datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=timezone.utc)),
        (
            "2024-01-02T03:04:05.123456789Z",
            datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc),
        ),
        (
            "2024-01-02T03:04:05.12+05:30",
            datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-01-02T03:04:05-0700",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7))),
        ),
        (
            "2024-01-02T03:04:05+02",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2024-01-02T03:04", datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)),
    ],
)
def test_dates_become_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"created_at": "yesterday"}, "$.created_at"),
        ({"created_at": 1700000000}, "$.created_at"),
        ({"expires_at": "2024-13-45T00:00:00Z"}, "$.expires_at"),
        ({"name": 5}, "$.name"),
        ({"status": 1}, "$.status"),
        ({"reset_usage": "0"}, "$.reset_usage"),
        ({"reset_usage": True}, "$.reset_usage"),
        ({"model_config": []}, "$.model_config"),
        # `[]` and `{}` are limits now (tests/test_shapes.py); these still are not.
        ({"usage_limits": [{}, {}]}, "$.usage_limits"),
        ({"usage_limits": "cost"}, "$.usage_limits"),
        ({"usage_limits": {"periodic_reset_days": 1.5}}, "$.usage_limits.periodic_reset_days"),
        ({"rate_limits": 100}, "$.rate_limits"),
        ({"rate_limits": [None]}, "$.rate_limits[0]"),
        (
            {"secret_mappings": [{"secret_reference_id": 7}]},
            "$.secret_mappings[0].secret_reference_id",
        ),
    ],
)
def test_wrong_types_name_the_field_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        VirtualKey.from_dict(data)
    assert f"@ {path}" in info.value.message
    assert info.value.body == data


def test_integral_floats_are_ints() -> None:
    vk = VirtualKey.from_dict({"rate_limits": [{"value": 100.0}]})
    assert vk.rate_limits is not None
    assert vk.rate_limits[0].value == 100
    assert type(vk.rate_limits[0].value) is int


def test_models_are_frozen_and_slotted() -> None:
    vk = VirtualKey(slug="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        vk.slug = "y"  # type: ignore[misc]
    assert not hasattr(vk, "__dict__")


def test_repr_hides_the_provider_key_and_extras() -> None:
    vk = VirtualKey.from_dict({"key": "sk-live-provider-secret", "shadow": "sk-extra-secret"})
    assert "sk-live-provider-secret" not in repr(vk)
    assert "sk-extra-secret" not in repr(vk)
    assert vk.key == "sk-live-provider-secret"


def test_nested_models_have_from_dict_too() -> None:
    limits = UsageLimits.from_dict({"credit_limit": 3, "type": "tokens"})
    assert limits.type is UsageLimitType.TOKENS
    assert UsageLimits.from_dict(limits.to_dict()) == limits


# -- open enums: the case rule, `known`, and what unknown values may retain ----------------------

OPEN_ENUMS: list[type[OpenEnum]] = sorted(OpenEnum.__subclasses__(), key=lambda c: c.__name__)


@pytest.mark.parametrize(
    "value", ["ACTIVE", "Active", "aCTIVE", " active", "active ", "active\x00"]
)
def test_values_are_case_sensitive_and_a_near_miss_is_unknown(value: str) -> None:
    vk = VirtualKey.from_dict({"status": value})
    assert vk.status is not None
    assert vk.status == value
    assert vk.status != VirtualKeyStatus.ACTIVE
    assert vk.status is not VirtualKeyStatus.ACTIVE
    assert not vk.status.known
    assert repr(vk.status) == f"<VirtualKeyStatus (unknown): {value!r}>"
    assert vk.to_dict()["status"] == value
    assert VirtualKey.from_dict(vk.to_dict()) == vk


@pytest.mark.parametrize("cls", OPEN_ENUMS, ids=lambda c: c.__name__)
def test_known_is_true_exactly_for_real_members(cls: type[OpenEnum]) -> None:
    for member in cls:
        assert member.known
        assert cls(member.value) is member
        assert cls(str(member.value)) is cls(member.value)
        # An unknown value spelled like a member's name (and so given that name) is not it.
        for spelling in {member.name, member.name.lower(), member.value.upper()} - {member.value}:
            impostor = cls(spelling)
            assert not impostor.known, spelling
            assert impostor != member
    assert not cls("definitely-not-a-member").known


def test_an_unknown_value_is_reused_while_recent() -> None:
    first = VirtualKeyStatus("archived-reused")
    assert VirtualKeyStatus("archived-reused") is first
    # The fast structuring path finds it too, without the detailed converter.
    vk = _FAST[VirtualKey]({"status": "archived-reused"})
    assert vk.status is first


@pytest.mark.parametrize("cls", OPEN_ENUMS, ids=lambda c: c.__name__)
def test_ten_thousand_unknown_values_retain_a_bounded_number(cls: type[OpenEnum]) -> None:
    real = len(cls.__members__)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            member = cls(f"unknown-{cls.__name__}-{i}")
            assert not member.known
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cls._value2member_map_) <= real + 32
    # 10,000 kept pseudo-members took ~1.5 MB; 32 of them take a few KB.
    assert grown < 64 * 1024, grown
    assert [m.value for m in cls] == [m.value for m in cls.__members__.values()]


def test_unknown_values_through_the_model_retain_a_bounded_number() -> None:
    for i in range(10_000):
        vk = VirtualKey.from_dict(
            {"status": f"s{i}", "object": f"o{i}", "rate_limits": [{"unit": f"u{i}"}]}
        )
        assert vk.status == f"s{i}"
    for cls in (VirtualKeyStatus, VirtualKeyObject, RateLimitUnit):
        assert len(cls._value2member_map_) <= len(cls.__members__) + 32


def test_a_long_unknown_value_is_never_kept() -> None:
    value = "x" * 10_000
    size = len(VirtualKeyStatus._value2member_map_)
    assert VirtualKeyStatus(value) == VirtualKeyStatus(value) == value
    assert len(VirtualKeyStatus._value2member_map_) == size


def test_unknown_values_from_many_threads_stay_bounded_and_equal() -> None:
    results: list[list[OpenEnum]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(out: list[OpenEnum]) -> None:
        start.wait()
        out.extend(UsageLimitType(f"t{i % 100}") for i in range(2_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all([m.value for m in out] == [f"t{i % 100}" for i in range(2_000)] for out in results)
    assert len(UsageLimitType._value2member_map_) <= len(UsageLimitType.__members__) + 32


def test_a_pseudo_member_survives_pickle_and_copy() -> None:
    member = RateLimitType("images")
    assert pickle.loads(pickle.dumps(member)) == member
    assert copy.copy(member) == member
    assert not pickle.loads(pickle.dumps(member)).known
    assert pickle.loads(pickle.dumps(RateLimitType.TOKENS)) is RateLimitType.TOKENS
