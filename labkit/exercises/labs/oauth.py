"""04-oauth: steal codes and tokens from a lax OAuth pair, then fix the server and the client.

Every check works over HTTP against the running apps: the authorization server (``main``),
the client web app (``client``) and the attacker's site (``attacker``). What the server
issued is read from its lab-only log (``/api/_lab/log``: codes and grants, hashed), the way an
investigator would read its database; the victim is the lab's simulated browser of alice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt

from labkit.attacks import oauth as attack
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition

__all__ = ["LAB", "RFC7636_CHALLENGE", "RFC7636_VERIFIER"]

LAB = LabDefinition("04-oauth", "04 · OAuth 2.0 and PKCE", "labkit.sandbox.apps.oauth")

VICTIM = "alice@example.com"
SCOPE = "openid email"
#: RFC 7636 Appendix B: the example code_verifier and its S256 code_challenge.
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CODE_TOO_OLD_S = 11 * 60  # RFC 6749 §4.1.2: at most 10 minutes


# -- what a check knows about a running lab -------------------------------------------------
@dataclass(frozen=True)
class Pair:
    server: str
    client: str
    attacker: str
    client_id: str
    redirect_uri: str
    evil_id: str
    evil_secret: str


def _pair(target: Target) -> Pair:
    urls = target.urls
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        clients = http.get(urls["main"] + "/api/_lab/clients").json()
    (client_id, webapp), *_ = [(k, v) for k, v in clients.items() if v.get("public")]
    (evil_id, evil), *_ = [(k, v) for k, v in clients.items() if "client_secret" in v]
    return Pair(
        urls["main"],
        urls["client"],
        urls["attacker"],
        client_id,
        webapp["redirect_uris"][0],
        evil_id,
        evil["client_secret"],
    )


class Broken(Exception):
    """A flow a battery needs cannot even start (the fix broke the legitimate path)."""


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _log(pair: Pair) -> dict[str, list[dict[str, Any]]]:
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        return http.get(pair.server + "/api/_lab/log").json()


def _grant(pair: Pair, token: str) -> dict[str, Any] | None:
    return next((g for g in _log(pair)["grants"] if g["token_sha256"] == _sha(token)), None)


def _issued_code(pair: Pair, code: str) -> dict[str, Any] | None:
    return next((c for c in _log(pair)["codes"] if c["code_sha256"] == _sha(code)), None)


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _where(response: httpx.Response) -> str:
    location = response.headers.get("location")
    return f" -> {location[:90]}" if location else ""


def _account(pair: Pair, tag: str) -> tuple[str, str]:
    email, password = f"{tag}-{secrets.token_hex(4)}@checks.example", secrets.token_urlsafe(18)
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        http.post(pair.server + "/api/_lab/accounts", json={"email": email, "password": password})
    return email, password


@contextmanager
def _session(pair: Pair, tag: str) -> Iterator[tuple[httpx.Client, str]]:
    """A browser signed in at the server as a fresh account, closed afterwards."""
    http, email = _signed_in(pair, tag)
    with closing(http):
        yield http, email


def _signed_in(pair: Pair, tag: str) -> tuple[httpx.Client, str]:
    email, password = _account(pair, tag)
    http = attack.browser()
    attack.sign_in(http, pair.server, email, password)
    return http, email


def _code(
    pair: Pair,
    http: httpx.Client,
    *,
    challenge: str | None,
    method: str | None = "S256",
    nonce: str | None = None,
) -> str | None:
    """Run the authorization request as ``http``'s user; the code it returns, if any."""
    params = {
        "response_type": "code",
        "client_id": pair.client_id,
        "redirect_uri": pair.redirect_uri,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(16),
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None and challenge is not None:
        params["code_challenge_method"] = method
    if nonce is not None:
        params["nonce"] = nonce
    response = http.get(attack.authorize_url(pair.server, **params))
    location = response.headers.get("location", "")
    return attack.query_params(location).get("code") if response.is_redirect else None


def _fresh_code(pair: Pair, http: httpx.Client, nonce: str | None = None) -> tuple[str, str]:
    """A code with a proper S256 challenge, and its verifier."""
    verifier = secrets.token_urlsafe(48)
    code = _code(pair, http, challenge=attack.s256(verifier), nonce=nonce)
    if code is None:
        raise Broken("the server issued no code for a correct authorization request")
    return code, verifier


def _redeem(pair: Pair, code: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("client_id", pair.client_id)
    kwargs.setdefault("redirect_uri", pair.redirect_uri)
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        return attack.redeem(http, pair.server, code, **kwargs)


def _issued(response: httpx.Response) -> bool:
    try:
        return response.status_code == 200 and "access_token" in response.json()
    except ValueError:
        return False


def _client_me(http: httpx.Client, pair: Pair) -> str | None:
    response = http.get(pair.client + "/me")
    return response.json().get("email") if response.status_code == 200 else None


# -- legitimate flows -----------------------------------------------------------------------
def _legit_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "user") as (http, email):
        trip = attack.follow(http, pair.client + "/login")
        status = trip.response.status_code if trip.response is not None else None
        findings.expect(
            _client_me(http, pair) == email,
            f"a user could not log in to the client web app (last status {status}"
            f"{_fault(trip.response) if trip.response is not None else ''})",
            "a user logs in to the client web app (code flow, S256 PKCE, state, nonce)",
        )
        code, verifier = _fresh_code(pair, http, nonce="n-" + secrets.token_hex(8))
        tokens = _redeem(pair, code, code_verifier=verifier)
        if not findings.expect(
            _issued(tokens),
            f"a correct token request was refused ({tokens.status_code}{_fault(tokens)})",
            "a correct token request gets tokens",
        ):
            return
        body = tokens.json()
        with httpx.Client(trust_env=False, timeout=30.0) as plain:
            info = plain.get(
                pair.server + "/userinfo",
                headers={"Authorization": f"Bearer {body['access_token']}"},
            )
            keys = jwt.PyJWKSet.from_dict(plain.get(pair.server + "/jwks.json").json())
        findings.expect(
            info.status_code == 200 and info.json().get("email") == email,
            f"/userinfo refused a fresh access token ({info.status_code})",
            "the access token works at /userinfo",
        )
        kid = jwt.get_unverified_header(body["id_token"]).get("kid")
        claims = jwt.decode(
            body["id_token"], keys[kid].key, algorithms=["ES256", "RS256"], audience=pair.client_id
        )
        findings.expect(claims.get("email") == email, "the ID token names the wrong user")


# -- attacks --------------------------------------------------------------------------------
def _token_answer(ctx: CheckContext) -> tuple[str | None, Verdict | None]:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        got = type(ctx.answer).__name__
        return None, Verdict(False, f"expected the access token (a str), got {got}")
    return ctx.answer, None


def _victim_grant(ctx: CheckContext, token: str) -> tuple[Pair, dict[str, Any] | None]:
    pair = _pair(ctx.target)
    return pair, _grant(pair, token)


Judge = Callable[[Pair, dict[str, Any]], tuple[bool, str, str]]


def _alices_token(ctx: CheckContext, how: Judge, *, won: str, lost: str) -> Verdict:
    """The token-stealing attacks: the answer must be an access token the server issued for
    alice, and ``how(pair, grant)`` says whether it was got the intended way
    (ok, problem, observation)."""
    token, bad = _token_answer(ctx)
    if token is None:
        return bad or Verdict(False, "no token")
    pair, grant = _victim_grant(ctx, token)
    findings = Findings()
    if grant is None:
        findings.fail("the server never issued this access token")
        return findings.verdict("", "that is not a token from this server")
    findings.expect(grant["user"] == VICTIM, f"this token is {grant['user']}'s, not alice's")
    findings.expect(*how(pair, grant))
    return findings.verdict(won, lost)


@LAB.check(
    "code-interception",
    title="Intercept alice's code and redeem it without PKCE",
    kind="attack",
    hints=(
        "oauth.victim_click(SERVER, CLIENT + '/login', intercept=redirect_uri) makes alice "
        "log in while a malicious app claims the redirect URI.",
        "The code is in the query of result['intercepted'] (oauth.query_params).",
        "oauth.redeem(http, SERVER, code, client_id=..., redirect_uri=...) with no "
        "code_verifier; hand in the access_token.",
    ),
    answer_help="the access token you got for alice's intercepted code",
)
def code_interception(ctx: CheckContext) -> Verdict:
    return _alices_token(
        ctx,
        lambda pair, grant: (
            grant["grant_type"] == "authorization_code" and grant["pkce"] == "none",
            f"issued by {grant['grant_type']} with PKCE {grant['pkce']!r}: redeem the code "
            "without any code_verifier",
            "alice's code was redeemed with no code_verifier at all",
        ),
        won="you hold alice's tokens: PKCE was not enforced",
        lost="not an intercepted code yet",
    )


@LAB.check(
    "login-csrf",
    title="Log alice's browser into your own account (no state check)",
    kind="attack",
    hints=(
        "Sign in as carol in your own browser and follow CLIENT + '/login' with "
        "stop_at=redirect_uri: trip.stopped_at is a callback URL with carol's code.",
        "Never deliver it yourself: send it to alice with oauth.victim_click.",
        "Hand in that callback URL.",
    ),
    answer_help="the callback URL (with your code) that you sent to alice",
)
def login_csrf(ctx: CheckContext) -> Verdict:
    url = ctx.answer
    if not isinstance(url, str):
        return Verdict(False, f"expected the forged callback URL (a str), got {type(url).__name__}")
    pair = _pair(ctx.target)
    if not url.startswith(pair.client + "/callback"):
        return Verdict(False, f"the URL must be the client's callback, {pair.client}/callback?...")
    attack.victim_click(pair.server, url, fresh=True)
    me = attack.victim_click(pair.server, pair.client + "/me")["final"] or {}
    findings = Findings()
    body = str(me.get("body", ""))
    findings.expect(
        me.get("status") == 200 and VICTIM not in body,
        f"after the click alice's /me says {me.get('status')} {body[:80]}",
        f"alice's browser is now logged in to the client as {body}",
    )
    return findings.verdict(
        "login CSRF: alice now works in your account", "alice is not in your account"
    )


@LAB.check(
    "redirect-uri",
    title="Get alice's code sent to your site with a lax redirect_uri",
    kind="attack",
    hints=(
        "oauth.redirect_uri_tricks(redirect_uri, ATTACKER) lists seven variants; try each at "
        "/authorize and look at the status and Location.",
        "The 'port' and '@' variants land on the attacker's site itself.",
        "Hand in the redirect_uri that makes alice's code arrive at your site.",
    ),
    answer_help="the redirect_uri you made the server accept",
)
def redirect_uri(ctx: CheckContext) -> Verdict:
    uri = ctx.answer
    if not isinstance(uri, str):
        return Verdict(False, f"expected a redirect_uri (a str), got {type(uri).__name__}")
    pair = _pair(ctx.target)
    before = len(attack.captured(pair.attacker))
    link = attack.authorize_url(
        pair.server,
        response_type="code",
        client_id=pair.client_id,
        redirect_uri=uri,
        scope=SCOPE,
    )
    attack.victim_click(pair.server, link, fresh=True)
    arrived = [c["query"].get("code") for c in attack.captured(pair.attacker)[before:]]
    stolen = [_issued_code(pair, code) for code in arrived if code]
    findings = Findings()
    findings.expect(
        any(c is not None and c["user"] == VICTIM for c in stolen),
        "alice's click did not deliver a code of hers to the attacker's site",
        f"the server sent alice's code to {uri}",
    )
    return findings.verdict("alice's code came to you", "no code reached the attacker")


@LAB.check(
    "code-reuse",
    title="Redeem a code that was already used",
    kind="attack",
    hints=(
        "Make alice log in normally: oauth.victim_click(SERVER, CLIENT + '/login').",
        "Her history holds the callback URL with the code the client already redeemed.",
        "Redeem it again with oauth.redeem; hand in the code.",
    ),
    answer_help="the code you redeemed a second time",
)
def code_reuse(ctx: CheckContext) -> Verdict:
    code = ctx.answer
    if not isinstance(code, str):
        return Verdict(False, f"expected the authorization code (a str), got {type(code).__name__}")
    issued = _issued_code(_pair(ctx.target), code)
    findings = Findings()
    if not findings.expect(issued is not None, "the server never issued this code"):
        return findings.verdict("", "that is not a code from this server")
    assert issued is not None
    findings.expect(
        issued["redemptions"] >= 2,
        f"this code was redeemed {issued['redemptions']} time(s): redeem it again",
        f"one code, {issued['redemptions']} token responses",
    )
    return findings.verdict("a used code still works", "the code was not reused")


@LAB.check(
    "other-client",
    title="Redeem alice's code as your own client (evil-app)",
    kind="attack",
    hints=(
        "evil_id, evil_secret, evil_redirect = lab.facts['evil_client'].split()",
        "Intercept a code of alice's issued to the webapp client, as in the first attack.",
        "oauth.redeem(..., client_id=evil_id, client_secret=evil_secret); hand in the token.",
    ),
    answer_help="the access token evil-app got for alice's code",
)
def other_client(ctx: CheckContext) -> Verdict:
    return _alices_token(
        ctx,
        lambda pair, grant: (
            grant["client_id"] == pair.evil_id and grant["code_client_id"] == pair.client_id,
            f"issued to {grant['client_id']} for a code of {grant['code_client_id']}: redeem a "
            f"{pair.client_id} code as {pair.evil_id}",
            f"a code issued to {pair.client_id} gave tokens to {pair.evil_id}",
        ),
        won="codes are not bound to their client",
        lost="not another client's code",
    )


@LAB.check(
    "implicit-leak",
    title="Take alice's access token from an implicit-flow URL",
    kind="attack",
    hints=(
        "response_type=token makes the server put the access token in the redirect URL.",
        "Send alice an authorization link with response_type=token (any redirect_uri the "
        "server accepts) and read the Location in her history.",
        "oauth.fragment_params(url)['access_token']; hand it in.",
    ),
    answer_help="the access token from the URL",
)
def implicit_leak(ctx: CheckContext) -> Verdict:
    return _alices_token(
        ctx,
        lambda pair, grant: (
            grant["grant_type"] == "implicit",
            f"issued by the {grant['grant_type']} grant: use response_type=token",
            "the implicit grant put alice's token in a URL",
        ),
        won="the URL leaked a bearer token",
        lost="not an implicit-flow token",
    )


@LAB.check(
    "plain-downgrade",
    title="Redeem a code protected by plain PKCE from the request alone",
    kind="attack",
    hints=(
        "With code_challenge_method=plain the challenge IS the verifier.",
        "Send alice an authorization request with a plain challenge, intercept the code "
        "(intercept=redirect_uri), and redeem it with code_verifier = the challenge you saw.",
        "Hand in the access token.",
    ),
    answer_help="the access token from a plain-PKCE code",
)
def plain_downgrade(ctx: CheckContext) -> Verdict:
    return _alices_token(
        ctx,
        lambda pair, grant: (
            grant["pkce"] == "plain",
            f"PKCE for this token: {grant['pkce']!r}; use a code_challenge_method=plain code",
            "a plain challenge, read from the request, redeemed the code",
        ),
        won="plain PKCE fell to an observer",
        lost="not a plain-PKCE code",
    )


@LAB.check(
    "nonce-replay",
    title="Replay alice's ID token to the client (nonce not checked)",
    kind="attack",
    hints=(
        "The token response of your first attack has an id_token: alice's, for webapp.",
        "In a fresh browser, GET CLIENT + '/callback' with params={'id_token': ...}.",
        "Hand in the ID token; the check replays it itself.",
    ),
    answer_help="alice's ID token (a JWT)",
)
def nonce_replay(ctx: CheckContext) -> Verdict:
    token = ctx.answer
    if not isinstance(token, str) or token.count(".") != 2:
        return Verdict(False, f"expected an ID token (a JWT str), got {type(token).__name__}")
    pair = _pair(ctx.target)
    with attack.browser() as http:
        http.get(pair.client + "/callback", params={"id_token": token})
        who = _client_me(http, pair)
    findings = Findings()
    findings.expect(
        who == VICTIM,
        f"replaying the token logged a fresh browser in as {who!r}, not alice",
        "a fresh browser with no login in progress became alice",
    )
    return findings.verdict("the client accepted a replayed ID token", "the replay failed")


# -- fixes: the server ----------------------------------------------------------------------
def _pkce_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "pkce") as (http, _):
        code = _code(pair, http, challenge=RFC7636_CHALLENGE)
        rfc = _redeem(pair, code or "", code_verifier=RFC7636_VERIFIER)
        findings.expect(
            code is not None and _issued(rfc),
            f"the RFC 7636 Appendix B verifier did not redeem its S256 code ({rfc.status_code}"
            f"{_fault(rfc)})",
            "RFC 7636 Appendix B: dBjftJeZ4CVP... redeems the code for E9Melhoa2Owv...",
        )
        verifier = secrets.token_urlsafe(48)
        other = secrets.token_urlsafe(48)
        challenge = attack.s256(verifier)
        # label: (code_challenge, code_challenge_method, code_verifier sent at /token)
        attempts: dict[str, tuple[str | None, str | None, str | None]] = {
            "an S256 code redeemed with no code_verifier (interception)": (challenge, "S256", None),
            "an S256 code redeemed with the wrong code_verifier": (challenge, "S256", other),
            "a plain code redeemed with the challenge seen in the request": (
                verifier, "plain", verifier),
            "a code whose request named no method (plain, RFC 7636 §4.3)": (
                verifier, None, verifier),
            "a code requested without PKCE, redeemed without a verifier": (None, None, None),
            "a code requested without PKCE, redeemed with a verifier (RFC 9700 §4.8)": (
                None, None, verifier),
        }  # fmt: skip
        for label, (challenge, method, sent) in attempts.items():
            code = _code(pair, http, challenge=challenge, method=method)
            if code is None:
                findings.saw(f"refused at /authorize: {label}")
                continue
            response = _redeem(pair, code, code_verifier=sent)
            findings.expect(
                not _issued(response),
                f"tokens issued for {label}{_fault(response)}",
                f"refused: {label}",
            )


