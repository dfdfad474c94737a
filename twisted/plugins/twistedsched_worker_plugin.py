# The `twistd sched-worker` plugin: the worker daemon lives in twistedsched.workerd.
# See twistedsched_plugin.py for why twisted/plugins has no __init__.py.
from twisted.application.service import ServiceMaker

twistedsched_worker = ServiceMaker(
    "twistedsched worker",
    "twistedsched.workerd",
    "A worker that runs the scheduler's runs from a broker's queues.",
    "sched-worker",
)
