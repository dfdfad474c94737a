"""
The job policies across several schedulers on one real Redis: retained
history, atomic counters, overlap held cluster-wide, stored retries and
exclusion calendars.  Each scheduler runs on a Clock of its own; Redis
answers on the real reactor (see L{RedisTestCase.settle}).
"""

import time
import uuid

import txredisapi
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched import policies
from twistedsched.stores.redis import RedisJobStore
from twistedsched.tasks import TaskRegistry

from tests.helpers import START, EventRecorder, after, make_clock, utc
from tests.redisserver import shared_server

calls = []
pending = []
cancelled = []


def record(*args):
    calls.append(args)
    return len(calls)


def fail():
    calls.append("fail")
    raise ValueError("boom")


def slow(*args):
    calls.append(args)
    d = defer.Deferred(lambda _: cancelled.append(args))
    pending.append(d)
    return d


def registry():
    tasks = TaskRegistry()
    for func in (record, fail, slow):
        tasks.register(func.__name__, func)
    return tasks


class RedisTestCase(unittest.TestCase):
    """Schedulers on Clocks sharing a Redis namespace of their own."""

    timeout = 60

    def setUp(self):
        self.server = shared_server()
        self.namespace = "pc-%s" % (uuid.uuid4().hex[:12],)
        self.clocks = []
        del calls[:], pending[:], cancelled[:]

    def tearDown(self):
        self.flushLoggedErrors(ValueError, defer.CancelledError)

    def make_scheduler(self, start=START, **options):
        clock = make_clock(start)
        sched = Scheduler(reactor=clock, tasks=registry(), **options)
        store = RedisJobStore(self.server.url(), namespace=self.namespace, timeout=2)
        self.addCleanup(store.shutdown)
        sched.add_jobstore(store, alias="redis")
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        self.clocks.append(clock)
        return sched, clock

    @defer.inlineCallbacks
    def redis(self):
        """A plain connection, to look at the keys."""
        conn = yield txredisapi.Connection("127.0.0.1", self.server.port, reconnect=False)
        self.addCleanup(conn.disconnect)
        return conn

    @defer.inlineCallbacks
    def advance(self, seconds):
        """Move every scheduler's clock on together, letting Redis answer in between."""
        for clock in self.clocks:
            clock.advance(seconds)
        yield self.turn()

    @defer.inlineCallbacks
    def turn(self, times=5):
        for _ in range(times):
            for clock in self.clocks:
                clock.advance(0)
            yield deferLater(reactor, 0.01, lambda: None)

    @defer.inlineCallbacks
    def until(self, check, timeout=5.0):
        """Turn the reactor and fire what is due until C{check()} (may fire a Deferred)."""
        deadline = time.monotonic() + timeout
        while True:
            result = yield defer.maybeDeferred(check)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %r" % (check,))
            yield self.turn(1)


