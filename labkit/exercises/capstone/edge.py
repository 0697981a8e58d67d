"""Checks for BrokenShop's edge: CORS (lab 10), HTTPS (lab 09), input length (lab 07).

Each row's ``replay`` runs the battery of the lab that taught it against a patched shop:

- ``cors-wildcard``: 10's ``_battery`` and ``_preflight`` verbatim — the shop honours 10's
  route contract (``GET``/``PUT /api/account``, ``/api/_lab/victim``, the frontend
  ``https://app.example.com``) — their problems retagged with this row's rules, plus
  generated hostile origins (subdomains, ports, look-alikes, developers' localhost) and the
  frontend reading the account with its token.
- ``no-https-redirect``: 09's transport battery, adapted (``GET /api/status``, the plain
  listener, the proxy at 127.0.0.2): ordinary clients from generated addresses, and
  generated ``X-Forwarded-Proto`` chains from the proxy (one list or several lines) whose
  last value decides.
- ``no-length-limits``: 07's validation and body-size batteries post to 07's ``/api/users``
  and read 07's ``/api/_lab/dump``, which the shop does not have: the same probes (a 1 MB
  field, wrong types, lengths and nulls, bodies over 1 MiB with and without
  ``Content-Length``, the longest valid review) are sent to ``POST /api/reviews`` with
  generated values, and what was stored is read from the shop's ``/api/_lab/breach``.
"""

from __future__ import annotations

import json
import random
import secrets
import ssl
import string
from collections.abc import Iterator
from typing import Any

import httpx

from labkit.attacks.cors import probe_origin
from labkit.exercises.capstone.antipattern import AntiPattern, fault, replay_battery, retag
from labkit.exercises.check import Findings, Target
from labkit.exercises.labs import cors as cors_lab
from labkit.exercises.labs.encryption import PROXY_ADDRESS, proxy_address_usable
from labkit.exercises.labs.injection import _names_field  # 07's field-error test
from labkit.exercises.rules import Rule

__all__ = ["ANTI_PATTERNS"]

ACCOUNT, PRODUCTS, REVIEWS = "/api/account", "/api/products", "/api/reviews"
ACCOUNTS, BREACH, LOGIN = "/api/_lab/accounts", "/api/_lab/breach", "/api/auth/login"
APP_ORIGIN = cors_lab.APP_ORIGIN
#: The customer who writes the reviews in the checks (a seeded account).
REVIEWER = "carol@example.com"
MAX_REVIEW_CHARS = 2000
STATUS = "/api/status"
HSTS_MAX_AGE = 31_536_000
REDIRECTS = (301, 308)
#: 07's probes: a text of a million characters; bodies up to 5 MB. A body cap may be anything
#: from MIN_BODY_CAP (the longest valid review, 2,000 emoji escaped as JSON, is ~24 KB) to
#: MAX_BODY_CAP.
MIN_OVERSIZED_CHARS = 1_000_000
BIG_BODY_BYTES = 5 * 1024 * 1024
MIN_BODY_CAP = 32 * 1024
MAX_BODY_CAP = 1024 * 1024
EMOJI = "👍🎉🔐😀🚀🌍🍕🎸"
MAX_LISTED = 6


# -- helpers -------------------------------------------------------------------------------
class AppBroken(Exception):
    """The shop cannot serve the battery at all (it cannot even log a customer in)."""