def _redirect_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "redirect") as (http, _):
        tricks = attack.redirect_uri_tricks(pair.redirect_uri, pair.attacker)
        tricks["unregistered site"] = pair.attacker + "/cb"
        base = {"response_type": "code", "scope": SCOPE, "state": "s-" + secrets.token_hex(8)}
        base["code_challenge"], base["code_challenge_method"] = attack.s256("v" * 43), "S256"
        for name, uri in tricks.items():
            response = http.get(
                attack.authorize_url(
                    pair.server, client_id=pair.client_id, redirect_uri=uri, **base
                )
            )
            findings.expect(
                response.status_code == 400 and "location" not in response.headers,
                f"redirect_uri trick '{name}' ({uri}) got {response.status_code}"
                f"{_where(response)}{_fault(response)}",
                f"'{name}': 400 error page, no redirect",
            )
        unknown = http.get(
            attack.authorize_url(
                pair.server, client_id="no-such-client", redirect_uri=pair.attacker + "/cb", **base
            )
        )
        findings.expect(
            unknown.status_code == 400 and "location" not in unknown.headers,
            f"an unknown client_id got {unknown.status_code} (must be a 400 page, no redirect)",
            "unknown client_id: 400 error page, no redirect",
        )
        exact = http.get(
            attack.authorize_url(
                pair.server, client_id=pair.client_id, redirect_uri=pair.redirect_uri, **base
            )
        )
        location = exact.headers.get("location", "")
        findings.expect(
            exact.is_redirect and location.startswith(pair.redirect_uri + "?"),
            f"the exact registered redirect_uri was refused ({exact.status_code}{_fault(exact)})",
            "the exact registered redirect_uri gets its code",
        )


