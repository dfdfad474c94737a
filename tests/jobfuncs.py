"""
Module-level job functions for tests that need importable callables
(worker processes of the process executor import them by text reference).
"""

import os
import threading
import time


def nothing():
    """Return nothing (a run with no result)."""


def square(x):
    return x * x


def whoami():
    return os.getpid()


def thread_name():
    return threading.current_thread().name


def fail(message):
    raise ValueError(message)


async def coroutine():
    return "coroutine"


def crash(code):
    """Kill the worker process at once, as a segfault would."""
    os._exit(code)


def hang():
    """Never return (until the process is killed)."""
    while True:
        time.sleep(60)


def wait_for_event(event):
    """Block a thread until the test sets C{event}."""
    event.wait(60)
    return "released"


def noisy(value):
    """Print to stdout (which must not disturb a worker's AMP channel), return C{value}."""
    print("some output\n" * 100)
    return value


def unserializable():
    return object()


def meet(directory, count):
    """
    A barrier across processes: leave a file named by our pid in
    C{directory}, then wait until C{count} jobs have (at most 30 s: if they
    never do, the jobs did not run at the same time).  Return our pid.
    """
    pid = os.getpid()
    open(os.path.join(directory, str(pid)), "w").close()
    deadline = time.monotonic() + 30
    while len(os.listdir(directory)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("only %d of %d jobs ran at once" % (
                len(os.listdir(directory)), count))
        time.sleep(0.01)
    return pid


def make_closure():
    def inner():
        return "closure"
    return inner


def echo(value, **kwargs):
    return [value, kwargs]
