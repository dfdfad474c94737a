"""
twistedsched-ctl: drive a scheduler daemon's control port from a shell::

    twistedsched-ctl list
    twistedsched-ctl add greet --interval 30s --id hello --args '["bob"]'
    twistedsched-ctl next --cron "0 4 * * mon-fri" -n 5
    twistedsched-ctl watch
    twistedsched-ctl --connect tcp:sched.example:7730 --tls --ca ca.pem --user ops list

Exit codes: 0 done, 1 the daemon said no (its message on stderr), 2 usage,
3 cannot connect (or no answer in time, or a failed TLS check).
"""

import argparse
import getpass
import json
import os
import sys

from twisted.internet import defer, error
from twisted.internet.task import react

from twistedsched.client import ControlError, NotAuthorized, connect
from twistedsched import policies
from twistedsched.control import MAX_PAGE
from twistedsched.history import HISTORY_HEADERS, TIME_FIELDS, history_rows, last_result
from twistedsched.errors import BadArgumentError, SchedulerError
from twistedsched.remote import parse_duration, parse_json_value, zoned_trigger
from twistedsched.table import JOB_HEADERS, format_table
from twistedsched.tls import client_endpoint, describe_tls_failure, endpoint_host

DEFAULT_CONNECT = "tcp:127.0.0.1:7730"
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_CONNECT = 0, 1, 2, 3


class Exit(Exception):
    """Stop with C{code}, printing C{message} to stderr."""

    def __init__(self, code, message=None):
        super().__init__(code, message)
        self.code = code
        self.message = message


# -- Arguments -----------------------------------------------------------------

def _json_arg(kind):
    def parse(text):
        try:
            value = parse_json_value(text, "JSON")
        except BadArgumentError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError("expected a JSON %s" % (
                "list" if kind is list else "object",))
        return value
    return parse


def _duration_arg(text):
    try:
        parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _trigger_arguments(group, parser):
    parser.add_argument("--timezone", metavar="ZONE",
                        help="read the trigger's times in this IANA zone (default: the "
                             "daemon's)")
    group.add_argument("--cron", metavar="EXPR", help='crontab text, e.g. "*/5 * * * *"')
    group.add_argument("--interval", metavar="DURATION", type=_duration_arg,
                       help="e.g. 90, 30s, 5m, 1h30m, 2d")
    group.add_argument("--at", metavar="ISO", help="once, at an ISO 8601 time "
                                                  "(naive times are in the daemon's zone)")


#: The job options of add and modify: (option, type, help).
_JOB_OPTIONS = (
    ("max_instances", int, "instances that may run at once"),
    ("misfire_grace_time", _duration_arg, "how late a run may start"),
    ("jitter", _duration_arg, "a random delay of up to this much before each run"),
    ("timeout", _duration_arg, "the longest a run may take"),
    ("executor", str, "default, threads, processes, or queue:NAME for the worker tier"),
    ("max_runs", int, "remove the job after N runs"),
    ("pause_after_failures", int, "pause the job after N failed runs in a row"),
    ("retries", int, "retry a failed run N times"),
    ("retry_delay", _duration_arg, "before the first retry (default 10s), doubling each time"),
    ("retry_max_delay", _duration_arg, "the longest wait between retries (default 10m)"),
    ("overlap", str, "what a run due while another runs does: allow (up to max_instances), "
                     "skip, buffer_one, buffer_all, cancel_other"),
    ("exclude", str, "dates (YYYY-MM-DD) and calendar names the job never fires on, "
                     "comma-separated"),
)


def _job_arguments(parser, defaults):
    parser.add_argument("--name")
    parser.add_argument("--args", type=_json_arg(list), default=[] if defaults else None,
                        metavar="JSON", help="positional arguments, a JSON list")
    parser.add_argument("--kwargs", type=_json_arg(dict), default={} if defaults else None,
                        metavar="JSON", help="keyword arguments, a JSON object")
    coalesce = parser.add_mutually_exclusive_group()
    coalesce.add_argument("--coalesce", action="store_true", default=None,
                          help="fold several overdue runs into one")
    coalesce.add_argument("--no-coalesce", dest="coalesce", action="store_false",
                          help="run every overdue run")
    for option, kind, text in _JOB_OPTIONS:
        # (dest: the job's --timeout is not the connection's --timeout)
        parser.add_argument("--" + option.replace("_", "-"), type=kind, help=text,
                            dest="job_" + option, metavar="N" if kind is int else "VALUE")


