"""The one background event loop behind every sync client.

The sync facade (:mod:`portkey_vk._sync`) runs :class:`AsyncPortkey`'s coroutines here, through an
anyio :class:`~anyio.from_thread.BlockingPortal` on a daemon thread that is started on first use
and shared by all sync clients in the process, so connection pools live as long as their clients
instead of one event loop per call.

Everything that can go wrong with a shared loop thread is handled in this module:

- **fork**: a forked child inherits the portal object but not its thread; the first call in the
  child notices the new pid and starts a fresh portal (the parent's is left untouched).
- **interpreter exit**: an :mod:`atexit` hook closes every sync client still open, then stops the
  loop, so a script that never calls ``close()`` exits promptly and without "Unclosed client
  session" warnings; a client that is garbage-collected unclosed is closed on the loop as well.
- **Ctrl-C**: a ``KeyboardInterrupt`` (or any other exception) while the caller waits cancels the
  coroutine on the loop before it propagates, so nothing is left running.
- **re-entrance**: a blocking call from a coroutine on the portal's own thread would wait for
  itself forever; it raises :class:`PortkeyError` instead.
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import os
import signal
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import copy_context
from typing import Any, Final, Generic, ParamSpec, Protocol, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from portkey_vk._errors import PortkeyError
from portkey_vk._transport import pin_forever

__all__ = ["ClientGuard", "bind", "guard", "in_flight", "run", "run_bound"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

THREAD_NAME: Final = "portkey-vk-portal"
# Bounds on what interpreter exit may wait for: a wedged server must not hang the exit.
_EXIT_CLOSE_TIMEOUT: Final = 5.0
_EXIT_JOIN_TIMEOUT: Final = 2.0
# How often a waiting caller wakes to let Python run a pending signal handler (Ctrl-C) that was
# delivered to another thread of the user's; a result wakes it at once regardless.
_WAKE_INTERVAL: Final = 0.1
# How long an interrupted call waits for its cancelled coroutine to finish before it raises.
_CANCEL_WAIT: Final = 5.0


class _Closable(Protocol):
    async def close(self) -> None: ...


class _Runtime:
    """A running portal, its thread and loop, and the pid that owns them."""

    def __init__(
        self,
        portal: BlockingPortal,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        stopped: concurrent.futures.Future[None],
    ) -> None:
        self.portal = portal
        self.loop = loop
        self.thread = thread
        self.stopped = stopped
        self.pid = os.getpid()
        # Closes scheduled by garbage collection, awaited at exit; touched on the loop only.
        self.background: set[asyncio.Task[None]] = set()
        # Coroutines started through run() and not yet finished; for tests and diagnostics.
        self.in_flight = 0


class _State:
    """Mutable state of the portal, kept in one place (partly reset in a forked child)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runtime: _Runtime | None = None
        self.shutting_down = False
        self.atexit_registered = False
        # Runtimes inherited through fork: their thread is gone in the child and their loop
        # belongs to the parent, so they must never be closed or finalised here.
        self.orphans: list[_Runtime] = []
        # The finalizer of every guard still alive, by a number of its own: a finalizer removes
        # its entry when it fires, so a dropped client leaves nothing behind here.
        self.guards: dict[int, weakref.finalize[[int, _Closable], ClientGuard]] = {}


_state = _State()


class ClientGuard:
    """Shared by a sync client, its ``with_options`` copies and their resources.

    When the last of them is garbage-collected, or at interpreter exit, the underlying async
    client is closed on the portal, so an unclosed client never leaks its connection pool.
    """

    __slots__ = ("__weakref__",)


_guard_numbers: Final = itertools.count()


def guard(client: _Closable) -> ClientGuard:
    """Return a :class:`ClientGuard` that closes ``client`` once it is unreachable or at exit."""
    token = ClientGuard()
    number = next(_guard_numbers)  # atomic: count() is implemented in C
    finalizer = weakref.finalize(token, _collected, number, client)
    # Our own exit hook closes live clients before stopping the loop; weakref's would run later.
    finalizer.atexit = False
    with _state.lock:
        _state.guards[number] = finalizer
    return token


def _collected(number: int, client: _Closable) -> None:
    # Runs from the garbage collector, in whatever thread it ran, possibly one holding
    # _state.lock: so no lock here. A single dict.pop is atomic.
    _state.guards.pop(number, None)
    _close_soon(client)


def _close_soon(client: _Closable) -> None:
    """Close ``client`` on the portal without waiting; safe from any thread, even the loop's."""
    runtime = _state.runtime
    if runtime is None or runtime.pid != os.getpid() or runtime.loop.is_closed():
        # No live loop in this process has a session of this client: nothing to close.
        return

    def spawn() -> None:
        task = runtime.loop.create_task(client.close())
        runtime.background.add(task)
        task.add_done_callback(runtime.background.discard)

    # RuntimeError: the loop closed meanwhile, and its sessions went with it.
    with contextlib.suppress(RuntimeError):
        runtime.loop.call_soon_threadsafe(spawn)


def _start() -> _Runtime:
    """Start the portal thread and wait until its loop runs."""
    ready: concurrent.futures.Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]]
    ready = concurrent.futures.Future()
    stopped: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.set_result((portal, asyncio.get_running_loop()))
            await portal.sleep_until_stopped()

    def main() -> None:
        if hasattr(signal, "pthread_sigmask"):  # pragma: no branch - POSIX
            # Python runs signal handlers in the main thread only, and only once that thread
            # wakes up; a signal the kernel hands to this thread would leave a main thread
            # blocked on a call deaf to Ctrl-C. Blocked here, it goes to a thread that can act.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            anyio.run(serve, backend="asyncio")
        except BaseException as exc:  # handed to the starting thread or to shutdown
            if not ready.done():
                ready.set_exception(exc)
            stopped.set_exception(exc)
        else:
            stopped.set_result(None)

    thread = threading.Thread(target=main, name=THREAD_NAME, daemon=True)
    thread.start()
    portal, loop = ready.result()
    return _Runtime(portal, loop, thread, stopped)


def _current() -> _Runtime:
    """Return this process's runtime, starting it on first use or after a fork."""
    runtime = _state.runtime
    if runtime is not None and runtime.pid == os.getpid():
        return runtime
    with _state.lock:
        runtime = _state.runtime
        if runtime is not None and runtime.pid == os.getpid():
            return runtime
        if _state.shutting_down:
            raise PortkeyError("The interpreter is shutting down; sync clients can no longer run.")
        if runtime is not None:  # inherited through a fork that skipped the at-fork hook
            _state.orphans.append(runtime)
            pin_forever(_state.orphans)
        runtime = _state.runtime = _start()
        if not _state.atexit_registered:
            atexit.register(_shutdown)
            _state.atexit_registered = True
        return runtime


class _Bound(Generic[_T]):
    """``fn(*args, **kwargs)``, ready to run, behind a repr that shows no argument."""

    __slots__ = ("args", "fn", "kwargs")

    def __init__(
        self, fn: Callable[..., Awaitable[_T]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> Awaitable[_T]:
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"<call of {getattr(self.fn, '__qualname__', type(self.fn).__name__)}>"


async def _tracked(runtime: _Runtime, call: Callable[[], Awaitable[_T]]) -> _T:
    runtime.in_flight += 1
    try:
        return await call()
    finally:
        runtime.in_flight -= 1


def run(fn: Callable[_P, Awaitable[_T]], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``fn(*args, **kwargs)`` on the portal and block until it returns or raises.

    Works from any thread, including one that runs an event loop of its own (the call blocks
    that loop, as any blocking call does). If the wait is interrupted (``KeyboardInterrupt``,
    or any other exception raised in the waiting thread) the coroutine is cancelled first.

    Raises:
        PortkeyError: called from a coroutine running on the portal's own thread, where waiting
            would deadlock; use :class:`AsyncPortkey` there.
    """
    call = _Bound(fn, args, kwargs)
    # The call's arguments (a provider key...) are not frame locals of ours while it runs:
    # error reporters send those.
    del args, kwargs
    return run_bound(call)


def bind(fn: Callable[..., Awaitable[_T]], /, *args: Any, **kwargs: Any) -> _Bound[_T]:
    """``fn`` and its arguments, ready for :func:`run_bound`, behind a repr that shows none.

    The generated sync twin of a write carrying secrets binds its call, deletes its own
    arguments, then runs it: no frame of it holds a secret while the call runs.
    """
    return _Bound(fn, args, kwargs)


def run_bound(bound: _Bound[_T]) -> _T:
    """:func:`run` for a call bound by :func:`bind`."""
    runtime = _current()
    if threading.get_ident() == runtime.thread.ident:
        raise PortkeyError(
            "A sync Portkey client was called from its own event loop thread, where it would "
            "wait for itself forever; use AsyncPortkey and await it there instead."
        )
    coro = _tracked(runtime, bound)
    # The handoff is a task started by one callback on the loop, and a bare lock its done
    # callback releases. run_coroutine_threadsafe's concurrent Future (state chained both ways,
    # a Condition whose wait allocates a lock and re-takes the notifier's) made a no-op call
    # ~130 us wall instead of ~25 us on a 2-vCPU VM.
    call = _Call(coro)
    try:
        # In a copy of the caller's context: a contextvar the caller set (OpenTelemetry's
        # current span, a request id) is seen by the call, as if it ran in the caller's thread.
        runtime.loop.call_soon_threadsafe(call.start, runtime.loop, context=copy_context())
    except RuntimeError as exc:  # the loop closed under us (interpreter exit)
        coro.close()
        raise PortkeyError(f"The sync client's event loop is not running: {exc}") from exc
    try:
        call.wait(runtime.stopped)
    except BaseException:
        # Cancel the task on the loop before propagating: nothing keeps running. Scheduled
        # after call.start (callbacks run in order), so the task exists by then.
        with contextlib.suppress(RuntimeError):  # the loop is gone, and the task with it
            runtime.loop.call_soon_threadsafe(call.cancel)
            # And wait (bounded) until the cancelled work has finished, not just been told to:
            # what the caller does next (closing an iterator whose step this was) must not
            # find it still running.
            call.done.acquire(timeout=_CANCEL_WAIT)
        raise
    task = call.task
    assert task is not None  # released only by the task's done callback
    if task.cancelled():
        # Only exit-time shutdown cancels a call that was not interrupted by its caller.
        raise PortkeyError("The call was cancelled: the interpreter is shutting down.")
    error = task.exception()
    if error is not None:
        raise error
    result: _T = task.result()
    return result


class _Call:
    """One coroutine handed from a caller's thread to the loop, and its completion signal."""

    __slots__ = ("coro", "done", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro: Coroutine[Any, Any, Any] | None = coro
        self.task: asyncio.Task[Any] | None = None
        self.done = _thread.allocate_lock()
        self.done.acquire()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        coro, self.coro = self.coro, None
        assert coro is not None
        task = loop.create_task(coro)
        self.task = task
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            # Marks the exception retrieved: a caller that gave up (Ctrl-C) never reads it,
            # and asyncio would log it as never retrieved.
            task.exception()
        self.done.release()

    def wait(self, stopped: concurrent.futures.Future[None]) -> None:
        """Block until the task is done; raise PortkeyError if the loop stops first."""
        # Woken at once by a result; every interval otherwise, so that Python can run a
        # pending signal handler (Ctrl-C) delivered to another thread of the user's.
        while not self.done.acquire(timeout=_WAKE_INTERVAL):
            if stopped.done():
                raise PortkeyError(
                    "The sync client's event loop stopped: the interpreter is shutting down."
                )

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


def in_flight() -> int:
    """How many coroutines started by :func:`run` in this process are still running."""
    runtime = _state.runtime
    if runtime is None or runtime.pid != os.getpid():
        return 0
    return runtime.in_flight


async def _close_all(runtime: _Runtime, clients: list[_Closable]) -> None:
    async def close_quietly(client: _Closable) -> None:
        # A failing close must not keep the others from closing; nobody is left to tell.
        with contextlib.suppress(Exception):
            await client.close()

    with anyio.move_on_after(_EXIT_CLOSE_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(close_quietly, client)
        if runtime.background:
            await asyncio.wait(set(runtime.background))


def _shutdown() -> None:
    """At exit: close every sync client still open, then stop the loop and join its thread."""
    with _state.lock:
        _state.shutting_down = True
        runtime = _state.runtime
        # copy() is one C call: a finalizer popping an entry cannot run in the middle of it.
        finalizers = list(_state.guards.copy().values())
        _state.guards.clear()
    clients: list[_Closable] = []
    for finalizer in finalizers:
        detached = finalizer.detach()
        if detached is not None:
            clients.append(detached[2][1])
    if runtime is None or runtime.pid != os.getpid() or not runtime.thread.is_alive():
        return
    # Exit goes on whatever happens here, within bounded time.
    with contextlib.suppress(BaseException):
        runtime.portal.start_task_soon(_close_all, runtime, clients).result(
            timeout=_EXIT_CLOSE_TIMEOUT + 1
        )
    with contextlib.suppress(BaseException):
        runtime.portal.start_task_soon(runtime.portal.stop, True).result(timeout=1)
    runtime.thread.join(_EXIT_JOIN_TIMEOUT)


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at the moment of the fork, and would never release
    # it here; the runtime's thread did not survive the fork at all.
    _state.lock = threading.Lock()
    if _state.runtime is not None:
        _state.orphans.append(_state.runtime)
        _state.runtime = None
        pin_forever(_state.orphans)


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)
