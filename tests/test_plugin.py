"""
Tests for the twistd plugin: discovery, option parsing, the service tree.
"""

import importlib.util

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from twisted.trial import unittest

from twistedsched import daemon
from twistedsched.scheduler import Scheduler
from twistedsched.timeutil import timezone_name


def parse(*argv):
    options = daemon.Options()
    options.parseOptions(list(argv))
    return options


def sched_plugin():
    for plugin in getPlugins(IServiceMaker):
        if plugin.tapname == "sched":
            return plugin
    return None


class DiscoveryTests(unittest.TestCase):

    def test_found(self):
        plugin = sched_plugin()
        self.assertIsNotNone(plugin, "twistd sched: plugin not found by getPlugins")
        self.assertTrue(IPlugin.providedBy(plugin))
        self.assertIs(plugin.options, daemon.Options)

    def test_make_service_through_plugin(self):
        service = sched_plugin().makeService(parse("--control", "none", "--console", "none"))
        self.assertIsInstance(service.getServiceNamed("scheduler"), Scheduler)


class OptionTests(unittest.TestCase):

    def test_defaults(self):
        options = parse()
        self.assertEqual(options["store"], "memory")
        self.assertEqual(options["timezone"], "UTC")
        self.assertEqual(options["control"], "tcp:7730:interface=127.0.0.1")
        self.assertEqual(options["console"], "tcp:7731:interface=127.0.0.1")
        self.assertEqual(options["max-workers"], 10)
        self.assertEqual(options["max-processes"], 2)
        self.assertEqual(options["tasks"], [])

    def test_values(self):
        options = parse("--store", "redis://127.0.0.1:6379/2", "--namespace", "game",
                        "--timezone", "Europe/London", "--tasks", "a.b", "--tasks", "c",
                        "--control", "tcp:9000:interface=127.0.0.1", "--console", "none",
                        "--max-workers", "3")
        self.assertEqual(options["store"], "redis://127.0.0.1:6379/2")
        self.assertEqual(options["namespace"], "game")
        self.assertEqual(options["tasks"], ["a.b", "c"])
        self.assertEqual(options["max-workers"], 3)

    def test_bad_values(self):
        for argv in (["--timezone", "Mars/Olympus"], ["--max-workers", "0"],
                     ["--max-processes", "0"], ["--max-processes", "two"],
                     ["--max-workers", "many"], ["--store", "sqlite"], ["--bogus"]):
            self.assertRaises(usage.UsageError, parse, *argv)

    def test_auth(self):
        options = parse("--auth", "memory:admin:secret")
        self.assertEqual(len(options["credCheckers"]), 1)

    def test_help_lists_options(self):
        text = str(daemon.Options())
        for name in ("--store", "--namespace", "--timezone", "--tasks", "--control",
                     "--console", "--max-workers", "--max-processes", "--auth"):
            self.assertIn(name, text)


class ServiceTreeTests(unittest.TestCase):

    def make(self, *argv):
        self.reactor = MemoryReactorClock()
        return daemon.makeService(parse(*argv), reactor=self.reactor)

    def test_tree(self):
        top = self.make("--timezone", "Europe/Paris", "--tasks", "twistedsched.example_tasks",
                        "--max-workers", "4", "--max-processes", "3",
                        "--control", "tcp:7740:interface=127.0.0.1")
        sched = top.getServiceNamed("scheduler")
        self.assertIs(sched.reactor, self.reactor)
        self.assertEqual(timezone_name(sched.timezone), "Europe/Paris")
        self.assertIn("echo", sched.tasks)
        self.assertEqual(sched.executors["threads"].max_workers, 4)
        self.assertEqual(sched.executors["processes"].max_workers, 3)
        control = top.getServiceNamed("control")
        top.startService()
        self.addCleanup(top.stopService)
        port, limiter, _, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (7740, "127.0.0.1"))
        self.assertIs(limiter.wrappedFactory.scheduler, sched)
        self.assertTrue(control.running)
        names = sorted(child.name for child in top)
        console = importlib.util.find_spec("twistedsched.console") is not None
        self.assertEqual(names, ["console", "control", "scheduler"] if console
                         else ["control", "scheduler"])

    def test_disabled_ports(self):
        top = self.make("--control", "none", "--console", "off")
        self.assertEqual([child.name for child in top], ["scheduler"])

    def test_auth_reaches_control(self):
        top = self.make("--auth", "memory:admin:secret", "--console", "none")
        top.startService()
        self.addCleanup(top.stopService)
        factory = self.reactor.tcpServers[0][1].wrappedFactory
        self.assertIsNotNone(factory.checker)

    def test_bad_endpoint(self):
        self.assertRaises(usage.UsageError, self.make, "--control", "nonsense:1:2")

    def test_unimportable_tasks(self):
        self.assertRaises(usage.UsageError, self.make, "--tasks", "no.such.module_here")

    def test_redis_store(self):
        try:
            import twistedsched.stores.redis  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("no redis store")
        top = self.make("--store", "redis://127.0.0.1:1/0", "--namespace", "ns1",
                        "--control", "none", "--console", "none")
        store = top.getServiceNamed("scheduler").jobstores["default"]
        self.assertIn("Redis", type(store).__name__)
