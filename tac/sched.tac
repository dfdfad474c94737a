# The twistedsched daemon as a .tac file: the same service tree as `twistd sched`.
#
#     twistd -ny tac/sched.tac
#     TWISTEDSCHED_ARGS="--timezone Europe/London --control tcp:7730" twistd -ny tac/sched.tac
#
# TWISTEDSCHED_ARGS holds `twistd sched` options (see `twistd sched --help`);
# without it the daemon offers the example tasks on the default loopback ports.
import os
import shlex

from twisted.application import service

from twistedsched import daemon

argv = shlex.split(os.environ.get("TWISTEDSCHED_ARGS", "--tasks twistedsched.example_tasks"))
options = daemon.Options()
options.parseOptions(argv)

application = service.Application("twistedsched")
daemon.makeService(options).setServiceParent(application)
