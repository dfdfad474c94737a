"""
A declarative set-up for C{twistd sched}: C{--config FILE}, a TOML file an
operator keeps in version control::

    tasks = ["mygame.jobs"]          # --tasks modules
    timezone = "Europe/Paris"        # any daemon option, by its long name
    max-instances = 2
    retries = 1

    [calendars]
    holidays = "/etc/twistedsched/holidays.txt"

    [[jobs]]                         # ensured at start, by id
    id = "nightly"
    task = "backup"
    cron = "30 4 * * *"              # or interval = "1h", at = "...", trigger = {...}
    args = ["db"]
    options = { retries = 3, max_runs = 100 }

At start, each job is added if missing and replaced if it differs from the
file (task, name, arguments, trigger or a listed option); jobs not in the
file are left alone.
"""

from twisted.logger import Logger

from twistedsched import remote
from twistedsched.errors import BadArgumentError, SchedulerError

try:
    import tomllib
except ImportError:             # Python < 3.11
    tomllib = None

log = Logger()

#: The keys of a job table.
JOB_KEYS = ("id", "task", "name", "args", "kwargs", "cron", "interval", "at", "trigger",
            "options", "paused")
#: The most jobs one file may hold.
MAX_JOBS = 10000


def read_config(path):
    """The TOML document at C{path}, as a dict; L{BadArgumentError} if unreadable."""
    if tomllib is None:
        raise BadArgumentError("--config needs Python 3.11 or later (tomllib)")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise BadArgumentError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except tomllib.TOMLDecodeError as e:
        raise BadArgumentError("%s is not valid TOML: %s" % (path, e)) from None


def check_jobs(jobs):
    """The C{[[jobs]]} tables, checked for shape (their contents are checked at start)."""
    if not isinstance(jobs, list) or len(jobs) > MAX_JOBS:
        raise BadArgumentError("jobs: expected at most %d [[jobs]] tables" % (MAX_JOBS,))
    seen = set()
    for number, job in enumerate(jobs, 1):
        where = "[[jobs]] #%d" % (number,)
        if not isinstance(job, dict):
            raise BadArgumentError("%s: expected a table" % (where,))
        unknown = sorted(set(job) - set(JOB_KEYS))
        if unknown:
            raise BadArgumentError("%s: unknown key %s (known: %s)" % (
                where, ", ".join(unknown), ", ".join(JOB_KEYS)))
        if not isinstance(job.get("id"), str) or not job["id"]:
            raise BadArgumentError("%s: needs an id" % (where,))
        if job["id"] in seen:
            raise BadArgumentError("%s: id %r given twice" % (where, job["id"]))
        seen.add(job["id"])
        if not isinstance(job.get("task"), str):
            raise BadArgumentError("job %r: needs a task" % (job["id"],))
        kinds = [kind for kind in ("cron", "interval", "at", "trigger") if kind in job]
        if len(kinds) != 1:
            raise BadArgumentError("job %r: give one of cron, interval, at, trigger" % (
                job["id"],))
    return jobs


def _trigger_of(job):
    for kind in ("cron", "interval", "at"):
        if kind in job:
            return (kind, job[kind])
    return ("json", job["trigger"])


def differs(existing, job):
    """
    Whether a stored job differs from its C{[[jobs]]} table: task, name,
    arguments, trigger (as text: an interval's start is not compared) or a
    listed option.
    """
    trigger = remote.build_remote_trigger(existing._scheduler, *_trigger_of(job))
    if (existing.task, str(existing._trigger)) != (job["task"], str(trigger)):
        return True
    if job.get("name") is not None and existing.name != job["name"]:
        return True
    if list(existing.args) != list(job.get("args") or []) \
            or existing.kwargs != (job.get("kwargs") or {}):
        return True
    options = job.get("options") or {}
    return any(getattr(existing, key, None) != value for key, value in options.items())


async def ensure_job(scheduler, job):
    """Add C{job} (a C{[[jobs]]} table) if missing, replace it if it differs; say which."""
    options = dict(job.get("options") or {})
    if job.get("paused"):
        options["paused"] = True
    existing = await scheduler.get_job(job["id"])
    if existing is not None and not differs(existing, job):
        return "unchanged"
    options["replace_existing"] = existing is not None
    await remote.add_remote_job(scheduler, job["task"], _trigger_of(job), args=job.get("args"),
                                kwargs=job.get("kwargs"), id=job["id"], name=job.get("name"),
                                options=options)
    return "added" if existing is None else "updated"


async def ensure_jobs(scheduler, jobs):
    """Ensure every job of the file; a job that fails is logged, the others go on."""
    for job in jobs:
        try:
            what = await ensure_job(scheduler, job)
        except SchedulerError as e:
            log.error("--config: job {job_id!r} not ensured: {error}", job_id=job["id"],
                      error=e)
        except Exception:
            log.failure("--config: job {job_id!r} not ensured", job_id=job["id"])
        else:
            log.info("--config: job {job_id!r} {what}", job_id=job["id"], what=what)
