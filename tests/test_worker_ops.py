"""
Operations of the worker tier: the C{workers} listing through the control
port, the console and C{twistedsched-ctl}, with a stand-in queue executor
(the real one is shown in L{tests.test_worker} and L{tests.test_worker_processes}).
"""

import io
import json
import sys

from twisted.internet import defer
from twisted.trial import unittest
from zope.interface import implementer

from twistedsched import ctl
from twistedsched.control import PAGE_BYTES
from twistedsched.interfaces import IExecutor
from twistedsched.workerinfo import MAX_RUNNING, lines, overview

from tests.helpers import make_scheduler
from tests.test_console import Session
from tests.test_control import Harness


def worker(name, running=0, heartbeat=95.0, **more):
    record = {"name": name, "queues": ["default", "reports"], "tasks": ["a", "b"],
              "concurrency": 4, "heartbeat": heartbeat,
              "running": [{"run_id": "r%d" % i} for i in range(running)]}
    record.update(more)
    return record


@implementer(IExecutor)
class FakeQueueExecutor:
    """What the listing reads of a queue executor: C{overview()}."""

    def __init__(self, workers=(), queues=()):
        self.data = {"workers": list(workers), "queues": list(queues)}

    def start(self, scheduler, alias):
        pass

    def shutdown(self, wait=True):
        return defer.succeed(None)

    def run(self, func, args, kwargs, timeout=None):
        raise NotImplementedError()

    def overview(self):
        return json.loads(json.dumps(self.data))


QUEUE = {"queue": "reports", "depth": 3, "oldest_age": 12.5, "in_flight": 2,
         "runs_per_second": 1.5, "consumers": 0, "unconsumed": True}


class ListingTests(unittest.TestCase):

    def test_lines(self):
        data = {"workers": [worker("w1", running=2)], "queues": [QUEUE]}
        out = lines(data, 100.0)
        self.assertEqual(out[0].split(), ["WORKER", "QUEUES", "TASKS", "RUNNING", "LAST",
                                          "HEARTBEAT"])
        self.assertEqual(out[1].split(), ["w1", "default,reports", "2", "2/4", "5.0s", "ago"])
        self.assertEqual(out[4].split(), ["reports", "3", "12.5s", "2", "1.50", "0",
                                          "unconsumed"])

    def test_no_worker_tier(self):
        self.assertEqual(lines({"workers": [], "queues": []}, 0),
                         ["no worker tier (start the daemon with --broker URL)"])
        self.assertEqual(lines({"workers": [], "queues": [QUEUE]}, 0)[0], "no live workers")

    def test_overview_joins_executors_once_and_caps_running_lists(self):
        sched, _ = make_scheduler(self, start=False)
        fake = FakeQueueExecutor([worker("w1", running=MAX_RUNNING + 5)], [QUEUE])
        sched.add_executor(fake, "queue")
        sched.add_executor(fake, "queue-again")
        data = overview(sched)
        self.assertEqual([w["name"] for w in data["workers"]], ["w1"])
        self.assertEqual(len(data["workers"][0]["running"]), MAX_RUNNING)
        self.assertEqual(data["queues"], [QUEUE])


class MetricsTests(unittest.TestCase):

    def test_queue_metrics(self):
        from prometheus_client import CollectorRegistry, generate_latest
        from twistedsched.workerinfo import QueueCollector
        sched, _ = make_scheduler(self, start=False)
        sched.add_executor(FakeQueueExecutor([worker("w1")], [dict(QUEUE, runs=7)]), "queue")
        registry = CollectorRegistry()
        registry.register(QueueCollector(sched))
        text = generate_latest(registry).decode()
        for line in ('twistedsched_workers_live 1.0', 'twistedsched_queue_depth{queue="reports"} 3.0',
                     'twistedsched_queue_oldest_age{queue="reports"} 12.5',
                     'twistedsched_queue_in_flight{queue="reports"} 2.0',
                     'twistedsched_queue_runs_per_second{queue="reports"} 1.5',
                     'twistedsched_queue_consumers{queue="reports"} 0.0',
                     'twistedsched_queue_unconsumed{queue="reports"} 1.0',
                     'twistedsched_queue_runs_total{queue="reports"} 7.0'):
            self.assertIn(line + "\n", text)

    def test_a_queue_not_yet_measured_has_no_depth_sample(self):
        from prometheus_client import CollectorRegistry, generate_latest
        from twistedsched.workerinfo import QueueCollector
        sched, _ = make_scheduler(self, start=False)
        sched.add_executor(FakeQueueExecutor([], [dict(QUEUE, depth=None)]), "queue")
        registry = CollectorRegistry()
        registry.register(QueueCollector(sched))
        text = generate_latest(registry).decode()
        self.assertNotIn("twistedsched_queue_depth{", text)
        self.assertIn('twistedsched_queue_in_flight{queue="reports"} 2.0', text)


