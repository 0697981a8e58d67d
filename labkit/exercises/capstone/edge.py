"""Checks for BrokenShop's edge: CORS (lab 10), HTTPS (lab 09), input length (lab 07).

Each row's ``locate`` runs the row's exploit at the marked route of the vulnerable shop, and
its ``replay`` runs the battery of the lab that taught it against a patched shop:

- ``cors-wildcard``: 10's ``_battery`` and ``_preflight`` verbatim — the shop honours 10's
  route contract (``GET``/``PUT /api/account``, ``/api/_lab/victim``, the frontend
  ``https://app.example.com``) — plus the frontend reading the account with its token.
- ``no-https-redirect``: 09's ``_transport_battery`` verbatim (``GET /api/status``, the
  plain listener, the CA on it, the proxy at 127.0.0.2).
- ``no-length-limits``: 07's ``_validation_battery`` and ``_body_limit_battery`` post to
  07's ``/api/users`` and read 07's ``/api/_lab/dump``, which the shop does not have: the
  same probes (a 1 MB field, wrong types and lengths, 5 MB bodies with and without
  ``Content-Length``, a legitimate 16 KB body) are sent to ``POST /api/reviews`` with 07's
  helpers and limits, and what was stored is read from the shop's ``/api/_lab/breach``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx

from labkit.attacks.cors import ORIGIN_BATTERY, probe_origin
from labkit.exercises.capstone.antipattern import AntiPattern, fault
from labkit.exercises.check import Findings, Target, Verdict
from labkit.exercises.labs import cors as cors_lab
from labkit.exercises.labs import encryption as encryption_lab
from labkit.exercises.labs import injection as injection_lab

__all__ = ["ANTI_PATTERNS"]

ACCOUNT, PRODUCTS, REVIEWS = "/api/account", "/api/products", "/api/reviews"
ACCOUNTS, BREACH, LOGIN = "/api/_lab/accounts", "/api/_lab/breach", "/api/auth/login"
APP_ORIGIN = cors_lab.APP_ORIGIN
ATTACKER_ORIGIN = ORIGIN_BATTERY["reflected"]
#: The customer who writes the reviews in the checks (a seeded account).
REVIEWER = "carol@example.com"
MAX_REVIEW_CHARS = 2000
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# -- helpers -------------------------------------------------------------------------------
class AppBroken(injection_lab.AppBroken):
    """The shop cannot serve the battery at all (it cannot even log a customer in)."""


def _document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    if response.status_code != 200:
        raise AppBroken(f"the shop's /openapi.json answered {response.status_code}")
    return dict(response.json())


def _route(document: dict[str, Any], method: str, path: str) -> tuple[str, str] | None:
    """``(template, concrete path)`` of the documented route ``method path`` matches, or
    None. ``path`` may be the template itself (``/api/products/{product_id}``) or a real
    path (``/api/products/2``); placeholders are filled with ``1``."""
    for template, operations in document.get("paths", {}).items():
        if method.lower() not in operations:
            continue
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, path):
            return template, re.sub(r"\{[^}]+\}", "1", path)
    return None


def _not_a_route(method: str, path: str) -> Verdict:
    return Verdict(
        False,
        f"the shop has no route {method} {path}: pick one from lab.routes()",
    )


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        return dict(document.get("components", {}).get("schemas", {}).get(name, {}))
    return schema


def _body_fields(document: dict[str, Any], method: str, template: str) -> dict[str, str]:
    """The JSON body's fields of a documented route and their types (``{}``: no body)."""
    operation = document["paths"][template][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    schema = _resolve(document, content.get("application/json", {}).get("schema", {}))
    fields = {}
    for name, spec in schema.get("properties", {}).items():
        spec = _resolve(document, spec)
        kind = spec.get("type") or next(
            (o.get("type") for o in spec.get("anyOf", []) if o.get("type") != "null"), "string"
        )
        fields[name] = str(kind)
    return fields


def _login(client: httpx.Client, email: str = REVIEWER) -> str:
    """A seeded customer's access token (the accounts come from ``/api/_lab/accounts``)."""
    accounts = client.get(ACCOUNTS)
    if accounts.status_code != 200:
        raise AppBroken(f"the shop answers {accounts.status_code}{fault(accounts)}")
    password = next((a["password"] for a in accounts.json() if a["email"] == email), "")
    response = client.post(LOGIN, json={"email": email, "password": password})
    token = ""
    if response.status_code == 200:
        token = str(response.json().get("accessToken", ""))
    if not token:
        raise AppBroken(
            f"{email} could not log in to the shop: {LOGIN} answered "
            f"{response.status_code}{fault(response)}"
        )
    return token


def _stored(client: httpx.Client, marker: str) -> list[tuple[str, int]]:
    """Every stored text value that starts with ``marker``: ``(table, length)``."""
    response = client.get(BREACH)
    if response.status_code != 200:
        raise AppBroken(f"the shop's {BREACH} answered {response.status_code}")
    return [
        (table, len(value))
        for table, rows in response.json().items()
        for row in rows
        for value in row.values()
        if isinstance(value, str) and marker in value
    ]


# -- cors-wildcard (10-cors) ---------------------------------------------------------------
def _locate_cors(target: Target, method: str, path: str) -> Verdict:
    with target.client() as client:
        route = _route(_document(client), method, path)
        if route is None:
            return _not_a_route(method, path)
        probe = probe_origin(
            client,
            ATTACKER_ORIGIN,
            path=route[1],
            preflight=None if method == "GET" else method,
        )
    kind = f"{method} {path}" if method == "GET" else f"the preflight for {method} {path}"
    if probe.readable:
        return Verdict(
            True,
            f"{kind} from {ATTACKER_ORIGIN} got Access-Control-Allow-Origin "
            f"{probe.allow_origin!r} with Allow-Credentials 'true': any page reads it "
            "with the visitor's cookies",
        )
    return Verdict(
        False,
        f"{kind} from {ATTACKER_ORIGIN} got Access-Control-Allow-Origin "
        f"{probe.allow_origin!r}: no credentialed cross-origin read there",
    )


def _replay_cors(patched: Target, findings: Findings) -> None:
    """10's origin battery and preflight checks, then the frontend's own read."""
    with patched.client() as client:
        response = client.get(PRODUCTS)
    if response.status_code >= 500:
        findings.fail(f"the shop answers {response.status_code}{fault(response)}")
        return
    try:
        cors_lab._battery(patched, findings)
        cors_lab._preflight(patched, findings)
        with patched.client() as client:
            token = _login(client)
            read = client.get(
                ACCOUNT, headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}"}
            )
    except (RuntimeError, AppBroken) as exc:
        findings.fail(str(exc))
        return
    findings.expect(
        read.status_code == 200
        and read.headers.get("access-control-allow-origin") == APP_ORIGIN
        and read.headers.get("access-control-allow-credentials") == "true",
        f"the shop's frontend {APP_ORIGIN} cannot read {ACCOUNT}: HTTP "
        f"{read.status_code}{fault(read)}, Access-Control-Allow-Origin "
        f"{read.headers.get('access-control-allow-origin')!r}",
        f"the frontend {APP_ORIGIN} still reads the customer's account",
    )


