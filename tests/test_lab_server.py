"""A lab of several apps: each in its own sandbox (its own origin), told each other's URLs."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.lab_server import LabServer


def two_app_lab() -> tuple[FastAPI, LabState]:
    """An app whose companion must know the main app's URL, and vice versa."""
    state = LabState(secure=False)
    main = new_lab_app("test", secure=False, state=state)
    client = FastAPI()

    @main.get("/peer")
    def main_peer() -> dict[str, str]:
        return {"peer": state.urls["client"]}

    @client.get("/peer")
    def client_peer() -> dict[str, str]:
        return {"peer": state.urls["main"]}

    state.companions["client"] = client
    state.on_started.append(lambda urls: state.extras.update(client=urls["client"] + "/cb"))
    return main, state


def test_companions_get_their_own_origin_and_learn_each_others_urls() -> None:
    app, state = two_app_lab()
    server = LabServer(app, name="two").start()
    try:
        urls = server.urls
        assert set(urls) == {"main", "client"} and urls["main"] != urls["client"]
        with httpx.Client(trust_env=False) as http:
            assert http.get(urls["main"] + "/peer").json() == {"peer": urls["client"]}
            assert http.get(urls["client"] + "/peer").json() == {"peer": urls["main"]}
        assert state.extras["client"] == urls["client"] + "/cb"
    finally:
        server.close()
    assert not server.main.running and not server.companions["client"].running


def test_a_single_app_lab_has_only_main() -> None:
    state = LabState(secure=False)
    server = LabServer(new_lab_app("one", secure=False, state=state), name="one").start()
    try:
        assert list(server.urls) == ["main"] and state.urls == server.urls
    finally:
        server.close()


def self_signed(directory: Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 (EC P-256), as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(certfile), str(keyfile)


def test_an_app_listed_in_tls_is_served_over_https(tmp_path: Path) -> None:
    app, state = two_app_lab()
    certfile, keyfile = self_signed(tmp_path)
    state.tls["main"] = (certfile, keyfile)
    state.ca_file = certfile
    server = LabServer(app, name="tls").start()
    try:
        assert server.urls["main"].startswith("https://")
        assert server.urls["client"].startswith("http://")
        with httpx.Client(trust_env=False) as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get(server.urls["main"] + "/peer")
        trusted = ssl.create_default_context(cafile=certfile)
        with httpx.Client(trust_env=False, verify=trusted) as http:
            assert http.get(server.urls["main"] + "/peer").json() == {"peer": server.urls["client"]}
        # the sandbox's own client trusts the lab's CA (here the self-signed certificate)
        assert server.main.client.get("/peer").json() == {"peer": server.urls["client"]}
    finally:
        server.close()


def test_a_check_client_trusts_lab_cas_of_this_process_or_the_one_it_is_given() -> None:
    from labkit.exercises.check import Target
    from labkit.sandbox.server import Sandbox
    from labkit.sandbox.tls import LocalTLS

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"pong": True}

    tls = LocalTLS.create()
    pem = tls.ca_pem
    with Sandbox(app, name="tls-trust", **tls.sandbox_options()) as box:
        assert box.url.startswith("https://")
        with Target(box.url).client() as client:  # this process made the CA: trusted
            assert client.get("/ping").json() == {"pong": True}
        tls.remove()  # as if the app were served by another process (a graded kernel)
        with Target(box.url).client() as client, pytest.raises(httpx.ConnectError):
            client.get("/ping")
        with Target(box.url, ca_pem=pem).client() as client:  # the CA it was handed
            assert client.get("/ping").json() == {"pong": True}
    assert Target("http://127.0.0.1:9").verify() is True