def _run(battery: Any, client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Run a battery; a shop too broken to start it is one problem, not a crash."""
    try:
        battery(client, findings, rng)
    except AppBroken as exc:
        findings.fail(str(exc))


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"...and {len(problems) - MAX_LISTED} more"]


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A review body of about ``total`` bytes, streamed without Content-Length."""
    yield b'{"productId": 1, "rating": 5, "text": "'
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size
    yield b'"}'


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
CORS_RULES = (
    Rule(
        "exact-origins",
        "Allow exactly the origins passed in trusted_origins (here https://app.example.com): "
        "any other — another scheme, port or subdomain, a look-alike, a developer's "
        "localhost, 'null' — gets no Access-Control-Allow-Origin. No '*', no regex.",
    ),
    Rule(
        "credentials",
        "Let the trusted frontend read with the customer's credentials: its own origin "
        "echoed, Access-Control-Allow-Credentials: true, and Vary: Origin.",
    ),
    Rule(
        "preflight",
        "Pass the frontend's preflight for GET and PUT with Content-Type and Authorization, "
        "and nothing more (no DELETE or PATCH, no other header), cached for at most a day.",
    ),
)
_CORS_IDS = frozenset(r.id for r in CORS_RULES)
#: Where developers' frontends run (Vite, React, Angular, Django...): left-in allowlist
#: entries.
DEV_PORTS = (3000, 4200, 5173, 8000, 8080)


def _hostile_origins(rng: random.Random) -> list[str]:
    """Origins a browser could send that are not the frontend (generated per run)."""
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))
    port = rng.choice([444, 3000, 5173, 8080, 8443])
    developers = [f"http://{host}:{p}" for host in ("localhost", "127.0.0.1")
                  for p in DEV_PORTS]  # fmt: skip
    return [
        f"https://{word}.example.com",
        f"https://{word}.app.example.com",
        f"https://app.example.com.{word}.net",
        f"https://{word}-app.example.com",
        "http://app.example.com",
        f"https://app.example.com:{port}",
        *developers,
        *(f"https://{name}.example.com" for name in ("staging", "dev", "admin", "beta", "www")),
        f"https://{word}.example.net",
        "null",
    ]


def _origin_sweep(patched: Target, findings: Findings, rng: random.Random) -> None:
    """Generated hostile origins, each with a GET and a PUT preflight: none may read."""
    allowed = []
    with patched.client() as client:
        for origin in _hostile_origins(rng):
            for preflight in (None, "PUT"):
                probe = probe_origin(client, origin, path=ACCOUNT, preflight=preflight)
                if probe.allow_origin is not None:
                    allowed.append(f"{origin} ({'preflight' if preflight else 'GET'}: "
                                   f"{probe.allow_origin!r})")  # fmt: skip
    findings.expect(
        not allowed,
        f"origins that are not the frontend were allowed: {'; '.join(allowed[:4])} — allow "
        "exactly the trusted list",
        "generated look-alike, subdomain, port, scheme and localhost origins: none allowed",
        rule="exact-origins",
    )


def _replay_cors(patched: Target, findings: Findings, rng: random.Random) -> None:
    """10's origin battery and preflight checks, generated hostile origins, then the
    frontend's own read."""
    with patched.client() as client:
        response = client.get(PRODUCTS)
    if response.status_code >= 500:
        findings.fail(f"the shop answers {response.status_code}{fault(response)}",
                      rule="credentials")  # fmt: skip
        return
    try:
        with retag(findings, _CORS_IDS, "exact-origins"):
            replay_battery(cors_lab._battery, patched, findings, rng)
        with retag(findings, _CORS_IDS, "preflight"):
            replay_battery(cors_lab._preflight, patched, findings, rng)
        _origin_sweep(patched, findings, rng)
        with patched.client() as client:
            token = _login(client)
            read = client.get(
                ACCOUNT, headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}"}
            )
    except (RuntimeError, AppBroken) as exc:
        findings.fail(str(exc), rule="credentials")
        return
    findings.expect(
        read.status_code == 200
        and read.headers.get("access-control-allow-origin") == APP_ORIGIN
        and read.headers.get("access-control-allow-credentials") == "true",
        f"the shop's frontend {APP_ORIGIN} cannot read {ACCOUNT}: HTTP "
        f"{read.status_code}{fault(read)}, Access-Control-Allow-Origin "
        f"{read.headers.get('access-control-allow-origin')!r}",
        f"the frontend {APP_ORIGIN} still reads the customer's account",
        rule="credentials",
    )


# -- no-https-redirect (09-encryption) -----------------------------------------------------
HTTPS_RULES = (
    Rule(
        "redirect-plain",
        "Redirect every plain-HTTP request (308, or 301) to the same path and query on the "
        "HTTPS origin — whatever X-Forwarded-Proto an ordinary client sends.",
    ),
    Rule(
        "trusted-proxy",
        "Believe X-Forwarded-Proto only when the peer is a trusted proxy (127.0.0.2), and "
        "then only its last value, the one that proxy appended: 'https, http' came over "
        "plain HTTP, 'http, https' over HTTPS.",
    ),
    Rule(
        "hsts",
        f"Send Strict-Transport-Security with max-age at least {HSTS_MAX_AGE} and "
        "includeSubDomains on every HTTPS answer (also those the proxy forwards as https), "
        "and never over plain HTTP (RFC 6797 §7.2).",
    ),
)


