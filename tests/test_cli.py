"""The labkit command line, run as a real subprocess."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SERVING = re.compile(r"^Serving (\S+) \((secure|vulnerable)\) at (https?://127\.0\.0\.1:\d+)$")
ACCOUNT = re.compile(r"^account (\S+@\S+) (admin|editor|viewer) (\S+)$")


def labkit(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def serve(
    *args: str, facts: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str, dict[str, tuple[str, str]]]:
    """Start `labkit serve`, parse its banner: (process, url, {email: (role, password)});
    the lab's other facts ("ca /tmp/.../ca.pem", "http http://...") go into ``facts``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    match = SERVING.match(first)
    if not match:
        process.kill()
        raise AssertionError(f"unexpected banner {first!r}: {process.stderr.read()}")  # type: ignore[union-attr]
    accounts = {}
    while (line := process.stdout.readline().strip()) != "Press Ctrl-C to stop.":
        if found := ACCOUNT.match(line):
            accounts[found[1]] = (found[2], found[3])
        elif " " in line and facts is not None:
            name, value = line.split(" ", 1)
            facts[name] = value
    return process, match[3], accounts


def ssl_context(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


#: A clean stop is quick on an idle machine; a loaded one (load 20 on 2 cores) took over 10 s.
STOP_TIMEOUT_S = 60


def _signal_state(pid: int) -> str:
    """The process's blocked, ignored and caught signals (Linux), for a failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "(no /proc)"
    return " ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"labkit serve did not stop on SIGINT: {_signal_state(process.pid)}"
                             ) from exc  # fmt: skip
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("secure", [True, False])
def test_serve_passwords_prints_url_and_accounts_and_answers(secure: bool) -> None:
    process, url, accounts = serve("01-passwords", *(["--secure"] if secure else []))
    try:
        assert set(accounts) == {"alice@example.com", "bob@example.com", "carol@example.com"}
        assert accounts["alice@example.com"][0] == "admin"
        with httpx.Client(base_url=url, trust_env=False) as client:
            role, password = accounts["bob@example.com"]
            ok = client.post(
                "/api/auth/login", json={"email": "bob@example.com", "password": password}
            )
            assert ok.status_code == 200 and ok.json()["role"] == role
            unknown = client.post(
                "/api/auth/login", json={"email": "x@example.com", "password": "x"}
            )
            assert unknown.status_code == 401
            expected = "Invalid email or password" if secure else "No such user"
            assert unknown.json() == {"error": expected}
            weak = client.post(
                "/api/auth/register", json={"email": "n@example.com", "password": "short"}
            )
            assert weak.status_code == 400 and weak.json()["errors"]
            strong = client.post(
                "/api/auth/register",
                json={"email": "m@example.com", "password": "Correct horse battery staple 9!"},
            )
            assert strong.status_code == 201
    finally:
        assert stop(process) == 0


@pytest.mark.parametrize("secure", [True, False])
def test_serve_capstone_over_https_with_its_ca(secure: bool) -> None:
    facts: dict[str, str] = {}
    process, url, accounts = serve("13-capstone", *(["--secure"] if secure else []), facts=facts)
    try:
        assert url.startswith("https://")
        with httpx.Client(base_url=url, trust_env=False, verify=ssl_context(facts["ca"])) as c:
            _, password = accounts["carol@example.com"]
            login = c.post(
                "/api/auth/login", json={"email": "carol@example.com", "password": password}
            )
            assert login.status_code == 200
            # the reference keeps the refresh token out of the body; BrokenShop does not
            assert ("refreshToken" in login.json()) is not secure
        plain = httpx.get(f"{facts['http']}/api/status", trust_env=False)
        assert plain.status_code == (308 if secure else 200)  # HTTPS forced, or not
    finally:
        assert stop(process) == 0


def test_serve_stops_on_sigterm() -> None:
    process, _, _ = serve("00-welcome")
    process.terminate()
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0


@pytest.mark.parametrize("secure", [(), ("--secure",)], ids=["vulnerable", "secure"])
def test_serve_refuses_any_app_on_a_public_interface_without_consent(
    secure: tuple[str, ...],
) -> None:
    run = labkit("serve", "01-passwords", *secure, "--host", "0.0.0.0", timeout=30)
    assert run.returncode == 2
    assert "--i-know-this-is-vulnerable" in run.stderr


def test_serve_warns_when_consent_is_given() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "00-welcome", "--host", "0.0.0.0",
         "--i-know-this-is-vulnerable"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("Serving ")
    finally:
        stop(process)
    assert process.stderr is not None and "DELIBERATELY VULNERABLE" in process.stderr.read()


def test_serve_reports_a_taken_port_clearly() -> None:
    process, url, _ = serve("00-welcome")
    try:
        port = url.rsplit(":", 1)[1]
        run = labkit("serve", "00-welcome", "--port", port, timeout=30)
        assert run.returncode == 1 and "cannot listen" in run.stderr
    finally:
        stop(process)


def test_unknown_lab_is_a_clear_error() -> None:
    run = labkit("serve", "99-nope", timeout=30)
    assert run.returncode == 2 and "no lab '99-nope'" in run.stderr


def test_list_names_every_lab() -> None:
    run = labkit("list")
    assert run.returncode == 0
    assert "00-welcome" in run.stdout and "01-passwords" in run.stdout


def test_progress_export_import_reset(tmp_path: Path) -> None:
    env = {**os.environ, "LABKIT_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "progress.json").write_text(
        '{"version": 1, "labs": {"00-welcome": {"first-ticket": {"passed": true, "attempts": 1}}}}'
    )
    shown = labkit("progress", env=env)
    assert shown.returncode == 0 and "✓ first-ticket" in shown.stdout
    exported = tmp_path / "export.json"
    assert labkit("progress", "--export", str(exported), env=env).returncode == 0
    assert labkit("progress", "--reset", env=env).returncode == 0
    assert "✓" not in labkit("progress", env=env).stdout
    assert labkit("progress", "--import", str(exported), env=env).returncode == 0
    assert "✓ first-ticket" in labkit("progress", env=env).stdout
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    failed = labkit("progress", "--import", str(bad), env=env)
    assert failed.returncode == 1 and "cannot import" in failed.stderr


def test_progress_summary_writes_the_course_summary_page(tmp_path: Path) -> None:
    env = {**os.environ, "LABKIT_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "progress.json").write_text(
        '{"version": 1, "labs": {"00-welcome": {"first-ticket": {"passed": true, "attempts": 1}}}}'
    )
    page = tmp_path / "summary.html"
    run = labkit("progress", "--summary", str(page), "--name", "Ada Lovelace", env=env)
    assert run.returncode == 0 and "course summary written to" in run.stdout
    text = page.read_text("utf-8")
    assert "Ada Lovelace" in text and "00-welcome" in text and "13-capstone" in text


def test_build_check_fails_on_a_stale_notebook(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    run = labkit("build", "--check", "--out", str(notebooks))
    assert run.returncode == 1 and "stale" in run.stderr
    assert labkit("build", "--out", str(notebooks)).returncode == 0
    assert labkit("build", "--check", "--out", str(notebooks)).returncode == 0
    sources = sorted(f"{p.stem}.ipynb" for p in (REPO / "course").glob("[0-9][0-9]-*.py"))
    assert sorted(p.name for p in notebooks.iterdir()) == sources