def _codes_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "codes") as (http, _):
        code, verifier = _fresh_code(pair, http)
        first = _redeem(pair, code, code_verifier=verifier)
        if not findings.expect(
            _issued(first),
            f"a fresh code with the right client, redirect_uri and verifier was refused "
            f"({first.status_code} {first.text[:100]})",
            "a fresh code redeems once",
        ):
            return
        again = _redeem(pair, code, code_verifier=verifier)
        findings.expect(
            not _issued(again),
            f"the same code redeemed a second time{_fault(again)}",
            "a second redemption of the same code is refused",
        )
        if not _issued(again):
            with httpx.Client(trust_env=False, timeout=30.0) as plain:
                bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
                revoked = plain.get(pair.server + "/userinfo", headers=bearer).status_code == 401
            if revoked:
                findings.saw(
                    "and the tokens of its first redemption were revoked (RFC 6749 §4.1.2)"
                )
        cases: dict[str, dict[str, Any]] = {
            f"redeemed by another client ({pair.evil_id}, with its own secret)": {
                "client_id": pair.evil_id, "client_secret": pair.evil_secret},
            "redeemed with another redirect_uri": {
                "redirect_uri": pair.redirect_uri + "?next=" + pair.attacker},
            "redeemed without the redirect_uri it was issued for": {"redirect_uri": None},
        }  # fmt: skip
        for label, overrides in cases.items():
            code, verifier = _fresh_code(pair, http)
            response = _redeem(pair, code, code_verifier=verifier, **overrides)
            findings.expect(
                not _issued(response),
                f"a code {label} got tokens{_fault(response)}",
                f"refused: {label}",
            )
        code, verifier = _fresh_code(pair, http)
        with httpx.Client(trust_env=False, timeout=30.0) as plain:
            plain.post(
                pair.server + "/api/_lab/age-code", json={"code": code, "seconds": CODE_TOO_OLD_S}
            )
        old = _redeem(pair, code, code_verifier=verifier)
        findings.expect(
            not _issued(old),
            f"an 11-minute-old code got tokens (at most 10 minutes, RFC 6749 §4.1.2){_fault(old)}",
            "refused: an 11-minute-old code",
        )


