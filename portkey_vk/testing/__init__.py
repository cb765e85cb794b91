"""``FakePortkey``: a real, local control plane to test code that uses Portkey's admin API.

::

    from portkey_vk import Portkey
    from portkey_vk.testing import FakePortkey

    with FakePortkey() as fake:
        fake.add_virtual_key(slug="openai-prod", name="OpenAI prod")
        with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            assert client.virtual_keys.retrieve(slug="openai-prod").name == "OpenAI prod"

It is an aiohttp server on ``127.0.0.1`` and a free port: the SDK under test speaks real HTTP to
it, so tests exercise the same code paths as production. ``with FakePortkey()`` runs it on a
thread of its own; ``async with FakePortkey()`` runs it on the current event loop.

It serves, below its base path, ``/virtual-keys`` (list, create, retrieve, update, delete),
``/providers`` (the same) and ``/integrations`` (list and retrieve), with the shapes, envelopes
and oddities of Portkey's OpenAPI description; ``docs/testing.md`` gives every rule.

The package, built like moto's (a core, then one module per service):

- ``_core.py``: the server core: lifecycle (``with``/``async with``/``start``), threads,
  recording (:class:`RecordedRequest`), fault scripting (``fail_next``, ``delay_next``) and
  the route table, which knows no resource.
- ``_validation.py``: what the fake checks of a request and of a test's input, and how it
  masks and redacts secrets.
- ``virtual_keys.py``, ``providers.py``, ``integrations.py``: one handler module per resource,
  each a mixin of the core with its seed methods (``add_virtual_key``...), its handlers and a
  ``ROUTES`` declaration.
- ``_fake.py``: :class:`FakePortkey`, the core plus every resource's mixin.

Limits shared with the SDK (the page-size ceiling, each list's default page size) are defined
once, in ``portkey_vk._types``.

Adding a resource (say ``/api-keys``) is one module and one registration line:

1. ``portkey_vk/testing/api_keys.py`` (imports as in ``integrations.py``: ``Call``, ``Entry``,
   ``FakeCore``, ``Routes`` from ``_core``; the checks from ``_validation``)::

       API_KEYS: Final = "api-keys"

       class ApiKeys(FakeCore):
           def add_api_key(self, slug: str, **fields: Any) -> dict[str, Any]:
               check_slug(slug)
               data = {"id": str(uuid.uuid4()), "slug": slug, **json_fields(fields)}
               with self._lock:
                   self._store(self._tables[API_KEYS], slug, Entry(data, 0))
               return json_fields(data)

           def _list_api_keys(self, call: Call) -> dict[str, Any]:
               items = [entry.data for entry in self._tables[API_KEYS].values()]
               return page_of(items, call.query, default_size=API_KEYS_PAGE_SIZE)

           def _get_api_key(self, call: Call) -> dict[str, Any]:
               entry = self._tables[API_KEYS].get(call.slug)
               if entry is None:
                   raise Refusal(404, f"API key {call.slug!r} not found")
               return entry.data

           ROUTES: ClassVar[Routes | None] = Routes(
               API_KEYS, "api keys",
               collection={"GET": _list_api_keys},
               item={"GET": _get_api_key},
           )

   Handlers take a :class:`~portkey_vk.testing._core.Call` (decoded slug, query, JSON body),
   run under the fake's lock, return the JSON to serve and raise ``Refusal(status, message)``
   for an error; the helpers of ``_validation.py`` check bodies and parameters. The core
   gives the resource its table (``self._tables[API_KEYS]``), clears it on ``reset`` and
   counts it in ``repr``. A shared constant (a default page size) goes in ``portkey_vk._types``.
2. In ``_fake.py``, the registration line: add ``ApiKeys`` to ``FakePortkey``'s bases (and
   its import).
"""

from __future__ import annotations

from portkey_vk._types import MAX_PAGE_SIZE
from portkey_vk.testing._core import DEFAULT_FAKE_API_KEY, RecordedRequest
from portkey_vk.testing._fake import FakePortkey

__all__ = ["DEFAULT_FAKE_API_KEY", "MAX_PAGE_SIZE", "FakePortkey", "RecordedRequest"]
