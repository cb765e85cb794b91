"""The version and CHANGELOG.md agree (the policy is in CONTRIBUTING.md and docs/releasing.md).

A released version is the latest dated `## [x.y.z] - YYYY-MM-DD` heading; between releases, while
`## [Unreleased]` has entries, it is a `.devN` of a later version. The User-Agent and
`portkey-vk --version` say the same version. These run from the unpacked sdist against the
installed wheel too (`nox -s release`), so they check what is shipped.
"""

from __future__ import annotations

import datetime
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import InvalidVersion, Version

import portkey_vk
from portkey_vk._config import USER_AGENT

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"
HEADING = re.compile(r"^## (.*)$", re.MULTILINE)
RELEASE = re.compile(r"\[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})")
PLANNED = re.compile(r"^Planned as (\S+?):", re.MULTILINE)
LINK = re.compile(r"^\[(?P<label>[^\]]+)\]: (?P<url>\S+)$", re.MULTILINE)


def _sections(text: str) -> list[tuple[str, str]]:
    """Each `## ` heading with the text under it, up to the next heading or the link list."""
    body_end = LINK.search(text)
    text = text[: body_end.start()] if body_end else text
    matches = list(HEADING.finditer(text))
    ends = [match.start() for match in matches[1:]] + [len(text)]
    return [(match[1], text[match.end() : end]) for match, end in zip(matches, ends, strict=True)]


def _releases(sections: list[tuple[str, str]]) -> list[tuple[Version, datetime.date]]:
    releases = []
    for heading, _ in sections:
        if heading == "[Unreleased]":
            continue
        match = RELEASE.fullmatch(heading)
        assert match, f"not a `## [x.y.z] - YYYY-MM-DD` heading: {heading!r}"
        try:
            version = Version(match["version"])
        except InvalidVersion:
            pytest.fail(f"not a version: {heading!r}")
        assert str(version) == match["version"], f"not in canonical form: {heading!r}"
        assert not version.is_devrelease, f"not a release: {heading!r}"
        assert not version.local, f"not a release: {heading!r}"
        try:
            date = datetime.date.fromisoformat(match["date"])
        except ValueError:
            pytest.fail(f"not a date: {heading!r}")
        releases.append((version, date))
    return releases


@pytest.fixture(scope="module")
def changelog() -> str:
    return CHANGELOG.read_text(encoding="utf-8")


def test_headings_are_unreleased_then_dated_releases_newest_first(changelog: str) -> None:
    sections = _sections(changelog)
    headings = [heading for heading, _ in sections]
    assert headings.count("[Unreleased]") == 1
    assert headings[0] == "[Unreleased]"
    releases = _releases(sections)
    assert releases, "no dated release heading"
    versions = [version for version, _ in releases]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    dates = [date for _, date in releases]
    assert dates == sorted(dates, reverse=True)
    assert dates[0] <= datetime.date.today(), "a release dated in the future"


def test_every_heading_has_its_link(changelog: str) -> None:
    links = {match["label"]: match["url"] for match in LINK.finditer(changelog)}
    versions = [str(version) for version, _ in _releases(_sections(changelog))]
    repository = "https://github.com/portkey-vk/portkey-vk"
    assert links["Unreleased"] == f"{repository}/compare/v{versions[0]}...HEAD"
    for newer, older in itertools.pairwise(versions):
        assert links[newer] == f"{repository}/compare/v{older}...v{newer}"
    assert links[versions[-1]] == f"{repository}/releases/tag/v{versions[-1]}"


def test_the_version_is_the_latest_release_or_a_dev_of_the_next(changelog: str) -> None:
    sections = _sections(changelog)
    unreleased = sections[0][1].strip()
    latest = _releases(sections)[0][0]
    version = Version(portkey_vk.__version__)
    assert str(version) == portkey_vk.__version__, "not in canonical form"
    if not unreleased:
        assert version == latest, "a release's version is its changelog heading"
        return
    assert version.is_devrelease, f"[Unreleased] has entries: {version} must be a .devN"
    assert not version.local
    assert Version(version.base_version) > latest, f"{version} is not after {latest}"
    planned = PLANNED.search(unreleased)
    if planned:
        assert version.base_version == planned[1], "[Unreleased] plans another version"


def test_the_user_agent_carries_the_version() -> None:
    assert USER_AGENT.startswith(f"portkey-vk/{portkey_vk.__version__} python/")


def test_the_command_line_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "portkey_vk", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"portkey-vk {portkey_vk.__version__}\n"
