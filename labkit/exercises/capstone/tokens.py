"""Checks for BrokenShop's tokens part: jwt-in-localstorage, symmetric-jwt, hardcoded-secret.

Each battery judges only HTTP answers of the shop (and of its ``shipping`` service). 02-jwt's
cookie battery is replayed as it is (the shop honours 02's login and refresh-cookie
contract); its token battery needs 02's ``/api/me`` and ``/api/admin/users``,
so :func:`replay_symmetric` replays the same attacks (:mod:`labkit.attacks.jwt`) against the
shop's admin route and the shipping service instead. 08's fail-fast idea is replayed through
the shop's ``/api/_lab/boot`` with ``PAYMENT_WEBHOOK_SECRET``; the source is read with 08's
scanner (:func:`labkit.attacks.secret_scan.scan_text`).
"""

from __future__ import annotations

import json
import random
import string
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from labkit.attacks.jwt import (
    decode_unverified,
    flip_signature_bit,
    forge,
    new_rsa_key,
    rsa_jwk,
    tamper,
    with_signature,
)
from labkit.attacks.secret_scan import Finding, scan_text
from labkit.exercises.capstone.antipattern import AntiPattern, fault
from labkit.exercises.check import Findings, Target
from labkit.exercises.labs.jwt import parse_set_cookie
from labkit.exercises.rules import Rule
from labkit.patterns.webhooks import sign_webhook
from labkit.sandbox.apps.shop.tokens import AUDIENCE, ISSUER

__all__ = ["ANTI_PATTERNS", "replay_secret", "replay_storage", "replay_symmetric"]

LOGIN, REFRESH = "/api/auth/login", "/api/auth/refresh"
ORDERS, ADMIN_ORDERS, WEBHOOK = "/api/orders", "/api/admin/orders", "/api/webhooks/payment"
SHIPMENTS, DEBUG_CONFIG = "/api/shipments", "/debug/config"
SECRET_ENV = "PAYMENT_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
NONE_CASINGS = ("none", "None", "NONE", "nOnE")
MAX_COOKIE_AGE = 7 * 24 * 3600
ACCESS_MAX_S, REFRESH_MAX_S, LEEWAY_MAX_S = 15 * 60, 7 * 24 * 3600, 30
ASYMMETRIC = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "EdDSA")


# -- helpers -------------------------------------------------------------------------------
def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: httpx.Client, role: str) -> httpx.Response:
    account = next(a for a in client.get("/api/_lab/accounts").json() if a["role"] == role)
    return client.post(LOGIN, json={"email": account["email"], "password": account["password"]})


def _refresh_cookie(response: httpx.Response) -> str | None:
    """The value of the refresh cookie ``response`` sets (whatever its name), or None."""
    found = _set_cookie(response)
    return found[1] if found else None


def _set_cookie(response: httpx.Response) -> tuple[str, str, dict[str, str | None], str] | None:
    """``(name, value, attributes, header)`` of the first cookie with a value the response
    sets: the shop's only cookie is the refresh token's, under the name the learner chose."""
    for header in response.headers.get_list("set-cookie"):
        name, value, attributes = parse_set_cookie(header)
        if name and value:
            return name, value, attributes, header
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# -- jwt-in-localstorage (02-jwt) ----------------------------------------------------------
STORAGE_RULES = (
    Rule(
        "cookie-carries-token",
        "Return one Set-Cookie value that carries the refresh token exactly as given, under "
        "a name of your choice (refreshToken, __Secure-refresh...): the shop sends it at login "
        "and refresh, answers only {'accessToken'} in JSON and reads the token back from that "
        "cookie only.",
    ),
    Rule("httponly", "Mark the cookie HttpOnly: no script reads it."),
    Rule("secure", "Mark the cookie Secure: it never travels over plain HTTP."),
    Rule(
        "samesite",
        "Give the cookie SameSite=Strict (Lax is tolerated: refresh is a POST); never None.",
    ),
    Rule(
        "cookie-scope",
        "Send it only to the refresh route: Path=/api/auth/refresh, and no Domain attribute.",
    ),
    Rule(
        "cookie-lifetime",
        f"Let it expire within seven days: Max-Age from 1 to {MAX_COOKIE_AGE} (or an Expires "
        "date at most seven days ahead).",
    ),
)


