"""
Bearer tokens for the web API (C{Authorization: Bearer TOKEN}).

C{python -m twistedsched.web.tokens NAME} prints a new token (give it to
the API client) and the line to add to the tokens file (C{twistd sched
--web-tokens PATH}).  The file keeps C{NAME:sha256$HEX} lines: the SHA-256
of each token, never the token.  A token is 32 random bytes, so a fast hash
is enough (there is nothing to guess from a word list), and checking one
costs microseconds; the file is re-read when it changes, so that a line
removed revokes its token at once.
"""

import base64
import hashlib
import hmac
import os
import sys

from twistedsched.auth import password_file_entries

#: What every token starts with (so that a leaked one is easy to grep for).
TOKEN_PREFIX = "tsk_"
HASH_PREFIX = "sha256$"


def new_token():
    """A new random token (text)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")


def token_hash(token):
    """The stored form of C{token}."""
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_line(name, token):
    """The tokens-file line of C{token} for the client C{name}."""
    if not name or ":" in name or any(c.isspace() for c in name):
        raise ValueError("a token name is one word without ':', not %r" % (name,))
    return "%s:%s" % (name, token_hash(token))


class TokenFile:
    """
    The tokens in a file of C{NAME:sha256$HEX} lines (blank lines and
    C{#} comments are skipped).  L{check} answers the name of a token.
    """

    def __init__(self, path):
        if not os.path.isfile(path):
            raise ValueError("tokens file %r does not exist" % (path,))
        self.path = path
        self._stamp = None
        self._hashes = []

    def _load(self):
        stat = os.stat(self.path)
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self._stamp:
            return
        hashes = [(name, stored) for name, stored in password_file_entries(self.path)
                  if stored.startswith(HASH_PREFIX)]
        self._hashes, self._stamp = hashes, stamp

    def check(self, token):
        """The name of C{token} (text), or C{None} if the file does not hold it."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        try:
            self._load()
        except OSError:
            return None
        presented = token_hash(token)
        found = None
        for name, stored in self._hashes:      # compare with all: no early exit
            if hmac.compare_digest(stored, presented):
                found = name
        return found


def main(argv=None):
    """C{python -m twistedsched.web.tokens NAME}: print a token and its file line."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m twistedsched.web.tokens NAME\n")
        return 2
    token = new_token()
    try:
        line = token_line(argv[0], token)
    except ValueError as e:
        sys.stderr.write("%s\n" % (e,))
        return 2
    print("token (give it to the client; it is not kept): %s" % (token,))
    print("add this line to the --web-tokens file: %s" % (line,))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
