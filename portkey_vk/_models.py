"""The typed model of a virtual key: frozen, slotted attrs classes and open enums.

Every field is optional and nullable because the live API does not follow its spec to the
letter (it sends ``usage_limits: null``, ``expires_at: null`` and fields the spec omits). Keys the
model does not know are kept in ``extra`` and written back by :meth:`VirtualKey.to_dict`, so a
newer server never loses data in a round trip through an older SDK.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

import attrs

__all__ = [
    "PeriodicReset",
    "RateLimit",
    "RateLimitType",
    "RateLimitUnit",
    "SecretMapping",
    "SecretValueFormat",
    "UsageLimitType",
    "UsageLimits",
    "VirtualKey",
    "VirtualKeyObject",
    "VirtualKeyStatus",
]

_E = TypeVar("_E", bound="OpenEnum")
_M = TypeVar("_M")


class OpenEnum(str, enum.Enum):
    """A str-valued enum that also accepts values it does not know.

    Members compare equal to their strings (``status == "active"``). An unknown value
    (``"archived"``) becomes a pseudo-member whose ``known`` is ``False`` instead of failing, so a
    server that grows a new state does not break every client in the field.

    Values are case-sensitive, exactly as the API sends them: ``"ACTIVE"`` is an unknown value,
    not :attr:`VirtualKeyStatus.ACTIVE`. Folding case would guess at a meaning the server never
    stated (it compares values exactly), and ``to_dict()`` could no longer give back the value
    that was received.

    ``cls(v) is cls(v)`` holds for every real member. A pseudo-member is equal to any other
    of the same value; only the most recent few unknown values of each enum are kept for reuse,
    so a server sending endless distinct values cannot grow the process's memory.
    """

    @classmethod
    def _missing_(cls: type[_E], value: object) -> _E | None:
        if not isinstance(value, str):
            return None
        return _pseudo_member(cls, value)

    @property
    def known(self) -> bool:
        """Whether this is one of the members the SDK was built to know (not a pseudo-member).

        Decided by identity, not by name: an unknown ``"ACTIVE"`` is not ``ACTIVE``.
        """
        return type(self)._member_map_.get(self._name_) is self

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        if self.known:
            return f"<{type(self).__name__}.{self._name_}: {self.value!r}>"
        return f"<{type(self).__name__} (unknown): {self.value!r}>"


# Unknown values kept for reuse, per enum class. Bounded, so that what a server can make the
# process retain is a few KB, not one object per distinct value ever received; values longer
# than any real state are never kept.
_PSEUDO_KEPT: Final = 32
_PSEUDO_VALUE_KEPT: Final = 64
_pseudo_lock: Final = threading.RLock()
# Insertion-ordered: the first key is the oldest, evicted first. The fast structuring path finds
# kept pseudo-members in the enum's own _value2member_map_ and cannot report use, so this is
# first-in first-out rather than least-recently-used; a value evicted is simply built again.
_pseudo_kept: Final[dict[type[OpenEnum], dict[str, OpenEnum]]] = {}


def _pseudo_member(cls: type[_E], value: str) -> _E:
    value = str.__str__(value)  # a str subclass (another enum's member) is kept as plain text
    member = str.__new__(cls, value)
    member._name_ = value.upper().replace("-", "_")
    member._value_ = value
    if len(value) > _PSEUDO_VALUE_KEPT:
        return member
    with _pseudo_lock:
        # _value2member_map_ is where Enum (and _fast_structure) look members up by value.
        table = cls._value2member_map_
        existing = table.get(value)
        if existing is not None:  # another thread made it meanwhile
            return existing  # type: ignore[return-value]
        kept = _pseudo_kept.setdefault(cls, {})
        if len(kept) >= _PSEUDO_KEPT:
            oldest = next(iter(kept))
            del kept[oldest]
            table.pop(oldest, None)
        kept[value] = member
        table[value] = member
    return member


class VirtualKeyStatus(OpenEnum):
    """State of a virtual key."""

    ACTIVE = "active"
    EXHAUSTED = "exhausted"


class VirtualKeyObject(OpenEnum):
    """The ``object`` discriminator of a virtual key response."""

    VIRTUAL_KEY = "virtual-key"


class UsageLimitType(OpenEnum):
    """What a credit limit counts."""

    COST = "cost"
    TOKENS = "tokens"


class PeriodicReset(OpenEnum):
    """How often a usage counter resets."""

    MONTHLY = "monthly"
    WEEKLY = "weekly"


class RateLimitType(OpenEnum):
    """What a rate limit counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"


class RateLimitUnit(OpenEnum):
    """The window of a rate limit: per day, hour or minute."""

    RPD = "rpd"
    RPH = "rph"
    RPM = "rpm"


class SecretValueFormat(OpenEnum):
    """How a referenced secret's value is applied to its target field."""

    JSON = "json"
    STRING = "string"


