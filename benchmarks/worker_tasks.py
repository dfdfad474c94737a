"""The task of C{benchmarks/bench_workers.py}: C{twistd sched-worker --tasks benchmarks.worker_tasks}."""

from twistedsched.tasks import task


@task("bench.noop")
def noop(n):
    return n
