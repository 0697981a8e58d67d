"""The fix corpus (``tests/fixes/``) against the real checks, and the rules' bookkeeping.

* every wrong fix fails each of its checks, and the message names the rule it breaks;
* every correct alternative passes each of its checks;
* every rule of every fix check is broken by at least one wrong fix (a rule without a
  probe is a bug), every fix check has at least three wrong fixes and two right ones;
* every fix check with rules has its "Your fix must" list in the notebook.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.exercises.lab import Lab
from labkit.exercises.registry import LABS, get_lab
from labkit.exercises.rules import RULES_MARKER
from tests.fixes.corpus import FixCase, load_cases

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

CASES = load_cases()
COURSE = Path(__file__).resolve().parent.parent / "course"
MIN_WRONG, MIN_RIGHT = 3, 2


def _case_id(case: FixCase) -> str:
    verdict = f"breaks-{case.breaks}" if case.wrong else "right"
    return f"{case.lab}:{case.check}:{case.name}:{verdict}"


def _fix_checks() -> Iterator[tuple[str, str]]:
    for lab_id in LABS:
        for check_id, spec in get_lab(lab_id).checks.items():
            if spec.kind == "fix" and spec.rules:
                yield lab_id, check_id


@pytest.fixture(scope="session")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lab]]:
    """Each lab opened once per worker, on first use."""
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as stack:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("corpus-home")))

        class Opened(dict[str, Lab]):
            def __missing__(self, lab_id: str) -> Lab:
                lab = self[lab_id] = Lab(get_lab(lab_id))
                stack.callback(lab.close)
                return lab

        opened = Opened()
        yield opened


class SeedDependentVerdict(UserWarning):
    """A case's verdict changed with the probes' seed: a probe (or a right fix's treatment)
    depends on luck. Replay the seed named and make the probe deterministic where it counts."""


def _problem(case: FixCase, check_id: str, shown: str) -> str:
    """Why this verdict is wrong for ``case`` ('' when it is right)."""
    if len(shown) > 3000:
        return f"{check_id}: message of {len(shown):,} characters"
    if case.wrong and "PASSED" in shown.splitlines()[0]:
        return f"{case.name} ({case.doc}) passed {check_id}:\n{shown}"
    if case.wrong and f"[{case.breaks}]" not in shown:
        return f"{check_id} did not name [{case.breaks}]:\n{shown}"
    if not case.wrong and "FAILED" in shown.splitlines()[0]:
        return f"{case.name} ({case.doc}) failed {check_id}:\n{shown}"
    return ""


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fix_case(case: FixCase, labs: dict[str, Lab]) -> None:
    """Each check of the case concludes as it must. A verdict that only one seed gets wrong
    is retried once with another seed and reported as a SeedDependentVerdict warning (CI
    shows it; the seed replays it); a verdict wrong for both seeds fails."""
    lab = labs[case.lab]
    for check_id in case.checks:
        first = _problem(case, check_id, repr(lab.check(check_id, **case.fixes(lab))))
        if not first:
            continue
        second = _problem(case, check_id, repr(lab.check(check_id, **case.fixes(lab))))
        assert not second, f"{first}\n--- and again with another seed ---\n{second}"
        warnings.warn(SeedDependentVerdict(f"{_case_id(case)} / {check_id}: {first}"), stacklevel=1)


def test_every_case_names_a_real_check_and_rule() -> None:
    problems = []
    for case in CASES:
        checks = get_lab(case.lab).checks
        for check_id in case.checks:
            if check_id not in checks:
                problems.append(f"{_case_id(case)}: no check {check_id!r}")
        rules = {r.id for r in checks[case.check].rules} if case.check in checks else set()
        if case.wrong and case.breaks not in rules | {"no-crash"}:
            problems.append(f"{_case_id(case)}: {case.check} has no rule {case.breaks!r}")
        if not case.doc:
            problems.append(f"{_case_id(case)}: say in a docstring what the fix does")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("lab_id", "check_id"), list(_fix_checks()))
def test_every_rule_has_a_wrong_fix_and_the_check_has_right_ones(
    lab_id: str, check_id: str
) -> None:
    checks = get_lab(lab_id).checks
    spec = checks[check_id]
    mine = [c for c in CASES if c.lab == lab_id and check_id in c.checks]
    # a rule a verify merges from another check is probed there: a wrong fix breaking it
    # through either check counts
    declaring = {r.id: {c for c, s in checks.items() if r in s.rules} for r in spec.rules}
    lab_cases = [c for c in CASES if c.lab == lab_id and c.wrong]
    unprobed = [
        rule
        for rule, where in declaring.items()
        if not any(c.breaks == rule and where & set(c.checks) for c in lab_cases)
    ]
    assert not unprobed, f"{lab_id}/{check_id}: no wrong fix breaks {unprobed}"
    assert sum(c.wrong for c in mine) >= MIN_WRONG, f"{lab_id}/{check_id}: too few wrong fixes"
    assert sum(not c.wrong for c in mine) >= MIN_RIGHT, f"{lab_id}/{check_id}: too few right fixes"


@pytest.mark.parametrize(("lab_id", "check_id"), list(_fix_checks()))
def test_the_notebook_shows_the_rules(lab_id: str, check_id: str) -> None:
    source = (COURSE / f"{lab_id}.py").read_text(encoding="utf-8")
    shown = {i for m in RULES_MARKER.finditer(source) for i in m.group(1).split()}
    assert check_id in shown, f"course/{lab_id}.py has no <!-- labkit:rules {check_id} -->"
