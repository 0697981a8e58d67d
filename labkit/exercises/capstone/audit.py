"""The audit: the learner's findings, each replayed and judged on shops the check serves.

A finding names routes, a weakness (a row id, or ``"other"`` with a CWE) and an exploit. The
exploit runs where the learner's code lives — the runner route of their own shop
(:mod:`labkit.sandbox.apps.shop.runner`) — against shops this module starts itself:

1. a **fresh BrokenShop** (new passwords, secrets, keys, cards; its lab-only routes closed to
   the exploit by a key): the exploit must touch one of the finding's routes, and its
   evidence must show the weakness there (:mod:`labkit.exercises.capstone.judges`);
2. the **secure shop**: the same exploit must show nothing.

Only then is the finding credited — once per weakness. :func:`replay_on` does the same
against the learner's fixed shop for ``verify``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx

from labkit import edition
from labkit.exercises.capstone import judges as j
from labkit.exercises.capstone.evidence import Route, parse_cwe, parse_route, route_matches
from labkit.exercises.check import Target, Verdict
from labkit.sandbox.apps.shop.core import LAB_ROUTES
from labkit.sandbox.apps.shop.runner import EXPLOIT_TIMEOUT_S, LIST_ROUTE, RUN_ROUTE
from labkit.sandbox.lab_server import LabServer

T = TypeVar("T")

__all__ = [
    "AUDIT_POINTS",
    "BONUS",
    "COUNTED",
    "EXAMPLE",
    "ROWS",
    "Outcome",
    "Weakness",
    "judge_findings",
    "replay_on",
    "served_shop",
]


@dataclass(frozen=True)
class Weakness:
    """A flaw the audit can credit: where it lives (None: at every route) and its judge."""

    id: str
    title: str
    routes: frozenset[Route] | None
    judge: Callable[[j.Judging], Verdict]
    bonus: bool = False
    cwes: frozenset[int] = frozenset()
    #: Row ids a learner may file it under (an oversized email is a missing length limit).
    aliases: tuple[str, ...] = ()

    def lives_at(self, route: Route) -> bool:
        if self.routes is None:
            return not route[1].startswith(LAB_ROUTES)
        return route in self.routes


def _at(*marks: str) -> frozenset[Route]:
    return frozenset(r for m in marks if (r := parse_route(m)) is not None)


#: More findings than flaws to find by far: a list that long is a guessing loop.
MAX_FINDINGS = 40
#: How long to wait before reading a shop's traffic again (never needed in tests so far).
SETTLE_S = 0.3
_W = Weakness
ROWS: dict[str, Weakness] = {w.id: w for w in (
    _W("jwt-in-localstorage", "JWT in localStorage",
       _at("POST /api/auth/login", "POST /api/auth/refresh"), j.storage),
    _W("fast-password-hash", "MD5/SHA for passwords",
       _at("POST /api/auth/register", "POST /api/auth/login"), j.fast_hash),
    _W("hardcoded-secret", "Hardcoded secrets in code", _at("POST /api/webhooks/payment"),
       j.secret),
    _W("cors-wildcard", "cors({ origin: '*' })", None, j.cors),
    _W("login-enumeration", '"Invalid password" message', _at("POST /api/auth/login"),
       j.enumeration),
    _W("no-auth-rate-limit", "No rate limiting on auth", _at("POST /api/auth/login"),
       j.rate_limit),
    _W("homemade-crypto", "Rolling your own crypto",
       _at("POST /api/cards", "GET /api/cards", "GET /api/cards/{card_id}"), j.crypto),
    _W("trusting-input", "Trusting user input", _at("GET /api/users"), j.injection),
    _W("eternal-api-key", "Same API key forever",
       _at("GET /api/v1/reports", "POST /api/v1/reports"), j.api_key),
    _W("no-https-redirect", "No HTTPS redirect", None, j.https),
    _W("symmetric-jwt", "Symmetric JWT for multi-service", _at("GET /api/admin/orders"),
       j.symmetric),
    _W("no-length-limits", "No input length limits", _at("POST /api/reviews"), j.length),
)}  # fmt: skip
BONUS: dict[str, Weakness] = {w.id: w for w in (
    _W("oversized-email", "sign-up stores an email of any length",
       _at("POST /api/auth/register"), j.long_email, True,
       frozenset({20, 400, 770, 1284, 1289}), ("no-length-limits",)),
    _W("order-idor", "any customer reads any order (BOLA / IDOR)",
       _at("GET /api/orders/{order_id}"), j.order_idor, True,
       frozenset({200, 284, 285, 639, 862, 863, 359})),
    _W("excessive-data-exposure", "the friend lookup shows every user's age and role",
       _at("GET /api/users"), j.data_exposure, True, frozenset({200, 201, 213, 359, 497})),
    _W("sql-error-disclosure", "database errors print the SQL to the client",
       _at("GET /api/users"), j.sql_error, True, frozenset({200, 209, 210, 211, 497, 1295})),
    _W("validation-echo", "422 answers repeat the whole request", None, j.validation_echo,
       True, frozenset({200, 201, 209, 532})),
)}  # fmt: skip
ALL: tuple[Weakness, ...] = (*ROWS.values(), *BONUS.values())
#: The row the notebook's worked example demonstrates: shown as such, never counted.
EXAMPLE = "no-https-redirect"
#: The rows a learner's own findings earn points for (every row but the worked example's).
COUNTED: tuple[str, ...] = tuple(r for r in ROWS if r != EXAMPLE)
#: The audit's points: one per demonstrated finding, rows and bonus flaws alike, the worked
#: example's row aside (:func:`labkit.exercises.capstone.points.audit_points` reads them
#: from its verdict).
AUDIT_POINTS = len(COUNTED) + len(BONUS)


@dataclass
class Outcome:
    """One finding after the audit: credited as ``credit`` (a weakness id) or refused."""

    number: int
    label: str
    credit: str | None
    message: str

    def line(self) -> str:
        if not self.credit:
            return f"✗ finding {self.number} ({self.label}): {self.message}"
        kind = f"bonus {self.credit}" if self.credit in BONUS else self.credit
        if self.credit == EXAMPLE:
            kind = f"{self.credit}, the worked example (no point)"
        return f"✓ finding {self.number} ({self.label}) — {kind}: {self.message}"


#: Said of a credited finding in the student edition, which does not ship the secure shop.
NOT_COMPARED = (" (not replayed on the secure shop: the student edition does not ship it; "
                "that replay runs when your instructor grades)")  # fmt: skip


# -- shops the check serves ----------------------------------------------------------------
@contextmanager
def served_shop(name: str, *, secure: bool) -> Iterator[j.ShopUnderTest]:
    """A fresh shop of the check's own, its lab-only routes keyed, its traffic observed."""
    from labkit.sandbox.apps.shop import create_app

    key = secrets.token_urlsafe(16)
    server = LabServer(create_app(secure=secure, lab_key=key), name=f"13-capstone-{name}")
    server.start()
    try:
        ca = Path(server.state.ca_file).read_text() if server.state.ca_file else None
        target = Target(server.url, server.urls, ca)
        logs = [server.main.traffic, *(box.traffic for box in server.companions.values())]
        yield j.ShopUnderTest(name, target, key, logs)
    finally:
        server.close()


