"""02-jwt: forge, crack and replay tokens against a hand-rolled verifier — then fix it.

Every check works over HTTP. Attack checks send the learner's token to the vulnerable app and
ask the lab-only ``/api/_lab/inspect`` route which real key (if any) signed it, so a check
knows *how* the token got in. Fix checks replay the batteries below against the learner's app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.jwt import (
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
from labkit.sandbox.server import Sandbox
from labkit.wordlists import common_passwords

__all__ = [
    "BATTERIES",
    "LAB",
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
GENUINE = ("access RSA key", "refresh secret")


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
        if parse_set_cookie(header)[0] == "refreshToken":
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


def _expect_401(
    findings: Findings, response: httpx.Response, label: str, body: str = "Invalid token"
) -> None:
    got = response.json() if response.headers.get("content-type", "").startswith("app") else {}
    findings.expect(
        response.status_code == 401 and got == {"error": body},
        f"{label}: got {response.status_code} {response.text[:80]!r}{_fault(response)} — "
        f'expected 401 {{"error": "{body}"}}',
        f"{label}: refused",
    )


# -- batteries (fix checks and tests replay these) -----------------------------------------
def cookie_battery(client: httpx.Client, findings: Findings) -> None:
    """The refresh cookie at login (and at refresh) has exactly the catalogue's flags."""
    email, password = _accounts(client)["viewer"]
    response = client.post(LOGIN, json={"email": email, "password": password})
    header = _refresh_set_cookie(response)
    if not findings.expect(
        response.status_code == 200 and header is not None,
        f"login got {response.status_code}{_fault(response)} without a refreshToken cookie",
    ):
        return
    _, value, attributes = parse_set_cookie(header or "")
    findings.expect(bool(value), "the refreshToken cookie is empty")
    for name, expected in COOKIE_ATTRIBUTES:
        present = name in attributes
        actual = attributes.get(name)
        ok = present and (expected is None or (actual or "").lower() == expected)
        shown = f"{name}={expected}" if expected else name
        findings.expect(
            ok,
            f"the refresh cookie lacks {shown} (got: {header.split(';', 1)[-1].strip()!r})",
            f"cookie has {shown}",
        )


def _legitimate(client: httpx.Client, findings: Findings) -> tuple[Session, Session] | None:
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


def _lifetimes(findings: Findings, session: Session) -> None:
    for label, token, limit in (
        ("access", session.access, ACCESS_MAX_S),
        ("refresh", session.refresh, REFRESH_MAX_S),
    ):
        claims = (_claims(token) or ({}, {}))[1]
        exp, iat = claims.get("exp"), claims.get("iat")
        life = exp - iat if isinstance(exp, int) and isinstance(iat, int) else None
        findings.expect(
            life is not None and 0 < life <= limit,
            f"the {label} token must carry iat and exp and live at most {limit} s "
            f"(exp {exp}, iat {iat})",
            f"{label} token lifetime {life} s (at most {limit} s)",
        )


