"""
Tests for the Prometheus metrics: the collector on a Clock, and the daemon's
metrics port scraped over HTTP on a real loopback port.
"""

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.python import usage
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from twistedsched import daemon
from twistedsched.errors import JobStoreUnavailable
from twistedsched.metrics import OTHER, SchedulerMetrics

from tests.helpers import make_scheduler


def ok():
    pass


def boom():
    raise ValueError("no")


def samples(text):
    """{(name, sorted labels): value} of a Prometheus text exposition."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class CollectorTests(unittest.TestCase):

    def setUp(self):
        self.sched, self.clock = make_scheduler(self, misfire_grace_time=1)
        self.metrics = SchedulerMetrics(self.sched, max_names=3, count_interval=10)
        self.metrics.startService()
        self.addCleanup(self.metrics.stopService)

    def scrape(self):
        return samples(generate_latest(self.metrics.registry))

    def test_counts_by_job_name(self):
        self.sched.add_job(ok, "interval", seconds=10, name="tick")
        self.sched.add_job(ok, "interval", seconds=10, name="tick")
        self.sched.add_job(boom, "interval", seconds=10, name="bad")
        self.sched.add_job(ok, "date", run_date=self.sched.now(), name="late")
        self.clock.advance(5)                    # "late" is 5 s late: missed
        self.clock.advance(5)
        self.flushLoggedErrors(ValueError)
        s = self.scrape()
        self.assertEqual(s[("twistedsched_jobs_fired_total", (("job", "tick"),))], 2)
        self.assertEqual(s[("twistedsched_jobs_fired_total", (("job", "bad"),))], 1)
        self.assertEqual(s[("twistedsched_jobs_errored_total", (("job", "bad"),))], 1)
        self.assertEqual(s[("twistedsched_jobs_missed_total", (("job", "late"),))], 1)
        self.assertNotIn(("twistedsched_jobs_errored_total", (("job", "tick"),)), s)
        self.assertEqual(s[("twistedsched_job_duration_seconds_count", ())], 3)
        self.assertEqual(s[("twistedsched_job_lateness_seconds_count", ())], 3)

    def test_folded_runs_count_as_missed(self):
        self.sched.add_job(ok, "interval", seconds=10, name="tick", coalesce=True,
                           misfire_grace_time=None)
        self.sched.pause()
        self.clock.advance(45)
        self.sched.resume()                      # runs due at 10..40: three folded into 40
        self.clock.advance(0)
        s = self.scrape()
        self.assertEqual(s[("twistedsched_jobs_missed_total", (("job", "tick"),))], 3)
        self.assertEqual(s[("twistedsched_jobs_fired_total", (("job", "tick"),))], 1)

    def test_skipped_running_and_lateness(self):
        slow = defer.Deferred()
        self.sched.add_job(lambda: slow, "interval", seconds=10, name="slow")
        self.clock.advance(10.5)                 # starts 0.5 s late
        self.assertEqual(self.scrape()[("twistedsched_jobs_running", ())], 1)
        self.clock.advance(10)
        s = self.scrape()
        self.assertEqual(s[("twistedsched_jobs_skipped_total", (("job", "slow"),))], 1)
        self.assertEqual(s[("twistedsched_job_duration_seconds_count", ())], 0)
        slow.callback(None)                      # a run is counted when it ends
        s = self.scrape()
        self.assertEqual(s[("twistedsched_jobs_running", ())], 0)
        self.assertEqual(s[("twistedsched_job_lateness_seconds_bucket", (("le", "0.1"),))], 0)
        self.assertEqual(s[("twistedsched_job_lateness_seconds_bucket", (("le", "0.5"),))], 1)
        self.assertEqual(s[("twistedsched_job_duration_seconds_sum", ())], 10)

    def test_job_names_past_the_cap_fold_into_other(self):
        for i in range(5):
            self.sched.add_job(ok, "interval", seconds=10, name="n%d" % (i,))
        self.clock.advance(10)
        fired = {labels: value for (name, labels), value in self.scrape().items()
                 if name == "twistedsched_jobs_fired_total"}
        self.assertEqual(len(fired), 4)
        self.assertEqual(fired[(("job", OTHER),)], 2)
        self.assertEqual(sum(fired.values()), 5)

    def test_stored_jobs_counted_on_a_timer(self):
        self.assertEqual(self.scrape()[("twistedsched_jobs_stored", ())], 0)
        self.sched.add_job(ok, "interval", seconds=100)
        self.sched.add_job(ok, "interval", seconds=100)
        self.assertEqual(self.scrape()[("twistedsched_jobs_stored", ())], 0)
        self.clock.advance(10)
        self.assertEqual(self.scrape()[("twistedsched_jobs_stored", ())], 2)

    def test_failed_count_keeps_the_last_value(self):
        self.sched.add_job(ok, "interval", seconds=100)
        self.clock.advance(10)
        self.patch(self.sched, "count_jobs",
                   lambda: defer.fail(JobStoreUnavailable("Redis is away")))
        self.clock.advance(10)
        self.assertEqual(self.scrape()[("twistedsched_jobs_stored", ())], 1)

    def test_stopped_collector_listens_no_more(self):
        self.metrics.stopService()
        self.assertEqual(self.sched._listeners, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_registries_are_separate(self):
        other = SchedulerMetrics(self.sched)
        self.assertIsNot(other.registry, self.metrics.registry)


class OptionTests(unittest.TestCase):

    def parse(self, *argv):
        options = daemon.Options()
        options.parseOptions(list(argv))
        return options

    def test_off_by_default(self):
        options = self.parse()
        self.assertEqual(options["metrics"], "none")
        top = daemon.makeService(options)
        self.assertNotIn("metrics", [child.name for child in top])

    def test_history_and_scheduler_id(self):
        top = daemon.makeService(self.parse("--history-size", "3", "--scheduler-id", "n7",
                                            "--control", "none", "--console", "none",
                                            "--quiet-runs"))
        sched = top.getServiceNamed("scheduler")
        self.assertEqual((sched._history_size, sched.scheduler_id, sched.log_runs),
                         (3, "n7", False))
        self.assertTrue(daemon.makeService(self.parse("--control", "none", "--console", "none"))
                        .getServiceNamed("scheduler").log_runs)
        self.assertRaises(usage.UsageError, self.parse, "--history-size", "-1")

    def test_refuses_beyond_loopback_without_insecure(self):
        for endpoint in ("tcp:9100", "tcp:9100:interface=0.0.0.0"):
            error = self.assertRaises(usage.UsageError, self.parse, "--metrics", endpoint)
            self.assertIn("no login", str(error))
            error = self.assertRaises(usage.UsageError, self.parse, "--metrics", endpoint,
                                      "--auth", "memory:a:b")
            self.assertIn("no login", str(error))
        self.parse("--metrics", "tcp:9100", "--insecure")


def listening_port(port_service):
    """Fire with the port a C{StreamServerEndpointService} listens on (its Deferred stays as is)."""
    d = defer.Deferred()

    def got(port):
        d.callback(port)
        return port
    port_service._waitingForPort.addCallback(got)
    return d


class ScrapeTests(unittest.TestCase):
    """The daemon's metrics port, on a real loopback port, scraped over HTTP."""

    timeout = 30

    @defer.inlineCallbacks
    def test_scrape(self):
        options = daemon.Options()
        options.parseOptions(["--control", "none", "--console", "none",
                              "--metrics", "tcp:0:interface=127.0.0.1"])
        top = daemon.makeService(options)
        sched = top.getServiceNamed("scheduler")
        sched.add_job(ok, "interval", hours=1, id="a", name="alpha")
        sched.add_job(boom, "interval", hours=1, id="b", name="beta")
        top.startService()
        self.addCleanup(top.stopService)
        port = yield listening_port(top.getServiceNamed("metrics").getServiceNamed("port"))
        url = "http://127.0.0.1:%d/metrics" % (port.getHost().port,)
        yield sched.run_job("a")
        yield sched.run_job("a")
        yield sched.run_job("b")
        self.flushLoggedErrors(ValueError)
        agent = Agent(reactor)
        response = yield agent.request(b"GET", url.encode("ascii"))
        self.assertEqual(response.code, 200)
        body = yield readBody(response)
        s = samples(body)
        self.assertEqual(s[("twistedsched_jobs_fired_total", (("job", "alpha"),))], 2)
        self.assertEqual(s[("twistedsched_jobs_errored_total", (("job", "beta"),))], 1)
        self.assertEqual(s[("twistedsched_jobs_stored", ())], 2)
        self.assertEqual(s[("twistedsched_job_duration_seconds_count", ())], 3)
        response = yield agent.request(b"GET", url.replace("/metrics", "/nothing").encode())
        self.assertEqual(response.code, 404)
        yield readBody(response)
