"""Every ```python example in README.md and docs/*.md runs, in order, against a FakePortkey.

Examples are written the way users write code: ``Portkey()`` with the key and base URL from the
environment. The harness points ``PORTKEY_API_KEY``/``PORTKEY_BASE_URL`` at a fresh fake that
stores the slugs the examples use, so nothing here reaches the network. Examples of one page share
a namespace (a later block may use a name an earlier one defined), as a reader would expect.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser

from portkey_vk.testing import FakePortkey

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A fenced block opened as ```python (possibly indented, inside a content tab).
PYTHON_FENCE = re.compile(r"^[ \t]*```python[ \t]*$", re.MULTILINE)
# Python blocks marked any other way would silently escape the harness.
OTHER_PYTHON_FENCE = re.compile(r"^[ \t]*```(py|python3|pycon|{\.python.*})[ \t]*$", re.MULTILINE)

# The slugs the examples read; "maybe-missing" and "nope" are deliberately absent.
STORED_KEYS = {
    "my-openai-key": {
        "name": "My OpenAI key",
        "ai_provider_name": "openai",
        "usage_limits": {"credit_limit": 50, "type": "cost", "periodic_reset": "monthly"},
        "rate_limits": [{"type": "requests", "unit": "rpm", "value": 100}],
    },
}

# The integration the provider examples create providers on.
STORED_INTEGRATIONS = {
    "openai-org": {
        "name": "OpenAI (organisation)",
        "key": "sk-live-0123456789wxyz",
        "configurations": {"openai_organization": "org-123"},
    },
}

SYBIL = Sybil(parsers=[PythonCodeBlockParser()])


@pytest.fixture
def docs_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakePortkey]:
    """A fake holding the examples' keys, with the environment pointed at it."""
    logger = logging.getLogger("portkey_vk")
    level = logger.level
    with FakePortkey() as fake:
        for slug, fields in STORED_KEYS.items():
            fake.add_virtual_key(slug, **fields)
        for slug, fields in STORED_INTEGRATIONS.items():
            fake.add_integration(slug, **fields)
        monkeypatch.setenv("PORTKEY_API_KEY", fake.api_key)
        monkeypatch.setenv("PORTKEY_BASE_URL", fake.base_url)
        monkeypatch.chdir(tmp_path)
        yield fake
    logger.setLevel(level)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_python_example_runs(page: Path, docs_fake: FakePortkey) -> None:
    text = page.read_text(encoding="utf-8")
    assert not OTHER_PYTHON_FENCE.search(text), f"{page.name}: mark Python blocks as ```python"
    document = SYBIL.parse(page)
    examples = list(document)
    assert len(examples) == len(PYTHON_FENCE.findall(text)), f"{page.name}: a block was not parsed"
    for example in examples:
        try:
            example.evaluate()
        except Exception as exc:
            raise AssertionError(f"{page.name}, example at line {example.line} failed") from exc


def test_the_examples_use_the_fake_not_the_network(docs_fake: FakePortkey) -> None:
    # The quickstart's first example must have been served by the fake the harness started.
    document = SYBIL.parse(ROOT / "README.md")
    for example in document:
        example.evaluate()
    assert "my-openai-key" in [request.slug for request in docs_fake.requests]