def attack_battery(client: httpx.Client, findings: Findings) -> None:
    """Every token attack of the lab against one app; legitimate use must keep working."""
    sessions = _legitimate(client, findings)
    if sessions is None:
        return
    _, viewer = sessions
    _lifetimes(findings, viewer)
    parsed = _claims(viewer.access)
    if not findings.expect(parsed is not None, "the access token is not a JWT"):
        return
    header, claims = parsed or ({}, {})
    admin_claims = {**claims, "role": "admin"}

    def attempt(label: str, token: str, body: str = "Invalid token") -> None:
        _expect_401(findings, client.get(ADMIN, headers=_bearer(token)), label, body)

    for casing in NONE_CASINGS:
        attempt(f"alg {casing!r}", forge({"alg": casing, "typ": "JWT"}, admin_claims))
    tampered = tamper(viewer.access, role="admin")
    attempt("role tampered, old signature kept", tampered)
    attempt("role tampered, null signature", with_signature(tampered, b""))
    _expect_401(
        findings,
        client.get(ME, headers=_bearer(flip_signature_bit(viewer.access, 20))),
        "one signature bit flipped",
    )
    if str(header.get("alg", "")).startswith("HS"):
        secret = crack_hs256(viewer.access, common_passwords())
        findings.expect(
            secret is None,
            f"the access-token key is in the wordlist ({secret!r}): use 32 random bytes",
            "the signing key is not in the 30,000-word list",
        )
        if secret is not None:
            attempt(
                "admin token minted with the cracked key",
                forge(header, admin_claims, secret.encode()),
            )
    public_pem = client.get("/api/_lab/public-key").content
    for kid in ("access-rs256", None):
        confused = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
        attempt(
            f"HS256 signed with the public key (kid {kid})",
            forge(confused, admin_claims, public_pem),
        )
    attempt(
        "kid path traversal to /dev/null (empty key)",
        forge({"alg": "HS256", "typ": "JWT", "kid": TRAVERSAL_KID}, admin_claims, b""),
    )
    attacker = new_rsa_key()
    attempt(
        "embedded jwk header (attacker's own key)",
        forge({"alg": "RS256", "typ": "JWT", "jwk": rsa_jwk(attacker)}, admin_claims, attacker),
    )
    with Sandbox(jwks_app({"keys": [rsa_jwk(attacker)]}), name="02-jwt-attacker") as evil:
        jku = {"alg": "RS256", "typ": "JWT", "jku": f"{evil.url}/jwks.json", "kid": "attacker"}
        attempt("jku header pointing at the attacker's JWKS", forge(jku, admin_claims, attacker))
    log = {
        entry["kind"]: entry["authorization"] for entry in client.get("/api/_lab/token-log").json()
    }
    expired = client.get(ADMIN, headers={"Authorization": log["expired"]})
    _expect_401(findings, expired, "expired admin token from the log", "Token expired")
    no_exp = client.get(ADMIN, headers={"Authorization": log["no-exp"]})
    _expect_401(findings, no_exp, "admin token without exp from the log")
    _expect_401(
        findings, client.get(ME, headers=_bearer(viewer.refresh)), "refresh token as access"
    )
    _expect_401(findings, client.get(ME), "no Authorization header", "Missing token")


