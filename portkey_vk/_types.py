"""``NOT_GIVEN``: the sentinel that tells an omitted argument from an explicit ``None``.

In a write, an omitted field is not sent at all while ``None`` is sent as JSON ``null`` (which
clears the field on the server). ``None`` cannot mean both, so omitted arguments default to
:data:`NOT_GIVEN`, as in openai-python.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["MAX_PAGE_SIZE", "NOT_GIVEN", "NotGiven"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`; falsy, and shown as ``NOT_GIVEN``.

    ::

        await client.virtual_keys.update("prod", note=None)  # clears the note
        await client.virtual_keys.update("prod", name="x")   # leaves the note alone
    """

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        # One instance, so `is NOT_GIVEN` is the test everywhere (also after copy/pickle).
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""Default of every optional write argument: "leave this field out of the request"."""


MAX_PAGE_SIZE: Final = 1000
"""The API's ceiling on ``page_size``: the most items one page may hold (SDK and fake alike)."""