def _run(runner: httpx.Client, index: int, shop: j.ShopUnderTest, address: str | None
         ) -> tuple[Any, str | None]:  # fmt: skip
    body = {"index": index, "urls": dict(shop.target.urls), "ca": shop.target.ca_pem,
            "localAddress": address}  # fmt: skip
    answer = runner.post(RUN_ROUTE, json=body, timeout=EXPLOIT_TIMEOUT_S + 20)
    if answer.status_code != 200:
        return None, f"the runner answered {answer.status_code}"
    data = answer.json()
    return data.get("evidence"), data.get("error")


def _safe(weakness: Weakness, judging: j.Judging) -> Verdict:
    try:
        return weakness.judge(judging)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return Verdict(False, f"the check could not judge it ({type(exc).__name__}: {exc})")


def _resolve(found: dict[str, Any], routes: list[Route]) -> Weakness | str:
    """The weakness a finding claims, at its routes — or why it cannot be judged."""
    claimed = found.get("weakness")
    if claimed in ROWS:
        row = ROWS[claimed]
        if any(row.lives_at(r) for r in routes):
            return row
        alias = [b for b in BONUS.values() if claimed in b.aliases
                 and any(b.lives_at(r) for r in routes)]  # fmt: skip
        if alias:
            return alias[0]
        return (f"{claimed} does not live at {', '.join(' '.join(r) for r in routes)}: "
                "mark the route where the flaw is")  # fmt: skip
    if claimed == "other":
        cwe = parse_cwe(found.get("cwe"))
        if cwe is None:
            return "a finding of weakness 'other' needs its CWE id, e.g. 'cwe': 'CWE-639'"
        known = [b for b in BONUS.values() if cwe in b.cwes and any(b.lives_at(r) for r in routes)]
        if known:
            return known[0] if len(known) == 1 else f"cwe:{cwe}"
        return (f"the audit knows no CWE-{cwe} flaw at those routes: is the CWE the closest "
                "one, and is the route where the flaw lives?")  # fmt: skip
    return (f"weakness {claimed!r} is neither a row id ({', '.join(ROWS)}) nor 'other' "
            "(with a CWE)")  # fmt: skip