def _hsts_ok(value: str | None) -> bool:
    """``max-age`` of at least a year and ``includeSubDomains`` (09's floor)."""
    if not value:
        return False
    parts = [p.strip().lower() for p in value.split(";")]
    ages = [p.split("=", 1)[1].strip().strip('"') for p in parts if p.startswith("max-age=")]
    return (
        bool(ages)
        and ages[0].isdigit()
        and int(ages[0]) >= HSTS_MAX_AGE
        and ("includesubdomains" in parts)
    )


#: For a transport that only speaks plain HTTP: verification on and no CA trusted, so any
#: TLS would fail — and no system CA bundle loaded for each new transport (~20-100 ms).
_NO_CA = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _plain(target: Target, address: str | None = None) -> httpx.Client:
    """A client of the plain-HTTP listener (no redirects followed) from ``address``; its 5xx
    answers count as crashes of ``target``."""
    plain = Target(target.urls["http"], target.urls, target.ca_pem, crashes=target.crashes)
    if address is None:
        return plain.client()
    return plain.client(transport=httpx.HTTPTransport(local_address=address, verify=_NO_CA))


def _chains(rng: random.Random) -> list[tuple[list[str], bool]]:
    """X-Forwarded-Proto as the proxy passes it on: what the client claimed (junk), then
    the proxy's own value, as one list or as separate header lines; ``True``: served."""
    chains: list[tuple[list[str], bool]] = [(["https"], True), (["http"], False)]
    for own in ("https", "http", "https", "http"):
        claimed = rng.choices(["https", "http"], k=rng.randint(1, 2))
        if own == "http":
            claimed[0] = "https"  # the client lies: 'https, ..., http' came over plain HTTP
        chains.append(([*claimed, own], own == "https"))
    return chains


def _replay_https(patched: Target, findings: Findings, rng: random.Random) -> None:
    """09's transport battery, adapted: the redirect, HSTS over HTTPS only, X-Forwarded-Proto
    from ordinary clients (generated addresses) and from the trusted proxy (generated
    chains of values, as one list or several header lines)."""
    origin = patched.url
    with patched.client() as client:
        secure = client.get(STATUS)
    hsts = secure.headers.get("strict-transport-security")
    if not findings.expect(
        secure.status_code == 200,
        f"GET {STATUS} over HTTPS got {secure.status_code}{fault(secure)}",
        "HTTPS works with the lab CA's certificate",
        rule="redirect-plain",
    ):
        return
    findings.expect(
        _hsts_ok(hsts),
        f"over HTTPS the Strict-Transport-Security header is {hsts!r}: send "
        f"'max-age={HSTS_MAX_AGE}; includeSubDomains'",
        f"HTTPS answers carry Strict-Transport-Security: {hsts}",
        rule="hsts",
    )
    page = rng.randint(2, 99)
    ordinary = f"127.{rng.randint(40, 239)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"
    with _plain(patched, ordinary) as plain:
        redirected = plain.get(f"{STATUS}?page={page}")
        spoofed = {
            value: plain.get(STATUS, headers={"X-Forwarded-Proto": value})
            for value in ("https", "http, https", "https, https")
        }
    location = redirected.headers.get("location", "")
    findings.expect(
        redirected.status_code in REDIRECTS and location == f"{origin}{STATUS}?page={page}",
        f"plain HTTP got {redirected.status_code}{fault(redirected)} → {location!r}: "
        "redirect to the HTTPS origin, same path and query",
        f"plain HTTP is redirected ({redirected.status_code}) to {location}",
        rule="redirect-plain",
    )
    findings.expect(
        "strict-transport-security" not in redirected.headers,
        "HSTS is sent over plain HTTP: RFC 6797 §7.2 forbids it (browsers ignore it there)",
        "no HSTS header over plain HTTP (RFC 6797 §7.2)",
        rule="hsts",
    )
    for value, response in spoofed.items():
        findings.expect(
            response.status_code in REDIRECTS,
            f"a client ({ordinary}, not the proxy) sent X-Forwarded-Proto: {value} over plain "
            f"HTTP and was served ({response.status_code}{fault(response)}): trust the header "
            "only from the configured proxy",
            rule="trusted-proxy",
        )
    findings.saw(f"X-Forwarded-Proto from an ordinary client ({ordinary}): still redirected")
    if not proxy_address_usable():
        findings.saw(f"(skipped the load-balancer test: {PROXY_ADDRESS} is not local here)")
        return
    with _plain(patched, PROXY_ADDRESS) as proxy:
        for chain, served in _chains(rng):
            split = rng.random() < 0.5
            headers = (
                [("X-Forwarded-Proto", value) for value in chain]
                if split
                else [("X-Forwarded-Proto", ", ".join(chain))]
            )
            got = proxy.get(STATUS, headers=headers)
            shown = f"X-Forwarded-Proto: {', '.join(chain)}" + (" (one line each)" if split else "")
            if served:
                findings.expect(
                    got.status_code == 200,
                    f"the proxy ({PROXY_ADDRESS}) forwarded an HTTPS request ({shown}) and got "
                    f"{got.status_code}{fault(got)}: its last value says https",
                    rule="trusted-proxy",
                )
                findings.expect(
                    got.status_code != 200
                    or _hsts_ok(got.headers.get("strict-transport-security")),
                    f"the proxy's HTTPS request ({shown}) was served without HSTS",
                    rule="hsts",
                )
            else:
                findings.expect(
                    got.status_code in REDIRECTS,
                    f"the proxy ({PROXY_ADDRESS}) forwarded a plain-HTTP request ({shown}) "
                    f"and it was served ({got.status_code}{fault(got)}): the last value is "
                    "the proxy's own — the first ones are whatever the client wrote",
                    rule="trusted-proxy",
                )
    findings.saw(
        "the proxy's X-Forwarded-Proto: its last value decides (https served, http redirected)"
    )


