"""Client settings: one frozen value object, resolved from arguments and the environment once.

Everything a request needs that does not change between calls (the base URL split into its
parts, the final header set, the aiohttp timeout object) is computed here, at construction,
so the hot path only looks values up.
"""

from __future__ import annotations

import ipaddress
import math
import os
import platform
import re
import ssl as _ssl
import sys
import warnings
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from portkey_vk._errors import PortkeyError
from portkey_vk._scrub import REDACTED, Scrubber, redact
from portkey_vk._types import NOT_GIVEN, NotGiven
from portkey_vk._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "REDACTED",
    "ClientConfig",
    "InsecureTransportWarning",
    "encode_path_segment",
    "redact",
    "validate_timeout",
]

DEFAULT_BASE_URL: Final = "https://api.portkey.ai/v1"
DEFAULT_TIMEOUT: Final = 60.0
DEFAULT_MAX_RETRIES: Final = 2
API_KEY_ENV: Final = "PORTKEY_API_KEY"
BASE_URL_ENV: Final = "PORTKEY_BASE_URL"
API_KEY_HEADER: Final = "x-portkey-api-key"
# Generous for any real answer (a virtual key is ~1 KB, a page of 100 of them ~100 KB); what
# it stops is a hostile or broken server streaming without end.
DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024

USER_AGENT: Final = (
    f"portkey-vk/{__version__} python/{platform.python_version_tuple()[0]}."
    f"{platform.python_version_tuple()[1]} aiohttp/{'.'.join(aiohttp.__version__.split('.')[:2])}"
)

SSLOption = _ssl.SSLContext | bool | None


