"""
The daemon and a Redis writer, against a real redis-server (issue 13, item
14): a job written into Redis by hand, naming a function that is not a
registered task, is not run (unless C{--allow-module} allows its module);
the daemon says why, keeps the job, takes it off the schedule and goes on
serving.  Also C{--max-jobs} with Redis (item 7): it counts the namespace.
"""

import json
import uuid

from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

from twistedsched.daemon import Options, make_scheduler
from twistedsched.errors import BadReferenceError, TooManyJobsError

from tests.helpers import make_clock
from tests.redisserver import shared_server
from tests.test_redis_store import drive

ran = []


def hostile(*args):
    """Stands for os:system: importable, not a registered task."""
    ran.append(("hostile",) + args)


class HostileJobTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        self.server = shared_server()
        self.namespace = "hostile-%s" % (uuid.uuid4().hex[:12],)
        del ran[:]
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    @defer.inlineCallbacks
    def daemon(self, *argv):
        """The daemon's scheduler on a Clock, with a task 'record', started."""
        options = Options()
        options.parseOptions(["--control", "none", "--console", "none", "--store",
                              self.server.url(), "--namespace", self.namespace] + list(argv))
        clock = make_clock()
        sched = make_scheduler(options, reactor=clock)
        sched.task("record")(lambda *args: ran.append(("record",) + args))
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        yield sched.count_jobs()
        return sched, clock

    def write_hostile_job(self, template_id, job_id):
        """Copy a stored job's document, pointing it at L{hostile}, due with the template."""
        key = self.namespace + ":jobs"
        doc = json.loads(self.server.command("HGET", key, template_id).split(b"\r\n")[1])
        doc.update(id=job_id, task=None, func="tests.test_redis_hostile:hostile",
                   name="record", args=["rm -rf /"])
        self.server.command("HSET", key, job_id, json.dumps(doc))
        run_times = self.namespace + ":run_times"
        due = self.server.command("ZSCORE", run_times, template_id).split(b"\r\n")[1]
        self.server.command("ZADD", run_times, due, job_id)

    @defer.inlineCallbacks
    def test_refused_kept_and_logged(self):
        sched, clock = yield self.daemon()
        yield sched.add_job("record", "interval", seconds=10, id="good", args=["ok"])
        self.write_hostile_job("good", "evil")
        clock.advance(10)
        yield drive(clock, lambda: ran)
        self.assertEqual(ran, [("record", "ok")])
        # Why, in the log; the job is kept in Redis, off the schedule.
        [failure] = self.flushLoggedErrors(BadReferenceError)
        self.assertIn("'tests.test_redis_hostile:hostile' is not in a module this job "
                      "store allows (registered tasks only)", failure.getErrorMessage())
        texts = [formatEvent(e) for e in self.logged if e.get("job_id") == "evil"]
        self.assertTrue(any("taken off the schedule" in text for text in texts), texts)
        self.assertIn(b"hostile", self.server.command("HGET", self.namespace + ":jobs",
                                                      "evil"))
        self.assertEqual(self.server.command("ZSCORE", self.namespace + ":run_times", "evil"),
                         b"$-1\r\n")
        # The daemon goes on: the good job runs again, a new one can be added.
        clock.advance(10)
        yield drive(clock, lambda: len(ran) == 2)
        self.assertEqual(ran, [("record", "ok")] * 2)
        yield sched.add_job("record", "interval", seconds=10, id="new")
        self.assertEqual(self.flushLoggedErrors(BadReferenceError), [])

    @defer.inlineCallbacks
    def test_allow_module_widens_it(self):
        sched, clock = yield self.daemon("--allow-module", "tests.test_redis_hostile")
        yield sched.add_job("record", "interval", seconds=10, id="good", args=["ok"])
        self.write_hostile_job("good", "allowed")
        clock.advance(10)
        # (The burst's runs are logged once its write-backs are in: after the runs.)
        yield drive(clock, lambda: len(ran) == 2 and not sched._processing)
        self.assertEqual(sorted(ran), [("hostile", "rm -rf /"), ("record", "ok")])
        # The run log names what ran, not the stored name ("record").
        # (Both runs went well in one burst: one event, a line per run.)
        text = "\n".join(formatEvent(e) for e in self.logged)
        self.assertIn("job 'allowed' (record) ran tests.test_redis_hostile:hostile in", text)

    @defer.inlineCallbacks
    def test_max_jobs_counts_the_namespace(self):
        """Item 7 with Redis: --max-jobs bounds the jobs of every daemon on a namespace."""
        one, _ = yield self.daemon("--max-jobs", "2")
        other, _ = yield self.daemon("--max-jobs", "2")
        yield other.add_job("record", "interval", seconds=10, id="a")
        yield other.add_job("record", "interval", seconds=10, id="b")
        yield self.assertFailure(one.add_job("record", "interval", seconds=10, id="c"),
                                 TooManyJobsError)
        yield other.remove_job("a")
        yield one.add_job("record", "interval", seconds=10, id="c")

    def test_allow_module_checks_its_argument(self):
        for bad in ("", "os:system", "a..b", "-x"):
            self.assertRaises(Exception, Options().parseOptions, ["--allow-module", bad])
