"""Developer tasks. `nox` runs the CI set; `nox -s demo` runs the offline demo.

Interpreters: every CPython 3.10-3.13 found on PATH or under pyenv is used; a missing one is
skipped with a message, never an error (also on CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck", "generate_check", "docs"]


def _expose_pyenv_interpreters() -> None:
    """Put every pyenv-installed CPython on PATH so `python3.X` resolves without `pyenv global`.

    pyenv's shims answer only for the selected version; nox looks interpreters up by name.
    """
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    extra = []
    for version in PYTHONS:
        found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin")))
        if found:
            extra.append(found[-1])
    if extra:
        os.environ["PATH"] = os.pathsep.join([*extra, os.environ.get("PATH", "")])


_expose_pyenv_interpreters()


def _install(session: nox.Session, *groups: str, editable: bool = False) -> None:
    args = ["-e", "."] if editable else ["."]
    session.install(*args)
    for group in groups:
        session.install(*_group_requirements(group))


def _group_requirements(group: str) -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(data["dependency-groups"][group])


# The one interpreter whose run measures coverage: tracing adds about a third to a suite that
# runs four times in CI, and one measurement says what four would.
COVERAGE_PYTHON = "3.12"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite (the long marker runs in `tests_long`); branch coverage on 3.12."""
    _install(session, "test")
    coverage: list[str] = []
    if session.python == COVERAGE_PYTHON:
        coverage = ["--cov=portkey_vk", "--cov-branch", "--cov-report=term-missing:skip-covered"]
    session.run("pytest", "-m", "not long", *coverage, *session.posargs)


@nox.session(python="3.11")
def tests_long(session: nox.Session) -> None:
    """Property-based and load tests with their full example counts."""
    _install(session, "test")
    session.run("pytest", "-m", "long", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*_group_requirements("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, including the generated sync facade."""
    _install(session, "typecheck")
    session.run("mypy", "--strict", "portkey_vk")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """The main job, offline: start the bundled fake control plane and read a key from it."""
    session.install(".")
    session.run("portkey-vk", "demo")


@nox.session(python="3.11")
def generate(session: nox.Session) -> None:
    """Regenerate the sync facade, portkey_vk/_sync.py, from the async classes."""
    _install(session, editable=True)
    session.run("python", "scripts/generate_sync.py")


@nox.session(python="3.11")
def generate_check(session: nox.Session) -> None:
    """Fail if the committed sync facade is stale (its generator would change it)."""
    _install(session, editable=True)
    session.run("python", "scripts/generate_sync.py", "--check")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the docs site into site/ with `mkdocs build --strict` (a broken link fails it)."""
    session.install(*_group_requirements("docs"))
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmark suite against raw aiohttp and portkey-ai (`-- --quick` for a smoke run)."""
    session.install(".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, `twine check` them, and install each in a clean venv.

    Then unpack the sdist and run its own tests (not `long`) against the installed wheel, so the
    sdist is proven to carry what the suite needs (tests, their data, README, docs, scripts).
    """
    session.install(*_group_requirements("release"))
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    artifacts = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *artifacts)
    for artifact in artifacts:
        venv = tmp / ("venv-" + ("wheel" if artifact.endswith(".whl") else "sdist"))
        session.run("python", "-m", "venv", "--clear", str(venv))
        python = str(venv / "bin" / "python")
        session.run(python, "-m", "pip", "install", "--quiet", artifact, external=True)
        # From an empty directory, so the source tree cannot stand in for the installed copy.
        with session.chdir(tmp):
            session.run(python, "-m", "portkey_vk", "--version", external=True)
            session.run(python, "-c", _INSTALLED_CHECK, external=True)
    (sdist,) = (path for path in artifacts if path.endswith(".tar.gz"))
    (wheel,) = (path for path in artifacts if path.endswith(".whl"))
    _test_sdist_against_wheel(session, Path(sdist), wheel)


def _test_sdist_against_wheel(session: nox.Session, sdist: Path, wheel: str) -> None:
    """Run the unpacked sdist's tests, minus `long`, against `wheel` in a clean venv.

    All of it happens in a fresh temporary folder outside the checkout, the tests' TMPDIR too: a
    pytester run under .nox/ would otherwise find this repository's pyproject.toml as its config.
    """
    with tempfile.TemporaryDirectory(prefix="portkey-vk-sdist-") as scratch:
        root = Path(scratch).resolve()
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(root / "unpacked", filter="data")
            else:  # pragma: no cover - Pythons without the extraction filters
                archive.extractall(root / "unpacked")
        (source,) = (root / "unpacked").iterdir()
        # Without the unpacked package, `import portkey_vk` can only find the installed wheel:
        # neither pytest's rootdir on sys.path nor the cwd of a test's `python -c` subprocess.
        shutil.rmtree(source / "portkey_vk")
        pyproject = tomllib.loads((source / "pyproject.toml").read_text())
        venv = root / "venv"
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        requirements = pyproject["dependency-groups"]["test"]
        session.run(python, "-m", "pip", "install", "--quiet", wheel, *requirements, external=True)
        (root / "tmp").mkdir()
        with session.chdir(source):
            session.run(python, "-c", _TESTED_COPY_CHECK, str(venv), external=True)
            session.run(
                str(venv / "bin" / "pytest"),
                *("-m", "not long", "-p", "no:cacheprovider", "-q"),
                *session.posargs,
                env={"TMPDIR": str(root / "tmp")},
                external=True,
            )


_TESTED_COPY_CHECK = """
import pathlib, sys
sys.path[:0] = [".", ""]  # where pytest's rootdir and a subprocess's cwd would put the tree
import portkey_vk
where = pathlib.Path(portkey_vk.__file__).resolve()
assert where.is_relative_to(pathlib.Path(sys.argv[1]).resolve()), f"tests would use {where}"
print("the sdist's tests use", where)
"""


_INSTALLED_CHECK = """
import importlib.metadata as md, importlib.resources as res, portkey_vk
assert res.files("portkey_vk").joinpath("py.typed").is_file(), "py.typed is not shipped"
assert md.version("portkey-vk") == portkey_vk.__version__
plugins = [ep.value for ep in md.entry_points(group="pytest11")]
assert "portkey_vk.pytest_plugin" in plugins, plugins
print("installed", portkey_vk.__version__, "from", portkey_vk.__file__)
"""
