"""
Bad input through the control port, the console and the Python API
(issue 13, items 7 to 15): each is a clear, typed error, never an internal
error, a traceback or a job that silently never runs.
"""

import json
import math
import threading

from twisted.internet import defer, reactor, threads
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.test import iosim
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.client import ClientProtocol, ControlClient
from twistedsched import remote
from twistedsched.control import (
    AddJob, BadArgument, ControlFactory, InvalidTrigger, LimitExceeded, NoSuchJob)
from twistedsched.daemon import MAX_STORED_BYTES, Options, make_scheduler
from twistedsched.errors import (
    ArgumentBytesExceeded, BadArgumentError, JobStoreUnavailable, SchedulerStateError,
    describe_error)
from twistedsched.history import failure_summary
from twistedsched.job import MAX_JSON_DEPTH, argument_bytes, check_job_id
from twistedsched.remote import MIN_INTERVAL, build_remote_trigger
from twistedsched.stores import MemoryJobStore
from twistedsched.threadcheck import check_reactor_thread

from tests.test_console import Session
from tests.test_control import START
from tests.test_ctl import DaemonTestCase as CtlDaemonTestCase


def deep(depth):
    """A JSON list nested C{depth} deep."""
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def daemon_scheduler(clock, *argv):
    """The scheduler `twistd sched` builds from C{argv}, on C{clock} (not started)."""
    options = Options()
    options.parseOptions(["--control", "none", "--console", "none"] + list(argv))
    return make_scheduler(options, reactor=clock)


class PortTestCase(unittest.TestCase):
    """
    A scheduler on a Clock with a control client (AMP through iosim) and a
    console session.
    """

    def make_scheduler(self, clock):
        return Scheduler(reactor=clock, timezone="UTC")

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.sched = self.make_scheduler(self.clock)
        self.calls = []
        self.sched.task("greet")(lambda *a, **kw: self.calls.append((a, kw)))
        self.sched.startService()
        server = ControlFactory(self.sched).buildProtocol(None)
        protocol = ClientProtocol()
        self.pump = iosim.connect(server, iosim.makeFakeServer(server),
                                  protocol, iosim.makeFakeClient(protocol))
        self.client = ControlClient(protocol)
        self.session = Session(self, self.sched)

    def ok(self, d):
        self.pump.flush()
        return self.successResultOf(d)

    def error(self, d, error_type):
        """The message of the typed error C{d} fails with; nothing may be logged."""
        self.pump.flush()
        failure = self.failureResultOf(d, error_type)
        self.assertEqual(self.flushLoggedErrors(), [])
        return failure.getErrorMessage()

    def raw_add(self, **arguments):
        """An AddJob box as a hostile client may send it."""
        call = dict(task="greet", trigger_kind="interval", trigger="30s")
        call.update(arguments)
        return self.client._call(AddJob, **call)


class OptionKeyTests(PortTestCase):
    """Item 9: an option named like a parameter is a BAD_ARGUMENT, not a SERVER_ERROR."""

    def test_colliding_keys(self):
        for key in ("trigger", "task", "id", "args", "kwargs", "name", "scheduler",
                    "options", "trigger_kind", "func", "next_run_time", "jobstore_x"):
            message = self.error(self.raw_add(options=json.dumps({key: 1})), BadArgument)
            self.assertIn("unknown job option %r" % (key,), message)
        self.assertEqual(self.ok(self.client.stats())["jobs"], 0)

    def test_console_refuses_them_too(self):
        self.assertIn("unknown option 'trigger'",
                      self.session.error("add greet every 30s trigger=1"))


