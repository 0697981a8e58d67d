# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 00 · Welcome to the Security Patterns Workbook
#
# In every lab you will **attack** a deliberately insecure web app that runs live inside this
# notebook, **write the fix**, and then **replay the same attack against your fix** — and watch
# it fail while legitimate users can still log in. Nothing here is a simulation: the apps are
# real FastAPI servers on `127.0.0.1`, the databases are real SQLite files, the hashes are real
# bcrypt and argon2.
#
# Each lab follows the same five steps:
#
# | step | what you do |
# | --- | --- |
# | **Learn** | the pattern, and the standard it comes from (OWASP, NIST, the RFCs) |
# | **Attack** | exploit the vulnerable app; a check confirms the exploit really worked |
# | **Fix** | write the secure function in a `TODO` cell |
# | **Verify** | the lab replays every attack against your fix, plus the legitimate flows |
# | **Recap** | the anti-pattern to avoid and what a reviewer looks for |
#
# This first notebook shows you the tools in five minutes. Run each cell with **Shift+Enter**.

# %% [markdown]
# ## Start a lab
#
# `labkit.open_lab(...)` starts the lab's vulnerable app in a *sandbox*: a real web server in a
# background thread, reachable only from this machine. The panel shows its address.

# %%
import labkit

lab = labkit.open_lab("00-welcome")
lab

# %% [markdown]
# ## Send a request
#
# `lab.client` is an [httpx](https://www.python-httpx.org/) client already pointed at the app,
# so paths are enough. Everything you would do with `curl`, you can do here.

# %%
response = lab.client.get("/api/hello")
response.status_code, response.json()

# %% [markdown]
# ## Watch the traffic
#
# Every request to the sandbox is recorded. The inspector highlights the headers that matter
# for security — `Set-Cookie` flags, CORS, CSP, HSTS, rate limits — which later labs are about.

# %%
lab.traffic()

# %% [markdown]
# ## Practice check 1 — an attack-style exercise
#
# In the attack steps you hand a result to `lab.check(...)`. The check never compares your
# answer with a stored solution: it **replays it against the running app** and judges what
# happens. Secrets are generated fresh for every sandbox, so answers cannot be copied.
#
# The app hands out a ticket at `GET /api/ticket` — but only to clients that send the header
# `X-Workbook: ready`. Try without it first:

# %%
lab.client.get("/api/ticket").json()

# %% [markdown]
# Now fetch a ticket properly and store the string in `ticket`.

# %% labkit={"answer": "first-ticket"}
### BEGIN SOLUTION
ticket = lab.client.get("/api/ticket", headers={"X-Workbook": "ready"}).json()["ticket"]
### STUB
ticket = None  # TODO: request /api/ticket with the header X-Workbook: ready
### END SOLUTION

# %% labkit={"check": "first-ticket"}
lab.check("first-ticket", ticket)

# %% [markdown]
# A check shows ✅ or ❌ and what it observed. Stuck? Click **Hint** in the panel, or in the
# one below: hints come one at a time, the last one is the most direct, and the workbook
# remembers how many you used. (In code, `lab.hint("first-ticket")` reveals the next one;
# the cell below only shows what you have revealed, so running every cell spends nothing.)

# %%
lab.hints("first-ticket")

# %% [markdown]
# ## Practice check 2 — a fix
#
# In the fix steps you write a function, and the lab plugs it into a **second sandbox** running
# the same app with your code in place (`lab.patched(...)`). The check then attacks that app
# over HTTP and also makes sure real users are still served.
#
# The greeting endpoint accepts any name: empty, blank, or five thousand characters long.

# %%
too_long = lab.client.post("/api/greet", json={"name": "A" * 5000})
too_long.status_code, len(too_long.json()["greeting"])

# %% [markdown]
# Write `validate_name(name)` returning the list of problems with a name (an empty list when it
# is fine): a name is trimmed with `.strip()` and must then be 1 to 40 characters. The app
# answers `400 {"errors": [...]}` whenever your list is not empty.

# %% labkit={"answer": "greeting-fix"}
def validate_name(name: str) -> list[str]:
    ### BEGIN SOLUTION
    cleaned = name.strip()
    if not cleaned:
        return ["Name is required"]
    if len(cleaned) > 40:
        return ["Name must be at most 40 characters"]
    return []
    ### END SOLUTION


# %% labkit={"check": "greeting-fix"}
lab.check("greeting-fix", validate_name=validate_name)

# %% [markdown]
# You can poke at your patched app yourself. If your function raises or loops forever, the app
# answers `500` and says why in `labkitFault` — your notebook and the sandbox keep running.

# %%
fixed = lab.patched(validate_name=validate_name)
fixed.client.post("/api/greet", json={"name": "   "}).json()

# %% [markdown]
# ## What is graded when you hand in a notebook
#
# If your course grades the labs, the grader runs your notebook again, from the top, in a
# fresh kernel — and it runs **its own copy** of the lab's notebook with your work put into it:
#
# - **Your code is graded**: every `TODO` cell (like the two above), plus every code cell you
#   *added* yourself (helper functions, imports), each in its place between the `TODO` cells.
# - **The lab's own cells are not yours to change**: the `lab.check(...)` cells, the
#   explanations and the example cells come from the published lab, so editing or deleting
#   them changes nothing. Put your helpers in a new cell or in the `TODO` cell instead.
# - **Saved outputs are never read**: a ✅ in your file counts only if the check passes again.
# - **One `TODO` cell per exercise**: if you copied one to try something, the *last* copy is
#   graded. Hand in one notebook per lab; of several copies (`01-passwords-Copy1.ipynb`...)
#   only the most recently saved one is graded.
#
# Before you hand in, run **Kernel → Restart Kernel and Run All Cells**: what passes then is
# what the grader will see.

# %% [markdown]
# ## Your progress
#
# Every check result and every hint is saved under `~/.labkit` (or `$LABKIT_HOME`).
# On Binder your session disappears after a few idle minutes: run
# `labkit progress --export progress.json` in a terminal and download the file to keep it.

# %%
labkit.progress()

# %% [markdown]
# ## The map of the course
#
# The labs follow the *Security Implementation Workflow* of the security-patterns catalogue:
#
# | workflow step | labs |
# | --- | --- |
# | 1. Choose authentication strategy | 02 JWT, 03 sessions, 04 OAuth + PKCE, 05 API keys |
# | 2. Implement authorization model | 06 RBAC and resource ownership |
# | 3. Set up password hashing | **01 passwords** (next) |
# | 4. Configure secrets management | 08 secrets and rotation |
# | 5. Enable encryption (transit + rest) | 09 encryption |
# | 6. Configure CORS | 10 CORS |
# | 7. Add rate limiting | 11 rate limiting |
# | 8. Validate against anti-patterns checklist | 07 input validation, 12 headers, 13 capstone audit |
#
# Want to use your own tools? In a terminal, `labkit serve 01-passwords` serves any lab app
# for curl, Burp, ZAP or sqlmap (add `--secure` for the fixed one).
#
# Next: **01 · Passwords** — crack a leaked password table, then make it uncrackable.

# %%
lab.close()