def _flows_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "flows") as (http, email):
        implicit = http.get(
            attack.authorize_url(
                pair.server,
                response_type="token",
                client_id=pair.client_id,
                redirect_uri=pair.redirect_uri,
                state="s",
            )
        )
        location = implicit.headers.get("location", "")
        findings.expect(
            "access_token" not in location and "access_token" not in implicit.text,
            f"response_type=token put an access token in the URL{_fault(implicit)}",
            "the implicit grant is refused (no token in any URL)",
        )
        password = http.post(
            pair.server + "/token",
            data={
                "grant_type": "password",
                "username": email,
                "password": "x",
                "client_id": pair.client_id,
            },
        )
        # the wrong password keeps this probe harmless; the grant type must be refused itself
        error = password.json().get("error") if password.content else None
        findings.expect(
            password.status_code == 400 and error == "unsupported_grant_type",
            f"grant_type=password answered {password.status_code} {error!r}{_fault(password)}: "
            "the grant itself must be refused (unsupported_grant_type)",
            "the password grant is refused (unsupported_grant_type)",
        )


# -- fixes: the client ----------------------------------------------------------------------
def _forged_callback(pair: Pair) -> str:
    """The attacker's own callback URL: their code and state, never delivered."""
    http, _ = _signed_in(pair, "attacker")
    with closing(http):
        trip = attack.follow(http, pair.client + "/login", stop_at=pair.redirect_uri)
    if trip.stopped_at is None:
        raise Broken("the client's login did not reach its callback")
    return trip.stopped_at


