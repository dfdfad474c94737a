"""
The rules every remote interface (the AMP control port, the admin console)
applies to what a client sends.

  - Clients name registered tasks only, never a C{module:qualname} reference.
  - Arguments travel as JSON: args a list, kwargs an object.
  - Triggers are text (C{cron "*/5 * * * *"}, C{interval "1h30m"}, C{at
    "2030-01-01T04:00"}) or a trigger dict as C{trigger.to_dict()} writes it.

Every error is one of the typed errors of L{twistedsched.errors}.
"""

import datetime as _dt
import json
import re
import weakref

from twisted.internet import defer

from twistedsched import policies
from twistedsched.errors import (
    BadArgumentError, SchedulerError, TooSoonError, TriggerError, UnknownTaskError)
from twistedsched.interfaces import ITrigger
from twistedsched.job import (
    MAX_JSON_DEPTH, check_job_id, check_json_arguments, check_json_depth, json_depth_error)
from twistedsched.policies.nextfire import check_count
from twistedsched.table import format_run_time
from twistedsched.triggers import IntervalTrigger, build_trigger, trigger_from_dict
from twistedsched.triggers.budget import check_dict_tree, run_metered

#: Job options a remote client may set when adding or modifying a job.
REMOTE_OPTIONS = ("misfire_grace_time", "coalesce", "max_instances", "jitter", "timeout",
                  "recover", "replace_existing", "executor", "jobstore",
                  "paused", "policy_state") + policies.OPTIONS

#: The longest job id or name a remote client may give.
MAX_ID_LENGTH = 200

#: The most bytes of JSON a remote client may give as args, and as kwargs.
MAX_ARGUMENT_BYTES = 32 * 1024

#: Default shortest time between two runs of a job a remote client
#: schedules (the daemon's C{--min-interval}; a scheduler's
#: C{remote_min_interval} attribute overrides it).
MIN_INTERVAL = 1.0

#: How many fire times of a remote client's trigger are looked at to find
#: runs closer together than the minimum interval.
INTERVAL_SAMPLES = 4

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def lookup_remote_task(scheduler, name):
    """
    The callable registered as task C{name} in C{scheduler.tasks}.  Text
    references and anything not registered raise L{UnknownTaskError}.
    """
    if not isinstance(name, str) or ":" in name or name not in scheduler.tasks:
        raise UnknownTaskError(name)
    return scheduler.tasks.lookup(name)


def _reject_constant(name):
    raise ValueError("%s is not allowed" % (name,))


#: Made once: C{json.loads} and C{json.dumps} with options build one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_COMPACT_STRICT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_STRICT = json.JSONEncoder(allow_nan=False)


def parse_json_value(text, what):
    """Decode JSON C{text}; L{BadArgumentError} naming C{what} if it is not JSON."""
    if not isinstance(text, str):
        raise BadArgumentError("%s: expected JSON text, not %r" % (what, text))
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadArgumentError("%s: nested more than %d deep" % (what, MAX_JSON_DEPTH)) from None
    except ValueError as e:
        raise BadArgumentError("%s: not valid JSON (%s)" % (what, e)) from None
    return check_json_depth(value, what)


def check_args(value, decoded=False):
    """
    C{value} as a tuple if it is a list of JSON values (text is decoded
    first; C{decoded}: the value was read from JSON text already).
    """
    if value is None or value == "[]" or (isinstance(value, list) and not value):
        return ()       # (no arguments: nothing to check)
    decoded = decoded or isinstance(value, str)
    if isinstance(value, str):
        value = parse_json_value(value, "args")
    if not isinstance(value, (list, tuple)):
        raise BadArgumentError("args: expected a JSON list, not %r" % (value,))
    _check_arguments(value, "args", decoded, list(value), {})
    return tuple(value)


def check_kwargs(value, decoded=False):
    """C{value} as a dict if it is a JSON object (as L{check_args} for C{decoded})."""
    if value is None or value == "{}" or (isinstance(value, dict) and not value):
        return {}       # (no keyword arguments, as clients send them: nothing to check)
    decoded = decoded or isinstance(value, str)
    if isinstance(value, str):
        value = parse_json_value(value, "kwargs")
    if not isinstance(value, dict):
        raise BadArgumentError("kwargs: expected a JSON object, not %r" % (value,))
    _check_arguments(value, "kwargs", decoded, (), value)
    return dict(value)