# -- no-https-redirect (09-encryption) -----------------------------------------------------
def _locate_https(target: Target, method: str, path: str) -> Verdict:
    plain_url = target.urls.get("http")
    if not plain_url:
        return Verdict(False, "this shop has no plain-HTTP listener (urls['http'])")
    with target.client() as client:
        route = _route(_document(client), method, path)
    if route is None:
        return _not_a_route(method, path)
    with httpx.Client(base_url=plain_url, trust_env=False, timeout=30.0) as plain:
        response = plain.request(method, route[1], json=None if method == "GET" else {})
    if response.is_redirect:
        return Verdict(
            False,
            f"{method} {plain_url}{route[1]} is redirected ({response.status_code} → "
            f"{response.headers.get('location', '')!r}): HTTPS is enforced there",
        )
    hsts = response.headers.get("strict-transport-security")
    return Verdict(
        True,
        f"{method} {plain_url}{route[1]} was answered over plain HTTP "
        f"({response.status_code}), not redirected: whatever it carries crosses the network "
        "in clear text" + ("" if hsts else ", and no HSTS tells the browser to use https"),
    )


def _replay_https(patched: Target, findings: Findings) -> None:
    """09's transport battery, verbatim."""
    encryption_lab._run(encryption_lab._transport_battery, patched, findings)