# -- no-length-limits (07-injection) -------------------------------------------------------
def _first_product(client: httpx.Client) -> int:
    response = client.get(PRODUCTS)
    if response.status_code != 200 or not response.json():
        raise AppBroken(f"GET {PRODUCTS} answered {response.status_code}{fault(response)}")
    return int(response.json()[0]["id"])


LENGTH_RULES = (
    Rule(
        "review-schema",
        "Accept a review only as {productId: integer >= 1 of an existing product, rating: "
        "integer 1 to 5, text: string} with no other field and no coercion ('5', 4.5, true, "
        "null are refused): 400 with errors naming the field, and nothing stored.",
    ),
    Rule(
        "text-length",
        f"Trim the text and accept 1 to {MAX_REVIEW_CHARS} characters: a longer, empty or "
        "blank text is refused with 400 naming 'text' (or 413 when the body is over your cap).",
    ),
    Rule(
        "body-cap",
        "Cap every request body at a limit between 32 KiB and 1 MiB, counted as bytes arrive "
        "(a chunked body declares no length): 413 beyond it, nothing stored; the longest "
        "valid review (2,000 emoji, about 24 KB as escaped JSON) still fits.",
    ),
    Rule(
        "reviews-work",
        f"Store legitimate reviews as written (trimmed at most): {MAX_REVIEW_CHARS} "
        "characters, one character, emoji and apostrophes.",
    ),
)