class NumericOptionTests(PortTestCase):
    """Item 10: jitter and every seconds option must be finite, bounded and positive."""

    BAD = ["1e300", "1e400", "-1e400", "-1", "1e9", '"5"', "true", "[]"]

    def test_amp(self):
        for key in ("jitter", "misfire_grace_time", "timeout", "max_instances"):
            for value in self.BAD + ["0.5" if key == "max_instances" else "-0.5"]:
                message = self.error(self.raw_add(options='{"%s": %s}' % (key, value)),
                                     BadArgument)
                self.assertTrue(message.startswith(key + ": expected"), message)
        message = self.error(self.raw_add(options='{"jitter": 1e300}'), BadArgument)
        self.assertEqual(message, "jitter: expected seconds >= 0 (below 1000000000) or "
                                  "None, not 1e+300")
        self.assertEqual(self.ok(self.client.stats())["jobs"], 0)

    def test_trigger_jitter(self):
        for jitter in ("1e300", "1e400", "-1"):
            spec = '{"type": "interval", "seconds": 30, "jitter": %s}' % (jitter,)
            self.error(self.raw_add(trigger_kind="json", trigger=spec), InvalidTrigger)

    def test_console(self):
        for word in ("jitter=1e300", "timeout=1e400", "misfire_grace_time=-1",
                     "max_instances=1e400"):
            self.assertTrue(self.session.error("add greet every 30s " + word).startswith(
                "error: " + word.partition("=")[0] + ": expected"), word)

    def test_python_api(self):
        for key in ("jitter", "misfire_grace_time", "timeout"):
            for value in (math.nan, math.inf, -math.inf, 1e300, -1, 10 ** 400):
                self.assertRaises(BadArgumentError, self.sched.add_job, "greet", "interval",
                                  seconds=5, **{key: value})
        self.assertRaises(BadArgumentError, self.sched.add_job, "greet", "interval",
                          seconds=5, max_instances=10 ** 400)
        self.assertRaises(BadArgumentError, Scheduler, reactor=self.clock, jitter=math.nan)
        job = self.ok(self.sched.add_job("greet", "interval", seconds=5, id="j"))
        self.assertRaises(BadArgumentError, self.sched.modify_job, "j", jitter=math.inf)
        self.assertEqual(self.ok(self.sched.get_job("j")).jitter, job.jitter)

    def test_largest_jitter_runs(self):
        job = self.ok(self.sched.add_job("greet", "date", run_date=self.sched.now(), jitter=1e9 - 1))
        self.clock.advance(job.next_run_time.timestamp() - self.clock.seconds())
        self.assertEqual(len(self.calls), 1)


class DeepJSONTests(PortTestCase):
    """Item 11: deeply nested JSON and unsendable text are typed errors, never raised."""

    def test_python_client_returns_failed_deferreds(self):
        for kwargs in (dict(args=deep(990)), dict(kwargs={"a": deep(990)}),
                       dict(args=deep(MAX_JSON_DEPTH + 1)), dict(id="a\ud800b"),
                       dict(name="\udfff"), dict(args="[1]")):
            d = self.client.add_job("greet", ("interval", "30s"), **kwargs)
            self.error(d, BadArgument)
        self.error(self.client.add_job("greet", {"type": "or", "triggers": deep(990)}),
                   BadArgument)
        self.error(self.client.modify_job("x", args=deep(990)), BadArgument)
        self.error(self.client.get_job("\ud800"), BadArgument)
        self.ok(self.client.add_job("greet", ("interval", "30s"),
                                    args=deep(MAX_JSON_DEPTH)))

    def test_server_refuses_deep_json(self):
        for field in ("args", "kwargs", "options"):
            text = "[" * 990 + "]" * 990 if field == "args" else \
                '{"a": %s}' % ("[" * 990 + "]" * 990,)
            message = self.error(self.raw_add(**{field: text}), BadArgument)
            self.assertIn("nested more than %d deep" % (MAX_JSON_DEPTH,), message)
        message = self.error(self.raw_add(args="[" * 60000), BadArgument)
        self.assertIn("nested more than", message)
        self.assertIn("nested more than", self.session.error(
            "add greet every 30s args=" + "[" * 40 + "]" * 40))

    def test_python_api(self):
        for value in (deep(990), [deep(40)]):
            e = self.assertRaises(BadArgumentError, self.sched.add_job, "tests.jobfuncs:square",
                                  "interval", seconds=5, args=[value], executor="processes")
            self.assertIn("nested more than", str(e))


    def test_deep_arguments_added_in_python_are_listed(self):
        """A job added in Python with deep arguments can still be listed remotely."""
        self.ok(self.sched.add_job("greet", "interval", seconds=5, id="deep",
                                   args=[deep(5000)], kwargs={"k": deep(5000)}))
        [job] = self.ok(self.client.get_jobs())
        self.assertEqual((job.args, job.kwargs),
                         (["<nested more than 32 deep>"], {"k": "<nested more than 32 deep>"}))
        self.assertEqual(self.ok(self.client.get_job("deep")).id, "deep")
        self.assertIn("deep", "\n".join(self.session.cmd("show deep")))


