"""`labkit doctor`: findings, report, exit status."""

from __future__ import annotations

import socket
import sys
from importlib import metadata

import pytest

from labkit import doctor
from labkit.doctor import Finding


def _by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_collect_reports_python_and_required_packages_ok() -> None:
    found = _by_name(doctor.collect())
    assert found["Python"].ok
    assert found["Python"].detail.startswith(f"{sys.version_info[0]}.{sys.version_info[1]}.")
    assert found["fastapi"].ok
    assert found["fastapi"].detail == metadata.version("fastapi")
    for name in doctor.REQUIRED_PACKAGES:
        assert name in found, name
    for name in ("playwright", "jupyter-server-proxy", "Chromium", "redis-server"):
        assert name in found, name
    for f in found.values():
        assert (f.disables == "") == f.ok, f


def test_format_report_mentions_every_finding() -> None:
    findings = doctor.collect()
    report = doctor.format_report(findings)
    for f in findings:
        assert f.name in report
        assert f.detail in report
    assert "Python" in report and "fastapi" in report


def test_unreachable_redis_url_is_reported_with_what_it_disables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _closed_port()
    monkeypatch.setenv("LABKIT_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    finding = _by_name(doctor.collect())["LABKIT_REDIS_URL"]
    assert not finding.ok
    assert f"127.0.0.1:{port}" in finding.detail
    assert "Redis" in finding.disables
    report = doctor.format_report([finding])
    assert "MISSING" in report and "disables" in report


def test_reachable_redis_url_is_ok(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("LABKIT_REDIS_URL", redis_url)
    finding = _by_name(doctor.collect())["LABKIT_REDIS_URL"]
    assert finding.ok, finding


def test_malformed_redis_url_is_not_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_REDIS_URL", "http://127.0.0.1:6379")
    assert not _by_name(doctor.collect())["LABKIT_REDIS_URL"].ok


def test_missing_redis_server_and_chromium_say_what_they_disable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "labkit.browser", None)  # import fails -> which()
    found = _by_name(doctor.collect())
    assert not found["redis-server"].ok and "SQLite" in found["redis-server"].disables
    assert not found["Chromium"].ok and "simulation" in found["Chromium"].disables


def test_run_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert doctor.run() == 0
    assert "fastapi" in capsys.readouterr().out

    real_version = metadata.version

    def version(name: str) -> str:
        if name == "fastapi":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(doctor.metadata, "version", version)
    assert doctor.run() == 1
    out = capsys.readouterr().out
    assert "MISSING  fastapi" in out and "every lab" in out


def test_optional_gaps_do_not_fail_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version

    def version(name: str) -> str:
        if name in doctor.OPTIONAL_PACKAGES:
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(doctor.metadata, "version", version)
    monkeypatch.setenv("LABKIT_REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    assert doctor.run() == 0


def test_too_old_package_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_required_specs", lambda: {"fastapi": ">=999"})
    finding = _by_name(doctor.collect())["fastapi"]
    assert not finding.ok and ">=999" in finding.detail


def test_the_trusted_proxy_address_is_checked_by_binding_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = _by_name(doctor.collect())["loopback 127.0.0.2"]
    if sys.platform.startswith("linux"):
        assert found.ok  # all of 127/8 is local on Linux
    monkeypatch.setattr(doctor, "PROXY_ADDRESS", "192.0.2.1")  # TEST-NET-1: never local
    missing = doctor._proxy_address()
    assert not missing.ok and "skipped" in missing.disables and "lo0 alias" in missing.disables
    assert not doctor.is_required(missing.name)