def _extra_field() -> Any:
    # Unknown keys live here; `repr=False` keeps server data that may be sensitive out of logs.
    return attrs.field(factory=dict, repr=False, kw_only=True)


class _Model:
    """Shared ``from_dict``/``to_dict`` for every model; the converter does the work."""

    __slots__ = ()

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build an instance from a JSON-like dict (as the API returns it).

        The same rules apply as to an answer from the API: no number may be NaN or infinite,
        anywhere (also inside ``model_config``, ``tags`` or keys the model does not know), so a
        model always equals itself and ``to_dict()`` is always valid JSON; and those free-form
        values may nest at most 128 levels deep.

        Raises:
            APIResponseValidationError: a known field has the wrong type, or a value breaks the
                rules above; the message names the field path (``$.model_config['a'][0]``).
        """
        from portkey_vk._fast_structure import structure  # noqa: PLC0415 - it imports this module

        return structure(data, cls)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; ``from_dict(x.to_dict()) == x``.

        Dates are ISO 8601 strings, enums their string values, and keys the model did not know
        are returned unchanged.
        """
        from portkey_vk._converter import unstructure  # noqa: PLC0415 - it imports this module

        return unstructure(self)


@attrs.define(frozen=True, slots=True)
class UsageLimits(_Model):
    """Credit limits on a virtual key.

    Attributes:
        credit_limit: the limit, in cost units or tokens (see ``type``).
        type: whether the limit counts ``cost`` or ``tokens``.
        alert_threshold: usage at which Portkey alerts.
        periodic_reset: ``monthly`` or ``weekly`` reset of the counter.
        periodic_reset_days: reset every N days (exclusive with ``periodic_reset``).
        next_usage_reset_at: when the counter next resets.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    credit_limit: float | None = None
    type: UsageLimitType | None = None
    alert_threshold: float | None = None
    periodic_reset: PeriodicReset | None = None
    periodic_reset_days: int | None = None
    next_usage_reset_at: datetime | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class RateLimit(_Model):
    """One rate limit on a virtual key, e.g. 100 ``requests`` per minute (``rpm``).

    Attributes:
        type: ``requests`` or ``tokens``.
        unit: ``rpd``, ``rph`` or ``rpm``.
        value: the limit per unit.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    type: RateLimitType | None = None
    unit: RateLimitUnit | None = None
    value: int | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class SecretMapping(_Model):
    """A field of the virtual key filled from a secret reference.

    Attributes:
        target_field: ``key`` or ``model_config.<field>``.
        secret_reference_id: UUID or slug of the secret reference.
        secret_key: overrides the secret reference's own ``secret_key``.
        value_format: ``string`` or ``json``.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    target_field: str | None = None
    secret_reference_id: str | None = None
    secret_key: str | None = None
    value_format: SecretValueFormat | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class VirtualKey(_Model):
    """A Portkey virtual key, as ``GET /virtual-keys/{slug}`` returns it.

    Every field may be ``None``: the live API omits or nulls fields freely. Fields the spec does
    not list but the live API sends (``id``, ``ai_provider_name``, ``key``, ``masked_api_key``,
    ``integration_id``, ``last_reset_at``, ``tags``) are typed attributes too.

    Attributes:
        slug: the virtual key's slug, used to retrieve it.
        name: display name.
        note: free-text note.
        status: ``active`` or ``exhausted`` (or a newer value, kept as an open enum member).
        usage_limits: credit limits, if any.
        reset_usage: usage counted since the last reset.
        created_at: creation time (timezone-aware).
        expires_at: expiry time (timezone-aware), if any.
        model_config: provider-specific configuration.
        rate_limits: rate limits, if any.
        secret_mappings: fields filled from secret references.
        object: always ``virtual-key`` today.
        id: the key's UUID.
        ai_provider_name: the provider behind the key, e.g. ``openai``.
        key: the provider key as the API returns it (masked); hidden from ``repr``.
        masked_api_key: the masked provider key.
        integration_id: the integration the key belongs to.
        last_reset_at: when usage was last reset.
        tags: tags attached to the key.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    slug: str | None = None
    name: str | None = None
    note: str | None = None
    status: VirtualKeyStatus | None = None
    usage_limits: UsageLimits | None = None
    reset_usage: float | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    model_config: Mapping[str, Any] | None = None
    rate_limits: tuple[RateLimit, ...] | None = None
    secret_mappings: tuple[SecretMapping, ...] | None = None
    object: VirtualKeyObject | None = None
    id: str | None = None
    ai_provider_name: str | None = None
    key: str | None = attrs.field(default=None, repr=False)
    masked_api_key: str | None = None
    integration_id: str | None = None
    last_reset_at: datetime | None = None
    tags: Any = None
    extra: Mapping[str, Any] = _extra_field()