class JobIdTests(PortTestCase):
    """Item 12: ids a person cannot read, or that reorder a line, are refused everywhere."""

    BAD = ["a\x85b", "a\u2028b", "a\u2029b", "\u202eevil", "a\u200bb", "\ufeffid", " ",
           " lead", "trail ", "tab\tin", "nbsp\u00a0in", "a\u2066b", "\ue000private",
           "\U000e0041tag", "a\u3164b", "a\ufe0fb", "a\u034fb", "\u0378unassigned",
           "a\x00b", "a\x7fb", "\u2800", "a\u180eb", "\u2003em", "\u0301\u0301",
           "\u20dd", "a\u061cb", "\u00ad"]
    GOOD = ["job-1", "a b", "été", "日本の仕事", "x:y/z", "ünï.côdé", "emoji\U0001f600"]

    def test_check_job_id(self):
        for bad in self.BAD + ["", None, 5]:
            self.assertRaises(BadArgumentError, check_job_id, bad)
        for good in self.GOOD:
            self.assertEqual(check_job_id(good), good)

    def test_amp(self):
        for bad in self.BAD:
            message = self.error(self.client.add_job("greet", ("interval", "30s"), id=bad),
                                 BadArgument)
            self.assertTrue(message.startswith("id: "), message)
            self.error(self.client.add_job("greet", ("interval", "30s"), id="n",
                                           name=bad), BadArgument)
        for good in self.GOOD:
            self.assertEqual(self.ok(self.client.add_job(
                "greet", ("interval", "30s"), id=good)).id, good)

    def test_console(self):
        for bad in self.BAD:
            if bad.split() == [bad]:    # (the console splits a line at white space)
                self.assertTrue(self.session.error("add greet every 30s id=" + bad).startswith(
                    "error: id: "), repr(bad))
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])
        self.assertIn("U+202E", self.session.error("add greet every 30s id=\u202eevil"))

    def test_python_api(self):
        for bad in self.BAD:
            self.assertRaises(BadArgumentError, self.sched.add_job, "greet", "interval",
                              seconds=5, id=bad)
        self.assertEqual(self.ok(self.sched.get_jobs()), [])


class StoreErrorTests(unittest.TestCase):
    """Item 13: what the store's errors say is a sentence, not a repr."""

    def test_timeout(self):
        self.assertEqual(describe_error(defer.TimeoutError(5.0, "Deferred")),
                         "no answer within 5 s")
        self.assertEqual(describe_error(defer.TimeoutError()), "no answer in time")
        self.assertEqual(describe_error(defer.CancelledError()),
                         "cancelled before it finished")
        self.assertEqual(describe_error(ValueError()), "ValueError")

    def test_redis_store_timeout_message(self):
        from twisted.python.failure import Failure
        from twistedsched.stores.redis import RedisJobStore
        store = RedisJobStore("redis://127.0.0.1:1/0", reactor=reactor)
        failure = Failure(defer.TimeoutError(5.0, "Deferred"))
        e = self.assertRaises(JobStoreUnavailable, store._unavailable, failure, "acquire")
        self.assertEqual(str(e), "Redis at redis://127.0.0.1:1/0 is unavailable (acquire: no answer "
                                 "within 5 s); reconnecting")
        self.assertNotIn("Deferred", str(e))

    def test_run_record_of_a_timeout(self):
        from twisted.python.failure import Failure
        self.assertEqual(failure_summary(Failure(defer.TimeoutError(2, "Deferred"))),
                         "TimeoutError: no answer within 2 s")
        self.assertEqual(failure_summary(Failure(KeyError())), "KeyError")


