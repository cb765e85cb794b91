"""``import portkey_vk`` stays light: cattrs and the sync facade load only when first needed.

Import time is measured by ``benchmarks/run.py``; this only pins down what is imported, so a
stray top-level import cannot quietly undo the saving.
"""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.split())


def test_import_loads_neither_cattrs_nor_the_sync_facade() -> None:
    loaded = _modules_after("import portkey_vk")
    assert "cattrs" not in loaded
    assert "anyio" not in loaded
    assert "portkey_vk._sync" not in loaded


def test_the_sync_facade_and_the_converter_load_on_first_use() -> None:
    loaded = _modules_after(
        "from portkey_vk import Portkey, VirtualKey\nVirtualKey.from_dict({'name': 'x'}).to_dict()"
    )
    assert "portkey_vk._sync" in loaded
    assert "cattrs" in loaded  # to_dict unstructures with the converter