class ControlWorkersTests(unittest.TestCase):

    def harness(self, fake):
        h = Harness()
        h.sched.add_executor(fake, "queue")
        self.addCleanup(h.sched.shutdown, False)
        return h

    def test_workers_command(self):
        h = self.harness(FakeQueueExecutor([worker("w1")], [QUEUE]))
        d = h.client.workers()
        h.pump.flush()
        answer = self.successResultOf(d)
        self.assertEqual(([w["name"] for w in answer["workers"]], answer["queues"],
                          answer["truncated"]), (["w1"], [QUEUE], False))

    def test_an_answer_too_large_for_amp_is_truncated(self):
        many = [worker("w%03d" % i, tasks=["task-%d" % j for j in range(100)])
                for i in range(100)]
        h = self.harness(FakeQueueExecutor(many, [QUEUE]))
        d = h.client.workers()
        h.pump.flush()
        answer = self.successResultOf(d)
        self.assertTrue(answer["truncated"])
        self.assertTrue(0 < len(answer["workers"]) < 100)
        self.assertLessEqual(len(json.dumps(answer["workers"], separators=(",", ":"))), PAGE_BYTES)

    def test_ctl_prints_the_tables(self):
        class Client:
            def workers(self):
                return defer.succeed({"workers": [worker("w1")], "queues": [QUEUE],
                                      "truncated": True})
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        d = defer.ensureDeferred(ctl.do_workers(Client(), None))
        self.successResultOf(d)
        text = out.getvalue()
        self.assertIn("w1", text)
        self.assertIn("unconsumed", text)
        self.assertIn("(more workers than one answer holds)", text)
        self.assertIn("workers", ctl.build_parser().format_help())


class ConsoleWorkersTests(unittest.TestCase):

    def test_workers_command(self):
        sched, clock = make_scheduler(self)
        clock.advance(100 - clock.seconds() % 100)
        sched.add_executor(FakeQueueExecutor(
            [worker("w1", heartbeat=clock.seconds() - 1)], [QUEUE]), "queue")
        session = Session(self, sched)
        out = session.cmd("workers")
        self.assertEqual(out[1].split()[:4], ["w1", "default,reports", "2", "0/4"])
        self.assertIn("1.0s ago", out[1])
        self.assertIn("unconsumed", out[4])
        self.assertEqual(session.error("workers now"), "error: usage: workers")

    def test_without_a_worker_tier(self):
        sched, _ = make_scheduler(self)
        self.assertEqual(Session(self, sched).cmd("workers"),
                         ["no worker tier (start the daemon with --broker URL)"])


class WorkersPageTests(unittest.TestCase):
    """docs/workers.rst lists every option of C{twistd sched-worker}."""

    def test_every_option_documented(self):
        from twistedsched.workerd import Options
        from tests.test_docs import missing, read
        options = {"--" + name.rstrip("=") for name in Options().longOpt}
        self.assertIn("--reclaim-after", options)
        rows = "\n".join(line for line in read("docs", "workers.rst").splitlines()
                         if line.startswith("``--"))
        self.assertEqual(missing(options, rows), [])


class WorkerOptionsTests(unittest.TestCase):
    """C{twistd sched-worker}'s options: each bad one is a usage error sentence."""

    def parse(self, *argv):
        from twistedsched.workerd import Options
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_plugin_is_found(self):
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins
        names = {maker.tapname for maker in getPlugins(IServiceMaker)}
        self.assertLessEqual({"sched", "sched-worker"}, names)

    def test_good_options(self):
        options = self.parse("--broker", "redis://127.0.0.1:1/0", "--queues", "a, b,",
                             "--tasks", "tests.workertasks", "--concurrency", "3")
        self.assertEqual((options["queues"], options["tasks"], options["concurrency"]),
                         (["a", "b"], ["tests.workertasks"], 3))

    def test_bad_options(self):
        from twisted.python.usage import UsageError
        redis = ("--broker", "redis://127.0.0.1:1/0")
        for argv, message in [
                ((), "--broker is required"),
                (redis + ("--concurrency", "0"), "--concurrency must be at least 1"),
                (redis + ("--max-deliveries", "0"), "--max-deliveries must be at least 1"),
                (redis + ("--executor", "gpu"), "--executor: use reactor, threads or processes"),
                (redis + ("--reclaim-after", "1", "--heartbeat", "2"), "--reclaim-after longer"),
                (redis + ("--queues", " , "), "--queues: name at least one queue"),
                (redis + ("--queues", "a b"), "--queues: queue 'a b'"),
                (redis + ("--name", "x\ny"), "--name: worker 'x\\ny'")]:
            with self.assertRaises(UsageError) as caught:
                self.parse(*argv)
            self.assertIn(message, str(caught.exception))

    def test_bad_broker_and_tasks_are_usage_errors(self):
        from twisted.python.usage import UsageError
        from twistedsched.workerd import makeService
        for argv, message in [
                (("--broker", "mysql://x"), "--broker: broker: expected a redis://"),
                (("--broker", "redis://h:1/0", "--tasks", "no.such.module"),
                 "--tasks no.such.module: cannot import it")]:
            with self.assertRaises(UsageError) as caught:
                makeService(self.parse(*argv))
            self.assertIn(message, str(caught.exception))

    def test_make_service(self):
        from twistedsched.workerd import Worker, makeService
        service = makeService(self.parse("--broker", "redis://127.0.0.1:1/0", "--name", "w9",
                                         "--tasks", "tests.workertasks", "--executor",
                                         "threads", "--concurrency", "2"))
        self.assertIsInstance(service, Worker)
        self.assertEqual((service.worker_name, service.executor.max_workers), ("w9", 2))
        self.assertIn("wt.add", service.tasks)
        self.assertEqual(service.record()["tasks"], service.tasks.names())
