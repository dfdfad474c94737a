"""
The log of runs that went well, one event per burst.

While the scheduler runs what is due, the runs that went well are noted
here and logged together when the burst ends (or every L{BURST_LIMIT}
runs): one event that says how many runs there were and which failed,
with one line per run that went well.  A burst of one run logs the
classic per-run event.  Runs that failed are not deferred: the scheduler
logs each at once, in full, with its traceback; the burst names them.

One event through twistd's file observer costs more than a small job's
run (its text formatting, time stamp and write); a line more in an event
costs about a microsecond, and only when an observer formats it.
"""

from twisted.logger import LogLevel

#: Most runs logged in one event; a longer burst logs several.
BURST_LIMIT = 1000

#: The fields of each entry of a burst event's C{runs}.
RUN_FIELDS = ("job_id", "job_name", "target", "run_time", "scheduled", "duration")

#: The sentence of a run that went well (per-run event, and each line of a burst).
RUN_OK = "job {job_id!r} ({job_name}) ran {target} in {duration} s (due {scheduled})"

_BURST = "{run_count} runs went well:\n{run_lines()}"
_BURST_WITH_FAILURES = ("{run_count} runs, {failed_count} failed (each logged in full): "
                        "{failed_ids}; {ok_count} went well:\n{run_lines()}")


class _Lines:
    """The text of a burst's runs, one line each, made only when called."""

    def __init__(self, runs):
        self.runs = runs

    def __call__(self):
        # The text of a float is most of a line's cost; a burst's runs
        # mostly last the same few microseconds: each is written once.
        durations = {}
        lines = []
        for job_id, job_name, target, _, scheduled, duration in self.runs:
            text = durations.get(duration)
            if text is None:
                text = durations[duration] = str(duration)
            lines.append(f"job {job_id!r} ({job_name}) ran {target} in {text} s (due {scheduled})")
        return "\n".join(lines)

    def __repr__(self):
        return "<%d run lines>" % (len(self.runs),)


class RunLog:
    """
    The runs of one burst.

    @param emit: C{emit(level, format, fields)} logs one event.
    @param scheduler_id: a callable that names the scheduler in the events.
    """

    def __init__(self, emit, scheduler_id):
        self.emit = emit
        self.scheduler_id = scheduler_id
        self.runs = []
        self.failed = []

    def went_well(self, job_id, job_name, target, started, scheduled, duration):
        """
        Note a run that went well (C{target}: what ran; C{scheduled}: ISO
        text; C{duration}: rounded).
        """
        runs = self.runs
        runs.append((job_id, job_name, target, started, scheduled, duration))
        if len(runs) >= BURST_LIMIT:
            self.flush()

    def failed_run(self, job_id):
        """Note a run that failed (and was logged in full)."""
        self.failed.append(job_id)

    def flush(self):
        """Log the runs noted so far and forget them."""
        runs, failed = self.runs, self.failed
        self.runs, self.failed = [], []
        if not runs:
            return          # failures only: each is logged already
        scheduler_id = self.scheduler_id()
        if len(runs) == 1 and not failed:
            self.emit(LogLevel.info, RUN_OK, single_run_fields(runs[0], scheduler_id))
            return
        fields = dict(run_count=len(runs) + len(failed), ok_count=len(runs),
                      failed_count=len(failed), failed=failed,
                      failed_ids=", ".join(repr(job_id) for job_id in failed),
                      runs=runs, run_fields=RUN_FIELDS, run_lines=_Lines(runs),
                      scheduler_id=scheduler_id)
        self.emit(LogLevel.info, _BURST_WITH_FAILURES if failed else _BURST, fields)


def single_run_fields(run, scheduler_id):
    """The fields of the per-run event of a run that went well."""
    job_id, job_name, target, started, scheduled, duration = run
    return dict(job_id=job_id, job_name=job_name, target=target, run_time=started,
                scheduled=scheduled,
                duration=duration, outcome="ok", error=None, scheduler_id=scheduler_id)