def _without(url: str, name: str) -> str:
    parts = urlsplit(url)
    params = attack.query_params(url)
    params.pop(name, None)
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in params.items())))


def _state_battery(pair: Pair, findings: Findings) -> None:
    forged = _forged_callback(pair)
    cases = {
        "the attacker's callback, no login in progress": (forged, False),
        "the attacker's callback without state, no login in progress": (
            _without(forged, "state"), False),
        "the attacker's callback while the victim's own login is in progress": (forged, True),
    }  # fmt: skip
    for label, (url, pending) in cases.items():
        victim, _ = _signed_in(pair, "victim")
        with closing(victim):
            if pending:
                victim.get(pair.client + "/login")  # her own login started, not finished
            response = victim.get(url)
            who = _client_me(victim, pair)
        findings.expect(
            who is None,
            f"login CSRF: {label} logged the victim in as {who}{_fault(response)}",
            f"refused: {label}",
        )


def _victim_id_token(pair: Pair, nonce: str | None) -> str:
    http, _ = _signed_in(pair, "victim")
    with closing(http):
        code, verifier = _fresh_code(pair, http, nonce=nonce)
    tokens = _redeem(pair, code, code_verifier=verifier)
    if not _issued(tokens):
        raise Broken(f"could not get an ID token to replay: {tokens.text[:100]}{_fault(tokens)}")
    return str(tokens.json()["id_token"])


