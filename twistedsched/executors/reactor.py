"""
The default executor: calls jobs in the reactor thread.
"""

from twisted.internet.defer import succeed
from zope.interface import implementer

from twistedsched.executors.base import add_timeout, call_in_reactor, call_now
from twistedsched.interfaces import IImmediateExecutor


@implementer(IImmediateExecutor)
class ReactorExecutor:
    """
    Calls each job in the reactor thread.  Right for jobs that return
    quickly, return Deferreds or are C{async def}; a job that blocks stalls
    the whole process (use the thread executor for those).  At its
    C{timeout}, a job's Deferred (or coroutine) is cancelled.
    """

    def __init__(self):
        self._reactor = None

    def start(self, scheduler, alias):
        self._reactor = scheduler.reactor

    def shutdown(self, wait=True):
        return succeed(None)

    def run(self, func, args, kwargs, timeout=None):
        d = call_in_reactor(func, args, kwargs)
        if timeout is None or (d.called and not d.paused):
            return d
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        return add_timeout(d, timeout, reactor, "its Deferred was cancelled")

    #: L{IImmediateExecutor.call}: C{call_now} itself (no frame of ours on the fire path).
    call = staticmethod(call_now)
