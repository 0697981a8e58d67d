"""Rules are data: rule ids and texts, their rendering, tagged findings, concise messages,
seeded probe inputs, and a patched app's crash failing a fix check."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI

from labkit.exercises.check import (
    EXPECTED_CRASH,
    MAX_MESSAGE_CHARS,
    CheckContext,
    Findings,
    Target,
    Verdict,
    concise,
)
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules, render_rules
from labkit.exercises.runner import run_check
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.fixes import FixSlot, plug_fixes
from tests.labs import served

SALTED = Rule("salted", "Hash the same password differently every time.")
SLOW = Rule("slow-hash", "Use argon2id with m >= 19456 KiB and t >= 2.")


@pytest.mark.parametrize("bad", ["Salted", "two words", "trailing-", "", "a_b"])
def test_rule_ids_are_kebab_case(bad: str) -> None:
    with pytest.raises(ValueError, match="kebab-case"):
        Rule(bad, "text")


def test_a_rule_needs_text() -> None:
    with pytest.raises(ValueError, match="no text"):
        Rule("salted", "  ")


def test_render_lists_every_rule_with_its_id() -> None:
    text = render_rules((SALTED, SLOW))
    assert text.splitlines() == [
        "**Your fix must:**",
        "",
        f"- `salted` — {SALTED.text}",
        f"- `slow-hash` — {SLOW.text}",
    ]


def test_merge_keeps_each_rule_once_and_refuses_two_texts_for_one_id() -> None:
    assert merge_rules((SALTED, SLOW), (SLOW,)) == (SALTED, SLOW)
    with pytest.raises(ValueError, match="salted"):
        merge_rules((SALTED,), (Rule("salted", "something else"),))


def test_findings_tag_problems_with_the_rule_being_probed() -> None:
    findings = Findings()
    findings.expect(False, "same hash twice", rule="salted")
    with findings.rule("slow-hash"):
        findings.fail("md5")
        findings.expect(False, "own rule wins", rule="salted")
    findings.fail("untagged")
    assert findings.problems == [
        "[salted] same hash twice",
        "[slow-hash] md5",
        "[salted] own rule wins",
        "untagged",
    ]


def test_messages_are_deduplicated_and_capped() -> None:
    lines = ["[salted] same hash"] * 5 + ["x" * 200_000] + [f"problem {i}" for i in range(500)]
    short = concise(lines)
    assert short[0] == "[salted] same hash" and short.count("[salted] same hash") == 1
    assert "more characters" in short[1] and len(short[1]) < 500
    assert short[-1].startswith("... and ")
    assert sum(map(len, short)) <= MAX_MESSAGE_CHARS + 500


def test_the_context_rng_replays_with_the_same_seed() -> None:
    target = Target("http://127.0.0.1:1")
    draws = [
        [CheckContext("lab", "c", target, seed=seed).rng.random() for _ in range(1)]
        for seed in (7, 7, 8)
    ]
    assert draws[0] == draws[1] != draws[2]
    assert not CheckContext("lab", "c", target, seed=7).seeded


# -- a tiny lab: one fix slot, one fix check with one rule -----------------------------------
SLOT = FixSlot("is_even", bool, "is_even(n) -> bool")
RULES = (Rule("even", "Say True for even numbers and False for odd ones."),)
LAB = LabDefinition("99-rules-test", "rules test", "unused")


def _app(**fixes: Any) -> FastAPI:
    chosen = plug_fixes({"is_even": SLOT}, {"is_even": lambda n: True}, fixes)
    app = new_lab_app("rules-test", secure=False, state=LabState(secure=False))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the app's own bug, on purpose")

    @app.get("/even/{n}")
    def even(n: int) -> dict[str, bool]:
        return {"even": chosen["is_even"](n)}

    return app


@LAB.check("parity", title="parity", kind="fix", fixes=("is_even",), rules=RULES)
def parity(ctx: CheckContext) -> Verdict:
    """Odd numbers must not be called even; even ones must. (A 500 for an odd number is no
    "even" answer, so this check alone would let a crash through: the runner must not.)"""
    findings = Findings()
    halves = [ctx.rng.randrange(10**6) for _ in range(3)]
    with ctx.require_patched().client() as client, findings.rule("even"):
        for n in [m for h in halves for m in (2 * h, 2 * h + 1)]:
            said = client.get(f"/even/{n}").json().get("even")
            wrong = said is not True if n % 2 == 0 else said is True
            findings.expect(not wrong, f"{n} judged wrongly", f"{n} ok")
    return findings.verdict("parity right", "parity wrong")


def _run(fix: Any, seed: int | None = None) -> Any:
    with served(_app(is_even=fix), "rules-test") as target:
        return run_check(LAB, "parity", target_url=target.url, patched_url=target.url, seed=seed)


def test_a_right_fix_passes() -> None:
    result = _run(lambda n: n % 2 == 0)
    assert result.passed, repr(result)


def test_a_wrong_fix_names_the_rule_and_the_seed_that_replays_it() -> None:
    result = _run(lambda n: n < 500_000, seed=1234)
    assert not result.passed
    assert "[even]" in repr(result)
    assert "seed=1234" in result.details[-1]
    assert repr(_run(lambda n: n < 500_000, seed=1234)) == repr(result)


def test_a_crash_is_never_a_refusal() -> None:
    def raises_on_odd(n: int) -> bool:
        if n % 2:
            raise ValueError("odd")
        return True

    result = _run(raises_on_odd, seed=3)
    assert not result.passed
    assert result.summary == "your code crashed the app"
    assert result.details[0].startswith("[no-crash] is_even raised ValueError: odd — at GET /even/")
    assert "(and 2 more requests)" in result.details[0]


def test_a_wrong_return_type_is_a_crash_too() -> None:
    result = _run(lambda n: "yes" if n % 2 else True, seed=4)
    assert not result.passed
    assert "[no-crash] is_even returned str, expected bool" in result.details[0]


def test_a_request_meant_to_crash_the_app_is_not_noted_but_a_fault_always_is() -> None:
    with (
        served(_app(is_even=lambda n: 1 / 0), "rules-test") as target,
        target.client() as client,
    ):
        assert client.get("/boom", headers=EXPECTED_CRASH).status_code == 500
        assert target.crashes == []
        client.get("/boom")
        client.get("/even/2", headers=EXPECTED_CRASH)
    assert target.crashes == [
        "GET /boom -> 500",
        "GET /even/2 -> is_even raised ZeroDivisionError: division by zero",
    ]


SLOW_SLOT = FixSlot("is_even", bool, "is_even(n) -> bool", timeout=10)


@LAB.check("impatient", title="impatient", kind="fix", fixes=("is_even",), rules=RULES)
def impatient(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client(timeout=0.5) as client:
        findings.expect(client.get("/even/2").json().get("even") is True, "2 is even", "ok")
    return findings.verdict("fine", "not fine")


def test_a_fix_that_never_answers_is_named_as_the_cause() -> None:
    def stuck(n: int) -> bool:
        time.sleep(2)  # stands for a C call holding the GIL: no timeout can interrupt it
        return True

    app = new_lab_app("rules-test", secure=False, state=LabState(secure=False))
    chosen = plug_fixes({"is_even": SLOW_SLOT}, {"is_even": lambda n: True}, {"is_even": stuck})

    @app.get("/even/{n}")
    def even(n: int) -> dict[str, bool]:
        return {"even": chosen["is_even"](n)}

    with served(app, "rules-test") as target:
        result = run_check(LAB, "impatient", target_url=target.url, patched_url=target.url)
    assert not result.passed
    assert result.summary == "your fix did not answer: the app was busy"
    assert "a loop that never ends" in result.details[0]


def test_many_kinds_of_crash_leave_room_for_the_rules() -> None:
    def crashes_differently(n: int) -> bool:
        raise ValueError(f"bad {n} " + "x" * 500)

    result = _run(crashes_differently, seed=9)
    crash_lines = [d for d in result.details if d.startswith("[no-crash]")]
    assert len(crash_lines) == 4 and crash_lines[-1].endswith("more kinds of crash")
    assert all(len(line) < 400 for line in crash_lines)
    assert any(d.startswith("[even]") for d in result.details), result.details
