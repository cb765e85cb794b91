"""The retry delay: exponential backoff with jitter, and the server's Retry-After."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from portkey_vk._transport import retry_delay


@pytest.mark.parametrize(
    ("attempt", "nominal"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]
)
def test_backoff_doubles_to_a_cap_with_jitter(attempt: int, nominal: float) -> None:
    delays = {retry_delay(attempt, None) for _ in range(200)}
    assert all(0.75 * nominal <= d <= nominal for d in delays)
    assert len(delays) > 1, "jitter"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "60"}, 60.0),
    ],
)
def test_retry_after_is_exact(headers: dict[str, str], expected: float) -> None:
    assert retry_delay(0, headers) == expected


def test_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=10)
    delay = retry_delay(0, {"retry-after": format_datetime(when, usegmt=True)})
    assert 8.0 <= delay <= 10.0


def test_retry_after_date_in_the_past_means_now() -> None:
    when = datetime.now(timezone.utc) - timedelta(seconds=100)
    assert retry_delay(0, {"retry-after": format_datetime(when, usegmt=True)}) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "soon"},
        {"retry-after": "-5"},
        {"retry-after": "61"},
        {"retry-after": "100000"},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "abc"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "120000"},
        {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"},
        {},
    ],
)
def test_unusable_retry_after_falls_back_to_backoff(headers: dict[str, str]) -> None:
    delay = retry_delay(1, headers)
    assert 0.75 <= delay <= 1.0


def test_retry_after_date_without_zone_is_utc() -> None:
    # RFC 5322's "-0000" means "UTC, origin unknown"; email.utils returns it naive.
    assert retry_delay(0, {"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}) == 0.0