class RetentionTests(RedisTestCase):
    """A one-shot job's history stays in Redis for the retention time, for every daemon."""

    def history(self, sched, job_id):
        return sched.job_history(job_id, "redis")

    @defer.inlineCallbacks
    def test_one_shot_history_kept_and_read_by_the_other(self):
        a, _ = self.make_scheduler(history_retention=300)
        b, _ = self.make_scheduler(history_retention=300)
        yield a.add_job("record", "date", run_date=after(5), id="once", jobstore="redis")
        yield self.advance(5)
        runs = yield self.until(lambda: self.history(b, "once"))
        self.assertEqual([(r["outcome"], r["result"], r["scheduled_run_time"]) for r in runs],
                         [("ok", 1, after(5))])
        self.assertIsNone((yield b.get_job("once", "redis")))
        conn = yield self.redis()
        ttl = yield conn.ttl("%s:history:once" % (self.namespace,))
        self.assertTrue(290 <= ttl <= 300, ttl)
        self.assertEqual((yield conn.exists("%s:jobs" % (self.namespace,))), 0)

    @defer.inlineCallbacks
    def test_job_ended_by_max_runs_keeps_its_history(self):
        a, _ = self.make_scheduler(history_retention=300)
        b, _ = self.make_scheduler(history_retention=300)
        yield a.add_job("record", "interval", seconds=10, id="twice", jobstore="redis",
                        max_runs=2)
        for _ in range(2):
            yield self.advance(10)
        def ended():        # removed, with both runs in its history
            d = b.get_job("twice", "redis")
            d.addCallback(lambda job: [] if job is not None else self.history(b, "twice"))
            return d.addCallback(lambda runs: len(runs) == 2 and runs)
        runs = yield self.until(ended)
        self.assertEqual([r["scheduled_run_time"] for r in runs], [after(20), after(10)])
        conn = yield self.redis()
        ttl = yield conn.ttl("%s:history:twice" % (self.namespace,))
        self.assertTrue(0 < ttl <= 300, ttl)

    @defer.inlineCallbacks
    def test_earlier_runs_kept_and_count_bounded(self):
        a, _ = self.make_scheduler(history_retention=300, history_retained_jobs=2)
        yield a.add_job("record", "interval", seconds=10, end_date=after(20), id="ends",
                        jobstore="redis")
        yield self.advance(10)
        yield self.until(lambda: self.history(a, "ends"))
        yield self.advance(10)
        runs = yield self.until(lambda: self.history(a, "ends").addCallback(
            lambda runs: len(runs) == 2 and runs))
        self.assertEqual([r["scheduled_run_time"] for r in runs], [after(20), after(10)])
        for n in (1, 2):
            yield a.add_job("record", "date", run_date=after(20 + n), id="o%d" % (n,),
                            jobstore="redis")
            yield self.advance(1)
            yield self.until(lambda: self.history(a, "o%d" % (n,)))
        self.assertEqual((yield self.history(a, "ends")), [])     # the oldest of three went
        self.assertEqual(len((yield self.history(a, "o1"))), 1)

    @defer.inlineCallbacks
    def test_off_and_removed_by_hand(self):
        a, _ = self.make_scheduler(history_retention=0)
        yield a.add_job("record", "date", run_date=after(5), id="once", jobstore="redis")
        yield a.add_job("record", "interval", seconds=5, id="kept", jobstore="redis")
        yield self.advance(5)
        yield self.until(lambda: self.history(a, "kept"))
        self.assertEqual((yield self.history(a, "once")), [])
        yield a.remove_job("kept", "redis")
        self.assertEqual((yield self.history(a, "kept")), [])

    @defer.inlineCallbacks
    def test_the_daemon_started_last_sets_it(self):
        a, _ = self.make_scheduler(history_retention=300)
        yield self.turn()
        b, _ = self.make_scheduler(history_retention=0)
        yield self.turn()
        yield a.add_job("record", "date", run_date=after(5), id="once", jobstore="redis")
        yield a.add_job("record", "interval", seconds=5, id="kept", jobstore="redis")
        yield self.advance(5)
        yield self.until(lambda: self.history(a, "kept"))
        self.assertEqual((yield self.history(a, "once")), [])

    @defer.inlineCallbacks
    def test_added_again_keeps_it_for_good(self):
        a, _ = self.make_scheduler(history_retention=300)
        yield a.add_job("record", "date", run_date=after(5), id="t", jobstore="redis")
        yield self.advance(5)
        yield self.until(lambda: self.history(a, "t"))
        yield a.add_job("record", "interval", seconds=5, id="t", jobstore="redis")
        yield self.advance(5)
        yield self.until(lambda: self.history(a, "t").addCallback(lambda runs: len(runs) == 2))
        conn = yield self.redis()
        self.assertEqual((yield conn.ttl("%s:history:t" % (self.namespace,))), -1)
        yield a.remove_all_jobs()
        keys = yield conn.keys("%s:*" % (self.namespace,))
        self.assertEqual(sorted(keys), [self.namespace + ":nodes", self.namespace + ":retention"])