def _invalid_reviews(pid: int, tag: str, rng: random.Random) -> Iterator[tuple[str, Any, str, str]]:
    """07's wrong lengths and types, in a review's shape, with generated values:
    ``(label, body, field, rule)``."""

    def body(**fields: Any) -> dict[str, Any]:
        return {"productId": pid, "rating": 4, "text": f"{tag} fine", **fields}

    over = rng.randint(MAX_REVIEW_CHARS + 1, MAX_REVIEW_CHARS + 3000)
    huge = rng.randint(20_000, 60_000)
    low, high = rng.choice([0, -1]), rng.randint(6, 100)
    long_text = tag + "t" * (over - len(tag))
    yield f"a {over:,}-character text", body(text=long_text), "text", "text-length"
    yield f"a {huge:,}-character text", body(text=tag + "t" * huge), "text", "text-length"
    yield "an empty text", body(text=""), "text", "text-length"
    yield "a text of spaces", body(text=" " * rng.randint(1, 9)), "text", "text-length"
    yield "no text", {"productId": pid, "rating": 4}, "text", "review-schema"
    yield "text is a number", body(text=rng.randint(1, 99999)), "text", "review-schema"
    yield "text is a list", body(text=[tag]), "text", "review-schema"
    yield "text is an object", body(text={"$gt": tag}), "text", "review-schema"
    yield "text is null", body(text=None), "text", "review-schema"
    yield f"rating {low}", body(rating=low), "rating", "review-schema"
    yield f"rating {high}", body(rating=high), "rating", "review-schema"
    yield "rating is a word", body(rating="five"), "rating", "review-schema"
    digit = rng.randint(1, 5)
    yield f"rating is the string '{digit}'", body(rating=str(digit)), "rating", "review-schema"
    fraction = rng.choice([1.5, 2.5, 4.5])
    yield "rating is a fraction", body(rating=fraction), "rating", "review-schema"
    yield "rating is a boolean", body(rating=True), "rating", "review-schema"
    yield "rating is null", body(rating=None), "rating", "review-schema"
    yield "no rating", {"productId": pid, "text": f"{tag} no rating"}, "rating", "review-schema"
    yield "productId 0", body(productId=0), "productId", "review-schema"
    yield "productId is a string", body(productId=str(pid)), "productId", "review-schema"
    yield "productId is a list", body(productId=[pid]), "productId", "review-schema"
    yield "productId is null", body(productId=None), "productId", "review-schema"
    missing = rng.randint(100_000, 999_999)
    yield "a product that does not exist", body(productId=missing), "productId", "review-schema"
    yield "no productId", {"rating": 4, "text": f"{tag} no product"}, "productId", "review-schema"
    extra = rng.choice(["verified", "author", "helpful", "userId"])
    yield f"an extra {extra!r} field", body(**{extra: True}), extra, "review-schema"


def _review_validation_battery(
    client: httpx.Client, findings: Findings, rng: random.Random
) -> None:
    """07's validation battery on ``POST /api/reviews``: 400/422 naming the field."""
    pid, tag = _first_product(client), f"refused-{secrets.token_hex(4)}"
    problems: dict[str, list[str]] = {"text-length": [], "review-schema": []}
    big = {"productId": pid, "rating": 5, "text": tag + "x" * MIN_OVERSIZED_CHARS}
    response = client.post(REVIEWS, json=big)
    if response.status_code != 413 and not _names_field(response, "text"):
        problems["text-length"].append(
            f"a 1,000,000-character text got {response.status_code}{fault(response)}: refuse "
            "it (413 for the body, or 400 naming 'text')"
        )
    for label, body, field, rule in _invalid_reviews(pid, tag, rng):
        response = client.post(REVIEWS, json=body)
        capped = response.status_code == 413 and len(json.dumps(body)) > MIN_BODY_CAP
        if not (_names_field(response, field) or capped):
            problems[rule].append(
                f"{label}: expected 400 with an error for {field!r}, got "
                f"{response.status_code}{fault(response)} {response.text[:80]}"
            )
    for label, body in (("a JSON list", [1, 2]), ("a JSON string", "hello"), ("null", None)):
        response = client.post(REVIEWS, content=json.dumps(body),
                               headers={"content-type": "application/json"})  # fmt: skip
        if response.status_code not in (400, 422) or "errors" not in response.text:
            problems["review-schema"].append(
                f"{label} as the body got {response.status_code}{fault(response)}"
            )
    leaked = _stored(client, tag)
    if leaked:
        problems["review-schema"].append(f"{len(leaked)} refused review(s) were stored anyway")
    for rule, found in problems.items():
        for problem in _listed(found):
            findings.fail(problem, rule=rule)
    if not any(problems.values()):
        findings.saw(
            "a 1 MB text, and every wrong type, length, range and extra field: refused with "
            "field errors, nothing stored"
        )


def _post(client: httpx.Client, content: Any) -> httpx.Response | str:
    try:
        return client.post(REVIEWS, content=content, headers={"content-type": "application/json"})
    except httpx.TransportError as exc:  # the server may cut an upload off mid-stream
        return f"connection closed ({type(exc).__name__})"