# -- no-length-limits (07-injection) -------------------------------------------------------
def _locate_length(target: Target, method: str, path: str) -> Verdict:
    with target.client() as client:
        document = _document(client)
        route = _route(document, method, path)
        if route is None:
            return _not_a_route(method, path)
        fields = _body_fields(document, method, route[0])
        texts = [name for name, kind in fields.items() if kind == "string"]
        if not texts:
            return Verdict(
                False,
                f"{method} {path} takes no text in a JSON body: mark the route that stores "
                "what a customer writes",
            )
        marker = f"length-probe-{secrets.token_hex(4)}:"
        big = marker + "A" * injection_lab.MIN_OVERSIZED_CHARS
        values = {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
        body = {name: big if k == "string" else values.get(k, big) for name, k in fields.items()}
        token = _login(client)
        response = client.request(
            method, route[1], json=body, headers={"Authorization": f"Bearer {token}"}
        )
        size = f"a {len(big):,}-character {' and '.join(texts)}"
        if not response.is_success:
            return Verdict(
                False,
                f"{method} {path} refused {size} ({response.status_code}{fault(response)})",
            )
        stored = _stored(client, marker)
    if not stored:
        return Verdict(False, f"{method} {path} accepted {size}, but did not store it")
    table, length = stored[0]
    return Verdict(
        True,
        f"{method} {path} accepted {size} ({response.status_code}) and stored "
        f"{length:,} characters in the {table} table: no limit anywhere",
    )


def _first_product(client: httpx.Client) -> int:
    response = client.get(PRODUCTS)
    if response.status_code != 200 or not response.json():
        raise AppBroken(f"GET {PRODUCTS} answered {response.status_code}{fault(response)}")
    return int(response.json()[0]["id"])


def _invalid_reviews(pid: int, tag: str) -> Iterator[tuple[str, Any, str]]:
    """07's wrong lengths and types, in a review's shape: ``(label, body, field)``."""

    def body(**fields: Any) -> dict[str, Any]:
        return {"productId": pid, "rating": 4, "text": f"{tag} fine", **fields}

    yield "a 2,001-character text", body(text=tag + "t" * (2001 - len(tag))), "text"
    yield "a 50,000-character text", body(text=tag + "t" * 50_000), "text"
    yield "an empty text", body(text=""), "text"
    yield "a text of spaces", body(text="    "), "text"
    yield "no text", {"productId": pid, "rating": 4}, "text"
    yield "text is a number", body(text=12345), "text"
    yield "text is a list", body(text=[tag]), "text"
    yield "text is an object", body(text={"$gt": tag}), "text"
    yield "rating 0", body(rating=0), "rating"
    yield "rating 6", body(rating=6), "rating"
    yield "rating is a word", body(rating="five"), "rating"
    yield "rating is the string '5'", body(rating="5"), "rating"
    yield "rating is a fraction", body(rating=4.5), "rating"
    yield "rating is a boolean", body(rating=True), "rating"
    yield "no rating", {"productId": pid, "text": f"{tag} no rating"}, "rating"
    yield "productId is a string", body(productId=str(pid)), "productId"
    yield "productId is a list", body(productId=[pid]), "productId"
    yield "a product that does not exist", body(productId=999_999), "productId"
    yield "no productId", {"rating": 4, "text": f"{tag} no product"}, "productId"
    yield "an extra 'verified' field", body(verified=True), "verified"


def _review_validation_battery(client: httpx.Client, findings: Findings) -> None:
    """07's validation battery on ``POST /api/reviews``: 400/422 naming the field."""
    pid, tag = _first_product(client), f"refused-{secrets.token_hex(4)}"
    problems = []
    big = {"productId": pid, "rating": 5, "text": tag + "x" * injection_lab.MIN_OVERSIZED_CHARS}
    response = client.post(REVIEWS, json=big)
    if response.status_code != 413 and not injection_lab._names_field(response, "text"):
        problems.append(
            f"a 1,000,000-character text got {response.status_code}{fault(response)}: refuse "
            "it (413 for the body, or 400 naming 'text')"
        )
    for label, body, field in _invalid_reviews(pid, tag):
        response = client.post(REVIEWS, json=body)
        if not injection_lab._names_field(response, field):
            problems.append(
                f"{label}: expected 400 with an error for {field!r}, got "
                f"{response.status_code}{fault(response)} {response.text[:80]}"
            )
    for label, body in (("a JSON list", [1, 2]), ("a JSON string", "hello")):
        response = client.post(REVIEWS, json=body)
        if response.status_code not in (400, 422) or "errors" not in response.text:
            problems.append(f"{label} as the body got {response.status_code}{fault(response)}")
    leaked = _stored(client, tag)
    if leaked:
        problems.append(f"{len(leaked)} refused review(s) were stored anyway")
    for problem in injection_lab._listed(problems):
        findings.fail(problem)
    if not problems:
        findings.saw(
            "a 1 MB text, and every wrong type, length, range and extra field: refused with "
            "field errors, nothing stored"
        )


def _post(client: httpx.Client, content: Any) -> httpx.Response | str:
    try:
        return client.post(REVIEWS, content=content, headers={"content-type": "application/json"})
    except httpx.TransportError as exc:  # the server may cut an upload off mid-stream
        return f"connection closed ({type(exc).__name__})"


def _review_body_limit_battery(client: httpx.Client, findings: Findings) -> None:
    """07's body size battery on ``POST /api/reviews``: 413 for 5 MB, declared or streamed."""
    pid, tag = _first_product(client), f"huge-{secrets.token_hex(4)}"
    declared = json.dumps(
        {"productId": pid, "rating": 5, "text": tag + "x" * injection_lab.BIG_BODY_BYTES}
    ).encode()
    response = _post(client, declared)
    status = response if isinstance(response, str) else response.status_code
    findings.expect(
        status == 413,
        f"a 5 MB body with Content-Length got {status}"
        f"{'' if isinstance(response, str) else fault(response)}: refuse it with 413",
        "a 5 MB body with Content-Length: 413 before it was read",
    )
    streamed = _post(client, injection_lab._chunks(injection_lab.BIG_BODY_BYTES))
    status = streamed if isinstance(streamed, str) else streamed.status_code
    findings.expect(
        status == 413 or isinstance(streamed, str),
        f"a 5 MB chunked body (no Content-Length) got {status}"
        f"{'' if isinstance(streamed, str) else fault(streamed)}: count the bytes as they "
        "arrive, Content-Length is only a claim",
        "a 5 MB chunked body: stopped while streaming",
    )
    padded = json.dumps({"productId": pid, "rating": 4, "text": "Padded but fine"})
    padded = padded[:-1] + " " * injection_lab.ACCEPTED_BODY_BYTES + "}"  # JSON allows spaces
    fine = _post(client, padded.encode())
    status = fine if isinstance(fine, str) else fine.status_code
    findings.expect(
        status == 201,
        f"a legitimate {len(padded) // 1024} KB review got {status}"
        f"{'' if isinstance(fine, str) else fault(fine)}: the limit is too tight",
        f"a {len(padded) // 1024} KB review body is still accepted",
    )
    findings.expect(not _stored(client, tag), "the 5 MB review was stored")


def _legit_review_battery(client: httpx.Client, findings: Findings) -> None:
    """Reviews a customer really writes are stored as written (trimmed at most)."""
    pid = _first_product(client)
    tag = secrets.token_hex(3)
    reviews = {
        "a 2,000-character text": (5, tag + "m" * (MAX_REVIEW_CHARS - len(tag))),
        "rating 1": (1, f"{tag} Leaked after one night. Not again."),
        "an apostrophe and an emoji": (5, f"{tag} Didn't expect it: très bien 👍"),
        "a one-character text": (3, tag[:1]),
    }
    problems, ids = [], {}
    for label, (rating, text) in reviews.items():
        response = client.post(REVIEWS, json={"productId": pid, "rating": rating, "text": text})
        if response.status_code != 201:
            problems.append(f"{label}: got {response.status_code}{fault(response)}")
            continue
        ids[label] = response.json().get("id")
    page = client.get(f"{PRODUCTS}/{pid}")
    shown = {r.get("id"): r for r in page.json().get("reviews", [])} if page.is_success else {}
    for label, review_id in ids.items():
        rating, text = reviews[label]
        stored = shown.get(review_id, {})
        if stored.get("rating") != rating or stored.get("text") not in (text, text.strip()):
            problems.append(f"{label}: the product page shows {str(stored)[:80] or 'nothing'}")
    for problem in problems:
        findings.fail(f"a legitimate review — {problem}")
    if not problems:
        findings.saw("legitimate reviews (2,000 characters, 1 character, emoji) are stored")


def _replay_length(patched: Target, findings: Findings) -> None:
    """07's oversized, wrong-type and body-size probes, on the shop's reviews."""
    with patched.client() as client:
        try:
            client.headers["Authorization"] = f"Bearer {_login(client)}"
        except AppBroken as exc:
            findings.fail(str(exc))
            return
        for battery in (
            _review_validation_battery,
            _review_body_limit_battery,
            _legit_review_battery,
        ):
            injection_lab._run(battery, client, findings)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="cors-wildcard",
        avoid="cors({ origin: '*' })",
        instead="Explicit allowed origins list",
        lab="10-cors",
        fixes=("cors_settings",),
        locate=_locate_cors,
        replay=_replay_cors,
        title="CORS: only the shop's frontend may read with credentials",
        hints=(
            "10-cors: send a request with Origin: https://evil.example.net and read the "
            "Access-Control-Allow-* headers of the answer.",
            "cors.probe_origin(lab.client, 'https://evil.example.net', path=...) says "
            "whether a page there could read it with the visitor's cookies.",
            "CORS is set for the whole app: any API route of the shop shows it.",
        ),
        fix_hints=(
            "Your cors_settings from 10-cors, unchanged: it is called with "
            f"['{APP_ORIGIN}'], the shop's frontend.",
            "allow_origins=list(trusted_origins), allow_credentials=True, "
            "allow_methods=['GET', 'PUT'], allow_headers=['Content-Type', 'Authorization'], "
            "max_age=600 — no '*', no regex, no 'null'.",
        ),
    ),
    AntiPattern(
        id="no-https-redirect",
        avoid="No HTTPS redirect",
        instead="Force HTTPS + HSTS header",
        lab="09-encryption",
        fixes=("effective_scheme", "security_headers"),
        locate=_locate_https,
        replay=_replay_https,
        title="HTTPS only: redirect plain HTTP, send HSTS over HTTPS",
        hints=(
            "lab.urls['http'] is the same shop on plain HTTP. What does it answer?",
            "httpx.get(lab.urls['http'] + '/api/status', follow_redirects=False): a 200 there "
            "means nothing sends the browser to HTTPS.",
        ),
        fix_hints=(
            "Your effective_scheme and security_headers from 09-encryption: the shop "
            "redirects (308) every request whose effective scheme is not https.",
            "effective_scheme: believe X-Forwarded-Proto only when peer is in "
            "trusted_proxies (its last value); else return scheme.",
            "security_headers: {'Strict-Transport-Security': 'max-age=31536000; "
            "includeSubDomains'} for https, {} for http (RFC 6797 §7.2).",
        ),
    ),
    AntiPattern(
        id="no-length-limits",
        avoid="No input length limits",
        instead="Max length on all string inputs",
        lab="07-injection",
        fixes=("validate_review", "body_too_large"),
        locate=_locate_length,
        replay=_replay_length,
        title="Length limits: validate every review, cap every request body",
        hints=(
            "Which route stores free text a customer writes?",
            "Log in (any seeded account), then post a review whose text is a million "
            "characters — and look at the product page.",
        ),
        fix_hints=(
            "validate_review: 07's validate_user with another schema — a pydantic model "
            "(strict, extra='forbid'): productId int >= 1, rating int 1..5, text trimmed, "
            "1..2000 characters; return (model.model_dump(), None) or (None, errors).",
            "body_too_large: your 07 function, unchanged (64 KiB is plenty for a review).",
            "Errors: {'formErrors': [...], 'fieldErrors': {'text': [...]}} — name the field.",
        ),
    ),
)
