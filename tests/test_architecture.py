"""The import graph of ``portkey_vk`` is what docs/architecture.md says it is.

The document's "Floors" block lists every module on a floor; a module may import only modules on
floors below its own (imports under ``if TYPE_CHECKING:`` do not count: they are never run). So
there is no import circle, and the document cannot drift from the code: a new module must be
placed on a floor, and an import that reaches up fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import portkey_vk

ROOT = Path(__file__).resolve().parent.parent
# The package as imported: the source tree, or the installed wheel when `nox -s release` runs
# the sdist's tests against it (the sdist's own copy is removed then).
PACKAGE = Path(portkey_vk.__file__).resolve().parent
DOC = ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def floors() -> dict[str, int]:
    """``{module: floor}`` from the document's Floors block (``N  name name ...`` per line)."""
    text = DOC.read_text()
    block = re.search(r"<!-- floors -->\s*```text\n(.*?)```", text, re.DOTALL)
    assert block is not None, "docs/architecture.md has no '<!-- floors -->' block"
    placed: dict[str, int] = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        number, *names = line.split()
        for name in names:
            full = "portkey_vk" if name == "portkey_vk" else f"portkey_vk.{name.strip('/')}"
            assert full not in placed, f"{full} is placed twice"
            placed[full] = int(number)
    return placed


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If):
            test = node.test
            name = getattr(test, "id", None) or getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                return True
    return False


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports at run time (anywhere in it, functions included)."""
    tree = ast.parse(path.read_text())
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                module = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        for target in targets:
            module = target
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module and module not in (name, "portkey_vk"):
                found.add(module)
    return found


def owner(module: str, placed: dict[str, int]) -> str:
    """The placed name a module falls under: itself, or the subpackage that holds it.

    Never the root package: a module of its own must be placed by name.
    """
    while module not in placed and module.count(".") > 1:
        module = module.rpartition(".")[0]
    return module


def test_every_module_is_placed_on_a_floor() -> None:
    placed = floors()
    missing = sorted(name for name in modules() if owner(name, placed) not in placed)
    assert not missing, f"docs/architecture.md places no floor for {missing}"
    stale = sorted(set(placed) - set(modules()))
    assert not stale, f"docs/architecture.md places modules that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_go_down_only(name: str) -> None:
    placed = floors()
    known = set(modules())
    mine = owner(name, placed)
    for target in sorted(imports_of(name, modules()[name], known)):
        theirs = owner(target, placed)
        if theirs == mine:
            continue  # inside one package placed as a whole (testing/, cli/)
        assert placed[theirs] < placed[mine], (
            f"{name} (floor {placed[mine]}) imports {target} (floor {placed[theirs]}): "
            "imports go to lower floors only (docs/architecture.md)"
        )
