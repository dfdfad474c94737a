"""
The thread executor: runs blocking jobs in a thread pool of fixed size.
"""

import threading

from twisted.internet.defer import succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from twistedsched.executors.base import add_timeout, call_blocking, check_max_workers
from twistedsched.interfaces import IExecutor


@implementer(IExecutor)
class ThreadPoolExecutor:
    """
    Runs jobs in its own L{ThreadPool <twisted.python.threadpool.ThreadPool>}
    of at most C{max_workers} threads, started and stopped with the scheduler.
    A thread cannot be stopped: at a job's C{timeout} the run fails, the
    thread runs on, holding its place in the pool, and what it returns later
    is dropped.
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

    def run(self, func, args, kwargs, timeout=None):
        if self._pool is None:
            raise RuntimeError("the thread executor is not started")
        d = deferToThreadPool(self._reactor, self._pool, call_blocking, func, args, kwargs)
        return add_timeout(d, timeout, self._reactor,
                           "a thread cannot be stopped: it runs on, its result dropped")