class CounterTests(RedisTestCase):
    """max_runs and pause_after_failures count atomically in Redis."""

    @defer.inlineCallbacks
    def test_runs_ended_at_once_on_two_daemons_all_count(self):
        a, _ = self.make_scheduler()
        b, _ = self.make_scheduler()
        yield a.add_job("record", "interval", seconds=1000, id="j", jobstore="redis",
                        max_runs=100)
        job_a = yield a.get_job("j", "redis")
        job_b = yield b.get_job("j", "redis")
        yield defer.gatherResults([policies.run_ended(sched, job) for _ in range(20)
                                   for sched, job in ((a, job_a), (b, job_b))])
        job = yield b.get_job("j", "redis")
        self.assertEqual(job.policy_state["runs"], 40)
        yield defer.gatherResults([policies.run_ended(sched, job) for _ in range(30)
                                   for sched, job in ((a, job_a), (b, job_b))])
        self.assertIsNone((yield a.get_job("j", "redis")))

    @defer.inlineCallbacks
    def test_failures_at_once_pause_and_resume_forgives(self):
        a, _ = self.make_scheduler()
        b, _ = self.make_scheduler()
        paused = EventRecorder(a, ev.EVENT_JOB_PAUSED)
        yield a.add_job("fail", "interval", seconds=1000, id="j", jobstore="redis",
                        pause_after_failures=4)
        job_a = yield a.get_job("j", "redis")
        job_b = yield b.get_job("j", "redis")
        boom = ValueError("boom")
        from twisted.python.failure import Failure
        yield defer.gatherResults([policies.run_ended(sched, job, Failure(boom))
                                   for _ in range(2) for sched, job in ((a, job_a), (b, job_b))])
        job = yield b.get_job("j", "redis")
        self.assertTrue(job.paused)
        self.assertEqual(job.policy_state["failures"], 4)
        self.assertEqual(job.policy_state["paused_reason"],
                         "paused after 4 failed runs in a row (last: ValueError: boom)")
        yield b.resume_job("j", "redis")
        job = yield a.get_job("j", "redis")
        self.assertEqual((job.paused, job.policy_state), (False, {}))
        yield policies.run_ended(a, job_a, None)
        yield policies.run_ended(b, job_b, Failure(boom))
        job = yield a.get_job("j", "redis")
        self.assertEqual((job.paused, job.policy_state.get("failures")), (False, 1))
        yield policies.run_ended(b, job_b, None)      # a success starts the count again
        self.assertNotIn("failures", (yield a.get_job("j", "redis")).policy_state)


class ClusterOverlapTests(RedisTestCase):
    """
    buffer_one, buffer_all and cancel_other hold across two schedulers: a
    run due on one while the job runs on the other waits in Redis, and the
    other runs it when its instance ends (cancelled first, for cancel_other).
    """

    @defer.inlineCallbacks
    def start(self, policy):
        """A job running on one scheduler (returned first), paused so that the other fires it."""
        a, _ = self.make_scheduler()
        b, _ = self.make_scheduler()
        self.events = {sched: EventRecorder(sched, ev.EVENT_JOB_BUFFERED |
                                            ev.EVENT_JOB_MAX_INSTANCES) for sched in (a, b)}
        yield a.add_job("slow", "interval", seconds=10, id="j", jobstore="redis",
                        overlap=policy)
        yield self.advance(10)
        yield self.until(lambda: a.running_instances("j") + b.running_instances("j") == 1)
        runner, other = (a, b) if a.running_instances("j") else (b, a)
        runner.pause()
        yield self.turn()
        return runner, other

    def history(self, sched):
        return sched.job_history("j", "redis").addCallback(
            lambda runs: [(r["scheduled_run_time"], r["outcome"]) for r in reversed(runs)])

    @defer.inlineCallbacks
    def test_buffer_one_waits_for_the_other_scheduler(self):
        runner, other = yield self.start("buffer_one")
        yield self.advance(10)
        yield self.until(lambda: self.events[other].of(ev.EVENT_JOB_BUFFERED))
        ttl = int(self.server.command("TTL", self.namespace + ":buffered:j")[1:].split(b"\r")[0])
        self.assertTrue(0 < ttl <= 7 * 24 * 3600, ttl)     # never a key left for good
        yield self.advance(10)           # a second run finds no room: skipped
        yield self.until(lambda: self.events[other].of(ev.EVENT_JOB_MAX_INSTANCES))
        self.assertEqual(len(calls), 1)
        pending.pop(0).callback(None)    # the first run ends: the held one starts
        yield self.until(lambda: len(calls) == 2)
        self.assertEqual(runner.running_instances("j"), 1)
        pending.pop(0).callback(None)
        runs = yield self.until(lambda: self.history(other).addCallback(
            lambda runs: len(runs) == 3 and runs))
        self.assertEqual(sorted(runs), [(after(10), "ok"), (after(20), "ok"),
                                        (after(30), "skipped")])

    @defer.inlineCallbacks
    def test_buffer_all_runs_each_in_order(self):
        runner, other = yield self.start("buffer_all")
        for n in range(3):
            yield self.advance(10)
            yield self.until(lambda: len(self.events[other].of(ev.EVENT_JOB_BUFFERED)) == n + 1)
        for n in range(4):
            self.assertEqual(len(calls), n + 1)
            pending.pop(0).callback(None)
            if n < 3:
                yield self.until(lambda: len(calls) == n + 2)
        runs = yield self.until(lambda: self.history(runner).addCallback(
            lambda runs: len(runs) == 4 and runs))
        self.assertEqual(runs, [(after(10 * n), "ok") for n in (1, 2, 3, 4)])

    @defer.inlineCallbacks
    def test_cancel_other_cancels_on_the_other_scheduler(self):
        runner, other = yield self.start("cancel_other")
        yield self.advance(10)
        yield self.until(lambda: len(calls) == 2)       # cancelled there, then started
        self.assertEqual(len(cancelled), 1)
        self.assertEqual((runner.running_instances("j"), other.running_instances("j")), (1, 0))
        pending[-1].callback(None)
        runs = yield self.until(lambda: self.history(runner).addCallback(
            lambda runs: len(runs) == 2 and runs))
        self.assertEqual(runs, [(after(10), "cancelled"), (after(20), "ok")])

    @defer.inlineCallbacks
    def test_runs_at_once_when_the_instance_ended_meanwhile(self):
        a, _ = self.make_scheduler()
        store = a.jobstores["redis"]
        yield self.until(lambda: store.subscribed)
        answer = yield store.hold_run("nothing-runs", [after(10)], 1)
        self.assertEqual(answer, 0)
        self.assertIsNone((yield store.take_held("nothing-runs", "some-token")))


