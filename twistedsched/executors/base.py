"""
Calling a job's function and getting a Deferred for its outcome.
"""

import inspect

from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.python.failure import Failure

from twistedsched.errors import BadArgumentError, JobTimedOut


def call_now(func, args, kwargs):
    """
    Call C{func}; return its result, or a Deferred when it is not a plain
    value: the Deferred it returned, or one of the awaitable it returned
    (C{async def} functions).  Raises what C{func} raised.
    """
    result = func(*args, **kwargs)
    if result is None:
        return None
    if isinstance(result, Deferred):
        return result
    if inspect.isawaitable(result):
        return ensureDeferred(result)
    return result


def call_in_reactor(func, args, kwargs):
    """
    Call C{func} and return a Deferred of its outcome: a value, an exception,
    a Deferred it returned, or the result of the coroutine it returned
    (C{async def} functions).
    """
    try:
        result = call_now(func, args, kwargs)
    except BaseException:
        return fail()
    if isinstance(result, Deferred):
        return result
    return succeed(result)


def call_blocking(func, args, kwargs):
    """Call C{func} in a worker (thread or process), where it must not return
    a coroutine or Deferred: those belong to the reactor executor."""
    result = func(*args, **kwargs)
    if inspect.iscoroutine(result):
        result.close()
        raise TypeError("%r returned a coroutine; run async jobs with the "
                        "default (reactor) executor" % (func,))
    if isinstance(result, Deferred):
        raise TypeError("%r returned a Deferred; run such jobs with the "
                        "default (reactor) executor" % (func,))
    return result


def check_max_workers(max_workers):
    """A pool size: an integer >= 1, else L{BadArgumentError}."""
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise BadArgumentError("max_workers: expected an integer >= 1, not %r" % (max_workers,))
    return max_workers


def format_seconds(seconds):
    """C{5} -> C{"5 s"}, C{0.25} -> C{"0.25 s"}."""
    return "%g s" % (seconds,)


def timed_out(timeout, consequence):
    """L{JobTimedOut}: "timed out after N s; " + C{consequence}."""
    return JobTimedOut("timed out after %s; %s" % (format_seconds(timeout), consequence))


def add_timeout(d, timeout, reactor, consequence):
    """
    Cancel C{d} after C{timeout} seconds (C{None}: never) and fail it with
    L{JobTimedOut}: "timed out after N s; " + C{consequence}.
    """
    if timeout is None:
        return d

    def on_cancel(result, _):
        if isinstance(result, Failure):
            raise timed_out(timeout, consequence)
        return result
    return d.addTimeout(timeout, reactor, onTimeoutCancel=on_cancel)