def _nonce_battery(pair: Pair, findings: Findings) -> None:
    with_nonce = _victim_id_token(pair, "n-" + secrets.token_hex(8))
    without_nonce = _victim_id_token(pair, None)
    cases = {
        "a replayed ID token, no login in progress": (with_nonce, False),
        "a replayed ID token while a login is in progress": (with_nonce, True),
        "an ID token without a nonce, no login in progress": (without_nonce, False),
        "an ID token without a nonce while a login is in progress": (without_nonce, True),
    }
    for label, (token, pending) in cases.items():
        with attack.browser() as http:
            if pending:
                http.get(pair.client + "/login")
            response = http.get(pair.client + "/callback", params={"id_token": token})
            who = _client_me(http, pair)
        findings.expect(
            who is None,
            f"{label} logged the attacker in as {who}{_fault(response)}",
            f"refused: {label}",
        )


# -- fix checks -----------------------------------------------------------------------------
def _run(
    ctx: CheckContext,
    batteries: dict[str, Callable[[Pair, Findings], None]],
    passed: str,
    failed: str,
) -> Verdict:
    pair = _pair(ctx.require_patched())
    findings = Findings()
    for name, battery in batteries.items():
        before = len(findings.problems)
        try:
            battery(pair, findings)
        except Broken as exc:
            findings.fail(f"{name}: {exc}")
        if len(batteries) > 1 and len(findings.problems) == before:
            findings.saw(f"{name}: every attack refused")
    try:
        _legit_battery(pair, findings)
    except Broken as exc:
        findings.fail(f"legitimate flow: {exc}")
    return findings.verdict(passed, failed)


