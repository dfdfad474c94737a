"""
Hostile tests of the Redis store's batched write-backs and of the policies'
keys in Redis: changes made while a claimed job's write-back is queued or in
flight, stale write-backs of one-shot jobs, unreadable pending retries.
Against a real redis-server.
"""

import datetime as _dt
import json

from twisted.internet import defer
from twisted.trial import unittest

from twistedsched.errors import JobLookupError

from tests.helpers import START, after
from tests.test_redis_store import RedisTestCase, tasks

NOW = START + _dt.timedelta(seconds=10)


class ChangeDuringWriteBackTests(RedisTestCase):
    """
    A change made by the scheduler holding a claim, while the claim's
    write-back is on its way, is a change: it is kept.
    """

    @defer.inlineCallbacks
    def claimed(self, store, *job_ids):
        sched, _ = self.make_scheduler(store=store, start=False)
        for job_id in job_ids:
            yield sched.add_job("record", "interval", seconds=10, id=job_id,
                                jobstore="redis")
        jobs = yield store.acquire_due_jobs(NOW, 10)
        self.assertEqual(sorted(job.id for job in jobs), sorted(job_ids))
        return sched, {job.id: job for job in jobs}

    @defer.inlineCallbacks
    def test_pause_while_write_back_in_flight(self):
        """
        The scheduler writes back a due job (sent, not yet answered); the
        job is paused meanwhile through the same store: it stays paused.
        """
        store = self.make_store(tasks=tasks())
        sched, jobs = yield self.claimed(store, "j")
        job = jobs["j"]
        job.next_run_time = job.scheduled_run_time = after(20)
        written = store.update_job(job)
        store._flush_batch()                    # in flight, unanswered
        paused = job.copy()
        paused.next_run_time = paused.scheduled_run_time = None
        yield defer.gatherResults([written, store.update_job(paused)])
        stored = yield store.lookup_job("j")
        self.assertIsNone(stored.next_run_time)
        self.assertEqual(store._claimed, set())

    @defer.inlineCallbacks
    def test_modify_queued_after_write_back(self):
        """A change queued after the write-back in the same turn is kept too."""
        store = self.make_store(tasks=tasks())
        sched, jobs = yield self.claimed(store, "j")
        job = jobs["j"]
        job.next_run_time = job.scheduled_run_time = after(20)
        written = store.update_job(job)
        changed = job.copy()
        changed.name = "changed"
        yield defer.gatherResults([written, store.update_job(changed)])
        stored = yield store.lookup_job("j")
        self.assertEqual((stored.name, stored.next_run_time), ("changed", after(20)))

    @defer.inlineCallbacks
    def test_removal_while_write_back_in_flight(self):
        """
        A user's removal of a job whose write-back is in flight removes it,
        tells the others (a change) and deletes its history (it did not end).
        """
        store = self.make_store(tasks=tasks())
        sched, jobs = yield self.claimed(store, "j")
        yield store.append_run("j", {"outcome": "ok"}, 10)
        yield store.set_retention(3600, 100)
        job = jobs["j"]
        job.next_run_time = job.scheduled_run_time = after(20)
        written = store.update_job(job)
        store._flush_batch()
        removed = store.remove_job("j")
        yield defer.DeferredList([written, removed], consumeErrors=True)
        yield removed
        self.assertIsNone((yield store.lookup_job("j")))
        self.assertEqual((yield store.get_runs("j")), [])


