"""
Tests for the memory job store.
"""

import random

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from twistedsched.errors import ConflictingIdError, JobLookupError
from twistedsched.interfaces import IJobStore
from twistedsched.job import Job
from twistedsched.stores import MemoryJobStore, memory
from twistedsched.triggers import IntervalTrigger

from tests.helpers import START, after


def make_job(job_id, seconds):
    trigger = IntervalTrigger(seconds=60, start_date=START)
    return Job(None, print, trigger, id=job_id,
               next_run_time=None if seconds is None else after(seconds))


class MemoryStoreTestCase(unittest.TestCase):
    """A fresh memory store, and L{add} to put a job in it."""

    def setUp(self):
        self.store = MemoryJobStore()

    def add(self, job_id, seconds):
        job = make_job(job_id, seconds)
        self.successResultOf(self.store.add_job(job))
        return job


class MemoryJobStoreTests(MemoryStoreTestCase):

    def test_interface(self):
        verifyObject(IJobStore, self.store)

    def test_add_lookup_remove(self):
        job = self.add("a", 10)
        self.assertIs(self.successResultOf(self.store.lookup_job("a")), job)
        self.successResultOf(self.store.remove_job("a"))
        self.assertIsNone(self.successResultOf(self.store.lookup_job("a")))

    def test_conflicting_and_missing_ids(self):
        self.add("a", 10)
        self.failureResultOf(self.store.add_job(make_job("a", 5)), ConflictingIdError)
        self.failureResultOf(self.store.remove_job("b"), JobLookupError)
        self.failureResultOf(self.store.update_job(make_job("b", 5)), JobLookupError)

    def test_next_run_time_follows_updates_and_removals(self):
        self.add("a", 30)
        self.add("b", 10)
        self.add("p", None)
        self.assertEqual(self.successResultOf(self.store.get_next_run_time()), after(10))
        self.successResultOf(self.store.update_job(make_job("b", 50)))
        self.assertEqual(self.successResultOf(self.store.get_next_run_time()), after(30))
        self.successResultOf(self.store.remove_job("a"))
        self.assertEqual(self.successResultOf(self.store.get_next_run_time()), after(50))
        self.successResultOf(self.store.update_job(make_job("b", None)))
        self.assertIsNone(self.successResultOf(self.store.get_next_run_time()))

    def test_due_jobs_in_order_and_limited(self):
        for n in (5, 1, 3, 9, 7):
            self.add("j%d" % n, n)
        due = self.successResultOf(self.store.acquire_due_jobs(after(7), 10))
        self.assertEqual([j.id for j in due], ["j1", "j3", "j5", "j7"])
        due = self.successResultOf(self.store.acquire_due_jobs(after(7), 2))
        self.assertEqual([j.id for j in due], ["j1", "j3"])
        # Acquiring leaves them scheduled until they are written back.
        self.assertEqual(self.successResultOf(self.store.get_next_run_time()), after(1))

    def test_listing_orders_paused_last_and_pages(self):
        self.add("late", 20)
        self.add("paused", None)
        self.add("early", 10)
        jobs = self.successResultOf(self.store.get_jobs())
        self.assertEqual([j.id for j in jobs], ["early", "late", "paused"])
        page = self.successResultOf(self.store.get_jobs(1, 1))
        self.assertEqual([j.id for j in page], ["late"])
        self.assertEqual(self.successResultOf(self.store.count_jobs()), 3)

    def test_listing_follows_changes(self):
        self.add("a", 10)
        self.add("b", 20)
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs())], ["a", "b"])
        self.successResultOf(self.store.update_job(make_job("b", 5)))
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs())], ["b", "a"])
        self.successResultOf(self.store.remove_job("b"))
        self.add("c", 1)
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs())], ["c", "a"])

    def test_listing_by_id_pages_with_a_cursor(self):
        for job_id, seconds in (("b", 10), ("a", 30), ("é", 5), ("c", None), ("B", 20)):
            self.add(job_id, seconds)
        ids = lambda d: [job.id for job in self.successResultOf(d)]
        self.assertEqual(ids(self.store.get_jobs_by_id()), ["B", "a", "b", "c", "é"])
        self.assertEqual(ids(self.store.get_jobs_by_id(limit=2)), ["B", "a"])
        self.assertEqual(ids(self.store.get_jobs_by_id("a", 2)), ["b", "c"])
        self.assertEqual(ids(self.store.get_jobs_by_id("bb")), ["c", "é"])
        self.assertEqual(ids(self.store.get_jobs_by_id("é")), [])
        # A cursor does not move when run times change or jobs go.
        self.successResultOf(self.store.update_job(make_job("b", 1)))
        self.successResultOf(self.store.remove_job("a"))
        self.add("d", 1)
        self.assertEqual(ids(self.store.get_jobs_by_id("a", 2)), ["b", "c"])
        self.assertEqual(ids(self.store.get_jobs_by_id("c")), ["d", "é"])

    def test_remove_all(self):
        self.add("a", 1)
        self.successResultOf(self.store.remove_all_jobs())
        self.assertEqual(self.successResultOf(self.store.get_jobs()), [])
        self.assertIsNone(self.successResultOf(self.store.get_next_run_time()))

    def test_random_operations_match_a_model(self):
        """A random mix of operations agrees with a plain dict."""
        rng = random.Random(1)
        model = {}
        for step in range(2000):
            job_id = "j%d" % rng.randrange(50)
            action = rng.random()
            seconds = rng.choice([None, rng.randrange(1000)])
            if action < 0.4:
                d = self.store.add_job(make_job(job_id, seconds))
                if job_id in model:
                    self.failureResultOf(d, ConflictingIdError)
                else:
                    self.successResultOf(d)
                    model[job_id] = seconds
            elif action < 0.7 and job_id in model:
                self.successResultOf(self.store.update_job(make_job(job_id, seconds)))
                model[job_id] = seconds
            elif job_id in model:
                self.successResultOf(self.store.remove_job(job_id))
                del model[job_id]
            times = [s for s in model.values() if s is not None]
            expected = after(min(times)) if times else None
            self.assertEqual(self.successResultOf(self.store.get_next_run_time()), expected)
        due = self.successResultOf(self.store.acquire_due_jobs(after(500), 1000))
        self.assertEqual(sorted(j.id for j in due),
                         sorted(k for k, s in model.items() if s is not None and s <= 500))

    def test_heap_does_not_grow_without_bound(self):
        """Rescheduling one job many times leaves few stale heap entries behind."""
        self.add("a", 0)
        for n in range(1, 10000):
            self.successResultOf(self.store.acquire_due_jobs(after(n), 10))
            self.successResultOf(self.store.update_job(make_job("a", n + 1)))
        self.assertLess(len(self.store._heap), 10)


