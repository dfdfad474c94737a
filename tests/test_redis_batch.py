"""
Tests for the Redis store's batch path: due jobs written back together in
one L{ADVANCE<twistedsched.stores.redislua.ADVANCE>} call per reactor turn,
only their run times moved (the document untouched), and the readers taking
run times from the scores.  Against a real redis-server.
"""

import datetime as _dt
import json
import time

import txredisapi
from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.errors import BadArgumentError, JobLookupError, JobStoreUnavailable
from twistedsched.stores import redis as redis_store
from twistedsched.stores.redis import RedisJobStore, score

from tests.helpers import START, after, make_clock
from tests.redisserver import RedisServer
from tests.test_redis_store import RedisTestCase, calls, drive, tasks


class ScriptCounter:
    """Counts the script calls a store sends, by name."""

    def __init__(self, testcase, store):
        self.names = []
        original = store._script

        def counted(name, args):
            self.names.append(name)
            return original(name, args)
        testcase.patch(store, "_script", counted)

    def count(self, name):
        return self.names.count(name)


class BatchAdvanceTests(RedisTestCase):
    """A batch of due jobs is written back in one call, documents untouched."""

    def doc(self, job_id):
        return self.server.command("HGET", self.namespace + ":jobs", job_id)

    @defer.inlineCallbacks
    def test_mixed_batch(self):
        """
        Interval, cron, jittered and one-shot jobs due together: one
        write-back call; the recurring ones move on (their documents are not
        rewritten), the one-shot one is gone, and every reader sees the new
        run times.
        """
        sched, clock = self.make_scheduler(misfire_grace_time=None)
        store = sched.jobstores["redis"]
        for i in range(3):
            yield sched.add_job("record", "interval", seconds=10, id="every-%d" % i,
                                args=[i], jobstore="redis")
        yield sched.add_job("record", "cron", second="*/10", id="cron", jobstore="redis")
        yield sched.add_job("record", "date", run_date=after(10), id="once", jobstore="redis")
        yield sched.add_job("record", "interval", seconds=10, id="jittered", jitter=3,
                            jobstore="redis")
        before = {job_id: self.doc(job_id) for job_id in
                  ("every-0", "every-1", "every-2", "cron", "jittered")}
        jittered = yield store.lookup_job("jittered")
        counter = ScriptCounter(self, store)
        clock.advance(13)       # past the jittered run time too
        yield drive(clock, lambda: len(calls) == 6)
        yield drive(clock, lambda: not store._claimed)
        self.assertEqual(counter.count("advance"), 1)
        self.assertEqual(counter.count("update") + counter.count("remove"), 0)
        self.assertEqual(sorted(args for args, _ in calls), [(), (), (), (0,), (1,), (2,)])
        for job_id, doc in before.items():
            self.assertEqual(self.doc(job_id), doc, job_id)
        self.assertIsNone((yield store.lookup_job("once")))
        for job_id in ("every-0", "every-1", "every-2", "cron"):
            self.assertEqual((yield store.lookup_job(job_id)).next_run_time, after(20))
        # The jittered job's fire time is kept apart from its jittered run time,
        # and its next run is reckoned from the fire time.
        moved = yield store.lookup_job("jittered")
        self.assertEqual(moved.scheduled_run_time, jittered.scheduled_run_time
                         + _dt.timedelta(seconds=10))
        self.assertGreaterEqual(moved.next_run_time, moved.scheduled_run_time)
        self.assertLessEqual(moved.next_run_time,
                             moved.scheduled_run_time + _dt.timedelta(seconds=3))
        listed = {job.id: job for job in (yield store.get_jobs())}
        by_id = {job.id: job for job in (yield store.get_jobs_by_id())}
        for job_id in before:
            stored = yield store.lookup_job(job_id)
            for seen in (listed[job_id], by_id[job_id]):
                self.assertEqual((seen.next_run_time, seen.scheduled_run_time),
                                 (stored.next_run_time, stored.scheduled_run_time))
        self.assertEqual([job.id for job in (yield store.get_jobs())][:4],
                         ["cron", "every-0", "every-1", "every-2"])
        # A whole write (a change) makes the document current again.
        yield sched.modify_job("every-0", "redis", args=[9])
        data = json.loads(self.doc("every-0").split(b"\r\n")[1])
        self.assertEqual(data["next_run_time"], after(20).isoformat())
        self.assertEqual(data["args"], [9])
        # So does a change of nothing (docs/redis.rst, "Upgrading").
        yield sched.modify_job("jittered", "redis")
        data = json.loads(self.doc("jittered").split(b"\r\n")[1])
        self.assertEqual((data["next_run_time"], data["scheduled_run_time"]),
                         (moved.next_run_time.isoformat(),
                          moved.scheduled_run_time.isoformat()))
        self.assertEqual(self.server.command("HEXISTS", self.namespace
                                             + ":run_times:scheduled", "jittered"), b":0\r\n")

    @defer.inlineCallbacks
    def test_old_documents_load(self):
        """
        A store written before run times moved out of the documents (the
        document's times are the score's) loads with the document's fire
        time; a document older than its score takes the score's.
        """
        store = self.make_store(tasks=tasks())
        sched, clock = self.make_scheduler(store=store, start=False)
        job = yield sched.add_job("record", "interval", seconds=10, id="old", jitter=2,
                                  jobstore="redis")
        data = job.to_dict()
        data["scheduled_run_time"] = after(10).isoformat()
        data["next_run_time"] = (after(10) + _dt.timedelta(seconds=1.5)).isoformat()
        ns = self.namespace
        self.server.command("HSET", ns + ":jobs", "old", json.dumps(data))
        self.server.command("ZADD", ns + ":run_times",
                            score(after(10) + _dt.timedelta(seconds=1.5)), "old")
        loaded = yield store.lookup_job("old")
        self.assertEqual((loaded.next_run_time, loaded.scheduled_run_time),
                         (after(11.5), after(10)))
        self.server.command("ZADD", ns + ":run_times", score(after(30)), "old")
        loaded = yield store.lookup_job("old")
        self.assertEqual((loaded.next_run_time, loaded.scheduled_run_time),
                         (after(30), after(30)))
        self.server.command("ZREM", ns + ":run_times", "old")
        self.server.command("ZADD", ns + ":paused", 0, "old")
        loaded = yield store.lookup_job("old")
        self.assertIsNone(loaded.next_run_time)

    @defer.inlineCallbacks
    def test_changed_between_claim_and_write_back(self):
        """
        Of a claimed batch, one job is removed and one modified by another
        scheduler before the write-back: the removed one is reported gone,
        the modified one keeps the other's change (the claim was lost), the
        rest move on; all in one call.
        """
        sched, clock = self.make_scheduler(start=False)
        for i in range(4):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                jobstore="redis")
        mine = self.make_store(tasks=tasks())
        other, _ = self.make_scheduler(store=self.make_store(tasks=tasks()), start=False)
        counter = ScriptCounter(self, mine)
        now = START + _dt.timedelta(seconds=10)
        claimed = yield mine.acquire_due_jobs(now, 10)
        self.assertEqual(sorted(job.id for job in claimed), ["j0", "j1", "j2", "j3"])
        yield other.remove_job("j0", "redis")
        yield other.modify_job("j1", "redis", name="changed")
        for job in claimed:
            job.next_run_time = job.scheduled_run_time = after(20)
        results = yield defer.DeferredList([mine.update_job(job) for job in claimed],
                                           consumeErrors=True)
        self.assertEqual(counter.count("advance"), 1)
        outcome = {job.id: ok or result.type for job, (ok, result) in zip(claimed, results)}
        self.assertEqual(outcome, {"j0": JobLookupError, "j1": True, "j2": True, "j3": True})
        changed = yield mine.lookup_job("j1")
        self.assertEqual((changed.name, changed.next_run_time), ("changed", after(10)))
        for job_id in ("j2", "j3"):
            self.assertEqual((yield mine.lookup_job(job_id)).next_run_time, after(20))
        self.assertEqual(mine._claimed, set())
        self.assertEqual((yield mine.acquire_due_jobs(now, 10))[0].id, "j1")

    @defer.inlineCallbacks
    def test_state_changed_in_a_due_job_is_written_whole(self):
        """A due job handed out whose policy state changed is written whole, not advanced."""
        sched, clock = self.make_scheduler(start=False)
        for job_id in ("same", "counted"):
            yield sched.add_job("record", "interval", seconds=10, id=job_id, jobstore="redis")
        store = self.make_store(tasks=tasks())
        counter = ScriptCounter(self, store)
        claimed = {job.id: job for job in (yield store.acquire_due_jobs(after(10), 10))}
        claimed["counted"].policy_state["runs"] = 1
        for job in claimed.values():
            job.next_run_time = job.scheduled_run_time = after(20)
        args = []
        original = store._send_batch
        self.patch(store, "_send_batch", lambda entries: args.extend(
            entry[:2] for entry in entries) or original(entries))
        yield defer.gatherResults([store.update_job(job) for job in claimed.values()])
        self.assertEqual(sorted(args), [("counted", "u"), ("same", "a")])
        self.assertEqual(counter.count("advance"), 1)
        counted = yield store.lookup_job("counted")
        self.assertEqual((counted.policy_state["runs"], counted.next_run_time), (1, after(20)))
        self.assertEqual((yield store.lookup_job("same")).next_run_time, after(20))

    @defer.inlineCallbacks
    def test_two_schedulers_race_for_a_batch(self):
        """Two schedulers fire the same due jobs: each run happens once."""
        sched, clock = self.make_scheduler(start=False, batch_size=7)
        for i in range(40):
            yield sched.add_job("record", "interval", seconds=10, id="j%02d" % i,
                                args=[i], jobstore="redis")
        two, clock2 = self.make_scheduler(start=False, batch_size=7)
        clock.advance(10)
        clock2.advance(10)
        sched.startService()
        two.startService()
        self.addCleanup(sched.shutdown, False)
        self.addCleanup(two.shutdown, False)

        def advance():
            clock2.advance(0)
            return len(calls) >= 40
        yield drive(clock, advance)
        yield deferLater(reactor, 0.2, lambda: None)
        clock.advance(0)
        clock2.advance(0)
        self.assertEqual(sorted(args[0] for args, _ in calls), list(range(40)))
        for job in (yield sched.get_jobs("redis")):
            self.assertEqual(job.next_run_time, after(20))

    @defer.inlineCallbacks
    def test_removal_goes_before_a_readd(self):
        """
        A one-shot job that adds itself again under its own id: the queued
        removal reaches Redis before the add, so the new job stays.
        """
        registry = tasks()
        sched, clock = self.make_scheduler(start=False, tasks=registry)

        def again():
            calls.append(((), {}))
            return sched.add_job("again", "date", run_date=after(60), id="timer",
                                 jobstore="redis")
        registry.register("again", again)
        yield sched.add_job("again", "date", run_date=after(5), id="timer", jobstore="redis")
        clock.advance(5)
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        yield drive(clock, lambda: len(calls) == 1)
        store = sched.jobstores["redis"]
        yield drive(clock, lambda: not store._claimed)
        job = yield store.lookup_job("timer")
        self.assertEqual(job.next_run_time, after(60))


