"""
The admin console: a line protocol an operator types at with C{telnet},
C{nc} or C{openssl s_client}::

    factory = ConsoleFactory(scheduler)
    endpoints.serverFromString(reactor, "tcp:7731:interface=127.0.0.1").listen(factory)

It follows the rules of L{twistedsched.remote}: registered tasks only, JSON
arguments.  Every error is one line starting with C{error:}; the session
goes on.  Telnet negotiation is stripped (and every option refused), so the
same protocol serves telnet, nc and TLS clients.
"""

import collections
import datetime as _dt
import difflib
import fnmatch
import inspect
import json
import re
import shlex

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

import twistedsched
from twistedsched import events as ev
from twistedsched import auth
from twistedsched.errors import (
    BadArgumentError, JobLookupError, SchedulerError, UnknownTaskError)
from twistedsched.history import HISTORY_HEADERS, history_rows, last_result
from twistedsched.limits import hang_up
from twistedsched.remote import (
    REMOTE_CHANGES, REMOTE_OPTIONS, add_remote_job, build_remote_trigger, check_args,
    check_kwargs, job_to_wire, modify_remote_job, remote_backfill, remote_next_fire_times,
    run_remote_job, zoned_trigger)
from twistedsched.table import JOB_HEADERS, format_run_time, format_table, job_rows

#: Defaults for L{ConsoleFactory}.
DEFAULT_IDLE_TIMEOUT = 600
DEFAULT_LOGIN_TIMEOUT = 30
DEFAULT_MAX_LINE_LENGTH = 8192
DEFAULT_PROMPT = "sched> "

#: With a checker: how many refused logins close the session (each refusal
#: is answered after the shared L{twistedsched.auth.LoginThrottle}'s delay).
MAX_LOGIN_FAILURES = 3

#: What may run before a login.
BEFORE_LOGIN = ("login", "help", "quit")

# -- Telnet ------------------------------------------------------------------

IAC, DONT, DO, WONT, WILL = 255, 254, 253, 252, 251
IP, BRK = 244, 243
CTRL_C = 3

#: Marks an interrupt (Ctrl-C, telnet IP or BRK) in L{TelnetFilter}'s output.
INTERRUPT = object()

_SPECIAL = re.compile(b"[\xff\x03]")


class TelnetFilter:
    """
    Strips telnet commands from a byte stream.  L{feed} returns the data
    (byte strings, with L{INTERRUPT} where Ctrl-C or IAC IP/BRK came) and
    the replies to send: every option is refused, so a well-behaved client
    never sends subnegotiations; stray commands are dropped and never stop
    the stream.
    """

    def __init__(self):
        self._state = "data"
        self._verb = None

    def feed(self, data):
        out, replies, i = [], [], 0
        while i < len(data):
            if self._state == "data":
                match = _SPECIAL.search(data, i)
                end = match.start() if match else len(data)
                if end > i:
                    out.append(data[i:end])
                if match is None:
                    break
                i = end + 1
                if data[end] == CTRL_C:
                    out.append(INTERRUPT)
                else:
                    self._state = "iac"
            else:
                byte, i = data[i], i + 1
                if self._state == "iac":
                    self._state = self._command(byte, out)
                else:
                    self._state = "data"
                    answer = {DO: WONT, WILL: DONT}.get(self._verb)
                    if answer:
                        replies.append(bytes([IAC, answer, byte]))
        return out, b"".join(replies)

    def _command(self, byte, out):
        """Handle the byte after IAC; return the next state."""
        if byte in (WILL, WONT, DO, DONT):
            self._verb = byte
            return "option"
        if byte == IAC:
            out.append(b"\xff")
        elif byte in (IP, BRK):
            out.append(INTERRUPT)
        elif byte < 240:
            out.append(bytes([byte]))     # not a command: keep the byte
        return "data"


# -- Commands ------------------------------------------------------------------

class UsageError(Exception):
    """The command's arguments are wrong: show its usage line."""


class LoginRefused(Exception):
    """Wrong user name or password."""


Command = collections.namedtuple("Command", "name usage method")

#: Command name -> L{Command}; filled by L{command}.
COMMANDS = {}

#: Other names for commands.
ALIASES = {"exit": "quit", "?": "help", "ls": "jobs"}