@LAB.check(
    "pkce",
    title="Require PKCE with S256 at the token endpoint",
    kind="fix",
    fixes=("verify_pkce",),
    hints=(
        "No challenge, no verifier, or a method other than 'S256': return False.",
        "S256: BASE64URL(SHA256(ASCII(verifier))) without '=' padding must equal the challenge "
        "(authlib.oauth2.rfc7636.create_s256_code_challenge computes it).",
        "Compare with hmac.compare_digest; RFC 7636 §4.1 also limits the verifier to 43–128 "
        "unreserved characters.",
    ),
)
def pkce(ctx: CheckContext) -> Verdict:
    return _run(
        ctx, {"PKCE": _pkce_battery}, "only S256 PKCE redeems a code", "PKCE is not enforced"
    )


@LAB.check(
    "redirect-uri-exact",
    title="Match redirect URIs exactly",
    kind="fix",
    fixes=("validate_redirect_uri",),
    hints=(
        "RFC 9700 §4.1.3: compare the whole string, exactly.",
        "No lower(), no startswith, no urlsplit-and-compare-some-parts.",
    ),
)
def redirect_uri_exact(ctx: CheckContext) -> Verdict:
    return _run(
        ctx,
        {"redirect URIs": _redirect_battery},
        "only the registered redirect URI gets a code",
        "a tricked redirect_uri still gets through",
    )