class StaleOneShotWriteBackTests(RedisTestCase):
    """
    The write-back of a one-shot job (its removal) by a scheduler that lost
    its claim does not remove what another scheduler made of the job meanwhile.
    """

    @defer.inlineCallbacks
    def claim_one_shot(self):
        mine = self.make_store(tasks=tasks())
        other, _ = self.make_scheduler(store=self.make_store(tasks=tasks()), start=False)
        yield other.add_job("record", "date", run_date=after(5), id="once", jobstore="redis")
        claimed = yield mine.acquire_due_jobs(NOW, 10)
        self.assertEqual([job.id for job in claimed], ["once"])
        return mine, other

    @defer.inlineCallbacks
    def test_rescheduled_meanwhile(self):
        mine, other = yield self.claim_one_shot()
        yield other.modify_job("once", "redis", next_run_time=after(3600))
        yield mine.remove_job("once")           # the scheduler's write-back
        stored = yield mine.lookup_job("once")
        self.assertIsNotNone(stored)
        self.assertEqual(stored.next_run_time, after(3600))

    @defer.inlineCallbacks
    def test_removed_and_added_again_meanwhile(self):
        mine, other = yield self.claim_one_shot()
        yield other.remove_job("once", "redis")
        yield other.add_job("record", "interval", seconds=60, id="once", args=["new"],
                            jobstore="redis")
        yield mine.remove_job("once")
        stored = yield mine.lookup_job("once")
        self.assertIsNotNone(stored)
        self.assertEqual(stored.args, ("new",))

    @defer.inlineCallbacks
    def test_unchanged_one_shot_is_removed(self):
        """(The guard's other side: a write-back that holds the claim removes it.)"""
        mine, other = yield self.claim_one_shot()
        yield mine.remove_job("once")
        self.assertIsNone((yield mine.lookup_job("once")))
        self.assertEqual(mine._claimed, set())

    @defer.inlineCallbacks
    def test_retried_removal_keeps_the_kept_history(self):
        """
        A one-shot job's write-back sent again (its answer was lost, Redis
        restarting) finds the job gone: the history kept for it stays.
        """
        mine, other = yield self.claim_one_shot()
        yield mine.set_retention(3600, 100)
        yield mine.remove_job("once")
        yield mine.append_run("once", {"outcome": "ok"}, 10)
        self.assertEqual(len((yield mine.get_runs("once"))), 1)
        again = defer.Deferred()
        yield mine._send_batch([("once", "r", "", "", [], again)])
        yield self.assertFailure(again, JobLookupError)
        self.assertEqual(len((yield mine.get_runs("once"))), 1)


class UnreadableRetryTests(RedisTestCase):
    """Pending retries in Redis that cannot be read hide no other retry."""

    @defer.inlineCallbacks
    def test_unreadable_retries_set_aside(self):
        store = self.make_store(tasks=tasks())
        sched, _ = self.make_scheduler(store=store, start=False)
        yield sched.add_job("record", "interval", seconds=10, id="j", jobstore="redis")
        key = self.namespace + ":retries"
        for i in range(100):
            self.server.command("ZADD", key, 0, "garbage %d" % i)
        self.server.command("ZADD", key, 0, json.dumps(["j", "two", 0]))
        self.server.command("ZADD", key, 0, json.dumps([["j"], 2, 0]))
        self.server.command("ZADD", key, 0, "x" * 3000000)
        self.server.command("ZADD", key, 0, json.dumps(["j", 2, 0, "x" * 3000000]))
        member = yield store.add_retry("j", 2, after(0), NOW.timestamp())
        seen = []
        for _ in range(3):
            seen = yield store.pending_retries()
            if seen:
                break
        self.assertEqual([(retry[0], retry[1], retry[2]) for retry in seen], [(member, "j", 2)])
        self.assertEqual(self.server.command("ZCARD", key + ":unreadable"), b":104\r\n")
        self.assertEqual(self.server.command("ZCARD", key), b":1\r\n")
        self.assertTrue((yield store.take_retry(member)))
        yield store.remove_all_jobs()
        self.assertEqual(self.server.command("EXISTS", key + ":unreadable"), b":0\r\n")

    @defer.inlineCallbacks
    def test_carried_job_not_loadable_here_stays(self):
        """A retry whose carried job this scheduler cannot load stays for another."""
        store = self.make_store(tasks=tasks(), allowed_modules=[])
        key = self.namespace + ":retries"
        doc = json.dumps({"id": "gone", "func": "os:system", "trigger": {"type": "date"}})
        self.server.command("ZADD", key, 0, json.dumps(["gone", 2, 0, doc]))
        self.assertEqual((yield store.pending_retries()), [])
        self.assertEqual(self.server.command("ZCARD", key), b":1\r\n")


