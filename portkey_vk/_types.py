"""Values shared by every floor: ``NOT_GIVEN`` and the limits the SDK and its fake both obey.

``NOT_GIVEN`` is the sentinel that tells an omitted argument from an explicit ``None``.

In a write, an omitted field is not sent at all while ``None`` is sent as JSON ``null`` (which
clears the field on the server). ``None`` cannot mean both, so omitted arguments default to
:data:`NOT_GIVEN`, as in openai-python.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "INTEGRATIONS_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "NOT_GIVEN",
    "PROVIDERS_PAGE_SIZE",
    "VIRTUAL_KEYS_PAGE_SIZE",
    "NotGiven",
]

#: The largest ``page_size`` a list accepts: the SDK refuses more before sending, and the fake
#: (``portkey_vk.testing``) answers more with 400, as Portkey does.
MAX_PAGE_SIZE: Final = 1000
#: Portkey's page size when a list of virtual keys asks for none.
VIRTUAL_KEYS_PAGE_SIZE: Final = 50
#: Portkey's page size when a list of providers asks for none.
PROVIDERS_PAGE_SIZE: Final = 50
#: Portkey's page size when a list of integrations asks for none.
INTEGRATIONS_PAGE_SIZE: Final = 100


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
