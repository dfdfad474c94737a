"""
Tests for the Redis job store, against a real redis-server that the tests
start themselves (see L{tests.redisserver}).

Schedulers run on a L{Clock} wherever scheduled time has to pass; only leases
(kept by the Redis server's clock), connection loss and pub/sub latency need
real time, and those waits are short.
"""

import datetime as _dt
import json
import os
import time
import uuid

from twisted.internet import defer, reactor
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import deferLater
from twisted.protocols import portforward
from twisted.logger import Logger, formatEvent
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.errors import (
    BadArgumentError, BadReferenceError, ConflictingIdError, JobLookupError,
    JobStoreOutcomeUnknown, JobStoreUnavailable)
from twistedsched.job import same_job
from twistedsched.stores import make_jobstore
from twistedsched.stores import redis as redis_store
from twistedsched.stores.redis import RedisJobStore, parse_url, score
from twistedsched.tasks import TaskRegistry
from twistedsched.timeutil import from_timestamp

from tests.certs import make_pki
from tests.helpers import START, EventRecorder, after, make_clock
from tests.redisserver import RedisServer, shared_server

calls = []


def record(*args, **kwargs):
    """A module-level job (it has a text reference)."""
    calls.append((args, kwargs))


def unregistered():
    """A module-level job that is not a registered task."""


def tasks():
    registry = TaskRegistry()
    registry.register("record", record)
    return registry


@defer.inlineCallbacks
def drive(clock, until, timeout=5.0):
    """
    Let Redis answer (real reactor turns) and fire what is due on C{clock}
    without moving it, until C{until()} is true.
    """
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % (until,))
        clock.advance(0)
        yield deferLater(reactor, 0.005, lambda: None)


