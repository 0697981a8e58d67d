"""``labkit grade``: grade a folder of submissions with checks the learner cannot touch.

Only answer cells and the learner's own code cells are taken from a submission and spliced
into the canonical release; the grader serves the vulnerable targets and runs every check from
its own import, recording a verdict only while a canonical check cell runs; the notebook's
outputs are never read. See DESIGN "Grading" and INSTRUCTORS.md.
"""

from __future__ import annotations

__all__ = ["grade"]


def __getattr__(name: str) -> object:
    if name == "grade":
        from labkit.grading.grade import grade

        return grade
    raise AttributeError(name)
