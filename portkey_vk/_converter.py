"""The one cattrs converter: JSON dicts <-> models, built once at import.

Structuring is strict where it matters (a ``created_at`` that is not a date, a ``name`` that is
a number) and lenient where the live API is loose (any field may be missing or null; unknown
keys and unknown enum values are kept). Every failure surfaces as
:class:`~portkey_vk.APIResponseValidationError` naming the field path, never as a bare cattrs,
``ValueError`` or ``KeyError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from portkey_vk._errors import APIResponseValidationError
from portkey_vk._json import MAX_DEPTH, limits_problem, within_limits
from portkey_vk._models import Model, OpenEnum, alias_of, limits_field

__all__ = ["converter", "parse_datetime", "structure", "unstructure"]

_T = TypeVar("_T")

# A key no JSON document from the API can hold, so the unknown-keys bag never collides with a
# real field called "extra".
_EXTRA_KEY: Final = "\x00extra"

converter: Final = cattrs.Converter(detailed_validation=True)


# -- strict scalars ---------------------------------------------------------------------------
# cattrs' defaults coerce (`str(123)`, `int("7")`); an SDK must not invent data, so each scalar
# hook checks the JSON type instead.


def _structure_str(value: object, _: object) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: object, _: object) -> int:
    if type(value) is int:
        return value
    if type(value) is float:
        if value.is_integer():
            return int(value)
        # The value itself says more than "float", and NaN or inf lands here too.
        raise ValueError(f"expected an integer, got {value!r}")
    raise TypeError(f"expected an integer, got {type(value).__name__}")


_INF: Final = float("inf")


def _structure_float(value: object, _: object) -> float:
    if type(value) is int:
        return value
    if type(value) is float:
        # NaN would make the model unequal to itself, and neither NaN nor inf is JSON.
        if -_INF < value < _INF:
            return value
        raise ValueError(f"expected a finite number, got {value!r}")
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _structure_bool(value: object, _: object) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_mapping(value: object, _: object) -> Mapping[str, Any]:
    if type(value) is dict:
        _check_free_form(value)
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _structure_any(value: object, _: object) -> object:
    _check_free_form(value)
    return value


def _pass_through(value: object, _: object) -> object:
    return value


# -- free-form values -------------------------------------------------------------------------
# model_config, tags and unknown keys hold any JSON value, and from_dict() may be handed a
# caller's dict that no JSON parser produced: the same rules as _json.decode apply (finite
# numbers only) plus a depth bound, and the error names the path down to the bad value.

# Path steps shown in a message; a depth error's path would otherwise be 128 steps long.
_PATH_SHOWN: Final = 8
_KEY_SHOWN: Final = 40


def _check_free_form(value: object, depth_limit: int = MAX_DEPTH) -> None:
    if not within_limits(value, depth_limit):
        raise _free_form_error(value, depth_limit)


def _short_key(key: str | int) -> str | int:
    if isinstance(key, str) and len(key) > _KEY_SHOWN:
        return key[:_KEY_SHOWN] + "..."
    return key


def _free_form_error(value: object, depth_limit: int) -> Exception:
    """The error for a value refused by within_limits, shaped so cattrs names its whole path."""
    problem = limits_problem(value, depth_limit)
    path, message = problem if problem is not None else ((), "not a JSON value")
    if len(path) > _PATH_SHOWN:
        message += f" ({len(path) - _PATH_SHOWN} levels below this path)"
        path = path[:_PATH_SHOWN]
    error: Exception = ValueError(message)
    for key in reversed(path):
        shown = _short_key(key)
        note = IterableValidationNote(f"Structuring @ {shown!r}", shown, Any)
        error.__notes__ = [note]  # type: ignore[attr-defined]
        error = IterableValidationError("a free-form value outside the limits", [error], Any)
    return error


def _check_unknown_keys(unknown: Mapping[str, Any], cls: type[Any]) -> None:
    """Hold the values of keys the model does not know to the free-form rules, naming the key."""
    for key, value in unknown.items():
        if not within_limits(value):
            error = _free_form_error(value, MAX_DEPTH)
            shown = _short_key(key)
            note = AttributeValidationNote(f"Structuring @ attribute {shown!r}", str(shown), Any)
            error.__notes__ = [*getattr(error, "__notes__", ()), note]  # type: ignore[attr-defined]
            raise ClassValidationError(f"While structuring {cls.__name__}", [error], cls)


# Python 3.10's fromisoformat accepts neither "Z" nor fractions other than 3 or 6 digits; the
# fast path below handles what 3.11+ reads natively and the regex normalises the rest.
_ISO_RE: Final = re.compile(
    r"(?P<main>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?"
    r"(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 timestamp into a timezone-aware ``datetime``.

    Accepts ``Z`` or a numeric offset and any number of fractional digits (truncated to
    microseconds). A timestamp without an offset is taken as UTC, which is what Portkey means.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = _parse_datetime_slow(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed


def _parse_datetime_slow(value: str) -> datetime:
    match = _ISO_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {value[:40]!r}")
    text = match["main"]
    if match["frac"]:
        text += "." + match["frac"][:6].ljust(6, "0")
    tz = match["tz"]
    if tz in ("Z", "z"):
        text += "+00:00"
    elif tz:
        text += tz if len(tz) != 5 or ":" in tz else f"{tz[:3]}:{tz[3:]}"
        if len(tz) == 3:
            text += ":00"
    return datetime.fromisoformat(text)


def _structure_datetime(value: object, _: object) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return parse_datetime(value)


def _unstructure_datetime(value: datetime) -> str:
    return value.isoformat()


def _unstructure_open_enum(value: OpenEnum | str) -> str:
    # A model built in code may hold the plain string (`UsageLimits(type="cost")`): attrs fields
    # do not convert, and a str-valued enum's string is its value either way.
    return str(value)


def _structure_open_enum(value: object, cls: type[OpenEnum]) -> OpenEnum:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return cls(value)


_SCALAR_HOOKS: Final[dict[Any, Callable[[object, object], Any]]] = {
    str: _structure_str,
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
    datetime: _structure_datetime,
    Mapping[str, Any]: _structure_mapping,
}


def _optional_inner(tp: object) -> object | None:
    """Return ``X`` for ``X | None`` (either spelling), else ``None``."""
    if get_origin(tp) in (Union, UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            inner: object = args[0]
            return inner
    return None


def _is_tuple(tp: object) -> bool:
    origin: object = get_origin(tp)
    return origin is tuple


def _is_open_enum(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, OpenEnum)


def _scalar_hook_for(tp: object) -> Callable[[object, object], Any] | None:
    hook = _SCALAR_HOOKS.get(tp)
    if hook is None and _is_open_enum(tp):
        return _structure_open_enum  # type: ignore[return-value]
    return hook


def _make_optional_hook(tp: object) -> Callable[[object, object], Any]:
    inner = _optional_inner(tp)
    hook = _scalar_hook_for(inner)
    if hook is None:
        # A nested model or a tuple: let the converter find its (compiled) hook once.
        inner_hook = converter.get_structure_hook(inner)

        def structure_optional(value: object, _: object) -> Any:
            return None if value is None else inner_hook(value, inner)

        return structure_optional

    def structure_optional_scalar(value: object, _: object) -> Any:
        return None if value is None else hook(value, inner)

    return structure_optional_scalar


def _make_tuple_hook(tp: object) -> Callable[[object, object], Any]:
    """Structure ``tuple[X, ...]`` from a JSON array only.

    cattrs' default iterates anything, so ``{}`` or ``"abc"`` would become a tuple silently.
    Item errors carry cattrs' index notes so the message still names ``$.rate_limits[1]``.
    """
    item_type = get_args(tp)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: object, _: object) -> tuple[Any, ...]:
        if type(value) is not list:
            raise TypeError(f"expected an array, got {_json_type(value)}")
        items = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(item_hook(item, item_type))
            except Exception as exc:  # noqa: PERF203 - collect every item error, as cattrs does
                note = IterableValidationNote(f"Structuring {tp} @ index {index}", index, item_type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {tp!r}", errors, tp)  # type: ignore[arg-type]
        return tuple(items)

    return structure_tuple


def _make_limits_hook(tp: object) -> Callable[[object, object], Any]:
    """The one rule for limits fields: the object form and the array form are both read.

    The document types every limits field as an array and the live API (and the official SDKs'
    models) send an object in places; see :class:`~portkey_vk._models.Limits`. Checked before
    the generic ``X | None`` hook, so it applies to every model without naming any.
    """
    found = limits_field(tp)
    assert found is not None  # the predicate that picked this factory said so
    item_type, many = found
    item_hook = converter.get_structure_hook(item_type)
    sequence = tuple[item_type, ...]  # type: ignore[valid-type]
    sequence_hook = converter.get_structure_hook(sequence)

    if many:

        def structure_limits(value: object, _: object) -> Any:
            if value is None:
                return None
            if type(value) is list:
                return sequence_hook(value, sequence)
            if type(value) is dict:
                return (item_hook(value, item_type),)
            raise TypeError(f"expected an object or an array, got {_json_type(value)}")

        return structure_limits

    def structure_limit(value: object, _: object) -> Any:
        if value is None:
            return None
        if type(value) is dict:
            return item_hook(value, item_type)
        if type(value) is list:
            if len(value) > 1:
                raise ValueError(f"expected one object, got an array of {len(value)}")
            # Through the sequence hook, so an item's error is named `$.usage_limits[0]...`.
            return sequence_hook(value, sequence)[0] if value else None
        raise TypeError(f"expected an object or an array, got {_json_type(value)}")

    return structure_limit


# cattrs' own scalar handling coerces and its union handling bypasses registered hooks; every
# model field is `X | None`, so that factory applies the strict scalar hooks above. A predicate,
# not `register_structure_hook(str)`: that dispatches on the MRO and would catch the str enums.
converter.register_structure_hook_factory(
    lambda t: _optional_inner(t) is not None, _make_optional_hook
)
converter.register_structure_hook_func(lambda t: t is Any, _structure_any)
converter.register_structure_hook_factory(_is_tuple, _make_tuple_hook)
converter.register_unstructure_hook_func(lambda t: t is datetime, _unstructure_datetime)
# Registered after the `X | None` factory: cattrs tries the most recent registration first.
converter.register_structure_hook_factory(lambda t: limits_field(t) is not None, _make_limits_hook)


def _make_optional_unstructure_hook(tp: object) -> Callable[[Any], Any]:
    # cattrs would dispatch `X | None` on the value's runtime class, which for a str-based enum
    # finds str's identity hook; dispatch on the declared type instead. Enums are matched here
    # rather than registered per class: cattrs tries the MRO (str) before any predicate.
    inner = _optional_inner(tp)
    inner_hook = (
        _unstructure_open_enum if _is_open_enum(inner) else converter.get_unstructure_hook(inner)
    )
    return lambda value: None if value is None else inner_hook(value)


converter.register_unstructure_hook_factory(
    lambda t: _optional_inner(t) is not None, _make_optional_unstructure_hook
)
# JSON has arrays, not tuples; the models hold tuples so that they stay immutable.
converter.register_unstructure_hook_func(
    _is_tuple,
    lambda v: [converter.unstructure(item) for item in v],
)


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model) and attrs.has(tp)


def _make_model_structure_hook(cls: type[Any]) -> Callable[[object, object], Any]:
    return _model_hooks(cls)[0]


def _make_model_unstructure_hook(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    return _model_hooks(cls)[1]


_MODEL_HOOKS: dict[type[Any], tuple[Callable[[object, object], Any], Callable[[Any], Any]]] = {}


def _model_hooks(
    cls: type[Any],
) -> tuple[Callable[[object, object], Any], Callable[[Any], dict[str, Any]]]:
    """Compile the structure/unstructure functions of one model, once."""
    hooks = _MODEL_HOOKS.get(cls)
    if hooks is None:
        hooks = _MODEL_HOOKS[cls] = _compile_model_hooks(cls)
    return hooks


def _compile_model_hooks(
    cls: type[Any],
) -> tuple[Callable[[object, object], Any], Callable[[Any], dict[str, Any]]]:
    """Compile the structure/unstructure functions of one model, with unknown-key passthrough."""
    fields = attrs.fields(attrs.resolve_types(cls))
    known = frozenset(f.name for f in fields if f.name != "extra")
    aliases = [(f.name, alias) for f in fields if (alias := alias_of(f)) is not None]
    base_structure = make_dict_structure_fn(
        cls,
        converter,
        extra=override(rename=_EXTRA_KEY, struct_hook=_pass_through),
    )
    # Hooks fetched by declared type, once: cattrs' generated unstructure function dispatches
    # `X | None` on the runtime class, which hands str-based enums through as enum members.
    field_hooks = [
        (f.name, converter.get_unstructure_hook(f.type)) for f in fields if f.name != "extra"
    ]

    def structure_model(data: object, _: object) -> Any:
        if type(data) is not dict:
            raise TypeError(f"expected an object, got {_json_type(data)}")
        for name, alias in aliases:
            # The documented name wins; the other is read only when it is the one sent.
            if alias in data and name not in data:
                data = {(name if k == alias else k): v for k, v in data.items()}
        if data.keys() - known:
            unknown = {k: v for k, v in data.items() if k not in known}
            _check_unknown_keys(unknown, cls)
            data = {**data, _EXTRA_KEY: unknown}
        return base_structure(data, cls)

    def unstructure_model(obj: Any) -> dict[str, Any]:
        out = {name: hook(getattr(obj, name)) for name, hook in field_hooks}
        if obj.extra:
            out.update(obj.extra)
        return out

    return structure_model, unstructure_model


# Every Model subclass is found by these predicates and compiled on first use: no list of
# models is kept. cattrs caches what a factory returns, once per class.
converter.register_structure_hook_factory(_is_model, _make_model_structure_hook)
converter.register_unstructure_hook_factory(_is_model, _make_model_unstructure_hook)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def structure(data: object, cls: type[_T]) -> _T:
    """Structure JSON-like ``data`` into ``cls``, or raise a validation error naming the path."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises a zoo of types; callers get exactly one.
        raise _validation_error(exc, data, cls) from exc


def unstructure(obj: object) -> dict[str, Any]:
    """Turn a model back into a JSON-ready dict."""
    result: dict[str, Any] = converter.unstructure(obj)
    return result


def _validation_error(exc: Exception, data: object, cls: type[Any]) -> APIResponseValidationError:
    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc, path="$", format_exception=_format_exception)
    else:
        problems = [f"{_format_exception(exc, None)} @ $"]
    name = getattr(cls, "__name__", repr(cls))
    message = f"response does not fit the {name} model: " + "; ".join(problems)
    return APIResponseValidationError(message, status_code=200, body=data, headers={})


def _format_exception(exc: BaseException, _type: object) -> str:
    return str(exc) or type(exc).__name__
