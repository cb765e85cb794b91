"""The pytest plugin users get with ``pip install portkey-vk``, run in pytest's own ``pytester``.

The inner runs load the plugin the way a user's pytest does: through the ``pytest11`` entry
point (our own suite disables it in ``addopts`` only to keep coverage honest).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=source)
    return pytester.runpytest("-p", "no:cacheprovider", "-W", "error", *args)


def test_the_plugin_is_registered_by_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    listed = result.stdout.str()
    assert "fixtures defined from portkey_vk.pytest_plugin" in listed
    for name in ("portkey_fake", "portkey_client", "async_portkey_client"):
        assert re.search(rf"^{name} -- .*pytest_plugin\.py", listed, flags=re.MULTILINE), name


def test_loading_the_plugin_is_cheap_and_importing_the_sdk_never_loads_pytest() -> None:
    # Every pytest session of every project with portkey-vk installed loads the plugin.
    code = """
import sys, threading
import portkey_vk
assert "pytest" not in sys.modules, "import portkey_vk loaded pytest"
import portkey_vk.pytest_plugin
assert "aiohttp.web" not in sys.modules, "the plugin loaded the fake server at import"
assert threading.active_count() == 1, threading.enumerate()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sync_fixtures_read_a_key_from_a_fresh_fake(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from portkey_vk import NotFoundError, Portkey
        from portkey_vk.testing import FakePortkey

        def test_reads(portkey_fake, portkey_client):
            assert isinstance(portkey_fake, FakePortkey)
            assert isinstance(portkey_client, Portkey)
            portkey_fake.add_virtual_key(slug="openai-prod", name="OpenAI prod")
            assert portkey_client.virtual_keys.retrieve(slug="openai-prod").name == "OpenAI prod"
            assert [r.slug for r in portkey_fake.requests] == ["openai-prod"]

        def test_each_test_gets_an_empty_fake(portkey_fake, portkey_client):
            assert portkey_fake.requests == []
            with pytest.raises(NotFoundError):
                portkey_client.virtual_keys.retrieve(slug="openai-prod")
        """,
    )
    result.assert_outcomes(passed=2)


def test_async_client_works_under_anyio_and_is_closed_after_the_test(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        import pytest
        from portkey_vk import AsyncPortkey

        seen = []

        @pytest.mark.anyio
        async def test_reads(portkey_fake, async_portkey_client):
            assert isinstance(async_portkey_client, AsyncPortkey)
            portkey_fake.add_virtual_key(slug="openai-prod", status="exhausted")
            vk = await async_portkey_client.virtual_keys.retrieve(slug="openai-prod")
            assert vk.status == "exhausted"
            assert not async_portkey_client.is_closed
            seen.append(async_portkey_client)

        def test_the_client_was_closed():
            assert len(seen) == 1 and seen[0].is_closed
        """,
    )
    result.assert_outcomes(passed=2)


def test_async_client_skips_the_trio_variant_with_a_reason(pytester: pytest.Pytester) -> None:
    # anyio parametrises anyio_backend over every installed backend; aiohttp needs asyncio.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param
        """
    )
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.anyio
        async def test_reads(portkey_fake, async_portkey_client):
            portkey_fake.add_virtual_key(slug="k")
            assert (await async_portkey_client.virtual_keys.retrieve(slug="k")).slug == "k"
        """,
        "-rs",
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs the asyncio backend (aiohttp), not 'trio'*"])


def test_scripted_failures_reach_the_user_s_code(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from portkey_vk import RateLimitError

        def test_rate_limited(portkey_fake, portkey_client):
            portkey_fake.add_virtual_key(slug="k")
            portkey_fake.fail_next(429, times=3, headers={"Retry-After": "0"})
            with pytest.raises(RateLimitError):
                portkey_client.with_options(max_retries=2).virtual_keys.retrieve(slug="k")
            assert len(portkey_fake.requests) == 3
        """,
    )
    result.assert_outcomes(passed=1)


def test_the_readme_s_example_test_passes(pytester: pytest.Pytester) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL) if "def test_" in b
    ]
    assert len(blocks) == 1, "README.md shows one example test"
    run(pytester, blocks[0]).assert_outcomes(passed=1)


def test_the_example_test_file_in_the_docs_passes(pytester: pytest.Pytester) -> None:
    # docs/testing.md shows a whole test module; it must pass as users would run it.
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n# test_my_service\.py\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1, "docs/testing.md must show exactly one `# test_my_service.py` block"
    result = run(pytester, blocks[0])
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 3
    assert set(outcomes) == {"passed"}, result.stdout.str()
