"""
twistedsched: a job scheduler for Twisted::

    from twistedsched import Scheduler
    sched = Scheduler(timezone="UTC")
    sched.add_job(respawn, "interval", minutes=5, id="respawn", args=("forest",))
    sched.setServiceParent(application)
"""

__version__ = "0.1.0"

from twistedsched.errors import (  # noqa: E402
    BadArgumentError, BadReferenceError, ConflictingIdError, JobLookupError,
    JobStoreUnavailable, SchedulerError, TriggerError, UnknownAliasError, UnknownTaskError)
from twistedsched.job import Job  # noqa: E402
from twistedsched.scheduler import Scheduler  # noqa: E402
from twistedsched.tasks import TaskRegistry, task  # noqa: E402

__all__ = [
    "Scheduler", "Job", "TaskRegistry", "task", "SchedulerError", "JobLookupError",
    "ConflictingIdError", "TriggerError", "BadReferenceError", "UnknownTaskError",
    "BadArgumentError", "UnknownAliasError", "JobStoreUnavailable", "__version__",
]