def _review_body_limit_battery(
    client: httpx.Client, findings: Findings, rng: random.Random
) -> None:
    """07's body size battery on ``POST /api/reviews``: 413 past the cap, declared or
    streamed (generated sizes above 1 MiB); the longest valid review still accepted."""
    pid, tag = _first_product(client), f"huge-{secrets.token_hex(4)}"
    size = rng.randint(MAX_BODY_CAP + MAX_BODY_CAP // 2, BIG_BODY_BYTES)
    declared = json.dumps({"productId": pid, "rating": 5, "text": tag + "x" * size}).encode()
    response = _post(client, declared)
    status = response if isinstance(response, str) else response.status_code
    mb = f"{size / 1024 / 1024:.1f} MB"
    findings.expect(
        status == 413,
        f"a {mb} body with Content-Length got {status}"
        f"{'' if isinstance(response, str) else fault(response)}: refuse it with 413",
        f"a {mb} body with Content-Length: 413 before it was read",
        rule="body-cap",
    )
    chunked = rng.randint(MAX_BODY_CAP + MAX_BODY_CAP // 2, BIG_BODY_BYTES)
    streamed = _post(client, _chunks(chunked))
    status = streamed if isinstance(streamed, str) else streamed.status_code
    findings.expect(
        status == 413 or isinstance(streamed, str),
        f"a chunked body over 1 MiB (no Content-Length) got {status}"
        f"{'' if isinstance(streamed, str) else fault(streamed)}: count the bytes as they "
        "arrive, Content-Length is only a claim",
        "a chunked body over 1 MiB: stopped while streaming",
        rule="body-cap",
    )
    text = "".join(rng.choices(EMOJI, k=MAX_REVIEW_CHARS - 1)) + "!"
    longest = json.dumps({"productId": pid, "rating": 4, "text": text}).encode()  # \ud83d...
    fine = _post(client, longest)
    status = fine if isinstance(fine, str) else fine.status_code
    kb = f"{len(longest) / 1000:.0f} KB"
    findings.expect(
        status == 201,
        f"the longest valid review ({MAX_REVIEW_CHARS:,} emoji, {kb} as escaped JSON) got "
        f"{status}{'' if isinstance(fine, str) else fault(fine)}: the cap is too tight "
        "(32 KiB at least)",
        f"the longest valid review ({kb} of escaped JSON) is accepted",
    )
    findings.expect(not _stored(client, tag), "the oversized review was stored", rule="body-cap")


def _legit_review_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Reviews a customer really writes are stored as written (trimmed at most)."""
    pid = _first_product(client)
    tag = secrets.token_hex(3)
    words = ["Great", "value", "didn't", "last", "très", "bien", "👍", "5/5", "O'Brien's", "🎉"]
    picked = rng.choices(words, k=rng.randint(3, 12))
    # Always one character html.escape would change: escaping belongs on output.
    picked.insert(rng.randint(0, len(picked)), rng.choice(["O'Brien's", "<3", "A&B", '"wow"']))
    mixed = " ".join(picked)
    reviews = {
        f"a {MAX_REVIEW_CHARS:,}-character text": (5, tag + "m" * (MAX_REVIEW_CHARS - len(tag))),
        "rating 1": (1, f"{tag} Leaked after one night. Not again."),
        "an apostrophe, &, < or quotes": (rng.randint(1, 5), f"{tag} {mixed}"),
        "padded with spaces": (rng.randint(1, 5), f"  {tag} fine  "),
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
        findings.fail(f"a legitimate review — {problem}", rule="reviews-work")
    if not problems:
        findings.saw("legitimate reviews (2,000 characters, 1 character, emoji) are stored")


def _replay_length(patched: Target, findings: Findings, rng: random.Random) -> None:
    """07's oversized, wrong-type and body-size probes, on the shop's reviews."""
    with patched.client() as client:
        try:
            client.headers["Authorization"] = f"Bearer {_login(client)}"
        except AppBroken as exc:
            findings.fail(str(exc), rule="reviews-work")
            return
        for battery, rule in (
            (_review_validation_battery, "review-schema"),
            (_review_body_limit_battery, "body-cap"),
            (_legit_review_battery, "reviews-work"),
        ):
            with findings.rule(rule):
                _run(battery, client, findings, rng)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="cors-wildcard",
        avoid="cors({ origin: '*' })",
        instead="Explicit allowed origins list",
        lab="10-cors",
        fixes=("cors_settings",),
        replay=_replay_cors,
        rules=CORS_RULES,
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
        replay=_replay_https,
        rules=HTTPS_RULES,
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
        replay=_replay_length,
        rules=LENGTH_RULES,
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
            "body_too_large: your 07 function, with a cap from 32 KiB to 1 MiB (64 KiB is "
            "plenty; 07's 16 KiB is too small for 2,000 emoji escaped as JSON).",
            "Errors: {'formErrors': [...], 'fieldErrors': {'text': [...]}} — name the field.",
        ),
    ),
)
