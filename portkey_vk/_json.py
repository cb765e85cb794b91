"""The SDK's one strict JSON decoder, and the limits the models share with it.

Every JSON text the SDK reads (a 2xx answer, an error body) goes through :func:`decode`, so every
way a body can fail to be JSON surfaces as one ``ValueError`` subclass, :class:`JSONDecodeFailure`,
with a short message, never a bare ``RecursionError``, ``UnicodeDecodeError`` or the whole body.

What it refuses that :func:`json.loads` accepts, and why:

- ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow to infinity (``1e999``): they are
  not JSON (RFC 8259 section 6), a model holding NaN differs from itself, and writing one back
  out (``--json``, ``json.dumps(vk.to_dict())``) produces text no JSON parser accepts.
- bytes that are not UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8).
  ``json.loads`` would guess UTF-16/32 and let encoded surrogates through.
- nesting deeper than json's C scanner follows: it gives up with ``RecursionError`` at a depth
  that depends on the Python version and on the caller's stack (about 1,000 on 3.10-3.12, over
  10,000 on 3.13); that becomes a ``JSONDecodeFailure`` too.

A leading UTF-8 byte order mark is ignored, as RFC 8259 allows.

Depth is otherwise not counted here: counting brackets costs as much as a tenth of the parse, on
every call. The fields whose values can nest freely (``model_config``, ``tags``, unknown keys) are
held to :data:`MAX_DEPTH` by the models instead (:func:`within_limits`), which walk only those
values, and the typed fields have a fixed shape anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

__all__ = [
    "MAX_DEPTH",
    "JSONDecodeFailure",
    "container_within_limits",
    "decode",
    "limits_problem",
    "within_limits",
]

MAX_DEPTH: Final = 128
"""How deep a model's free-form values may nest (a value that is an array or object is depth 1).

Anything that recurses over a model (``==``, ``repr``, ``to_dict``, ``json.dumps(indent=2)``,
``copy.deepcopy``) then stays far from the interpreter's recursion limit on every version. 128 is
serde_json's default; a virtual key's ``model_config`` rarely nests 5 levels.
"""

# Characters of the body quoted around an error's position: enough to recognise it, and bounded
# so that a 5 MB body (or a key the transport did not scrub) never lands whole in a message.
_SNIPPET_CHARS: Final = 40
_BOM: Final = "\ufeff"
_INF: Final = float("inf")


class JSONDecodeFailure(ValueError):
    """A body that is not strict JSON: a syntax error, bad UTF-8, a non-finite number, too deep.

    The message is short and quotes at most a few dozen characters of the body.

    Attributes:
        message: the human-readable reason (also ``str(exc)``).
        position: the character offset of the problem in the decoded text (the byte offset for
            bad UTF-8), when known.
        non_finite: the body is JSON but for a ``NaN``/``Infinity`` or an overflowing number
            (a caller that parses into a model can then name the field that holds it).
    """

    message: str
    position: int | None
    non_finite: bool

    def __init__(
        self, message: str, *, position: int | None = None, non_finite: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.non_finite = non_finite


def _refuse_constant(name: str) -> Any:
    raise JSONDecodeFailure(f"not valid JSON: {name} is not a JSON number", non_finite=True)


def _parse_float(text: str) -> float:
    value = float(text)
    # Only a literal too large for a double gets here as infinity: NaN/Infinity literals go to
    # _refuse_constant. Floats are rare in our bodies, so this Python hop costs next to nothing.
    if value in (_INF, -_INF):
        raise JSONDecodeFailure(
            f"not valid JSON: the number {_quote(text)} is too large for a float", non_finite=True
        )
    return value


# Built once: json.loads(text, parse_float=...) would build a decoder (and its scanner) per call.
_decode_text: Final = json.JSONDecoder(
    parse_float=_parse_float, parse_constant=_refuse_constant
).decode


def decode(body: bytes | str) -> Any:
    """Parse ``body`` as strict JSON and return the value.

    ``bytes`` must be UTF-8 (a leading byte order mark is ignored); a ``str`` is taken as already
    decoded. Objects become ``dict``, arrays ``list``, numbers ``int`` or ``float``; a repeated
    key keeps its last value, as in :func:`json.loads`.

    Raises:
        JSONDecodeFailure: ``body`` is empty, not UTF-8, not JSON, holds ``NaN``, ``Infinity``,
            ``-Infinity`` or a number that overflows a float (``1e999``), has an integer of more
            digits than Python converts (4,300 by default), or nests deeper than the parser can
            follow. Never any other exception, whatever the content.
    """
    if isinstance(body, str):
        text = body
    else:
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise JSONDecodeFailure(
                f"not valid JSON: the body is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at "
                f"offset {exc.start})",
                position=exc.start,
            ) from None
    try:
        return _decode_text(text)
    except json.JSONDecodeError as exc:
        if not text.startswith(_BOM):
            raise _syntax_failure(exc) from None
    except (JSONDecodeFailure, RecursionError, ValueError) as exc:
        raise _failure(exc) from None
    # Looked for only once parsing failed: the hot path pays nothing for the rare BOM.
    try:
        return _decode_text(text[1:])
    except (JSONDecodeFailure, RecursionError, ValueError) as exc:
        raise _failure(exc) from None


def _failure(exc: BaseException) -> JSONDecodeFailure:
    if isinstance(exc, JSONDecodeFailure):
        return exc
    if isinstance(exc, json.JSONDecodeError):
        return _syntax_failure(exc)
    if isinstance(exc, RecursionError):
        return _too_deep()
    # An integer literal beyond sys.get_int_max_str_digits() (4,300 digits by default).
    return JSONDecodeFailure(f"not valid JSON: {_bounded(str(exc))}")


def _too_deep() -> JSONDecodeFailure:
    # The depth the scanner reached depends on the interpreter and the stack; it is not reported.
    return JSONDecodeFailure("not valid JSON: arrays and objects nested too deeply to parse")


def _syntax_failure(exc: json.JSONDecodeError) -> JSONDecodeFailure:
    if not exc.doc.strip():
        return JSONDecodeFailure("not valid JSON: the body is empty", position=0)
    start = max(exc.pos - _SNIPPET_CHARS // 2, 0)
    near = exc.doc[start : start + _SNIPPET_CHARS]
    return JSONDecodeFailure(
        f"not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno} "
        f"(char {exc.pos}), near {near!r}",
        position=exc.pos,
    )


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "...")


def _bounded(text: str) -> str:
    return text if len(text) <= 2 * _SNIPPET_CHARS else text[: 2 * _SNIPPET_CHARS] + "..."


# -- free-form values that did not come through decode --------------------------------------
# from_dict() takes the caller's own dicts, and a few fields (model_config, tags, unknown keys)
# hold any JSON value. The models hold those to decode's rules, so that a model always equals
# itself, to_dict() is always valid JSON, and nothing that recurses over a model (==, repr,
# to_dict, json.dumps) meets a depth the interpreter cannot follow.


# The leaf types that need no look.
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def within_limits(value: object, depth_limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` holds no NaN or infinite float and nests at most ``depth_limit`` deep.

    Dicts, lists and tuples (and their subclasses) are walked; a container at the top counts as
    depth 1.
    """
    if type(value) in _PLAIN:
        return True
    if isinstance(value, float):
        return -_INF < value < _INF
    try:
        if type(value) is dict or type(value) is list:
            return container_within_limits(value, depth_limit)
    except RecursionError:
        pass  # called with the stack already nearly full: the walk below needs none
    return _walk([value], depth_limit)


