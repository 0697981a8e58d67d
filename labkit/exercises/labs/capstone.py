"""13-capstone: audit BrokenShop, fix every anti-pattern, replay every earlier battery.

The twelve rows of the seed's "Common Anti-Patterns Summary" are
:class:`~labkit.exercises.capstone.antipattern.AntiPattern` s, one module per part of the
shop (:mod:`labkit.exercises.capstone`). From them come:

- ``audit`` — the learner's findings (routes, weakness, ``exploit(client)``), each exploit
  replayed on a fresh BrokenShop and on the secure shop (:mod:`labkit.exercises.capstone.audit`):
  a finding counts only when its evidence shows its weakness on the first and nothing on the
  second — the twelve rows (the worked example's row earns no point), and bonus flaws
  outside the table;
- ``fix-<id>`` — one per row: the learner's functions plugged into a fresh shop, and the
  battery of the lab that taught the pattern replayed against it;
- ``verify`` — every fix at once, every battery replayed against the one fixed shop, and
  the learner's own findings (if passed) replayed against it: each must now be refused.
"""

from __future__ import annotations

import httpx

from labkit.exercises.capstone import accounts, data, edge, tokens
from labkit.exercises.capstone.antipattern import AntiPattern
from labkit.exercises.capstone.audit import (
    AUDIT_POINTS,
    BONUS,
    COUNTED,
    EXAMPLE,
    ROWS,
    judge_findings,
    replay_on,
)
from labkit.exercises.capstone.points import audit_summary
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
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
    title="Audit: your findings — each one's exploit replayed on a fresh BrokenShop",
    kind="attack",
    fixes=("findings",),
    points=AUDIT_POINTS,
    hints=(
        "Map the surface first: lab.routes() (the OpenAPI document), lab.traffic() while you "
        "use the shop, and the leaked repository at GET /api/_lab/source.",
        "Go route by route and ask the reviewer's questions: who may call it "
        "(authentication), what does it trust (input), which secret or key does it use, "
        "over which transport, with which crypto — and what does it answer when it fails?",
        "Each row of the table names the lab that taught it: the exploit you wrote there is "
        "the exploit here, pointed at the shop (login, tokens, cards, lookup, keys, reviews...).",
        "Your exploit gets a fresh shop: new passwords, secrets, keys and cards. Compute the "
        "evidence inside exploit(client) from what the shop gives you; never paste a value.",
        "Still missing a row? The login answers three rows; the friend lookup GET /api/users "
        "hides one row and two bonus flaws; cards, reviews, the payment webhook, the partner "
        "API, GET /api/admin/orders and the plain-HTTP listener one row each. The labs' "
        "helpers are in labkit.attacks: cracking.crack_unsalted, secret_scan.scan_text, "
        "crypto.recover_with_known_plaintext, jwt.forge, injection.union_read.",
    ),
    answer_help="findings=FINDINGS: a list of {'routes': ['METHOD /path'], 'weakness': "
    "'<row id>' or 'other' (with 'cwe': 'CWE-n'), 'exploit': exploit(client) -> evidence}",
)
def audit(ctx: CheckContext) -> Verdict:
    outcomes, problem = judge_findings(ctx.require_patched())
    if problem:
        return Verdict(False, problem, (f"row ids: {', '.join(ORDER)}",))
    rows = sorted({o.credit for o in outcomes if o.credit in COUNTED}, key=ORDER.index)
    bonus = sorted({o.credit for o in outcomes if o.credit in BONUS})
    details = [o.line() for o in outcomes]
    missing = [r for r in ORDER if r in COUNTED and r not in rows]
    if missing:
        details.append(f"rows without a demonstrated finding: {', '.join(missing)} "
                       f"({EXAMPLE}, the worked example's row, earns no point)")  # fmt: skip
    summary = audit_summary(rows, len(COUNTED), bonus, len(BONUS))
    return Verdict(not missing, summary, tuple(details))


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
    _replay_findings(patched, findings)
    return findings.verdict(
        "every anti-pattern is gone from the one fixed shop — and the shop still works",
        "the fixed shop still fails some batteries",
    )


def _replay_findings(patched: Target, findings: Findings) -> None:
    """The learner's own exploits (``findings=FINDINGS``) against their fixed shop: a row's
    exploit that still shows its weakness fails verify; a bonus flaw, which no slot of this
    lab fixes, is only reported."""
    try:
        results, _ = replay_on(patched, patched)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:  # the batteries stand
        findings.fail(f"your findings could not be replayed ({type(exc).__name__}: {exc})")
        return
    for number, weakness, verdict in results:
        if not verdict.passed:
            findings.saw(f"your finding {number} ({weakness}) is now refused: {verdict.summary}")
        elif weakness in ROWS:
            findings.fail(f"your finding {number} still works: {verdict.summary}", rule=weakness)
        else:
            findings.saw(f"your finding {number} ({weakness}, bonus) still works: no slot of "
                         "this lab fixes it — it is a note for the shop's team")  # fmt: skip
