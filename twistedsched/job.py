"""
A job: what to call, with what, on which trigger, under which options.
"""

import json
import operator
import re
import sys
import unicodedata
import uuid

from twistedsched import policies
from twistedsched.policies import calendars
from twistedsched.errors import BadArgumentError
from twistedsched.refs import is_reference, reference_to, resolve_reference
from twistedsched.timeutil import from_iso, iso, to_utc
from twistedsched.triggers import bind_trigger, trigger_from_dict

#: The options every job has, besides those of the policies (L{policies.OPTIONS}).
_BASIC_OPTIONS = ("misfire_grace_time", "coalesce", "max_instances", "jitter", "timeout",
                  "recover")

#: Options a job has besides its callable and trigger, with their checks.
OPTION_NAMES = _BASIC_OPTIONS + policies.OPTIONS

#: Seconds options (misfire_grace_time, jitter, timeout) stay below this (about 31 years).
MAX_SECONDS = 1e9
#: The most instances of one job that may run at once.
MAX_INSTANCES = 1000000
#: The deepest nesting of lists and objects accepted in JSON arguments.
MAX_JSON_DEPTH = 32

#: Code points that show nothing although their category is not "other"
#: (Unicode's default-ignorable and filler characters).
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f"
    "\uffa0\U000e0000-\U000e0fff]")


def _check_seconds(key, value, zero_ok):
    """A number of seconds: finite, more than (or, if C{zero_ok}, equal to) 0, below 1e9."""
    low = "seconds >= 0" if zero_ok else "seconds > 0"
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (0 <= value if zero_ok else 0 < value) or not value < MAX_SECONDS:
        raise BadArgumentError("%s: expected %s (below %d) or None, not %s" % (
            key, low, MAX_SECONDS, _short_repr(value)))


def _short_repr(value):
    """A repr that stays short (huge numbers and texts are cut)."""
    try:
        text = repr(value)
    except ValueError:          # an int too long to print
        return "a number of more than 4300 digits"
    return text if len(text) <= 60 else text[:57] + "..."


#: Option sets found good, by their values and the types of those (C{1},
#: C{1.0} and C{True} are equal but not the same option): the jobs of a
#: store share a few, and loading one need not check them again.  Only sets
#: of plain values (text, numbers, None) are kept; at most L{_KNOWN_MAX}.
_KNOWN_OPTIONS = {}
_KNOWN_MAX = 256
_PLAIN = frozenset((type(None), bool, int, float, str))


def check_options(options):
    """Validate job options; return them normalized (a new dict)."""
    values = tuple(options.values())
    if not _PLAIN.issuperset(map(type, values)):
        return _check_options(options)
    key = (tuple(options), values, tuple(map(type, values)))
    known = _KNOWN_OPTIONS.get(key)
    if known is None:
        known = _check_options(options)
        if len(_KNOWN_OPTIONS) >= _KNOWN_MAX:
            _KNOWN_OPTIONS.clear()
        _KNOWN_OPTIONS[key] = known
    return dict(known)


def _check_options(options):
    checked = {}
    for key, value in options.items():
        if key in ("misfire_grace_time", "timeout"):
            _check_seconds(key, value, zero_ok=False)
        elif key == "jitter":
            _check_seconds(key, value, zero_ok=True)
        elif key in ("coalesce", "recover"):
            if not isinstance(value, bool):
                raise BadArgumentError("%s: expected True or False, not %s"
                                       % (key, _short_repr(value)))
        elif key == "max_instances":
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 1 <= value <= MAX_INSTANCES:
                raise BadArgumentError(
                    "max_instances: expected a whole number from 1 to %d, not %s"
                    % (MAX_INSTANCES, _short_repr(value)))
        else:
            value = policies.check_option(key, value)
        checked[key] = value
    return checked


