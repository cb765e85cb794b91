"""What the fake checks of a request, and how it masks and redacts secrets.

Every refusal is a :class:`Refusal` (status and message) that the server core answers in
Portkey's ``{"success": false, "data": {"message": ...}}`` shape; every check of a test's own
input (a seed method's slug, ``fail_next``'s headers...) is a ``ValueError`` raised at the test's
call. Handler modules build on these; nothing here knows a route or a stored resource.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, Final

from multidict import MultiDictProxy

from portkey_vk import APIResponseValidationError, VirtualKey
from portkey_vk._scrub import REDACTED
from portkey_vk._types import MAX_PAGE_SIZE

__all__ = [
    "HTTP_TOKEN",
    "NOT_JSON",
    "Refusal",
    "apply_limits",
    "check_bool",
    "check_slug",
    "check_times",
    "check_virtual_key",
    "checked_headers",
    "decode_json",
    "deployments_of",
    "given_string",
    "int_param",
    "is_credential_header",
    "is_int",
    "is_sensitive",
    "json_copy",
    "json_fields",
    "mask",
    "mask_any",
    "masked_configurations",
    "object_body",
    "object_or_null",
    "one_param",
    "optional_string",
    "page_of",
    "rate_limits_of",
    "redacted",
    "required_string",
    "secret_mappings_of",
    "timestamp_field",
    "utc_now",
    "visible",
    "workspace_field",
    "workspace_param",
]

#: A body that is present but is not JSON, told apart from an absent body (None).
NOT_JSON: Final = object()

# Headers whose values are credentials, hidden from RecordedRequest's repr besides any header the
# name rule below calls sensitive (which covers x-portkey-api-key).
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


# The server computes these from the body; a scripted value that disagrees hangs the client.
_SERVER_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})


HTTP_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


_HEADER_VALUE: Final = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")


_DIGITS: Final = re.compile(r"[0-9]{1,18}")


_ISO_TIMESTAMP: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)


class Refusal(Exception):
    """Ends a route handler with an error response in Portkey's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the request as a whole --------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        # NaN and Infinity are Python's extension, not JSON: a client that sends them has a bug
        # the live API would refuse too.
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return NOT_JSON


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def page_of(items: list[Any], query: MultiDictProxy[str], *, default_size: int) -> dict[str, Any]:
    page = int_param(query, "current_page", default=0, minimum=0)
    size = int_param(query, "page_size", default=default_size, minimum=1)
    if size > MAX_PAGE_SIZE:
        raise Refusal(400, f"page_size must be at most {MAX_PAGE_SIZE}, not {size}")
    start = page * size
    return {"object": "list", "total": len(items), "data": items[start : start + size]}