class JobCacheArgumentsTests(RedisTestCase):
    """A due job kept decoded hands each run arguments of its own."""

    @defer.inlineCallbacks
    def test_run_that_changes_its_arguments(self):
        """
        A run that changes its list and dict arguments in place does not
        change what the next run of the same document gets (as when it is
        decoded from JSON, as on any other scheduler).
        """
        sched, _ = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="j", args=[[1, 2]],
                            kwargs={"seen": {"n": 0}, "log": []}, jobstore="redis")
        store = self.make_store(tasks=tasks())
        for when in (10, 20):
            [job] = yield store.acquire_due_jobs(after(when), 10)
            self.assertEqual((job.args, job.kwargs),
                             (([1, 2],), {"seen": {"n": 0}, "log": []}))
            job.args[0].append(3)
            job.kwargs["seen"]["n"] += 1
            job.kwargs["log"].append("ran")
            job.next_run_time = job.scheduled_run_time = after(when + 10)
            yield store.update_job(job)


class HostileCounterTests(RedisTestCase):
    """A policy counter in Redis that is not a whole number (edited by hand)."""

    @defer.inlineCallbacks
    def test_listed_shown_and_counted_again(self):
        from twistedsched import policies
        sched, _ = self.make_scheduler()
        for job_id in ("a", "b", "c"):
            yield sched.add_job("record", "interval", seconds=1000, id=job_id,
                                jobstore="redis", max_runs=3)
        job = yield sched.get_job("b", "redis")
        yield policies.run_ended(sched, job)
        self.server.command("HSET", self.namespace + ":policy:b", "runs", "abc")
        listed = yield sched.get_jobs("redis")
        self.assertEqual(sorted(job.id for job in listed), ["a", "b", "c"])
        shown = yield sched.get_job("b", "redis")
        self.assertNotIn("runs", shown.policy_state)
        # Its runs count again (from nothing), and it still ends after max_runs.
        for _ in range(3):
            yield policies.run_ended(sched, job)
        self.assertIsNone((yield sched.get_job("b", "redis")))