def check_job_id(value, what="id"):
    """
    Raise L{BadArgumentError} unless C{value} is text a person can read
    and copy: not empty, no control, format (bidirectional overrides,
    zero-width), separator, private-use, surrogate or unassigned
    characters, no invisible fillers, no space but U+0020 and none at
    either end, no combining mark first.
    """
    if not isinstance(value, str):
        raise BadArgumentError("%s: expected text, not %s" % (what, _short_repr(value)))
    if not value:
        raise BadArgumentError("%s: must not be empty" % (what,))
    if not (value.isascii() and value.isprintable()):  # (the usual case skips this)
        _check_characters(value, what)
    if value.strip() != value:
        raise BadArgumentError("%s: %s must not start or end with a space"
                               % (what, _short_repr(value)))
    if unicodedata.category(value[0])[0] == "M":
        raise BadArgumentError("%s: %s starts with a combining mark (it would be drawn on "
                               "what comes before it)" % (what, _short_repr(value)))
    return value


def _check_characters(value, what):
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") \
                or (category == "Zs" and char != " ") or _INVISIBLE.match(char):
            raise BadArgumentError(
                "%s: character U+%04X (%s) at position %d cannot be shown; use visible "
                "characters" % (what, ord(char), unicodedata.name(char, category), position))


def json_depth_error(value, what, limit=MAX_JSON_DEPTH):
    """
    A L{BadArgumentError} if C{value} nests lists and dicts more than
    C{limit} deep (checked without recursion), else C{None}.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return BadArgumentError("%s: nested more than %d deep" % (what, limit))
        stack.extend((child, depth + 1) for child in children)
    return None


def check_json_depth(value, what, limit=MAX_JSON_DEPTH):
    """Raise L{json_depth_error}'s error, if any."""
    error = json_depth_error(value, what, limit)
    if error is not None:
        raise error
    return value


def argument_bytes(args, kwargs):
    """
    About how much memory C{args} and C{kwargs} take: C{sys.getsizeof} of
    every list, dict, key and value in them (shared objects are counted at
    each use, so this never counts too little).
    """
    total = 0
    stack = [args, kwargs]
    while stack:
        item = stack.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def check_json_arguments(args, kwargs):
    """Raise L{BadArgumentError} naming the first argument that is not a JSON value."""
    check_json_depth(list(args), "args")
    check_json_depth(kwargs, "kwargs")
    for index, value in enumerate(args):
        _check_json("args[%d]" % (index,), value)
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise BadArgumentError("kwargs: key %r is not a string" % (key,))
        _check_json("kwargs[%r]" % (key,), value)


def _check_json(label, value):
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise BadArgumentError("%s: %s is not a JSON value (%s)" % (
            label, _short_repr(value), e)) from None
    if json.loads(text) != value:
        raise BadArgumentError(
            "%s: %s does not survive a JSON round trip (use lists, not tuples; "
            "string keys)" % (label, _short_repr(value)))