@defer.inlineCallbacks
def wait_for(predicate, timeout=5.0, step=0.02):
    """Wait (real time) until C{predicate()} is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % (predicate,))
        yield deferLater(reactor, step, lambda: None)


class URLTests(unittest.TestCase):
    """Redis URLs become connection settings."""

    def test_tcp(self):
        s = parse_url("redis://:secret@example.org:6380/3")
        self.assertEqual((s["host"], s["port"], s["db"], s["password"]),
                         ("example.org", 6380, 3, "secret"))

    def test_defaults(self):
        s = parse_url("redis://")
        self.assertEqual((s["host"], s["port"], s["db"], s["password"]),
                         ("localhost", 6379, 0, None))

    def test_user_and_password(self):
        s = parse_url("rediss://bob:p%40ss@h/1")
        self.assertEqual((s["scheme"], s["username"], s["password"], s["db"]),
                         ("rediss", "bob", "p@ss", 1))

    def test_unix(self):
        s = parse_url("unix:///run/redis.sock?db=2&namespace=game")
        self.assertEqual((s["path"], s["db"], s["namespace"]), ("/run/redis.sock", 2, "game"))

    def test_sentinel(self):
        s = parse_url("redis-sentinel://:p%40ss@10.0.0.1:26379,sentinel-b:26380/game/3")
        self.assertEqual((s["sentinels"], s["service"], s["db"], s["password"]),
                         ([("10.0.0.1", 26379), ("sentinel-b", 26380)], "game", 3, "p@ss"))
        self.assertEqual(parse_url("redis-sentinel://h:1/game")["db"], 0)
        for bad in ("redis-sentinel://h:1/", "redis-sentinel:///game/0",
                    "redis-sentinel://h:port/game", "redis-sentinel://h:1/game/x",
                    "redis-sentinel://h:1/game/0/extra"):
            self.assertRaises(BadArgumentError, parse_url, bad)
        store = make_jobstore("redis-sentinel://h:1,h:2/game/3")
        self.assertEqual(repr(store),
                         "<RedisJobStore redis-sentinel://h:1,h:2/game/3 namespace='twistedsched'>")

    def test_bad(self):
        self.assertRaises(BadArgumentError, parse_url, "redis://h/notanumber")
        self.assertRaises(BadArgumentError, parse_url, "http://h/0")
        self.assertRaises(BadArgumentError, RedisJobStore, "redis://h/0", lease=0)

    def test_scores_read_back_exactly(self):
        when = _dt.datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=_dt.timezone.utc)
        self.assertEqual(score(when), "1774745999.999999")
        self.assertEqual(from_timestamp(float(score(when))), when)


class RedisTestCase(unittest.TestCase):
    """Each test gets its own namespace on the shared server."""

    timeout = 60

    def setUp(self):
        self.server = shared_server()
        self.namespace = "t-%s" % (uuid.uuid4().hex[:12],)
        del calls[:]

    def make_store(self, namespace=None, **options):
        options.setdefault("timeout", 2)
        store = RedisJobStore(self.server.url(), namespace=namespace or self.namespace,
                              **options)
        self.addCleanup(store.shutdown)
        return store

    def make_scheduler(self, store=None, clock=None, start=True, **kwargs):
        """A scheduler on a Clock with C{store} as job store "redis"."""
        clock = clock or make_clock()
        sched = Scheduler(reactor=clock, tasks=kwargs.pop("tasks", None) or tasks(), **kwargs)
        sched.add_jobstore(store or self.make_store(), alias="redis")
        if start:
            sched.startService()
            self.addCleanup(sched.shutdown, False)
        return sched, clock


class StoreTests(RedisTestCase):
    """The IJobStore operations."""

    @defer.inlineCallbacks
    def test_add_lookup_update_remove(self):
        sched, clock = self.make_scheduler()
        job = yield sched.add_job(record, "interval", seconds=10, id="a", args=[1, "two"],
                                  kwargs={"x": {"y": [None, 2.5]}}, jobstore="redis")
        store = sched.jobstores["redis"]
        loaded = yield store.lookup_job("a")
        self.assertEqual(loaded.to_dict(), job.to_dict())
        self.assertIs(loaded.func, record)
        yield sched.modify_job("a", "redis", args=[3])
        self.assertEqual((yield store.lookup_job("a")).args, (3,))
        self.assertEqual((yield store.count_jobs()), 1)
        yield sched.remove_job("a", "redis")
        self.assertIsNone((yield store.lookup_job("a")))
        yield self.assertFailure(store.remove_job("a"), JobLookupError)
        yield self.assertFailure(store.update_job(job), JobLookupError)

    @defer.inlineCallbacks
    def test_commands_go_in_order_on_one_connection(self):
        """
        txredisapi sends a command on a pooled connection picked at random,
        and Redis serves connections in no set order: the store's commands
        (write-backs, then the changes after them) go on one connection.
        """
        store = self.make_store()
        yield store.count_jobs()
        ids = yield defer.gatherResults([store._call("execute_command", "CLIENT", "ID")
                                         for _ in range(20)])
        self.assertEqual(len(set(ids)), 1, ids)

    @defer.inlineCallbacks
    def test_conflicting_id(self):
        sched, clock = self.make_scheduler()
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        yield self.assertFailure(
            sched.add_job("record", "interval", seconds=5, id="a", jobstore="redis"),
            ConflictingIdError)
        replaced = yield sched.add_job("record", "interval", seconds=5, id="a",
                                       jobstore="redis", replace_existing=True)
        stored = yield sched.get_job("a", "redis")
        self.assertEqual(stored.trigger.to_dict(), replaced.trigger.to_dict())

    @defer.inlineCallbacks
    def test_adding_the_same_job_again_is_success(self):
        """A retried add (same id, same job) succeeds; another job under the id fails."""
        sched, clock = self.make_scheduler()
        store = sched.jobstores["redis"]
        first = yield sched.add_job("record", "interval", seconds=10, id="a", args=[1],
                                    jobstore="redis")
        clock.advance(3)        # a retry computes a later start date
        again = yield sched.add_job("record", "interval", seconds=10, id="a", args=[1],
                                    jobstore="redis")
        self.assertNotEqual(again.next_run_time, first.next_run_time)
        self.assertEqual((yield store.count_jobs()), 1)
        self.assertEqual((yield store.lookup_job("a")).next_run_time, first.next_run_time)
        for changed in (dict(args=[2]), dict(seconds=11), dict(name="other")):
            options = dict(dict(seconds=10, args=[1]), **changed)
            yield self.assertFailure(sched.add_job("record", "interval", id="a",
                                                   jobstore="redis", **options),
                                     ConflictingIdError)
        # In a batch: the same job again and a new one are both "added"...
        job = (yield store.lookup_job("a"))
        new = job.copy()
        new.id = "b"
        yield store.add_jobs([job, new])
        self.assertEqual((yield store.count_jobs()), 2)
        # ...but a different job under a taken id fails the whole batch.
        different, other = job.copy(), job.copy()
        different.args, other.id = (2,), "c"
        yield self.assertFailure(store.add_jobs([other, different]), ConflictingIdError)
        self.assertIsNone((yield store.lookup_job("c")))

    def test_same_job(self):
        doc = lambda **changes: json.dumps(dict(dict(
            id="a", func="m:f", args=[1], trigger={"type": "interval", "seconds": 10,
                                                   "start_date": "2026-01-01T00:00:00+00:00"},
            next_run_time="2026-01-01T00:00:00+00:00"), **changes))
        self.assertTrue(same_job(doc(), doc()))
        self.assertTrue(same_job(doc(), doc(next_run_time=None)))
        self.assertTrue(same_job(doc(), doc(trigger={
            "type": "interval", "seconds": 10, "start_date": "2027-01-01T00:00:00+00:00"})))
        self.assertFalse(same_job(doc(), doc(trigger={
            "type": "interval", "seconds": 11, "start_date": "2026-01-01T00:00:00+00:00"})))
        self.assertFalse(same_job(doc(), doc(args=[2])))
        self.assertFalse(same_job("not json", doc()))

    @defer.inlineCallbacks
    def test_unanswered_add_says_the_outcome_is_unknown(self):
        """
        Redis holds writes (CLIENT PAUSE) past the store's timeout: the add
        fails saying it may have been made; a read fails plainly; adding the
        same job again once Redis answers is success, and stores it once.
        """
        sched, clock = self.make_scheduler(self.make_store(timeout=0.3))
        store = sched.jobstores["redis"]
        yield store.count_jobs()
        self.server.command("CLIENT", "PAUSE", "1000", "WRITE")
        failure = yield self.assertFailure(
            sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis"),
            JobStoreOutcomeUnknown)
        self.assertIn("may have been made", str(failure))
        self.assertIn("adding the same job again is safe", str(failure))
        yield deferLater(reactor, 1.0, lambda: None)       # the pause is over
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        self.assertEqual((yield store.count_jobs()), 1)

    @defer.inlineCallbacks
    def test_unanswered_read_is_plainly_unavailable(self):
        store = self.make_store(timeout=0.3)
        yield store.count_jobs()
        self.server.command("CLIENT", "PAUSE", "1000", "ALL")
        failure = yield self.assertFailure(store.count_jobs(), JobStoreUnavailable)
        self.assertNotIsInstance(failure, JobStoreOutcomeUnknown)
        yield deferLater(reactor, 1.0, lambda: None)

    @defer.inlineCallbacks
    def test_non_json_arguments_rejected(self):
        sched, clock = self.make_scheduler()
        f = yield self.assertFailure(
            sched.add_job(record, "interval", seconds=1, args=(object(),), jobstore="redis"),
            BadArgumentError)
        self.assertIn("args[0]", str(f))
        f = yield self.assertFailure(
            sched.add_job(record, "interval", seconds=1, kwargs={"when": START},
                          jobstore="redis"), BadArgumentError)
        self.assertIn("kwargs['when']", str(f))
        f = yield self.assertFailure(
            sched.add_job(lambda: None, "interval", seconds=1, jobstore="redis"),
            BadArgumentError)
        self.assertIn("cannot be stored by name", str(f))
        self.assertEqual((yield sched.jobstores["redis"].count_jobs()), 0)

    @defer.inlineCallbacks
    def test_get_jobs_pages_in_run_time_order_paused_last(self):
        sched, clock = self.make_scheduler()
        for i, seconds in enumerate([50, 10, 40, 20, 30]):
            yield sched.add_job("record", "interval", seconds=seconds, id="j%d" % i,
                                jobstore="redis")
        yield sched.add_job("record", "interval", seconds=5, id="p1", jobstore="redis",
                            next_run_time=None)
        yield sched.pause_job("j0", "redis")
        order = ["j1", "j3", "j4", "j2", "j0", "p1"]
        jobs = yield sched.get_jobs("redis")
        self.assertEqual([j.id for j in jobs], order)
        for offset in range(7):
            for limit in (1, 2, 4):
                page = yield sched.get_jobs("redis", offset=offset, limit=limit)
                self.assertEqual([j.id for j in page], order[offset:offset + limit])

    @defer.inlineCallbacks
    def test_listing_by_id_pages_with_a_cursor(self):
        sched, clock = self.make_scheduler()
        store = sched.jobstores["redis"]
        for job_id, seconds in (("b", 10), ("a", 30), ("é", 5), ("B", 20)):
            yield sched.add_job("record", "interval", seconds=seconds, id=job_id,
                                jobstore="redis")
        yield sched.add_job("record", "interval", seconds=5, id="c", jobstore="redis",
                            next_run_time=None)
        ids = lambda jobs: [job.id for job in jobs]
        self.assertEqual(ids((yield store.get_jobs_by_id())), ["B", "a", "b", "c", "é"])
        self.assertEqual(ids((yield store.get_jobs_by_id(limit=2))), ["B", "a"])
        self.assertEqual(ids((yield store.get_jobs_by_id("a", 2))), ["b", "c"])
        self.assertEqual(ids((yield store.get_jobs_by_id("bb"))), ["c", "é"])
        self.assertEqual(ids((yield store.get_jobs_by_id("é"))), [])
        self.assertEqual((yield store.get_jobs_by_id(limit=0)), [])
        yield sched.remove_job("a", "redis")
        self.assertEqual(ids((yield store.get_jobs_by_id("a", 2))), ["b", "c"])
        # A namespace stored before the id index existed gets one.
        self.server.command("DEL", "%s:ids" % (self.namespace,))
        self.assertEqual(ids((yield store.get_jobs_by_id())), ["B", "b", "c", "é"])
        yield store.remove_all_jobs()
        self.assertEqual(self.server.command("EXISTS", "%s:ids" % (self.namespace,)),
                         b":0\r\n")

    @defer.inlineCallbacks
    def test_scripts_reloaded_after_flush(self):
        """EVALSHA falls back to EVAL when the server forgot the scripts."""
        sched, clock = self.make_scheduler()
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        self.server.command("SCRIPT", "FLUSH")
        yield sched.add_job("record", "interval", seconds=10, id="b", jobstore="redis")
        self.assertEqual(len((yield sched.get_jobs("redis"))), 2)

    @defer.inlineCallbacks
    def test_add_jobstore_from_url(self):
        sched = Scheduler(reactor=make_clock(), tasks=tasks())
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        yield sched.add_jobstore(self.server.url(), alias="r", namespace=self.namespace,
                                 poll_interval=7)
        store = sched.jobstores["r"]
        self.assertIsInstance(store, RedisJobStore)
        self.assertEqual((store.namespace, store.poll_interval), (self.namespace, 7))
        yield sched.add_job("record", "date", run_date=after(5), jobstore="r")
        self.assertEqual((yield store.count_jobs()), 1)

    @defer.inlineCallbacks
    def test_unix_socket(self):
        store = make_jobstore(self.server.unix_url(), namespace=self.namespace)
        self.addCleanup(store.shutdown)
        self.assertEqual((yield store.count_jobs()), 0)

    @defer.inlineCallbacks
    def test_allowed_modules(self):
        """A store may refuse to load jobs naming callables outside an allowlist."""
        sched, clock = self.make_scheduler()
        yield sched.add_job(unregistered, "interval", seconds=10, id="ref", jobstore="redis")
        yield sched.add_job("record", "interval", seconds=10, id="task", jobstore="redis")
        strict = self.make_store(allowed_modules=["twistedsched"], tasks=tasks())
        self.assertEqual((yield strict.lookup_job("task")).task, "record")
        yield self.assertFailure(strict.lookup_job("ref"), BadReferenceError)
        self.assertEqual([j.id for j in (yield strict.get_jobs())], ["task"])
        self.flushLoggedErrors(BadReferenceError)
        allowed = self.make_store(allowed_modules=["tests"], tasks=tasks())
        self.assertIs((yield allowed.lookup_job("ref")).func, unregistered)

    @defer.inlineCallbacks
    def test_unloadable_job_taken_off_schedule(self):
        """A due job whose document cannot be loaded is logged and shelved, not retried."""
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="bad", jobstore="redis")
        yield sched.add_job("record", "interval", seconds=10, id="good", jobstore="redis")
        doc = self.server.command("HGET", self.namespace + ":jobs", "bad").split(b"\r\n")[1]
        self.server.command("HSET", self.namespace + ":jobs", "bad",
                            doc.replace(b'"task":"record"', b'"task":"nope"'))
        store = sched.jobstores["redis"]
        clock.advance(10)
        jobs = yield store.acquire_due_jobs(sched.now(), 10)
        self.assertEqual([j.id for j in jobs], ["good"])
        self.assertEqual(len(self.flushLoggedErrors()), 1)
        self.assertEqual(self.server.command("ZSCORE", self.namespace + ":run_times", "bad"),
                         b"$-1\r\n")


class ClaimTests(RedisTestCase):
    """Due jobs are claimed by one store at a time, for a lease."""

    @defer.inlineCallbacks
    def test_claim_excludes_others_until_written_back(self):
        sched, clock = self.make_scheduler(store=self.make_store(read_ahead=False), start=False)
        for i in range(5):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                jobstore="redis")
        one, two = sched.jobstores["redis"], self.make_store(tasks=tasks())
        now = sched.now() + _dt.timedelta(seconds=10)
        mine = yield one.acquire_due_jobs(now, 3)
        theirs = yield two.acquire_due_jobs(now, 10)
        self.assertEqual(len(mine), 3)
        self.assertEqual(sorted(j.id for j in mine + theirs), ["j%d" % i for i in range(5)])
        self.assertEqual((yield two.acquire_due_jobs(now, 10)), [])
        # The earliest job nobody holds is not due yet: wake when a lease ends.
        next_time = yield two.get_next_run_time()
        self.assertGreater(next_time, now)
        # Claimed jobs stay listed.
        self.assertEqual(len((yield two.get_jobs())), 5)
        mine[0].next_run_time = now
        yield one.update_job(mine[0])
        self.assertEqual([j.id for j in (yield two.acquire_due_jobs(now, 10))], [mine[0].id])

    @defer.inlineCallbacks
    def test_expired_lease_makes_job_claimable(self):
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        crashed = self.make_store(lease=0.3, tasks=tasks())
        other = self.make_store(tasks=tasks())
        now = sched.now() + _dt.timedelta(seconds=10)
        [late] = yield crashed.acquire_due_jobs(now, 10)
        claimed = time.time()
        self.assertEqual((yield other.acquire_due_jobs(now, 10)), [])
        # Leases run on Redis's clock, and end on its next whole second.
        taken = []
        while not taken and time.time() - claimed < 3:
            yield deferLater(reactor, 0.05, lambda: None)
            taken = yield other.acquire_due_jobs(now, 10)
        self.assertEqual([j.id for j in taken], ["a"])
        self.assertLess(time.time() - claimed, 0.3 + 1 + 0.5)
        # The crashed store's late write-back (of the job it was handed, written
        # whole as its state changed) does not overwrite the new holder's.
        late.name = "stale"
        late.policy_state["runs"] = 1
        late.next_run_time = late.scheduled_run_time = now + _dt.timedelta(seconds=99)
        yield crashed.update_job(late)
        stored = yield other.lookup_job("a")
        self.assertNotEqual(stored.name, "stale")
        self.assertEqual(stored.next_run_time, now)

    @defer.inlineCallbacks
    def due_in_batches(self, count=5, limit=2):
        """
        C{count} jobs due (ids j0, j1...), a scheduler's store holding the
        first C{limit} as due and the next C{limit} read ahead, another store.
        """
        sched, clock = self.make_scheduler(start=False)
        for i in range(count):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                jobstore="redis")
        mine, other = sched.jobstores["redis"], self.make_store(tasks=tasks())
        now = sched.now() + _dt.timedelta(seconds=10)
        first = yield mine.acquire_due_jobs(now, limit)
        self.assertEqual([j.id for j in first], ["j0", "j1"][:limit])
        return sched, mine, other, now

    @defer.inlineCallbacks
    def test_next_batch_claimed_while_one_runs(self):
        sched, mine, other, now = yield self.due_in_batches()
        self.assertEqual([j.id for j in (yield other.acquire_due_jobs(now, 10))], ["j4"])
        self.assertEqual([j.id for j in (yield mine.acquire_due_jobs(now, 2))], ["j2", "j3"])
        # A batch not full reads nothing ahead.
        self.assertEqual((yield mine.acquire_due_jobs(now, 2)), [])

    @defer.inlineCallbacks
    def test_job_changed_here_while_read_ahead_is_not_handed_out(self):
        sched, mine, other, now = yield self.due_in_batches()
        yield sched.pause_job("j2", "redis")
        # (The batch is made whole again with the next due job.)
        self.assertEqual([j.id for j in (yield mine.acquire_due_jobs(now, 2))], ["j3", "j4"])
        # Its change gave back the claim: resumed, another store takes it.
        job = yield other.lookup_job("j2")
        job.next_run_time = now
        yield other.update_job(job)
        self.assertIn("j2", [j.id for j in (yield other.acquire_due_jobs(now, 10))])

    @defer.inlineCallbacks
    def test_job_changed_by_another_while_read_ahead_is_read_again(self):
        sched, mine, other, now = yield self.due_in_batches()
        changed = yield other.lookup_job("j3")
        changed.name = "theirs"
        heard = mine.notifications
        yield other.update_job(changed)
        yield wait_for(lambda: mine.notifications > heard)
        # j3 was given back, and claimed again as it now is.
        batch = yield mine.acquire_due_jobs(now, 2)
        self.assertEqual([(j.id, j.name) for j in batch], [("j2", "record"), ("j3", "theirs")])
        self.assertEqual([j.id for j in (yield mine.acquire_due_jobs(now, 2))], ["j4"])

    @defer.inlineCallbacks
    def test_batch_read_ahead_long_ago_is_given_back(self):
        # (Redis forgot the scripts, as after a restart: the give-back, the
        # first use of its script, still reaches Redis before the claim after it.)
        self.server.command("SCRIPT", "FLUSH")
        sched, mine, other, now = yield self.due_in_batches()
        asked, d = mine._ahead
        stale = []
        d.addCallback(lambda jobs: stale.extend(jobs) or jobs)
        mine._ahead = (asked - mine.lease, d)
        batch = yield mine.acquire_due_jobs(now, 2)
        # Given back and claimed anew: not the jobs read ahead.
        self.assertEqual([j.id for j in batch], ["j2", "j3"])
        self.assertEqual([j.id for j in stale], ["j2", "j3"])
        self.assertFalse({id(j) for j in batch} & {id(j) for j in stale})

    @defer.inlineCallbacks
    def test_claims_read_ahead_given_back_on_shutdown(self):
        sched, mine, other, now = yield self.due_in_batches()
        yield mine.shutdown()
        self.assertEqual(sorted(j.id for j in (yield other.acquire_due_jobs(now, 10))),
                         ["j0", "j1", "j2", "j3", "j4"])

    @defer.inlineCallbacks
    def test_job_paused_while_read_ahead_does_not_run(self):
        """
        Batches of two: while j0 and j1 run, j2 and j3 are claimed ahead;
        j2 is paused through the scheduler before that batch is handed out,
        and does not run.
        """
        sched, clock = self.make_scheduler(batch_size=2, start=False)
        for i in range(5):
            yield sched.add_job("record", "interval", seconds=10, id="j%d" % i,
                                args=("j%d" % i,), jobstore="redis")
        store = sched.jobstores["redis"]
        acquire = store.acquire_due_jobs
        asked = []

        @defer.inlineCallbacks
        def pause_j2_then_acquire(now, limit):
            asked.append(now)
            if len(asked) == 2:
                self.assertIsNotNone(store._ahead)      # (j2 and j3, claimed)
                yield sched.pause_job("j2", "redis")
            return (yield acquire(now, limit))
        store.acquire_due_jobs = pause_j2_then_acquire
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        clock.advance(10)
        yield drive(clock, lambda: len(calls) >= 3)
        yield wait_for(lambda: store._ahead is None and not sched._processing)
        self.assertEqual(sorted(args[0] for args, _ in calls), ["j0", "j1", "j3", "j4"])
        self.assertIsNone((yield store.lookup_job("j2")).next_run_time)

    @defer.inlineCallbacks
    def test_write_backs_of_one_batch_each_get_their_outcome(self):
        """
        The advances of one reactor turn go in one script call, written
        together: each gets its own outcome (written; removed meanwhile:
        JobLookupError; changed by another meanwhile: not written).
        """
        sched, clock = self.make_scheduler(start=False)
        for name in ("kept", "removed", "changed"):
            yield sched.add_job("record", "interval", seconds=10, id=name, jobstore="redis")
        mine, other = sched.jobstores["redis"], self.make_store(tasks=tasks())
        now = sched.now() + _dt.timedelta(seconds=10)
        jobs = {job.id: job for job in (yield mine.acquire_due_jobs(now, 10))}
        yield other.remove_job("removed")
        changed = yield other.lookup_job("changed")
        changed.name = "theirs"
        yield other.update_job(changed)
        later = now + _dt.timedelta(seconds=10)
        writes = []
        for job in jobs.values():
            job.next_run_time = job.scheduled_run_time = later
            writes.append(mine.update_job(job))
        kept, removed, changed = yield defer.DeferredList(
            [writes[list(jobs).index(name)] for name in ("kept", "removed", "changed")],
            consumeErrors=True)
        self.assertEqual((kept[0], changed[0]), (True, True))
        self.assertFalse(removed[0])
        removed[1].trap(JobLookupError)
        self.assertEqual((yield other.lookup_job("kept")).next_run_time, later)
        theirs = yield other.lookup_job("changed")
        self.assertEqual((theirs.name, theirs.next_run_time), ("theirs", now))
        # Every claim was given back: another store may take them at once.
        self.assertEqual(sorted(j.id for j in (yield other.acquire_due_jobs(later, 10))),
                         ["changed", "kept"])

class AddedJobCacheTests(RedisTestCase):
    """A job added here is kept decoded: its first run is not decoded again."""

    @defer.inlineCallbacks
    def test_first_run_of_a_job_added_here_is_not_decoded(self):
        sched, clock = self.make_scheduler(start=False)
        job = yield sched.add_job("record", "interval", seconds=10, id="j", args=[[1]],
                                  jobstore="redis")
        job.args[0].append("changed after the add")
        store = sched.jobstores["redis"]
        store._decode = lambda doc: self.fail("decoded again")
        [due] = yield store.acquire_due_jobs(after(10), 10)
        self.assertEqual((due.id, due.args, due.next_run_time), ("j", ([1],), after(10)))

    @defer.inlineCallbacks
    def test_document_changed_since_is_decoded(self):
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="j", jobstore="redis")
        other = self.make_store(tasks=tasks())
        changed = yield other.lookup_job("j")
        changed.name = "theirs"
        yield other.update_job(changed)
        [due] = yield sched.jobstores["redis"].acquire_due_jobs(after(10), 10)
        self.assertEqual(due.name, "theirs")

    @defer.inlineCallbacks
    def test_jobs_added_in_a_batch_are_kept_too(self):
        sched, clock = self.make_scheduler(start=False)
        store = sched.jobstores["redis"]
        from twistedsched.job import Job
        from twistedsched.triggers import IntervalTrigger
        yield store.add_jobs([
            Job(sched, record, IntervalTrigger(seconds=10, start_date=after(10)),
                id="b%d" % i, task="record", jobstore="redis", next_run_time=after(10))
            for i in range(3)])
        store._decode = lambda doc: self.fail("decoded again")
        due = yield store.acquire_due_jobs(after(10), 10)
        self.assertEqual(sorted(job.id for job in due), ["b0", "b1", "b2"])


class RestartTests(RedisTestCase):
    """Jobs outlive the scheduler; missed runs follow misfire and coalesce."""

    @defer.inlineCallbacks
    def test_persistence_across_scheduler_restart(self):
        sched, clock = self.make_scheduler()
        added = []
        added.append((yield sched.add_job(
            "record", "interval", minutes=5, id="respawn", args=["forest"],
            kwargs={"mobs": [1, 2]}, jobstore="redis", jitter=3, max_instances=2,
            timeout=30)))
        added.append((yield sched.add_job(
            record, "date", run_date=after(3600), id="once", jobstore="redis",
            misfire_grace_time=None, coalesce=False)))
        added.append((yield sched.add_job(
            "record", "interval", hours=1, id="paused", jobstore="redis",
            next_run_time=None)))
        yield sched.shutdown(wait=False)

        again, clock = self.make_scheduler(clock=clock)
        jobs = yield again.get_jobs("redis")
        self.assertEqual(sorted(j.to_dict()["id"] for j in jobs), ["once", "paused", "respawn"])
        by_id = {j.id: j.to_dict() for j in jobs}
        self.assertEqual(by_id["respawn"]["timeout"], 30)
        for job in added:
            self.assertEqual(by_id[job.id], job.to_dict())
        self.assertEqual(jobs[-1].id, "paused")

    @defer.inlineCallbacks
    def test_misfire_and_coalesce_after_downtime(self):
        sched, clock = self.make_scheduler()
        common = dict(trigger="interval", seconds=10, jobstore="redis")
        yield sched.add_job("record", id="coalesced", coalesce=True,
                            misfire_grace_time=None, **common)
        yield sched.add_job("record", id="every", coalesce=False,
                            misfire_grace_time=None, **common)
        yield sched.add_job("record", id="strict", coalesce=False,
                            misfire_grace_time=5, **common)
        yield sched.shutdown(wait=False)
        clock.advance(37)       # down while runs at 10, 20, 30 s were due

        again, clock = self.make_scheduler(clock=clock)
        events = EventRecorder(again, ev.EVENT_JOB_SUBMITTED | ev.EVENT_JOB_MISSED)
        yield drive(clock, lambda: len(events.events) >= 5)
        runs = {}
        for event in events.events:
            runs.setdefault((event.job_id, event.code), []).extend(event.scheduled_run_times)
        self.assertEqual(runs[("coalesced", ev.EVENT_JOB_SUBMITTED)], [after(30)])
        self.assertEqual(runs[("every", ev.EVENT_JOB_SUBMITTED)],
                         [after(10), after(20), after(30)])
        self.assertEqual(runs[("strict", ev.EVENT_JOB_MISSED)],
                         [after(10), after(20), after(30)])
        self.assertNotIn(("strict", ev.EVENT_JOB_SUBMITTED), runs)
        yield drive(clock, lambda: len(calls) == 4)
        for job_id in ("coalesced", "every", "strict"):
            job = yield again.get_job(job_id, "redis")
            self.assertEqual(job.next_run_time, after(40))
        clock.advance(3)
        yield drive(clock, lambda: len(calls) == 7)


class TimerTests(RedisTestCase):
    """The scheduler's one timer follows the jobs in Redis."""

    @defer.inlineCallbacks
    def test_rearmed_for_next_run_after_write_back(self):
        """After a run, the timer is armed for the next run, not a lease end or poll."""
        store = self.make_store(lease=300, poll_interval=600, tasks=tasks())
        sched, clock = self.make_scheduler(store=store)
        yield sched.add_job("record", "interval", seconds=10, jobstore="redis")
        for run in (1, 2, 3):
            yield drive(clock, lambda: [c.getTime() for c in clock.getDelayedCalls()]
                        == [after(10 * run).timestamp()])
            clock.advance(10)
            yield drive(clock, lambda: len(calls) == run)


