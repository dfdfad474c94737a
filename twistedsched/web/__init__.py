"""
The web port of C{twistd sched --web}: an HTTP JSON API mirroring the
control port, a Server-Sent Events stream, health probes and a dashboard
page whose assets ship in this package.

  - L{twistedsched.web.api}: the JSON API (the same commands, fields and
    error codes as the AMP control port).
  - L{twistedsched.web.stream}: the event stream.
  - L{twistedsched.web.security}: logins (form and session cookie, HTTP
    Basic, bearer tokens), CSRF and the security headers.
  - L{twistedsched.web.tokens}: bearer tokens and their file.
  - L{twistedsched.web.openapi}: the OpenAPI document of the API.
  - L{twistedsched.web.site}: the site that puts them together.
"""