class Job:
    """
    A scheduled job.  Read its attributes; change it through the scheduler
    (or the shortcuts C{modify}, C{reschedule}, C{pause}, C{resume},
    C{remove}, which return the scheduler's Deferreds).

    C{next_run_time} is when the job runs next (UTC; C{None} while paused);
    C{scheduled_run_time} is the trigger's fire time behind it, before jitter.
    """

    # Slots: a stored job is small (the memory store keeps many of them).
    __slots__ = ("_scheduler", "id", "func", "task", "func_ref", "name", "args", "kwargs",
                 "_trigger", "executor", "jobstore", "misfire_grace_time", "coalesce",
                 "max_instances", "jitter", "timeout", "recover", "next_run_time", "scheduled_run_time",
                 "max_runs", "pause_after_failures", "retries", "retry_delay",
                 "retry_max_delay", "exclude", "overlap", "policy_state", "attempt",
                 "origin")

    def __init__(self, scheduler, func, trigger, *, id=None, name=None, args=(),
                 kwargs=None, task=None, func_ref=None, executor="default",
                 jobstore="default", misfire_grace_time=1, coalesce=True,
                 max_instances=1, jitter=None, timeout=None, recover=False,
                 next_run_time=None, scheduled_run_time=None, options_checked=False,
                 policy_state=None, **policy_options):
        self._scheduler = scheduler
        self.id = id or uuid.uuid4().hex
        if not isinstance(self.id, str):
            raise BadArgumentError("id: expected text, not %r" % (self.id,))
        self.func = func
        self.task = task
        self.func_ref = func_ref
        self.name = name or task or getattr(func, "__qualname__", None) or repr(func)
        if isinstance(args, (str, bytes)) or not hasattr(args, "__iter__"):
            raise BadArgumentError("args: expected a list or tuple, not %r" % (args,))
        self.args = tuple(args)
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(kwargs, dict):
            raise BadArgumentError("kwargs: expected a dict, not %r" % (kwargs,))
        self.kwargs = dict(kwargs)
        trigger = bind_trigger(trigger, self.id)
        if isinstance(trigger, calendars.ExcludingTrigger):
            trigger = getattr(trigger, "trigger", trigger)      # (what the setter does)
        self._trigger = trigger
        self.executor = executor
        self.jobstore = jobstore
        if not options_checked:
            policy_options = check_options(dict(
                policy_options, misfire_grace_time=misfire_grace_time, coalesce=coalesce,
                max_instances=max_instances, jitter=jitter, timeout=timeout, recover=recover))
            misfire_grace_time, coalesce, max_instances, jitter, timeout, recover = (
                policy_options.pop(key) for key in _BASIC_OPTIONS)
        self.misfire_grace_time = misfire_grace_time
        self.coalesce = coalesce
        self.max_instances = max_instances
        self.jitter = jitter
        self.timeout = timeout
        self.recover = recover
        if policy_options:
            for key, default in _POLICY_DEFAULTS:
                setattr(self, key, policy_options.get(key, default))
        else:
            for key, default in _POLICY_DEFAULTS:
                setattr(self, key, default)
        self.policy_state = {} if policy_state is None else policies.check_state(policy_state)
        self.attempt = 1          # of this run (retries count up; never stored)
        self.origin = None        # "backfill" for a backfill's copy (never stored)
        if next_run_time is None and scheduled_run_time is None:
            self.next_run_time = self.scheduled_run_time = None     # (the scheduler sets them)
        else:
            self.next_run_time = None if next_run_time is None else to_utc(next_run_time)
            self.scheduled_run_time = self.next_run_time if scheduled_run_time is None \
                else to_utc(scheduled_run_time)

    @property
    def trigger(self):
        """The job's trigger, seen through its C{exclude} dates if it has some."""
        if self.exclude is None:
            return self._trigger
        return calendars.excluding(self._trigger, self.exclude, self._scheduler)

    @trigger.setter
    def trigger(self, trigger):
        self._trigger = getattr(trigger, "trigger", trigger) \
            if isinstance(trigger, calendars.ExcludingTrigger) else trigger

    @property
    def paused(self):
        return self.next_run_time is None

    @property
    def target(self):
        """What the job calls, as text: a task name or C{module:qualname}."""
        return self.task or self.func_ref or self.name

    def copy(self):
        """A shallow copy, detached from the store's instance."""
        clone = Job.__new__(Job)
        for name, value in zip(Job.__slots__, _all_fields(self)):
            setattr(clone, name, value)
        clone.args = tuple(self.args)
        clone.kwargs = dict(self.kwargs)
        clone.policy_state = dict(self.policy_state)
        return clone

    def to_dict(self):
        """
        A JSON-serializable description.  Fails with L{BadArgumentError} if
        the callable has no name to store (register it as a task or use a
        module-level function) or an argument is not a JSON value.
        """
        if not self.task and not self.func_ref:
            raise BadArgumentError(
                "job %r: %r cannot be stored by name; register it as a task or "
                "use a module-level function" % (self.id, self.func))
        check_json_arguments(self.args, self.kwargs)
        return {
            "id": self.id,
            "name": self.name,
            "task": self.task,
            "func": self.func_ref,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "trigger": self._trigger.to_dict(),
            "executor": self.executor,
            "misfire_grace_time": self.misfire_grace_time,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "jitter": self.jitter,
            "timeout": self.timeout,
            "recover": self.recover,
            "next_run_time": iso(self.next_run_time),
            "scheduled_run_time": iso(self.scheduled_run_time),
            **{key: getattr(self, key) for key in policies.OPTIONS},
            "policy_state": dict(self.policy_state),
        }

    @classmethod
    def from_dict(cls, scheduler, data, jobstore="default", tasks=None):
        """
        Rebuild a job from L{to_dict}'s output.  The callable is looked up
        in C{tasks} (a L{TaskRegistry}) by task name, or imported from its
        text reference.
        """
        task, func_ref = data.get("task"), data.get("func")
        if task:
            if tasks is None:
                from twistedsched.errors import UnknownTaskError
                raise UnknownTaskError(task)
            func = tasks.lookup(task)
        else:
            func = resolve_reference(func_ref)
        # The options a document has are checked together (a set seen before
        # at once); those it lacks (stored before they existed) take their
        # defaults, but for misfire_grace_time: none.
        options = check_options({key: data[key] for key in OPTION_NAMES if key in data})
        options.setdefault("misfire_grace_time", None)
        return cls(
            scheduler, func, trigger_from_dict(data["trigger"]), id=data["id"],
            name=data.get("name"), args=data.get("args", ()), kwargs=data.get("kwargs"),
            task=task, func_ref=func_ref, executor=data.get("executor", "default"),
            jobstore=jobstore, next_run_time=from_iso(data.get("next_run_time")),
            scheduled_run_time=from_iso(data.get("scheduled_run_time")),
            policy_state=data.get("policy_state"), options_checked=True, **options)

    # Shortcuts to the scheduler.

    def modify(self, **changes):
        return self._scheduler.modify_job(self.id, self.jobstore, **changes)

    def reschedule(self, trigger, **trigger_args):
        return self._scheduler.reschedule_job(self.id, self.jobstore, trigger, **trigger_args)

    def pause(self):
        return self._scheduler.pause_job(self.id, self.jobstore)

    def resume(self):
        return self._scheduler.resume_job(self.id, self.jobstore)

    def remove(self):
        return self._scheduler.remove_job(self.id, self.jobstore)

    def __repr__(self):
        return "<Job id=%r name=%r trigger=%s next_run_time=%s>" % (
            self.id, self.name, self.trigger, iso(self.next_run_time))

    def __str__(self):
        state = "paused" if self.paused else "next run at: %s" % (self.next_run_time,)
        return "%s (trigger: %s, %s)" % (self.name, self.trigger, state)


