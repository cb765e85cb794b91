"""README.md is also the PyPI page, where a relative link leads nowhere: every link in it is
absolute, and the links into this repository (there and in the package's project URLs) name files
the repository has.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/portkey-vk/portkey-vk"
# Inline links and images, `[text](target)`, and reference definitions, `[label]: target`.
LINK = re.compile(r"\]\(([^)\s]+)[^)]*\)|^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


def _readme_links() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [inline or reference for inline, reference in LINK.findall(text)]


def _project_urls() -> dict[str, str]:
    entries = importlib.metadata.metadata("portkey-vk").get_all("Project-URL") or []
    return dict(entry.split(", ", 1) for entry in entries)


def _path_in_repository(url: str) -> str | None:
    match = re.fullmatch(rf"{re.escape(REPOSITORY)}/(?:blob|tree)/main/(.+?)/?", url)
    return match[1] if match else None


def test_every_readme_link_is_absolute() -> None:
    links = _readme_links()
    assert links
    assert [link for link in links if not link.startswith("https://")] == []


def test_links_into_the_repository_name_files_it_has() -> None:
    links = [*_readme_links(), *_project_urls().values()]
    paths = [path for path in map(_path_in_repository, links) if path is not None]
    assert "docs/testing.md" in paths
    assert [path for path in paths if not (ROOT / path).exists()] == []


def test_project_urls_lead_to_the_docs_and_the_changelog() -> None:
    urls = _project_urls()
    assert _path_in_repository(urls["Documentation"]) == "docs"
    assert _path_in_repository(urls["Changelog"]) == "CHANGELOG.md"
