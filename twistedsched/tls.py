"""
TLS for clients of the control port, and the rule about where servers listen.

Servers use Twisted's C{ssl:} endpoint strings as they are.  Clients verify
the server's identity with C{optionsForClientTLS} (service_identity checks
the host name against the certificate).
"""

import ipaddress

from twisted.internet import ssl
from twisted.internet.endpoints import (
    SSL4ServerEndpoint, clientFromString, serverFromString, wrapClientTLS)
from twisted.python.filepath import FilePath

LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def client_tls_options(hostname, ca_file=None, cert_file=None, key_file=None):
    """
    Client TLS options that verify the server is C{hostname}, trusting
    C{ca_file} (PEM) or else the platform's roots, and presenting a client
    certificate when C{cert_file} (with C{key_file}, or a combined PEM) is given.
    """
    trust = None
    if ca_file:
        trust = ssl.Certificate.loadPEM(FilePath(ca_file).getContent())
    client_certificate = None
    if cert_file:
        pem = FilePath(cert_file).getContent()
        if key_file:
            pem += b"\n" + FilePath(key_file).getContent()
        client_certificate = ssl.PrivateCertificate.loadPEM(pem)
    return ssl.optionsForClientTLS(hostname, trustRoot=trust,
                                   clientCertificate=client_certificate)


def client_endpoint(reactor, description, tls=False, ca_file=None, cert_file=None,
                    key_file=None, hostname=None):
    """
    A client endpoint from a string (C{tcp:HOST:PORT}, C{unix:PATH}, ...),
    wrapped in verified TLS when C{tls} is true.  The name checked against the
    certificate is C{hostname}, else the host of the endpoint string.
    """
    endpoint = clientFromString(reactor, description)
    if not tls:
        return endpoint
    host = hostname or endpoint_host(description)
    if not host:
        raise ValueError("--tls needs a host name to verify: give tcp:HOST:PORT "
                         "or --server-name")
    return wrapClientTLS(client_tls_options(host, ca_file, cert_file, key_file), endpoint)


def split_endpoint(description):
    """Split an endpoint string at unescaped colons (C{\\:} stays a colon)."""
    parts, current, chars = [], [], iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def endpoint_host(description):
    """The host of a C{tcp:HOST:PORT} / C{tcp:host=HOST:port=PORT} client string."""
    kind, *parts = split_endpoint(description)
    if kind not in ("tcp", "tls", "ssl"):
        return None
    for part in parts:
        if part.startswith("host="):
            return part[len("host="):]
    positional = [p for p in parts if "=" not in p]
    return positional[0] if positional else None


def server_endpoint(reactor, description, client_ca_file=None):
    """
    A server endpoint from a string.  With C{client_ca_file}, the string
    must be C{ssl:} and clients must present a certificate signed by that CA.
    """
    if not client_ca_file:
        return serverFromString(reactor, description)
    kind, *parts = split_endpoint(description)
    if kind != "ssl":
        raise ValueError("client certificates need an ssl: endpoint, not %r" % (description,))
    options = {"interface": "", "privateKey": "server.pem"}
    positional = []
    for part in parts:
        key, sep, value = part.partition("=")
        if sep:
            options[key] = value
        else:
            positional.append(part)
    port = int(options.get("port") or positional[0])
    key_pem = FilePath(options["privateKey"]).getContent()
    cert_pem = FilePath(options.get("certKey") or options["privateKey"]).getContent()
    certificate = ssl.PrivateCertificate.loadPEM(cert_pem + b"\n" + key_pem)
    authority = ssl.Certificate.loadPEM(FilePath(client_ca_file).getContent())
    return SSL4ServerEndpoint(reactor, port, certificate.options(authority),
                              interface=options["interface"])


def listens_beyond_loopback(description):
    """
    True if a server endpoint string may accept connections from other
    machines: C{tcp:}/C{ssl:} on all interfaces or on a non-loopback address.
    C{unix:} sockets are local.
    """
    kind, *parts = split_endpoint(description)
    if kind == "unix":
        return False
    interface = ""
    for part in parts:
        if part.startswith("interface="):
            interface = part[len("interface="):]
    if kind not in ("tcp", "ssl", "tcp6"):
        return True   # unknown kinds: assume exposed
    return not is_loopback(interface)


def is_loopback(address):
    if address in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_safety(descriptions, auth, insecure):
    """
    Refuse (C{ValueError}) to listen beyond loopback without C{--auth},
    unless C{--insecure} was given.
    """
    if auth or insecure:
        return
    for description in descriptions:
        if description and listens_beyond_loopback(description):
            raise ValueError(
                "refusing to listen on %r: it accepts connections from other machines "
                "and no --auth is set. Add --auth (and an ssl: endpoint), bind to "
                "127.0.0.1, or pass --insecure if you really mean it." % (description,))


def describe_tls_failure(failure, hostname=None):
    """
    A sentence for a person from a failed TLS connection, or C{None} if the
    failure is not about TLS.
    """
    from OpenSSL import SSL
    from service_identity.exceptions import VerificationError
    error = getattr(failure, "value", failure)
    if isinstance(error, VerificationError):
        return ("TLS: the server's certificate is not valid for the name %r "
                "(use the name in its certificate, or --server-name)" % (hostname,))
    if isinstance(error, SSL.Error):
        text = str(error)
        if "certificate verify failed" in text:
            return ("TLS: the server's certificate is not signed by a trusted CA "
                    "(give the CA with --ca)")
        if "certificate required" in text or "alert" in text:
            return "TLS: the server refused the handshake (does it require a client " \
                   "certificate? give --cert and --key): %s" % (text,)
        return "TLS handshake failed: %s" % (text,)
    return None
