"""
Run history: one record per run of a job, kept by the job store.

A record is a JSON-serializable dict (the stores keep it as it is; the Redis
store as JSON text):

  - C{scheduled_run_time}: when the run was due (ISO 8601, UTC)
  - C{started}, C{ended}: when it ran (ISO 8601, UTC), or C{None} if it
    never started (missed, skipped)
  - C{duration}: seconds it ran (to the microsecond), or C{None}
  - C{outcome}: C{"ok"}, C{"error"}, C{"missed"}, C{"skipped"}, ...
  - C{error}: one line (at most L{ERROR_LIMIT} characters) saying what went
    wrong, or C{None}
  - C{scheduler}: the id of the scheduler that handled the run

L{from_wire} turns the times into datetimes; L{history_rows} lays records
out for a table.
"""

import os
import socket

from twistedsched.timeutil import from_iso, from_timestamp, iso

#: Longest error summary kept in a record.
ERROR_LIMIT = 200

#: Fields whose values are times (ISO text on the wire, datetimes from L{from_wire}).
TIME_FIELDS = ("scheduled_run_time", "started", "ended")

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
    """C{Type: message} of a L{Failure}, as one capped line."""
    message = failure.getErrorMessage()
    name = failure.type.__name__ if failure.type is not None else "Error"
    return summarize("%s: %s" % (name, message) if message else name)


def make_record(scheduled_run_time, outcome, scheduler_id, started=None, duration=None,
                error=None):
    """
    A run record.

    @param scheduled_run_time: an aware datetime.
    @param started: POSIX seconds when the run started, or C{None}.
    @param duration: seconds it ran, or C{None}.
    """
    ended = None
    if duration is not None:
        duration = round(duration, 6)
    if started is not None:
        ended = iso(from_timestamp(started + (duration or 0.0)))
        started = iso(from_timestamp(started))
    return {"scheduled_run_time": iso(scheduled_run_time), "started": started,
            "ended": ended, "duration": duration, "outcome": outcome,
            "error": summarize(error), "scheduler": scheduler_id}


def from_wire(record):
    """A copy of C{record} with its times as aware datetimes."""
    record = dict(record)
    for key in TIME_FIELDS:
        record[key] = from_iso(record.get(key))
    return record


def to_wire(record, tz):
    """A record from L{from_wire} with its times as ISO text in C{tz} (as the control port shows times)."""
    record = dict(record)
    for key in TIME_FIELDS:
        value = record.get(key)
        record[key] = None if value is None else value.astimezone(tz).isoformat()
    return record


def lateness(record):
    """Seconds between when a run was due and when it started (datetimes), or C{None}."""
    if record.get("started") is None or record.get("scheduled_run_time") is None:
        return None
    return (record["started"] - record["scheduled_run_time"]).total_seconds()


def _seconds(value):
    return "-" if value is None else "%.3fs" % (value,)


def _time(value, tz):
    if value is None:
        return "-"
    if tz is not None:
        value = value.astimezone(tz)
    return value.replace(microsecond=0).isoformat(sep=" ")


def history_rows(records, tz=None):
    """
    Rows of L{HISTORY_HEADERS} for records from L{from_wire}, times in C{tz}
    (C{None}: in the zone they carry).
    """
    return [(_time(record["scheduled_run_time"], tz), record["outcome"],
             _seconds(lateness(record)), _seconds(record.get("duration")),
             record.get("scheduler") or "-", record.get("error") or "")
            for record in records]
