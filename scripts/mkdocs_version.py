"""mkdocs hook: show the package version in the docs site's name and as `config.extra.version`.

Read from portkey_vk/_version.py without importing the package: the docs session installs only
the docs tools.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

VERSION_FILE = Path(__file__).resolve().parent.parent / "portkey_vk" / "_version.py"


def package_version() -> str:
    """The `__version__` assigned in portkey_vk/_version.py."""
    for node in ast.parse(VERSION_FILE.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == ["__version__"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise ValueError(f"no __version__ = '...' in {VERSION_FILE}")


def on_config(config: Any) -> Any:
    """Append the version to the site name, and expose it to templates."""
    version = package_version()
    config["site_name"] = f"{config['site_name']} {version}"
    config["extra"]["version"] = version
    return config
