"""The error hierarchy and the parsing of Portkey's error bodies."""

from __future__ import annotations

import pytest

from portkey_vk import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PortkeyError,
    RateLimitError,
    UnprocessableEntityError,
)
from portkey_vk._errors import parse_error_body, status_error_class


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (APIError, PortkeyError),
        (APIStatusError, APIError),
        (APIConnectionError, APIError),
        (APITimeoutError, APIConnectionError),
        (APIResponseValidationError, APIError),
        (BadRequestError, APIStatusError),
        (AuthenticationError, APIStatusError),
        (PaymentRequiredError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (NotFoundError, APIStatusError),
        (ConflictError, APIStatusError),
        (UnprocessableEntityError, APIStatusError),
        (RateLimitError, APIStatusError),
        (InternalServerError, APIStatusError),
    ],
)
def test_hierarchy(cls: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, PaymentRequiredError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (504, InternalServerError),
        (418, APIStatusError),
        (451, APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[APIStatusError]) -> None:
    assert status_error_class(status) is cls


def test_parse_error_body_prefers_portkey_shape() -> None:
    body, message, code = parse_error_body(
        b'{"success": false, "data": {"message": "m1", "errorCode": "AB01"},'
        b' "error": {"message": "m2", "code": "c2"}, "message": "m3"}'
    )
    assert (message, code) == ("m1", "AB01")
    assert isinstance(body, dict)


def test_parse_error_body_numeric_code_and_bool_code() -> None:
    assert parse_error_body(b'{"error": {"message": "m", "code": 42}}')[1:] == ("m", "42")
    assert parse_error_body(b'{"error": {"message": "m", "code": true}}')[1:] == ("m", None)


def test_parse_error_body_snippet_is_short_and_single_line() -> None:
    body, message, code = parse_error_body(b"<html>\n" + b"x" * 1000 + b"\n</html>")
    assert message is not None
    assert len(message) <= 200
    assert "\n" not in message
    assert code is None
    assert isinstance(body, str)


def test_parse_error_body_invalid_utf8() -> None:
    _, message, _ = parse_error_body(b"\xff\xfe oops")
    assert message is not None
    assert "oops" in message


def test_parse_error_body_empty() -> None:
    assert parse_error_body(b"") == ("", None, None)


def test_status_error_str() -> None:
    err = PaymentRequiredError(
        "Subscription exhausted", status_code=402, error_code="AB09", request_id="r1"
    )
    assert str(err) == "402 Subscription exhausted (error code AB09, request id r1)"
    assert str(NotFoundError("gone", status_code=404)) == "404 gone"
    assert err.headers == {}


def test_connection_errors_have_defaults() -> None:
    assert APIConnectionError().message == "Connection error."
    assert APITimeoutError().message == "Request timed out."
