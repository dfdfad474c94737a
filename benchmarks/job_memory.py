"""
Memory per job in the daemon's memory store, for choosing --max-jobs and
--max-stored-bytes (docs/security.rst, "Limits").

    .venv/bin/python -m benchmarks.job_memory [--jobs 20000]

Each case runs in a fresh process: a Scheduler on a Clock with the memory
store, jobs added through twistedsched.remote.add_remote_job (the path of
the control port and the console), each job run 10 times (a full run
history of 10 records); the RSS growth divided by the number of jobs, and
what twistedsched.job.argument_bytes counts for the job's arguments.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "interval, no arguments": ("interval", "1h", "[]"),
    "cron, no arguments": ("cron", "0 4 * * *", "[]"),
    "interval, a 32 KiB string": ("interval", "1h", json.dumps(["x" * 32000])),
    "interval, 10,000 empty dicts": ("interval", "1h", json.dumps([[{}] * 10000])),
}


def measure(case, jobs):
    """In this process: RSS bytes per job, and argument bytes per job."""
    sys.path.insert(0, ROOT)
    from twisted.internet.task import Clock
    from twistedsched import Scheduler
    from twistedsched.job import argument_bytes
    from twistedsched.remote import add_remote_job
    kind, spec, args = CASES[case]
    clock = Clock()
    clock.advance(1.7e9)
    sched = Scheduler(reactor=clock, timezone="UTC", history_size=10, log_runs=False)
    sched.task("noop")(lambda *args: None)
    sched.startService()
    before = _rss()
    counted = 0
    for n in range(jobs):
        d = add_remote_job(sched, "noop", (kind, spec), args=args, id="job-%08d" % (n,),
                           name="a job named %d" % (n,))
        counted += argument_bytes(d.result.args, d.result.kwargs)
    for _ in range(10):
        clock.advance(86400)
    return (_rss() - before) / jobs, counted / jobs


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(measure(args.case, args.jobs)))
        return
    print("Python %s on %s; %d interval jobs without arguments, %d of the other "
          "cases; 10 runs each (history of 10)" % (
              platform.python_version(), platform.machine(), args.jobs,
              max(1, args.jobs // 20)))
    print("%-32s %16s %18s" % ("case", "RSS bytes/job", "argument_bytes/job"))
    for case in CASES:
        # Cases that take much memory per job run with fewer jobs.
        jobs = args.jobs if case == "interval, no arguments" else max(1, args.jobs // 20)
        out = subprocess.run([sys.executable, "-m", "benchmarks.job_memory", "--jobs",
                              str(jobs), "--case", case], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        rss, counted = json.loads(out)
        print("%-32s %16.0f %18.0f" % (case, rss, counted))


if __name__ == "__main__":
    main()