class HistoryTests(RedisTestCase):
    """Run history: a capped list per job, removed with the job."""

    def run_record(self, n):
        return {"scheduled_run_time": after(n).timestamp(), "started": None, "ended": None,
                "duration": None, "outcome": "missed", "error": None, "scheduler": "s"}

    @defer.inlineCallbacks
    def test_capped_newest_first_and_removed_with_the_job(self):
        sched, clock = self.make_scheduler()
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        yield sched.add_job("record", "interval", seconds=10, id="b", jobstore="redis")
        store = sched.jobstores["redis"]
        yield defer.gatherResults([store.append_run("a", self.run_record(n), 3)
                                   for n in range(5)] + [
                                   store.append_run("b", self.run_record(9), 3),
                                   store.append_run("gone", self.run_record(9), 3)])
        runs = yield store.get_runs("a")
        self.assertEqual(runs, [self.run_record(n) for n in (4, 3, 2)])
        self.assertEqual((yield store.get_runs("a", 1)), [self.run_record(4)])
        self.assertEqual((yield store.get_runs("gone")), [])
        key = "%s:history:a" % (self.namespace,)
        self.assertEqual(self.server.command("LLEN", key), b":3\r\n")
        self.assertEqual(self.server.command("EXISTS", "%s:history:gone" % (self.namespace,)),
                         b":0\r\n")
        yield sched.remove_job("a", "redis")
        self.assertEqual(self.server.command("EXISTS", key), b":0\r\n")
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        self.assertEqual((yield store.get_runs("a")), [])
        yield store.remove_all_jobs()
        self.assertEqual(self.server.command("EXISTS", "%s:history:b" % (self.namespace,)),
                         b":0\r\n")

    @defer.inlineCallbacks
    def test_large_batches_are_split(self):
        sched, clock = self.make_scheduler()
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        store = sched.jobstores["redis"]
        # A subscription that completes late wakes the scheduler, which calls
        # other scripts: only the history scripts are counted.
        yield store.when_subscribed()
        self.patch(redis_store, "RUNS_BATCH", 4)
        calls = []
        script = store._script
        self.patch(store, "_script", lambda name, args: calls.append(name) or script(name, args))
        yield defer.gatherResults([store.append_run("a", self.run_record(n), 100)
                                   for n in range(10)])
        self.assertEqual([name for name in calls if name == "append_runs"], ["append_runs"] * 3)
        self.assertEqual(len((yield store.get_runs("a"))), 10)

    @defer.inlineCallbacks
    def test_scheduler_records_runs(self):
        sched, clock = self.make_scheduler(history_size=2, scheduler_id="node-1")
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        runs = []

        @defer.inlineCallbacks
        def poll():
            runs[:] = yield sched.job_history("a")
        for run in (1, 2, 3):
            yield drive(clock, lambda: clock.getDelayedCalls() and min(
                c.getTime() for c in clock.getDelayedCalls()) == after(10 * run).timestamp())
            clock.advance(10)
            yield drive(clock, lambda: len(calls) == run)
        deadline = time.monotonic() + 5
        while len(runs) < 2 or runs[0]["scheduled_run_time"] != after(30):
            self.assertLess(time.monotonic(), deadline, runs)
            yield poll()
        self.assertEqual([(r["outcome"], r["scheduler"], r["scheduled_run_time"]) for r in runs],
                         [("ok", "node-1", after(30)), ("ok", "node-1", after(20))])

    @defer.inlineCallbacks
    def test_write_failure_is_logged_not_raised(self):
        store = self.make_store(timeout=0.5)
        sched, clock = self.make_scheduler(store=store)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        logged = []
        store.log = Logger(observer=logged.append)
        store._stopped = True           # every call now fails as if Redis were away
        self.addCleanup(setattr, store, "_stopped", False)
        result = yield store.append_run("a", self.run_record(1), 3)
        self.assertIsNone(result)
        self.assertEqual([formatEvent(e) for e in logged],
                         ["1 run history records not written: the Redis job store is "
                          "shut down"])


class NamespaceTests(RedisTestCase):
    """Namespaces on one server do not see each other."""

    @defer.inlineCallbacks
    def test_isolated(self):
        first = self.make_store(namespace=self.namespace + "-1", tasks=tasks())
        second = self.make_store(namespace=self.namespace + "-2", tasks=tasks())
        sched_a, clock = self.make_scheduler(store=first, start=False)
        sched_b, _ = self.make_scheduler(store=second, clock=clock, start=False)
        yield second.when_subscribed()
        yield sched_a.add_job("record", "interval", seconds=5, id="same", jobstore="redis")
        yield sched_b.add_job("record", "interval", seconds=9, id="same", jobstore="redis")
        yield sched_a.add_job("record", "interval", seconds=5, id="only-a", jobstore="redis")
        self.assertEqual((yield first.count_jobs()), 2)
        self.assertEqual((yield second.count_jobs()), 1)
        now = sched_a.now() + _dt.timedelta(seconds=5)
        self.assertEqual(len((yield second.acquire_due_jobs(now, 10))), 0)
        yield first.remove_all_jobs()
        self.assertEqual((yield first.count_jobs()), 0)
        self.assertEqual((yield second.lookup_job("same")).trigger.to_dict()["seconds"], 9)
        self.assertEqual(second.notifications, 0)


class WakeupTests(RedisTestCase):
    """A change made anywhere wakes every scheduler at once (pub/sub)."""

    @defer.inlineCallbacks
    def test_other_scheduler_wakes_promptly(self):
        registry = tasks()
        fired = []
        registry.register("mark", lambda: fired.append(time.time()))
        # A real-time scheduler that would otherwise look only every 30 s.
        watcher = Scheduler(tasks=registry)
        watcher_store = self.make_store(poll_interval=30)
        watcher.add_jobstore(watcher_store, alias="redis")
        watcher.startService()
        self.addCleanup(watcher.shutdown, False)
        yield watcher_store.when_subscribed()
        yield deferLater(reactor, 0.05, lambda: None)
        # Another scheduler (not even running) adds jobs.
        editor = Scheduler(tasks=registry)
        editor.add_jobstore(self.make_store(poll_interval=30), alias="redis")
        added = time.time()
        yield editor.add_job("mark", jobstore="redis")                 # due now
        yield wait_for(lambda: len(fired) == 1, timeout=5)
        now_latency = fired[0] - added
        due = time.time() + 0.3
        yield editor.add_job("mark", "date", run_date=from_timestamp(due), jobstore="redis")
        yield wait_for(lambda: len(fired) == 2, timeout=5)
        late_by = fired[1] - due
        self.assertLess(now_latency, 0.5)
        self.assertGreaterEqual(late_by, 0)
        self.assertLess(late_by, 0.5)
        self.assertGreater(watcher_store.notifications, 0)

    @defer.inlineCallbacks
    def test_own_changes_do_not_notify(self):
        sched, clock = self.make_scheduler()
        store = sched.jobstores["redis"]
        yield store.when_subscribed()
        yield sched.add_job("record", "interval", seconds=5, jobstore="redis")
        other = self.make_store(tasks=tasks())
        yield other.when_subscribed()
        yield sched.add_job("record", "interval", seconds=5, jobstore="redis")
        yield wait_for(lambda: other.notifications == 1)
        self.assertEqual(store.notifications, 0)


    @defer.inlineCallbacks
    def test_leaving_wakes_the_others(self):
        """
        A scheduler that stops tells the others, which look again at once:
        one that saw the earliest job claimed would otherwise wait for the
        end of that claim's lease to take over.
        """
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        leaving = sched.jobstores["redis"]
        other = self.make_store(tasks=tasks())
        yield other.when_subscribed()
        now = sched.now() + _dt.timedelta(seconds=10)
        self.assertEqual(len((yield leaving.acquire_due_jobs(now, 10))), 1)
        self.assertEqual((yield other.acquire_due_jobs(now, 10)), [])
        yield leaving.shutdown()
        yield wait_for(lambda: other.notifications == 1)
        self.assertEqual([j.id for j in (yield other.acquire_due_jobs(now, 10))], ["a"])


class LivenessTests(RedisTestCase):
    """
    Each started store renews a liveness record; when one runs out, the
    others release that scheduler's claims long before their lease ends.
    """

    def test_options_checked(self):
        for options in (dict(heartbeat=0), dict(liveness=-1), dict(heartbeat=True),
                        dict(heartbeat=2, liveness=2), dict(heartbeat=3, liveness=1)):
            self.assertRaises(BadArgumentError, RedisJobStore, self.server.url(), **options)

    def nodes(self):
        return self.server.command("ZRANGE", "%s:nodes" % (self.namespace,), 0, -1)

    @defer.inlineCallbacks
    def started(self, **options):
        store = self.make_store(tasks=tasks(), **options)
        yield store.start(None, "redis")
        yield wait_for(lambda: store._beats_sent)
        return store

    @defer.inlineCallbacks
    def test_members(self):
        """The schedulers of a namespace, alive or not (the web page's cluster members)."""
        one = yield self.started(node_id="node-one")
        two = yield self.started(node_id="node-two")
        for store in (one, two):
            store._beats.stop()     # no heartbeat reaps node-gone meanwhile
        self.server.command("ZADD", "%s:nodes" % (self.namespace,), 1, "node-gone")
        members = yield one.members()
        self.assertEqual([(m["id"], m["alive"], m["self"]) for m in members],
                         [("node-gone", False, False), ("node-one", True, True),
                          ("node-two", True, False)])
        self.assertTrue(0 < members[1]["expires_in"] <= one.liveness)
        sched, _ = self.make_scheduler(one, start=False)
        rows = yield sched.cluster_members()
        self.assertEqual([(r["id"], r["store"]) for r in rows],
                         [("node-gone", "redis"), ("node-one", "redis"), ("node-two", "redis")])

    def test_members_without_a_shared_store(self):
        sched = Scheduler(reactor=make_clock(), scheduler_id="alone")
        self.assertEqual(self.successResultOf(sched.cluster_members()),
                         [{"id": "alone", "alive": True, "self": True, "store": None}])

    @defer.inlineCallbacks
    def test_dead_schedulers_claims_released(self):
        sched, clock = self.make_scheduler(start=False)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        dying = yield self.started(heartbeat=0.05, liveness=0.3)     # lease: 30 s
        other = self.make_store(tasks=tasks())
        now = sched.now() + _dt.timedelta(seconds=10)
        self.assertEqual(len((yield dying.acquire_due_jobs(now, 10))), 1)
        self.assertIn(dying.node_id.encode(), self.nodes())
        self.assertEqual((yield other.acquire_due_jobs(now, 10)), [])
        # The earliest claim ends with its holder's liveness record, not its lease.
        next_time = yield other.get_next_run_time()
        self.assertLess(next_time, other._now() + _dt.timedelta(seconds=1))
        # Alive, it keeps its claim past its liveness period.
        yield deferLater(reactor, 0.5, lambda: None)
        self.assertEqual((yield other.acquire_due_jobs(now, 10)), [])
        dying._beats.stop()         # as if killed
        yield deferLater(reactor, 0.4, lambda: None)
        self.assertEqual([j.id for j in (yield other.acquire_due_jobs(now, 10))], ["a"])
        self.assertNotIn(dying.node_id.encode(), self.nodes())

    @defer.inlineCallbacks
    def test_heartbeat_reaps_and_tells_the_others(self):
        dying = yield self.started(heartbeat=0.05, liveness=0.3)
        reaper = yield self.started(heartbeat=0.05, liveness=0.3)
        listener = self.make_store(tasks=tasks())
        yield listener.when_subscribed()
        dying._beats.stop()
        yield wait_for(lambda: reaper.reaped == 1 and listener.notifications == 1)
        self.assertEqual(self.nodes(), b"*1\r\n$%d\r\n%s\r\n" % (
            len(reaper.node_id), reaper.node_id.encode()))

    @defer.inlineCallbacks
    def test_resumed_scheduler_learns_it_was_reaped(self):
        logged = []
        stopped = yield self.started(heartbeat=0.05, liveness=0.3)
        stopped.log = Logger(observer=logged.append)
        yield self.started(heartbeat=0.05, liveness=0.3)
        stopped._beats.stop()
        yield wait_for(lambda: stopped.node_id.encode() not in self.nodes())
        yield stopped._beat()
        self.assertIn(stopped.node_id.encode(), self.nodes())
        [event] = logged
        self.assertIn("did not renew its liveness record", formatEvent(event))

    @defer.inlineCallbacks
    def test_shutdown_drops_the_record(self):
        store = yield self.started()
        self.assertIn(store.node_id.encode(), self.nodes())
        yield store.shutdown()
        self.assertEqual(self.nodes(), b"*0\r\n")