class QuickListingTests(MemoryStoreTestCase):
    """
    The first jobs of a listing come from a walk of the heap; they are the
    first of the whole sorted listing, whatever happened to the store.
    """

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["add", "update", "remove", "acquire"]),
                              st.integers(0, 11), st.one_of(st.none(), st.integers(0, 5))),
                    max_size=60),
           st.integers(0, 14), st.integers(0, 14))
    def test_first_pages_are_the_sorted_listing(self, operations, offset, limit):
        store = MemoryJobStore()
        for operation, number, seconds in operations:
            job_id = "j%d" % (number,)
            stored = job_id in store._jobs
            if operation == "add" and not stored:
                self.successResultOf(store.add_job(make_job(job_id, seconds)))
            elif operation == "update" and stored:
                self.successResultOf(store.update_job(make_job(job_id, seconds)))
            elif operation == "remove" and stored:
                self.successResultOf(store.remove_job(job_id))
            elif operation == "acquire":     # handed out, not written back
                self.successResultOf(store.acquire_due_jobs(after(seconds or 0), 2))
        page = self.successResultOf(store.get_jobs(offset, limit))
        self.assertIsNone(store._listing, "a first page sorts nothing")
        listing = self.successResultOf(store.get_jobs())
        self.assertEqual([job.id for job in page],
                         [job.id for job in listing[offset:offset + limit]])
        self.assertEqual(sorted(job.id for job in listing), sorted(store._jobs))
        times = [job.next_run_time for job in listing]
        scheduled = [t for t in times if t is not None]
        self.assertEqual(times, scheduled + [None] * (len(times) - len(scheduled)))
        self.assertEqual(scheduled, sorted(scheduled))

    def test_ties_and_paused_order(self):
        """Ties: the one scheduled first first; paused jobs in the order they were paused."""
        for job_id in ("a", "b", "c"):
            self.add(job_id, 10)
        self.add("p", None)
        self.successResultOf(self.store.update_job(make_job("a", None)))
        self.successResultOf(self.store.update_job(make_job("b", 20)))
        self.successResultOf(self.store.update_job(make_job("b", 10)))   # after c now
        expected = ["c", "b", "p", "a"]
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs(0, 4))],
                         expected)
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs())], expected)

    def test_beyond_the_quick_listing_sorts_once(self):
        self.patch(memory, "QUICK_LISTING", 2)
        for n in (3, 1, 2):
            self.add("j%d" % (n,), n)
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs(1, 2))],
                         ["j2", "j3"])
        self.assertIsNotNone(self.store._listing)


class SameJobAgainTests(unittest.TestCase):
    """
    A retried add (same id, same job) succeeds, as on Redis, so that a client
    told an add failed (it lost the connection) may simply add it again.
    """

    def test_retry_is_success_and_another_job_is_refused(self):
        from tests.helpers import make_scheduler
        sched, clock = make_scheduler(self)
        sched.task("greet")(lambda *a: None)
        first = self.successResultOf(sched.add_job("greet", "interval", seconds=10, id="a",
                                                   args=[1]))
        clock.advance(3)        # a retry computes a later start date
        self.successResultOf(sched.add_job("greet", "interval", seconds=10, id="a", args=[1]))
        [stored] = self.successResultOf(sched.get_jobs())
        self.assertEqual(stored.next_run_time, first.next_run_time)
        for changed in (dict(args=[2]), dict(seconds=11), dict(name="other")):
            options = dict(dict(seconds=10, args=[1]), **changed)
            self.failureResultOf(sched.add_job("greet", "interval", id="a", **options),
                                 ConflictingIdError)

    def test_callables_without_a_reference_are_never_the_same(self):
        from tests.helpers import make_scheduler
        sched, _ = make_scheduler(self)
        func = lambda: None    # noqa: E731 (no text reference)
        self.successResultOf(sched.add_job(func, "interval", seconds=10, id="a"))
        self.failureResultOf(sched.add_job(func, "interval", seconds=10, id="a"),
                             ConflictingIdError)
