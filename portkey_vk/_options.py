"""The request-options value: one operation, described once, handed unchanged down the pipeline.

A resource method builds one :class:`RequestOptions` (what to send, how to parse the answer, how
to page, what a write makes stale) and hands it to ``AsyncAPIResource._request``; the cache keys
its entries by it, the retry loop and the transport send what it says. A new per-call option is a
new field here and the one place below that reads it, nothing in between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

if TYPE_CHECKING:
    from portkey_vk._pagination import Paging
    from portkey_vk._wire import RawResponse

__all__ = ["Path", "Query", "RequestOptions"]

_T = TypeVar("_T")

Path = tuple[str, ...]
"""Path segments below the base URL, not yet encoded: ``("virtual-keys", "prod-openai")``."""

Query = Mapping[str, "str | int | None"]
"""A request's query; ``None`` values are left out."""


@attrs.frozen(repr=False)
class RequestOptions(Generic[_T]):
    """One operation: what goes on the wire, and what its answer becomes.

    Attributes:
        method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
        path: the path segments; each is sent as exactly one percent-encoded segment, so ``a/b``
            or ``..`` reach the server intact.
        parser: the 2xx answer to the call's result (a model, a page, ``None``, or a raw-response
            wrapper); run inside the retry loop's own coroutine.
        query: the query string's values; ``None`` ones are not sent.
        json_body: a JSON-ready value sent as the body; ``None``: no body.
        extra_headers: headers for this call only, over the client's.
        timeout: seconds for each attempt, instead of the client's.
        secrets: values this call carries that are scrubbed like the API key (a provider key).
        invalidates: paths, besides ``path``, whose cached reads a write makes stale (a virtual
            key's write also changes the provider of the same slug).
        max_response_bytes: a size cap for this answer below the client's (a page fetched
            ahead gets a share of the list's memory budget); ``None``: the client's.
        paging: for a list, how it is paged (:class:`portkey_vk._pagination.Paging`): these
            options then describe its first page, and ``parser`` reads one page's items.
    """

    method: str
    path: Path
    parser: Callable[[RawResponse], _T]
    query: Query | None = None
    # The body and the secrets hold provider keys: never in a repr, and so never in the frame
    # locals an error reporter prints.
    json_body: object = None
    extra_headers: Mapping[str, str] | None = None
    timeout: float | None = None
    secrets: tuple[str, ...] = ()
    invalidates: tuple[Path, ...] = ()
    max_response_bytes: int | None = None
    paging: Paging | None = None

    def replace(self, **changes: Any) -> RequestOptions[Any]:
        """A copy with ``changes`` (``attrs.evolve``): the next page's request, another parser."""
        return attrs.evolve(self, **changes)

    def __repr__(self) -> str:
        query = "" if not self.query else f" query={sorted(self.query)}"
        return f"<RequestOptions {self.method} /{'/'.join(self.path)}{query}>"
