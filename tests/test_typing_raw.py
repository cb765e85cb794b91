"""``with_raw_response`` is typed per method, for mypy --strict and pyright, on both surfaces.

The resources and their methods are found by introspection (as the generator finds them), so a
new resource, or a sub-resource exposed as an attribute, is covered without editing this file.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from mypy import api as mypy_api

from portkey_vk import AsyncPage, AsyncPaginator, AsyncPortkey
from portkey_vk._resource import AsyncAPIResource, raw_response_view

from .test_generate import _resources

SNIPPET = """\
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from portkey_vk import AsyncPortkey, Portkey

R = TypeVar("R")


def awaited(method: Callable[..., Awaitable[R]]) -> R:
    raise NotImplementedError


def returned(method: Callable[..., R]) -> R:
    raise NotImplementedError


def check(client: AsyncPortkey, sync: Portkey) -> None:
"""


def _resource_paths() -> dict[type, str]:
    """Each resource class and an attribute path reaching it from the client (``virtual_keys``)."""
    paths: dict[type, str] = {}

    def walk(cls: type, prefix: str) -> None:
        for name, hint in typing.get_type_hints(cls).items():
            if (
                not name.startswith("_")
                and isinstance(hint, type)
                and issubclass(hint, AsyncAPIResource)
                and hint not in paths
            ):
                paths[hint] = f"{prefix}{name}"
                walk(hint, f"{prefix}{name}.")

    walk(AsyncPortkey, "")
    return paths


def _methods(cls: type) -> dict[str, typing.Callable[..., object]]:
    return {
        name: member
        for klass in reversed(cls.__mro__[:-1])
        for name, member in vars(klass).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def _short(tp: object) -> str:
    """A type as both checkers print it once module prefixes are dropped."""
    if tp is None or tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_short(a) for a in typing.get_args(tp))}]"
    assert isinstance(tp, type), tp
    return tp.__name__


def _expected() -> list[tuple[str, str]]:
    """(expression, expected revealed type) for every method of every resource, both surfaces."""
    cases = []
    paths = _resource_paths()
    for cls in _resources():
        assert cls in paths, f"{cls.__name__} is not reachable from the client"
        for name, fn in _methods(cls).items():
            result = typing.get_type_hints(fn)["return"]
            if typing.get_origin(result) is AsyncPaginator:
                result = AsyncPage[typing.get_args(result)]  # type: ignore[misc]
            text = _short(result)
            view = f"{paths[cls]}.with_raw_response.{name}"
            cases.append((f"awaited(client.{view})", f"AsyncAPIResponse[{text}]"))
            sync_text = text.replace("AsyncPage[", "SyncPage[")
            cases.append((f"returned(sync.{view})", f"APIResponse[{sync_text}]"))
    return cases


CASES = _expected()


def _snippet(tmp_path: Path) -> Path:
    lines = [f"    reveal_type({expression})" for expression, _ in CASES]
    path = tmp_path / "raw_snippet.py"
    path.write_text(SNIPPET + "\n".join(lines) + "\n")
    return path


def _unqualified(text: str) -> str:
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text)


def test_every_method_of_every_resource_is_covered() -> None:
    covered = {expression.split("with_raw_response.")[1].rstrip(")") for expression, _ in CASES}
    assert {"retrieve", "list", "create", "update", "delete"} <= covered
    assert len(CASES) == 2 * sum(len(_methods(cls)) for cls in _resources())
    assert tuple(
        e for e, t in CASES if t == "AsyncAPIResponse[VirtualKey]" and "virtual_keys" in e
    ) == ("awaited(client.virtual_keys.with_raw_response.retrieve)",)


def test_mypy_strict_reveals_each_raw_response_type(tmp_path: Path) -> None:
    snippet = _snippet(tmp_path)
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), str(snippet)]
    )
    revealed = re.findall(r":(\d+): note: Revealed type is \"(.*)\"", stdout)
    first = SNIPPET.count("\n") + 1
    got = {int(line) - first: _unqualified(text) for line, text in revealed}
    assert got == {i: expected for i, (_, expected) in enumerate(CASES)}, stdout + stderr
    # Nothing but the notes: no error anywhere, in the snippet or in the package.
    assert "error:" not in stdout, stdout
    assert status == 0, stdout + stderr


def test_pyright_reveals_each_raw_response_type(tmp_path: Path) -> None:
    snippet = _snippet(tmp_path)
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or "pyright"
    done = subprocess.run(
        [pyright, "--outputjson", "--pythonpath", sys.executable, str(snippet)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    report = json.loads(done.stdout)
    first = SNIPPET.count("\n")
    got = {}
    for diagnostic in report["generalDiagnostics"]:
        assert diagnostic["severity"] == "information", diagnostic
        text = re.fullmatch(r'Type of ".*" is "(.*)"', diagnostic["message"])
        assert text is not None, diagnostic
        got[diagnostic["range"]["start"]["line"] - first] = _unqualified(text.group(1))
    assert got == {i: expected for i, (_, expected) in enumerate(CASES)}


@pytest.mark.parametrize("cls", _resources(), ids=lambda c: c.__name__)
def test_each_view_has_its_resources_methods_and_signatures(cls: type) -> None:
    declared = vars(cls)["with_raw_response"]
    assert isinstance(declared, raw_response_view)
    view = declared.view
    assert isinstance(view, type)
    for name, fn in _methods(cls).items():
        raw = getattr(view, name)
        assert inspect.iscoroutinefunction(raw), name
        assert list(inspect.signature(raw).parameters.values()) == list(
            inspect.signature(fn).parameters.values()
        ), name
