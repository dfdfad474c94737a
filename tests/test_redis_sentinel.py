"""
Redis Sentinel: a real primary, a replica and three sentinels on loopback
ports; the primary is killed while jobs fire every second, and the
scheduler follows the primary the sentinels elect.
"""

import collections
import gc
import time

from twisted.internet import defer
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.stores.redis import RedisJobStore
from twistedsched.timeutil import from_timestamp

from tests.redisserver import RedisServer, Sentinel
from tests.test_redis_nodes import SECOND, registry, sleep, sleep_until, wait_for, whole_second


class SentinelFailoverTests(unittest.TestCase):

    timeout = 90

    def setUp(self):
        self.primary = RedisServer().start()
        self.addCleanup(self.primary.cleanup)
        self.replica = RedisServer(extra=["--replicaof", "127.0.0.1", str(self.primary.port)])
        self.replica.start()
        self.addCleanup(self.replica.cleanup)
        self.sentinels = []
        for _ in range(3):
            sentinel = Sentinel(self.primary.port).start()
            self.addCleanup(sentinel.cleanup)
            self.sentinels.append(sentinel)

    def url(self):
        return "redis-sentinel://%s/primary/0" % (
            ",".join("127.0.0.1:%d" % s.port for s in self.sentinels),)

    def sentinels_ready(self):
        """Each sentinel knows the replica and the two other sentinels."""
        try:
            replies = [s.command("SENTINEL", "MASTER", "primary") for s in self.sentinels]
        except OSError:
            return False
        return all(b"num-slaves\r\n$1\r\n1\r\n" in reply
                   and b"num-other-sentinels\r\n$1\r\n2\r\n" in reply for reply in replies)

    def primary_port(self):
        reply = self.sentinels[0].command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "primary")
        return int(reply.split(b"\r\n")[-2])

    @defer.inlineCallbacks
    def test_jobs_follow_the_new_primary(self):
        yield wait_for(self.sentinels_ready, 30, step=0.2)
        store = RedisJobStore(self.url(), namespace="failover", timeout=1, poll_interval=2,
                              lease=5)
        sched = Scheduler(tasks=registry())
        sched.add_jobstore(store, alias="redis")
        start = whole_second(2)
        yield defer.gatherResults([
            sched.add_job("noop", "interval", seconds=1, id="job-%02d" % i, jobstore="redis",
                          start_date=from_timestamp(start), misfire_grace_time=None)
            for i in range(20)])
        runs, missed = collections.Counter(), collections.Counter()
        submitted_at = []

        def on_event(event):
            counter = runs if event.code == ev.EVENT_JOB_SUBMITTED else missed
            counter.update((event.job_id, t) for t in event.scheduled_run_times)
            if event.code == ev.EVENT_JOB_SUBMITTED:
                submitted_at.append(time.time())
        sched.add_listener(on_event, ev.EVENT_JOB_SUBMITTED | ev.EVENT_JOB_MISSED)
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        yield sleep_until(start + 3.5)
        killed = time.time()
        self.primary.kill()
        yield wait_for(lambda: self.primary_port() == self.replica.port, 30, step=0.2)
        failed_over = time.time()
        yield sleep(6)
        yield sched.shutdown(wait=False)
        self.flushLoggedErrors()

        both = runs + missed
        self.assertEqual([key for key, n in both.items() if n > 1], [])
        first = from_timestamp(start)
        for i in range(20):
            job_id = "job-%02d" % i
            times = sorted(t for (j, t) in both if j == job_id)
            # Every run time up to the last is accounted for: it ran or was missed.
            self.assertEqual(times, [first + k * SECOND for k in range(len(times))], job_id)
            self.assertGreater(times[-1].timestamp(), failed_over + 3, job_id)
        # Runs went on within seconds of the sentinels' failover.
        after_failover = [at for at in submitted_at if at > killed]
        self.assertLess(min(after_failover) - failed_over, 5)
        checker = RedisJobStore(self.url(), namespace="failover", timeout=1, tasks=registry())
        self.addCleanup(checker.shutdown)
        self.assertEqual((yield checker.count_jobs()), 20)
        yield checker.shutdown()
        # txredisapi's sentinel look-ups in flight at shutdown end on their timeout.
        yield sleep(1.5)
        gc.collect()        # a failure nobody handled is reported here, not later
