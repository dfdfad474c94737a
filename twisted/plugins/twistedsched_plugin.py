# The `twistd sched` plugin: the daemon lives in twistedsched.daemon.
# No __init__.py in twisted/ or twisted/plugins/: this directory extends
# Twisted's plugin package (see docs/daemon.rst, "Packaging").
from twisted.application.service import ServiceMaker

twistedsched = ServiceMaker(
    "twistedsched daemon",
    "twistedsched.daemon",
    "A job scheduler with an AMP control port, an admin console and a web dashboard.",
    "sched",
)
