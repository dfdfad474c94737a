"""
JSON logs for C{twistd}: one JSON object per log event on standard output::

    twistd -n --logger twistedsched.jsonlog.observer sched ...

Each run of a job logs one event with the fields job_id, job_name,
run_time, scheduled, duration, outcome, error and scheduler_id (see
C{docs/monitoring.rst}).
"""

import sys

from twisted.logger import jsonFileLogObserver


def observer():
    """A log observer writing JSON text sequences to standard output (C{twistd --logger})."""
    return jsonFileLogObserver(sys.stdout)
