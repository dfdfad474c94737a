"""
The memory job store: jobs in a dict, run order in a heap.

Adding, updating, removing and finding the next due job cost O(log n): the
heap keeps (run time, sequence, job id) entries and stale entries (of removed
or rescheduled jobs) are dropped lazily when they reach the top, or all at
once when they outnumber the live ones.  A due job handed out by
C{acquire_due_jobs} leaves the heap until it is written back (C{update_job},
C{remove_job}); one not written back returns to the heap before the next
look at it.

Listing orders scheduled jobs by run time (ties: the one scheduled first
first), then the paused ones (in the order they were paused).  The first
L{QUICK_LISTING} jobs are found by walking the heap from its top, in
O(k log k) for k jobs, so that a first page stays quick after any change
whatever the store's size; a listing further than that is sorted once and
reused while nothing changes.

C{add_job_now}, C{remove_job_now}, C{update_job_now} and C{append_run_now}
are C{add_job}, C{remove_job}, C{update_job} and C{append_run} without the
Deferred: the scheduler adds jobs, writes due jobs back and keeps one-shot
jobs' runs through them (a subclass that changes one of a pair changes the
other too).

Each job's last runs are a short list of tuples (a deque would cost a 64-slot
block, tuples take half the memory of dicts), capped and removed with the job;
but a job removed as it runs (its trigger has no more fire times: a one-shot
job) keeps them, and the records of its last runs, for the scheduler's
C{history_retention} seconds, at most C{history_retained_jobs} such jobs (the
oldest go first).
"""

import bisect
import collections
import heapq
import itertools

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from twistedsched.errors import ArgumentBytesExceeded, ConflictingIdError, JobLookupError
from twistedsched.history import FIELDS, stored_record
from twistedsched.interfaces import IJobStore
from twistedsched.job import argument_bytes, same_job_data
from twistedsched.timeutil import to_timestamp

#: Listings that end within this many jobs walk the heap instead of sorting all.
QUICK_LISTING = 10000


def _same_job(stored, added):
    """
    Whether C{added} is C{stored} again (see
    L{twistedsched.job.same_job_data}); jobs whose callable has no text
    reference are never the same.
    """
    try:
        return same_job_data(stored.to_dict(), added.to_dict())
    except Exception:
        return False


def _deferred(func, name=None):
    """Run C{func} now and return its outcome as a fired Deferred."""
    def wrapper(*args, **kwargs):
        try:
            return succeed(func(*args, **kwargs))
        except Exception:
            return fail()
    wrapper.__name__ = name or func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _from_record(append_run_now):
    """C{append_run_now} taking a record dict (L{append_run <IJobStore.append_run>}'s form)."""
    def append_run(self, job_id, record, size):
        return append_run_now(self, job_id, tuple(map(record.get, FIELDS)), size)
    return append_run


