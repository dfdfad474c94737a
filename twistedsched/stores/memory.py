"""
The memory job store: jobs in a dict, run order in a heap.

Adding, updating, removing and finding the next due job cost O(log n): the
heap keeps (run time, sequence, job id) entries and stale entries (of removed
or rescheduled jobs) are dropped lazily when they reach the top.  Each job's
last runs are a capped deque (of tuples, which take half the memory of
dicts), removed with the job.
"""

import collections
import heapq
import itertools

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from twistedsched.errors import ConflictingIdError, JobLookupError
from twistedsched.history import FIELDS
from twistedsched.interfaces import IJobStore
from twistedsched.timeutil import to_timestamp


def _deferred(func):
    """Run C{func} now and return its outcome as a fired Deferred."""
    def wrapper(*args, **kwargs):
        try:
            return succeed(func(*args, **kwargs))
        except Exception:
            return fail()
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@implementer(IJobStore)
class MemoryJobStore:
    """Keeps jobs in this process; they are gone when it exits."""

    def __init__(self):
        self._jobs = {}        # id -> Job
        self._current = {}     # id -> sequence number of its live heap entry
        self._heap = []        # (timestamp, sequence, id)
        self._sequence = itertools.count()
        self._added = {}       # id -> order of addition, for stable listing
        self._listing = None   # jobs in listing order, until the next change
        self._runs = {}        # id -> deque of run records as tuples of FIELDS, newest last

    def start(self, scheduler, alias):
        pass

    def shutdown(self):
        pass

    def _push(self, job):
        if job.next_run_time is None:
            self._current.pop(job.id, None)
            return
        seq = next(self._sequence)
        self._current[job.id] = seq
        heapq.heappush(self._heap, (to_timestamp(job.next_run_time), seq, job.id))

    def _drop_stale(self):
        heap = self._heap
        while heap and self._current.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)

    @_deferred
    def add_job(self, job):
        self._listing = None
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._jobs[job.id] = job
        self._added[job.id] = next(self._sequence)
        self._push(job)
        return None

    @_deferred
    def update_job(self, job):
        self._listing = None
        if job.id not in self._jobs:
            raise JobLookupError(job.id)
        old = self._jobs[job.id]
        self._jobs[job.id] = job
        if old.next_run_time != job.next_run_time or job.id not in self._current:
            self._push(job)
        return None

    @_deferred
    def remove_job(self, job_id):
        self._listing = None
        if job_id not in self._jobs:
            raise JobLookupError(job_id)
        del self._jobs[job_id]
        del self._added[job_id]
        self._runs.pop(job_id, None)
        self._current.pop(job_id, None)
        self._drop_stale()
        return None

    @_deferred
    def remove_all_jobs(self):
        self._listing = None
        self._jobs.clear()
        self._current.clear()
        self._added.clear()
        self._runs.clear()
        del self._heap[:]
        return None

    @_deferred
    def lookup_job(self, job_id):
        return self._jobs.get(job_id)

    @_deferred
    def get_jobs(self, offset=0, limit=None):
        if self._listing is None:
            def order(job):
                paused = job.next_run_time is None
                return (paused, 0 if paused else to_timestamp(job.next_run_time),
                        self._added[job.id])
            # Sorted once, then reused while nothing changes (paging).
            self._listing = sorted(self._jobs.values(), key=order)
        end = None if limit is None else offset + limit
        return self._listing[offset:end]

    @_deferred
    def count_jobs(self):
        return len(self._jobs)

    @_deferred
    def acquire_due_jobs(self, now, limit):
        deadline = to_timestamp(now)
        taken = []
        due = []
        heap = self._heap
        while heap and len(due) < limit:
            self._drop_stale()
            if not heap or heap[0][0] > deadline:
                break
            entry = heapq.heappop(heap)
            taken.append(entry)
            due.append(self._jobs[entry[2]])
        # The jobs stay scheduled until the scheduler writes them back.
        for entry in taken:
            heapq.heappush(heap, entry)
        return due

    @_deferred
    def get_next_run_time(self):
        self._drop_stale()
        if not self._heap:
            return None
        return self._jobs[self._heap[0][2]].next_run_time

    @_deferred
    def append_run(self, job_id, record, size):
        if job_id not in self._jobs or size <= 0:
            return None
        runs = self._runs.get(job_id)
        if runs is None or runs.maxlen != size:
            runs = self._runs[job_id] = collections.deque(runs or (), maxlen=size)
        runs.append(tuple([record.get(key) for key in FIELDS]))
        return None

    @_deferred
    def get_runs(self, job_id, limit=None):
        runs = self._runs.get(job_id, ())
        newest = [dict(zip(FIELDS, run)) for run in reversed(runs)]
        return newest if limit is None else newest[:limit]

    def __len__(self):
        return len(self._jobs)