class TopRandom:
    """A C{random.Random} stand-in whose uniform() gives the upper bound."""

    def uniform(self, low, high):
        return high


class StoredRetryTests(RedisTestCase):
    """A pending retry is kept in Redis: another scheduler (or the same, restarted) runs it."""

    @defer.inlineCallbacks
    def fail_once(self):
        """A scheduler whose job failed at 100 s; its retry (4 s later) is pending in Redis."""
        a, _ = self.make_scheduler(random=TopRandom())
        self.retries = EventRecorder(a, ev.EVENT_JOB_RETRY)
        yield a.add_job("fail", "interval", seconds=100, id="j", jobstore="redis",
                        retries=1, retry_delay=4, retry_max_delay=4)
        yield self.advance(100)
        store = a.jobstores["redis"]
        [(_, job_id, attempt, run_time, _, carried)] = yield self.until(store.pending_retries)
        self.assertIsNone(carried)          # the job is in the store
        self.assertEqual((job_id, attempt, run_time), ("j", 2, after(100)))
        return a

    def errors(self, sched):
        return sched.job_history("j", "redis").addCallback(
            lambda runs: [r["error"] for r in runs])

    @defer.inlineCallbacks
    def test_run_by_another_when_its_scheduler_stops(self):
        a = yield self.fail_once()
        yield a.shutdown(wait=False)
        self.clocks.remove(a.reactor)
        b, _ = self.make_scheduler(start=after(100))      # started later, or a.restarted
        yield self.advance(4)
        errors = yield self.until(lambda: self.errors(b).addCallback(
            lambda errors: len(errors) == 2 and errors))
        self.assertEqual(errors, ["attempt 2 of 2: ValueError: boom",
                                  "attempt 1 of 2: ValueError: boom"])
        self.assertEqual((yield b.jobstores["redis"].pending_retries()), [])

    @defer.inlineCallbacks
    def test_run_once_when_its_scheduler_dies(self):
        a = yield self.fail_once()
        self.clocks.remove(a.reactor)          # a hangs: its timers never fire
        b, _ = self.make_scheduler(start=after(100))
        yield self.advance(4)
        yield self.until(lambda: calls.count("fail") == 2)
        a.reactor.advance(4)                   # a wakes up: the retry was taken
        yield self.turn()
        self.assertEqual(calls.count("fail"), 2)
        self.assertEqual(len((yield self.errors(b))), 2)

    @defer.inlineCallbacks
    def test_seen_by_a_running_scheduler_at_its_next_look(self):
        from twistedsched.policies import retry
        self.patch(retry, "WATCH_INTERVAL", 0.1)
        b, _ = self.make_scheduler(start=START)          # running before the failure
        self.clocks.remove(b.reactor)
        a = yield self.fail_once()
        self.clocks.remove(a.reactor)                    # a hangs
        self.clocks.append(b.reactor)
        b.reactor.advance(100)
        yield deferLater(reactor, 0.3, lambda: None)     # b looks again (every 0.1 s here)
        yield self.advance(4)
        yield self.until(lambda: calls.count("fail") == 2)
        self.assertEqual(len((yield self.errors(b))), 2)

    @defer.inlineCallbacks
    def test_one_shot_job_retried_by_another_scheduler(self):
        a, _ = self.make_scheduler(random=TopRandom())
        yield a.add_job("fail", "date", run_date=after(100), id="once", jobstore="redis",
                        retries=1, retry_delay=4, retry_max_delay=4)
        yield self.advance(100)
        store = a.jobstores["redis"]
        [(_, job_id, attempt, _, _, carried)] = yield self.until(store.pending_retries)
        self.assertEqual((job_id, attempt, carried.id), ("once", 2, "once"))
        self.assertIsNone((yield a.get_job("once", "redis")))    # it has left the store
        yield a.shutdown(wait=False)
        self.clocks.remove(a.reactor)
        b, _ = self.make_scheduler(start=after(100))
        yield self.advance(4)
        yield self.until(lambda: calls.count("fail") == 2)
        self.assertEqual((yield b.jobstores["redis"].pending_retries()), [])

    @defer.inlineCallbacks
    def test_removed_job_not_retried(self):
        a = yield self.fail_once()
        yield a.remove_job("j", "redis")
        yield self.advance(4)
        yield self.until(lambda: a.jobstores["redis"].pending_retries().addCallback(
            lambda retries: retries == []))
        self.assertEqual(calls.count("fail"), 1)


