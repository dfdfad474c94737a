"""
The scheduler is not thread-safe: its public methods must be called in the
reactor's thread.  L{reactor_thread_only} makes a call from another thread
raise at once, instead of scheduling a job that never runs (the reactor is
not woken by a timer set from another thread).
"""

import functools
import threading

from twisted.python import threadable

from twistedsched.errors import SchedulerStateError


def check_reactor_thread(what):
    """
    Raise L{SchedulerStateError} if the reactor runs in another thread than
    this one.  Before the reactor runs, any thread may call.
    """
    io_thread = threadable.ioThread
    if io_thread is not None and io_thread != threadable.getThreadID():
        raise SchedulerStateError(
            "%s was called from thread %r, not the reactor's: call it in the reactor's "
            "thread, e.g. reactor.callFromThread(scheduler.%s, ...), or "
            "twisted.internet.threads.blockingCallFromThread(reactor, scheduler.%s, ...)"
            % (what, threading.current_thread().name, what, what))


def reactor_thread_only(method):
    """Decorate a scheduler method so that it raises if called off the reactor's thread."""
    name = method.__name__

    @functools.wraps(method)
    def checked(*args, **kwargs):
        check_reactor_thread(name)
        return method(*args, **kwargs)
    return checked
