"""13-capstone's audit: findings judged by replaying the learner's own exploits.

The solved notebook's findings (one reference exploit per row and per bonus flaw) are each
credited — shown on a fresh BrokenShop, nothing on the secure one; and the audit refuses, each
with its reason, a finding at the wrong route, one whose evidence only repeats its input, one
filed under the wrong weakness, one whose exploit crashes or hangs, one that returns evidence
copied from another run, one that never touched its route, one that works on the secure
shop too and one whose route is not 'METHOD /path'. Each row lives at its routes only (never at
a lab-only one). The stub's findings fail the audit; verify replays the findings against the fix.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, cell_role
from labkit.exercises.capstone.audit import (
    AUDIT_POINTS,
    BONUS,
    COUNTED,
    EXAMPLE,
    ROWS,
    served_shop,
)
from labkit.exercises.capstone.evidence import parse_cwe, parse_route
from labkit.exercises.capstone.points import audit_points, audit_summary, credited
from labkit.exercises.lab import Lab
from labkit.exercises.labs.capstone import LAB, ORDER
from labkit.sandbox.apps.shop import runner
from labkit.sandbox.apps.shop.runner import ShopClient, encode_evidence
from tests.labs import running_lab

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course" / "13-capstone.py"

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


def answers_of(solved: bool) -> dict[str, Any]:
    """The notebook's answer cells (solved or the learner's stub), run after its imports:
    FINDINGS, the exploits and every fix function."""
    notebook = build_notebook(COURSE, solved=solved)
    module = types.ModuleType(f"capstone_audit_{'solved' if solved else 'stub'}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    first = next(c for c in notebook.cells if c.cell_type == "code")
    imports = [line for line in first.source.splitlines() if line.startswith(("import", "from"))]
    exec("\n".join(imports), namespace)
    for cell in notebook.cells:
        role = cell_role(cell)
        if role is not None and role[0] == ANSWER:
            exec(compile(cell.source, f"<answer {role[1]}>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def solved() -> dict[str, Any]:
    return answers_of(solved=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


def line_of(details: tuple[str, ...], number: int) -> str:
    return next(d for d in details if d[2:].startswith(f"finding {number} "))


# -- the reference findings ----------------------------------------------------------------
def test_every_row_and_every_bonus_flaw_is_credited_to_its_reference_exploit(
    lab: Lab, solved: dict[str, Any]
) -> None:
    result = lab.check("audit", findings=solved["FINDINGS"])
    assert result.passed, result
    assert result.summary.startswith(f"11 of 11 rows and {len(BONUS)} of {len(BONUS)} bonus")
    shown = [d for d in result.details if d.startswith("✓")]
    assert len(shown) == len(solved["FINDINGS"]) == len(ROWS) + len(BONUS)
    named = " ".join(shown)
    assert all(f"— {row}:" in named for row in COUNTED)
    assert f"— {EXAMPLE}, the worked example (no point):" in named
    assert all(f"— bonus {flaw}:" in named for flaw in BONUS)
    assert audit_points(result.summary, AUDIT_POINTS) == AUDIT_POINTS  # the max
    assert credited(result.summary) == [(r, False) for r in COUNTED] + [
        (b, True) for b in sorted(BONUS)
    ]


def test_the_stub_holds_one_worked_example_that_earns_no_point(lab: Lab) -> None:
    stub = answers_of(solved=False)
    assert len(stub["FINDINGS"]) == 1 and stub["FINDINGS"][0]["weakness"] == EXAMPLE
    result = lab.check("audit", findings=stub["FINDINGS"])
    assert not result.passed
    assert result.summary == "0 of 11 rows and 0 of 5 bonus flaws demonstrated by your exploits"
    assert audit_points(result.summary, AUDIT_POINTS) == 0 and credited(result.summary) == []
    assert line_of(result.details, 1).startswith("✓")  # it works: it is shown, not counted
    assert "the worked example (no point)" in line_of(result.details, 1)
    assert "rows without a demonstrated finding" in result.details[-1]
    assert EXAMPLE not in result.details[-1].split(" (")[0]  # not asked for again


def test_the_audit_needs_findings_as_a_list(lab: Lab) -> None:
    missing = lab.check("audit")
    assert not missing.passed and "findings" in missing.summary
    wrong = lab.check("audit", findings="GET /api/users")
    assert not wrong.passed and "must be a list" in wrong.summary
    empty = lab.check("audit", findings=[])
    assert not empty.passed and "empty" in empty.summary
    loop = lab.check("audit", findings=[{"routes": ["GET /api/status"]}] * 41)
    assert not loop.passed and "at most 40" in loop.summary


# -- refusals, each with its reason -----------------------------------------------------------
@pytest.fixture(scope="module")
def copied_secret(solved: dict[str, Any], lab: Lab) -> str:
    """The webhook secret of another shop (the lab's own): evidence from another run."""
    with ShopClient(lab.urls, None, None) as client:
        secret = solved["forge_payment"](client)
    assert isinstance(secret, str)
    return secret


def test_refusals_say_why(
    lab: Lab, solved: dict[str, Any], copied_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "EXPLOIT_TIMEOUT_S", 2.0)
    customer = solved["customer"]

    def own_password(client: httpx.Client) -> dict[str, str]:
        email, password = "me-echo@shop.example", "sunshine"
        client.post("/api/auth/register", json={"email": email, "password": password})
        client.post("/api/auth/login", json={"email": email, "password": password})
        return {email: password}

    def crashes(client: httpx.Client) -> Any:
        client.get("/api/status")
        return 1 / 0

    def hangs(client: httpx.Client) -> Any:
        while True:
            pass

    def copied(client: httpx.Client) -> str:
        client.post("/api/webhooks/payment", content=b"{}", headers={"X-Signature": "sha256=0"})
        return copied_secret

    def says_so(client: httpx.Client) -> str:
        return "https://evil.example.net"

    def stolen_hashes(client: httpx.Client) -> Any:
        client.get("/api/users", params={"email": "alice@example.com"}, headers=customer(client))
        return client.get("/api/_lab/breach").json()["users"]

    def reads_lab_secrets(client: httpx.Client) -> Any:
        client.post("/api/auth/login", json={"email": "x", "password": "y"})
        return client.get("/api/_lab/accounts").json()

    cases = [
        ("does not live at GET /api/products", {"routes": ["GET /api/products"],
         "weakness": "trusting-input", "exploit": solved["union_hashes"]}),
        ("did not exist before your exploit ran", {"routes": ["POST /api/auth/login"],
         "weakness": "fast-password-hash", "exploit": own_password}),
        ("it does show no-auth-rate-limit", {"routes": ["POST /api/auth/login"],
         "weakness": "fast-password-hash", "exploit": solved["guess_online"]}),
        ("raised ZeroDivisionError", {"routes": ["GET /api/status"],
         "weakness": "no-https-redirect", "exploit": crashes}),
        ("did not return within 2 s", {"routes": ["GET /api/status"],
         "weakness": "no-https-redirect", "exploit": hangs}),
        ("no string in your evidence signs a webhook", {"routes": ["POST /api/webhooks/payment"],
         "weakness": "hardcoded-secret", "exploit": copied}),
        ("never sent a request to GET /api/account", {"routes": ["GET /api/account"],
         "weakness": "cors-wildcard", "exploit": says_so}),
        ("shows the same on the secure shop", {"routes": ["GET /api/users"],
         "weakness": "trusting-input", "exploit": stolen_hashes}),
        ("logs in to an account", {"routes": ["POST /api/auth/login"],
         "weakness": "fast-password-hash", "exploit": reads_lab_secrets}),
        ("needs its CWE id", {"routes": ["GET /api/users"], "weakness": "other",
         "exploit": solved["staff_ages"]}),
        ("is not a function", {"routes": ["GET /api/users"], "weakness": "trusting-input",
         "exploit": "union"}),
        ("write each route as 'METHOD /path'", {"routes": ["/api/users"],
         "weakness": "trusting-input", "exploit": solved["union_hashes"]}),
    ]  # fmt: skip
    result = lab.check("audit", findings=[finding for _, finding in cases])
    assert not result.passed and result.summary.startswith("0 of 11 rows and 0 of")
    for number, (reason, _) in enumerate(cases, 1):
        line = line_of(result.details, number)
        assert line.startswith("✗") and reason in line, line


#: Routes each row lives at, and routes it does not (where the exploit could be shown but the
#: flaw is not that row's). Lab-only routes are never where a row lives.
WHERE = {
    "jwt-in-localstorage": (["POST /api/auth/login", "POST /api/auth/refresh"],
                            ["GET /api/orders", "POST /api/webhooks/payment"]),
    "fast-password-hash": (["POST /api/auth/register", "POST /api/auth/login"],
                           ["GET /api/users", "POST /api/reviews"]),
    "hardcoded-secret": (["POST /api/webhooks/payment"], ["POST /api/orders"]),
    "cors-wildcard": (["GET /api/account", "GET /api/products/{product_id}", "POST /api/reviews"],
                      []),
    "login-enumeration": (["POST /api/auth/login"], ["POST /api/auth/register",
                          "POST /api/v1/reports", "GET /api/users", "PUT /api/account"]),
    "no-auth-rate-limit": (["POST /api/auth/login"], ["POST /api/auth/register",
                           "GET /api/status", "GET /api/products", "POST /api/v1/reports"]),
    "homemade-crypto": (["POST /api/cards", "GET /api/cards/{card_id}"],
                        ["POST /api/auth/login", "GET /api/users"]),
    "trusting-input": (["GET /api/users"], ["GET /api/cards", "GET /api/v1/reports"]),
    "eternal-api-key": (["GET /api/v1/reports", "POST /api/v1/reports"],
                        ["GET /api/users", "GET /api/keys"]),
    "no-https-redirect": (["GET /api/status", "GET /api/account", "POST /api/auth/login"], []),
    "symmetric-jwt": (["GET /api/admin/orders"], ["GET /api/orders", "POST /api/auth/login"]),
    "no-length-limits": (["POST /api/reviews"],
                         ["PUT /api/account", "POST /api/auth/login", "GET /api/products"]),
}  # fmt: skip
LAB_ONLY = ["POST /api/_lab/legacy-user", "GET /api/_lab/old-config", "GET /api/_lab/breach"]


@pytest.mark.parametrize("row", sorted(ROWS))
def test_each_row_lives_at_its_routes_only(row: str) -> None:
    right, wrong = WHERE[row]
    for mark in right:
        assert ROWS[row].lives_at(parse_route(mark)), mark
    for mark in wrong + LAB_ONLY:
        assert not ROWS[row].lives_at(parse_route(mark)), mark
    assert set(WHERE) == set(ROWS)


def test_a_weakness_is_credited_once(lab: Lab, solved: dict[str, Any]) -> None:
    finding = {"routes": ["GET /api/status"], "weakness": "no-https-redirect",
               "exploit": solved["plain_http"]}  # fmt: skip
    result = lab.check("audit", findings=[finding, dict(finding)])
    assert line_of(result.details, 1).startswith("✓")
    second = line_of(result.details, 2)
    assert second.startswith("✗") and "already credited by finding 1" in second


# -- the keyed fresh shop --------------------------------------------------------------------
def test_a_fresh_shop_keeps_the_checks_lab_routes_from_exploits() -> None:
    with served_shop("keyed", secure=False) as shop:
        with ShopClient(shop.target.urls, shop.target.ca_pem, None) as attacker:
            assert attacker.get("/api/_lab/accounts").status_code == 403
            assert attacker.get("/api/_lab/cards/numbers").status_code == 403
            assert attacker.get("/api/_lab/breach").status_code == 200
            assert attacker.get("/api/_lab/source").status_code == 200
        with shop.client() as check:
            assert check.get("/api/_lab/cards/numbers").status_code == 200


def test_the_leaked_source_is_a_slice_of_several_files_without_the_course_notes(
    lab: Lab,
) -> None:
    files = lab.client.get("/api/_lab/source").json()["files"]
    assert len(files) >= 6 and "shop/payments.py" in files
    text = "\n".join(files.values())
    assert "def find_users" in text and "Flaw:" not in text and "13-capstone" not in text


# -- evidence on the wire ----------------------------------------------------------------------
def test_evidence_is_encoded_as_plain_json() -> None:
    response = httpx.Response(422, json={"errors": []}, request=httpx.Request("POST", "http://x/a"))
    encoded = encode_evidence({"r": response, "b": b"\x00", "s": {1}, "o": object()})
    assert encoded["r"]["$response"]["status"] == 422
    assert encoded["r"]["$response"]["method"] == "POST"
    assert encoded["b"] == {"$bytes": "AA=="} and encoded["s"] == [1]
    assert encoded["o"]["$type"] == "object"


@pytest.mark.parametrize(("text", "cwe"), [("CWE-639", 639), ("cwe770", 770), (209, 209),
                                          ("639x", None), (None, None)])  # fmt: skip
def test_parse_cwe(text: object, cwe: int | None) -> None:
    assert parse_cwe(text) == cwe


def test_parse_route() -> None:
    assert parse_route(" get /api/orders/{order_id}?x=1") == ("GET", "/api/orders/{order_id}")
    assert parse_route("FETCH /x") is None and parse_route(3) is None


# -- verify replays the learner's findings -------------------------------------------------------
def test_verify_replays_the_learners_findings_against_the_fixed_shop(
    lab: Lab, solved: dict[str, Any]
) -> None:
    fixes = {name: solved[name] for name in LAB.checks["verify"].fixes}
    result = lab.check("verify", findings=solved["FINDINGS"], **fixes)
    assert result.passed, result
    refused = [d for d in result.details if "is now refused: " in d]
    assert len(refused) >= len(ORDER) - 1  # every row's finding (and some bonus ones)
    assert LAB.checks["verify"].fixes  # findings= stays optional: the fixes are required


# -- points: one per demonstrated finding ---------------------------------------------------------
def test_the_audit_earns_a_point_per_finding_in_grading_and_in_the_course_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit.exercises.completion import course_summary
    from labkit.exercises.progress import ProgressStore
    from labkit.grading.canonical import Canonical, CheckSlot
    from labkit.grading.score import score
    from labkit.grading.worker import WorkerResult

    assert LAB.checks["audit"].points == AUDIT_POINTS == len(ROWS) - 1 + len(BONUS) == 16
    rows = ["jwt-in-localstorage", "fast-password-hash", "hardcoded-secret", "cors-wildcard",
            "login-enumeration", "no-auth-rate-limit", "homemade-crypto"]  # fmt: skip
    partial = audit_summary(rows, 11, ["order-idor", "sql-error-disclosure"], 5)
    assert partial.startswith("7 of 11 rows and 2 of 5 bonus flaws demonstrated by your exploits")
    assert audit_points(partial, AUDIT_POINTS) == 9
    assert audit_points("7 of 12 rows and 2 of 5 bonus flaws demonstrated", 16) == 9  # older
    assert credited("7 of 12 rows and 2 of 5 bonus flaws demonstrated by your exploits") == []
    assert credited(partial + "; ✗ finding 9 ... | FLAGGED: x") == [
        *((r, False) for r in rows),
        ("order-idor", True),
        ("sql-error-disclosure", True),
    ]
    assert credited(audit_summary([], 11, ["order-idor"], 5)) == [("order-idor", True)]
    assert audit_points("the check could not finish", AUDIT_POINTS) is None
    lab = Canonical("13-capstone", None, (CheckSlot("audit", AUDIT_POINTS),
                                          CheckSlot("verify", 3)), ())  # fmt: skip
    result = WorkerResult({"audit": (False, partial + "; ✗ finding 1 ..."),
                           "verify": (True, "ok")}, {}, "", "")  # fmt: skip
    rows = {r.check: r for r in score("ann", lab, result)}
    assert (rows["audit"].status, rows["audit"].points) == ("failed", 9)
    assert rows["verify"].points == 3
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    store = ProgressStore()
    store.record_result("13-capstone", "audit", False, partial)
    summary = course_summary(store=store)
    capstone = next(row for row in summary.labs if row.lab == "13-capstone")
    assert capstone.points == 9 and capstone.findings == partial
    listed = ("findings: 7 of 11 rows and 2 of 5 bonus flaws: jwt-in-localstorage, "
              "fast-password-hash, hardcoded-secret, cors-wildcard, login-enumeration, "
              "no-auth-rate-limit, homemade-crypto, order-idor (bonus), "
              "sql-error-disclosure (bonus)")  # fmt: skip
    assert listed in repr(summary) and listed in summary.html


def test_verify_on_the_stubs_keeps_the_batteries_feedback_with_findings(lab: Lab) -> None:
    stub = answers_of(solved=False)
    fixes = {name: stub[name] for name in LAB.checks["verify"].fixes}
    result = lab.check("verify", findings=stub["FINDINGS"], **fixes)
    assert not result.passed
    assert result.summary != "the app stopped answering during the check", result
    assert "not written yet" in " ".join(result.details)


def test_verify_names_a_finding_that_still_works_against_a_wrong_fix(
    lab: Lab, solved: dict[str, Any]
) -> None:
    fixes = {name: solved[name] for name in LAB.checks["verify"].fixes}
    star = fixes["cors_settings"]

    def reflect_any(trusted: list[str]) -> dict[str, Any]:
        return {**star(trusted), "allow_origins": [], "allow_origin_regex": ".*"}

    fixes["cors_settings"] = reflect_any
    result = lab.check("verify", findings=solved["FINDINGS"], **fixes)
    assert not result.passed
    found = solved["FINDINGS"]
    number = next(i for i, f in enumerate(found, 1) if f["weakness"] == "cors-wildcard")
    still = f"[cors-wildcard] your finding {number} still works"
    assert any(d.startswith(still) for d in result.details), result


# -- login-enumeration: a right list is not enough -------------------------------------------
@pytest.mark.parametrize("secure", [False, True], ids=["broken", "secure"])
def test_a_list_that_matches_by_chance_does_not_show_enumeration(secure: bool) -> None:
    """A throttled exploit that reads each 429 as "has an account" names the customers by
    chance (1 in 45 shops, once): the judge's control login tells that from a real leak."""
    from labkit.exercises.capstone import judges as j

    with served_shop("chance", secure=secure) as shop:
        facts = j.prepare(shop)
        judging = j.Judging(shop, facts, j.snapshot(shop), sorted(facts.customers), [], [])
        verdict = ROWS["login-enumeration"].judge(judging)
    assert verdict.passed is not secure, verdict.summary
    if secure:
        assert "answers a customer and a stranger alike" in verdict.summary