class ExcludeTests(RedisTestCase):
    """exclude= holds whichever scheduler of the namespace fires the job."""

    @defer.inlineCallbacks
    def test_two_schedulers_skip_the_excluded_dates(self):
        holidays = {"holidays": ["2026-01-08"]}
        a, _ = self.make_scheduler(calendars=holidays)
        b, _ = self.make_scheduler(calendars=holidays)
        yield a.add_job("record", "cron", hour=4, id="j", jobstore="redis", timezone="UTC",
                        exclude=["holidays", "2026-01-07"])
        job = yield b.get_job("j", "redis")
        self.assertEqual((job.exclude, job.next_run_time), (["holidays", "2026-01-07"],
                                                             utc(2026, 1, 6, 4)))
        self.assertEqual((yield b.next_fire_times("j", 3)),
                         [utc(2026, 1, 6, 4), utc(2026, 1, 9, 4), utc(2026, 1, 10, 4)])
        yield self.advance(16 * 3600)      # the 6th at 04:00
        for day in range(4):              # the 7th to the 10th
            yield self.advance(86400)
        runs = yield self.until(lambda: a.job_history("j", "redis").addCallback(
            lambda runs: len(runs) == 3 and runs))
        self.assertEqual([(r["scheduled_run_time"], r["outcome"]) for r in reversed(runs)],
                         [(utc(2026, 1, day, 4), "ok") for day in (6, 9, 10)])
        self.assertEqual(len(calls), 3)
        self.assertEqual((yield a.get_job("j", "redis")).next_run_time, utc(2026, 1, 11, 4))

    @defer.inlineCallbacks
    def test_policy_options_as_the_other_scheduler_reads_them(self):
        a, _ = self.make_scheduler()
        b, _ = self.make_scheduler()
        options = dict(max_runs=5, pause_after_failures=2, retries=3, retry_delay=1.5,
                       retry_max_delay=30, overlap="buffer_all", exclude=["2026-12-25"])
        yield a.add_job("record", "interval", seconds=1000, id="j", jobstore="redis",
                        **options)
        job = yield b.get_job("j", "redis")
        self.assertEqual(policies.describe_options(job), options)
        yield b.modify_job("j", "redis", overlap="cancel_other", max_runs=None)
        job = yield a.get_job("j", "redis")
        self.assertEqual((job.overlap, job.max_runs), ("cancel_other", None))