def _lifetime(attributes: dict[str, str | None]) -> float | None:
    """Seconds the cookie lives (Max-Age wins over Expires, RFC 6265 §5.3), None if unsaid."""
    max_age = attributes.get("max-age")
    if max_age is not None:
        try:
            return int(max_age)
        except ValueError:
            return None
    expires = attributes.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return None
        return (when - datetime.now(UTC)).total_seconds()
    return None


def _cookie_attributes(header: str, attributes: dict[str, str | None], f: Findings) -> None:
    """02's cookie battery, for a cookie of any name: the attributes the rules ask for."""
    shown = f"(got: {header.split(';', 1)[-1].strip()!r})"
    f.expect("httponly" in attributes, f"the refresh cookie is not HttpOnly {shown}",
             "cookie: HttpOnly", rule="httponly")  # fmt: skip
    f.expect("secure" in attributes, f"the refresh cookie is not Secure {shown}",
             "cookie: Secure", rule="secure")  # fmt: skip
    same_site = (attributes.get("samesite") or "").lower()
    f.expect(
        same_site in ("strict", "lax"),
        f"the refresh cookie has SameSite={same_site or '(none)'} {shown}: Strict",
        f"cookie: SameSite={same_site}",
        rule="samesite",
    )
    f.expect(
        attributes.get("path") == REFRESH and "domain" not in attributes,
        f"the refresh cookie goes to Path={attributes.get('path')!r}"
        + (f", Domain={attributes.get('domain')!r}" if "domain" in attributes else "")
        + f": send it only to Path={REFRESH}, without Domain",
        f"cookie: Path={REFRESH}, no Domain",
        rule="cookie-scope",
    )
    life = _lifetime(attributes)
    f.expect(
        life is not None and 0 < life <= MAX_COOKIE_AGE + 60,
        f"the refresh cookie lives {'unsaid' if life is None else f'{life:.0f} s'} {shown}: "
        f"Max-Age from 1 to {MAX_COOKIE_AGE}",
        f"cookie: expires within {MAX_COOKIE_AGE} s",
        rule="cookie-lifetime",
    )