def _candidates(resolved: Weakness | str, routes: list[Route]) -> list[Weakness]:
    if isinstance(resolved, Weakness):
        return [resolved]
    cwe = int(resolved.removeprefix("cwe:"))
    return [b for b in BONUS.values() if cwe in b.cwes and any(b.lives_at(r) for r in routes)]


@dataclass
class Stage:
    """One shop in the audit: prepared once, then each finding replayed on it."""

    shop: j.ShopUnderTest
    block: int
    facts: j.Facts | None = None

    def replay(self, runner: httpx.Client, index: int, routes: list[Route]
               ) -> tuple[j.Judging | None, str | None]:  # fmt: skip
        judge_at = j.loopback(self.block + 3, index)
        if self.facts is None:
            self.facts = j.prepare(self.shop, j.loopback(self.block + 3, 250))
        before = j.snapshot(self.shop, judge_at)
        self.shop.clear()
        evidence, error = _run(runner, index, self.shop, j.loopback(self.block, index))
        exchanges = self.shop.exchanges()
        if error:
            return None, error
        judging = j.Judging(self.shop, self.facts, before, evidence, exchanges, routes, judge_at)
        return judging, None


def _touched(judging: j.Judging, weakness: Weakness, routes: list[Route]) -> bool:
    if judging.exchanges is None:
        return True
    return any(route_matches(r, e) for r in routes if weakness.lives_at(r)
               for e in judging.exchanges)  # fmt: skip


@dataclass
class Credited:
    """A finding its exploit demonstrated on the fresh shop, still to replay on the secure
    shop: credited as ``outcome`` unless the same exploit shows ``weakness`` there too."""

    outcome: Outcome
    weakness: Weakness
    routes: list[Route]


def judge_on_fresh(number: int, found: dict[str, Any], runner: httpx.Client, broken: Stage
                   ) -> Outcome | Credited:  # fmt: skip
    """Run finding ``number`` on the fresh shop and judge it: refused, or :class:`Credited`."""
    routes = [r for m in found.get("routes", []) if (r := parse_route(m)) is not None]
    claimed = str(found.get("weakness"))
    if claimed == "other" and found.get("cwe"):
        claimed = str(found["cwe"])
    label = f"{claimed} at {', '.join(found.get('routes', [])) or '?'}"
    if found.get("problem"):
        return Outcome(number, label, None, str(found["problem"]))
    if not routes or len(routes) != len(found.get("routes", [])):
        return Outcome(number, label, None, "write each route as 'METHOD /path', "
                       "e.g. 'GET /api/orders/{order_id}'")  # fmt: skip
    resolved = _resolve(found, routes)
    if isinstance(resolved, str) and not resolved.startswith("cwe:"):
        return Outcome(number, label, None, resolved)
    judging, error = broken.replay(runner, number - 1, routes)
    if judging is None:
        return Outcome(number, label, None, f"your exploit failed on a fresh shop: {error}")
    if judging.evidence is None:
        return Outcome(number, label, None, "your exploit returned no evidence (None)")
    verdict, weakness = Verdict(False, "shows nothing"), None
    for candidate in _candidates(resolved, routes):
        if not _touched(judging, candidate, routes):
            time.sleep(SETTLE_S)  # a listener may still be writing down the last exchange
            judging.exchanges = broken.shop.exchanges()
        if not _touched(judging, candidate, routes):
            verdict = Verdict(False, "your exploit never sent a request to "
                              f"{', '.join(' '.join(r) for r in routes)}")  # fmt: skip
            continue
        verdict = _safe(candidate, judging)
        if verdict.passed:
            weakness = candidate
            break
    if weakness is None:
        other = _also_shows(judging, _candidates(resolved, routes))
        hint = f" — it does show {other.id} ({other.title})" if other else ""
        return Outcome(number, label, None, f"{verdict.summary}{hint}")
    return Credited(Outcome(number, label, weakness.id, verdict.summary), weakness, routes)


def confirm_on_secure(credited: Credited, runner: httpx.Client, secure: Future[Stage]
                      ) -> Outcome:  # fmt: skip
    """The credited finding's exploit on the secure shop: showing the same there refuses it."""
    outcome = credited.outcome
    again, _ = secure.result().replay(runner, outcome.number - 1, credited.routes)
    if again is not None and again.evidence is not None and _safe(credited.weakness,
                                                                 again).passed:
        return Outcome(outcome.number, outcome.label, None, "your exploit shows the same on "
                       f"the secure shop, so it does not demonstrate {credited.weakness.id}")
    return outcome


