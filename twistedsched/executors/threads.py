"""
The thread executor: runs blocking jobs in a thread pool of fixed size.
"""

import threading

from twisted.internet.defer import succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from twistedsched.executors.base import call_blocking, check_max_workers
from twistedsched.interfaces import IExecutor


@implementer(IExecutor)
class ThreadPoolExecutor:
    """
    Runs jobs in its own L{ThreadPool <twisted.python.threadpool.ThreadPool>}
    of at most C{max_workers} threads, started and stopped with the scheduler.
    """

    def __init__(self, max_workers=10):
        self.max_workers = check_max_workers(max_workers)
        self._pool = None
        self._reactor = None

    def start(self, scheduler, alias):
        self._reactor = scheduler.reactor
        if self._pool is None:
            self._pool = ThreadPool(0, self.max_workers, name="twistedsched-%s" % (alias,))
            self._pool.start()

    def shutdown(self, wait=True):
        pool, self._pool = self._pool, None
        if pool is not None:
            if wait:
                pool.stop()
            else:
                threading.Thread(target=pool.stop, daemon=True).start()
        return succeed(None)

    def run(self, func, args, kwargs):
        if self._pool is None:
            raise RuntimeError("the thread executor is not started")
        return deferToThreadPool(self._reactor, self._pool, call_blocking, func, args, kwargs)
