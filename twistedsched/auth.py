"""
Login for the control port and the console: C{twisted.cred} checkers from a
C{--auth} spec, hashed password files, and a throttle for failed logins.

C{--auth file:PATH} reads lines C{user:HASH} where HASH is what
C{python -m twistedsched.auth USER} prints (scrypt, salted).  Any other spec
goes to L{twisted.cred.strcred} (C{memory:user:pass}, C{unix}, ...).
"""

import base64
import getpass
import hashlib
import hmac
import os
import sys

from twisted.cred import error as cred_error
from twisted.cred import strcred
from twisted.cred.checkers import ICredentialsChecker, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

SCRYPT = dict(n=2 ** 14, r=8, p=1, dklen=32)
PREFIX = "scrypt"

log = Logger(namespace="twistedsched.auth")


def hash_password(password, salt=None):
    """A storable, salted scrypt hash of C{password} (text)."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, **SCRYPT)
    return "%s$%s$%s" % (PREFIX, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def verify_password(password, stored):
    """True if C{password} matches a hash from L{hash_password}."""
    try:
        prefix, salt, key = stored.split("$")
        if prefix != PREFIX:
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), **SCRYPT)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@implementer(ICredentialsChecker)
class HashedPasswordFile:
    """
    Checks user names and passwords against a file of C{user:HASH} lines,
    re-read at each login so that edits apply at once.  Hashing runs in a
    thread so that a login never stalls the reactor.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, path):
        self.path = path
        if not os.path.isfile(path):
            raise ValueError("password file %r does not exist" % (path,))

    def _lookup(self, username):
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                user, _, stored = line.partition(":")
                if user == username:
                    return stored
        return None

    def requestAvatarId(self, credentials):
        username = _text(credentials.username)
        password = _text(credentials.password)
        try:
            stored = self._lookup(username)
        except OSError as e:
            log.error("cannot read password file {path}: {e}", path=self.path, e=e)
            return defer.fail(cred_error.UnauthorizedLogin())
        if stored is None:
            # Hash anyway, so that unknown users take as long as known ones.
            stored = hash_password("", salt=b"0" * 16) + "x"
        d = threads.deferToThread(verify_password, password, stored)
        d.addCallback(lambda ok: username if ok else _unauthorized())
        return d


def _unauthorized():
    raise cred_error.UnauthorizedLogin()


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def make_checker(spec):
    """
    A credentials checker from an C{--auth} spec: C{file:PATH} (hashed, see
    L{hash_password}) or any L{strcred} spec such as C{memory:alice:secret}.
    Raises C{ValueError} with a clear message for a bad spec.
    """
    if spec.startswith("file:"):
        return HashedPasswordFile(spec[len("file:"):])
    try:
        checker = strcred.makeChecker(spec)
    except strcred.InvalidAuthType:
        raise ValueError("bad --auth %r: unknown kind %r (use file:PATH or "
                         "memory:USER:PASSWORD)" % (spec, spec.partition(":")[0])) from None
    except (strcred.InvalidAuthArgumentString, ValueError) as e:
        raise ValueError("bad --auth %r: %s" % (spec, e)) from None
    if isinstance(checker, InMemoryUsernamePasswordDatabaseDontUse):
        # strcred's memory checker keeps text; credentials arrive as bytes.
        checker.users = {_bytes(user): _bytes(password)
                         for user, password in checker.users.items()}
    return checker


class LoginThrottle:
    """
    Slows down guessing: each failed login from a host doubles the delay
    before its next answer (up to C{max_delay}); a success clears it.
    """

    def __init__(self, reactor, base_delay=0.5, max_delay=30.0, max_hosts=10000):
        self.reactor = reactor
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_hosts = max_hosts
        self._failures = {}

    def delay_for(self, host):
        failures = self._failures.get(host, 0)
        if not failures:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (failures - 1))

    def failed(self, host):
        if len(self._failures) >= self.max_hosts and host not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        self._failures[host] = self._failures.get(host, 0) + 1

    def succeeded(self, host):
        self._failures.pop(host, None)


class Authenticator:
    """
    Logs a peer in through a checker, logging failures with the peer's
    address and answering failures only after the throttle's delay.
    """

    def __init__(self, checker, reactor, throttle=None):
        self.checker = checker
        self.reactor = reactor
        self.throttle = throttle or LoginThrottle(reactor)

    def login(self, username, password, peer):
        """
        Fire with the user name, or fail with
        L{UnauthorizedLogin <twisted.cred.error.UnauthorizedLogin>} (after a delay).
        """
        host = getattr(peer, "host", None) or str(peer)
        credentials = UsernamePassword(_bytes(username), _bytes(password))
        d = defer.maybeDeferred(self.checker.requestAvatarId, credentials)

        def ok(avatar_id):
            self.throttle.succeeded(host)
            log.info("login of {user!r} from {peer}", user=username, peer=peer)
            return _text(avatar_id)

        def failed(failure):
            log.warn("failed login for {user!r} from {peer}", user=username, peer=peer)
            delay = self.throttle.delay_for(host)
            self.throttle.failed(host)
            slow = defer.Deferred()
            self.reactor.callLater(delay, slow.errback, cred_error.UnauthorizedLogin(
                "wrong user name or password"))
            return slow
        return d.addCallbacks(ok, failed)


def _bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def main(argv=None):
    """C{python -m twistedsched.auth USER}: print a password-file line."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m twistedsched.auth USER  (reads the password)\n")
        return 2
    password = getpass.getpass("password for %s: " % (argv[0],))
    print("%s:%s" % (argv[0], hash_password(password)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
