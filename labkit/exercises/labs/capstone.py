"""13-capstone: audit BrokenShop, fix every anti-pattern, replay every earlier battery.

The twelve rows of the seed's "Common Anti-Patterns Summary" are
:class:`~labkit.exercises.capstone.antipattern.AntiPattern` s, one module per part of the
shop (:mod:`labkit.exercises.capstone`). From them come:

- ``audit`` — the learner marks the route where each anti-pattern lives; each mark is
  confirmed only by running that anti-pattern's exploit at that route of the live shop;
- ``fix-<id>`` — one per row: the learner's functions plugged into a fresh shop, and the
  battery of the lab that taught the pattern replayed against it;
- ``verify`` — every fix at once, every battery replayed against the one fixed shop.
"""

from __future__ import annotations

from labkit.exercises.capstone import accounts, data, edge, tokens
from labkit.exercises.capstone.antipattern import AntiPattern, parse_route
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule

__all__ = ["ANTI_PATTERNS", "LAB", "ORDER"]

LAB = LabDefinition("13-capstone", "13 · Capstone: audit BrokenShop", "labkit.sandbox.apps.shop")

#: The rows in the seed's order.
ORDER = (
    "jwt-in-localstorage",
    "fast-password-hash",
    "hardcoded-secret",
    "cors-wildcard",
    "login-enumeration",
    "no-auth-rate-limit",
    "homemade-crypto",
    "trusting-input",
    "eternal-api-key",
    "no-https-redirect",
    "symmetric-jwt",
    "no-length-limits",
)

_FOUND = {ap.id: ap for m in (tokens, accounts, edge, data) for ap in m.ANTI_PATTERNS}
ANTI_PATTERNS: tuple[AntiPattern, ...] = tuple(_FOUND[i] for i in ORDER if i in _FOUND)
ALL_FIXES: tuple[str, ...] = tuple(dict.fromkeys(f for ap in ANTI_PATTERNS for f in ap.fixes))


@LAB.check(
    "audit",
    title="Audit: mark where each anti-pattern lives — each mark is confirmed by its exploit",
    kind="attack",
    points=3,
    hints=(
        "lab.routes() lists every route of the shop; labkit.audit_checklist(lab, MARKS) "
        "lets you pick them.",
        "Each row names the lab that taught it: replay what you did there against the shop.",
        "Some anti-patterns live in one route (the login), some in every route (CORS, HTTPS): "
        "for those, any route where the exploit works is right.",
    ),
    answer_help="a dict: anti-pattern id -> 'METHOD /path' (e.g. 'POST /api/auth/login')",
)
def audit(ctx: CheckContext) -> Verdict:
    marks = ctx.answer
    if not isinstance(marks, dict):
        return Verdict(
            False,
            f"expected a dict of anti-pattern id -> route, got {type(marks).__name__}",
            (f"ids: {', '.join(ORDER)}",),
        )
    unknown = sorted(str(k) for k in marks if k not in _FOUND)
    confirmed, details = 0, []
    for ap in ANTI_PATTERNS:
        route = parse_route(marks.get(ap.id))
        if isinstance(route, str):
            details.append(f"✗ {ap.id}: {route}")
            continue
        verdict = ap.locate(ctx.target, *route)
        mark = f"{route[0]} {route[1]}"
        if verdict.passed:
            confirmed += 1
            details.append(f"✓ {ap.id} at {mark}: {verdict.summary}")
        else:  # a mark that missed gets the row's first hint
            hint = f" (hint: {ap.hints[0]})" if ap.hints else ""
            details.append(f"✗ {ap.id} at {mark}: {verdict.summary}{hint}")
    if unknown:
        details.append(f"(unknown ids ignored: {', '.join(unknown)})")
    total = len(ANTI_PATTERNS)
    if confirmed == total and total:
        return Verdict(True, f"all {total} anti-patterns found and exploited", tuple(details))
    return Verdict(
        False, f"{confirmed} of {total} marks confirmed by their exploit", tuple(details)
    )


def _fix_check(ap: AntiPattern) -> None:
    def run(ctx: CheckContext) -> Verdict:
        findings = Findings()
        ap.replay(ctx.require_patched(), findings, ctx.rng)
        return findings.verdict(
            f"{ap.avoid} → {ap.instead}: the {ap.lab} battery is refused, legitimate use works",
            f"the shop still shows '{ap.avoid}'",
        )

    run.__name__ = f"fix_{ap.id.replace('-', '_')}"
    LAB.check(
        f"fix-{ap.id}",
        title=ap.title,
        kind="fix",
        fixes=ap.fixes,
        hints=ap.fix_hints,
        rules=ap.rules,
    )(run)


for _ap in ANTI_PATTERNS:
    _fix_check(_ap)


#: verify's rules: one per row — every rule of that row's fix check, all in one shop. A
#: problem names the row, then the row's own rule: "[cors-wildcard] [exact-origins] ...".
VERIFY_RULES = tuple(
    Rule(ap.id, f"{ap.avoid} → {ap.instead}: every rule of fix-{ap.id} holds in the one shop.")
    for ap in ANTI_PATTERNS
)


@LAB.check(
    "verify",
    title="Verify: every earlier battery replayed against the fully fixed BrokenShop",
    kind="fix",
    fixes=ALL_FIXES,
    points=3,
    rules=VERIFY_RULES,
    hints=(
        "Pass every function you wrote: lab.check('verify', **FIXES).",
        "Each section names the row that still fails; its fix-<id> check has its own hints.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    patched = ctx.require_patched()
    for ap in ANTI_PATTERNS:
        row = Findings()
        with row.section(f"{ap.id} ({ap.lab})"):
            try:
                ap.replay(patched, row, ctx.rng)
            except Exception as exc:  # one broken battery must not hide the others
                row.fail(f"the battery could not finish ({type(exc).__name__}: {exc})")
        for problem in row.problems:
            findings.fail(problem, rule=ap.id)
        findings.observations += row.observations[-1:]  # the row's one-line summary
    if len(ANTI_PATTERNS) < len(ORDER):
        findings.fail(f"only {len(ANTI_PATTERNS)} of {len(ORDER)} anti-patterns have a battery")
    return findings.verdict(
        "every anti-pattern is gone from the one fixed shop — and the shop still works",
        "the fixed shop still fails some batteries",
    )
