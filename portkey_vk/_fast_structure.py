"""The fast path in front of the cattrs converter: JSON dicts -> models for well-typed answers.

cattrs' detailed validation (:mod:`portkey_vk._converter`) wraps every field in its own
try/except and every ``X | None`` in a hook calling a hook: ~20 us per ``VirtualKey``, the largest
cost an SDK call adds to the HTTP round trip, and importing cattrs costs a fifth of
``import aiohttp``. Valid answers (nearly all of them) take one generated function per model
instead, with the same checks inlined and no cattrs involved. Any doubt -- a wrong type, an
unparsable or unusual date, an enum value not seen before, a type this generator does not know --
hands the data to the detailed converter (imported then, once), which either builds the very
same model or raises the error naming the field path. The fast path only ever accepts what the
detailed hooks accept and returns what they return (``tests/test_converter_fast_path.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import MemberDescriptorType, UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs

from portkey_vk._json import MAX_DEPTH, container_within_limits, within_limits
from portkey_vk._models import Model, OpenEnum, alias_of, install_codec, limits_field

__all__ = ["FAST", "fast_for", "structure", "unstructure"]

_T = TypeVar("_T")


class _NotFast(Exception):
    """The fast path declines; the detailed converter decides."""


FAST: Final[dict[type[Any], Callable[[object], Any] | None]] = {}
"""Each model's generated function, compiled on its first use (``None``: it has none)."""


def fast_for(cls: type[Any]) -> Callable[[object], Any] | None:
    """Return the fast structure function of a model, compiling it on first use.

    Every :class:`~portkey_vk._models.Model` subclass qualifies; nothing keeps a list of them.
    """
    try:
        return FAST[cls]
    except KeyError:
        pass
    fast = (
        _compile(cls)
        if isinstance(cls, type) and issubclass(cls, Model) and attrs.has(cls)
        else None
    )
    FAST[cls] = fast
    return fast


def structure(data: object, cls: type[_T]) -> _T:
    """Structure JSON-like ``data`` into ``cls``, or raise a validation error naming the path."""
    fast = FAST.get(cls) or fast_for(cls)
    if fast is not None:
        try:
            result: _T = fast(data)
            return result
        except Exception:  # noqa: S110  the detailed converter below reports what is wrong
            pass
    from portkey_vk._converter import structure as detailed  # noqa: PLC0415 - imports cattrs

    return detailed(data, cls)


def unstructure(obj: object) -> dict[str, Any]:
    """Turn a model back into a JSON-ready dict (the converter, and cattrs, load on first use)."""
    from portkey_vk._converter import unstructure as detailed  # noqa: PLC0415 - imports cattrs

    return detailed(obj)


# Model.from_dict/to_dict run through here; _models cannot import this module (it is below it).
install_codec(structure, unstructure)


def _nullable(tp: object) -> object | None:
    """``X`` when ``tp`` spells ``X | None`` (or ``Optional[X]``), else ``None``."""
    args = get_args(tp)
    if get_origin(tp) not in (Union, UnionType) or len(args) != 2 or type(None) not in args:
        return None
    inner: object = args[1] if args[0] is type(None) else args[0]
    return inner


def _field_code(var: str, tp: object, ns: dict[str, Any]) -> list[str] | None:
    """Source lines that check/convert local ``var`` of declared type ``tp``, or ``None``."""
    inner = _nullable(tp)
    if inner is None:
        if tp is Any:
            # Free-form: finite numbers only, nested at most MAX_DEPTH (see _json.within_limits).
            return [
                f"if type({var}) is dict or type({var}) is list:",
                f"    if not _container_within({var}, _MAX_DEPTH): raise _NotFast",
                f"elif {var} is not None and not _within({var}): raise _NotFast",
            ]
        return None
    not_none = f"{var} is not None"
    # Type first: a present value of the right type, the common case, then costs one test.
    if inner is str:
        return [f"if type({var}) is not str and {not_none}: raise _NotFast"]
    if inner is float:
        # NaN and infinities go the slow way, which refuses them naming the field; the chained
        # comparison is False for exactly those.
        return [
            f"if type({var}) is float:",
            f"    if not _NEG_INF < {var} < _INF: raise _NotFast",
            f"elif type({var}) is not int and {not_none}: raise _NotFast",
        ]
    if inner is int:
        # 100.0 is a valid int too; the detailed hook converts it.
        return [f"if type({var}) is not int and {not_none}: raise _NotFast"]
    if inner is bool:
        return [f"if type({var}) is not bool and {not_none}: raise _NotFast"]
    if inner is datetime:
        # What fromisoformat reads, the detailed hook reads the same way; anything else
        # (3.10 and a "Z", 7+ fractional digits) goes the slow way.
        return [
            f"if {not_none}:",
            f"    if type({var}) is not str: raise _NotFast",
            f"    {var} = _fromisoformat({var})",
            f"    if {var}.tzinfo is None: {var} = {var}.replace(tzinfo=_UTC)",
        ]
    if inner == Mapping[str, Any]:
        return [
            f"if type({var}) is dict:",
            f"    if {var} and not _container_within({var}, _MAX_DEPTH): raise _NotFast",
            f"elif {not_none}: raise _NotFast",
        ]
    if isinstance(inner, type) and issubclass(inner, OpenEnum):
        # The member table is the dict the open enums' _missing_ adds pseudo-members to, so a
        # hit is exactly what `cls(value)` returns; a value never seen before goes the slow way.
        ns[f"{var}_members"] = inner._value2member_map_
        return [
            f"if {not_none}:",
            f"    {var} = {var}_members.get({var}) if type({var}) is str else None",
            f"    if {var} is None: raise _NotFast",
        ]
    limits = limits_field(tp)
    if limits is not None:
        # The converter's one limits rule (_converter._make_limits_hook), inlined: the object
        # form and the array form; an array of several where one object is held goes the slow
        # way, which names the field.
        item_fast = fast_for(limits[0])
        if item_fast is None:
            return None
        ns[f"{var}_fast"] = item_fast
        if limits[1]:
            return [
                f"if {not_none}:",
                f"    if type({var}) is list: {var} = tuple([{var}_fast(item) for item in {var}])",
                f"    elif type({var}) is dict: {var} = ({var}_fast({var}),)",
                "    else: raise _NotFast",
            ]
        return [
            f"if {not_none}:",
            f"    if type({var}) is dict: {var} = {var}_fast({var})",
            f"    elif type({var}) is list and len({var}) < 2:",
            f"        {var} = {var}_fast({var}[0]) if {var} else None",
            "    else: raise _NotFast",
        ]
    nested = fast_for(inner) if isinstance(inner, type) else None
    if nested is not None:
        ns[f"{var}_fast"] = nested
        return [f"if {not_none}: {var} = {var}_fast({var})"]
    if get_origin(inner) is tuple:
        args = get_args(inner)
        item = fast_for(args[0]) if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None:
            ns[f"{var}_fast"] = item
            return [
                f"if {not_none}:",
                f"    if type({var}) is not list: raise _NotFast",
                f"    {var} = tuple([{var}_fast(item) for item in {var}])",
            ]
    return None