def _also_shows(judging: j.Judging, claimed: list[Weakness]) -> Weakness | None:
    """Another weakness the evidence does show at the finding's routes (a wrong label)."""
    for other in ALL:
        if other in claimed or not any(other.lives_at(r) for r in judging.routes):
            continue
        if other.routes is None or not _touched(judging, other, judging.routes):
            continue
        if _safe(other, judging).passed:
            return other
    return None


def judge_findings(runner: Target) -> tuple[list[Outcome], str | None]:
    """Every finding of the learner's runner, judged; or why none could be.

    The secure shop starts, and replays each credited finding, in a thread of its own while
    the fresh shop runs the next finding (two shops, two runner clients): each shop still
    sees one exploit at a time.
    """
    with runner.client(timeout=60.0) as client:
        listed = client.get(LIST_ROUTE)
        if listed.status_code != 200:
            return [], "pass your findings: lab.check('audit', findings=FINDINGS)"
        data = listed.json()
        if data.get("problem"):
            return [], str(data["problem"])
        findings = list(data.get("findings", []))
        if not findings:
            return [], "FINDINGS is empty: add a finding for each flaw you demonstrated"
        if len(findings) > MAX_FINDINGS:
            return [], (f"{len(findings)} findings: the audit judges at most {MAX_FINDINGS} "
                        "(one per flaw you can show is enough)")  # fmt: skip
        with (
            ExitStack() as secure_shop,
            runner.client(timeout=60.0) as secure_client,
            ThreadPoolExecutor(1, thread_name_prefix="13-secure-shop") as secure_thread,
        ):
            secure = None if edition.STUDENT else secure_thread.submit(
                lambda: Stage(secure_shop.enter_context(served_shop("secure", secure=True)), 33))
            with served_shop("fresh", secure=False) as fresh:
                outcomes = _judge_all(findings, client, Stage(fresh, 13), secure_client,
                                      secure, secure_thread)  # fmt: skip
    for index, outcome in enumerate(outcomes):
        earlier = [o for o in outcomes[:index] if o.credit and o.credit == outcome.credit]
        if earlier:
            outcome.message += f" (already credited by finding {earlier[0].number})"
            outcome.credit = None
    return outcomes, None


def _judge_all(findings: list[dict[str, Any]], client: httpx.Client, broken: Stage,
               secure_client: httpx.Client, secure: Future[Stage] | None,
               secure_thread: ThreadPoolExecutor) -> list[Outcome]:  # fmt: skip
    """Each finding on the fresh shop here; each credited one then on the secure thread."""
    judged: list[Outcome | Future[Outcome]] = []
    for number, found in enumerate(findings, 1):
        outcome = _guarded(number, found, partial(judge_on_fresh, number, found, client, broken))
        if isinstance(outcome, Credited) and secure is None:  # the student edition
            outcome.outcome.message += NOT_COMPARED
            outcome = outcome.outcome
        if isinstance(outcome, Credited):
            confirm = partial(confirm_on_secure, outcome, secure_client, secure)
            outcome = secure_thread.submit(_guarded, number, found, confirm)
        judged.append(outcome)
    return [o.result() if isinstance(o, Future) else o for o in judged]


def _guarded(number: int, found: dict[str, Any], step: Callable[[], T]) -> T | Outcome:
    """``step()``, or finding ``number``'s refusal saying why the check could not replay it."""
    try:
        return step()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return Outcome(number, str(found.get("weakness")), None,
                       f"the check could not replay it ({type(exc).__name__}: {exc})")


def replay_on(runner: Target, fixed: Target) -> tuple[list[tuple[int, str, Verdict]], str]:
    """Each finding's exploit against the learner's fixed shop: ``(number, weakness id,
    verdict)`` for the findings whose weakness could be judged (passed = still works)."""
    shop = j.ShopUnderTest("your fixed shop", Target(fixed.url, dict(fixed.urls), fixed.ca_pem))
    stage = Stage(shop, 53)
    results = []
    with runner.client(timeout=60.0) as client:
        listed = client.get(LIST_ROUTE)
        if listed.status_code != 200:
            return [], "no findings passed: lab.check('verify', findings=FINDINGS, **FIXES)"
        for number, found in enumerate(listed.json().get("findings", []), 1):
            routes = [r for m in found.get("routes", []) if (r := parse_route(m)) is not None]
            resolved = _resolve(found, routes) if routes and not found.get("problem") else ""
            if isinstance(resolved, str) and not resolved.startswith("cwe:"):
                continue
            try:
                judging, error = stage.replay(client, number - 1, routes)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                judging, error = None, f"it could not be replayed ({type(exc).__name__}: {exc})"
            for weakness in _candidates(resolved, routes):
                if judging is None or judging.evidence is None:
                    results.append((number, weakness.id, Verdict(False, error or "no evidence")))
                    break
                results.append((number, weakness.id, _safe(weakness, judging)))
                break
    return results, ""