def command(name, usage):
    """Register a console method as command C{name}; its docstring is its help."""
    def register(method):
        COMMANDS[name] = Command(name, usage, method)
        return method
    return register


def summary(cmd):
    """The first line of a command's help."""
    return inspect.getdoc(cmd.method).splitlines()[0]


def suggest(name, names):
    """' (did you mean X?)' for the closest of C{names}, or ''."""
    close = difflib.get_close_matches(name, list(names), n=1)
    return " (did you mean %r?)" % (close[0],) if close else ""


def clean(text):
    """C{text} safe for a terminal: control characters replaced."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " if c.isspace() else "?" for c in text)


def _option_value(key, value):
    """A job option's value: JSON if it parses (true, 3, null), else the text."""
    if key in ("id", "name", "args", "kwargs", "executor", "jobstore", "timezone"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


#: The OPTION=VALUE words of 'add'.
ADD_OPTIONS = ("id", "name", "args", "kwargs", "timezone") + REMOTE_OPTIONS

_JSON_EXAMPLES = {"args": "args='[1, \"a\"]'", "kwargs": "kwargs='{\"zone\": \"forest\"}'"}


def _checked_json(check, value, what):
    """C{check(value)}, with a quoting hint if the JSON is wrong."""
    try:
        return check(value)
    except BadArgumentError as e:
        raise BadArgumentError("%s (quote JSON for the shell: %s)" % (
            e, _JSON_EXAMPLES[what])) from None


def _event_line(event, when):
    """One line for an event: time, name, then key=value fields."""
    fields = []
    for key, value in event.to_dict().items():
        if key == "event" or value is None:
            continue
        if not isinstance(value, (str, int, float)):
            value = json.dumps(value)
        fields.append("%s=%s" % (key, value))
    return " ".join([when, event.name] + fields)


@implementer(IPushProducer)
class _OutputPressure:
    """
    Registered with a session's transport as a streaming producer, so that
    the transport says when its write buffer is full (pause) and when it has
    drained (resume): the session then drops events and stops reading input.
    """

    def __init__(self, session):
        self.session = session

    def pauseProducing(self):
        self.session.output_paused()

    def resumeProducing(self):
        self.session.output_resumed()

    def stopProducing(self):
        pass


class ConsoleProtocol(LineReceiver, TimeoutMixin):
    """One operator's session.  C{self.factory} gives the scheduler and settings."""

    delimiter = b"\n"
    log = Logger()

    def __init__(self):
        self._telnet = TelnetFilter()
        self._discarding = False     # inside a line that was too long
        self._requeue = None         # data after a too-long line, to parse again
        self._busy = False           # a command's Deferred has not fired
        self._input_holds = set()    # why input is paused: "command", "output"
        self._watching = False
        self._writing_paused = False  # the transport's write buffer is full
        self._dropped_events = 0     # events not written while it was
        self._connected = False
        self._login_failures = 0
        self._pending_user = None    # a user name typed at the "user:" prompt
        self._login_timer = None     # closes a session that does not log in in time
        self._login_attempt = None   # the Deferred of a login being checked
        self._cut = None             # cuts a connection closed by the server that lingers
        self.user = None

    @property
    def scheduler(self):
        return self.factory.scheduler

    # -- Connection --------------------------------------------------------

    def connectionMade(self):
        self._connected = True
        self.MAX_LENGTH = self.factory.max_line_length
        self.callLater = self.factory.reactor.callLater
        self.setTimeout(self.factory.idle_timeout)
        self.transport.registerProducer(_OutputPressure(self), True)
        if not self.logged_in and self.factory.login_timeout:
            self._login_timer = self.callLater(self.factory.login_timeout,
                                               self._login_timed_out)
        self.write_lines([
            "twistedsched %s admin console (time zone: %s)" % (
                twistedsched.__version__, self.scheduler.timezone),
            "Type 'help' for the commands, 'quit' to leave."])
        if self.factory.checker is not None:
            self.write_lines(["Log in first: your user name, then your password "
                              "(or: login USER PASSWORD)."])
        self.prompt()

    def connectionLost(self, reason=protocol.connectionDone):
        self._connected = False
        self.setTimeout(None)
        self._cancel_login_timer()
        if self._cut is not None and self._cut.active():
            self._cut.cancel()
        if self._login_attempt is not None:
            self._login_attempt.cancel()     # drop the check if it has not started
        self._stop_watching()

    def hang_up(self):
        """Close the session: its pending output goes out, if the client reads it soon."""
        if self._cut is None:
            self._cut = hang_up(self.transport, self.factory.reactor)

    def timeoutConnection(self):
        self.write_lines(["idle for %s seconds; goodbye" % (self.factory.idle_timeout,)])
        self.hang_up()

    def _login_timed_out(self):
        self._login_timer = None
        self.log.info("console: no login within {s} s from {peer}; closing",
                      s=self.factory.login_timeout, peer=self.transport.getPeer())
        self.write_lines(["", "no login within %s seconds; goodbye" % (
            self.factory.login_timeout,)])
        self.hang_up()

    def _cancel_login_timer(self):
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None

    # -- Back-pressure -------------------------------------------------------
    # A client that does not read must not fill the daemon's memory: while
    # the transport's buffer is full, events are dropped (and counted) and
    # input is not read, so commands cannot pile up output either.

    def output_paused(self):
        self._writing_paused = True
        self._hold_input("output")

    def output_resumed(self):
        self._writing_paused = False
        if self._dropped_events:
            count, self._dropped_events = self._dropped_events, 0
            self.write_lines(["(dropped %d event%s: the connection did not take them "
                              "fast enough)" % (count, "" if count == 1 else "s")])
        self._release_input("output")

    def _hold_input(self, why):
        if not self._input_holds:
            self.pauseProducing()
        self._input_holds.add(why)

    def _release_input(self, why):
        if why not in self._input_holds:
            return
        self._input_holds.discard(why)
        if not self._input_holds and self._connected and not self.transport.disconnecting:
            self.resumeProducing()

    # -- Output ------------------------------------------------------------

    def write_lines(self, lines):
        """Write lines, each ending in CRLF, with control characters replaced."""
        if self._connected and lines:
            text = "".join(clean(line) + "\r\n" for line in lines)
            self.transport.write(text.encode("utf-8"))

    def error(self, message):
        self.write_lines(["error: " + message])

    def prompt(self):
        if self._connected and not self._watching and not self.transport.disconnecting:
            self.transport.write(self._prompt_text().encode("utf-8"))

    def _prompt_text(self):
        """The command prompt, or before a login the user name or password prompt."""
        if self.logged_in:
            return self.factory.prompt
        return "password: " if self._pending_user is not None else "user: "

    def now_text(self):
        return format_run_time(self.scheduler.now(), self.scheduler.timezone)

    # -- Input -------------------------------------------------------------

    def dataReceived(self, data):
        """Strip telnet commands, then split lines (C{b""}: resume parsing)."""
        self.resetTimeout()
        if not data:
            return self._receive(b"")
        pieces, replies = self._telnet.feed(data)
        if replies:
            self.transport.write(replies)
        for piece in pieces:
            if not self._connected or self.transport.disconnecting:
                return
            if piece is INTERRUPT:
                self.interrupt()
            else:
                self._receive(piece)

    def _receive(self, data):
        if self._discarding:
            _, newline, data = data.partition(self.delimiter)
            if not newline:
                return
            self._discarding = False
            self.prompt()
        LineReceiver.dataReceived(self, data)
        while self._requeue is not None and self._connected:
            data, self._requeue = self._requeue, None
            LineReceiver.dataReceived(self, data)

    def lineLengthExceeded(self, line):
        """Answer with an error and go on at the next newline."""
        self.error("line too long (more than %d bytes); ignored" % (self.MAX_LENGTH,))
        _, newline, rest = line.partition(self.delimiter)
        if newline:
            self.prompt()
            self._requeue = rest
        else:
            self._discarding = True

    def interrupt(self):
        """Ctrl-C: stop watching, or drop the line being typed."""
        self.clearLineBuffer()
        self._discarding = False
        if self._watching:
            self._stop_watching()
            self.prompt()
        elif not self._busy:
            self.write_lines(["^C"])
            self.prompt()

    def lineReceived(self, line):
        text = line.decode("utf-8", "replace").strip()
        if self._watching:
            self._stop_watching()
            if not text:
                return self.prompt()
        try:
            self.run_line(text)
        except Exception:
            self.log.failure("console: handling a line failed")
            self.error("internal error; see the daemon's log")
            self.prompt()

    # -- Running commands ----------------------------------------------------

    def run_line(self, text):
        """Split C{text} like a shell and run the command it names."""
        if self._pending_user is not None:
            # The line answers the password prompt: taken as typed, not split.
            words, self._pending_user = ["login", self._pending_user, text], None
        else:
            try:
                words = shlex.split(text)
            except ValueError as e:
                self.error("cannot parse the line: %s" % (str(e).lower(),))
                return self.prompt()
        if not words:
            return self.prompt()
        name, args = ALIASES.get(words[0], words[0]), words[1:]
        if not self.logged_in and name not in COMMANDS and len(words) == 1:
            self._pending_user = words[0]      # a user name: ask for the password
            return self.prompt()
        cmd = COMMANDS.get(name)
        if cmd is None:
            self.error("unknown command %r%s; type 'help' for the list" % (
                name, suggest(name, COMMANDS)))
            return self.prompt()
        if not self.logged_in and name not in BEFORE_LOGIN:
            self.error("log in first: login USER PASSWORD")
            return self.prompt()
        self._busy = True
        d = defer.maybeDeferred(cmd.method, self, args)
        d.addErrback(self._failed, cmd)
        d.addBoth(self._finished)
        if self._busy:
            self._hold_input("command")

    def _failed(self, failure, cmd):
        if failure.check(defer.CancelledError) and not self._connected:
            return      # the session is gone (a login dropped)
        if failure.check(UsageError):
            detail = str(failure.value)
            self.error("%susage: %s" % (detail + "; " if detail else "", cmd.usage))
        elif failure.check(LoginRefused):
            self.error("login refused" + (" (%s)" % (failure.value,) if str(failure.value) else ""))
            if self._login_failures >= MAX_LOGIN_FAILURES:
                self.write_lines(["too many failed logins; goodbye"])
                self.hang_up()
        elif failure.check(UnknownTaskError):
            self.error("%s; 'tasks' lists the registered tasks" % (failure.value,))
        elif failure.check(SchedulerError):
            self.error(str(failure.value))
        else:
            self.log.failure("console: command {name!r} failed", failure, name=cmd.name)
            self.error("internal error (%s); see the daemon's log" % (failure.type.__name__,))

    def _finished(self, _):
        self._busy = False
        self.prompt()
        self._release_input("command")

    @property
    def logged_in(self):
        return self.factory.checker is None or self.user is not None

    # -- Commands ------------------------------------------------------------

    @command("help", "help [COMMAND]")
    def do_help(self, args):
        """List the commands, or explain one."""
        if len(args) > 1:
            raise UsageError()
        if args:
            name = ALIASES.get(args[0], args[0])
            if name not in COMMANDS:
                raise BadArgumentError("no command %r%s" % (name, suggest(name, COMMANDS)))
            cmd = COMMANDS[name]
            return self.write_lines(["usage: " + cmd.usage]
                                    + inspect.getdoc(cmd.method).splitlines())
        rows = [(cmd.usage, summary(cmd)) for cmd in COMMANDS.values()]
        lines = format_table(("COMMAND", "DOES"), rows)
        self.write_lines(lines + ["Quote like a shell; 'help COMMAND' for details."])

    @command("jobs", "jobs [--paused] [GLOB]")
    def do_jobs(self, args):
        """
        List jobs: id, name (task), trigger, next run, state.
        --paused shows paused jobs only; GLOB matches the id, name or task.
        """
        paused_only = "--paused" in args
        args = [a for a in args if a != "--paused"]
        if len(args) > 1 or any(a.startswith("-") for a in args):
            raise UsageError()
        pattern = args[0] if args else "*"
        return self.scheduler.get_jobs().addCallback(self._write_jobs, pattern, paused_only)

    def _write_jobs(self, jobs, pattern, paused_only):
        jobs = [job for job in jobs if (job.paused or not paused_only) and any(
            fnmatch.fnmatchcase(text or "", pattern) for text in (job.id, job.name, job.task))]
        lines = ["no jobs" + ("" if pattern == "*" and not paused_only else " match")]
        if jobs:
            rows = [row[:1] + (self._name_task(job),) + row[2:] + (self._state(job),)
                    for row, job in zip(job_rows(jobs, self.scheduler.timezone), jobs)]
            lines = format_table(JOB_HEADERS + ("STATE",), rows)
        if self.scheduler.paused:
            lines.append("(the scheduler is paused: 'resume-all' to run jobs again)")
        self.write_lines(lines)

    @staticmethod
    def _name_task(job):
        target = job.target
        return job.name if job.name == target else "%s (%s)" % (job.name, target)

    def _state(self, job):
        running = self.scheduler.running_instances(job.id)
        if running:
            return "running" if running == 1 else "running x%d" % (running,)
        if job.paused and job.policy_state.get("paused_reason"):
            return "paused (failures)"
        return "paused" if job.paused else "scheduled"

    @command("show", "show ID")
    def do_show(self, args):
        """Show every field of a job, and its last runs."""
        job_id = self._one_id(args)
        d = self.scheduler.get_job(job_id)
        return d.addCallback(self._write_job, job_id)

    def _write_job(self, job, job_id):
        if job is None:
            return self.scheduler.job_history(job_id).addCallback(self._write_ended, job_id)
        wire = job_to_wire(job, self.scheduler.timezone)
        fields = [("id", wire["id"]), ("name", wire["name"]), ("task", wire["target"]),
                  ("trigger", wire["trigger"]), ("next run", wire["next_run"]),
                  ("state", self._state(job)), ("args", json.dumps(wire["args"])),
                  ("kwargs", json.dumps(wire["kwargs"]))]
        fields += [(key, json.dumps(value) if not isinstance(value, str) else value)
                   for key, value in wire["options"].items()]
        if wire["options"]["max_runs"] is not None:
            fields.append(("runs", "%d of %d" % (wire["policy_state"]["runs"],
                                                 wire["options"]["max_runs"])))
        if wire["policy_state"]["paused_reason"]:
            fields.append(("paused because", wire["policy_state"]["paused_reason"]))
        width = max(len(key) for key, _ in fields) + 1
        lines = ["%s %s" % ((key + ":").ljust(width), value) for key, value in fields]
        d = self.scheduler.job_history(job.id, job.jobstore)
        return d.addCallback(lambda runs: self.write_lines(lines + self._history_lines(runs)))

    def _write_ended(self, runs, job_id):
        """A job that is gone, but whose last runs are kept (it ended as it ran)."""
        if not runs:
            raise JobLookupError(job_id)
        return self.write_lines(["job %r has ended (it is no longer scheduled); its last "
                                 "runs are kept:" % (job_id,)] + self._history_lines(runs))

    def _history_lines(self, runs):
        if not runs:
            return ["last runs: none"]
        rows = history_rows(runs, self.scheduler.timezone)
        result = last_result(runs, self.scheduler.timezone)
        return ([] if result is None else ["last result: " + result]) + [
            "last runs (newest first):"] + [
            "  " + line for line in format_table(HISTORY_HEADERS, rows)]

    @command("add", "add TASK cron|every|at SPEC [OPTION=VALUE...]")
    def do_add(self, args):
        """
        Schedule a registered task ('tasks' lists them) on a trigger.
        SPEC: cron "M H DOM MON DOW", every DURATION (30s, 5m, 1h30m), at TIME.
          add backup cron "*/5 * * * *" id=backup args='["db"]'
          add ping every 30s kwargs='{"host": "a"}'
          add report at 2026-12-01T04:00        (times in the scheduler's zone)
        Options: id, name, args, kwargs, misfire_grace_time, coalesce,
        max_instances, jitter, timeout, executor, jobstore, replace_existing,
        paused, max_runs, pause_after_failures, retries, retry_delay,
        retry_max_delay, overlap, exclude (a JSON list of dates and calendar
        names), timezone (the trigger's own zone, e.g. timezone=Asia/Tokyo).
        """
        if len(args) < 3:
            raise UsageError()
        task, kind, rest = args[0], args[1], args[2:]
        spec = []
        while rest and not re.match(r"[A-Za-z_]+=", rest[0]):
            spec.append(rest.pop(0))
        if not spec:
            raise UsageError("no %s given" % (kind,))
        options = {}
        for word in rest:
            key, equals, value = word.partition("=")
            if not equals or not re.fullmatch(r"[A-Za-z_]+", key):
                raise UsageError("expected OPTION=VALUE, not %r" % (word,))
            if key not in ADD_OPTIONS:
                raise BadArgumentError("unknown option %r (known: %s)" % (
                    key, ", ".join(ADD_OPTIONS)))
            options[key] = _option_value(key, value)
        options["args"] = _checked_json(check_args, options.get("args"), "args")
        options["kwargs"] = _checked_json(check_kwargs, options.get("kwargs"), "kwargs")
        trigger = (kind, " ".join(spec))
        if "timezone" in options:
            trigger = zoned_trigger(kind, trigger[1], options.pop("timezone"))
        d = add_remote_job(self.scheduler, task, trigger,
                           args=options.pop("args"), kwargs=options.pop("kwargs"),
                           id=options.pop("id", None), name=options.pop("name", None),
                           options=options)
        return d.addCallback(self._added)

    def _added(self, job):
        self.write_lines(["added job %s (%s): %s; next run: %s" % (
            job.id, job.name, job.trigger,
            format_run_time(job.next_run_time, self.scheduler.timezone))])

    @command("remove", "remove ID")
    def do_remove(self, args):
        """Remove a job."""
        job_id = self._one_id(args)
        return self.scheduler.remove_job(job_id).addCallback(
            lambda _: self.write_lines(["removed job %s" % (job_id,)]))

    @command("pause", "pause ID")
    def do_pause(self, args):
        """Pause a job until 'resume ID'."""
        job_id = self._one_id(args)
        return self.scheduler.pause_job(job_id).addCallback(
            lambda _: self.write_lines(["paused job %s" % (job_id,)]))

    @command("resume", "resume ID")
    def do_resume(self, args):
        """Resume a paused job from its trigger's next time (missed runs are not made up)."""
        job_id = self._one_id(args)
        return self.scheduler.resume_job(job_id).addCallback(self._resumed, job_id)

    def _resumed(self, job, job_id):
        if job is None:
            return self.write_lines(["job %s had no runs left and was removed" % (job_id,)])
        self.write_lines(["resumed job %s; next run: %s" % (job_id, format_run_time(
            job.next_run_time, self.scheduler.timezone))])

    @command("run", "run ID")
    def do_run(self, args):
        """Run a job now, outside its schedule (max_instances applies)."""
        job_id = self._one_id(args)
        return run_remote_job(self.scheduler, job_id).addCallback(
            lambda _: self.write_lines(["submitted job %s; 'show %s' for the outcome" % (
                job_id, job_id)]))

    @command("modify", "modify ID OPTION=VALUE...")
    def do_modify(self, args):
        """
        Change a job: name, task, args, kwargs, or any option of 'add'.
          modify backup max_instances=2 args='["db2"]'
        """
        if len(args) < 2:
            raise UsageError()
        changes = {}
        for word in args[1:]:
            key, equals, value = word.partition("=")
            if not equals or key not in REMOTE_CHANGES:
                raise UsageError("expected OPTION=VALUE with OPTION one of %s, not %r" % (
                    ", ".join(REMOTE_CHANGES), word))
            changes[key] = _option_value(key, value)
        for key in ("args", "kwargs"):
            if key in changes:
                check = check_args if key == "args" else check_kwargs
                changes[key] = _checked_json(check, changes[key], key)
        d = modify_remote_job(self.scheduler, args[0], changes)
        return d.addCallback(lambda job: self.write_lines(["modified job %s; next run: %s" % (
            job.id, format_run_time(job.next_run_time, self.scheduler.timezone))]))

    @command("reschedule", "reschedule ID cron|every|at SPEC")
    def do_reschedule(self, args):
        """
        Give a job a new trigger; its next run is counted from now.
          reschedule backup cron "0 3 * * *"
        """
        if len(args) < 3:
            raise UsageError()
        trigger = build_remote_trigger(self.scheduler, args[1], " ".join(args[2:]))
        d = self.scheduler.reschedule_job(args[0], trigger=trigger)
        return d.addCallback(lambda job: self.write_lines(["rescheduled job %s: %s; next run: %s"
                                                           % (job.id, job.trigger, format_run_time(
                                                               job.next_run_time,
                                                               self.scheduler.timezone))]))

    @command("backfill", "backfill ID FROM TO")
    def do_backfill(self, args):
        """
        Run a job for every time its trigger fired from FROM to TO (ISO times,
        in the scheduler's zone unless they have an offset; TO included), in
        order, now.  At most 1000 runs.
          backfill nightly 2026-11-20T00:00 2026-11-23T00:00
        """
        if len(args) != 3:
            raise UsageError()
        d = remote_backfill(self.scheduler, *args)
        return d.addCallback(lambda times: self.write_lines(
            ["backfilling %s: %d run%s" % (args[0], len(times), "" if len(times) == 1 else "s")]
            + ["  " + text.replace("T", " ") for text in times]))

    @command("cancel", "cancel ID")
    def do_cancel(self, args):
        """
        Cancel the running instances of a job (their runs end as cancelled).
        The process executor kills the worker; a thread cannot be stopped.
        """
        job_id = self._one_id(args)
        return self.scheduler.cancel_running(job_id).addCallback(
            lambda count: self.write_lines(["cancelled %d running instance%s of %s" % (
                count, "" if count == 1 else "s", job_id)]))

    @command("next", "next ID|cron SPEC|every DURATION|at TIME [-n COUNT]")
    def do_next(self, args):
        """
        Show when a job runs next, or when a trigger would fire (to check it
        before adding a job), in the scheduler's zone; 10 times unless -n.
          next backup -n 5
          next cron "0 4 * * mon-fri" -n 5
        """
        args, count = list(args), 10
        if "-n" in args:
            at = args.index("-n")
            if at + 1 >= len(args) or not re.fullmatch(r"\d{1,6}", args[at + 1]):
                raise UsageError("-n needs a whole number")
            count = int(args[at + 1])
            del args[at:at + 2]
        if not args or any(a.startswith("-") for a in args):
            raise UsageError()
        if len(args) == 1:
            d = remote_next_fire_times(self.scheduler, job_id=args[0], count=count)
        else:
            d = remote_next_fire_times(self.scheduler, trigger=(args[0], " ".join(args[1:])),
                                       count=count)
        return d.addCallback(self._write_times)

    def _write_times(self, times):
        if not times:
            return self.write_lines(["no fire times (paused, or the trigger has ended)"])
        weekdays = [_dt.datetime.fromisoformat(t).strftime("%a") for t in times]
        self.write_lines(["%s  %s" % (day, text.replace("T", " "))
                          for day, text in zip(weekdays, times)])

    @command("tasks", "tasks")
    def do_tasks(self, args):
        """List the registered tasks: what 'add' may schedule."""
        self._no_args(args)
        tasks = self.scheduler.tasks
        if not len(tasks):
            return self.write_lines(["no tasks registered (the daemon's --tasks option)"])
        rows = [(name, (inspect.getdoc(tasks.lookup(name)) or "").split("\n")[0])
                for name in tasks.names()]
        self.write_lines(format_table(("TASK", "DESCRIPTION"), rows))

    @command("stats", "stats")
    def do_stats(self, args):
        """Show counts: jobs, running instances, runs submitted, executed, failed, missed."""
        self._no_args(args)
        return self.scheduler.stats().addCallback(self._write_stats)

    def _write_stats(self, stats):
        lines = ["%-10s %s" % (key + ":", json.dumps(value)) for key, value in stats.items()]
        self.write_lines(lines + ["%-10s %s" % ("time zone:", self.scheduler.timezone),
                                  "%-10s %s" % ("now:", self.now_text())])

    @command("workers", "workers")
    def do_workers(self, args):
        """List the worker tier's live workers and queues (daemon started with --broker)."""
        from twistedsched.workerinfo import lines, overview
        self._no_args(args)
        self.write_lines(lines(overview(self.scheduler), self.scheduler.reactor.seconds()))

    @command("watch", "watch [EVENT...]")
    def do_watch(self, args):
        """
        Show events as they happen, until a blank line or Ctrl-C.
        Name events to see only those, e.g. watch job_executed job_error.
        """
        try:
            mask = ev.mask_from_names(args) if args else ev.EVENT_ALL
        except ValueError as e:
            raise BadArgumentError(str(e)) from None
        self.write_lines(["watching events; press Enter or Ctrl-C to stop"])
        self._watching = True
        self.setTimeout(None)
        self.scheduler.add_listener(self._on_event, mask)

    def _on_event(self, event):
        if self._writing_paused:
            self._dropped_events += 1
        else:
            self.write_lines([_event_line(event, self.now_text())])

    def _stop_watching(self):
        if self._watching:
            self._watching = False
            self.scheduler.remove_listener(self._on_event)
            if self._connected:
                self.setTimeout(self.factory.idle_timeout)
                self.write_lines(["stopped watching"])

    @command("pause-all", "pause-all")
    def do_pause_all(self, args):
        """Pause the scheduler: no job runs until 'resume-all'."""
        self._no_args(args)
        self.scheduler.pause()
        self.write_lines(["scheduler paused"])

    @command("resume-all", "resume-all")
    def do_resume_all(self, args):
        """Resume the scheduler, starting with jobs that came due."""
        self._no_args(args)
        self.scheduler.resume()
        self.write_lines(["scheduler resumed"])

    @command("login", "login USER PASSWORD")
    def do_login(self, args):
        """
        Log in (when the daemon runs with --auth).  The password shows on
        the screen: prefer a TLS (ssl:) endpoint.
        """
        if len(args) != 2:
            raise UsageError()
        authenticator = self.factory.authenticator
        if authenticator is None:
            return self.write_lines(["no login needed"])
        user, password = args
        d = self._login_attempt = authenticator.login(user, password, self.transport.getPeer())
        d.addBoth(self._login_done)
        return d.addCallbacks(self._logged_in, self._login_refused)

    def _login_done(self, result):
        self._login_attempt = None
        return result

    def _logged_in(self, user):
        self.user = user
        self._cancel_login_timer()
        self.write_lines(["logged in as %s" % (user,)])

    def _login_refused(self, failure):
        if failure.check(defer.CancelledError):
            return failure
        self._login_failures += 1
        raise LoginRefused(failure.getErrorMessage() if failure.check(auth.LoginRefused)
                           else "")

    @command("quit", "quit")
    def do_quit(self, args):
        """Leave the console."""
        self.write_lines(["bye"])
        self.transport.loseConnection()

    @staticmethod
    def _one_id(args):
        if len(args) != 1:
            raise UsageError()
        return args[0]

    @staticmethod
    def _no_args(args):
        if args:
            raise UsageError()


class ConsoleFactory(protocol.Factory):
    """
    Makes console sessions for C{scheduler}.  With a C{checker} (an
    C{ICredentialsChecker} of user names and passwords) only C{login},
    C{help} and C{quit} work until a login succeeds.  C{idle_timeout} seconds
    without input close a session (C{None}: never); with a checker, a
    session not logged in after C{login_timeout} seconds is closed, whatever
    it sent (C{None}: never).  Lines longer than C{max_line_length} bytes are
    refused.  C{reactor} gives the clock for the timeouts (default: the
    scheduler's).  C{authenticator} (an L{twistedsched.auth.Authenticator},
    shared with the control port) replaces C{checker}.
    """

    protocol = ConsoleProtocol

    def __init__(self, scheduler, checker=None, idle_timeout=DEFAULT_IDLE_TIMEOUT,
                 max_line_length=DEFAULT_MAX_LINE_LENGTH, reactor=None,
                 prompt=DEFAULT_PROMPT, authenticator=None,
                 login_timeout=DEFAULT_LOGIN_TIMEOUT):
        self.scheduler = scheduler
        self.idle_timeout = idle_timeout
        self.login_timeout = login_timeout
        self.max_line_length = max_line_length
        self.reactor = reactor or scheduler.reactor
        self.prompt = prompt
        if authenticator is None and checker is not None:
            authenticator = auth.Authenticator(checker, self.reactor)
        self.authenticator = authenticator
        self.checker = authenticator.checker if authenticator else None
