# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 10 · CORS — cross-origin reads
#
# *Workflow step 6: configure CORS.* Standards: the [Fetch standard](https://fetch.spec.whatwg.org/)
# — its [CORS protocol](https://fetch.spec.whatwg.org/#http-cors-protocol) and
# [CORS check](https://fetch.spec.whatwg.org/#cors-check); RFC 6454 (the web origin concept);
# OWASP ASVS 5.0 V3.4.2 (CORS `Access-Control-Allow-Origin` is a fixed value or checked against
# an allowlist); PortSwigger Web Security Academy, *CORS*; the OWASP HTML5 Security Cheat
# Sheet, section *Cross Origin Resource Sharing*.
#
# The lab app is a bank's account API. Its web app (the *frontend*) runs on another origin and
# reads the API with the user's session cookie, so the API must answer cross-origin requests.
# The team allowed "everyone" to get it working, and over the years wrote five origin checks
# by hand for partner gateways. You will steal the victim's account from an attacker's page in
# a real browser, get through each hand-written check, and then write the policy that lets in
# the frontend and nobody else.

# %%
import labkit
from labkit.attacks import cors
from labkit.browser import BrowserUnavailable

lab = labkit.open_lab("10-cors")
lab

# %% [markdown]
# ## Learn
#
# **The same-origin policy** lets a page *send* requests anywhere but *read* responses only
# from its own origin — scheme, host and port, exactly (RFC 6454). `http://127.0.0.1:8000` and
# `http://127.0.0.1:8001` are two origins.
#
# **CORS** is how a server relaxes that, per response. The browser adds `Origin: <page origin>`
# to a cross-origin request; the server answers `Access-Control-Allow-Origin` (ACAO). For a
# request *with cookies* (`fetch(url, {credentials: "include"})`) the Fetch standard's CORS
# check passes only if ACAO equals the page's origin exactly — `*` is not enough — **and**
# `Access-Control-Allow-Credentials: true`. Anything else, and the page gets
# `TypeError: Failed to fetch` (the request was still sent; only the *read* is blocked).
#
# Requests that are not "simple" (a `PUT`, a JSON body) are asked about first: the browser
# sends a **preflight** `OPTIONS` with `Access-Control-Request-Method` and `-Headers`, and
# only sends the real request if the answer allows them. `Access-Control-Max-Age` says how
# long the browser may remember that answer.
#
# **The trap.** A server that *reflects* whatever `Origin` it gets, with credentials allowed,
# lets every website read its users' data. That is exactly what Starlette's `CORSMiddleware`
# does with `allow_origins=["*"]` and `allow_credentials=True`, because a literal `*` would be
# refused by browsers for credentialed requests.
#
# The catalogue's pattern (TypeScript, Express `cors`): an explicit list, compared exactly.
#
# ```ts
# const ALLOWED_ORIGINS = ["https://myapp.com", "https://admin.myapp.com"];
# app.use(cors({
#   origin: (origin, callback) => {
#     if (!origin || ALLOWED_ORIGINS.includes(origin)) callback(null, true);
#     else callback(new Error("Not allowed by CORS"));
#   },
#   credentials: true,
#   methods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
#   allowedHeaders: ["Content-Type", "Authorization"],
#   maxAge: 86400,
# }));
# ```
#
# The Fetch CORS check is small enough to write down; `cors.cors_check` is it, line for line:

# %%
page = "https://evil.example.net"
print(cors.cors_check({"Access-Control-Allow-Origin": "*"}, page, credentials=True))
print(cors.cors_check({"Access-Control-Allow-Origin": page,
                       "Access-Control-Allow-Credentials": "true"}, page, credentials=True))  # fmt: skip

# %% [markdown]
# The lab runs three sandboxes, three origins on 127.0.0.1: the API, the legitimate frontend,
# and an attacker's page ("Win a prize!").

# %%
lab.urls