class JobCacheTests(RedisTestCase):
    """Due jobs are kept decoded while their documents stay the same."""

    @defer.inlineCallbacks
    def claim_all(self, store, when):
        jobs = yield store.acquire_due_jobs(when, 100)
        for job in jobs:
            job.next_run_time = job.scheduled_run_time = when + _dt.timedelta(seconds=10)
        yield defer.gatherResults([store.update_job(job) for job in jobs])
        return jobs

    @defer.inlineCallbacks
    def test_unchanged_documents_not_decoded_again(self):
        sched, clock = self.make_scheduler(start=False)
        for i in range(3):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i, args=[i],
                                jobstore="redis")
        store = self.make_store(tasks=tasks(), job_cache=3)
        decoded = []
        original = store._decode
        self.patch(store, "_decode", lambda doc: decoded.append(doc) or original(doc))
        first = yield self.claim_all(store, after(10))
        self.assertEqual(len(decoded), 3)
        yield sched.modify_job("j2", "redis", args=[7])   # a new document
        again = yield self.claim_all(store, after(20))
        self.assertEqual(len(decoded), 4)                 # j2 only
        self.assertEqual(sorted(job.args for job in again), [(0,), (1,), (7,)])
        for job in again:
            self.assertNotIn(job, first)                  # copies, never the same object
            self.assertEqual((yield store.lookup_job(job.id)).next_run_time, after(30))
        # A task registered anew is looked up again.
        registry = tasks()
        registry.register("record", again.append)
        store._tasks = registry
        third = yield store.acquire_due_jobs(after(30), 100)
        self.assertEqual({job.func for job in third}, {again.append})

    @defer.inlineCallbacks
    def test_bounded(self):
        sched, clock = self.make_scheduler(start=False)
        for i in range(3):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                jobstore="redis")
        store = self.make_store(tasks=tasks(), job_cache=2)
        yield self.claim_all(store, after(10))
        self.assertEqual(sorted(store._decoded), ["j1", "j2"])      # the last due kept

    @defer.inlineCallbacks
    def test_no_cache(self):
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        store = self.make_store(tasks=tasks(), job_cache=0)
        yield self.claim_all(store, after(10))
        self.assertEqual(store._decoded, {})
        self.assertEqual(len((yield self.claim_all(store, after(20)))), 1)

    def test_option_checked(self):
        for bad in (-1, 1.5, True, "10"):
            self.assertRaises(BadArgumentError, RedisJobStore, "redis://h/0", job_cache=bad)


class OrderTests(RedisTestCase):
    """Queued write-backs reach Redis before any later command of the store."""

    @defer.inlineCallbacks
    def test_queued_removal_goes_before_an_add(self):
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "date", run_date=after(5), id="timer", jobstore="redis")
        store = self.make_store(tasks=tasks())
        claimed = yield store.acquire_due_jobs(after(5), 10)
        replacement = claimed[0].copy()
        # (The same job again but for its time: Redis taking the add first
        # would count it as added, and the removal would then drop it.)
        replacement.next_run_time = replacement.scheduled_run_time = after(60)
        removed = store.remove_job("timer")         # queued: a claimed job
        added = store.add_job(replacement)          # sent at once, after the removal
        yield defer.gatherResults([removed, added])
        job = yield store.lookup_job("timer")
        self.assertEqual(job.next_run_time, after(60))


class LostConnectionTests(unittest.TestCase):
    """A batch write-back that meets a lost connection."""

    timeout = 60

    def setUp(self):
        self.server = RedisServer(persistent=True).start()
        self.addCleanup(self.server.cleanup)
        del calls[:]

    @defer.inlineCallbacks
    def test_batch_retried_before_the_next_claim(self):
        """
        Redis goes away with a batch on its way: every job of it fails
        clearly, the batch is kept and written before the next claim, and
        no job runs twice.
        """
        store = RedisJobStore(self.server.url(), namespace="n", timeout=0.5, tasks=tasks())
        self.addCleanup(store.shutdown)
        sched = Scheduler(reactor=make_clock(), tasks=tasks())
        sched.add_jobstore(store, alias="redis")
        for i in range(3):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                jobstore="redis")
        now = START + _dt.timedelta(seconds=10)
        claimed = yield store.acquire_due_jobs(now, 10)
        self.assertEqual(len(claimed), 3)
        self.server.kill()
        for job in claimed:
            job.next_run_time = job.scheduled_run_time = after(20)
        results = yield defer.DeferredList([store.update_job(job) for job in claimed],
                                           consumeErrors=True)
        for ok, failure in results:
            self.assertFalse(ok)
            self.assertIsInstance(failure.value, JobStoreUnavailable)
            self.assertIn("unavailable", failure.getErrorMessage())
        self.assertEqual(sorted(store._unsaved), ["j0", "j1", "j2"])
        yield self.assertFailure(store.acquire_due_jobs(now, 10), JobStoreUnavailable)
        self.server.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                again = yield store.acquire_due_jobs(now, 10)
                break
            except JobStoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                yield deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(again, [])         # written back: not due at `now` any more
        self.assertEqual(store._unsaved, {})
        for i in range(3):
            self.assertEqual((yield store.lookup_job("j%d" % i)).next_run_time, after(20))


