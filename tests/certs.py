"""
Throwaway certificates for TLS tests, made at test time with cryptography.
"""

import datetime as _dt
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject, issuer, public_key):
    now = _dt.datetime.now(_dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=2)))


class CA:
    """A certificate authority that signs server and client certificates."""

    def __init__(self, name="twistedsched test CA"):
        self.key = _key()
        self.name = _name(name)
        self.cert = (_builder(self.name, self.name, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, common_name, dns_names=(), ips=(), client=False):
        key = _key()
        sans = [x509.DNSName(n) for n in dns_names] + [
            x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (_builder(_name(common_name), self.name, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), False)
        return key, builder.sign(self.key, hashes.SHA256())


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_pki(directory):
    """
    Write a CA, a server certificate for localhost/127.0.0.1, a client
    certificate, and an unrelated CA into C{directory}; return their paths.
    """
    os.makedirs(directory, exist_ok=True)
    ca, other = CA(), CA("some other CA")
    server_key, server_cert = ca.issue("localhost", dns_names=["localhost"], ips=["127.0.0.1"])
    client_key, client_cert = ca.issue("operator", client=True)
    paths = {}

    def write(name, data):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        paths[name] = path
    write("ca.pem", pem_cert(ca.cert))
    write("other-ca.pem", pem_cert(other.cert))
    write("server.pem", pem_key(server_key) + pem_cert(server_cert))
    write("client.pem", pem_cert(client_cert))
    write("client.key", pem_key(client_key))
    os.makedirs(os.path.join(directory, "client-cas"), exist_ok=True)
    write(os.path.join("client-cas", "ca.pem"), pem_cert(ca.cert))
    paths["client-cas"] = os.path.join(directory, "client-cas")
    return paths