class MinIntervalTests(PortTestCase):
    """Item 8: remote clients may not schedule runs closer than the minimum interval."""

    def test_default(self):
        self.assertEqual(MIN_INTERVAL, 1.0)
        for trigger in [("interval", "0.5s"), ("interval", "0.000001"),
                        ("json", '{"type": "interval", "seconds": 0.000001}'),
                        ("json", '{"type": "interval", "weeks": 0.000001}'),
                        ("json", '{"type": "interval", "minutes": 0.001, "hours": 0}'),
                        ("json", json.dumps({"type": "or", "triggers": [
                            {"type": "interval", "seconds": 5, "start_date": "2030-01-01"},
                            {"type": "interval", "seconds": 0.01,
                             "start_date": "2030-01-01"}]})),
                        ("json", json.dumps({"type": "or", "triggers": [
                            {"type": "date", "run_date": "2030-01-01T00:00:00"},
                            {"type": "date", "run_date": "2030-01-01T00:00:00.5"}]})),
                        ("json", json.dumps({"type": "and", "triggers": [
                            {"type": "interval", "seconds": 0.001,
                             "start_date": "2030-01-01"},
                            {"type": "cron", "second": "*"}]}))]:
            message = self.error(self.client.add_job("greet", trigger), InvalidTrigger)
            self.assertIn("--min-interval", message)
        self.ok(self.client.add_job("greet", ("interval", "1s")))
        self.ok(self.client.add_job("greet", ("cron", "* * * * * *")))
        self.assertIn("--min-interval", self.session.error("add greet every 0.1s"))

    def test_reschedule(self):
        self.ok(self.client.add_job("greet", ("interval", "30s"), id="j"))
        self.error(self.client.reschedule_job("j", ("interval", "0.1s")), InvalidTrigger)
        self.assertEqual(self.ok(self.client.get_job("j")).trigger, "interval[0:00:30]")

    def test_cron_seconds_past_a_larger_minimum(self):
        self.sched.remote_min_interval = 60
        for spec in ("* * * * * *", "*/5 * * * * *", "0,1 * * * * *", "0,59 * * * * *"):
            self.error(self.client.add_job("greet", ("cron", spec)), InvalidTrigger)
        self.error(self.client.add_job("greet", ("interval", "59s")), InvalidTrigger)
        self.ok(self.client.add_job("greet", ("cron", "*/1 * * * *")))
        self.ok(self.client.add_job("greet", ("interval", "1m")))

    def test_daemon_option(self):
        sched = daemon_scheduler(self.clock, "--min-interval", "10")
        self.assertRaises(Exception, build_remote_trigger, sched, "interval", "9s")
        build_remote_trigger(sched, "interval", "10s")
        for bad in ("-1", "nan", "inf"):
            self.assertRaises(Exception, Options().parseOptions,
                              ["--min-interval", bad])
        off = daemon_scheduler(self.clock, "--min-interval", "0")
        build_remote_trigger(off, "interval", "0.001s")

    def test_python_api_is_not_limited(self):
        self.ok(self.sched.add_job("greet", "interval", seconds=0.01))

    def test_run_now_again_and_again(self):
        """RunJob in a loop would run a job as fast as a client asks: once per interval."""
        self.ok(self.client.add_job("greet", ("interval", "1h"), id="j"))
        self.ok(self.client.run_job("j"))
        message = self.error(self.client.run_job("j"), LimitExceeded)
        self.assertEqual(message, "job 'j' was run 0 s ago; remote clients may run a job "
                                  "at most once every 1 s (the daemon's --min-interval)")
        self.assertIn("--min-interval", self.session.error("run j"))
        self.clock.advance(0.999)
        self.error(self.client.run_job("j"), LimitExceeded)
        self.clock.advance(0.001)
        self.ok(self.client.run_job("j"))
        self.assertEqual(len(self.calls), 2)
        self.error(self.client.run_job("absent"), NoSuchJob)
        self.ok(self.sched.run_job("j"))        # the Python API is not limited

    def test_run_times_kept_are_bounded(self):
        self.patch(remote, "_REMOTE_RUNS_KEPT", 3)
        for n in range(6):
            self.ok(self.client.add_job("greet", ("interval", "1h"), id="j%d" % n))
        for n in range(6):
            self.ok(self.client.run_job("j%d" % n))
            self.clock.advance(1)
        self.assertLessEqual(len(remote._remote_runs[self.sched]), 3)
        self.ok(self.client.run_job("j5"))