class HeldForADeadSchedulerTests(RedisTestCase):
    """A run held for an instance whose scheduler died runs after the job's next run."""

    @defer.inlineCallbacks
    def test_next_claim_then_the_held_run(self):
        stores = []

        def make():
            clock = make_clock()
            sched = Scheduler(reactor=clock, tasks=registry())
            store = RedisJobStore(self.server.url(), namespace=self.namespace, timeout=2,
                                  heartbeat=0.05, liveness=0.3)
            self.addCleanup(store.shutdown)
            sched.add_jobstore(store, alias="redis")
            sched.startService()
            self.addCleanup(sched.shutdown, False)
            self.clocks.append(clock)
            stores.append(store)
            return sched
        a, b = make(), make()
        buffered = EventRecorder(b, ev.EVENT_JOB_BUFFERED)
        yield a.add_job("slow", "interval", seconds=10, id="j", jobstore="redis",
                        overlap="buffer_one")
        a.pause()                          # a alone would run it... b too: make a the runner
        b.pause()
        yield self.turn()
        a.resume()
        yield self.advance(10)
        yield self.until(lambda: a.running_instances("j") == 1)
        a.pause()
        b.resume()
        yield self.advance(10)             # due at 20 on b: held for a's instance
        yield self.until(lambda: buffered.events)
        stores[0]._beats.stop()            # a dies: its heartbeat stops, its lease runs out
        self.clocks.remove(a.reactor)
        yield deferLater(reactor, 0.5, lambda: None)
        yield self.advance(10)             # due at 30 on b: nothing runs elsewhere now
        yield self.until(lambda: len(calls) == 2)
        pending[-1].callback(None)         # it ends: b takes the run held since 20
        yield self.until(lambda: len(calls) == 3)
        self.assertEqual([args for args in calls], [(), (), ()])
        pending[-1].callback(None)
        runs = yield self.until(lambda: b.job_history("j", "redis").addCallback(
            lambda runs: len(runs) == 2 and runs))
        self.assertEqual([r["scheduled_run_time"] for r in reversed(runs)], [after(30), after(20)])


class TwoDaemonsTests(unittest.TestCase):
    """
    Two real C{twistd sched} daemons on one redis-server: a buffer_one job
    whose runs outlast its interval never runs twice at once, though both
    daemons fire it; a run due on one while the other runs the job waits
    and runs when that run ends.
    """

    timeout = 120

    def start_daemon(self, name, namespace):
        from tests.daemonprocess import environment, free_port, stop_process
        import os
        import subprocess
        import sys
        port = free_port()
        workdir = self.mktemp()
        os.makedirs(workdir)
        log = open(os.path.join(workdir, "twistd.log"), "wb")
        self.addCleanup(log.close)
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "sched",
                "--tasks", "twistedsched.example_tasks", "--console", "none",
                "--control", "tcp:%d:interface=127.0.0.1" % (port,),
                "--store", self.server.url(), "--namespace", namespace,
                "--scheduler-id", name, "--min-interval", "0"]
        process = subprocess.Popen(args, cwd=workdir, env=environment(), stdout=log,
                                   stderr=subprocess.STDOUT)
        self.addCleanup(stop_process, process)
        return port

    @defer.inlineCallbacks
    def connect(self, port):
        from twistedsched.client import connect
        deadline = time.monotonic() + 20
        while True:
            try:
                client = yield connect(reactor, "tcp:127.0.0.1:%d" % (port,))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                yield deferLater(reactor, 0.1, lambda: None)
            else:
                self.addCleanup(client.close)
                return client

    @defer.inlineCallbacks
    def test_buffer_one_across_two_daemons(self):
        self.server = shared_server()
        namespace = "pd-%s" % (uuid.uuid4().hex[:12],)
        one = yield self.connect(self.start_daemon("d1", namespace))
        two = yield self.connect(self.start_daemon("d2", namespace))
        # Each run sleeps 1.5 s; one is due every second: most are due while one runs.
        yield one.add_job("sleep", ("interval", "1s"), id="j", args=[1.5],
                          overlap="buffer_one")
        deadline = time.monotonic() + 40
        seen = {}
        while time.monotonic() < deadline:
            for run in (yield two.job_history("j")):
                seen[(run["scheduled_run_time"], run["scheduler"], run["outcome"])] = run
            runs = [run for run in seen.values() if run["outcome"] == "ok"]
            elsewhere = [run for run in seen.values()
                         if "instance running elsewhere" in (run["error"] or "")]
            if len(runs) >= 5 and elsewhere:
                break
            yield deferLater(reactor, 0.25, lambda: None)
        yield one.pause()
        yield two.pause()
        self.assertGreaterEqual(len(runs), 5, runs)
        # A run came due on one daemon while the other ran the job: it was
        # held in Redis (and the next, finding no room, skipped there).
        self.assertTrue(elsewhere, seen)
        runs.sort(key=lambda run: run["started"])
        for before, run in zip(runs, runs[1:]):
            # Never two at once (the clocks are the same machine's).
            self.assertGreaterEqual(run["started"], before["ended"], (before, run))


