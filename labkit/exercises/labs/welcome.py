"""00-welcome: how the workbook works — a practice attack-style check and a practice fix."""

from __future__ import annotations

from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition

__all__ = ["LAB"]

LAB = LabDefinition("00-welcome", "00 · Welcome to the workbook", "labkit.sandbox.apps.welcome")

LEGITIMATE_NAMES = ("Ada", "  Grace Hopper  ", "Zoë", "李小龙")
BAD_NAMES = {"an empty name": "", "a blank name": "     ", "a 5,000-character name": "A" * 5000}


@LAB.check(
    "first-ticket",
    title="Send a request with a header and hand in the ticket",
    kind="practice",
    hints=(
        "Headers go in a dict: lab.client.get('/api/ticket', headers={...}).",
        "The header name is X-Workbook and its value is ready.",
        "The response is JSON: response.json()['ticket'] is the string to hand in.",
    ),
    answer_help="the ticket string from GET /api/ticket",
)
def first_ticket(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        kind = type(ctx.answer).__name__
        return Verdict(False, f"expected the ticket as a non-empty string, got {kind}")
    with ctx.target.client() as client:
        response = client.get(f"/api/_lab/tickets/{ctx.answer}")
    if response.status_code != 200:
        return Verdict(
            False, "this sandbox never issued that ticket", (f"you sent {ctx.answer!r}",)
        )
    return Verdict(
        True, "the sandbox issued that ticket to you", ("request, header and JSON: done",)
    )


@LAB.check(
    "greeting-fix",
    title="Write validate_name so bad names get a 400",
    kind="practice",
    fixes=("validate_name",),
    hints=(
        "Return a list of problems: [] means the name is fine.",
        "Trim first with name.strip(); an empty result is a problem.",
        "More than 40 characters after trimming is a problem too.",
    ),
)
def greeting_fix(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name in LEGITIMATE_NAMES:
            response = client.post("/api/greet", json={"name": name})
            expected = f"Hello, {name.strip()}!"
            ok = response.status_code == 200 and response.json().get("greeting") == expected
            findings.expect(
                ok,
                f"the legitimate name {name!r} got {response.status_code} {_fault(response)}",
                f"{name.strip()!r} is greeted",
            )
        for label, name in BAD_NAMES.items():
            response = client.post("/api/greet", json={"name": name})
            findings.expect(
                response.status_code == 400 and bool(response.json().get("errors")),
                f"{label} got {response.status_code}, expected 400 with errors {_fault(response)}",
                f"{label} is refused with 400",
            )
    return findings.verdict(
        "bad names are refused, real names still greeted", "the greeting app is not fixed yet"
    )


def _fault(response: object) -> str:
    """The labkitFault explanation of a 500, if any (what the learner's function did)."""
    try:
        fault = response.json().get("labkitFault", "")  # type: ignore[attr-defined]
    except Exception:
        return ""
    return f"({fault})" if fault else ""
