"""binder/ (repo2docker) is complete and consistent with pyproject.toml, and installs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import redis
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _specs(requirements: list[str]) -> dict[str, str]:
    return {_norm(r.name): str(r.specifier) for r in map(Requirement, requirements)}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_runtime_is_python_312_or_newer() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert m and int(m.group(1)) >= 12, runtime


def test_requirements_install_the_repo_and_match_pyproject() -> None:
    lines = _lines(BINDER / "requirements.txt")
    assert "-e ." in lines, "repo2docker only installs the repo if requirements.txt says -e ."
    deps = _specs(_pyproject()["project"]["dependencies"])
    others = [line for line in lines if line != "-e ."]
    assert others, "expected jupyter-server-proxy (not in repo2docker's base image)"
    for line in others:
        req = Requirement(line)
        name = _norm(req.name)
        assert name in deps, f"{req.name} is not a dependency in pyproject.toml"
        assert str(req.specifier) == deps[name], f"{line!r} vs pyproject {deps[name]!r}"


def test_apt_installs_redis() -> None:
    assert "redis-server" in _lines(BINDER / "apt.txt")


def test_start_ends_with_exec_and_is_executable() -> None:
    start = BINDER / "start"
    assert os.access(start, os.X_OK)
    assert start.read_text().startswith("#!")
    assert _lines(start)[-1] == 'exec "$@"'


def test_postbuild_fetches_only_the_headless_shell_outside_home_and_tolerates_failure() -> None:
    post = BINDER / "postBuild"
    text = post.read_text()
    assert text.startswith("#!")
    assert os.access(post, os.X_OK)
    assert re.search(r"^set -[a-z]*e[a-z]*\b", text, re.M), "postBuild needs set -e"
    assert "playwright" in _specs(_pyproject()["project"]["dependencies"])
    assert "pip install" not in text  # Playwright comes with labkit ("-e .")
    assert "--with-deps" not in text  # needs root, which postBuild does not have
    browsers = re.search(r'^export PLAYWRIGHT_BROWSERS_PATH="(.+)"$', text, re.M)
    assert browsers and "HOME" not in browsers.group(1) and "~" not in browsers.group(1)
    install = re.search(
        r"^if ! python -m playwright install --only-shell chromium; then$", text, re.M
    )
    assert install, "a failed download must not fail the image build"


def test_start_points_labkit_at_the_headless_shell() -> None:
    text = (BINDER / "start").read_text()
    assert "labkit-browsers" in text and "export LABKIT_CHROMIUM" in text


@pytest.mark.slow
def test_binder_requirements_install_into_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    # As repo2docker does: from the repository root, so "-e ." is this checkout.
    pip = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-compile", "-r", "binder/requirements.txt"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    doctor = subprocess.run(
        [str(py), "-c", "import labkit.doctor as d, sys; sys.exit(d.run())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "Python" in doctor.stdout and "fastapi" in doctor.stdout
    assert "jupyter-server-proxy" in doctor.stdout


@pytest.mark.redis
def test_start_runs_redis_with_a_password_only_this_user_can_read(tmp_path: Path) -> None:
    """binder/start's Redis, as lab 11's private one: a random password from a config file
    (mode 0600, not on the command line), CONFIG disabled; LABKIT_REDIS_URL carries it."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not on PATH")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LABKIT_REDIS_PORT": str(port), "TMPDIR": str(tmp_path)}
    env.pop("LABKIT_REDIS_URL", None)
    started = subprocess.run(
        [str(BINDER / "start"), sys.executable, "-c",
         "import os; print(os.environ.get('LABKIT_REDIS_URL', ''))"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    folder = tmp_path / f"labkit-redis-{os.getuid()}-{port}"
    pid = int((folder / "redis.pid").read_text())
    try:
        url = started.stdout.strip()
        password = url.removeprefix("redis://:").split("@")[0]
        assert url == f"redis://:{password}@127.0.0.1:{port}/0" and len(password) >= 24
        assert (folder / "redis.conf").stat().st_mode & 0o077 == 0
        assert password not in Path(f"/proc/{pid}/cmdline").read_text()
        stranger = redis.Redis(port=port, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            stranger.flushall()
        stranger.close()
        learner = redis.Redis.from_url(url, socket_timeout=5)
        assert learner.ping()
        with pytest.raises(redis.ResponseError, match="unknown command"):
            learner.config_get("dir")
        learner.close()
        again = subprocess.run(  # a second start finds its own Redis and its password
            [str(BINDER / "start"), "printenv", "LABKIT_REDIS_URL"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert again.stdout.strip() == url
    finally:
        os.kill(pid, signal.SIGTERM)