def hang(deferreds=[]):
    """A job whose instance runs until the test fires its Deferred."""
    d = defer.Deferred()
    deferreds.append(d)
    return d


class ClusterTestCase(RedisTestCase):
    """Schedulers on Clocks sharing a namespace, with the task "hang"."""

    def setUp(self):
        RedisTestCase.setUp(self)
        del hang.__defaults__[0][:]

    def scheduler(self, **store_options):
        registry = tasks()
        registry.register("hang", hang)
        store = self.make_store(tasks=registry, **store_options)
        sched, clock = self.make_scheduler(store, tasks=registry)
        return sched, clock, EventRecorder(sched, ev.EVENT_JOB_SUBMITTED
                                           | ev.EVENT_JOB_MAX_INSTANCES)


class ClusterInstanceTests(ClusterTestCase):
    """max_instances holds across the schedulers of a namespace."""

    @defer.inlineCallbacks
    def test_instance_elsewhere_counts(self):
        one, clock_one, events_one = self.scheduler()
        two, clock_two, events_two = self.scheduler()
        yield one.add_job("hang", "interval", seconds=10, id="a", jobstore="redis")
        clock_one.advance(10)
        yield drive(clock_one, lambda: events_one.codes() == [ev.EVENT_JOB_SUBMITTED])
        yield wait_for(lambda: not one.jobstores["redis"]._claimed)
        clock_two.advance(20)
        yield drive(clock_two, lambda: events_two.codes() == [ev.EVENT_JOB_MAX_INSTANCES])
        self.assertEqual(two.running_instances("a"), 0)
        # The instance ends: the next run starts on either scheduler.
        hang.__defaults__[0][0].callback(None)
        yield wait_for(lambda: self.server.command(
            "EXISTS", "%s:instances:a" % (self.namespace,)) == b":0\r\n")
        clock_two.advance(10)
        yield drive(clock_two, lambda: events_two.codes()[-1:] == [ev.EVENT_JOB_SUBMITTED])

    @defer.inlineCallbacks
    def test_dead_schedulers_instances_stop_counting(self):
        one, clock_one, events_one = self.scheduler(heartbeat=0.05, liveness=0.3)
        two, clock_two, events_two = self.scheduler()
        yield one.add_job("hang", "interval", seconds=10, id="a", jobstore="redis")
        clock_one.advance(10)
        yield drive(clock_one, lambda: events_one.codes() == [ev.EVENT_JOB_SUBMITTED])
        # Renewed while its scheduler lives, past the instance lease.
        yield deferLater(reactor, 0.5, lambda: None)
        clock_two.advance(20)
        yield drive(clock_two, lambda: events_two.codes() == [ev.EVENT_JOB_MAX_INSTANCES])
        one.jobstores["redis"]._beats.stop()        # as if killed
        yield deferLater(reactor, 0.4, lambda: None)
        clock_two.advance(10)
        yield drive(clock_two, lambda: events_two.codes()[-1:] == [ev.EVENT_JOB_SUBMITTED])

    @defer.inlineCallbacks
    def test_run_now_counts_too(self):
        one, clock_one, events_one = self.scheduler()
        two, clock_two, events_two = self.scheduler()
        yield one.add_job("hang", "interval", seconds=10, id="a", jobstore="redis")
        yield one.run_job("a")
        self.assertEqual(events_one.codes(), [ev.EVENT_JOB_SUBMITTED])
        yield wait_for(lambda: self.server.command(
            "EXISTS", "%s:instances:a" % (self.namespace,)) == b":1\r\n")
        clock_two.advance(10)
        yield drive(clock_two, lambda: events_two.codes() == [ev.EVENT_JOB_MAX_INSTANCES])


