"""Write arguments to JSON: validated before anything is sent, omitted ones left out.

Every write method passes its keyword arguments here. ``NOT_GIVEN`` means "not sent", ``None``
means JSON ``null`` (clear the field), and anything else is checked against what the API
accepts; a wrong type or value raises ``TypeError``/``ValueError`` naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import attrs

from portkey_vk._errors import APIResponseValidationError
from portkey_vk._models import Model, RateLimit, SecretMapping, UsageLimits
from portkey_vk._types import NotGiven

__all__ = [
    "Body",
    "Secrets",
    "carries_secrets",
    "json_value",
    "model_list",
    "model_value",
    "optional_bool",
    "optional_nonempty_str",
    "optional_str",
    "rate_limits",
    "rate_limits_as_documented",
    "secret_arguments",
    "timestamp",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def carries_secrets(*names: str) -> Callable[[_F], _F]:
    """Mark a write whose arguments ``names`` may hold secrets (a provider key, a body).

    The method itself deletes them before it awaits its request (see :class:`Secrets`); its
    generated twins (the sync facade, the raw-response views) read this mark and drop the same
    arguments from their own frames once the call is bound, so that no SDK frame of a failed
    write holds a secret an error reporter would send.
    """

    def mark(fn: _F) -> _F:
        fn.__portkey_secrets__ = names  # type: ignore[attr-defined]
        return fn

    return mark


def secret_arguments(fn: object) -> tuple[str, ...]:
    """The arguments :func:`carries_secrets` marked on ``fn`` (for the generator)."""
    names: tuple[str, ...] = getattr(fn, "__portkey_secrets__", ())
    return names


class Secrets:
    """The secrets a write carries (a provider key...), behind a repr that shows none of them.

    A write method holds its secrets in one of these, and deletes the arguments they came from,
    before it awaits the request: error reporters such as Sentry send the local variables of
    every frame of a traceback, and take ``repr()`` of what is not a str, a mapping or a
    sequence.
    """

    __slots__ = ("values",)

    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values

    def __repr__(self) -> str:
        return f"<Secrets: {len(self.values)} redacted>"


class Body:
    """A request body under construction: only given arguments are added.

    Its repr shows no field: a body may hold a provider key.
    """

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def add(self, wire_name: str, value: Any) -> None:
        """Add ``value`` under ``wire_name`` unless it is ``NOT_GIVEN``."""
        if not isinstance(value, NotGiven):
            self.data[wire_name] = value

    def merge(self, extra_body: Mapping[str, Any] | None) -> None:
        """Merge ``extra_body`` (fields this SDK does not know yet) over the body."""
        if extra_body is None:
            return
        if not isinstance(extra_body, Mapping) or not all(isinstance(k, str) for k in extra_body):
            raise TypeError("extra_body must be a mapping with str keys")
        self.data.update({k: json_value(v, f"extra_body[{k!r}]") for k, v in extra_body.items()})

    def __bool__(self) -> bool:
        return bool(self.data)


def optional_str(value: Any, name: str, *, nullable: bool = True) -> Any:
    """Check a str argument (``None`` allowed when ``nullable``); ``NOT_GIVEN`` passes."""
    if isinstance(value, NotGiven) or (value is None and nullable):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def optional_bool(value: Any, name: str) -> Any:
    """Check a bool argument (``NOT_GIVEN`` passes); ``1`` or ``"true"`` is not a bool."""
    if isinstance(value, NotGiven | bool):
        return value
    raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def optional_nonempty_str(value: Any, name: str) -> Any:
    """Check a str argument that, when given, must not be blank (``NOT_GIVEN`` passes)."""
    if isinstance(value, NotGiven):
        return value
    return required_str(value, name)


def required_str(value: Any, name: str) -> str:
    """Check a required, non-empty str argument."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def timestamp(value: Any, name: str) -> Any:
    """A timezone-aware ``datetime`` as ISO 8601 (``None`` and ``NOT_GIVEN`` pass)."""
    if isinstance(value, NotGiven) or value is None:
        return value
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (a naive datetime is ambiguous)")
    return value.isoformat()