class ProtocolTests(unittest.TestCase):
    """The store's connections parse and encode at once."""

    def test_reply_read_in_one_turn(self):
        """
        A reply of several bulk strings arrives in one read: parsed at once
        (txredisapi's own reader pauses after the first, until a later turn).
        """
        for cls, done in ((redis_store._Protocol, True), (txredisapi.BaseRedisProtocol, False)):
            protocol = cls(charset="utf-8", convertNumbers=False)
            protocol.callLater = Clock().callLater
            protocol.transport = StringTransport()
            replies = []
            protocol.replyQueue.get().addCallback(replies.append)
            protocol.replyQueue.get().addCallback(replies.append)
            protocol.dataReceived(b"*3\r\n$1\r\na\r\n$2\r\nbb\r\n$3\r\nc\nc\r\n:7\r\n")
            if done:
                self.assertEqual(replies, [["a", "bb", "c\nc"], 7])
                self.assertEqual(protocol.transport.producerState, "producing")
            else:
                self.assertEqual(replies, [])

    def test_commands_encoded_as_txredisapi_does(self):
        protocol = redis_store._Protocol(charset="utf-8", convertNumbers=False)
        args = ("EVALSHA", "abc", 2, b"k\x00", "caf\u00e9", 1.5, 10 ** 20, "")
        self.assertEqual(protocol._build_command(*args),
                         txredisapi.BaseRedisProtocol._build_command(protocol, *args))
        self.assertRaises(txredisapi.InvalidData, protocol._build_command, "\ud800")
