"""
The Celery side of C{benchmarks/bench_workers.py}: one no-op task, its
broker and result backend from C{BENCH_CELERY_BROKER} / C{BENCH_CELERY_BACKEND}.
"""

import os

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_BROKER"),
             backend=os.environ.get("BENCH_CELERY_BACKEND"))
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


@app.task(name="bench.noop")
def noop(n):
    return n
