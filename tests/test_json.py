"""``portkey_vk._json.decode``: every way a body can fail to be JSON is one typed error.

What a hostile or broken server sends next after "nested 100,000 deep": the same depth in
objects, a mix, NaN in any spelling and place, numbers that overflow, bytes that are not UTF-8,
nothing at all, a byte order mark, a number of 5,000 digits. Each ends in ``JSONDecodeFailure``
(a ``ValueError``) with a short message, or in the value ``json.loads`` gives.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portkey_vk import APIResponseValidationError, InternalServerError, VirtualKey
from portkey_vk._errors import parse_error_body
from portkey_vk._json import (
    MAX_DEPTH,
    JSONDecodeFailure,
    decode,
    limits_problem,
    within_limits,
)
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface

DEEP = 100_000
# A message quotes at most a short snippet of the body, whatever its size.
MAX_MESSAGE = 300


def deep_arrays(depth: int = DEEP) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_objects(depth: int = DEEP) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_mixed(depth: int = DEEP) -> bytes:
    return b'[{"a":' * (depth // 2) + b"null" + b"}]" * (depth // 2)


REFUSED: list[Any] = [
    pytest.param(deep_arrays(), "nested too deeply", id="arrays-100k"),
    pytest.param(deep_objects(), "nested too deeply", id="objects-100k"),
    pytest.param(deep_mixed(), "nested too deeply", id="mixed-100k"),
    pytest.param(b"[" * DEEP, "nested too deeply", id="unclosed-arrays-100k"),
    pytest.param(b'{"slug": "vk", "x": ' + deep_arrays(), "nested too deeply", id="deep-in-a-key"),
    pytest.param(b"NaN", "NaN", id="NaN"),
    pytest.param(b'{"reset_usage": NaN}', "NaN", id="NaN-in-object"),
    pytest.param(b"[1, [2, [Infinity]]]", "Infinity", id="Infinity-nested"),
    pytest.param(b'{"a": -Infinity}', "-Infinity", id="-Infinity"),
    pytest.param(b"1e999", "too large", id="1e999"),
    pytest.param(b"-1e999", "too large", id="-1e999"),
    pytest.param(b'{"credit_limit": 1E400}', "too large", id="1E400"),
    pytest.param(b"[" + b"9" * 400 + b".0]", "too large", id="400-digit-float"),
    pytest.param(b"1" * 5000, "digits", id="5000-digit-int"),
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b"  \r\n\t ", "empty", id="whitespace"),
    pytest.param(b"\xef\xbb\xbf", "empty", id="bom-only"),
    pytest.param(b"\xef\xbb\xbf\xef\xbb\xbf{}", "Expecting value", id="two-boms"),
    pytest.param(b"\xff", "not UTF-8", id="0xff"),
    pytest.param(b'{"name": "caf\xe9"}', "not UTF-8", id="latin-1"),
    pytest.param(b'"\xc3"', "not UTF-8", id="truncated-sequence"),
    pytest.param(b'"\xc0\xaf"', "not UTF-8", id="overlong"),
    pytest.param(b'"\xed\xa0\x80"', "not UTF-8", id="encoded-surrogate"),
    pytest.param("[1]".encode("utf-16"), "not UTF-8", id="utf-16-with-bom"),
    pytest.param("[1]".encode("utf-32-le"), "Expecting value", id="utf-32-without-bom"),
    pytest.param(b'{"slug": "vk"', "Expecting", id="truncated"),
    pytest.param(b'{"slug": "vk"} {}', "Extra data", id="two-documents"),
    pytest.param(b'{"name": "a\x1b[2Jb"}', "Invalid control character", id="raw-escape-in-string"),
    pytest.param(b"{'slug': 'vk'}", "Expecting property name", id="single-quotes"),
    pytest.param(b'{"a": 1,}', "line 1 column", id="trailing-comma"),
    pytest.param(b"<html>502 Bad Gateway</html>", "Expecting value", id="html"),
    pytest.param(b"nan", "Expecting value", id="lowercase-nan"),
]


@pytest.mark.parametrize(("body", "reason"), REFUSED)
def test_what_is_not_strict_json_is_one_typed_error(body: bytes, reason: str) -> None:
    with pytest.raises(JSONDecodeFailure, match=r"^not valid JSON: ") as info:
        decode(body)
    assert isinstance(info.value, ValueError)
    assert reason in info.value.message
    assert str(info.value) == info.value.message
    assert len(info.value.message) <= MAX_MESSAGE
    # The cause (json's error keeps the whole document) is not chained for display.
    assert info.value.__suppress_context__ or info.value.__context__ is None


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(_as_text(p.values[0]), p.values[1], id=p.id)
        for p in REFUSED
        if _as_text(p.values[0]) is not None
    ],
)
def test_the_same_text_as_str_fails_the_same_way(text: str, reason: str) -> None:
    with pytest.raises(JSONDecodeFailure) as info:
        decode(text)
    assert reason in info.value.message


def test_position_points_at_the_problem() -> None:
    with pytest.raises(JSONDecodeFailure) as info:
        decode(b'{"a": 1, "b": x}')
    assert info.value.position == 14
    with pytest.raises(JSONDecodeFailure) as info:
        decode(b'{"a": "\xff"}')
    assert info.value.position == 7


def test_a_huge_garbage_body_is_quoted_only_in_part() -> None:
    body = b'{"message": "' + b"SECRET-" * 200_000 + b"<oops"
    with pytest.raises(JSONDecodeFailure) as info:
        decode(body)
    assert len(info.value.message) <= MAX_MESSAGE
    assert info.value.message.count("SECRET") < 10


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'\xef\xbb\xbf{"slug": "vk"}', {"slug": "vk"}),
        ('\ufeff{"slug": "vk"}', {"slug": "vk"}),
        (b"[1e308, -1e308, 1e-400, -0.0, 5e-324]", [1e308, -1e308, 0.0, -0.0, 5e-324]),
        (b"123456789012345678901234567890", 123456789012345678901234567890),
        (b'"\\ud800"', "\ud800"),  # an escaped lone surrogate is valid JSON text
        (b'{"a": 1, "a": 2}', {"a": 2}),
        (b' {"name": "\xe2\x80\xae caf\xc3\xa9 \\u001b"} ', {"name": "\u202e café \x1b"}),
        (b"null", None),
    ],
)
def test_valid_json_decodes(body: bytes | str, expected: Any) -> None:
    assert decode(body) == expected


def test_nesting_the_parser_follows_is_returned() -> None:
    # Depth is held to MAX_DEPTH by the models, not here; see test_models.py.
    assert decode(deep_arrays(200)) == json.loads(deep_arrays(200))


def _near_the_recursion_limit(call: Callable[[], object], margin: int = 40) -> object:
    """Run ``call`` with only about ``margin`` frames left before the recursion limit."""
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]

    def descend(level: int) -> object:
        if level <= 0:
            return call()
        return descend(level - 1)

    return descend(sys.getrecursionlimit() - depth - margin)


def test_a_deep_body_on_a_deep_stack_is_still_typed() -> None:
    # 300 levels parse from a shallow stack; from one already near the limit json's scanner
    # gives up early with RecursionError, which must come out typed as well.
    def attempt() -> object:
        try:
            return decode(deep_arrays(300))
        except JSONDecodeFailure as exc:
            return exc

    outcome = _near_the_recursion_limit(attempt)
    assert isinstance(outcome, JSONDecodeFailure | list)


_finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=_finite_json)
def test_any_finite_json_value_decodes_as_json_loads_does(value: Any) -> None:
    text = json.dumps(value)
    assert decode(text.encode()) == json.loads(text)
    assert decode(text) == json.loads(text)
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    assert decode(pretty.encode()) == json.loads(pretty)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=64)
    | st.text(max_size=64).map(str.encode)
    | st.lists(st.sampled_from(["[", "{", '"a":', "]", "}", ",", "1", "NaN", "1e999", "\ufeff"]))
    .map("".join)
    .map(str.encode)
)
def test_any_bytes_give_a_value_or_the_typed_error(body: bytes) -> None:
    outcome: Any
    try:
        outcome = decode(body)
    except JSONDecodeFailure as exc:
        outcome = exc
    if isinstance(outcome, JSONDecodeFailure):
        assert len(outcome.message) <= MAX_MESSAGE
    else:
        # Whatever is accepted is JSON without non-finite numbers.
        json.dumps(outcome, allow_nan=False)


@pytest.mark.parametrize(
    "body",
    [
        deep_arrays(),
        deep_objects(),
        b'{"data": {"message": NaN}}',
        b'{"error": {"message": "x", "code": 1e999}}',
    ],
    ids=["deep-arrays", "deep-objects", "nan", "overflow"],
)
def test_an_error_body_that_is_not_strict_json_is_text(body: bytes) -> None:
    parsed, message, code = parse_error_body(body)
    assert parsed == body.decode()
    assert message is not None
    assert len(message) <= 200
    assert code is None


@pytest.mark.parametrize("body", [deep_arrays(), deep_objects(), b'{"message": NaN}'])
def test_a_5xx_with_such_a_body_is_still_retried(
    fake: FakePortkey, client: Surface, body: bytes
) -> None:
    fake.add_virtual_key("vk", name="after the 500")
    fake.fail_next(500, headers={"Retry-After": "0"}, body=body)
    assert client.retrieve("vk").name == "after the 500"
    assert len(fake.requests) == 2


def test_a_5xx_with_such_a_body_every_time_is_an_internal_server_error(
    fake: FakePortkey, client: Surface
) -> None:
    fake.fail_next(503, times=3, headers={"Retry-After": "0"}, body=deep_objects())
    with pytest.raises(InternalServerError) as info:
        client.retrieve("vk")
    assert info.value.status_code == 503
    assert len(fake.requests) == 3
    assert isinstance(info.value.body, str)
    assert len(info.value.message) <= 200


_free_form = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=3)
    | st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=_free_form, depth_limit=st.integers(min_value=0, max_value=4))
def test_the_quick_check_and_the_one_that_explains_agree(value: Any, depth_limit: int) -> None:
    problem = limits_problem(value, depth_limit)
    assert within_limits(value, depth_limit) is (problem is None)
    if problem is not None:
        # The path leads to the offending value.
        node = value
        for step in problem[0]:
            node = node[step]
        assert isinstance(node, dict | list | tuple) or not math.isfinite(node)


def _nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_nested(MAX_DEPTH), True),
        (_nested(MAX_DEPTH + 1), False),
        (_nested(MAX_DEPTH - 1, float("nan")), False),
        (_nested(MAX_DEPTH - 1, (1, 2)), True),
    ],
    ids=["at-the-limit", "one-deeper", "nan-deep-down", "tuple-deep-down"],
)
def test_the_limits_hold_on_a_nearly_full_stack(value: object, expected: bool) -> None:
    # The quick walk recurses; with too few frames left it must still answer, the same way.
    assert within_limits(value) is expected
    assert _near_the_recursion_limit(lambda: within_limits(value), margin=20) is expected


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _List(list):  # type: ignore[type-arg]
    pass


class _Float(float):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_Dict(a=[1, "x"]), True),
        (_Dict(a=[1, _Float("nan")]), False),
        (_List([_Dict(a=(1, 2.5))]), True),
        (_List([(_Float("-inf"),)]), False),
        ((1, [2, {"a": _Float("inf")}]), False),
        (_Float(2.5), True),
        (_Float("nan"), False),
        (_List([_nested(MAX_DEPTH)]), False),
        (_Dict(a=_nested(MAX_DEPTH - 1)), True),
        ({1, 2}, True),  # not JSON, not walked: to_dict and == do not recurse into it either
    ],
)
def test_a_caller_s_subclasses_are_walked_like_the_builtins(value: object, expected: bool) -> None:
    assert within_limits(value) is expected
    assert (limits_problem(value) is None) is expected


def test_a_long_key_is_cut_in_the_path_of_an_error() -> None:
    long_key = "k" * 10_000
    for payload in ({long_key: float("nan")}, {"model_config": {long_key: [float("inf")]}}):
        with pytest.raises(APIResponseValidationError) as info:
            VirtualKey.from_dict(payload)
        assert "k" * 40 + "..." in info.value.message
        assert len(info.value.message) < 300
