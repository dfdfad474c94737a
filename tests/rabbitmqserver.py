"""
The RabbitMQ the tests use: the machine's own, on 127.0.0.1:5672 (guest),
in a virtual host made for this test run and deleted at exit
(C{rabbitmqctl add_vhost}/C{delete_vhost}).  Without a RabbitMQ answering
there the tests are skipped, unless C{CI=true}: then they fail.
"""

import atexit
import os
import shutil
import socket
import subprocess
import uuid

from twisted.trial.unittest import SkipTest

HOST, PORT = "127.0.0.1", 5672
RABBITMQCTL = shutil.which("rabbitmqctl") or (
    "/usr/sbin/rabbitmqctl" if os.path.exists("/usr/sbin/rabbitmqctl") else None)

_vhost = None


def _unavailable(reason):
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("CI=true and " + reason)
    raise SkipTest(reason)


def _ctl(*args):
    subprocess.run([RABBITMQCTL, "-q"] + list(args), check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_vhost():
    """The name of this test run's virtual host, made on first use."""
    global _vhost
    try:
        import pika  # noqa: F401
    except ImportError:
        _unavailable("pika is not installed (pip install -e '.[rabbitmq]')")
    if RABBITMQCTL is None:
        _unavailable("rabbitmqctl is not installed (apt-get install rabbitmq-server)")
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError:
        _unavailable("no RabbitMQ answers on %s:%d" % (HOST, PORT))
    if _vhost is None:
        name = "twistedsched-test-" + uuid.uuid4().hex[:8]
        _ctl("add_vhost", name)
        _ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        atexit.register(_ctl, "delete_vhost", name)
        _vhost = name
    return _vhost


def url():
    """An AMQP URL of the test virtual host."""
    return "amqp://guest:guest@%s:%d/%s" % (HOST, PORT, test_vhost())
