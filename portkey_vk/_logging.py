"""The ``portkey_vk`` logger: silent by default, switched on by ``PORTKEY_LOG=info|debug``.

``info`` gives one line per attempt (method, URL, status, attempt, elapsed) and per retry (the
delay); ``debug`` adds the request headers with the API key redacted. The key itself is never
formatted into a record at any level: log lines carry the URL (the key travels in a header) and
headers only after :func:`redacted_headers`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Final

from portkey_vk._config import API_KEY_HEADER, REDACTED

__all__ = ["LOG_ENV", "logger", "redacted_headers", "setup_from_env"]

LOG_ENV: Final = "PORTKEY_LOG"
logger: Final = logging.getLogger("portkey_vk")

_LEVELS: Final = {"info": logging.INFO, "debug": logging.DEBUG}
_FORMAT: Final = "%(asctime)s %(name)s %(levelname)s %(message)s"


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler added for ``PORTKEY_LOG``; its own class so it is added only once."""


def setup_from_env(value: str | None = None) -> None:
    """Apply ``PORTKEY_LOG`` (or ``value``): attach a stderr handler at that level, or stay silent.

    A library must not print unless asked, so without the variable the logger only has a
    ``NullHandler`` and the application's own logging configuration decides.
    """
    if value is None:
        value = os.environ.get(LOG_ENV, "")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    level = _LEVELS.get(value.strip().lower())
    if level is None:
        return
    if not any(isinstance(h, _EnvHandler) for h in logger.handlers):
        handler = _EnvHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(level)


_SECRET_HEADERS: Final = frozenset({API_KEY_HEADER, "authorization", "proxy-authorization"})


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of request ``headers`` that is safe to log: credentials replaced."""
    return {
        name: REDACTED if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }
