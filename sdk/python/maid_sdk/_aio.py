"""Running ``async def`` handlers without sockets, threads or select.

asyncio's stock loops wake themselves through a socketpair (the self-pipe)
and wait on a selector; CPython built for WASI has neither. Handlers here
never wait on I/O through asyncio (host calls are synchronous), so the only
thing a loop has to wait for is its own timers: ``MaidEventLoop`` is
asyncio's BaseEventLoop with a "selector" that just sleeps until the next
timer. Everything else (tasks, gather, wait_for, sleep, timeouts) is
asyncio's own code, so behaviour matches the host build exactly.
"""
import time

try:
    import asyncio
    from asyncio import base_events, events
except ImportError:  # pragma: no cover - a build without asyncio
    asyncio = None

STALLED_MESSAGE = (
    "async handler is waiting for something that can never happen: the maid "
    "sandbox has no sockets, subprocesses or threads, so only timers "
    "(asyncio.sleep) and other coroutines/tasks can be awaited"
)


class Stalled(RuntimeError):
    pass


class _TimerOnlySelector:
    """Stands in for a selector: there is no I/O to wait for, only timers."""

    def select(self, timeout=None):
        if timeout is None:
            # Nothing ready and no timer due: nothing can ever wake us.
            raise Stalled(STALLED_MESSAGE)
        if timeout > 0:
            time.sleep(timeout)
        return []

    def close(self):
        pass


if asyncio is not None:

    class MaidEventLoop(base_events.BaseEventLoop):
        """An asyncio event loop with timers and tasks but no I/O."""

        def __init__(self):
            super().__init__()
            self._selector = _TimerOnlySelector()

        def _process_events(self, event_list):
            pass

        def _write_to_self(self):
            # Only this thread ever touches the loop; nothing to wake.
            pass

    class MaidEventLoopPolicy(events.BaseDefaultEventLoopPolicy):
        """Makes asyncio.new_event_loop()/asyncio.run() build MaidEventLoop."""

        _loop_factory = MaidEventLoop


_loop = None
_installed = False


def install():
    """Make asyncio (including asyncio.run in plugin code) use MaidEventLoop."""
    global _installed
    if asyncio is None or _installed:
        return
    asyncio.set_event_loop_policy(MaidEventLoopPolicy())
    _installed = True


def _get_loop():
    global _loop
    if _loop is None or _loop.is_closed():
        install()
        _loop = MaidEventLoop()
        asyncio.set_event_loop(_loop)
    return _loop


def drive(coro):
    """Run a coroutine without asyncio: enough for coroutines that only await
    other coroutines or yield bare (asyncio.sleep(0))."""
    try:
        while True:
            yielded = coro.send(None)
            if yielded is not None:
                coro.close()
                raise RuntimeError(
                    "async handler awaited %r, which needs asyncio (not available "
                    "in this build)" % (yielded,)
                )
    except StopIteration as stop:
        return stop.value


def run(awaitable):
    """Run an awaitable to completion on the plugin's loop; return its value
    or raise its exception."""
    if asyncio is None:
        return drive(awaitable)
    loop = _get_loop()
    task = asyncio.ensure_future(awaitable, loop=loop)
    try:
        return loop.run_until_complete(task)
    except Stalled:
        # Give the task its CancelledError so its finally blocks run.
        task.cancel()
        try:
            loop.run_until_complete(task)
        except (Exception, asyncio.CancelledError):
            pass
        raise RuntimeError(STALLED_MESSAGE) from None


def close():
    """Cancel what handlers left running and close the loop."""
    global _loop
    loop, _loop = _loop, None
    if loop is None or loop.is_closed():
        return
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except (Exception, asyncio.CancelledError):
        pass
    finally:
        loop.close()
