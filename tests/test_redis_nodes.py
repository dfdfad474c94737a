"""
Several schedulers on one Redis namespace, in separate processes
(L{tests.redis_node}), and Redis going away under a running scheduler.

These tests need real time (leases run on the Redis server's clock, the
processes on their own reactors): they use 1-second intervals and short
leases so that each takes about ten seconds.
"""

import collections
import datetime as _dt
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.stores.redis import RedisJobStore
from twistedsched.tasks import TaskRegistry
from twistedsched.timeutil import from_iso, from_timestamp

from tests.redisserver import RedisServer, shared_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECOND = _dt.timedelta(seconds=1)


def noop():
    pass


def registry():
    tasks = TaskRegistry()
    tasks.register("noop", noop)
    tasks.register("sleep", noop)       # (run by the nodes only)
    return tasks


def sleep(seconds):
    return deferLater(reactor, max(0.0, seconds), lambda: None)


def sleep_until(when):
    return sleep(when - time.time())


@defer.inlineCallbacks
def wait_for(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % (predicate,))
        yield sleep(step)


def whole_second(seconds_from_now):
    return math.ceil(time.time() + seconds_from_now)


class NodeTestCase(unittest.TestCase):
    """Starts node processes and reads what they recorded."""

    timeout = 90

    def setUp(self):
        self.server = shared_server()
        self.namespace = "nodes-%s" % (uuid.uuid4().hex[:12],)
        self.dir = tempfile.mkdtemp(prefix="twistedsched-nodes-")
        self.nodes = []

    def tearDown(self):
        for process, _ in self.nodes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def make_store(self, **options):
        store = RedisJobStore(self.server.url(), namespace=self.namespace, tasks=registry(),
                              **options)
        self.addCleanup(store.shutdown)
        return store

    @defer.inlineCallbacks
    def add_jobs(self, count, start, prefix="job", task="noop", **options):
        """Add interval jobs (1 s) of C{task} starting at POSIX time C{start}."""
        sched = Scheduler(tasks=registry())
        sched.add_jobstore(self.make_store(), alias="redis")
        options.setdefault("seconds", 1)
        yield defer.gatherResults([
            sched.add_job(task, "interval", id="%s-%03d" % (prefix, i), jobstore="redis",
                          start_date=from_timestamp(start), **options)
            for i in range(count)])

    def start_node(self, *extra):
        out = os.path.join(self.dir, "node-%d.jsonl" % (len(self.nodes),))
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.redis_node", self.server.url(), self.namespace,
             out] + list(extra), cwd=ROOT)
        self.nodes.append((process, out))
        return process, out

    def runs_of(self, out, kinds=("submitted", "missed")):
        """The run records of one node (of those kinds)."""
        return [r for r in self.read(out) if r.get("kind") in kinds]

    @staticmethod
    def read(out):
        if not os.path.exists(out):
            return []
        with open(out) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    @defer.inlineCallbacks
    def node_holding_claims(self, start, lease):
        """
        Ten jobs due at C{start} without a grace limit ("late-") and ten with
        0.5 s ("strict-"), claimed by a node that then stalls: (its process,
        its claim record).
        """
        yield self.add_jobs(10, start, prefix="late", seconds=60, misfire_grace_time=None)
        yield self.add_jobs(10, start, prefix="strict", seconds=60, misfire_grace_time=0.5)
        holder, holder_out = self.start_node("--stall", "--lease", str(lease))
        yield wait_for(lambda: any("claimed" in r for r in self.read(holder_out)), 20)
        [claim] = [r for r in self.read(holder_out) if "claimed" in r]
        self.assertEqual(len(claim["claimed"]), 20)
        return holder, claim

    @defer.inlineCallbacks
    def taken_over(self, out, start):
        """
        Wait for node C{out} to handle the twenty claimed jobs' runs due at
        C{start}: the late ones run, the strict ones missed.  Fire with the records.
        """
        yield wait_for(lambda: len(self.runs_of(out)) >= 20, 20)
        records = self.runs_of(out)
        self.assertEqual(sorted((r["job"], r["kind"]) for r in records),
                         sorted([("late-%03d" % i, "submitted") for i in range(10)]
                                + [("strict-%03d" % i, "missed") for i in range(10)]))
        self.assertEqual({r["run"] for r in records}, {from_timestamp(start).isoformat()})
        return records

    def wait_ready(self, outs, timeout=20):
        return wait_for(lambda: all(any("ready" in r for r in self.read(out)) for out in outs),
                        timeout)

    @defer.inlineCallbacks
    def stop_nodes(self):
        for process, _ in self.nodes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        yield wait_for(lambda: all(p.poll() is not None for p, _ in self.nodes), 15)

    def runs(self, kinds=("submitted", "missed")):
        """All run records of all nodes (of those kinds)."""
        return [r for _, out in self.nodes for r in self.read(out) if r.get("kind") in kinds]