@LAB.check(
    "codes",
    title="Codes: single use, at most 10 minutes, bound to client and redirect URI",
    kind="fix",
    fixes=("redeem_code",),
    hints=(
        "codes.pop(code) takes the record out atomically: a second redemption finds None.",
        "Compare record['client_id'] with client_id and record['redirect_uri'] with "
        "redirect_uri (the token request must repeat it exactly).",
        "time.time() - record['issued_at'] must not exceed 600 seconds.",
    ),
)
def codes(ctx: CheckContext) -> Verdict:
    return _run(
        ctx, {"codes": _codes_battery}, "codes are single-use and bound", "codes are still loose"
    )


@LAB.check(
    "flows",
    title="Refuse the implicit and password grants",
    kind="fix",
    fixes=("flow_allowed",),
    hints=(
        "Only one flow is left in OAuth 2.1 for a user at a browser: 'authorization_code'.",
        "RFC 9700 §2.1.2 (implicit) and §2.4 (password): MUST NOT be used.",
    ),
)
def flows(ctx: CheckContext) -> Verdict:
    return _run(
        ctx, {"flows": _flows_battery}, "only the code flow is offered", "an old grant is on"
    )


@LAB.check(
    "state",
    title="Client: compare state with the session's, once",
    kind="fix",
    fixes=("check_state",),
    hints=(
        "No login in progress (expected is None) means an unsolicited callback: False.",
        "A missing returned state: False.",
        "Otherwise hmac.compare_digest(expected, returned).",
    ),
)
def state(ctx: CheckContext) -> Verdict:
    return _run(ctx, {"state": _state_battery}, "login CSRF is stopped", "login CSRF still works")


@LAB.check(
    "nonce",
    title="Client: check the ID token's nonce",
    kind="fix",
    fixes=("check_nonce",),
    hints=(
        "The ID token's claims['nonce'] must equal the nonce this session sent.",
        "No nonce expected, or none in the token: False.",
        "Compare with hmac.compare_digest.",
    ),
)
def nonce(ctx: CheckContext) -> Verdict:
    return _run(ctx, {"nonce": _nonce_battery}, "replayed ID tokens are refused", "replay works")


BATTERIES: dict[str, Callable[[Pair, Findings], None]] = {
    "PKCE": _pkce_battery,
    "redirect URIs": _redirect_battery,
    "codes": _codes_battery,
    "flows": _flows_battery,
    "state": _state_battery,
    "nonce": _nonce_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed server and client",
    kind="fix",
    fixes=(
        "validate_redirect_uri",
        "verify_pkce",
        "redeem_code",
        "flow_allowed",
        "check_state",
        "check_nonce",
    ),
    points=2,
    hints=(
        "Pass all six functions: the server's four and the client's two.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    return _run(ctx, BATTERIES, "every attack fails and logins work", "some attacks get through")