def _check_arguments(value, what, decoded, args, kwargs):
    """
    Refuse arguments that are not JSON values, or too big.  Those decoded
    from JSON text are JSON values, nested within bounds, but for numbers
    too big for a float (C{1e400} reads as infinity): one encoding, which
    refuses those and gives the size, checks them.
    """
    if decoded:
        try:
            size = _encoded_size(value, allow_nan=False)
        except ValueError:
            check_json_arguments(args, kwargs)      # (names the argument)
            raise
    else:
        check_json_arguments(args, kwargs)
        size = _encoded_size(value)
    if size > MAX_ARGUMENT_BYTES:
        raise BadArgumentError("%s: %d bytes of JSON, more than the %d allowed" % (
            what, size, MAX_ARGUMENT_BYTES))


def _encoded_size(value, allow_nan=True):
    encoder = _COMPACT_STRICT if not allow_nan else _COMPACT
    return len(encoder.encode(value).encode("utf-8"))


def parse_duration(text):
    """
    Seconds from C{"90"}, C{"30s"}, C{"5m"}, C{"1h30m"}, C{"2d"}, C{"1w"}.
    L{BadArgumentError} if the text is not a positive duration.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = text
    elif isinstance(text, str):
        cleaned = text.strip().lower().replace(" ", "")
        if _NUMBER.fullmatch(cleaned):
            seconds = float(cleaned)
        elif _DURATION.fullmatch(cleaned):
            seconds = sum(float(number) * _DURATION_UNITS[unit]
                          for number, unit in _DURATION_PART.findall(cleaned))
        else:
            raise BadArgumentError(
                "%r is not a duration (examples: 90, 30s, 5m, 1h30m, 2d)" % (text,))
    else:
        raise BadArgumentError("a duration must be text such as '30s', not %r" % (text,))
    if not 0 < seconds < 1e10:
        raise BadArgumentError("duration %r: must be more than zero and finite" % (text,))
    return int(seconds) if seconds == int(seconds) else seconds


def _cron_trigger(spec, timezone):
    try:
        from twistedsched.triggers.cron import CronTrigger
    except ImportError:
        raise TriggerError("cron triggers are not available in this version") from None
    if not isinstance(spec, str):
        raise TriggerError("cron: expected crontab text, not %r" % (spec,))
    return CronTrigger.from_crontab(spec, timezone=timezone)


def _dict_trigger(scheduler, spec):
    """A trigger from its dict; date and interval fill gaps from now and the zone."""
    if isinstance(spec, str):
        try:
            spec = parse_json_value(spec, "trigger")
        except BadArgumentError as e:
            raise TriggerError(str(e)) from None
    if not isinstance(spec, dict):
        raise TriggerError("a trigger must be a JSON object, not %r" % (spec,))
    check_dict_tree(spec)           # (bounded before the walk below)
    filled = _filled(scheduler, spec)
    return filled if ITrigger.providedBy(filled) else trigger_from_dict(filled)


def _filled(scheduler, spec):
    """
    A trigger dict whose date and interval triggers, inside combinations
    too, have their gaps filled from now and the zone: a built trigger at
    the top, dicts within.
    """
    kind = spec.get("type")
    if kind in ("date", "interval"):
        fields = {k: v for k, v in spec.items() if k != "type" and v is not None}
        return build_trigger(kind, scheduler.now(), scheduler.timezone, **fields)
    if kind in ("and", "or") and isinstance(spec.get("triggers"), list):
        return dict(spec, triggers=[_as_dict(_filled(scheduler, part)) if isinstance(part, dict)
                                    else part for part in spec["triggers"]])
    return spec


def _as_dict(trigger):
    return trigger.to_dict() if ITrigger.providedBy(trigger) else trigger


def build_remote_trigger(scheduler, kind, spec):
    """
    A trigger from a remote client: C{kind} is C{"cron"} (crontab text),
    C{"interval"}/C{"every"} (a duration), C{"at"}/C{"date"} (ISO text, naive
    times in the scheduler's zone) or C{"json"} (a trigger dict, or its
    JSON text).  L{TriggerError} for anything wrong, and for a trigger that
    runs more often than L{min_interval} allows.  Building and checking it
    is one piece of bounded work (L{twistedsched.triggers.budget}).
    """
    return run_metered(_build_checked_trigger, scheduler, kind, spec)


def _build_checked_trigger(scheduler, kind, spec):
    trigger = _build_remote_trigger(scheduler, kind, spec)
    check_min_interval(scheduler, trigger)
    return trigger


def min_interval(scheduler):
    """Seconds that must separate two runs of a remote client's job on C{scheduler}."""
    return getattr(scheduler, "remote_min_interval", MIN_INTERVAL)