def container_within_limits(value: dict[str, Any] | list[Any], budget: int = MAX_DEPTH) -> bool:
    """:func:`within_limits` for a ``dict`` or ``list``, the fastest way CPython allows.

    Recursive, at most ``budget`` frames deep, so it raises ``RecursionError`` if called with
    fewer frames than that left; :func:`within_limits` then takes the iterative way.
    """
    if budget <= 0:
        return False
    budget -= 1
    children: Iterable[Any] = value.values() if type(value) is dict else value
    for child in children:
        kind = type(child)
        if kind in _PLAIN:
            continue
        if kind is dict or kind is list:
            if not container_within_limits(child, budget):
                return False
        elif kind is float:
            if not -_INF < child < _INF:
                return False
        elif not within_limits(child, budget):  # tuples, a caller's subclasses
            return False
    return True


def _walk(level: list[Any], depth_limit: int) -> bool:
    depth = 0
    while level:
        depth += 1
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind in _PLAIN:
                continue
            if kind is dict:
                children = item.values()
            elif kind is list or kind is tuple:
                children = item
            elif kind is float:
                if not -_INF < item < _INF:
                    return False
                continue
            elif isinstance(item, dict):  # a caller's subclass
                children = item.values()
            elif isinstance(item, list | tuple):
                children = item
            elif isinstance(item, float) and not -_INF < item < _INF:
                return False
            else:
                continue
            if depth > depth_limit:
                return False
            if not set(map(type, children)) <= _PLAIN:
                below.extend(children)
        level = below
    return True


def limits_problem(
    value: object, depth_limit: int = MAX_DEPTH
) -> tuple[tuple[str | int, ...], str] | None:
    """Where and how ``value`` breaks :func:`within_limits`: the keys and indexes, and why.

    ``None`` when it does not. Meant for error messages, once ``within_limits`` said no.
    """
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, dict | list | tuple):
            if len(path) >= depth_limit:
                return path, f"arrays and objects nested deeper than {depth_limit} levels"
            children = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((child, (*path, key)) for key, child in reversed(list(children)))
        elif isinstance(item, float) and not -_INF < item < _INF:
            return path, f"expected a finite number, got {item!r}"
    return None