def replay_storage(patched: Target, findings: Findings, rng: random.Random) -> None:
    """02's cookie battery (any cookie name), then: no refresh token in any body, refresh
    reads only the cookie, and refreshing with the cookie still works (and rotates) — for
    two customers, so a cookie that does not carry each one's own token shows."""
    with findings.rule("cookie-carries-token"), patched.client() as client:
        roles = ("viewer", "admin")
        logins = {role: _login(client, role) for role in roles}
        client.cookies.clear()
        for role, login in logins.items():
            if not findings.expect(
                login.status_code == 200,
                f"logging in as the {role} got {login.status_code}{fault(login)}",
            ):
                return
        extra = sorted(set(_json(logins["viewer"])) - {"accessToken"})
        findings.expect(
            not extra,
            f"the login body still carries {', '.join(extra)}: a page script (and any XSS) "
            "reads whatever the JSON carries — send the refresh token only as the cookie",
            "login body: accessToken only (kept in memory)",
        )
        set_cookies = {role: _set_cookie(login) for role, login in logins.items()}
        viewer = set_cookies["viewer"]
        if not findings.expect(
            viewer is not None,
            "the login sets no cookie with a value: return 'name=<token>; attributes...'",
        ):
            return
        assert viewer is not None
        name, cookie, attributes, header = viewer
        _cookie_attributes(header, attributes, findings)
        admin = set_cookies["admin"]
        findings.expect(
            admin is not None and admin[1] != cookie,
            "two customers' logins set the same refresh cookie: it must carry each token",
        )
        from_body = client.post(REFRESH, json={"refreshToken": cookie})
        findings.expect(
            400 <= from_body.status_code < 500,
            f"refresh with the token in a JSON body (no cookie) got {from_body.status_code}"
            f"{fault(from_body)}: read the refresh token from the cookie only",
            "refresh from a JSON body refused",
        )
        rotated = client.post(REFRESH, headers={"Cookie": f"{name}={cookie}"})
        new_cookie, access = _refresh_cookie(rotated), _json(rotated).get("accessToken")
        if not findings.expect(
            rotated.status_code == 200 and new_cookie is not None and isinstance(access, str),
            f"refresh with the cookie {name} got {rotated.status_code}{fault(rotated)}: the "
            "cookie must carry the refresh token itself, and refresh must answer "
            "{'accessToken'} and set a new cookie",
            f"refresh with the cookie {name}: a new access token and a new cookie",
        ):
            return
        findings.expect(new_cookie != cookie, "refresh returned the same refresh token")
        orders = client.get(ORDERS, headers=_bearer(str(access)))
        findings.expect(
            orders.status_code == 200,
            f"the refreshed access token got {orders.status_code} at {ORDERS}{fault(orders)}",
            "the refreshed access token works",
        )


# -- symmetric-jwt (02-jwt) ----------------------------------------------------------------
def _shipping(target: Target) -> Target | None:
    url = target.urls.get("shipping")
    return Target(url) if url else None


def _leaked(shipping: Target) -> dict[str, str]:
    """Every string of the shipping service's ``/debug/config`` (16+ characters), by name."""
    with shipping.client() as client:
        response = client.get(DEBUG_CONFIG)
    found: dict[str, str] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, str(key))
        elif isinstance(value, list):
            for item in value:
                walk(item, name)
        elif isinstance(value, str) and len(value) >= 16:
            found.setdefault(name, value)

    walk(_json(response) if response.status_code == 200 else {}, "config")
    return found


def _admin_forgery(access: str, secret: str) -> str:
    header, claims = decode_unverified(access)
    return forge({**header, "alg": "HS256"}, {**claims, "role": "admin"}, secret.encode())