def _interval_triggers(trigger):
    """The interval triggers in C{trigger}, looking inside and/or combinations."""
    stack = [trigger]
    while stack:
        current = stack.pop()
        stack.extend(getattr(current, "triggers", None) or ())
        interval = getattr(current, "interval", None)
        if isinstance(interval, _dt.timedelta):
            yield interval


def check_min_interval(scheduler, trigger):
    """
    L{TriggerError} if C{trigger} may run twice within L{min_interval}
    seconds: an interval trigger (alone or in a combination) shorter than
    that, or two of its next few fire times that close together (cron
    seconds fields, combinations of triggers).
    """
    least = min_interval(scheduler)
    if not least:
        return
    for interval in _interval_triggers(trigger):
        if interval.total_seconds() < least:
            raise _too_often(interval.total_seconds(), least)
    if trigger.__class__ is IntervalTrigger:
        return      # its fire times are its interval apart (checked just above)
    now = scheduler.now()
    previous = None
    try:
        fire_time = trigger.next_fire_time(None, now)
        for _ in range(INTERVAL_SAMPLES):
            if fire_time is None:
                return
            if previous is not None and (fire_time - previous).total_seconds() < least:
                raise _too_often((fire_time - previous).total_seconds(), least)
            previous, fire_time = fire_time, trigger.next_fire_time(fire_time, now)
    except OverflowError:
        raise TriggerError("this trigger's next fire times go past the last date there "
                           "is (9999-12-31)") from None


def _too_often(seconds, least):
    return TriggerError("this trigger runs %g s apart; jobs from remote clients must run at "
                        "least %g s apart (the daemon's --min-interval)" % (seconds, least))


def _build_remote_trigger(scheduler, kind, spec):
    try:
        if kind == "cron":
            return _cron_trigger(spec, scheduler.timezone)
        if kind in ("interval", "every"):
            return build_trigger("interval", scheduler.now(), scheduler.timezone,
                                 seconds=parse_duration(spec))
        if kind in ("at", "date"):
            if not isinstance(spec, str):
                raise TriggerError("at: expected ISO 8601 text, not %r" % (spec,))
            return build_trigger("date", scheduler.now(), scheduler.timezone, run_date=spec)
        if kind in ("json", "dict", "trigger", None):
            return _dict_trigger(scheduler, spec)
    except TriggerError:
        raise
    except (SchedulerError, TypeError, ValueError, KeyError, OverflowError) as e:
        raise TriggerError("%s trigger %r: %s" % (kind, spec, e)) from None
    raise TriggerError("unknown trigger kind %r (use cron, interval, at or json)" % (kind,))


def zoned_trigger(kind, spec, timezone):
    """
    A C{("json", text)} trigger of C{kind} and C{spec} (as for
    L{build_remote_trigger}) that reads its times in C{timezone}, its own
    zone rather than the daemon's.  L{TriggerError} if anything is wrong.
    """
    if not isinstance(timezone, str) or not isinstance(spec, str):
        raise TriggerError("timezone: expected a zone name, not %r" % (timezone,))
    if kind == "cron":
        data = _cron_trigger(spec, timezone).to_dict()
    elif kind in ("interval", "every"):
        data = {"type": "interval", "seconds": parse_duration(spec), "timezone": timezone}
    elif kind in ("at", "date"):
        data = {"type": "date", "run_date": spec, "timezone": timezone}
    else:
        raise TriggerError("timezone: only for cron, interval and at triggers, not %r"
                           % (kind,))
    return "json", json.dumps(data)


def _as_trigger(scheduler, trigger):
    """A trigger object, a (kind, spec) pair, or a trigger dict -> a trigger."""
    if ITrigger.providedBy(trigger):
        return trigger
    if isinstance(trigger, (tuple, list)) and len(trigger) == 2:
        return build_remote_trigger(scheduler, trigger[0], trigger[1])
    return build_remote_trigger(scheduler, "json", trigger)