def job_options(args):
    """The job options given on the command line, as the daemon takes them."""
    options = {}
    if args.coalesce is not None:
        options["coalesce"] = args.coalesce
    for option, kind, _ in _JOB_OPTIONS:
        value = getattr(args, "job_" + option)
        if value is None:
            continue
        if kind is _duration_arg:
            value = parse_duration(value)
        elif option == "exclude":
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        options[option] = value
    return options


def build_parser():
    parser = argparse.ArgumentParser(
        prog="twistedsched-ctl", description="Drive a twistedsched daemon's control port.",
        epilog="Exit codes: 0 ok, 1 the daemon refused, 2 usage, 3 cannot connect.")
    parser.add_argument("--connect", metavar="ENDPOINT",
                        default=os.environ.get("TWISTEDSCHED_CONNECT", DEFAULT_CONNECT),
                        help="client endpoint of the control port (default %(default)s; "
                             "env TWISTEDSCHED_CONNECT)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="give up connecting or waiting for an answer (default 10)")
    parser.add_argument("--user", help="log in as USER (daemon run with --auth)")
    parser.add_argument("--password", default=os.environ.get("TWISTEDSCHED_PASSWORD"),
                        help="password for --user (env TWISTEDSCHED_PASSWORD; asked for "
                             "when neither is given and stdin is a terminal)")
    tls = parser.add_argument_group("TLS (a daemon with an ssl: control port)")
    tls.add_argument("--tls", action="store_true",
                     help="connect with TLS and check the daemon's certificate")
    tls.add_argument("--ca", metavar="FILE", help="PEM CA certificate to trust (default: "
                                                  "the system's CAs); implies --tls")
    tls.add_argument("--cert", metavar="FILE", help="PEM client certificate (and key, "
                                                    "unless --key); implies --tls")
    tls.add_argument("--key", metavar="FILE", help="PEM key of --cert")
    tls.add_argument("--server-name", metavar="NAME",
                     help="name the certificate must show (default: the --connect host)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="jobs in run order, as a table (printed page by page; "
                                    "--timeout applies to each page)")
    p.add_argument("--limit", type=int, default=None, help="show at most N jobs")
    p.add_argument("--json", action="store_true", help="a JSON list of the jobs")
    p = sub.add_parser("show", help="one job in detail")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="the job and its runs as JSON")

    p = sub.add_parser("add", help="schedule a registered task")
    p.add_argument("task")
    when = p.add_mutually_exclusive_group(required=True)
    _trigger_arguments(when, p)
    when.add_argument("--now", action="store_true", help="run once, now (no trigger)")
    p.add_argument("--id")
    p.add_argument("--paused", action="store_true", help="add the job paused")
    p.add_argument("--replace", action="store_true", help="replace a job with the same id")
    _job_arguments(p, defaults=True)

    p = sub.add_parser("modify", help="change a job's name, task, arguments or options")
    p.add_argument("id")
    p.add_argument("--task", help="call another registered task")
    _job_arguments(p, defaults=False)

    p = sub.add_parser("reschedule", help="give a job a new trigger")
    p.add_argument("id")
    _trigger_arguments(p.add_mutually_exclusive_group(required=True), p)

    sub.add_parser("export", help="every job as JSON (for backups, or another daemon)")
    p = sub.add_parser("import", help="add the jobs of a file in batches (--timeout "
                                      "applies to each batch)")
    p.add_argument("file", metavar="FILE",
                   help="an export, or JSON: a list of jobs, or one job per line; a job "
                        "is an object of task, trigger ([kind, spec] or a trigger dict), "
                        "and optionally args, kwargs, id, name, paused and options; '-' "
                        "reads stdin")
    p.add_argument("--replace", action="store_true", help="replace jobs with the same ids")

    p = sub.add_parser("backfill", help="run a job for every fire time of a past range")
    p.add_argument("id")
    p.add_argument("--from", dest="start", required=True, metavar="ISO",
                   help="the range's start (naive times are in the daemon's zone)")
    p.add_argument("--to", dest="end", required=True, metavar="ISO", help="its end (included)")

    p = sub.add_parser("next", help="next fire times of a job, or of a trigger not added")
    p.add_argument("id", nargs="?", help="a job id (or give a trigger instead)")
    _trigger_arguments(p.add_mutually_exclusive_group(), p)
    p.add_argument("-n", "--count", type=int, default=10, help="how many (default 10)")
    p.add_argument("--json", action="store_true", help="a JSON list of ISO times")

    for name, text in (("remove", "remove a job"), ("pause", "pause a job"),
                       ("resume", "resume a job"), ("run", "run a job now"),
                       ("cancel", "cancel the running instances of a job")):
        sub.add_parser(name, help=text).add_argument("id")
    sub.add_parser("tasks", help="tasks the daemon lets clients schedule")
    sub.add_parser("stats", help="counts of jobs, runs, errors, misses").add_argument(
        "--json", action="store_true", help="a JSON object")
    sub.add_parser("workers", help="live workers and queues of the worker tier")
    sub.add_parser("pause-scheduler", help="stop running any job until resume-scheduler")
    sub.add_parser("resume-scheduler", help="run jobs again")
    p = sub.add_parser("watch", help="print events as they come, until Ctrl-C")
    p.add_argument("--events", default="all", help="comma-separated event names")
    p.add_argument("--count", type=int, default=None, help="stop after N events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


# -- Output ----------------------------------------------------------------------

def _out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def print_jobs(jobs, header=True):
    if not jobs:
        _out("No scheduled jobs")
        return
    rows = [(job.id, job.name, job.trigger, job.data.get("next_run") or "paused")
            for job in jobs]
    for line in format_table(JOB_HEADERS, rows)[0 if header else 1:]:
        _out(line)


def print_job(job):
    data = job.data
    fields = [("id", job.id), ("name", job.name), ("task", data.get("target") or job.task),
              ("args", json.dumps(job.args)), ("kwargs", json.dumps(job.kwargs)),
              ("trigger", job.trigger), ("next run", data.get("next_run") or "paused")]
    fields += sorted(data.get("options", {}).items())
    state = data.get("policy_state") or {}
    if data.get("options", {}).get("max_runs") is not None:
        fields.append(("runs", "%d of %d" % (state.get("runs", 0), data["options"]["max_runs"])))
    if state.get("paused_reason"):
        fields.append(("paused because", state["paused_reason"]))
    for line in format_table(("FIELD", "VALUE"), fields)[1:]:
        _out(line)
    if not job.history:
        _out("last runs: none")
        return
    result = last_result(job.history)
    if result is not None:
        _out("last result: " + result)
    _out("last runs (newest first):")
    for line in format_table(HISTORY_HEADERS, history_rows(job.history)):
        _out("  " + line)


def print_ended(job_id, runs):
    """A job that is gone, but whose last runs are kept (it ended as it ran)."""
    _out("job %r has ended (it is no longer scheduled); its last runs are kept:" % (job_id,))
    result = last_result(runs)
    if result is not None:
        _out("last result: " + result)
    for line in format_table(HISTORY_HEADERS, history_rows(runs)):
        _out("  " + line)


def format_event(event):
    """One line for an event: name, job id, then the other fields."""
    parts = [event.get("event", "?")]
    if event.get("job_id") is not None:
        parts.append(str(event["job_id"]))
    for key, value in sorted(event.items()):
        if key not in ("event", "job_id", "jobstore", "alias") and value is not None:
            if key == "duration":
                value = "%.3fs" % (value,)
            parts.append("%s=%s" % (key, value if not isinstance(value, list)
                                    else ",".join(map(str, value))))
    if event.get("alias"):
        parts.append("alias=%s" % (event["alias"],))
    return "  ".join(parts)


# -- Commands ----------------------------------------------------------------------

def _out_json(value):
    _out(json.dumps(value, indent=2, sort_keys=True, default=str))


async def do_list(client, args):
    """
    Print each page as it comes, each within --timeout: any size of listing
    ends.  With --json, one JSON list of them all.
    """
    from twisted.internet import reactor
    if args.json:
        jobs = await client.get_jobs(limit=args.limit)
        _out_json([job.to_dict() for job in jobs])
        return
    offset, shown = 0, 0
    while offset is not None and (args.limit is None or shown < args.limit):
        want = None if args.limit is None else min(MAX_PAGE, args.limit - shown)
        jobs, offset = await _timeout(client.get_jobs_page(offset, want), reactor,
                                      args.timeout, "listing jobs from %d" % (shown,))
        if jobs or not shown:
            print_jobs(jobs, header=not shown)
        shown += len(jobs)


def read_jobs(path):
    """
    The jobs of an import file: an export (L{do_export}), a JSON list of
    jobs, or one JSON job per line.
    """
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise Exit(EXIT_USAGE, "cannot read %s: %s" % (path, e)) from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None                     # one job per line, perhaps
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and "task" not in data:
        return _export_jobs(path, data)
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as e:
        raise Exit(EXIT_USAGE, "%s is not JSON (an export, a list, or one job per line): %s"
                   % (path, e)) from None


def _export_jobs(path, data):
    """The jobs of an export (L{do_export}); L{Exit} 2 if C{data} is not one."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT \
            or not isinstance(data.get("jobs"), list):
        raise Exit(EXIT_USAGE, 'import: %s is not an export (a JSON object with "format": '
                               '"%s" and a "jobs" list)' % (path, EXPORT_FORMAT))
    return data["jobs"]


def import_entry(job, replace=False):
    """
    A job of an import file as L{ControlClient.add_jobs} takes it: the
    options of an export (C{options}, C{paused}) become its fields;
    C{replace} replaces a job with the same id.
    """
    if not isinstance(job, dict):
        return job                      # refused in its place by add_jobs
    entry = {key: value for key, value in job.items() if key not in ("options", "paused")}
    options = job.get("options")
    if isinstance(options, dict):
        entry.update(options)
    if job.get("paused"):
        entry["paused"] = True
    if replace:
        entry["replace_existing"] = True
    return entry


async def do_import(client, args):
    from twisted.internet import reactor
    jobs = [import_entry(job, args.replace) for job in read_jobs(args.file)]
    try:
        results = await client.add_jobs(jobs, timeout=args.timeout, reactor=reactor)
    except defer.TimeoutError:
        raise Exit(EXIT_CONNECT, "import: a batch had no answer within %g s" % (
            args.timeout,)) from None
    refused = 0
    for index, result in enumerate(results):
        if "error" in result:
            refused += 1
            sys.stderr.write("job %d: %s: %s\n" % (index + 1, result["error"],
                                                  result["message"]))
    sys.stderr.flush()
    _out("imported %d of %d jobs" % (len(results) - refused, len(results)))
    if refused:
        raise Exit(EXIT_REFUSED, "%d jobs refused" % (refused,))


async def do_show(client, args):
    job = await client.get_job(args.id)
    if job is None:
        runs = await client.job_history(args.id)
        if not runs:
            raise Exit(EXIT_REFUSED, "no job with id %r" % (args.id,))
        if args.json:
            _out_json({"id": args.id, "ended": True, "history": [
                dict(run, **{key: run[key] and run[key].isoformat() for key in TIME_FIELDS})
                for run in runs]})
        else:
            print_ended(args.id, runs)
        return
    if args.json:
        _out_json(dict(job.to_dict(), history=job.history))
    else:
        print_job(job)


def trigger_of(args):
    """
    The (kind, spec) of --cron, --interval or --at (or --now: once, now);
    C{None} if none was given.
    """
    if getattr(args, "now", False):
        return ("json", '{"type": "date"}')
    trigger = _given_trigger(args)
    if trigger is None or getattr(args, "timezone", None) is None:
        return trigger
    try:
        return zoned_trigger(trigger[0], trigger[1], args.timezone)
    except SchedulerError as e:
        raise Exit(EXIT_USAGE, "--timezone: %s" % (e,)) from None


def _given_trigger(args):
    if args.cron is not None:
        return ("cron", args.cron)
    if args.interval is not None:
        return ("interval", args.interval)
    if args.at is not None:
        return ("at", args.at)
    return None


async def do_add(client, args):
    trigger = trigger_of(args)
    options = job_options(args)
    if args.paused:
        options["paused"] = True
    if args.replace:
        options["replace_existing"] = True
    job = await client.add_job(args.task, trigger, args=args.args, kwargs=args.kwargs,
                               id=args.id, name=args.name, **options)
    _out("added %s (next run: %s)" % (job.id, job.data.get("next_run") or "paused"))


async def do_next(client, args):
    trigger = trigger_of(args)
    if (trigger is None) == (args.id is None):
        raise Exit(EXIT_USAGE, "next: give a job id or one of --cron, --interval, --at")
    times = await client.next_fire_times(args.id, args.count, trigger=trigger)
    if args.json:
        _out(json.dumps([t.isoformat() for t in times]))
    elif not times:
        _out("no fire times (the job is paused, or its trigger has ended)")
    for when in [] if args.json else times:
        _out(when.strftime("%a  ") + when.isoformat(sep=" "))


EXPORT_FORMAT = "twistedsched-jobs/1"

#: What an exported job keeps of the daemon's description of it.
_NOT_IMPORTED = ("jobstore",)


def export_entry(data):
    """One job of an export, from the daemon's description of it (C{RemoteJob.data})."""
    options = {key: value for key, value in data.get("options", {}).items()
               if key not in _NOT_IMPORTED}
    counts = policies.exported_counts(data.get("policy_state") or {})
    if counts:          # (so that max_runs and pause_after_failures go on counting)
        options["policy_state"] = counts
    return {"id": data["id"], "name": data["name"], "task": data.get("task"),
            "args": data.get("args", []), "kwargs": data.get("kwargs", {}),
            "trigger": data.get("trigger_dict"), "paused": data.get("paused", False),
            "options": options}


async def do_export(client, args):
    jobs = await client.get_jobs()
    _out(json.dumps({"format": EXPORT_FORMAT, "jobs": [export_entry(job.data) for job in jobs]},
                    indent=2, sort_keys=True))


async def do_modify(client, args):
    changes = job_options(args)
    for field in ("name", "task", "args", "kwargs"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    if not changes:
        raise Exit(EXIT_USAGE, "modify: nothing to change (see modify --help)")
    job = await client.modify_job(args.id, **changes)
    _out("modified %s (next run: %s)" % (job.id, job.data.get("next_run") or "paused"))


async def do_reschedule(client, args):
    job = await client.reschedule_job(args.id, trigger_of(args))
    _out("rescheduled %s: %s (next run: %s)" % (job.id, job.trigger,
                                                 job.data.get("next_run") or "paused"))


async def do_backfill(client, args):
    times = await client.backfill(args.id, args.start, args.end)
    _out("backfilling %s: %d run%s" % (args.id, len(times), "" if len(times) == 1 else "s"))
    for when in times:
        _out("  " + when.isoformat(sep=" "))


async def do_cancel(client, args):
    count = await client.cancel_running(args.id)
    _out("cancelled %d running instance%s of %s" % (count, "" if count == 1 else "s", args.id))


async def do_remove(client, args):
    await client.remove_job(args.id)
    _out("removed %s" % (args.id,))


async def do_pause(client, args):
    await client.pause_job(args.id)
    _out("paused %s" % (args.id,))


async def do_resume(client, args):
    job = await client.resume_job(args.id)
    if job is None:
        _out("%s had no run left and was removed" % (args.id,))
    else:
        _out("resumed %s (next run: %s)" % (job.id, job.data.get("next_run")))


async def do_run(client, args):
    await client.run_job(args.id)
    _out("started %s" % (args.id,))


async def do_tasks(client, args):
    tasks = await client.tasks()
    if not tasks:
        _out("No tasks registered (start the daemon with --tasks MODULE)")
        return
    for line in format_table(("TASK", "DESCRIPTION"),
                             [(t["name"], t["doc"]) for t in tasks]):
        _out(line)


async def do_stats(client, args):
    stats = await client.stats()
    if args.json:
        return _out_json(stats)
    for line in format_table(("STAT", "VALUE"), sorted(stats.items()))[1:]:
        _out(line)


async def do_workers(client, args):
    import time
    from twistedsched.workerinfo import lines
    data = await client.workers()
    for line in lines(data, time.time()):
        _out(line)
    if data.get("truncated"):
        _out("(more workers than one answer holds)")


async def do_pause_scheduler(client, args):
    await client.pause()
    _out("scheduler paused")


async def do_resume_scheduler(client, args):
    await client.resume()
    _out("scheduler resumed")


async def do_watch(client, args):
    done = defer.Deferred()
    seen = [0]

    def on_event(event):
        _out(json.dumps(event, sort_keys=True) if args.json else format_event(event))
        seen[0] += 1
        if args.count is not None and seen[0] >= args.count and not done.called:
            done.callback(None)
    client.protocol.lost.addCallback(
        lambda _: done.called or done.errback(Exit(EXIT_CONNECT, "connection lost")))
    await client.subscribe(args.events, on_event)
    sys.stderr.write("watching %s events on %s (Ctrl-C to stop)\n" % (args.events, args.connect))
    sys.stderr.flush()
    if args.count is None or args.count > 0:
        await done


COMMANDS = {
    "list": do_list, "show": do_show, "add": do_add, "remove": do_remove,
    "pause": do_pause, "resume": do_resume, "run": do_run, "tasks": do_tasks,
    "stats": do_stats, "workers": do_workers, "watch": do_watch,
    "pause-scheduler": do_pause_scheduler, "resume-scheduler": do_resume_scheduler,
    "next": do_next, "cancel": do_cancel, "backfill": do_backfill, "modify": do_modify,
    "reschedule": do_reschedule, "export": do_export, "import": do_import,
}

#: Commands that time each of their calls, not the whole command (--timeout).
TIMED_BY_CALL = ("watch", "list", "import")


# -- Running ----------------------------------------------------------------------

def _timeout(d, reactor, seconds, what):
    d.addTimeout(seconds, reactor)
    d.addErrback(lambda f: f.trap(defer.TimeoutError) and _raise(
        Exit(EXIT_CONNECT, "%s: no answer within %g s" % (what, seconds))))
    return d


def _raise(exc):
    raise exc


def uses_tls(args):
    return bool(args.tls or args.ca or args.cert)


def make_endpoint(reactor, args):
    """The client endpoint of C{--connect} and the TLS options; L{Exit} 2 if they are wrong."""
    if args.key and not args.cert:
        raise Exit(EXIT_USAGE, "--key needs --cert")
    try:
        return client_endpoint(reactor, args.connect, tls=uses_tls(args),
                               ca_file=args.ca, cert_file=args.cert, key_file=args.key,
                               hostname=args.server_name)
    except Exception as e:      # a malformed endpoint string, unreadable PEM files
        raise Exit(EXIT_USAGE, "%s (--connect %r, --ca/--cert/--key)" % (e, args.connect))


def connection_exit(exc, args):
    """L{Exit} 3 for an exception that means the connection failed, else C{None}."""
    tls_problem = describe_tls_failure(exc, args.server_name or endpoint_host(args.connect))
    if tls_problem:
        return Exit(EXIT_CONNECT, tls_problem)
    if isinstance(exc, (error.ConnectionLost, error.ConnectionDone)):
        hint = "" if uses_tls(args) else " (if the port is ssl:, add --tls and --ca)"
        return Exit(EXIT_CONNECT, "connection lost: %s%s" % (exc, hint))
    if isinstance(exc, (error.ConnectError, OSError)):
        return Exit(EXIT_CONNECT, "cannot connect to %s: %s" % (args.connect, exc))
    return None


def password_of(args):
    """C{--password}, else asked for on a terminal, else empty."""
    if args.password is not None:
        return args.password
    if sys.stdin.isatty():
        return getpass.getpass("password for %s: " % (args.user,))
    return ""


async def run(reactor, args):
    """Connect, run the command; raise L{Exit} for anything but success."""
    endpoint = make_endpoint(reactor, args)
    try:
        client = await _timeout(connect(reactor, endpoint), reactor, args.timeout,
                                "connecting to %s" % (args.connect,))
    except Exception as e:
        raise (connection_exit(e, args) or e) from None
    try:
        if args.user is not None:
            await _timeout(client.login(args.user, password_of(args)), reactor,
                           args.timeout, "logging in")
        command = COMMANDS[args.command](client, args)
        if args.command in TIMED_BY_CALL:
            await command
        else:
            await _timeout(defer.ensureDeferred(command), reactor, args.timeout, args.command)
    except BrokenPipeError:
        # Whoever read our output has gone (`| head`): stop quietly, as Unix tools do.
        quiet_stdout()
        raise Exit(EXIT_OK) from None
    except NotAuthorized as e:
        hint = " (use --user and --password)" if args.user is None else ""
        raise Exit(EXIT_REFUSED, "not authorized: %s%s" % (e, hint)) from None
    except ControlError as e:
        raise Exit(EXIT_REFUSED, str(e)) from None
    except Exception as e:
        raise (connection_exit(e, args) or e) from None
    finally:
        client.protocol.transport.loseConnection()


def quiet_stdout():
    """Point standard output at /dev/null, so that exiting flushes nothing into a closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _main(reactor, args):
    d = defer.ensureDeferred(run(reactor, args))

    def failed(failure):
        if failure.check(Exit):
            if failure.value.message:
                sys.stderr.write("twistedsched-ctl: %s\n" % (failure.value.message,))
            raise SystemExit(failure.value.code)
        return failure
    return d.addErrback(failed)


def main(argv=None):
    """The console script: parse C{argv}, run, exit with the code."""
    args = build_parser().parse_args(argv)
    react(_main, (args,))


if __name__ == "__main__":
    main()
