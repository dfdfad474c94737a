"""
Tests for jobs' JSON form, the task registry and text references.
"""

import json

from twisted.trial import unittest

from twistedsched.errors import BadArgumentError, BadReferenceError, UnknownTaskError
from twistedsched.job import Job, check_json_arguments, check_options
from twistedsched.refs import reference_to, resolve_reference
from twistedsched.tasks import TaskRegistry
from twistedsched.triggers import IntervalTrigger

from tests import jobfuncs
from tests.helpers import START, after


def make(func=jobfuncs.square, **kwargs):
    trigger = IntervalTrigger(seconds=30, start_date=START)
    return Job(None, func, trigger, next_run_time=after(30), **kwargs)


class JobDictTests(unittest.TestCase):

    def test_round_trip_with_reference(self):
        job = make(func_ref="tests.jobfuncs:square", id="sq", args=(4,), kwargs={"k": [1, 2]},
                   max_instances=3, coalesce=False, misfire_grace_time=None, jitter=2,
                   timeout=7.5, recover=True)
        data = json.loads(json.dumps(job.to_dict()))
        again = Job.from_dict(None, data)
        self.assertIs(again.func, jobfuncs.square)
        for attr in ("id", "name", "args", "kwargs", "trigger", "max_instances", "coalesce",
                     "misfire_grace_time", "jitter", "timeout", "recover", "next_run_time",
                     "scheduled_run_time"):
            self.assertEqual(getattr(again, attr), getattr(job, attr), attr)

    def test_round_trip_with_task(self):
        tasks = TaskRegistry()
        tasks.register("sq", jobfuncs.square)
        data = make(task="sq").to_dict()
        self.assertEqual((data["task"], data["func"]), ("sq", None))
        self.assertIs(Job.from_dict(None, data, tasks=tasks).func, jobfuncs.square)
        self.assertRaises(UnknownTaskError, Job.from_dict, None, data, tasks=TaskRegistry())

    def test_unnamed_callable_cannot_be_stored(self):
        e = self.assertRaises(BadArgumentError, make(func=lambda: 1).to_dict)
        self.assertIn("register it as a task", str(e))

    def test_non_json_arguments_are_named(self):
        for args, kwargs, label in [((object(),), {}, "args[0]"),
                                    ((1, {1, 2}), {}, "args[1]"),
                                    ((), {"when": START}, "kwargs['when']"),
                                    ((), {"t": (1, 2)}, "kwargs['t']"),
                                    ((float("nan"),), {}, "args[0]"),
                                    ((), {"d": {1: "x"}}, "kwargs['d']")]:
            e = self.assertRaises(BadArgumentError, check_json_arguments, args, kwargs)
            self.assertIn(label, str(e))
        check_json_arguments((1, "x", None, [1, {"a": 2.5}]), {"b": True})


class OptionTests(unittest.TestCase):

    def test_timeout(self):
        self.assertEqual(check_options({"timeout": 2.5}), {"timeout": 2.5})
        self.assertEqual(check_options({"timeout": None}), {"timeout": None})
        for bad in (0, -1, True, "5", float("nan"), float("inf")):
            e = self.assertRaises(BadArgumentError, check_options, {"timeout": bad})
            self.assertIn("timeout", str(e))
        self.assertRaises(BadArgumentError, make, timeout=-3)

    def test_recover(self):
        self.assertEqual(check_options({"recover": True}), {"recover": True})
        self.assertFalse(make().recover)
        for bad in (1, None, "yes"):
            e = self.assertRaises(BadArgumentError, check_options, {"recover": bad})
            self.assertIn("recover: expected True or False", str(e))
        # Documents stored before the option existed load with the default.
        data = make(func_ref="tests.jobfuncs:square").to_dict()
        del data["recover"]
        self.assertFalse(Job.from_dict(None, data).recover)

    def test_options_found_good_before_are_told_apart_by_type(self):
        """
        Option sets found good are not checked again; an equal set of other
        types (True == 1 == 1.0) still is, and a bad set never becomes good.
        """
        good = {"max_instances": 1, "coalesce": True, "jitter": 0}
        for _ in range(2):
            self.assertEqual(check_options(good), good)
        for key, bad in (("max_instances", True), ("max_instances", 1.0),
                         ("coalesce", 1), ("jitter", False)):
            for _ in range(2):
                self.assertRaises(BadArgumentError, check_options, dict(good, **{key: bad}))
        # What it answers is the caller's own (the scheduler pops from it).
        check_options(good).clear()
        self.assertEqual(check_options(good), good)

    def test_options_with_lists_are_checked_each_time(self):
        dates = ["2026-12-25"]
        checked = check_options({"exclude": dates})
        dates.append("not a date")
        self.assertRaises(BadArgumentError, check_options, {"exclude": dates})
        self.assertEqual(checked, check_options({"exclude": ["2026-12-25"]}))


class TaskRegistryTests(unittest.TestCase):

    def test_register_lookup(self):
        tasks = TaskRegistry()

        @tasks.task()
        def respawn():
            pass
        tasks.register("sq", jobfuncs.square)
        self.assertIs(tasks.lookup("respawn"), respawn)
        self.assertEqual(tasks.names(), ["respawn", "sq"])
        self.assertEqual(tasks.name_of(jobfuncs.square), "sq")
        self.assertIn("sq", tasks)

    def test_bad_names_and_unknown_tasks(self):
        tasks = TaskRegistry()
        for bad in ("os:system", "", "has space", 7, "x" * 200):
            self.assertRaises(BadArgumentError, tasks.register, bad, print)
        self.assertRaises(BadArgumentError, tasks.register, "ok", "not callable")
        e = self.assertRaises(UnknownTaskError, tasks.lookup, "ghost")
        self.assertEqual(str(e), "no task is registered as 'ghost'")
        self.assertRaises(UnknownTaskError, tasks.lookup, ["unhashable"])


class ReferenceTests(unittest.TestCase):

    def test_resolve_and_reverse(self):
        self.assertIs(resolve_reference("tests.jobfuncs:square"), jobfuncs.square)
        self.assertEqual(reference_to(jobfuncs.square), "tests.jobfuncs:square")
        self.assertIsNone(reference_to(lambda: 1))
        self.assertEqual(reference_to(TaskRegistry.register),
                         "twistedsched.tasks:TaskRegistry.register")

    def test_bad_references(self):
        for ref in ("square", "tests.jobfuncs", ":square", "tests.nope:x",
                    "tests.jobfuncs:nope", "tests.jobfuncs:os"):
            self.assertRaises(BadReferenceError, resolve_reference, ref)
