"""
The process executor: runs CPU-bound jobs in a pool of worker processes.
"""

import concurrent.futures
import multiprocessing

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from twistedsched.executors.base import call_blocking, check_max_workers
from twistedsched.interfaces import IExecutor


@implementer(IExecutor)
class ProcessPoolExecutor:
    """
    Runs jobs in at most C{max_workers} processes, started on first use.
    The function and its arguments must be picklable (a module-level
    function, plain values); workers are spawned, never forked from the
    reactor's process.
    """

    def __init__(self, max_workers=2):
        self.max_workers = check_max_workers(max_workers)
        self._pool = None
        self._reactor = None

    def start(self, scheduler, alias):
        self._reactor = scheduler.reactor

    def shutdown(self, wait=True):
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)
        return succeed(None)

    def run(self, func, args, kwargs):
        if self._reactor is None:
            raise RuntimeError("the process executor is not started")
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.max_workers, mp_context=multiprocessing.get_context("spawn"))
        future = self._pool.submit(call_blocking, func, tuple(args), dict(kwargs))
        d = Deferred()

        def done(future):
            try:
                outcome = future.result()
            except BaseException as e:
                outcome = Failure(e)
            self._reactor.callFromThread(d.callback, outcome)
        future.add_done_callback(done)
        return d