#: The policies' options and their defaults (L{policies.DEFAULTS}), for L{Job.__init__}.
_POLICY_DEFAULTS = tuple(policies.DEFAULTS.items())

#: All of a job's fields, in the order of its slots, at C speed (for L{Job.copy}).
_all_fields = operator.attrgetter(*Job.__slots__)


def describe_callable(func, tasks):
    """
    Resolve what C{add_job} was given into C{(func, task, func_ref)}: a
    callable, a registered task name, or a C{module:qualname} reference.
    """
    if isinstance(func, str):
        if is_reference(func):
            return resolve_reference(func), None, func
        return tasks.lookup(func), func, None
    if not callable(func):
        raise BadArgumentError("func: %r is neither callable nor text" % (func,))
    task = tasks.name_of(func)
    return func, task, None if task else reference_to(func)


def same_job(stored, added):
    """
    Whether the JSON document C{added} describes the stored job C{stored}
    again (see L{same_job_data}).
    """
    try:
        return same_job_data(json.loads(stored), json.loads(added))
    except ValueError:
        return False


def same_job_data(stored, added):
    """
    Whether the job dict C{added} (C{Job.to_dict()}) describes C{stored}
    again: equal but for the times computed when a job is added (its next
    run time, and its trigger's start date).
    """
    def content(data):
        data = dict(data)
        data.pop("next_run_time", None)
        data.pop("scheduled_run_time", None)
        if isinstance(data.get("trigger"), dict):
            data["trigger"] = dict(data["trigger"], start_date=None)
        return data
    return isinstance(stored, dict) and isinstance(added, dict) \
        and content(stored) == content(added)
