"""What goes out and what comes back: :class:`PreparedRequest` and :class:`RawResponse`.

Plain values, apart from the code that sends them (as aiohttp keeps ``client_reqrep`` apart from
its session), so the retry loop, the parsers and the cache can name them without importing the
transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from portkey_vk._error_mapping import request_id_of

if TYPE_CHECKING:
    import aiohttp
    from multidict import CIMultiDictProxy
    from yarl import URL

    from portkey_vk._scrub import Scrubber

__all__ = ["IDEMPOTENT_METHODS", "PreparedRequest", "RawResponse"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods whose request, sent twice, does what it does once: retried on any transient failure."""


class RawResponse:
    """A complete 2xx response: status, headers and the whole body, already read and scrubbed.

    Read-only by convention. A plain slotted class rather than a frozen attrs one: a frozen
    ``__init__`` sets every field through ``object.__setattr__``, and one is built per call.
    """

    __slots__ = ("body", "elapsed", "headers", "method", "status", "url")

    def __init__(  # noqa: PLR0917 - built per call, positionally: keywords cost more
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        url: URL,
        elapsed: float,
        method: str,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.elapsed = elapsed
        self.method = method

    @property
    def request_id(self) -> str | None:
        """Portkey's request id, from ``x-portkey-request-id`` or ``x-portkey-trace-id``."""
        return request_id_of(self.headers)

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, method={self.method!r}, url={str(self.url)!r})"


class PreparedRequest:
    """One operation, validated and encoded: what every attempt of it sends.

    Its ``headers`` carry the API key and its ``body`` may carry a provider key: its repr shows
    neither, so no frame local holding it shows them to an error reporter.
    """

    __slots__ = (
        "body",
        "client_timeout",
        "headers",
        "idempotent",
        "limit",
        "method",
        "scrubber",
        "timeout",
        "url",
    )

    def __init__(  # noqa: PLR0917 - built per call, positionally: keywords cost more
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
        client_timeout: aiohttp.ClientTimeout,
        scrubber: Scrubber,
        limit: int,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.client_timeout = client_timeout
        self.scrubber = scrubber
        # The most bytes of a 2xx answer read (max_response_bytes, or less for this request).
        self.limit = limit
        self.idempotent = method in IDEMPOTENT_METHODS

    def __repr__(self) -> str:
        return f"<PreparedRequest {self.method} {self.url}>"