class RetentionWhileRedisIsAwayTests(unittest.TestCase):
    """The retention is said again once Redis is back."""

    timeout = 60

    @defer.inlineCallbacks
    def test_said_again_when_redis_is_back(self):
        from tests.redisserver import RedisServer
        from twistedsched.errors import JobStoreUnavailable
        server = RedisServer().start()
        self.addCleanup(server.cleanup)
        store = RedisJobStore(server.url(), namespace="r", timeout=0.5)
        self.addCleanup(store.shutdown)
        yield store.count_jobs()              # connected
        server.kill()
        yield self.assertFailure(store.set_retention(600, 10), JobStoreUnavailable)
        server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"600" in server.command("HGET", "r:retention", "seconds"):
                break
            yield deferLater(reactor, 0.1, lambda: None)
        self.assertIn(b"600", server.command("HGET", "r:retention", "seconds"))
        self.flushLoggedErrors()


class ListedCountsTests(RedisTestCase):
    """Listings show the counts kept in Redis, as show does."""

    @defer.inlineCallbacks
    def test_listings_show_the_counts(self):
        from twisted.python.failure import Failure
        a, _ = self.make_scheduler()
        yield a.add_job("record", "interval", seconds=1000, id="j", jobstore="redis",
                        max_runs=10, pause_after_failures=5)
        yield a.add_job("record", "interval", seconds=1000, id="plain", jobstore="redis")
        job = yield a.get_job("j", "redis")
        for failure in (None, Failure(ValueError("boom")), Failure(ValueError("boom"))):
            yield policies.run_ended(a, job, failure)
        for jobs in ((yield a.get_jobs("redis")), (yield a.get_jobs_by_id("redis")),
                     [(yield a.get_job("j", "redis")), (yield a.get_job("plain", "redis"))]):
            states = {job.id: job.policy_state for job in jobs}
            self.assertEqual(states, {"j": {"runs": 3, "failures": 2}, "plain": {}})
        yield policies.run_ended(a, job, None)
        [listed] = [job for job in (yield a.get_jobs("redis")) if job.id == "j"]
        self.assertEqual(listed.policy_state, {"runs": 4})

    @defer.inlineCallbacks
    def test_counts_set_in_the_document_go_on(self):
        a, _ = self.make_scheduler()
        yield a.add_job("record", "interval", seconds=1000, id="j", jobstore="redis",
                        max_runs=5)
        yield a.modify_job("j", "redis", policy_state={"runs": 3})      # (modify_job)
        self.assertEqual((yield a.get_job("j", "redis")).policy_state, {"runs": 3})
        job = yield a.get_job("j", "redis")
        yield policies.run_ended(a, job)
        self.assertEqual((yield a.get_job("j", "redis")).policy_state, {"runs": 4})
        yield policies.run_ended(a, job)
        self.assertIsNone((yield a.get_job("j", "redis")))