class HostileKeysTests(RedisTestCase):
    """Keys of the namespace edited by hand do not stop the schedule."""

    @defer.inlineCallbacks
    def test_claim_without_a_lease_holds_nothing(self):
        """
        A claim in ns:claims with no lease (no scheduler wrote it) is
        dropped when the job is due: it was skipped for ever, and every
        scheduler looked again at once, in a loop.
        """
        sched, _ = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="j", jobstore="redis")
        self.server.command("HSET", self.namespace + ":claims", "j", "ghost")
        store = self.make_store(tasks=tasks())
        self.assertEqual([job.id for job in (yield store.acquire_due_jobs(NOW, 10))], ["j"])

    @defer.inlineCallbacks
    def test_retention_not_a_number(self):
        """
        A retention that is not a number (edited by hand) keeps nothing: a
        batch with an ended job's removal is written whole (the script
        failed half-way, leaving the rest of the batch claimed).
        """
        sched, _ = self.make_scheduler(start=False)
        yield sched.add_job("record", "date", run_date=after(5), id="once", jobstore="redis")
        yield sched.add_job("record", "interval", seconds=10, id="every", jobstore="redis")
        store = self.make_store(tasks=tasks())
        self.server.command("HSET", self.namespace + ":retention", "seconds", "abc")
        self.server.command("HSET", self.namespace + ":retention", "jobs", "100")
        jobs = {job.id: job for job in (yield store.acquire_due_jobs(NOW, 10))}
        jobs["every"].next_run_time = jobs["every"].scheduled_run_time = after(20)
        yield defer.gatherResults([store.remove_job("once"), store.update_job(jobs["every"])])
        self.assertIsNone((yield store.lookup_job("once")))
        self.assertEqual((yield store.lookup_job("every")).next_run_time, after(20))
        self.assertEqual(self.server.command("HLEN", self.namespace + ":claims"), b":0\r\n")

    @defer.inlineCallbacks
    def test_unreadable_run_to_recover(self):
        """
        An entry of ns:recover that cannot be read is logged; the runs taken
        with it are still recovered (they were dropped, the heartbeat failing).
        """
        store = self.make_store(tasks=tasks(), heartbeat=60, liveness=120)
        key = self.namespace + ":recover"
        self.server.command("RPUSH", key, "garbage")
        self.server.command("RPUSH", key, "%s\nj" % (NOW.timestamp(),))
        recovered = []
        original = store._recover
        self.patch(store, "_recover", lambda run: recovered.append(run) or original(run))
        yield store._beat()
        self.assertEqual(recovered, ["garbage", "%s\nj" % (NOW.timestamp(),)])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.server.command("LLEN", key), b":0\r\n")

    @defer.inlineCallbacks
    def test_document_of_another_id(self):
        """
        A document stored under an id that is not its own (edited by hand)
        cannot be loaded: it is taken off the schedule.  (Handed out, it was
        written back under its own id, which failed, so that its claim held
        until its lease ran out, and it ran again then, every lease, forever.)
        """
        sched, _ = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="k2", jobstore="redis")
        ns = self.namespace
        doc = self.server.command("HGET", ns + ":jobs", "k2").split(b"\r\n")[1]
        self.server.command("HSET", ns + ":jobs", "k1", doc)
        self.server.command("ZADD", ns + ":ids", 0, "k1")
        self.server.command("ZADD", ns + ":run_times", after(5).timestamp(), "k1")
        store = self.make_store(tasks=tasks())
        claimed = yield store.acquire_due_jobs(after(5), 10)
        self.assertEqual([job.id for job in claimed], [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.server.command("ZSCORE", ns + ":paused", "k1"), b"$1\r\n0\r\n")
        self.assertEqual(self.server.command("HLEN", ns + ":claims"), b":0\r\n")


class UnloadableJobTests(RedisTestCase):
    """A job whose document cannot be loaded can still be removed by its id."""

    @defer.inlineCallbacks
    def test_removed_by_its_id(self):
        from twistedsched import events as ev
        from tests.helpers import EventRecorder
        sched, _ = self.make_scheduler()
        removed = EventRecorder(sched, ev.EVENT_JOB_REMOVED)
        yield sched.add_job("record", "interval", seconds=10, id="bad", jobstore="redis")
        self.server.command("HSET", self.namespace + ":jobs", "bad", "{garbage")
        yield self.assertFailure(sched.get_job("bad", "redis"), ValueError)
        yield sched.remove_job("bad")
        self.assertEqual(self.server.command("HEXISTS", self.namespace + ":jobs", "bad"),
                         b":0\r\n")
        self.assertEqual([e.job_id for e in removed.events], ["bad"])
        yield self.assertFailure(sched.remove_job("bad"), JobLookupError)
        yield self.assertFailure(sched.remove_job("never-was"), JobLookupError)


class ScoreOfNoTimeTests(RedisTestCase):
    """A run time score that is no time (edited by hand) never stops the timer."""

    @defer.inlineCallbacks
    def test_infinite_or_too_far_score(self):
        sched, _ = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="j", jobstore="redis")
        store = sched.jobstores["redis"]
        for score in ("+inf", "1e300", str(400000 * 365 * 86400)):
            self.server.command("ZADD", self.namespace + ":run_times", score, "j")
            self.assertIsNone((yield store.get_next_run_time()), score)
            job = yield sched.get_job("j", "redis")         # shown as paused
            self.assertIsNone(job.next_run_time)
        yield sched.resume_job("j", "redis")                # scheduled again
        self.assertIsNotNone((yield store.get_next_run_time()))