class RecoveryTests(ClusterTestCase):
    """
    A run of a job with C{recover=True} is held in Redis until it ends; if
    its scheduler dies first, another runs it again (at least once).  Other
    jobs' runs are not (at most once).
    """

    def recovery(self):
        return self.server.command("HLEN", "%s:recovery" % (self.namespace,))

    @defer.inlineCallbacks
    def start_and_kill(self, recover):
        """A run starts on one scheduler, which dies; fire with the other's events."""
        one, clock_one, events_one = self.scheduler(heartbeat=0.05, liveness=0.3)
        two, clock_two, events_two = self.scheduler(heartbeat=0.05, liveness=0.3)
        yield one.add_job("hang", "interval", seconds=10, id="a", jobstore="redis",
                          recover=recover)
        clock_one.advance(10)
        yield drive(clock_one, lambda: events_one.codes() == [ev.EVENT_JOB_SUBMITTED])
        yield wait_for(lambda: not one.jobstores["redis"]._claimed)
        self.assertEqual(self.recovery(), b":1\r\n" if recover else b":0\r\n")
        one.jobstores["redis"]._beats.stop()        # as if killed
        return events_two

    @defer.inlineCallbacks
    def test_recoverable_run_runs_again(self):
        events = yield self.start_and_kill(recover=True)
        yield wait_for(lambda: events.codes() == [ev.EVENT_JOB_SUBMITTED])
        self.assertEqual(events.events[0].scheduled_run_times, [after(10)])
        # Held again while it runs on its new scheduler.
        yield wait_for(lambda: self.recovery() == b":1\r\n")

    @defer.inlineCallbacks
    def test_other_runs_are_not_run_again(self):
        events = yield self.start_and_kill(recover=False)
        yield deferLater(reactor, 0.8, lambda: None)        # reaped meanwhile
        self.assertEqual(events.events, [])

    @defer.inlineCallbacks
    def running_recoverable(self):
        """A recoverable run started on a scheduler and held in Redis; fire with that scheduler."""
        one, clock, events = self.scheduler()
        yield one.add_job("hang", "interval", seconds=10, id="a", jobstore="redis",
                          recover=True)
        clock.advance(10)
        yield drive(clock, lambda: events.codes() == [ev.EVENT_JOB_SUBMITTED])
        yield wait_for(lambda: self.recovery() == b":1\r\n")
        return one

    @defer.inlineCallbacks
    def test_ended_run_is_released(self):
        yield self.running_recoverable()
        hang.__defaults__[0][0].callback(None)
        yield wait_for(lambda: self.recovery() == b":0\r\n")

    @defer.inlineCallbacks
    def test_leaving_scheduler_hands_its_runs_over(self):
        """A scheduler stopped without waiting for its runs hands recoverable ones over."""
        one = yield self.running_recoverable()
        yield one.shutdown(wait=False)
        self.assertEqual(self.server.command("LRANGE", "%s:recover" % (self.namespace,), 0, -1),
                         b"*1\r\n$19\r\n%s\na\r\n" % (
                             redis_store.score(after(10)).encode(),))


class TLSTests(unittest.TestCase):
    """rediss:// against a real redis-server that speaks TLS only."""

    timeout = 60

    def setUp(self):
        self.pki = make_pki(os.path.abspath(self.mktemp()))
        self.server = RedisServer(tls=self.pki).start()
        self.addCleanup(self.server.cleanup)

    def make_store(self, ca):
        with open(self.pki[ca], "rb") as f:
            trust = Certificate.loadPEM(f.read())
        store = RedisJobStore(self.server.url(), namespace="tls", timeout=1, tasks=tasks(),
                              tls_options=optionsForClientTLS("localhost", trustRoot=trust))
        self.addCleanup(store.shutdown)
        return store

    @defer.inlineCallbacks
    def test_jobs_over_tls(self):
        sched = Scheduler(reactor=make_clock(), tasks=tasks())
        sched.add_jobstore(self.make_store("ca.pem"), alias="redis")
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED)
        yield sched.add_job("record", "interval", seconds=10, id="a", args=[1],
                            jobstore="redis")
        self.assertEqual((yield sched.get_job("a")).args, (1,))
        sched.reactor.advance(10)
        yield drive(sched.reactor, lambda: recorder.events)
        self.assertEqual(calls, [((1,), {})])

    @defer.inlineCallbacks
    def test_server_not_trusted(self):
        store = self.make_store("other-ca.pem")
        failure = yield self.assertFailure(store.count_jobs(), JobStoreUnavailable)
        self.assertIn("Redis at rediss://localhost", str(failure))
        self.flushLoggedErrors()


class UnavailableTests(unittest.TestCase):
    """Lost connection: clear errors, reconnection, nothing lost."""

    timeout = 60

    def setUp(self):
        self.server = RedisServer(persistent=True).start()
        self.addCleanup(self.server.cleanup)

    @defer.inlineCallbacks
    def test_clear_error_then_reconnect(self):
        store = RedisJobStore(self.server.url(), namespace="n", timeout=0.5, tasks=tasks())
        self.addCleanup(store.shutdown)
        sched = Scheduler(reactor=make_clock(), tasks=tasks())
        sched.add_jobstore(store, alias="redis")
        yield sched.add_job("record", "interval", seconds=5, id="a", jobstore="redis")
        self.server.kill()
        started = time.monotonic()
        failure = yield self.assertFailure(store.count_jobs(), JobStoreUnavailable)
        self.assertLess(time.monotonic() - started, 2)
        self.assertIn("unavailable", str(failure))
        yield self.assertFailure(store.lookup_job("a"), JobStoreUnavailable)
        self.server.start()

        @defer.inlineCallbacks
        def count():
            try:
                result.append((yield store.count_jobs()))
            except JobStoreUnavailable:
                pass
        result = []
        deadline = time.monotonic() + 10
        while not result and time.monotonic() < deadline:
            yield count()
        self.assertEqual(result, [1])
        self.assertEqual((yield store.lookup_job("a")).id, "a")


class _DropAtSelect(portforward.ProxyServer):
    """A proxy connection that hangs up when the client's first SELECT arrives, while told to."""

    def dataReceived(self, data):
        if b"SELECT" in data.upper() and self.factory.drops > 0:
            self.factory.drops -= 1
            self.transport.abortConnection()
            return
        portforward.ProxyServer.dataReceived(self, data)


class SetupLostTests(RedisTestCase):
    """
    A connection lost while it is being set up (Redis restarting between
    the connect and the SELECT) is retried: txredisapi by itself stops
    reconnecting the whole pool for good.
    """

    @defer.inlineCallbacks
    def test_connection_lost_at_select_is_retried(self):
        proxy = portforward.ProxyFactory("127.0.0.1", self.server.port)
        proxy.protocol = _DropAtSelect
        port = reactor.listenTCP(0, proxy, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        store = RedisJobStore("redis://127.0.0.1:%d/0" % (port.getHost().port,),
                              namespace=self.namespace, timeout=2)
        self.addCleanup(store.shutdown)
        proxy.drops = store.poolsize + 1    # the first connection of each: the pool, the subscriber
        sched, clock = self.make_scheduler(store)
        yield sched.add_job("record", "interval", seconds=10, id="a", jobstore="redis")
        self.assertEqual(proxy.drops, 0)
        self.assertEqual([job.id for job in (yield sched.get_jobs())], ["a"])

    def test_refusal_stops(self):
        """A refusal (here: no such database) still stops the pool."""
        factory = redis_store._Factory("test", 99, 1)
        factory.stopTrying()
        self.assertFalse(factory.stopped)
        factory.deferred.addErrback(lambda _: None)
        factory.connectionError("Redis error: could not set dbid=99: ERR DB index is out of range")
        self.assertTrue(factory.stopped)

    def test_lost_connection_does_not_stop(self):
        factory = redis_store._Factory("test", 0, 1)
        factory.stopTrying()
        factory.deferred.addErrback(lambda _: None)
        factory.connectionError("Redis error: could not set dbid=0: Lost connection")
        self.assertFalse(factory.stopped)