def lifecycle_battery(client: httpx.Client, findings: Findings) -> None:
    """login → me → refresh (rotated) → reuse detection → logout → old tokens 401."""
    first = _login(client, findings, "viewer")
    if first is None:
        return
    me = client.get(ME, headers=_bearer(first.access))
    if not findings.expect(
        me.status_code == 200, f"/api/me with a fresh token got {me.status_code}{_fault(me)}"
    ):
        return
    rotated = _refresh(client, first.refresh)
    cookie = _refresh_set_cookie(rotated)
    if not findings.expect(
        rotated.status_code == 200 and cookie is not None and "accessToken" in rotated.json(),
        f"refresh got {rotated.status_code} {rotated.text[:80]!r}{_fault(rotated)}: it must "
        "answer {'accessToken'} and set a new refreshToken cookie",
        "refresh: a new access token and a new refresh cookie",
    ):
        return
    second_refresh = parse_set_cookie(cookie or "")[1]
    new_access = rotated.json()["accessToken"]
    findings.expect(
        second_refresh != first.refresh,
        "refresh returned the same refresh token: rotate it (a new one each time)",
        "refresh token rotated",
    )
    check = client.get(ME, headers=_bearer(new_access))
    findings.expect(
        check.status_code == 200,
        f"the refreshed access token got {check.status_code}{_fault(check)}",
        "the refreshed access token works",
    )
    _expect_401(findings, _refresh(client, first.refresh), "reuse of a rotated refresh token")
    _expect_401(
        findings,
        _refresh(client, second_refresh),
        "the newest refresh token after a reuse (its family must be revoked)",
    )
    session = _login(client, findings, "viewer")
    if session is None:
        return
    out = client.post(LOGOUT, headers=_bearer(session.access))
    if not findings.expect(
        out.status_code in (200, 204), f"logout got {out.status_code}{_fault(out)}"
    ):
        return
    _expect_401(
        findings, client.get(ME, headers=_bearer(session.access)), "access token after logout"
    )
    _expect_401(findings, _refresh(client, session.refresh), "refresh token after logout")
    again = _login(client, findings, "viewer")
    if again is not None:
        after = client.get(ME, headers=_bearer(again.access))
        findings.expect(
            after.status_code == 200,
            f"logging in again after logout: /api/me got {after.status_code}{_fault(after)}",
            "a new login after logout works",
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
        "jwt_attacks.forge({'alg': 'none'}, claims) builds a token with an empty signature.",
        "Take your own claims (decode_unverified) and set 'role' to 'admin'.",
        "Hand in a list of four tokens: alg 'none', 'None', 'NONE' and 'nOnE'.",
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
        "Changing the claims breaks the signature: jwt_attacks.tamper(token, role='admin').",
        "The app checks the signature... unless there is none. Try with_signature(t, b'').",
        "Hand in the tampered token (alg stays RS256).",
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
        "The refresh token (your refreshToken cookie) is HS256: its key signs the HMAC.",
        "jwt_attacks.crack_hs256(refresh_token, common_passwords()) tries every word offline.",
        "forge({'alg': 'HS256'}, {'sub': ..., 'role': 'admin'}, secret.encode())",
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
        "The public key is public: /jwks.json (pem_from_jwk) or /api/_lab/public-key.",
        "Keep kid 'access-rs256' so the app loads that key; set alg to 'HS256'.",
        "forge({'alg': 'HS256', 'kid': 'access-rs256'}, admin_claims, public_pem)",
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
        "decode_unverified shows its exp: long past. Send it anyway.",
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
        "The app reads the key from a file named by the kid header, in its key directory.",
        "'../' climbs out of it: '../../../../../../../../dev/null' reads zero bytes.",
        "forge({'alg': 'HS256', 'kid': '../../../../../../../../dev/null'}, admin_claims, b'')",
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
        "jwt_attacks.new_rsa_key() makes you a key pair.",
        "Put its public half in the header: {'alg': 'RS256', 'jwk': rsa_jwk(key)}.",
        "forge(header, admin_claims, key) signs with your private key.",
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
def _run(ctx: CheckContext, battery: Callable[[httpx.Client, Findings], None]) -> Findings:
    findings = Findings()
    with ctx.require_patched().client() as client:
        battery(client, findings)
    return findings


@LAB.check(
    "cookie",
    title="The refresh cookie: HttpOnly, Secure, SameSite=Strict, one path, 7 days",
    kind="fix",
    fixes=("refresh_cookie",),
    hints=(
        "Return one string: 'refreshToken=<token>; attribute; attribute; ...'.",
        "HttpOnly (no script), Secure (HTTPS only), SameSite=Strict (no cross-site sends).",
        "Path=/api/auth/refresh and Max-Age=604800 (seven days, in seconds).",
    ),
)
def cookie(ctx: CheckContext) -> Verdict:
    return _run(ctx, cookie_battery).verdict(
        "the refresh cookie is out of reach of scripts and other sites", "the cookie is not right"
    )


@LAB.check(
    "tokens",
    title="Issue and verify tokens: every forgery refused",
    kind="fix",
    fixes=("issue_tokens", "verify_token"),
    hints=(
        "jwt.decode_complete(token, keys[typ], algorithms=['HS256'], ...): never read alg "
        "from the token.",
        "options={'require': ['exp', 'iat', 'sub', 'iss', 'aud']}, audience=keys['audience'], "
        "issuer=keys['issuer'], leeway=30.",
        "Compare decoded['header']['typ'] with 'at+jwt' / 'refresh+jwt' and raise "
        "jwt.InvalidTokenError when it differs.",
    ),
)
def tokens(ctx: CheckContext) -> Verdict:
    return _run(ctx, attack_battery).verdict(
        "every forged, expired and misused token is refused", "some tokens still get in"
    )


@LAB.check(
    "revocation",
    title="Logout revokes; refresh tokens rotate and reuse kills the family",
    kind="fix",
    fixes=("issue_tokens", "verify_token", "check_not_revoked", "logout"),
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


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "refresh cookie": cookie_battery,
    "token attacks": attack_battery,
    "logout and rotation": lifecycle_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("issue_tokens", "verify_token", "check_not_revoked", "logout", "refresh_cookie"),
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
                battery(client, findings)
    return findings.verdict(
        "every token attack fails and legitimate use works", "some attacks still get through"
    )
