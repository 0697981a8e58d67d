"""``python -m labkit.grading.remote``: grade one spliced notebook given on stdin.

What a Dask task runs (:func:`labkit.grading.cluster.grade_remote`): the same per-submission
worker process as a local run, in a fresh process with a scratch folder of its own. Reads
``{"lab", "notebook", "limits", "key"}`` as JSON and prints one line of JSON: the worker's
result (empty when there is none), why there is none, and the result signed with ``key``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

from labkit.grading.execute import Limits
from labkit.grading.local import run_job
from labkit.grading.worker import sign


def main() -> None:
    job = json.loads(sys.stdin.read())
    limits = Limits(**job["limits"])
    scratch = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    os.chmod(scratch, 0o700)
    try:
        # this process is fresh and single-threaded: fork the worker from it directly
        # (no forkserver to start and fill with imports once more)
        ctx = multiprocessing.get_context("fork")
        outcome = run_job(job["lab"], job["notebook"], limits, scratch, ctx)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = outcome.result.to_json() if outcome.result else ""
    signature = sign(job["key"].encode(), text)
    print(json.dumps({"result": text, "reason": outcome.reason, "signature": signature}))


if __name__ == "__main__":
    main()
