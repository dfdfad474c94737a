"""
The default executor: calls jobs in the reactor thread.
"""

from twisted.internet.defer import succeed
from zope.interface import implementer

from twistedsched.executors.base import call_in_reactor, call_now
from twistedsched.interfaces import IImmediateExecutor


@implementer(IImmediateExecutor)
class ReactorExecutor:
    """
    Calls each job in the reactor thread.  Right for jobs that return
    quickly, return Deferreds or are C{async def}; a job that blocks stalls
    the whole process (use the thread executor for those).
    """

    def start(self, scheduler, alias):
        pass

    def shutdown(self, wait=True):
        return succeed(None)

    def run(self, func, args, kwargs):
        return call_in_reactor(func, args, kwargs)

    def call(self, func, args, kwargs):
        return call_now(func, args, kwargs)