def check_text(value, what, required=False):
    """
    An id or name: at most L{MAX_ID_LENGTH} characters a person can read
    (L{twistedsched.job.check_job_id}), or C{None}.
    """
    if value is None or value == "":
        if required:
            raise BadArgumentError("%s: required" % (what,))
        return None
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise BadArgumentError("%s: expected text of at most %d characters, not %d"
                               % (what, MAX_ID_LENGTH, len(value)))
    return check_job_id(value, what)


def check_remote_options(options):
    """Only the options in L{REMOTE_OPTIONS}; C{paused} becomes C{next_run_time=None}."""
    checked = {}
    for key, value in options.items():
        if key not in REMOTE_OPTIONS:
            raise BadArgumentError("unknown job option %r (known: %s)" % (
                key, ", ".join(REMOTE_OPTIONS)))
        if key == "paused":
            if not isinstance(value, bool):
                raise BadArgumentError("paused: expected true or false, not %r" % (value,))
            if value:
                checked["next_run_time"] = None
        elif key == "replace_existing" and not isinstance(value, bool):
            raise BadArgumentError("replace_existing: expected true or false, not %r" % (value,))
        elif key in ("executor", "jobstore") and not isinstance(value, str):
            raise BadArgumentError("%s: expected an alias, not %r" % (key, value))
        elif key == "policy_state":         # counts carried by an export
            checked[key] = policies.check_counts(value)
        else:
            checked[key] = value
    return checked


def add_remote_job(scheduler, task, trigger, args=(), kwargs=None, id=None, name=None,
                   options=None, decoded=False):
    """
    Add a job for a remote client, applying the rules above.  C{trigger} is
    a trigger object, a C{(kind, spec)} pair or a trigger dict; C{args} and
    C{kwargs} may be JSON text; C{options} is a dict of L{REMOTE_OPTIONS}
    (any other key, such as C{"trigger"} or C{"args"}, is refused);
    C{decoded}: C{args} and C{kwargs} were read from JSON text.  Returns
    a Deferred firing with the L{Job}; every error (wrong input as well as a
    taken id) fails the Deferred.
    """
    try:
        lookup_remote_task(scheduler, task)
        if options is not None and not isinstance(options, dict):
            raise BadArgumentError("options: expected a JSON object, not %r" % (options,))
        options = check_remote_options(options or {})
        trigger = _as_trigger(scheduler, trigger)
        args, kwargs = check_args(args, decoded), check_kwargs(kwargs, decoded)
        id = check_text(id, "id")
        name = check_text(name, "name")
        return scheduler.add_job(task, trigger, args=args, kwargs=kwargs, id=id,
                                 name=name, **options)
    except Exception:
        return defer.fail()


#: Per scheduler: job id -> reactor time of the last run a remote client asked for.
_remote_runs = weakref.WeakKeyDictionary()
#: How many such times are kept before those older than the minimum interval go.
_REMOTE_RUNS_KEPT = 1000


def run_remote_job(scheduler, job_id):
    """
    Run a job now for a remote client (C{Scheduler.run_job}), at most once
    per L{min_interval} for each job, so that asking again and again cannot
    run a job faster than a trigger may: L{TooSoonError} (a failed
    Deferred) if asked sooner.
    """
    try:
        least = min_interval(scheduler)
        now = scheduler.reactor.seconds()
        runs = _remote_runs.setdefault(scheduler, {})
        last = runs.get(job_id)
        if least and last is not None and now - last < least:
            raise TooSoonError("job %r was run %g s ago; remote clients may run a job at "
                               "most once every %g s (the daemon's --min-interval)"
                               % (job_id, now - last, least))
        if len(runs) >= _REMOTE_RUNS_KEPT:
            for old in [key for key, when in runs.items() if now - when >= least]:
                del runs[old]
        d = scheduler.run_job(job_id)
    except Exception:
        return defer.fail()

    def ran(job):
        runs[job_id] = now
        return job
    return d.addCallback(ran)


#: What C{modify_remote_job} may change.
REMOTE_CHANGES = ("name", "task", "args", "kwargs", "misfire_grace_time", "coalesce",
                  "max_instances", "jitter", "timeout", "executor") + policies.OPTIONS


