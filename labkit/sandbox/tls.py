"""A local certificate authority and a server certificate for HTTPS on loopback.

``LocalTLS.create()`` writes three PEM files into a fresh temp dir: the CA certificate
(what a client must trust), and the server's certificate and private key (what uvicorn
serves). Keys are EC P-256; the server certificate names ``127.0.0.1`` (an IP SAN) and
``localhost`` (a DNS SAN), as RFC 9525 and the CA/Browser Forum require: browsers and httpx
check the SAN, never the Common Name. Nothing here is trusted by the operating system:
a client has to opt in with ``ssl.create_default_context(cafile=tls.ca)``.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["LocalTLS", "client_context", "lab_trust"]

CA_LIFETIME = dt.timedelta(days=30)
CERT_LIFETIME = dt.timedelta(days=7)
#: Clocks differ a little; a certificate valid from "now" can look not-yet-valid elsewhere.
BACKDATE = dt.timedelta(minutes=5)

#: CA certificates (PEM) of the lab CAs alive in this process, by CA file path.
_LIVE_CAS: dict[str, str] = {}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "labkit workbook"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # a throwaway key in a 0700 temp dir, for loopback only
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name("labkit local CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    now: dt.datetime,
) -> x509.Certificate:
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


@dataclass(frozen=True)
class LocalTLS:
    """PEM paths of a fresh local CA and the loopback server certificate it signed."""

    directory: Path
    ca: str
    certfile: str
    keyfile: str

    @classmethod
    def create(cls, prefix: str = "labkit-tls-") -> LocalTLS:
        """Generate a CA and a server certificate; write them into a new temp dir."""
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, now)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _server_certificate(server_key, ca_key, ca_cert, now)
        directory = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700
        paths = {
            "ca.pem": ca_cert.public_bytes(serialization.Encoding.PEM),
            "cert.pem": server_cert.public_bytes(serialization.Encoding.PEM),
            "key.pem": _pem_key(server_key),
        }
        for filename, data in paths.items():
            (directory / filename).write_bytes(data)
        (directory / "key.pem").chmod(0o600)
        _LIVE_CAS[str(directory / "ca.pem")] = paths["ca.pem"].decode()
        return cls(
            directory,
            str(directory / "ca.pem"),
            str(directory / "cert.pem"),
            str(directory / "key.pem"),
        )

    @property
    def ca_pem(self) -> str:
        """The CA certificate in PEM (public: hand it to every client that should trust us)."""
        return Path(self.ca).read_text()

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and only it), hostname checks on."""
        return client_context(cafile=self.ca)

    def sandbox_options(self) -> dict[str, str]:
        """Keyword arguments for :class:`labkit.sandbox.server.Sandbox` to serve HTTPS."""
        return {"ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile}

    def remove(self) -> None:
        _LIVE_CAS.pop(self.ca, None)
        shutil.rmtree(self.directory, ignore_errors=True)


def client_context(*, cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """``ssl.create_default_context`` trusting exactly the given CA: verification and
    hostname checks stay on (never ``verify=False``).

    One context per CA, shared (an ``SSLContext`` serves any number of clients and threads;
    nobody here changes it): a battery that opens a fresh client per probe would otherwise
    build and load a context for each (tens of ms apiece on a busy machine).
    """
    if not (cafile or cadata):
        raise ValueError("give the CA certificate as cafile= or cadata=")
    return _context(cafile, cadata)


@functools.lru_cache(maxsize=64)
def _context(cafile: str | None, cadata: str | None) -> ssl.SSLContext:
    kwargs: dict[str, Any] = {"cafile": cafile} if cafile else {"cadata": cadata}
    return ssl.create_default_context(**kwargs)


def lab_trust() -> ssl.SSLContext | None:
    """A client context trusting every lab CA alive in this process, or None if there is none.

    A check talks to the sandboxes its own process serves (a learner's kernel, the grader),
    so this is the browser with the lab's CA installed — still verified, hostname checked.
    """
    if not _LIVE_CAS:
        return None
    return client_context(cadata="\n".join(_LIVE_CAS.values()))