# RFC 9110 section 5.6.2: a field name is a token. aiohttp sends any name it is given and only
# refuses CR, LF and NUL, when the request is already being written.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What a field value may not hold: C0 controls but HTAB, DEL, C1 controls (RFC 9110 section
# 5.5), and lone surrogates, which have no UTF-8 form for aiohttp to write.
_BAD_VALUE_CHAR: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
# An API key is printable ASCII without spaces: anything else is a copy-paste accident (a
# newline, a no-break or zero-width space, a curly quote) that the server would refuse anyway.
_BAD_KEY_CHAR: Final = re.compile("[^\x21-\x7e]")
# C0, DEL, C1 and lone surrogates: a URL holding one is a mistake, and yarl may drop it silently.
_BAD_URL_CHAR: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A DNS name as a resolver will take it: labels of letters, digits, "-" and "_" (Docker and
# Kubernetes service names), 1-63 characters, 253 in all; IDNA names arrive here as xn-- labels.
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_MAX_SHOWN: Final = 40


_CONTROL_CHAR: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_chars(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control character or DEL.

    The one rule for the names that travel in a URL: slugs and workspace ids.
    """
    return _CONTROL_CHAR.search(text) is not None


def _describe_char(ch: str) -> str:
    code = ord(ch)
    if ch in "\r\n":
        kind = "a line break"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "a control character"
    elif 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate"
    elif ch.isspace():
        kind = "a space"
    else:
        kind = "a non-ASCII character"
    return f"{kind} (U+{code:04X})"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.split("."))


def _shown(text: str) -> str:
    """``repr`` of caller input for an error message, cut to a bounded length."""
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...")


def _reject_control_chars(value: str, what: str) -> None:
    bad = _BAD_URL_CHAR.search(value)
    if bad is not None:
        raise PortkeyError(
            f"{what} must not contain control characters; it has {_describe_char(bad.group())}"
        )


def validate_timeout(timeout: object, what: str = "timeout") -> float:
    """Return ``timeout`` as a positive, finite float, or raise ``ValueError``/``TypeError``.

    An int too large for a float (``10**400``) is a ``ValueError`` too, not an ``OverflowError``.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(timeout).__name__}")
    try:
        seconds = float(timeout)
    except OverflowError:
        raise ValueError(f"{what} is too large: {_shown(str(timeout))} seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive, finite number of seconds, got {timeout!r}")
    return seconds


def _validate_max_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int, got {type(max_retries).__name__}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    return max_retries


def validate_headers(headers: Mapping[str, str] | None, what: str) -> dict[str, str]:
    """Return a plain dict copy of ``headers``, refusing what HTTP cannot carry.

    A name must be an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``). A value may hold
    any character but control characters (C0 other than tab, DEL, C1) and lone surrogates;
    characters beyond ASCII are sent as UTF-8, as aiohttp writes them. Values are never quoted
    in the error, since they may be credentials.

    The API key header is refused too: a key smuggled in as a header would escape the scrubbing
    and origin checks that guard the client's own ``api_key``.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"{what} must be a mapping of str to str, got {type(headers).__name__}")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                f"{what} must map str to str, got {type(name).__name__}: {type(value).__name__}"
            )
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(
                f"{what} has an invalid header name {_shown(name)}: a name is letters, digits "
                "and !#$%&'*+-.^_`|~ only"
            )
        bad = _BAD_VALUE_CHAR.search(value)
        if bad is not None:
            raise ValueError(
                f"{what} header {name!r} has {_describe_char(bad.group())} in its value"
            )
        if name.lower() == API_KEY_HEADER:
            raise PortkeyError(f"Pass the API key as api_key, not as a {API_KEY_HEADER} header")
        out[name] = value
    return out


def _resolve_api_key(api_key: str | None) -> str:
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV)
    if api_key is not None and not isinstance(api_key, str):
        raise PortkeyError(f"api_key must be a str, got {type(api_key).__name__}")
    if not api_key or not api_key.strip():
        raise PortkeyError(
            f"No Portkey API key: pass api_key=... or set the {API_KEY_ENV} environment variable."
        )
    api_key = api_key.strip()
    bad = _BAD_KEY_CHAR.search(api_key)
    if bad is not None:
        # Error reporters (Sentry) send every frame's locals: this frame's would be the key,
        # read from the environment where no caller's frame holds it.
        api_key = ""
        # Never echo the key itself, even in this message: only the kind of the character that
        # cannot belong to any key, and its code point.
        raise PortkeyError(
            f"The Portkey API key contains {_describe_char(bad.group())}; a key is printable "
            "ASCII without spaces (check for a stray line break or a pasted quote)."
        )
    return api_key


class InsecureTransportWarning(UserWarning):
    """The API key is about to be sent in cleartext: ``http://`` to a host that is not loopback.

    Issued once per client, when it is built (``with_options`` copies share the first one's
    warning). Plain http is allowed, as an in-cluster control plane may use it; silence the
    warning where the network is trusted, or make it an error where it never is::

        warnings.filterwarnings("ignore", category=portkey_vk.InsecureTransportWarning)
        warnings.filterwarnings("error", category=portkey_vk.InsecureTransportWarning)
    """


def _is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 (Python 3.13 says so by itself)
    return address.is_loopback


def _user_stacklevel() -> int:
    """``warnings.warn``'s stacklevel for the innermost frame outside portkey_vk, for its caller.

    The same warning is reached through ``AsyncPortkey`` or the sync ``Portkey`` at different
    depths; either way it names the user's line (``skip_file_prefixes`` needs Python 3.12).
    """
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "portkey_vk" or name.startswith("portkey_vk.")):
            break
        frame = frame.f_back
        level += 1
    return level


def _warn_if_cleartext(url: URL) -> None:
    if url.scheme == "http" and not _is_loopback(url.raw_host or ""):
        warnings.warn(
            f"base_url {url.scheme}://{url.host} is plain http to a host that is not loopback: "
            "the Portkey API key is sent in cleartext with every request. Use https://, or "
            "filter InsecureTransportWarning where the network is trusted.",
            InsecureTransportWarning,
            stacklevel=_user_stacklevel(),
        )


def _resolve_base_url(base_url: str | None) -> URL:
    raw = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if not isinstance(raw, str):
        raise PortkeyError(f"base_url must be a str, got {type(raw).__name__}")
    raw = raw.strip()
    _reject_control_chars(raw, "base_url")
    try:
        url = URL(raw)
    except (ValueError, TypeError) as exc:
        raise PortkeyError(f"base_url is not a valid URL: {raw!r}") from exc
    if url.scheme not in ("http", "https"):
        raise PortkeyError(
            f"base_url must be an http:// or https:// URL, got {raw!r} "
            f"(set it with base_url=... or {BASE_URL_ENV})"
        )
    if not url.host:
        raise PortkeyError(f"base_url has no host: {raw!r}")
    # Found here rather than by the resolver, after every retry, as a connection error.
    if not _valid_host(url.raw_host or ""):
        raise PortkeyError(f"base_url has an invalid host name: {_shown(url.host)}")
    if url.explicit_port == 0:
        raise PortkeyError("base_url has port 0, which nothing can listen on")
    if url.user or url.password:
        raise PortkeyError("base_url must not carry credentials; pass the API key as api_key")
    if url.query_string or url.fragment:
        raise PortkeyError(f"base_url must not have a query or fragment: {raw!r}")
    # A trailing slash must not matter: "…/v1" and "…/v1/" address the same API root.
    return url.with_path(url.raw_path.rstrip("/"), encoded=True)


def encode_path_segment(value: str) -> str:
    r"""Percent-encode ``value`` as exactly one path segment.

    Everything outside RFC 3986's unreserved set is encoded (``/``, ``?``, ``#``, ``%``, ``\\``,
    spaces, non-ASCII), and a segment of only dots is encoded too so that no server or proxy
    normalises ``.``/``..`` away.
    """
    try:
        encoded = quote(value, safe="")
    except UnicodeEncodeError:
        # A lone surrogate (e.g. from a mis-decoded file name) has no UTF-8 form to send.
        raise ValueError(f"{value!r} holds a lone surrogate and cannot be sent in a URL") from None
    if encoded.strip(".") == "":
        encoded = encoded.replace(".", "%2E")
    return encoded


def _validate_max_response_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_response_bytes must be an int, got {type(value).__name__}")
    if value < 1024:
        raise ValueError(f"max_response_bytes must be at least 1024, got {value}")
    return value


def validate_workspace_id(value: object, what: str = "workspace_id") -> str | None:
    """Return a workspace id (a non-empty str without control characters) or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, got {type(value).__name__}")
    if not value or has_control_chars(value):
        raise ValueError(f"{what} must be a non-empty string without control characters")
    return value


