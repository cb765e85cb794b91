"""Redirects: which ``Location`` the SDK follows, and with which method.

The API key travels in a custom header that aiohttp would forward to any host, so only the base
URL's origin may ever be redirected to, and a ``Location`` that holds a secret in any encoding is
refused (following it would put the key into a URL, and from there into logs and errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from yarl import URL

from portkey_vk._errors import APIConnectionError, ConnectionFailure

if TYPE_CHECKING:
    from portkey_vk._config import ClientConfig
    from portkey_vk._scrub import Scrubber

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "follow", "refusal"]

MAX_REDIRECTS: Final = 5
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# 307 and 308 keep the method and body by definition; 301/302/303 turn them into a GET, which
# for a write would silently drop it, so those are followed for GET only.
_KEEP_METHOD: Final = frozenset({307, 308})
_REFUSED_HIDDEN: Final = (
    "Refused a redirect whose Location holds the API key (or another secret of this request), "
    "in some encoding: {method} {url}"
)


def follow(
    config: ClientConfig, scrubber: Scrubber, *, method: str, status: int, url: URL, location: str
) -> URL | None:
    """Return the URL to follow, ``None`` when this method does not follow this status.

    Raises:
        APIConnectionError: the target is refused (another origin, a secret in it, invalid).
    """
    if method != "GET" and status not in _KEEP_METHOD:
        return None
    if scrubber.found_in(location):
        raise refusal(_REFUSED_HIDDEN.format(method=method, url=url), method, url)
    try:
        target = url.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise refusal(f"Invalid redirect Location from {method} {url}", method, url) from exc
    # yarl decodes what it parses; the decoded parts must be as clean as the raw header.
    decoded = (
        f"{target.path}?{target.query_string}#{target.fragment}"
        f"{target.user}:{target.password}@{target.host}"
    )
    if scrubber.found_in(decoded) or scrubber.found_in(str(target)):
        raise refusal(_REFUSED_HIDDEN.format(method=method, url=url), method, url)
    if (target.scheme, target.host or "", target.port) != config.origin:
        raise refusal(
            f"Refused to follow a redirect from {url} to another origin "
            f"({target.scheme}://{target.host}:{target.port}): the API key is only sent "
            f"to {config.base_url.origin()}",
            method,
            url,
        )
    return target


def refusal(message: str, method: str, url: URL) -> APIConnectionError:
    """An error for a refused redirect: never retried, since it would be refused again."""
    return APIConnectionError(
        message, method=method, url=str(url), failure=ConnectionFailure.REDIRECT_REFUSED
    )