# %% [markdown]
# ## Attack 1 — read the victim's account from the attacker's page
#
# The victim, Alice, is logged in to the bank in her browser: the login set an `HttpOnly`,
# `Secure`, `SameSite=Lax` session cookie. Then she visits the attacker's page — yours. What
# does a script on that page have to do to read her account from the bank's API?
#
# Write that script, in JavaScript, as `steal_js`: the body of an `async` function whose
# argument `api` is the bank's URL (`lab.urls["main"]`). It must **return what it read** —
# Alice's account, as the API sends it. `fetch` sends cookies cross-origin only when asked
# to, and hands the page the answer only when the API's CORS headers allow it. Success looks
# like Alice's email, IBAN and recovery code in what your script returns.

# %% labkit={"answer": "steal-account"}
### BEGIN SOLUTION
steal_js = """
const response = await fetch(api + "/api/account", {credentials: "include"});
return await response.json();
"""
### STUB
steal_js = """
// TODO: read /api/account from the bank at `api`, with Alice's cookie, and return it
"""
### END SOLUTION

# %% [markdown]
# Now play it: headless Chromium (through Playwright, with the system browser) logs Alice in
# on the bank's origin, opens the attacker's page, and runs your script there.
#
# Why does the cookie go along at all? `SameSite=Lax` stops cookies on cross-*site* requests,
# and two ports of 127.0.0.1 are the same *site* — just as `evil.example.com` and
# `bank.example.com` are. SameSite is no substitute for CORS.

# %%
victim = (lab.users["alice"].email, lab.users["alice"].password)
try:
    runs = cors.run_page_script(lab.urls["main"], lab.urls["attacker"], steal_js, victim=victim)
except BrowserUnavailable as exc:
    runs = []
    print("no Chromium here:", exc)
runs

# %% [markdown]
# The same question over plain HTTP, the way an auditor asks it: send the attacker's `Origin`
# and look at the answer.

# %%
cors.probe_origin(lab.client, cors.origin_of(lab.urls["attacker"]))

# %% [markdown]
# The check runs your script again, from the attacker's page, and looks for Alice's recovery
# code in what it returns.

# %% labkit={"check": "steal-account"}
lab.check("steal-account", steal_js)

# %% [markdown]
# ## Attacks 2–6 — the hand-written origin checks
#
# Partners reach the same account through older gateways, `/api/legacy/<name>/account`.
# Each is guarded by one hand-written check from `labkit.vulnerable.cors` — each a mistake
# PortSwigger's research found again and again in real code:
#
# | gateway | the check | |
# | --- | --- | --- |
# | `null` | `origin in ("https://app.example.com", "null")` | "for local files" |
# | `suffix` | `origin.endswith("app.example.com")` | |
# | `prefix` | `origin.startswith("https://app.example.com")` | |
# | `regex` | `re.match(r"^https://app.example.com$", origin)` | dots unescaped |
# | `http` | `urlsplit(origin).hostname == "app.example.com"` | scheme ignored |
#
# For each, find an origin **an attacker can have** that gets through: the check reads the
# account through that gateway with the victim's cookie and your `Origin`. Try candidates in
# the cell below (change `candidate` and run it again): a gateway lets a page read when it
# answers with `Access-Control-Allow-Origin` equal to the candidate and
# `Access-Control-Allow-Credentials: true`. The real frontend's origin does not count. The check judges your
# origin as a browser would send it: lower case, no `user@`, no default port (`:443`), and a
# host under a top-level domain anyone can register (`.com`, `.net`, a country code... not
# `.evil` or `.test`) — or `null`.

# %%
candidate = "https://evil.example.net"
for name in ["null", "suffix", "prefix", "regex", "http"]:
    answer = lab.client.get(f"/api/legacy/{name}/account", headers={"Origin": candidate})
    print(name.ljust(7), answer.status_code,
          "ACAO:", answer.headers.get("access-control-allow-origin"),
          "ACAC:", answer.headers.get("access-control-allow-credentials"))  # fmt: skip