def model_value(value: Any, cls: type[Model], name: str) -> Any:
    """A model or plain mapping of it, validated, as JSON (``None``/``NOT_GIVEN`` pass).

    A mapping is checked by building the model from it, then sent as given (so a field the
    caller left out is not sent as ``null``); a model is sent without its unset fields, and is
    checked the same way: its constructor converts nothing, so ``UsageLimits(type="cost")``
    holds a plain str, and ``UsageLimits(credit_limit="ten")`` must be refused here.
    """
    if isinstance(value, NotGiven) or value is None:
        return value
    if isinstance(value, cls):
        value = _model_fields(value)
    if isinstance(value, Mapping):
        data = {str(k): json_value(v, f"{name}[{k!r}]") for k, v in value.items()}
        try:
            cls.from_dict(data)
        except APIResponseValidationError as exc:
            detail = exc.message.split(": ", 1)[-1].replace("@ $", f"@ {name}")
        else:
            return data
        # Raised outside the except block, so the validation error (whose body is the caller's
        # data, a secret perhaps) is not kept as this one's __context__ either.
        raise ValueError(f"{name} is not a valid {cls.__name__}: {detail}")
    raise TypeError(f"{name} must be a {cls.__name__} or a mapping, got {type(value).__name__}")


def model_list(value: Any, cls: type[Model], name: str, *, single: bool = False) -> Any:
    """A sequence of models or mappings as a JSON array; one item is accepted when ``single``."""
    if isinstance(value, NotGiven) or value is None:
        return value
    if single and isinstance(value, cls | Mapping):
        value = [value]
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of {cls.__name__}, got {type(value).__name__}")
    return [model_value(item, cls, f"{name}[{i}]") for i, item in enumerate(value)]


def usage_limits(value: Any) -> Any:
    """``usage_limits``: a :class:`UsageLimits` or mapping (``None`` clears it)."""
    return model_value(value, UsageLimits, "usage_limits")


def rate_limits(value: Any) -> Any:
    """``rate_limits``: one :class:`RateLimit` (or mapping) or a sequence, sent as an array."""
    return model_list(value, RateLimit, "rate_limits", single=True)


def rate_limits_as_documented(value: Any) -> Any:
    """``rate_limits`` where the API documents one object: one limit as that object.

    The provider endpoints take a single ``RateLimits`` object in requests (and answer with an
    array); one :class:`RateLimit` or mapping is sent as that object, a sequence as an array.
    """
    if isinstance(value, RateLimit | Mapping):
        return model_value(value, RateLimit, "rate_limits")
    return model_list(value, RateLimit, "rate_limits")


def secret_mappings(value: Any) -> Any:
    """``secret_mappings``: a sequence of :class:`SecretMapping` or mappings."""
    return model_list(value, SecretMapping, "secret_mappings")


def json_value(value: Any, name: str) -> Any:
    """Check that ``value`` is JSON-ready (finite numbers, str keys); datetimes become ISO."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return value
    if isinstance(value, datetime):
        return timestamp(value, name)
    if isinstance(value, Model):
        return json_value(_model_fields(value), name)
    if isinstance(value, Mapping):
        return {_str_key(k, name): json_value(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [json_value(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{name} cannot be sent as JSON: {type(value).__name__}")


def _model_fields(model: Model) -> dict[str, Any]:
    """A model's set fields (and its ``extra``) as a plain mapping, nothing converted yet."""
    data: dict[str, Any] = {}
    for field in attrs.fields(cast("type[attrs.AttrsInstance]", type(model))):
        if field.name == "extra":
            continue
        item = getattr(model, field.name)
        if item is not None:
            data[field.name] = item
    extra = getattr(model, "extra", None)
    if isinstance(extra, Mapping):
        data.update({k: v for k, v in extra.items() if k not in data})
    return data


def _str_key(key: object, name: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{name} has a non-str key {key!r}")
    return key


def secrets_in_mappings(value: Any) -> tuple[str, ...]:
    """The values in ``secret_mappings`` that name or hold secrets, to scrub like the key."""
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        if isinstance(item, dict):
            for field, text in item.items():
                if field not in ("target_field", "secret_reference_id", "value_format") and (
                    isinstance(text, str)
                ):
                    found.append(text)
    return tuple(found)