@attrs.frozen(repr=False)
class ClientConfig:
    """Resolved client settings; built by :meth:`create`, copied by :meth:`replace`.

    ``api_key`` is kept out of ``repr`` and of ``headers`` equality noise; it lives in
    ``headers`` because every request sends it.
    """

    api_key: str = attrs.field(repr=False)
    base_url: URL
    timeout: float
    max_retries: int
    default_headers: Mapping[str, str]
    ssl: _ssl.SSLContext | bool = attrs.field(default=True, repr=False)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    workspace_id: str | None = None
    # Derived, so the hot path only reads attributes.
    headers: Mapping[str, str] = attrs.field(init=False, repr=False)
    # The key as the bytes a body would echo it in, for scrubbing 2xx answers without encoding
    # it on every call.
    client_timeout: aiohttp.ClientTimeout = attrs.field(init=False, repr=False)
    base_str: str = attrs.field(init=False, repr=False)
    origin: tuple[str, str, int | None] = attrs.field(init=False, repr=False)
    # Everything the SDK hands back is scrubbed of the key with this (portkey_vk._scrub).
    scrubber: Scrubber = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # A read-only CIMultiDict, not a dict: aiohttp converts any other mapping into one on
        # every request. Assigned one by one so that a default header differing from ours only
        # in case replaces it, as aiohttp resolved such a dict (and a later merge still can).
        merged: CIMultiDict[str] = CIMultiDict()
        for name, value in (
            ("Accept", "application/json"),
            ("User-Agent", USER_AGENT),
            *self.default_headers.items(),
            (API_KEY_HEADER, self.api_key),
        ):
            merged[name] = value
        headers = CIMultiDictProxy(merged)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "client_timeout", aiohttp.ClientTimeout(total=self.timeout))
        object.__setattr__(self, "base_str", str(self.base_url))
        origin = (self.base_url.scheme, self.base_url.host or "", self.base_url.port)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "scrubber", Scrubber([self.api_key]))

    @classmethod
    def create(
        cls,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        ssl: SSLOption = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        workspace_id: str | None = None,
    ) -> ClientConfig:
        """Validate arguments, fill gaps from the environment, and build the config."""
        headers = validate_headers(default_headers, "default_headers")
        if ssl is not None and not isinstance(ssl, bool | _ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, False or None, got {ssl!r}")
        if ssl is None:
            ssl = True
        config = cls(
            api_key=_resolve_api_key(api_key),
            base_url=_resolve_base_url(base_url),
            timeout=validate_timeout(timeout),
            max_retries=_validate_max_retries(max_retries),
            default_headers=headers,
            ssl=ssl,
            max_response_bytes=_validate_max_response_bytes(max_response_bytes),
            workspace_id=validate_workspace_id(workspace_id),
        )
        # Once the whole config is valid; replace() (with_options) does not warn again.
        _warn_if_cleartext(config.base_url)
        return config

    def replace(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        max_response_bytes: int | None = None,
        workspace_id: str | NotGiven | None = NOT_GIVEN,
    ) -> ClientConfig:
        """Return a copy with the given settings changed (``None`` keeps the current one).

        ``default_headers`` are merged over the current ones, as httpx and openai do.
        ``workspace_id`` is replaced when given, ``None`` included (no default workspace).
        """
        headers = dict(self.default_headers)
        if default_headers is not None:
            extra = validate_headers(default_headers, "default_headers")
            headers.update(extra)
        return ClientConfig(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout if timeout is None else validate_timeout(timeout),
            max_retries=(
                self.max_retries if max_retries is None else _validate_max_retries(max_retries)
            ),
            default_headers=headers,
            ssl=self.ssl,
            max_response_bytes=(
                self.max_response_bytes
                if max_response_bytes is None
                else _validate_max_response_bytes(max_response_bytes)
            ),
            workspace_id=(
                self.workspace_id
                if isinstance(workspace_id, NotGiven)
                else validate_workspace_id(workspace_id)
            ),
        )

    def url_for(self, *segments: str) -> URL:
        """Build the request URL for already-encoded path ``segments`` under the base URL."""
        return URL(self.base_str + "/" + "/".join(segments), encoded=True)

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_str!r}, timeout={self.timeout}, "
            f"max_retries={self.max_retries})"
        )