def _plain_slots(cls: type[Any]) -> bool:
    """Whether ``cls.__init__`` does nothing but set each field's slot, in field order."""
    fields = attrs.fields(cls)
    slots = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}
    return (
        slots <= {f.name for f in fields} | {"__weakref__"}
        and not hasattr(cls, "__attrs_post_init__")
        and not hasattr(cls, "__attrs_pre_init__")
        and all(
            f.validator is None
            and f.converter is None
            and f.init
            and isinstance(_slot(cls, f.name), MemberDescriptorType)
            for f in fields
        )
    )


def _slot(cls: type[Any], name: str) -> object:
    """The class attribute ``name`` (a slot's descriptor), wherever in the MRO it is defined.

    A model that inherits fields (:class:`~portkey_vk.VirtualKey` from ``ProviderBase``) finds
    their slots on the base class, not in its own ``__dict__``.
    """
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _compile(cls: type[Any]) -> Callable[[object], Any] | None:
    """Generate the fast structure function of one model, if every field is one it knows."""
    ns: dict[str, Any] = {
        "_NotFast": _NotFast,
        "_fromisoformat": datetime.fromisoformat,
        "_UTC": timezone.utc,
        "_INF": float("inf"),
        "_NEG_INF": float("-inf"),
        # A RecursionError (a caller whose stack is nearly full) declines like any other error.
        "_container_within": container_within_limits,
        "_within": within_limits,
        "_MAX_DEPTH": MAX_DEPTH,
        # One level more: the unknown keys' dict is ours, not part of any value's nesting.
        "_EXTRA_DEPTH": MAX_DEPTH + 1,
        "cls": cls,
        "_ABSENT": object(),
    }
    lines = ["def fast(o):", "    if type(o) is not dict: raise _NotFast", "    get = o.get"]
    kwargs = []
    known: list[tuple[str, str]] = []  # (field name, local variable)
    aliased = False
    for index, field in enumerate(attrs.fields(attrs.resolve_types(cls))):
        if field.name == "extra":
            continue
        if field.default is not None or field.converter or field.validator or not field.init:
            return None  # a missing key would not simply mean None: leave it to cattrs
        var = f"v{index}"
        code = _field_code(var, field.type, ns)
        if code is None:
            return None
        alias = alias_of(field)
        if alias is None:
            lines.append(f"    {var} = get({field.name!r})")
        else:
            # As the converter does: the documented name wins, the other is read when alone.
            if not aliased:
                lines.insert(3, "    known_now = known")
                aliased = True
            lines += [
                f"    {var} = get({field.name!r}, _ABSENT)",
                f"    if {var} is _ABSENT:",
                f"        {var} = get({alias!r})",
                f"        if {alias!r} in o: known_now = known_now | {{{alias!r}}}",
            ]
        lines.extend(f"    {line}" for line in code)
        kwargs.append(f"{field.alias}={var}")
        known.append((field.name, var))
    ns["known"] = frozenset(name for name, _ in known)
    # Unknown keys are kept in `extra`, exactly as the detailed path collects them.
    seen = "known_now" if aliased else "known"
    lines += [
        f"    extra = {{}} if o.keys() <= {seen} else"
        f" {{k: x for k, x in o.items() if k not in {seen}}}",
        "    if extra and not _container_within(extra, _EXTRA_DEPTH): raise _NotFast",
    ]
    if _plain_slots(cls):
        # Nothing runs in __init__ but one frozen setattr per field; the slots' own setters do
        # the same in half the time (~1 us per VirtualKey).
        lines.append("    obj = _new(cls)")
        for name in [*(name for name, _ in known), "extra"]:
            ns[f"set_{name}"] = _slot(cls, name).__set__  # type: ignore[attr-defined]
        lines += [f"    set_{name}(obj, {var})" for name, var in known]
        lines += ["    set_extra(obj, extra)", "    return obj"]
        ns["_new"] = object.__new__
    else:
        lines.append(f"    return cls({', '.join(kwargs)}, extra=extra)")
    source = "\n".join(lines)
    exec(compile(source, f"<portkey_vk fast structure {cls.__name__}>", "exec"), ns)  # noqa: S102
    fast: Callable[[object], Any] = ns["fast"]
    return fast