# %% labkit={"answer": "null-origin"}
### BEGIN SOLUTION
null_origin = "null"
### STUB
null_origin = None  # TODO: the origin a sandboxed iframe sends
### END SOLUTION

# %% labkit={"check": "null-origin"}
lab.check("null-origin", null_origin)

# %% labkit={"answer": "suffix-origin"}
### BEGIN SOLUTION
suffix_origin = "https://evilapp.example.com"
### STUB
suffix_origin = None  # TODO: an origin of yours that ends like the app's
### END SOLUTION

# %% labkit={"check": "suffix-origin"}
lab.check("suffix-origin", suffix_origin)

# %% labkit={"answer": "prefix-origin"}
### BEGIN SOLUTION
prefix_origin = "https://app.example.com.evil.net"
### STUB
prefix_origin = None  # TODO: an origin of yours that starts like the app's
### END SOLUTION

# %% labkit={"check": "prefix-origin"}
lab.check("prefix-origin", prefix_origin)

# %% labkit={"answer": "regex-origin"}
### BEGIN SOLUTION
regex_origin = "https://appxexample.com"
### STUB
regex_origin = None  # TODO: a registrable domain the unescaped regex matches
### END SOLUTION

# %% labkit={"check": "regex-origin"}
lab.check("regex-origin", regex_origin)

# %% labkit={"answer": "http-origin"}
### BEGIN SOLUTION
http_origin = "http://app.example.com"
### STUB
http_origin = None  # TODO: the app's host, on a scheme a network attacker controls
### END SOLUTION

# %% labkit={"check": "http-origin"}
lab.check("http-origin", http_origin)

# %% [markdown]
# **Back in the browser.** Your page from Attack 1 again, twice more: inside a sandboxed
# iframe, which sends `Origin: null`, and served under your suffix origin (Playwright answers
# for that name, as if its DNS pointed at the attacker's sandbox). The browser lets both
# *read* the API's answers — the CORS check passes — but the answer is a 401: those pages are
# cross-*site* to 127.0.0.1, so the `SameSite=Lax` cookie stayed home. Against a real
# `api.example.com`, `evilapp.example.com` *is* same-site and the cookie goes along; a
# `SameSite=None` cookie goes from anywhere the browser still allows third-party cookies.

# %%
pages = ["null"] + [o for o in [suffix_origin] if isinstance(o, str) and o.startswith("https://")]
try:
    again = cors.run_page_script(lab.urls["main"], lab.urls["attacker"], steal_js, victim=victim, pages=pages)
except BrowserUnavailable as exc:
    again = []
    print("no Chromium here:", exc)
again

# %% [markdown]
# ## Fix — one explicit allowlist, in Starlette's CORSMiddleware
#
# Write `cors_settings(trusted_origins) -> dict`: the keyword arguments for Starlette's
# `CORSMiddleware`. The app calls it with the origins it must trust — `https://app.example.com`
# and the frontend sandbox's origin — and uses your settings for **every** route, legacy
# gateways included. The seed's pattern, in Starlette's words:
#
# - `allow_origins`: exactly the trusted list you are given (a list, a tuple...: as it is),
#   nothing added — no `"*"`, no `"null"`, no `http://` variants, no admin or dev origins "for
#   now" — and nothing removed. No `allow_origin_regex` (if you use one anyway, it must match
#   the trusted origins and nothing else). Starlette then answers a trusted origin with that
#   origin and `Vary: Origin` (so caches keep answers for different origins apart), and a
#   refused one with **no** `Access-Control-Allow-Origin` at all. (A refused simple `GET` still
#   gets its 200: the browser, not the server, withholds the body.)
# - `allow_credentials=True`: the frontend reads with the session cookie.
# - `allow_methods`: what the frontend does cross-origin — `GET` and `PUT` (`HEAD` does no
#   harm). Not `"*"`, not `DELETE`, `PATCH` or `POST`.
# - `allow_headers`: `Content-Type` (its JSON `PUT`) and `Authorization`. Not `"*"`.
# - `max_age`: how long a browser may cache a preflight answer, a whole number of seconds
#   from 0 (no caching) to 86400; 600 s is Starlette's default (browsers cap it: Chromium at
#   2 h, Firefox at 24 h).
#
# <!-- labkit:rules origin-battery preflight browser-exploit verify -->
#
# The checks replay your own attacks too — your page's script and your five origins:

# %%
exploits = {
    "script": steal_js,
    "origins": {"null": null_origin, "suffix": suffix_origin, "prefix": prefix_origin,
                "regex": regex_origin, "http": http_origin},
}  # fmt: skip


# %% labkit={"answer": "origin-battery"}
def cors_settings(trusted_origins: list[str]) -> dict:
    ### BEGIN SOLUTION
    return {
        "allow_origins": list(trusted_origins),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }
    ### END SOLUTION


# %% [markdown]
# First the origin battery over HTTP: your origins from Attacks 2–6 on their gateways, the
# classic bypass origins, the attacker's sandbox, and some fifty origins generated around the trusted ones (other subdomains, ports
# and schemes, look-alike hosts, a `.` a regex would match, `user@`, `null`) must get no
# `Access-Control-Allow-Origin` — on `GET` and on the `PUT` preflight, on every route —
# while the two trusted origins get theirs, with credentials and `Vary: Origin`.

# %% labkit={"check": "origin-battery"}
lab.check("origin-battery", exploits, cors_settings=cors_settings)

# %% [markdown]
# Then the preflights: the frontend's `PUT` with `Content-Type` passes; `DELETE`, `PATCH`,
# `POST` or a made-up method, or a header the frontend never sends, does not; the preflight
# cache is bounded.

# %% labkit={"check": "preflight"}
lab.check("preflight", cors_settings=cors_settings)

# %% [markdown]
# And the real thing, in Chromium: the attacker's page, its `null` iframe and its pages under
# spoofed https origins must all be blocked — and so must **your script from Attack 1**, run
# from the attacker's page, a `null` iframe and your first https origin — while the legitimate
# frontend still reads the account and saves it back (its `PUT` needs a preflight).

# %% labkit={"check": "browser-exploit"}
lab.check("browser-exploit", exploits, cors_settings=cors_settings)

# %% [markdown]
# ## Verify — replay everything
#
# The whole battery, the preflights and the browser exploits — yours included — against your
# complete fix.

# %% labkit={"check": "verify"}
lab.check("verify", exploits, cors_settings=cors_settings)

# %% [markdown]
# ## Recap
#
# | anti-pattern (the catalogue's table) | pattern |
# | --- | --- |
# | `cors({ origin: '*' })` — or `*` with credentials, which reflects every origin | explicit allowed origins list, compared exactly |
#
# What a reviewer looks for in real code:
#
# - `allow_origins=["*"]` together with `allow_credentials=True` (Starlette, FastAPI), or any
#   code that copies the request's `Origin` into `Access-Control-Allow-Origin`.
# - Origin checks with `endswith`, `startswith`, `in` on a string, `re.match`/`re.search` with
#   unescaped dots or no anchors; `"null"` in an allowlist; `http://` origins in production.
# - A missing `Vary: Origin` where the ACAO value depends on the request (cache poisoning).
# - `allow_methods=["*"]`, `allow_headers=["*"]`, a year-long `max_age`.
# - Relying on `SameSite` instead: same-*site* is not same-*origin* (sibling subdomains, other
#   ports), and CORS does not stop the request from being *sent* — state-changing endpoints still
#   need CSRF protection (lab 03).
#
# Lab 11 adds rate limiting; lab 12 the headers that keep script out of your own origin.

# %%
lab.close()
