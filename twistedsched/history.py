"""
Run history: one record per run of a job, kept by the job store.

A record is a small JSON-serializable dict (the memory store keeps it as a
tuple of L{FIELDS}, or as L{ok_run}'s shorter tuple for a run that went well, read
back by L{stored_record}; the Redis store as JSON text), with times as POSIX seconds
so that making one costs little on the fire path:

  - C{scheduled_run_time}: when the run was due
  - C{started}, C{ended}: when it ran, or C{None} if it never started
    (missed, skipped)
  - C{duration}: seconds it ran (to the microsecond), or C{None}
  - C{outcome}: C{"ok"}, C{"error"}, C{"timeout"}, C{"missed"}, C{"skipped"}
  - C{error}: one line (at most L{ERROR_LIMIT} characters) saying what went
    wrong, or C{None}
  - C{scheduler}: the id of the scheduler that handled the run
  - C{worker}, C{deliveries}: for a run on the worker tier, the worker that
    ran it and how many deliveries it took (else C{None})
  - C{result}: what a run that succeeded returned, if not C{None}: the value
    itself when it is JSON of at most L{RESULT_LIMIT} characters, else a
    shortened C{repr} of it (absent, or C{None}, otherwise)

L{with_datetimes} gives the times as aware datetimes (what
C{Scheduler.job_history} returns), L{to_text} as ISO 8601 text (what the
control port sends) and L{from_text} reads that back; L{history_rows} lays
records out for a table.
"""

import json
import os
import reprlib
import socket

from twistedsched.errors import describe_error
from twistedsched.table import format_time
from twistedsched.timeutil import from_iso, from_timestamp

#: Longest error summary kept in a record.
ERROR_LIMIT = 200

#: Longest result kept in a record, in characters of JSON (or of its repr).
RESULT_LIMIT = 1000

#: The fields of a record, in order.
FIELDS = ("scheduled_run_time", "started", "ended", "duration", "outcome", "error",
          "scheduler", "worker", "deliveries", "result")
#: The fields of a record that are times.
TIME_FIELDS = FIELDS[:3]

#: Headers of L{history_rows}.
HISTORY_HEADERS = ("SCHEDULED", "OUTCOME", "LATE", "DURATION", "SCHEDULER", "ERROR")


def default_scheduler_id():
    """C{hostname:pid}: who ran a job, when several schedulers share a store."""
    return "%s:%d" % (socket.gethostname(), os.getpid())


def summarize(text):
    """One line of at most L{ERROR_LIMIT} characters from an error's text."""
    if text is None:
        return None
    line = " ".join(str(text).split())
    if len(line) > ERROR_LIMIT:
        line = line[:ERROR_LIMIT - 3] + "..."
    return line


def failure_summary(failure):
    """C{Type: message} of a L{Failure <twisted.python.failure.Failure>}, as one capped line."""
    name = failure.type.__name__ if failure.type is not None else "Error"
    message = describe_error(failure) if failure.value is not None else name
    return summarize("%s: %s" % (name, message) if message != name else name)


_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = RESULT_LIMIT // 4


def summarize_result(value):
    """
    What a record keeps of a run's return value: the value if it is JSON
    of at most L{RESULT_LIMIT} characters, else its C{repr}, shortened.
    """
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is not None and len(text) <= RESULT_LIMIT:
        return json.loads(text)
    short = _short_repr.repr(value)
    return short if len(short) <= RESULT_LIMIT else short[:RESULT_LIMIT - 3] + "..."


def make_record(scheduled_run_time, outcome, scheduler_id, started=None, duration=None,
                error=None, result=None):
    """
    A run record.

    @param scheduled_run_time: an aware datetime.
    @param started: POSIX seconds when the run started, or C{None}.
    @param duration: seconds it ran, or C{None}.
    @param error: a one-line text (see L{summarize}), or C{None}.
    @param result: what the run returned, as L{summarize_result} gives it.
    """
    ended = None
    if duration is not None:
        duration = round(duration, 6)
        ended = round(started + duration, 6)
    record = {"scheduled_run_time": scheduled_run_time.timestamp(), "started": started,
              "ended": ended, "duration": duration, "outcome": outcome, "error": error,
              "scheduler": scheduler_id}
    if result is not None:
        record["result"] = result
    return record


def ok_run(scheduled_run_time, scheduler_id, started, duration):
    """
    The record of a run that went well and returned nothing, in short, for
    a store that keeps tuples: (scheduled_run_time, started, duration,
    scheduler_id), with the datetime as it is (no dict, no float made, no
    rounding of C{ended}: L{stored_record} does that when it is read).
    C{duration} is rounded already.
    """
    return (scheduled_run_time, started, duration, scheduler_id)


def stored_record(run):
    """
    The record of a run kept as a tuple (in L{FIELDS} order, or in short
    from L{ok_run}) as a dict of L{FIELDS}.
    """
    if len(run) == len(FIELDS):
        return dict(zip(FIELDS, run))
    scheduled_run_time, started, duration, scheduler_id = run
    return dict(zip(FIELDS, (scheduled_run_time.timestamp(), started,
                             round(started + duration, 6), duration, "ok", None,
                             scheduler_id, None, None, None)))


def _convert(record, convert):
    record = dict(record)
    for key in TIME_FIELDS:
        value = record.get(key)
        record[key] = None if value is None else convert(value)
    return record


def with_datetimes(record):
    """A copy of a stored record with its times as aware UTC datetimes."""
    return _convert(record, from_timestamp)


def to_text(record, tz):
    """A record from L{with_datetimes} with its times as ISO 8601 text in C{tz}."""
    return _convert(record, lambda value: value.astimezone(tz).isoformat())


def from_text(record):
    """A record from L{to_text} with its times as aware datetimes."""
    return _convert(record, from_iso)


def lateness(record):
    """Seconds between when a run was due and when it started (datetimes), or C{None}."""
    if record.get("started") is None or record.get("scheduled_run_time") is None:
        return None
    return (record["started"] - record["scheduled_run_time"]).total_seconds()


def last_result(records, tz=None):
    """
    C{"VALUE (at TIME)"}: the result of the newest run that kept one, with
    its scheduled time in C{tz}; C{None} if none did.
    """
    for record in records:
        if record.get("result") is not None:
            return "%s (due %s)" % (json.dumps(record["result"]),
                                    format_time(record["scheduled_run_time"], tz))
    return None


def _seconds(value):
    return "-" if value is None else "%.3fs" % (value,)


def history_rows(records, tz=None):
    """
    Rows of L{HISTORY_HEADERS} for records with datetimes, times in C{tz}
    (C{None}: in the zone they carry).
    """
    return [(format_time(record["scheduled_run_time"], tz), record["outcome"],
             _seconds(lateness(record)), _seconds(record.get("duration")),
             _ran_by(record), record.get("error") or "")
            for record in records]


def _ran_by(record):
    """The scheduler of a run, and the worker that ran it on the worker tier."""
    scheduler = record.get("scheduler") or "-"
    if not record.get("worker"):
        return scheduler
    deliveries = record.get("deliveries") or 1
    return "%s / worker %s (%d %s)" % (scheduler, record["worker"], deliveries,
                                       "delivery" if deliveries == 1 else "deliveries")