def one_param(query: MultiDictProxy[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise Refusal(400, f"{name} is given more than once")
    return values[0] if values else None


def int_param(query: MultiDictProxy[str], name: str, *, default: int, minimum: int) -> int:
    text = one_param(query, name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or int(text) < minimum:
        raise Refusal(400, f"{name} must be an integer >= {minimum}, not {text!r}")
    return int(text)


def workspace_param(query: MultiDictProxy[str]) -> str | None:
    # An empty workspace_id means none, as the official SDKs drop "" before sending.
    return one_param(query, "workspace_id") or None


def visible(data: Mapping[str, Any], workspace: str | None) -> bool:
    """Whether a key or provider is in scope: no workspace asked, or exactly its workspace."""
    return workspace is None or data.get("workspace_id") == workspace


# -- request body validation ---------------------------------------------------------------------


def object_body(body: Any) -> dict[str, Any]:
    if body is NOT_JSON:
        raise Refusal(400, "The request body is not valid JSON")
    if not isinstance(body, dict):
        raise Refusal(400, "The request body must be a JSON object")
    return body


def optional_string(body: Mapping[str, Any], field: str) -> str | None:
    """An optional string field; absent or null is ``None``."""
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise Refusal(400, f"{field} must be a string")
    return value


def required_string(body: Mapping[str, Any], field: str) -> str:
    """A string field that must be present, not null and not blank."""
    value = optional_string(body, field)
    if value is None:
        raise Refusal(400, f"{field} is required")
    if not value.strip():
        raise Refusal(400, f"{field} must not be empty")
    return value


def given_string(body: Mapping[str, Any], field: str) -> str | None:
    """An optional field that, when given (not null), must be a non-blank string."""
    return None if body.get(field) is None else required_string(body, field)


def object_or_null(body: Mapping[str, Any], field: str) -> dict[str, Any] | None:
    value = body.get(field)
    if value is not None and not isinstance(value, dict):
        raise Refusal(400, f"{field} must be an object or null")
    return value


def rate_limits_of(value: Any) -> list[Any]:
    # Requests send one object (the spec) or a list (the official update sample); the resource
    # always holds a list, and null clears it.
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise Refusal(400, "rate_limits must be an object, a list of objects or null")


def timestamp_field(body: Mapping[str, Any], field: str) -> str | None:
    value = optional_string(body, field)
    if value is not None and not _is_timestamp(value):
        raise Refusal(400, f"{field} must be an ISO 8601 date-time, not {value!r}")
    return value


def _is_timestamp(text: str) -> bool:
    match = _ISO_TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    day, clock, fraction, zone = match.groups()
    # Normalised so Python 3.10's fromisoformat, which reads neither "Z" nor every fraction
    # length, judges only whether the date and time exist.
    normal = day
    if clock:
        normal += "T" + clock + ("." + (fraction + "000000")[:6] if fraction else "")
        normal += "+00:00" if zone == "Z" else zone or ""
    try:
        datetime.fromisoformat(normal)
    except ValueError:
        return False
    return True


def workspace_field(body: Mapping[str, Any]) -> str | None:
    value = body.get("workspace_id")
    if value is not None and not isinstance(value, str):
        raise Refusal(400, "workspace_id must be a string")
    return value or None


def secret_mappings_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = body.get("secret_mappings")
    if value is None:
        return []
    if not isinstance(value, list):
        raise Refusal(400, "secret_mappings must be a list")
    seen: set[str] = set()
    for mapping in value:
        if not isinstance(mapping, dict):
            raise Refusal(400, "each secret_mappings entry must be an object")
        target = mapping.get("target_field")
        if not isinstance(target, str) or not (
            target == "key" or (target.startswith("model_config.") and len(target) > 13)
        ):
            raise Refusal(
                400, "secret_mappings target_field must be 'key' or 'model_config.<field>'"
            )
        if target in seen:
            raise Refusal(400, f"secret_mappings target_field {target!r} is given twice")
        seen.add(target)
        reference = mapping.get("secret_reference_id")
        if not isinstance(reference, str) or not reference:
            raise Refusal(400, "secret_mappings secret_reference_id must be a non-empty string")
        if mapping.get("secret_key") is not None and not isinstance(mapping["secret_key"], str):
            raise Refusal(400, "secret_mappings secret_key must be a string or null")
        if mapping.get("value_format") not in (None, "json", "string"):
            raise Refusal(400, "secret_mappings value_format must be 'json', 'string' or null")
    return value


def deployments_of(body: Mapping[str, Any]) -> list[Any] | None:
    value = body.get("deploymentConfig")
    if value is None:
        return None
    if not isinstance(value, list):
        raise Refusal(400, "deploymentConfig must be a list")
    for item in value:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(field), str) for field in ("apiVersion", "deploymentName")
        ):
            raise Refusal(
                400, "each deploymentConfig entry needs apiVersion and deploymentName strings"
            )
        if item.get("alias") is not None and not isinstance(item["alias"], str):
            raise Refusal(400, "deploymentConfig alias must be a string")
        if "is_default" in item and not isinstance(item["is_default"], bool):
            raise Refusal(400, "deploymentConfig is_default must be a boolean")
    return value


def apply_limits(data: dict[str, Any], body: Mapping[str, Any]) -> None:
    """The fields PUT shares on keys and providers; null clears each."""
    if "usage_limits" in body:
        data["usage_limits"] = object_or_null(body, "usage_limits")
    if "rate_limits" in body:
        data["rate_limits"] = rate_limits_of(body["rate_limits"])
    if "expires_at" in body:
        data["expires_at"] = timestamp_field(body, "expires_at")


def check_virtual_key(data: Mapping[str, Any]) -> None:
    # The SDK's own model is the judge of what a stored key may hold, so the fake never stores
    # a key its clients cannot read (usage_limits.credit_limit "ten", say).
    try:
        VirtualKey.from_dict(data)
    except APIResponseValidationError as exc:
        raise Refusal(400, str(exc)) from exc


# -- a test's own input, and values -------------------------------------------------------------


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_slug(slug: object) -> None:
    if not isinstance(slug, str) or not slug:
        raise ValueError(f"slug must be a non-empty str, not {slug!r}")


def check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        # ValueError like every other refusal of the kit's input, as the SDK's own checks do.
        raise ValueError(f"{name} must be a bool, not {value!r}")  # noqa: TRY004


def check_times(times: object) -> None:
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"times must be an int >= 1, not {times!r}")


def checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    # aiohttp writes whatever it is given: a CR/LF drops the connection and a wrong
    # Content-Length hangs the client, neither of which is a status a test meant to script.
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not HTTP_TOKEN.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if name.lower() in _SERVER_HEADERS:
            raise ValueError(f"header {name!r} is set by the server from the body")
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name!r} must be a str without control characters")
        checked[name] = value
    return checked


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def json_copy(value: Any) -> Any:
    # A round trip proves the value serialisable (TypeError otherwise; ValueError for NaN and
    # infinities, which are not JSON) and makes the stored copy independent of the caller's
    # mutable objects.
    return json.loads(json.dumps(value, allow_nan=False))


def json_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json_copy({name: _jsonable(value) for name, value in fields.items()})
    return copied


# -- masking and redaction ----------------------------------------------------------------------


def is_sensitive(name: str) -> bool:
    """Whether a field's name says it holds a credential (key, secret, password, token, ...)."""
    folded = name.lower().replace("_", "").replace("-", "")
    return folded.endswith(("key", "token")) or any(
        word in folded for word in ("secret", "password", "credential", "serviceaccount")
    )


def is_credential_header(name: str) -> bool:
    return name.lower() in _CREDENTIAL_HEADERS or is_sensitive(name)


def mask(secret: str) -> str:
    """``sk-****abcd``: three leading and four trailing characters of a long secret, or none."""
    if len(secret) < 12:
        return "****"
    return f"{secret[:3]}****{secret[-4:]}"


def mask_any(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else "****"


def masked_configurations(configurations: Mapping[str, Any]) -> dict[str, Any]:
    # Portkey's rule: a sensitive field is served as masked_<name>; IDs, URLs, regions unchanged.
    masked: dict[str, Any] = {}
    for name, value in configurations.items():
        if is_sensitive(name) and not name.startswith("masked_"):
            masked[f"masked_{name}"] = mask_any(value)
        else:
            masked[name] = value
    return masked


def redacted(value: Any) -> Any:
    """A JSON value with credentials replaced by ``[REDACTED]``, for ``repr``."""
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for name, item in value.items():
            if name == "secret_mappings" and isinstance(item, list):
                shown[name] = [_redacted_mapping(mapping) for mapping in item]
            elif isinstance(name, str) and is_sensitive(name):
                shown[name] = REDACTED
            else:
                shown[name] = redacted(item)
        return shown
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def _redacted_mapping(mapping: Any) -> Any:
    # Only which field is mapped and how is shown; where the secret lives is hidden.
    if not isinstance(mapping, dict):
        return REDACTED
    return {
        name: (item if name in ("target_field", "value_format") else REDACTED)
        for name, item in mapping.items()
    }
