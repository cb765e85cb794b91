"""Hardening round 3, secrets: no SDK frame of a failed write holds the provider key.

Error reporters send every local variable of every frame of a traceback (Sentry does by default,
and ``key`` or ``body`` are not on its default deny list). Before the fix (issue 19, item 11) a
failed create left the provider key in ``virtual_keys.create:key``, ``_transport.attempt:body``,
``_sync.create:key``, ``_portal.run:kwargs`` and ``_portal._tracked:call``, even when the caller
passed ``key=os.environ[...]``. The caller's own frame is the caller's business.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from portkey_vk import APIError
from portkey_vk.testing import FakePortkey
from tests.conftest import Surface, unused_port
from tests.leaks import found, frame_locals

PROVIDER_KEY = "sk-provider-frames-0123456789abcdef"
_PACKAGE = str(Path(sys.modules["portkey_vk"].__file__ or "").parent)


def frames_holding(exc: BaseException, secret: str) -> list[str]:
    return sorted(
        {
            f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{name}"
            for frame, name, text in frame_locals(exc)
            if frame.f_code.co_filename.startswith(_PACKAGE) and found(text, [secret])
        }
    )


@pytest.mark.parametrize("raw", [False, True], ids=["parsed", "raw"])
@pytest.mark.parametrize(
    "case", ["create server error", "update server error", "create refused", "update timeout"]
)
def test_no_frame_of_a_failed_write_holds_the_provider_key(
    make_client: Callable[..., Surface], fake: FakePortkey, case: str, raw: bool
) -> None:
    fake.add_virtual_key("vk")
    options: dict[str, Any] = {"max_retries": 0}
    if "refused" in case:
        options["base_url"] = f"http://127.0.0.1:{unused_port()}/v1"
    if "timeout" in case:
        options["timeout"] = 0.2
        fake.delay_next(1.0)
    if "server error" in case:
        fake.fail_next(500, times=2)
    client = make_client(**options)
    send = client.call_raw if raw else client.call
    if case.startswith("create"):
        args: tuple[Any, ...] = ("create",)
        kwargs: dict[str, Any] = {"name": "n", "provider": "openai", "key": PROVIDER_KEY}
    else:
        args, kwargs = ("update", "vk"), {"key": PROVIDER_KEY}
    with pytest.raises(APIError) as info:
        send(*args, **kwargs)
    assert frames_holding(info.value, PROVIDER_KEY) == []
    # Not vacuous: the walk reached our frames, where a held key would have been seen.
    assert any(
        frame.f_code.co_filename.startswith(_PACKAGE) for frame, _, _ in frame_locals(info.value)
    )