class StoredBytesTests(PortTestCase):
    """Item 7: the arguments of the memory store's jobs have a memory budget."""

    def make_scheduler(self, clock):
        return daemon_scheduler(clock, "--max-stored-bytes", "200000")

    def big(self, job_id, size=20000):
        return self.client.add_job("greet", ("interval", "1h"), id=job_id,
                                   args=["x" * size])

    def test_default(self):
        self.assertEqual(MAX_STORED_BYTES, 64 * 1024 * 1024)
        options = Options()
        options.parseOptions([])
        self.assertEqual((options["max-stored-bytes"], options["max-jobs"]),
                         (MAX_STORED_BYTES, 100000))

    def test_limit_refuses_and_removal_gives_back(self):
        for n in range(9):
            self.ok(self.big("j%d" % n))
        message = self.error(self.big("j9"), LimitExceeded)
        self.assertIn("more than the 200000 allowed", message)
        store = self.sched.jobstores["default"]
        self.ok(self.big("fill", 200000 - store.argument_bytes - 6000))
        self.assertIn("--max-stored-bytes", self.session.error(
            "add greet every 1h id=c args='[\"%s\"]'" % ("y" * 6000,)))
        self.ok(self.client.remove_job("fill"))
        # Small jobs still fit; removing a big one makes room for another.
        self.ok(self.client.add_job("greet", ("interval", "1h"), id="small"))
        self.ok(self.client.remove_job("j0"))
        self.ok(self.big("again"))
        self.error(self.big("more"), LimitExceeded)
        # Growing a job's arguments counts too; shrinking gives back.
        self.error(self.client.modify_job("small", args=["z" * 20000]), LimitExceeded)
        self.assertEqual(self.ok(self.client.get_job("small")).args, [])
        self.ok(self.client.modify_job("again", args=[]))
        self.ok(self.client.modify_job("small", args=["z" * 19000]))
        # Runs and pauses keep the count as it is.
        before = store.argument_bytes
        self.ok(self.client.pause_job("small"))
        self.clock.advance(7200)
        self.assertEqual(store.argument_bytes, before)
        self.ok(self.sched.remove_all_jobs())
        self.assertEqual(store.argument_bytes, 0)

    def test_expanding_json_counts_as_objects(self):
        """3 bytes of JSON ({}) take about 70 bytes as a dict: the count is of memory."""
        tiny_json = [{}] * 1000
        self.assertGreater(argument_bytes((tiny_json,), {}), 64 * 1000)
        d = self.client.add_job("greet", ("interval", "1h"), args=[[{}] * 3000])
        self.error(d, LimitExceeded)

    def test_store_refuses_past_its_limit(self):
        store = MemoryJobStore(max_argument_bytes=1000)
        sched = Scheduler(reactor=self.clock, jobstores={"default": store})
        sched.startService()
        self.failureResultOf(sched.add_job(len, "interval", seconds=5, args=["x" * 2000]),
                             ArgumentBytesExceeded)
        self.assertEqual(store.argument_bytes, 0)


