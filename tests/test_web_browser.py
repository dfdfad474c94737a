"""
The dashboard in a real browser: headless Chromium driven by Selenium
against a real C{twistd -n sched --web ...} daemon.  Skipped, with the
reason, only where Chromium or its driver is not installed (.ci/run
installs Debian's chromium and chromium-driver).

With TWISTEDSCHED_SCREENSHOTS=docs/_static in the environment, the test
saves screenshots of the main views there (docs/web.rst shows them);
otherwise in its temporary directory.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial import unittest

from tests.daemonprocess import TIMEOUT, DaemonTestCase, environment, free_port

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:             # pragma: no cover
    webdriver = None

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1100"]


def skip_reason():
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if not CHROMIUM or not DRIVER:
        return ("no Chromium here: install Debian's chromium and chromium-driver "
                "(.ci/run does) to run the browser tests")
    return None


class DashboardTests(DaemonTestCase):
    """Log in, watch a job added by twistedsched-ctl appear, drive it, remove it."""

    skip = skip_reason()
    timeout = 180

    def daemon_args(self):
        self.web_port = free_port()
        return ["--control", "tcp:%d:interface=127.0.0.1" % (self.port,), "--console", "none",
                "--web", "tcp:%d:interface=127.0.0.1" % (self.web_port,),
                "--auth", "memory:alice:secret"]

    def listening_port(self):
        return self.web_port

    def setUp(self):
        DaemonTestCase.setUp(self)
        self.base = "http://127.0.0.1:%d" % (self.web_port,)
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.addCleanup(shutil.rmtree, profile, True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + ["--user-data-dir=" + profile]:
            options.add_argument(flag)
        try:
            self.browser = webdriver.Chrome(service=Service(DRIVER), options=options)
        except WebDriverException as e:
            raise unittest.SkipTest("Chromium did not start: %s" % (e.msg,))
        self.addCleanup(self.browser.quit)
        self.browser.set_page_load_timeout(TIMEOUT)
        self.browser.set_script_timeout(TIMEOUT)

    # -- Helpers -------------------------------------------------------------

    def wait(self, condition, what):
        return WebDriverWait(self.browser, TIMEOUT).until(condition, "waited for " + what)

    def find(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def ctl(self, *args, ok=True):
        """Run twistedsched-ctl; its output (or error output, with C{ok=False})."""
        command = [sys.executable, "-m", "twistedsched.ctl", "--connect",
                   "tcp:127.0.0.1:%d" % (self.port,), "--user", "alice", "--password",
                   "secret"] + list(args)
        result = subprocess.run(command, env=environment(), capture_output=True,
                                timeout=TIMEOUT, text=True)
        self.assertEqual(result.returncode == 0, ok, result.stderr)
        return result.stdout if ok else result.stderr

    def log_in(self, password):
        self.browser.get(self.base + "/login")
        self.find("#username").send_keys("alice")
        self.find("#password").send_keys(password)
        self.find("#login-button").click()

    def confirm(self):
        self.wait(EC.visibility_of_element_located((By.ID, "confirm-ok")), "the confirmation")
        self.find("#confirm-ok").click()

    def field(self, name):
        return self.browser.execute_script(
            "const dd = document.querySelector(arguments[0]); return dd && dd.textContent;",
            '#detail dd[data-field="%s"]' % (name,))

    def screenshot(self, name):
        folder = os.environ.get("TWISTEDSCHED_SCREENSHOTS") or self.workdir
        os.makedirs(folder, exist_ok=True)
        self.browser.save_screenshot(os.path.join(os.path.abspath(folder), name))

    def fetch(self, method, path, headers):
        """Status of a fetch() the page makes (same origin, its cookie)."""
        return self.browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {method: arguments[1], headers: arguments[2],"
            " credentials: 'same-origin'}).then(r => done(r.status), e => done(String(e)));",
            path, method, headers)

    # -- The test ------------------------------------------------------------

    def test_dashboard(self):
        # A wrong password is refused: the form comes back with a message.
        self.log_in("wrong")
        self.wait(EC.text_to_be_present_in_element((By.ID, "login-error"),
                                                   "Wrong user name or password"), "refusal")
        self.assertIn("/login", self.browser.current_url)
        self.screenshot("web-login.png")

        self.log_in("secret")
        self.wait(lambda b: b.execute_script("return document.body.dataset.ready") == "1",
                  "the dashboard")
        self.wait(EC.text_to_be_present_in_element((By.ID, "live"), "live"), "live badge")
        self.wait(lambda b: "off" not in self.find("#live").get_attribute("class"),
                  "the event stream")

        # A job added through twistedsched-ctl appears without reloading.
        self.ctl("add", "echo", "--interval", "1h", "--id", "web-job", "--name", "from ctl",
                 "--args", '["hello"]')
        self.ctl("add", "fail", "--interval", "2h", "--id", "failing-job")
        row = '#jobs tr[data-id="web-job"]'
        self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, row)), "the new job")
        self.ctl("run", "failing-job")
        self.wait(EC.presence_of_element_located(
            (By.CSS_SELECTOR, '#jobs tr.failed[data-id="failing-job"]')), "the failure")
        self.screenshot("web-jobs.png")

        # Pause it (with confirmation), resume it, run it now.
        self.find(row).click()
        self.wait(EC.text_to_be_present_in_element((By.ID, "detail-id"), "web-job"), "detail")
        self.find("#detail-pause").click()
        self.confirm()
        self.wait(lambda b: self.field("state") == "paused", "the job paused")
        self.assertEqual(self.field("next run (scheduler)"), "paused")
        self.find("#detail-resume").click()
        self.confirm()
        self.wait(lambda b: self.field("state") == "scheduled", "the job resumed")
        self.find("#detail-run").click()
        self.confirm()
        self.wait(EC.presence_of_element_located(
            (By.CSS_SELECTOR, '#history-chart rect.run[data-outcome="ok"]')), "the run's bar")
        self.browser.execute_script("document.getElementById('chart').scrollIntoView(false)")
        self.screenshot("web-detail.png")

        # A state-changing request without the CSRF token is refused.
        status = self.fetch("POST", "/api/scheduler/pause", {"Content-Type": "application/json"})
        self.assertEqual(status, 403)
        self.assertEqual(self.find("#scheduler-state").text, "running")

        # Remove it (with confirmation): it leaves the table.
        self.find("#detail-remove").click()
        self.confirm()
        self.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, row)), "removal")
        self.assertIn("web-job", self.ctl("show", "web-job", ok=False))
