# A scheduler embedded in a Twisted application, printing its jobs as they fire.
#
#     twistd -ny tac/demo.tac
#
from datetime import timedelta

from twisted.application import service
from twisted.logger import Logger

from twistedsched import Scheduler
from twistedsched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

log = Logger(namespace="demo")
application = service.Application("twistedsched-demo")
sched = Scheduler(timezone="UTC")


def tick(name):
    log.info("tick from {name}", name=name)


async def slow_greeting():
    from twisted.internet import reactor
    from twisted.internet.task import deferLater
    await deferLater(reactor, 1.5, lambda: None)
    log.info("hello after 1.5 s of waiting, without blocking the reactor")


def on_event(event):
    outcome = "failed" if event.code == EVENT_JOB_ERROR else "ran"
    log.info("job {job_id} {outcome} (due {due})", job_id=event.job_id,
             outcome=outcome, due=event.scheduled_run_time.isoformat())


sched.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
sched.add_job(tick, "interval", seconds=2, args=("every-2s",), id="every-2s")
sched.add_job(slow_greeting, "interval", seconds=5, id="async-every-5s")
sched.add_job(tick, "date", run_date=sched.now() + timedelta(seconds=3),
              args=("once-after-3s",), id="once")
sched.print_jobs()
sched.setServiceParent(application)