def check_remote_changes(scheduler, changes):
    """Check a remote modification; return keyword arguments for C{modify_job}."""
    checked = {}
    for key, value in changes.items():
        if key not in REMOTE_CHANGES:
            raise BadArgumentError("cannot change %r (can change: %s)" % (
                key, ", ".join(REMOTE_CHANGES)))
        if key == "task":
            lookup_remote_task(scheduler, value)
            checked["func"] = value
        elif key == "args":
            checked["args"] = check_args(value)
        elif key == "kwargs":
            checked["kwargs"] = check_kwargs(value)
        elif key == "name":
            checked["name"] = check_text(value, "name", required=True)
        elif key == "executor" and not isinstance(value, str):
            raise BadArgumentError("executor: expected an alias, not %r" % (value,))
        else:
            checked[key] = value
    if not checked:
        raise BadArgumentError("nothing to change")
    return checked


def modify_remote_job(scheduler, job_id, changes):
    """Apply C{changes} (a dict) to a job; a Deferred of the L{Job}, errors fail it."""
    try:
        check_text(job_id, "id", required=True)
        if not isinstance(changes, dict):
            raise BadArgumentError("changes: expected a JSON object, not %r" % (changes,))
        return scheduler.modify_job(job_id, **check_remote_changes(scheduler, changes))
    except Exception:
        return defer.fail()


def remote_next_fire_times(scheduler, job_id=None, trigger=None, count=10):
    """
    The next C{count} fire times of a job (C{job_id}) or of a trigger not
    added (C{trigger} as L{add_remote_job} takes it), as ISO text in the
    scheduler's zone.  A Deferred; every error fails it.
    """
    try:
        check_count(count)
        if (job_id is None) == (trigger is None):
            raise BadArgumentError("next fire times: give a job id or a trigger, not %s"
                                   % ("both" if job_id is not None else "neither",))
        if trigger is not None:
            target = _as_trigger(scheduler, trigger)
        else:
            target = check_text(job_id, "id", required=True)
        d = scheduler.next_fire_times(target, count)
    except Exception:
        return defer.fail()
    tz = scheduler.timezone
    return d.addCallback(lambda times: [t.astimezone(tz).isoformat() for t in times])


def remote_backfill(scheduler, job_id, start, end):
    """
    Backfill a job (C{Scheduler.backfill}) for a remote client: C{start}
    and C{end} are ISO text.  A Deferred of the run times, as ISO text in
    the scheduler's zone; every error fails it.
    """
    try:
        check_text(job_id, "id", required=True)
        for value, what in ((start, "start"), (end, "end")):
            if not isinstance(value, str):
                raise BadArgumentError("%s: expected ISO 8601 text, not %r" % (what, value))
        d = scheduler.backfill(job_id, start, end)
    except Exception:
        return defer.fail()
    tz = scheduler.timezone
    return d.addCallback(lambda times: [t.astimezone(tz).isoformat() for t in times])


def _jsonable(value):
    """
    C{value} if it is a JSON value, else its repr (for jobs added
    in-process); a placeholder if it nests too deep to show.
    """
    if value is None or value.__class__ in (str, int, bool):
        return value        # (a JSON value as it is)
    if json_depth_error(value, "") is not None:
        return "<nested more than %d deep>" % (MAX_JSON_DEPTH,)
    try:
        _STRICT.encode(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _trigger_dict(trigger):
    try:
        return trigger.to_dict()
    except Exception:
        return None


def job_to_wire(job, tz):
    """A JSON-able dict describing C{job}, with times in C{tz}."""
    next_run = job.next_run_time
    if next_run is not None:
        next_run = next_run.astimezone(tz)
    return {
        "id": job.id,
        "name": job.name,
        "task": job.task,
        "target": job.target,
        "args": [_jsonable(a) for a in job.args],
        "kwargs": {str(k): _jsonable(v) for k, v in job.kwargs.items()},
        "trigger": str(job.trigger),
        "trigger_dict": _trigger_dict(job.trigger),
        "next_run_time": None if next_run is None else next_run.isoformat(),
        "next_run": format_run_time(next_run, None),
        "paused": next_run is None,
        "options": {
            "misfire_grace_time": job.misfire_grace_time,
            "coalesce": job.coalesce,
            "max_instances": job.max_instances,
            "jitter": job.jitter,
            "timeout": job.timeout,
            "recover": job.recover,
            "executor": job.executor,
            "jobstore": job.jobstore,
            **policies.describe_options(job),
        },
        "policy_state": policies.describe_state(job),
    }