@implementer(IJobStore)
class MemoryJobStore:
    """
    Keeps jobs in this process; they are gone when it exits.

    @param max_argument_bytes: the most memory (see
        L{twistedsched.job.argument_bytes}) the arguments of all its jobs
        together may take; adding or changing a job past it fails with
        L{ArgumentBytesExceeded}.  C{None}: no limit (and no counting).
    """

    def __init__(self, max_argument_bytes=None):
        self.max_argument_bytes = max_argument_bytes
        self.argument_bytes = 0     # counted only with a limit
        self._sizes = {}            # id -> argument bytes of the job (with a limit)
        self._jobs = {}        # id -> Job
        self._current = {}     # id -> sequence number of its live heap entry
        self._heap = []        # (timestamp, sequence, id)
        self._taken = {}       # id -> heap entry of a due job handed out, not written back
        self._sequence = itertools.count()
        self._listing = None   # jobs in listing order, until the next change
        self._ids = None       # the ids in order, until one is added or removed
        self._paused = {}      # ids of paused jobs, in the order they were paused
        self._runs = {}        # id -> list of runs as tuples (see stored_record), newest last
        # Ended jobs' runs, oldest first: id -> (when they go, list as in _runs).
        self._retained = collections.OrderedDict()
        self.retention = 0              # seconds (0: not kept); set by start()
        self.retained_jobs = 0
        self._seconds = None            # the scheduler's clock

    def start(self, scheduler, alias):
        if scheduler is not None:
            self.retention = getattr(scheduler, "history_retention", 0)
            self.retained_jobs = getattr(scheduler, "history_retained_jobs", 0)
            self._seconds = scheduler.reactor.seconds

    def shutdown(self):
        pass

    def _push(self, job):
        if job.next_run_time is None:
            self._current.pop(job.id, None)
            self._paused[job.id] = None
            return
        self._paused.pop(job.id, None)
        seq = next(self._sequence)
        self._current[job.id] = seq
        heapq.heappush(self._heap, (to_timestamp(job.next_run_time), seq, job.id))
        if len(self._heap) > 2 * len(self._current) + 64:
            self._compact()

    def _drop_stale(self):
        heap = self._heap
        while heap and self._current.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)

    def _compact(self):
        """Drop every stale entry (removals far from the top leave them behind)."""
        current = self._current
        self._heap = [entry for entry in self._heap if current.get(entry[2]) == entry[1]]
        heapq.heapify(self._heap)

    def _release(self):
        """Put back the entries of due jobs handed out and not written back."""
        if self._taken:
            for entry in self._taken.values():
                heapq.heappush(self._heap, entry)
            self._taken.clear()

    def _count_arguments(self, job, old_size):
        """Count a job's arguments in place of C{old_size}; refuse them past the limit."""
        size = argument_bytes(job.args, job.kwargs)
        total = self.argument_bytes - old_size + size
        if size > old_size and total > self.max_argument_bytes:
            raise ArgumentBytesExceeded(
                "job %r: its arguments take %d bytes, and the jobs stored hold %d; "
                "together more than the %d allowed (max_argument_bytes; the daemon's "
                "--max-stored-bytes)" % (
                    job.id, size, self.argument_bytes - old_size, self.max_argument_bytes))
        self._sizes[job.id] = size
        self.argument_bytes = total

    def add_job_now(self, job):
        """L{add_job}, done at once: returns C{None} or raises (for the scheduler's adds)."""
        self._listing = self._ids = None
        if job.id in self._jobs:
            if _same_job(self._jobs[job.id], job):
                return None     # a retried add of the same job: success, as on Redis
            raise ConflictingIdError(job.id)
        if self.max_argument_bytes is not None:
            self._count_arguments(job, 0)
        self._jobs[job.id] = job
        self._push(job)
        return None

    add_job = _deferred(add_job_now, "add_job")

    def update_job_now(self, job):
        """L{update_job}, done at once: returns C{None} or raises (for the scheduler's due jobs)."""
        self._listing = None
        if job.id not in self._jobs:
            raise JobLookupError(job.id)
        old = self._jobs[job.id]
        if self.max_argument_bytes is not None and (
                old.args is not job.args or old.kwargs is not job.kwargs):
            self._count_arguments(job, self._sizes.get(job.id, 0))
        self._jobs[job.id] = job
        taken = self._taken.pop(job.id, None)
        # The scheduler writes back the very instance it got from
        # acquire_due_jobs, with new run times: then old is job.
        if old is job or old.next_run_time != job.next_run_time or job.id not in self._current:
            self._push(job)
        elif taken is not None:
            heapq.heappush(self._heap, taken)
        return None

    update_job = _deferred(update_job_now, "update_job")

    def remove_job_now(self, job_id, ended=False):
        """
        L{remove_job}, done at once: returns C{None} or raises (for the
        scheduler's due jobs).  A job that C{ended} (or was handed out as
        due: its trigger ended as it ran) keeps its runs for a while.
        """
        if self._jobs.pop(job_id, None) is None:
            raise JobLookupError(job_id)
        self._listing = self._ids = None
        if self._sizes:
            self.argument_bytes -= self._sizes.pop(job_id, 0)
        if self._paused:
            self._paused.pop(job_id, None)
        runs = self._runs.pop(job_id, None) if self._runs else None
        self._current.pop(job_id, None)
        if (self._taken.pop(job_id, None) is not None or ended) and self.retention:
            self._retain(job_id, runs)      # removed as it runs (its trigger ended), or ended
        elif self._retained:
            self._retained.pop(job_id, None)
        if len(self._heap) > 2 * len(self._current) + 64:
            self._compact()
        return None

    remove_job = _deferred(remove_job_now, "remove_job")

    def end_job(self, job_id):
        """Remove a job a policy ended (C{max_runs}): its runs are kept as an ended job's."""
        return self.remove_job(job_id, ended=True)

    @_deferred
    def remove_all_jobs(self):
        self._listing = self._ids = None
        self._jobs.clear()
        self._sizes.clear()
        self.argument_bytes = 0
        self._paused.clear()
        self._current.clear()
        self._runs.clear()
        self._retained.clear()
        self._taken.clear()
        del self._heap[:]
        return None

    @_deferred
    def lookup_job(self, job_id):
        return self._jobs.get(job_id)

    @_deferred
    def get_jobs(self, offset=0, limit=None):
        end = None if limit is None else offset + limit
        if self._listing is None and end is not None and end <= QUICK_LISTING:
            return self._first_jobs(end)[offset:]
        if self._listing is None:
            # Sorted once, then reused while nothing changes (paging).
            self._listing = self._in_order(sorted(self._live_entries()), len(self._paused))
        return self._listing[offset:end]

    def _live_entries(self):
        """The heap entries of the scheduled jobs (handed out ones too), unordered."""
        current = self._current
        live = [entry for entry in self._heap if current.get(entry[2]) == entry[1]]
        live.extend(self._taken.values())
        return live

    def _first_jobs(self, count):
        """
        The first C{count} jobs in listing order, without sorting them all:
        a walk of the heap from its top, a frontier heap of (entry, index).
        """
        heap, current = self._heap, self._current
        frontier = [(entry, -1) for entry in self._taken.values()]    # -1: no children
        if heap:
            frontier.append((heap[0], 0))
        heapq.heapify(frontier)
        first = []
        size = len(heap)
        while frontier and len(first) < count:
            entry, index = heapq.heappop(frontier)
            if index >= 0:
                for child in (2 * index + 1, 2 * index + 2):
                    if child < size:
                        heapq.heappush(frontier, (heap[child], child))
            if current.get(entry[2]) == entry[1]:
                first.append(entry)
        return self._in_order(first, count - len(first))

    def _in_order(self, entries, paused):
        """The jobs of sorted heap entries, then the first C{paused} paused jobs."""
        jobs = self._jobs
        listing = [jobs[entry[2]] for entry in entries]
        listing.extend(jobs[job_id] for job_id in itertools.islice(self._paused, paused))
        return listing

    @_deferred
    def get_jobs_by_id(self, after=None, limit=None):
        if self._ids is None:
            self._ids = sorted(self._jobs)
        start = 0 if after is None else bisect.bisect_right(self._ids, after)
        end = None if limit is None else start + limit
        return [self._jobs[job_id] for job_id in self._ids[start:end]]

    @_deferred
    def count_jobs(self):
        return len(self._jobs)

    @_deferred
    def acquire_due_jobs(self, now, limit):
        self._release()
        deadline = to_timestamp(now)
        due = []
        heap, taken, current, jobs = self._heap, self._taken, self._current, self._jobs
        pop = heapq.heappop
        while heap and len(due) < limit:
            entry = heap[0]
            job_id = entry[2]
            if current.get(job_id) != entry[1]:
                pop(heap)                   # stale
                continue
            if entry[0] > deadline:
                break
            pop(heap)
            taken[job_id] = entry           # until the scheduler writes it back
            due.append(jobs[job_id])
        return due

    @_deferred
    def get_next_run_time(self):
        self._release()
        self._drop_stale()
        if not self._heap:
            return None
        return self._jobs[self._heap[0][2]].next_run_time

    def _retain(self, job_id, runs):
        """
        Keep an ended job's runs for C{retention} seconds.  Past the count,
        the oldest go (those whose time is up stay until then, unread).
        """
        retained = self._retained
        if job_id in retained:
            if runs is None:    # none since it was added again: those it had before
                runs = self._kept(job_id)
            del retained[job_id]
        retained[job_id] = (self._seconds() + self.retention, runs or [])
        if len(retained) > self.retained_jobs:
            retained.popitem(last=False)

    def _kept(self, job_id):
        """The retained runs of an ended job, or C{None} (none, or their time is up)."""
        held = self._retained.get(job_id)
        if held is None or held[0] <= self._seconds():
            return None
        return held[1]

    def append_run_now(self, job_id, run, size):
        """
        C{append_run} at once, of a record given as a tuple in L{FIELDS}
        order, or in short (L{twistedsched.history.ok_run}).
        """
        if size <= 0:
            return None
        runs = self._runs.get(job_id)
        if runs is None:
            held = self._retained.get(job_id) if self._retained else None
            if job_id in self._jobs:
                # A job added again under the id of an ended one continues its history.
                if held is not None:
                    del self._retained[job_id]
                runs = self._runs[job_id] = held[1] if held is not None else []
            elif held is None:
                return None
            else:
                runs = held[1]      # (if its time is up, unread: see _kept)
        runs.append(run)
        if len(runs) > size:
            del runs[:len(runs) - size]
        return None

    append_run = _deferred(_from_record(append_run_now), "append_run")

    @_deferred
    def get_runs(self, job_id, limit=None):
        runs = self._runs.get(job_id)
        if runs is None:
            runs = (self._kept(job_id) if self._retained else None) or ()
        newest = [stored_record(run) for run in reversed(runs)]
        return newest if limit is None else newest[:limit]

    def __len__(self):
        return len(self._jobs)