def _public_pems(client: httpx.Client, leaked: dict[str, str]) -> list[bytes]:
    """The shop's public keys as PEM (from its JWKS and from leaked config): the classic
    HS256 key-confusion secrets."""
    pems = [s.encode() for s in leaked.values() if "PUBLIC KEY" in s]
    for jwk in _json(client.get("/.well-known/jwks.json")).get("keys", []):
        try:
            public = jwt.PyJWK(jwk).key
            pems.append(
                public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
            continue
    return pems


SYMMETRIC_RULES = (
    Rule(
        "tokens-work",
        "Genuine tokens work: the admin's access token gets 200 at /api/admin/orders, a "
        "customer's 403, and shipping accepts both (it calls verify_token with keys holding "
        "only public, issuer, audience and kid).",
    ),
    Rule(
        "asymmetric",
        "Sign access tokens with an asymmetric algorithm (ES256 with keys['access']; RS256, "
        "PS256 or EdDSA where the key allows) and verify them with keys['public'] only.",
    ),
    Rule(
        "pinned-alg",
        "Verify every token against a fixed algorithm list: refuse alg 'none' in any casing, "
        "HS256 keyed with the public key or shipping's old secret, an embedded jwk header, a "
        "changed claim and a flipped signature bit (401).",
    ),
    Rule(
        "iss-aud",
        f"Check iss ({ISSUER}) and aud ({AUDIENCE}): refuse a token signed with the shop's "
        "own key but issued by another issuer or for another audience.",
    ),
    Rule(
        "expiry",
        "Put iat and exp in every token, access tokens living at most "
        f"{ACCESS_MAX_S // 60} minutes and refresh tokens at most 7 days; refuse a token "
        f"without exp or past it (at most {LEEWAY_MAX_S} s of leeway).",
    ),
    Rule(
        "token-type",
        "Keep the two types apart: a refresh token is refused where an access token is "
        "expected, an access token where a refresh token is.",
    ),
)


def _forgeries(
    client: httpx.Client, access: str, refresh: str | None, leaked: dict[str, str]
) -> list[tuple[str, str, str]]:
    """(label, token, rule) for every attack of 02's battery that fits a two-service shop."""
    header, claims = decode_unverified(access)
    admin = {**claims, "role": "admin"}
    tampered = tamper(access, role="admin")
    attacker = new_rsa_key()
    attacks = [
        (f"alg {c!r}", forge({"alg": c, "typ": "JWT"}, admin), "pinned-alg") for c in NONE_CASINGS
    ]
    attacks += [
        ("role tampered, old signature kept", tampered, "pinned-alg"),
        ("role tampered, null signature", with_signature(tampered, b""), "pinned-alg"),
        ("one signature bit flipped", flip_signature_bit(access, 20), "pinned-alg"),
        (
            "embedded jwk header (attacker's own key)",
            forge({**header, "alg": "RS256", "jwk": rsa_jwk(attacker)}, admin, attacker),
            "pinned-alg",
        ),
    ]
    attacks += [
        (f"HS256 signed with shipping's leaked {name}", _admin_forgery(access, value), "pinned-alg")
        for name, value in leaked.items()
        if "PUBLIC KEY" not in value
    ]
    attacks += [
        (
            f"HS256 signed with the public key (PEM #{n})",
            forge({**header, "alg": "HS256"}, admin, pem),
            "pinned-alg",
        )
        for n, pem in enumerate(_public_pems(client, leaked), 1)
    ]
    for entry in client.get("/api/_lab/token-log").json():
        token = str(entry["authorization"]).removeprefix("Bearer ")
        attacks.append((f"{entry['kind']} admin token from the log", token, "expiry"))
    if refresh:
        attacks.append(("refresh token used as an access token", refresh, "token-type"))
    return attacks


def _signed(client: httpx.Client, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed with the shop's own access key (lab-only route)."""
    response = client.post("/api/_lab/sign", json={"header": header, "claims": claims})
    return str(_json(response).get("token", ""))


def _misissued(client: httpx.Client, access: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Tokens with the shop's own signature but the wrong issuer, audience or time: only a
    verifier that checks iss, aud and exp refuses them. Names and times are generated."""
    header, claims = decode_unverified(access)
    claims = {**claims, "role": "admin"}
    now = int(time.time())
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))
    other_issuer = f"https://{word}.{rng.choice(['example', 'labkit.example', 'shop.test'])}"
    other_audience = f"https://{word}.api.{rng.choice(['example', 'shop.example', 'test'])}"
    ago = rng.randint(LEEWAY_MAX_S + 60, 3 * 24 * 3600)
    cases = [
        (f"an admin token for another audience ({other_audience})",
         {**claims, "aud": other_audience}, "iss-aud"),
        (f"an admin token from another issuer ({other_issuer})",
         {**claims, "iss": other_issuer}, "iss-aud"),
        ("an admin token without aud",
         {k: v for k, v in claims.items() if k != "aud"}, "iss-aud"),
        ("an admin token without iss",
         {k: v for k, v in claims.items() if k != "iss"}, "iss-aud"),
        (f"an admin token expired {ago} s ago",
         {**claims, "iat": now - ago - 900, "exp": now - ago}, "expiry"),
        ("an admin token without exp",
         {k: v for k, v in claims.items() if k != "exp"}, "expiry"),
    ]  # fmt: skip
    return [(label, _signed(client, header, body), rule) for label, body, rule in cases]


def _lifetimes(tokens: dict[str, str | None], findings: Findings) -> None:
    for label, token, limit in (
        ("access", tokens.get("access"), ACCESS_MAX_S),
        ("refresh", tokens.get("refresh"), REFRESH_MAX_S),
    ):
        if token is None:
            continue
        try:
            claims = decode_unverified(token)[1]
        except (ValueError, KeyError, TypeError):
            claims = {}
        exp, iat = claims.get("exp"), claims.get("iat")
        life = exp - iat if isinstance(exp, int) and isinstance(iat, int) else None
        findings.expect(
            life is not None and 0 < life <= limit,
            f"the {label} token must carry iat and exp and live at most {limit} s "
            f"(exp {exp}, iat {iat})",
            f"{label} token lifetime {life} s (at most {limit} s)",
            rule="expiry",
        )


def replay_symmetric(patched: Target, findings: Findings, rng: random.Random) -> None:
    """Legit: shop tokens work at the shop and at shipping. Attacks: 02's forgeries plus
    shipping's leaked config, and tokens of the shop's own key for another issuer, audience
    or time, each refused (401) by the shop's admin route and by shipping."""
    shipping = _shipping(patched)
    if shipping is None:
        findings.fail("the shop has no shipping service (urls['shipping'])", rule="tokens-work")
        return
    leaked = _leaked(shipping)
    with patched.client() as shop, shipping.client() as ship:
        logins = {role: _login(shop, role) for role in ("admin", "viewer")}
        for role, response in logins.items():
            if not findings.expect(
                response.status_code == 200 and "accessToken" in _json(response),
                f"logging in as the {role} got {response.status_code}{fault(response)}",
                rule="tokens-work",
            ):
                return
        tokens = {role: _json(r)["accessToken"] for role, r in logins.items()}
        for role, want in (("admin", 200), ("viewer", 403)):
            got = shop.get(ADMIN_ORDERS, headers=_bearer(tokens[role]))
            findings.expect(
                got.status_code == want,
                f"the {role}'s own token at {ADMIN_ORDERS}"
                f" got {got.status_code}{fault(got)}, expected {want}",
                rule="tokens-work",
            )
            there = ship.get(SHIPMENTS, headers=_bearer(tokens[role]))
            findings.expect(
                there.status_code == 200,
                f"shipping refused the {role}'s genuine "
                f"shop token: {there.status_code}{fault(there)}",
                rule="tokens-work" if _alg(tokens[role]) in ASYMMETRIC else "asymmetric",
            )
        findings.saw(
            "legitimate: shop tokens work at the shop (admin 200, carol 403) and at shipping"
        )
        alg = _alg(tokens["viewer"])
        findings.expect(
            alg in ASYMMETRIC,
            f"access tokens are {alg}: with a symmetric key every service that verifies "
            "them can also sign them — sign with ES256 and give shipping the public key",
            f"access tokens signed with {alg} (asymmetric)",
            rule="asymmetric",
        )
        login = logins["viewer"]
        refresh = _refresh_cookie(login) or _json(login).get("refreshToken")
        _lifetimes({"access": tokens["viewer"], "refresh": refresh}, findings)
        attacks = _forgeries(shop, tokens["viewer"], refresh, leaked)
        if alg in ASYMMETRIC:
            attacks += _misissued(shop, tokens["viewer"], rng)
        for service, client, route in (("shop", shop, ADMIN_ORDERS), ("shipping", ship, SHIPMENTS)):
            before = len(findings.problems)
            for label, token, rule in attacks:
                got = client.get(route, headers=_bearer(token))
                findings.expect(
                    got.status_code == 401,
                    f"{service} {route}: {label} got {got.status_code}{fault(got)} — expected 401",
                    rule=rule,
                )
            if len(findings.problems) == before:
                findings.saw(
                    f"{service}: {len(attacks)} forged, tampered, misissued, expired and "
                    "misused tokens refused"
                )
        shop.cookies.clear()
        as_refresh = shop.post(REFRESH, json={"refreshToken": tokens["viewer"]})
        findings.expect(
            as_refresh.status_code == 401,
            f"an access token sent as the refresh token got {as_refresh.status_code}"
            f"{fault(as_refresh)} at {REFRESH}",
            "an access token does not refresh",
            rule="token-type",
        )


def _alg(token: str) -> str:
    try:
        return str(decode_unverified(token)[0].get("alg"))
    except (ValueError, KeyError, TypeError):
        return "?"


# -- hardcoded-secret (08-secrets) ---------------------------------------------------------
def _source_secrets(client: httpx.Client) -> tuple[list[Finding], str]:
    """What 08's scanner finds in the shop's public source (files and history)."""
    response = client.get("/api/_lab/source")
    served = _json(response)
    texts = dict(served.get("files", {}))
    for commit in served.get("history", []):
        for path, text in commit.get("files", {}).items():
            texts[f"{path}@{commit.get('commit', '')}"] = text
    found = [f for path, text in texts.items() for f in scan_text(str(text), path)]
    return found, response.text


def _new_order(client: httpx.Client, findings: Findings | None = None) -> tuple[int, str] | None:
    access = _json(_login(client, "viewer")).get("accessToken")
    if not isinstance(access, str):
        return None
    order = client.post(ORDERS, json={"item": "espresso machine"}, headers=_bearer(access))
    if order.status_code != 201:
        if findings is not None:
            findings.fail(f"{ORDERS} got {order.status_code}{fault(order)}")
        return None
    return int(order.json()["id"]), access


def _status(client: httpx.Client, order: tuple[int, str]) -> str:
    return str(_json(client.get(f"{ORDERS}/{order[0]}", headers=_bearer(order[1]))).get("status"))


def _paid_event(order_id: int) -> bytes:
    return json.dumps({"type": "payment.succeeded", "orderId": order_id}).encode()


def _boot(client: httpx.Client, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    response = client.post("/api/_lab/boot", json={"env": env})
    return _json(response), response.text


SECRET_RULES = (
    Rule(
        "secret-from-env",
        "Return PAYMENT_WEBHOOK_SECRET from env (the deployment's new, rotated value): the "
        "provider's genuine signatures pay, an event signed with any secret the public source "
        "shows is refused (401), and a strong value of 32 or more random characters starts "
        "the shop (hex, base64url, whsec_...).",
    ),
    Rule(
        "fail-fast",
        "Raise at startup — no fallback literal — when the value is missing, empty, shorter "
        "than 32 characters, contains a placeholder word (changeme, secret, password, "
        "example; any case), or repeats a few characters (e.g. 'abcabcabc...').",
    ),
    Rule(
        "never-echo",
        "Never put the value in an error message or any other answer of the shop.",
    ),
)
PLACEHOLDERS = ("changeme", "secret", "password", "example")


def _strong(rng: random.Random) -> list[tuple[str, str]]:
    """Strong secrets in the shapes deployments use (generated)."""
    alphabet = string.ascii_letters + string.digits + "-_"
    urlsafe = "".join(rng.choices(alphabet, k=rng.randint(43, 64)))
    hexa = "".join(rng.choices("0123456789abcdef", k=64))
    return [("a random base64url secret", urlsafe), ("a random hex secret", hexa),
            ("a whsec_ secret", "whsec_" + urlsafe[:40])]  # fmt: skip


def _weak(rng: random.Random) -> list[tuple[str, str | None]]:
    """Missing, empty, short, placeholder and repetitive values (generated)."""
    alphabet = string.ascii_letters + string.digits
    short = "".join(rng.choices(alphabet, k=rng.randint(8, 31)))
    word = rng.choice(PLACEHOLDERS)
    styled = rng.choice([word, word.upper(), word.capitalize()])
    unit = "".join(rng.choices(alphabet, k=rng.randint(1, 4)))
    padding = "".join(rng.choices(alphabet, k=32))
    return [
        ("missing", None),
        ("empty", ""),
        (f"{len(short)} characters long", short),
        (f"{styled!r} repeated to 32+ characters", styled * (40 // len(styled) + 1)),
        (f"a random value containing {styled!r}", padding[:13] + styled + padding[13:]),
        (f"{unit!r} repeated", unit * (48 // len(unit))),
    ]


def _fail_fast(client: httpx.Client, findings: Findings, rng: random.Random) -> list[str]:
    """08's fail-fast battery for one variable, with generated values; returns the texts
    the shop answered."""
    answers: list[str] = []
    for label, good in _strong(rng):
        started, text = _boot(client, {SECRET_ENV: good, "APP_ENV": "production"})
        answers.append(text)
        findings.expect(
            started.get("started") is True,
            f"{label} ({len(good)} characters) was refused at startup: "
            f"{str(started.get('error', text))[:120]}",
            rule="secret-from-env",
        )
    refused = 0
    for label, value in _weak(rng):
        env = {"APP_ENV": "production", **({SECRET_ENV: value} if value is not None else {})}
        outcome, text = _boot(client, env)
        answers.append(text)
        if outcome.get("started") is not False:
            findings.fail(
                f"the shop starts with PAYMENT_WEBHOOK_SECRET {label}{_fault_text(text)}"
                ": refuse it at startup (fail fast)",
                rule="fail-fast",
            )
            continue
        refused += 1
        findings.expect(
            not value or len(value) < 8 or value not in text,
            f"refusing a {label} secret, the error repeats its value",
            rule="never-echo",
        )
    if refused:
        findings.saw(f"{refused} weak or missing webhook secrets refused at startup")
    return answers


def _fault_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    return f" — {body['labkitFault']}" if isinstance(body, dict) and "labkitFault" in body else ""


def replay_secret(patched: Target, findings: Findings, rng: random.Random) -> None:
    """Every secret the public source shows is refused at the webhook; the provider's real
    signature pays; a missing/weak secret stops the shop; the secret is in no answer."""
    with patched.client() as client, findings.rule("secret-from-env"):
        found, source_text = _source_secrets(client)
        answers = [source_text]
        order = _new_order(client, findings)
        if not findings.expect(order is not None, "could not log in and place an order"):
            return
        assert order is not None
        for finding in found:
            event = _paid_event(order[0])
            got = client.post(
                WEBHOOK, content=event, headers={"X-Signature": sign_webhook(event, finding.secret)}
            )
            answers.append(got.text)
            findings.expect(
                got.status_code == 401,
                f"a 'paid' event signed with the source's "
                f"{finding.rule} ({finding.redacted}) got {got.status_code}"
                f"{fault(got)}: the leaked literal still signs payments",
            )
        findings.expect(_status(client, order) == "pending", "a forged event paid the order")
        if found:
            findings.saw(f"{len(found)} secret(s) from the public source refused at {WEBHOOK}")
        unsigned = client.post(WEBHOOK, content=_paid_event(order[0]))
        findings.expect(
            unsigned.status_code == 401,
            f"an unsigned event got {unsigned.status_code}{fault(unsigned)}",
        )
        genuine = client.post("/api/_lab/provider/pay", json={"orderId": order[0]}).json()
        paid = client.post(
            WEBHOOK, content=genuine["body"], headers={"X-Signature": genuine["signature"]}
        )
        answers.append(paid.text)
        findings.expect(
            paid.status_code == 200 and _status(client, order) == "paid",
            f"the provider's genuine event got {paid.status_code}{fault(paid)}: read the "
            "secret from PAYMENT_WEBHOOK_SECRET (the rotated value in the environment)",
            "the provider's genuine signature pays the order",
        )
        answers += _fail_fast(client, findings, rng)
        vault = str(client.get("/api/_lab/vault").json()[SECRET_ENV])
    shipping = _shipping(patched)
    if shipping is not None:
        with shipping.client() as ship:
            answers.append(ship.get(DEBUG_CONFIG).text)
    findings.expect(
        not any(vault in text for text in answers),
        "the real PAYMENT_WEBHOOK_SECRET appears in an answer of the shop",
        "the real webhook secret appears in no answer (source, webhook, boot, debug config)",
        rule="never-echo",
    )


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="jwt-in-localstorage",
        avoid="JWT in localStorage",
        instead="httpOnly secure cookie (refresh), memory (access)",
        lab="02-jwt",
        fixes=("refresh_cookie",),
        replay=replay_storage,
        rules=STORAGE_RULES,
        title="JWT in localStorage → the refresh token in an HttpOnly Secure cookie",
        hints=(
            "Log in and look at the JSON: which token would the page's script "
            "(/static/app.js) keep in localStorage?",
            "Can that token refresh on its own, sent in a JSON body without any cookie?",
        ),
        fix_hints=(
            "refresh_cookie(token) is the one you wrote in 02: return the Set-Cookie value.",
            "HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800.",
            "With it, the shop stops putting the refresh token in JSON and reads only the cookie.",
        ),
    ),
    AntiPattern(
        id="symmetric-jwt",
        avoid="Symmetric JWT for multi-service",
        instead="Use RS256/ES256 (asymmetric) for distributed",
        lab="02-jwt",
        fixes=("issue_tokens", "verify_token"),
        replay=replay_symmetric,
        rules=SYMMETRIC_RULES,
        title="Symmetric JWT for many services → ES256, verifiers hold only the public key",
        hints=(
            "lab.urls['shipping'] is another service that checks the shop's tokens: what "
            "does its GET /debug/config show?",
            "An HS256 key that verifies also signs: forge({'alg': 'HS256', 'typ': 'JWT'}, "
            "{**claims, 'role': 'admin'}, leaked.encode()).",
            "Mark the shop route your forged admin token opens (carol gets 403 there).",
        ),
        fix_hints=(
            "Same signatures as in 02; keys now holds keys['access'] (P-256 private key, shop "
            "only), keys['public'], keys['refresh'] (32 bytes), issuer, audience, kid.",
            "issue_tokens: access token jwt.encode(..., keys['access'], algorithm='ES256', "
            "headers={'typ': 'at+jwt', 'kid': keys['kid']}); refresh token HS256 with "
            "keys['refresh'].",
            "verify_token: access tokens with keys['public'] and algorithms=['ES256'] only — "
            "shipping calls it with public, issuer, audience and kid, nothing else.",
        ),
    ),
    AntiPattern(
        id="hardcoded-secret",
        avoid="Hardcoded secrets in code",
        instead="Environment variables + secrets manager",
        lab="08-secrets",
        fixes=("webhook_secret",),
        replay=replay_secret,
        rules=SECRET_RULES,
        title="Hardcoded webhook secret → PAYMENT_WEBHOOK_SECRET from the environment, "
        "checked at startup",
        hints=(
            "The shop's repository went public: GET /api/_lab/source. Run 08's scanner "
            "(secret_scan.scan_text) over it.",
            "The payment provider signs X-Signature: sha256=<hex HMAC-SHA256 of the body>; "
            "sign {'type': 'payment.succeeded', 'orderId': <your order>} yourself.",
            "Mark the route that believed your forged event.",
        ),
        fix_hints=(
            "webhook_secret(env) returns env['PAYMENT_WEBHOOK_SECRET'] — the deployment holds "
            "a new, rotated value: the leaked one is public forever.",
            "Fail fast: raise when it is missing, shorter than 32 characters or a "
            "placeholder such as 'changeme' — no fallback literal.",
            "Never put the value in the error message.",
        ),
    ),
)