class ThreadTests(unittest.TestCase):
    """Item 15: the scheduler's methods raise when called off the reactor's thread."""

    def setUp(self):
        self.sched = Scheduler(timezone="UTC")
        self.ran = []
        self.sched.startService()
        self.addCleanup(self.sched.shutdown, wait=False)

    @defer.inlineCallbacks
    def test_add_job_from_a_thread(self):
        e = yield self.assertFailure(threads.deferToThread(
            self.sched.add_job, self.ran.append, "interval", seconds=0.01, args=[1]),
            SchedulerStateError)
        self.assertIn("not the reactor's", str(e))
        self.assertIn("callFromThread", str(e))
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])

    @defer.inlineCallbacks
    def test_every_public_method(self):
        calls = [("add_job", (len,)), ("get_job", ("x",)), ("get_jobs", ()),
                 ("reschedule_job", ("x",)), ("job_history", ("x",)),
                 ("add_jobstore", ("memory", "other")), ("remove_jobstore", ("default",)),
                 ("remove_job", ("x",)), ("modify_job", ("x",)), ("pause_job", ("x",)),
                 ("resume_job", ("x",)), ("run_job", ("x",)), ("remove_all_jobs", ()),
                 ("pause", ()), ("resume", ()), ("stats", ()), ("count_jobs", ())]
        for name, args in calls:
            yield self.assertFailure(threads.deferToThread(
                getattr(self.sched, name), *args), SchedulerStateError)

    @defer.inlineCallbacks
    def test_blocking_call_from_thread_works(self):
        """The documented way: blockingCallFromThread runs it in the reactor."""
        ran = defer.Deferred()

        def in_thread():
            return threads.blockingCallFromThread(
                reactor, self.sched.add_job, lambda: ran.called or ran.callback(None),
                "date", id="from-thread")
        job = yield threads.deferToThread(in_thread)
        self.assertEqual(job.id, "from-thread")
        yield ran

    def test_reactor_thread_and_before_the_reactor(self):
        check_reactor_thread("add_job")          # trial runs the reactor in this thread
        errors = []

        def other():
            try:
                check_reactor_thread("add_job")
            except SchedulerStateError as e:
                errors.append(e)
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        self.assertEqual(len(errors), 1)


class LoggedEvents:
    """Collects log events."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)


class RunLogTargetTests(unittest.TestCase):
    """Item 14: a run's log names what ran, not the job's display name."""

    def test_target_in_log(self):
        from twisted.logger import formatEvent
        clock = Clock()
        sched = Scheduler(reactor=clock)
        logged = LoggedEvents()
        sched.log = Logger(observer=logged)
        sched.startService()
        sched.add_job("tests.jobfuncs:whoami", "interval", seconds=5, name="greet", id="j")
        clock.advance(5)
        [event] = [e for e in logged.events if "outcome" in e]
        self.assertEqual(event["target"], "tests.jobfuncs:whoami")
        self.assertIn("(greet) ran tests.jobfuncs:whoami in", formatEvent(event))


class DaemonProcessTests(CtlDaemonTestCase):
    """The limits through `twistd -n sched` and `twistedsched-ctl`, as a user meets them."""

    def daemon_args(self):
        return CtlDaemonTestCase.daemon_args(self) + [
            "--max-stored-bytes", "60000", "--min-interval", "2"]

    def test_limits_end_to_end(self):
        _, err = self.assertCtl(2, "add", "echo", "--interval", "5s", "--args",
                                "[" * 990 + "]" * 990)
        self.assertIn("--args: JSON: nested more than %d deep" % (MAX_JSON_DEPTH,), err)
        _, err = self.assertCtl(1, "add", "echo", "--interval", "5s", "--id", "\u202eevil")
        self.assertIn("id: character U+202E (RIGHT-TO-LEFT OVERRIDE)", err)
        _, err = self.assertCtl(1, "add", "echo", "--interval", "1s")
        self.assertIn("at least 2 s apart (the daemon's --min-interval)", err)
        big = json.dumps(["x" * 25000])
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "a", "--args", big)
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "b", "--args", big)
        _, err = self.assertCtl(1, "add", "echo", "--interval", "1h", "--id", "c",
                                "--args", big)
        self.assertEqual(err, "twistedsched-ctl: job 'c': its arguments take 25161 bytes, "
                              "and the jobs stored hold 50322; together more than the 60000 "
                              "allowed (max_argument_bytes; the daemon's --max-stored-bytes)\n")
        self.assertCtl(0, "remove", "a")
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "c", "--args", big)
        log = self.daemon_log()
        self.assertNotIn("Traceback", log)
        self.assertNotIn("SERVER_ERROR", log)
