"""``portkey-vk demo``: the SDK against the bundled fake control plane, offline."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final, TextIO

from portkey_vk._client import AsyncPortkey
from portkey_vk._models import VirtualKey
from portkey_vk._sync import Portkey
from portkey_vk.cli._common import EXIT_API_ERROR, EXIT_OK, Run, printable
from portkey_vk.cli._virtual_keys import summary

__all__ = ["register"]

_DEMO_SLUG: Final = "demo-openai-key"


def register(commands: Any, epilog: str) -> None:
    """Add ``demo`` to the ``portkey-vk`` commands."""
    demo = commands.add_parser(
        "demo",
        help="offline demo against the bundled fake control plane",
        description="Start the bundled FakePortkey on 127.0.0.1, store a sample key, and read "
        "it with both AsyncPortkey and Portkey. Needs no network and no API key.",
        allow_abbrev=False,
    )
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace, run: Run) -> int:
    from portkey_vk.testing import FakePortkey  # noqa: PLC0415 - only the demo needs a server

    out = run.out
    with FakePortkey() as fake:
        fake.add_virtual_key(
            _DEMO_SLUG,
            name="Demo OpenAI key",
            note="served by portkey_vk.testing.FakePortkey",
            usage_limits={"credit_limit": 100, "type": "cost", "periodic_reset": "monthly"},
            rate_limits=[{"type": "requests", "unit": "rpm", "value": 600}],
        )
        out.write(f"FakePortkey serving at {fake.base_url}\n\n")

        async def read_async() -> VirtualKey:
            async with AsyncPortkey(api_key=fake.api_key, base_url=fake.base_url) as client:
                return await client.virtual_keys.retrieve(_DEMO_SLUG)

        from_async = asyncio.run(read_async())
        out.write("AsyncPortkey: await client.virtual_keys.retrieve(...)\n")
        out.write(summary(from_async, out) + "\n\n")

        with Portkey(api_key=fake.api_key, base_url=fake.base_url) as client:
            from_sync = client.virtual_keys.retrieve(_DEMO_SLUG)
            out.write("Portkey: client.virtual_keys.retrieve(...)\n")
            out.write(summary(from_sync, out) + "\n\n")
            same = "the same" if from_async == from_sync else "DIFFERENT"
            out.write(f"Both clients read {same} key.\n\n")
            _demo_tour(client, out)
    return EXIT_OK if from_async == from_sync else EXIT_API_ERROR


def _demo_tour(client: Portkey, out: TextIO) -> None:
    """The rest of the SDK, briefly: writes, paging, the migration check and the cache."""
    from portkey_vk._cache import Cache  # noqa: PLC0415 - only the demo needs them here
    from portkey_vk.migration import check_migration_sync  # noqa: PLC0415

    ref = client.virtual_keys.create(
        name="Demo Anthropic key", provider="anthropic", key="sk-ant-demo-0123456789abcdef"
    )
    slug = printable(ref.slug or "")
    out.write(f"virtual_keys.create(...) -> {slug} (its provider key is shown nowhere)\n")
    client.virtual_keys.update(ref.slug or "", note="rotated by the demo")
    out.write(f"virtual_keys.update({slug!r}, note=...) -> None\n")
    slugs = [printable(vk.slug or "") for vk in client.virtual_keys.list(page_size=1)]
    out.write(f"virtual_keys.list(page_size=1): {len(slugs)} keys, paged: {', '.join(slugs)}\n")
    out.write(f"migration check: {printable(check_migration_sync(client).summary())}\n")
    cached = client.with_options(cache=Cache(ttl=30.0))
    for _ in range(5):
        cached.virtual_keys.retrieve(_DEMO_SLUG)
    stats = cached.cache.stats if cached.cache is not None else None
    out.write(f"5 reads through Cache(ttl=30): {stats}\n")
    client.virtual_keys.delete(ref.slug or "")
    out.write(f"virtual_keys.delete({slug!r}) -> None\n")