class SharedNamespaceTests(NodeTestCase):
    """Each (job, run time) fires exactly once across the nodes."""

    @defer.inlineCallbacks
    def check_exactly_once(self, node_count, job_count=200, seconds=10):
        start = whole_second(4)
        yield self.add_jobs(job_count, start, misfire_grace_time=None, coalesce=False)
        outs = [self.start_node("--lease", "5")[1] for _ in range(node_count)]
        yield self.wait_ready(outs)
        yield sleep_until(start + seconds + 0.5)
        yield self.stop_nodes()

        records = self.runs()
        self.assertEqual([r for r in records if r["kind"] != "submitted"], [])
        fired = collections.Counter((r["job"], r["run"]) for r in records)
        duplicates = {key: n for key, n in fired.items() if n > 1}
        self.assertEqual(duplicates, {})
        by_job = collections.defaultdict(list)
        for job_id, run in fired:
            by_job[job_id].append(from_iso(run))
        self.assertEqual(len(by_job), job_count)
        first = from_timestamp(start)
        store = self.make_store()
        for job_id, runs in sorted(by_job.items()):
            runs.sort()
            # Contiguous from the start: none lost.
            self.assertEqual(runs, [first + i * SECOND for i in range(len(runs))], job_id)
            self.assertGreaterEqual(len(runs), seconds - 1, job_id)
            # And the store's next run is the first one not fired.
            job = yield store.lookup_job(job_id)
            self.assertEqual(job.scheduled_run_time, runs[-1] + SECOND, job_id)
        # On time (the nodes' timers follow the runs; no waiting for a lease or poll).
        late = [r["at"] - from_iso(r["run"]).timestamp() for r in records]
        self.assertLess(sorted(late)[len(late) * 99 // 100], 2.0)
        per_node = collections.Counter(r["node"] for r in records)
        self.assertEqual(sum(per_node.values()), len(fired))

    def test_two_nodes(self):
        return self.check_exactly_once(2)

    def test_three_nodes(self):
        return self.check_exactly_once(3)


class CrashTests(NodeTestCase):
    """A node killed while holding claims loses them after the lease."""

    @defer.inlineCallbacks
    def test_sigkill_with_claims(self):
        lease = 1.0
        start = whole_second(2.5)
        crashing, claim = yield self.node_holding_claims(start, lease)
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(10)
        # A survivor that would poll only every 30 s.
        survivor, out = self.start_node("--lease", str(lease), "--poll", "30")
        records = yield self.taken_over(out, start)
        # Handled when the lease ran out, long before the 30-second safety net.
        handled = max(r["at"] for r in records)
        self.assertLess(handled - (claim["at"] + lease), 5)
        store = self.make_store()
        job = yield store.lookup_job("late-000")
        self.assertEqual(job.scheduled_run_time, from_timestamp(start + 60))


class RedisRestartTests(unittest.TestCase):
    """Redis killed and restarted under a running scheduler: no job lost."""

    timeout = 60

    def setUp(self):
        self.server = RedisServer(persistent=True).start()
        self.addCleanup(self.server.cleanup)

    @defer.inlineCallbacks
    def run_through_restart(self, coalesce, jobs=20, batch_size=100):
        """
        C{jobs} jobs every second; Redis killed for 1.5 s.  Fires with the
        counts of (job, run time) submitted and missed, by kind.
        """
        store = RedisJobStore(self.server.url(), namespace="restart", timeout=0.5,
                              poll_interval=5, lease=5)
        sched = Scheduler(tasks=registry(), batch_size=batch_size)
        sched.add_jobstore(store, alias="redis")
        start = whole_second(1.5)
        yield defer.gatherResults([
            sched.add_job("noop", "interval", seconds=1, id="job-%03d" % i, jobstore="redis",
                          start_date=from_timestamp(start), misfire_grace_time=None,
                          coalesce=coalesce) for i in range(jobs)])
        runs = collections.Counter()
        missed = collections.Counter()
        errors = []

        def on_event(event):
            if event.code == ev.EVENT_JOBSTORE_ERROR:
                errors.append(event)
            else:
                counter = runs if event.code == ev.EVENT_JOB_SUBMITTED else missed
                counter.update((event.job_id, t) for t in event.scheduled_run_times)
        sched.add_listener(on_event, ev.EVENT_JOB_SUBMITTED | ev.EVENT_JOB_MISSED
                           | ev.EVENT_JOBSTORE_ERROR)
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        yield sleep_until(start + 2.5)
        self.server.kill()
        yield sleep(1.5)
        self.server.start()
        yield sleep_until(start + 8.5)
        yield sched.shutdown(wait=False)
        self.flushLoggedErrors()

        self.assertGreater(len(errors), 0)
        self.assertEqual([key for key, n in (runs + missed).items() if n > 1], [])
        checker = RedisJobStore(self.server.url(), namespace="restart", tasks=registry())
        self.addCleanup(checker.shutdown)
        self.assertEqual((yield checker.count_jobs()), jobs)
        first = from_timestamp(start)
        for i in range(jobs):
            job_id = "job-%03d" % i
            # Every run time up to the last is accounted for: it ran or was missed.
            fired = sorted(t for (j, t) in runs + missed if j == job_id)
            self.assertEqual(fired, [first + k * SECOND for k in range(len(fired))], job_id)
            self.assertGreaterEqual(len(fired), 7, job_id)
            job = yield checker.lookup_job(job_id)
            self.assertEqual(job.scheduled_run_time, fired[-1] + SECOND, job_id)
        return runs, missed

    @defer.inlineCallbacks
    def test_redis_killed_and_restarted(self):
        runs, missed = yield self.run_through_restart(coalesce=False)
        self.assertEqual(missed, {})            # every run ran, late

    @defer.inlineCallbacks
    def test_runs_folded_while_redis_was_down_are_on_the_record(self):
        runs, missed = yield self.run_through_restart(coalesce=True)
        self.assertEqual({job for job, _ in missed}, {"job-%03d" % i for i in range(20)})

    @defer.inlineCallbacks
    def test_redis_killed_while_batches_are_read_ahead(self):
        """
        300 jobs every second in batches of 50: the store claims each next
        batch while one runs, and Redis is killed meanwhile.
        """
        runs, missed = yield self.run_through_restart(coalesce=False, jobs=300, batch_size=50)
        self.assertEqual(missed, {})


class LivenessTests(NodeTestCase):
    """
    A node killed (SIGKILL) or stopped (SIGSTOP) while it holds claims with
    a 30-second lease: its liveness record runs out after 3 s, and another
    node runs its jobs within 5 s of the signal.
    """

    @defer.inlineCallbacks
    def check_take_over(self, sig):
        start = whole_second(2.5)
        stalled, _ = yield self.node_holding_claims(start, 30)
        survivor, out = self.start_node("--lease", "30", "--poll", "30")
        yield self.wait_ready([out])
        yield sleep(1.0)
        self.assertEqual(self.runs_of(out), [])     # the claims hold while the holder lives
        signalled = time.time()
        stalled.send_signal(sig)
        records = yield self.taken_over(out, start)
        self.assertLess(max(r["at"] for r in records) - signalled, 5.0)
        return stalled

    @defer.inlineCallbacks
    def test_runs_lost_to_a_killed_node_are_on_the_record(self):
        """
        Jobs every second, coalescing: the runs that fell due while a killed
        node held them are folded into one, and each is on the record as
        missed; every run time is accounted for exactly once.
        """
        start = whole_second(2.5)
        yield self.add_jobs(10, start, misfire_grace_time=None)
        stalled, stalled_out = self.start_node("--stall", "--lease", "30")
        yield wait_for(lambda: any("claimed" in r for r in self.read(stalled_out)), 20)
        survivor, out = self.start_node("--lease", "30")
        yield self.wait_ready([out])
        yield sleep(1.5)
        stalled.send_signal(signal.SIGKILL)
        yield sleep(6)
        yield self.stop_nodes()
        records = self.runs()
        counts = collections.Counter((r["job"], r["run"]) for r in records)
        self.assertEqual({key: n for key, n in counts.items() if n > 1}, {})
        first = from_timestamp(start)
        for i in range(10):
            job_id = "job-%03d" % i
            mine = sorted((from_iso(r["run"]), r["kind"]) for r in records if r["job"] == job_id)
            self.assertEqual([t for t, _ in mine], [first + k * SECOND for k in range(len(mine))])
            kinds = [kind for _, kind in mine]
            self.assertGreaterEqual(kinds.count("missed"), 3, mine)
            self.assertEqual(kinds[-3:], ["submitted"] * 3, mine)

    def test_killed_node_jobs_fire_within_5_seconds(self):
        return self.check_take_over(signal.SIGKILL)

    @defer.inlineCallbacks
    def test_stopped_node_jobs_fire_within_5_seconds(self):
        stalled = yield self.check_take_over(signal.SIGSTOP)
        stalled.send_signal(signal.SIGCONT)
        yield self.stop_nodes()
        # Resumed, the stopped node ran none of the runs taken from it.
        log = self.read(self.nodes[0][1])
        self.assertEqual([r for r in log if "kind" in r], [])

    @defer.inlineCallbacks
    def test_stopped_node_resumes_without_firing_twice(self):
        """
        Two healthy nodes share 20 jobs firing every second; one is stopped
        for 5 s and resumed: no run fires twice and none is lost.
        """
        start = whole_second(4)
        yield self.add_jobs(20, start, misfire_grace_time=None, coalesce=False)
        (one, _), (two, _) = self.start_node(), self.start_node()
        yield self.wait_ready([out for _, out in self.nodes])
        yield sleep_until(start + 2.3)
        one.send_signal(signal.SIGSTOP)
        yield sleep(5)
        one.send_signal(signal.SIGCONT)
        yield sleep_until(start + 11.5)
        yield self.stop_nodes()
        fired = collections.Counter((r["job"], r["run"]) for r in self.runs())
        self.assertEqual({key: n for key, n in fired.items() if n > 1}, {})
        first = from_timestamp(start)
        for i in range(20):
            runs = sorted(from_iso(run) for job, run in fired if job == "job-%03d" % i)
            self.assertEqual(runs, [first + k * SECOND for k in range(len(runs))])
            self.assertGreaterEqual(len(runs), 10)


class ClusterMaxInstancesTests(NodeTestCase):
    """max_instances holds across the nodes of a namespace."""

    def instances(self, job_id):
        """(start, end, node) of each instance of a job, by start (end None: running)."""
        records = self.runs(kinds=("submitted", "ended"))
        ends = {(r["node"], r["run"]): r["at"] for r in records
                if r["job"] == job_id and r["kind"] == "ended"}
        return sorted((r["at"], ends.get((r["node"], r["run"])), r["node"])
                      for r in records if r["job"] == job_id and r["kind"] == "submitted")

    @defer.inlineCallbacks
    def test_one_instance_at_a_time_across_three_nodes(self):
        """
        Three nodes, jobs that take 2.5 s every second with max_instances=1:
        an instance starts only after the previous one ended, wherever it ran.
        """
        start = whole_second(4)
        yield self.add_jobs(3, start, task="sleep", args=[2.5], max_instances=1)
        yield self.add_jobs(60, start, prefix="busy")   # so that every node claims often
        outs = [self.start_node()[1] for _ in range(3)]
        yield self.wait_ready(outs)
        yield sleep_until(start + 10.5)
        yield self.stop_nodes()
        for i in range(3):
            instances = self.instances("job-%03d" % i)
            self.assertGreaterEqual(len(instances), 3, instances)
            for (_, end, _), (next_start, _, _) in zip(instances, instances[1:]):
                self.assertIsNotNone(end)
                self.assertGreaterEqual(next_start, end, instances)
        self.assertGreater(len(self.runs(kinds=("skipped",))), 0)

    @defer.inlineCallbacks
    def test_killed_nodes_instance_stops_counting(self):
        """
        The node running the only allowed instance is killed: another node
        starts one within 5 s (its instance's lease ran out with its
        liveness record).
        """
        start = whole_second(3)
        yield self.add_jobs(1, start, task="sleep", args=[60], max_instances=1)
        yield self.add_jobs(40, start, prefix="busy")
        outs = [self.start_node()[1] for _ in range(2)]
        yield self.wait_ready(outs)
        yield wait_for(lambda: self.instances("job-000"), 20)
        [(started, _, node)] = self.instances("job-000")
        yield sleep(3)
        self.assertEqual(len(self.instances("job-000")), 1)     # the others skip
        [victim] = [p for p, _ in self.nodes if node == "node-%d" % (p.pid,)]
        killed = time.time()
        victim.send_signal(signal.SIGKILL)
        yield wait_for(lambda: len(self.instances("job-000")) == 2, 20)
        (_, _, first), (restarted, _, second) = self.instances("job-000")
        self.assertNotEqual(first, second)
        self.assertLess(restarted - killed, 5.0)


class ListingTests(NodeTestCase):
    """Listings page by id: each stored job once however jobs fire meanwhile."""

    @defer.inlineCallbacks
    def test_listings_while_300_jobs_fire_every_second(self):
        start = whole_second(3)
        yield self.add_jobs(300, start, misfire_grace_time=None)
        outs = [self.start_node()[1] for _ in range(2)]
        yield self.wait_ready(outs)
        yield sleep_until(start + 0.5)
        store = self.make_store()
        expected = ["job-%03d" % i for i in range(300)]
        for _ in range(20):
            ids, after = [], None
            while True:
                page = yield store.get_jobs_by_id(after, 50)
                ids += [job.id for job in page]
                if len(page) < 50:
                    break
                after = page[-1].id
                yield sleep(0.02)       # let jobs fire between pages
            self.assertEqual(ids, expected)
        yield self.stop_nodes()
        self.assertGreater(len(self.runs()), 300)       # they did fire meanwhile


class RecoveryNodeTests(NodeTestCase):
    """
    At most once by default, at least once with recover=True: a node is
    killed while both kinds of job run on it; only the recoverable run is
    run again, on the other node, within 5 s.
    """

    @defer.inlineCallbacks
    def test_killed_nodes_recoverable_run_runs_again(self):
        start = whole_second(3)
        yield self.add_jobs(1, start, prefix="recoverable", task="sleep", args=[60],
                            seconds=600, recover=True)
        yield self.add_jobs(1, start, prefix="plain", task="sleep", args=[60], seconds=600)
        victim, victim_out = self.start_node()
        yield self.wait_ready([victim_out])
        yield wait_for(lambda: len(self.runs_of(victim_out)) == 2, 20)
        survivor, out = self.start_node()
        yield self.wait_ready([out])
        killed = time.time()
        victim.send_signal(signal.SIGKILL)
        yield wait_for(lambda: self.runs_of(out), 20)
        yield sleep(2)          # time for a second, wrong, recovery to show
        [again] = self.runs_of(out)
        self.assertEqual((again["job"], again["kind"], again["run"]),
                         ("recoverable-000", "submitted", from_timestamp(start).isoformat()))
        self.assertLess(again["at"] - killed, 5.0)
