"""``labkit grade --cluster``: a real ``dask scheduler`` and two ``dask worker`` processes on
loopback grade the same submissions into the same gradebook as a local run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from labkit.course.build import build_notebook
from labkit.grading import cluster as cluster_module
from labkit.grading.cluster import ClusterUnavailable, local_cluster, run_on_cluster
from tests.labs import free_port

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with local_cluster(workers=2, logs=tmp_path) as address:
        yield address


def _grade(subs: Path, book: Path, *extra: str) -> tuple[str, str]:
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(book), "--jobs", "2",
         "--cell-timeout", "60", "--timeout", "240", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return book.read_text(encoding="utf-8"), run.stderr


def test_dask_grading_equals_local_grading(tmp_path: Path, cluster: str) -> None:
    subs = tmp_path / "subs"
    for student, solved in (("ann", True), ("bob", False)):
        (subs / student).mkdir(parents=True)
        nb = build_notebook(COURSE / "00-welcome.py", solved=solved)
        nbformat.write(nb, subs / student / "00-welcome.ipynb")
    started = time.monotonic()
    local, _ = _grade(subs, tmp_path / "local.csv")
    local_s = time.monotonic() - started
    started = time.monotonic()
    remote, log = _grade(subs, tmp_path / "dask.csv", "--cluster", cluster)
    print(f"local {local_s:.1f} s, Dask {time.monotonic() - started:.1f} s")
    assert remote == local
    assert "ann/00-welcome: 2/2 passed" in log and "bob/00-welcome: 0/2 passed" in log
    assert local.count(",passed,") == 2 and local.count(",failed,") == 2


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)  # the message, not the 30 s wait
    with pytest.raises(ClusterUnavailable, match="cannot reach the Dask scheduler"):
        run_on_cluster(f"tcp://127.0.0.1:{free_port()}")
