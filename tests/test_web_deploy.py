"""
docs/deploy.rst: its Kubernetes manifests parse, their probes point at the
web port's /healthz and /readyz, the daemon's arguments parse with
C{twistd sched}'s options, and the image runs C{twistd sched}.
"""

import os
import re
import textwrap

import yaml
from twisted.trial import unittest

from twistedsched import daemon
from twistedsched.auth import hash_password
from twistedsched.tls import split_endpoint

from tests.test_docs import read


def code_blocks(text, language):
    """The bodies of the C{.. code-block:: LANGUAGE} directives of a reST text."""
    blocks = []
    pattern = re.compile(r"^\.\. code-block:: %s\n\n((?:   .*\n|\n)+)" % (language,), re.M)
    for match in pattern.finditer(text):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


class DeployPageTests(unittest.TestCase):

    def setUp(self):
        self.page = read("docs", "deploy.rst")
        (block,) = code_blocks(self.page, "yaml")
        self.documents = list(yaml.safe_load_all(block))
        (self.deployment,) = [d for d in self.documents if d["kind"] == "Deployment"]
        (self.container,) = self.deployment["spec"]["template"]["spec"]["containers"]

    def web_endpoint(self):
        (web,) = [a for a in self.container["args"] if a.startswith("--web=")]
        return web[len("--web="):]

    def test_probes(self):
        kind, port = split_endpoint(self.web_endpoint())[:2]
        live = self.container["livenessProbe"]["httpGet"]
        ready = self.container["readinessProbe"]["httpGet"]
        self.assertEqual((live["path"], ready["path"]), ("/healthz", "/readyz"))
        self.assertEqual((live["port"], ready["port"]), (int(port), int(port)))
        scheme = "HTTPS" if kind == "ssl" else "HTTP"
        self.assertEqual((live["scheme"], ready["scheme"]), (scheme, scheme))
        # /readyz waits up to 5 s for the stores: the probe waits longer.
        self.assertGreater(self.container["readinessProbe"]["timeoutSeconds"], 5)

    def test_ports_and_service(self):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports["web"], int(split_endpoint(self.web_endpoint())[1]))
        (service,) = [d for d in self.documents if d["kind"] == "Service"]
        self.assertEqual(service["spec"]["selector"],
                         self.deployment["spec"]["selector"]["matchLabels"])
        self.assertEqual({p["targetPort"] for p in service["spec"]["ports"]}, set(ports))

    def test_arguments_parse(self):
        """The args parse with twistd sched's options (files made where they point)."""
        root = self.mktemp()
        args = [arg.replace("/etc/twistedsched", root) for arg in self.container["args"]]
        os.makedirs(os.path.join(root, "auth"))
        with open(os.path.join(root, "auth", "passwords"), "w") as f:
            f.write("alice:%s\n" % (hash_password("secret"),))
        args = [arg for arg in args if not arg.startswith("--tasks=")]   # not importable here
        options = daemon.Options()
        options.parseOptions(args)
        self.assertTrue(options["web"].startswith("ssl:"))
        self.assertEqual(options["store"], "redis://redis:6379/0")
        mounts = {m["mountPath"] for m in self.container["volumeMounts"]}
        self.assertEqual(mounts, {"/etc/twistedsched/auth", "/etc/twistedsched/tls"})

    def test_image(self):
        (dockerfile,) = code_blocks(self.page, "dockerfile")
        self.assertIn('ENTRYPOINT ["twistd", "--nodaemon", "--pidfile=", "--logfile=-", '
                      '"sched"]', dockerfile)
        self.assertRegex(dockerfile, r"(?m)^USER \d+")
        self.assertIn("EXPOSE 7730 7732", dockerfile)

    def test_blocks_found(self):
        self.assertEqual(len(code_blocks(".. code-block:: yaml\n\n   a: 1\n\ntext\n", "yaml")), 1)
