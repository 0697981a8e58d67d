# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 06 · Authorization — roles, owners and fields
#
# *Workflow step 2: implement the authorization model.* Standards: OWASP ASVS 5.0 V8 —
# 8.2.1 (function-level access), 8.2.2 (data-specific access: IDOR/BOLA), 8.2.3 (field-level
# access: BOPLA) and 8.3.2 (changes to authorization data apply immediately); the [OWASP API
# Security Top 10 (2023)](https://owasp.org/API-Security/editions/2023/en/0x11-t10/) API1
# (Broken Object Level Authorization), API3 (Broken Object Property Level Authorization) and
# API5 (Broken Function Level Authorization); the [OWASP Authorization Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Authorization_Cheat_Sheet.html) and
# the [Mass Assignment Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Mass_Assignment_Cheat_Sheet.html);
# CWE-285, CWE-639 and CWE-915.
#
# The lab app is a newsroom CMS. Alice is an admin, Bob an editor, Carol a viewer. Logging in
# is done right (lab 02's tokens). What happens *after* logging in is not: you will delete
# things as a viewer, edit someone else's article, hand an article to another author, and keep
# your powers after being demoted. Then you will write the authorization layer that stops it.

# %%
import base64
import html
import json

import matplotlib.pyplot as plt
from IPython.display import HTML

import labkit
from labkit.attacks import authz as attacks

lab = labkit.open_lab("06-authorization")
lab

# %% [markdown]
# ## Learn
#
# Authentication answers *who are you?* Authorization answers *may you do this, to this
# record, with these fields?* — three questions, and an API must ask all three on every request:
#
# | level | question | if forgotten | ASVS 5.0 | OWASP API Top 10 |
# | --- | --- | --- | --- | --- |
# | function | may this **role** call this route? | a viewer deletes users | 8.2.1 | API5 BFLA |
# | object | may this **user** touch this **record**? | an editor edits anyone's post (IDOR) | 8.2.2 | API1 BOLA |
# | field | which **fields** may the request set? | a PUT changes the author (mass assignment) | 8.2.3 | API3 BOPLA |
#
# The catalogue's pattern, in TypeScript — a role → permissions map and a middleware that
# checks it:
#
# ```ts
# const PERMISSIONS = {
#   admin: ["users:read", "users:write", "users:delete", "posts:read", "posts:write", "posts:delete"],
#   editor: ["posts:read", "posts:write", "posts:delete", "users:read"],
#   viewer: ["posts:read", "users:read"],
# } as const;
# function authorize(...requiredPermissions: string[]) {
#   return (req, res, next) => {
#     const userPermissions = PERMISSIONS[req.user.role as Role] || [];
#     const hasPermission = requiredPermissions.every((p) => userPermissions.includes(p));
#     if (!hasPermission) return res.status(403).json({ error: "Insufficient permissions" });
#     next();
#   };
# }
# ```
#
# and resource-level authorization on top of it:
#
# ```ts
# app.put("/api/posts/:id", authenticate, authorize("posts:write"), async (req, res) => {
#   const post = await db.post.findUnique({ where: { id: req.params.id } });
#   if (!post) return res.status(404).json({ error: "Not found" });
#   if (post.authorId !== req.user.id && req.user.role !== "admin") {
#     return res.status(403).json({ error: "Not authorized to edit this post" });
#   }
#   await db.post.update({ where: { id: req.params.id }, data: req.body });
# });
# ```
#
# Read the last line again: `data: req.body` writes *whatever the client sent* — including
# `authorId`. And `req.user.role` comes from the token (the catalogue's `authenticate` sets
# `req.user = { id: payload.sub, role: payload.role }`). Both are bugs you will exploit.

# %% [markdown]
# **The policy.** Here is the map in Python and, from it, what every role should get on every
# route — for a record of their own, somebody else's, and one that does not exist. Writing
# and deleting a post needs the permission *and* ownership (admins override). This table is
# what the checks compare your app with.

# %%
PERMISSIONS = {
    "admin": ["users:read", "users:write", "users:delete", "posts:read", "posts:write",
              "posts:delete"],
    "editor": ["posts:read", "posts:write", "posts:delete", "users:read"],
    "viewer": ["posts:read", "users:read"],
}  # fmt: skip
policy = attacks.expected_matrix(PERMISSIONS)

every = sorted({p for granted in PERMISSIONS.values() for p in granted})
rows = "".join(
    f"<tr><th>{role}</th>"
    + "".join(f"<td>{'✅' if p in granted else '—'}</td>" for p in every)
    + "</tr>"
    for role, granted in PERMISSIONS.items()
)
HTML(f"<table><tr><th></th>{''.join(f'<th>{html.escape(p)}</th>' for p in every)}</tr>"
     f"{rows}</table>")  # fmt: skip

# %%
for route in attacks.ROUTES:
    print(f"{route.label:<24} needs {route.permission:<13}"
          + (" + ownership (admin overrides)" if route.owned else ""))  # fmt: skip

# %% [markdown]
# ## Attack 1 — a viewer writes
#
# Everything below is plain HTTP against `lab.client` (an `httpx.Client` pointed at the lab).
# Logging in is `POST /api/auth/login {"email", "password"}`, which answers `{"accessToken":
# ...}`; every other request carries `Authorization: Bearer <token>`. A small helper:

# %%
def bearer(email: str, password: str) -> dict[str, str]:
    """Log in and return the header that carries the access token."""
    login = lab.client.post("/api/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


carol = bearer("carol@example.com", lab.users["carol"].password)
spare = lab.client.post("/api/_lab/accounts", json={"role": "viewer"}).json()  # a throwaway user
print("carol's header:", carol["Authorization"][:30] + "...", "| throwaway user id:", spare["id"])

# %% [markdown]
# Carol is a viewer: she may read posts and users, nothing more. As Carol, try every write
# route — `PUT /api/posts/{id}` (with a JSON body such as `{"title": "..."}`),
# `DELETE /api/posts/{id}` and `DELETE /api/users/{id}` — and look at the status codes: a
# 2xx means she got through. Use post 3 (one of Alice's) as the target post, and **the
# throwaway user `spare["id"]` as the target user**: never Alice or Bob, whom Attacks 2–4
# need. (Deleted them anyway, or want a fresh start? `lab = labkit.open_lab("06-authorization")`
# restarts the lab with its seeded users and posts; then run the cells from the top again.)
#
# Which route forgot to ask for a permission? Put that request in `viewer_request` as a tuple
# `(method, path)`.

# %% labkit={"answer": "viewer-writes"}
### BEGIN SOLUTION
attempts = [
    ("PUT", "/api/posts/3", {"title": "carol was here"}),
    ("DELETE", f"/api/users/{spare['id']}", None),
    ("DELETE", "/api/posts/3", None),
]
through = []
for method, path, body in attempts:
    response = lab.client.request(method, path, json=body, headers=carol)
    print(method, path, response.status_code)
    if 200 <= response.status_code < 300:
        through.append((method, path))
viewer_request = through[0]
### STUB
viewer_request = None  # TODO: ("METHOD", "/api/...") of a write a viewer got through
### END SOLUTION

# %% [markdown]
# The check replays your request as a brand-new viewer on somebody else's record.

# %% labkit={"check": "viewer-writes"}
lab.check("viewer-writes", viewer_request)

# %% [markdown]
# `PUT` has its `authorize("posts:write")`; both `DELETE` routes only check *that* a token is
# valid. Authentication is not authorization: every logged-in user passes it.
#
# ## Attack 2 — an editor edits anybody's post (IDOR)
#
# Bob is an editor, so he may write posts — *his* posts. List the posts (each has an
# `authorId`; `GET /api/users` tells you whose id is whose), pick one of Alice's and change its
# title as Bob. Put the request in `idor_request`.

# %%
bob = bearer("bob@example.com", lab.users["bob"].password)
ids = {u["email"]: u["id"] for u in lab.client.get("/api/users", headers=bob).json()}
for post in lab.client.get("/api/posts", headers=bob).json():
    print(post["id"], post["authorId"], post["title"])

# %% labkit={"answer": "idor"}
### BEGIN SOLUTION
alices = [p for p in lab.client.get("/api/posts", headers=bob).json()
          if p["authorId"] == ids["alice@example.com"]]  # fmt: skip
target = alices[0]["id"]
print(lab.client.put(f"/api/posts/{target}", json={"title": "Edited by bob"}, headers=bob).json())
idor_request = ("PUT", f"/api/posts/{target}")
### STUB
idor_request = None  # TODO: ("PUT", "/api/posts/<one of alice's>")
### END SOLUTION

# %% labkit={"check": "idor"}
lab.check("idor", idor_request)

# %% [markdown]
# The id in the URL is *user input*. Changing it is all an IDOR takes — OWASP ranks it first
# among API risks (API1:2023, Broken Object Level Authorization).
#
# ## Attack 3 — a PUT that changes the author (mass assignment)
#
# The PUT handler does what the catalogue's example does: `data: req.body`. Bob writes a
# libellous article and publishes it *as Alice*: update one of **his own** posts with a body
# that also sets `authorId` to Alice's id. Put the JSON body you sent in `mass_body`.

# %% labkit={"answer": "mass-assignment"}
### BEGIN SOLUTION
mine = [p for p in lab.client.get("/api/posts", headers=bob).json()
        if p["authorId"] == ids["bob@example.com"]]  # fmt: skip
mass_body = {"title": "Why I quit (by Alice)", "authorId": ids["alice@example.com"]}
print(lab.client.put(f"/api/posts/{mine[0]['id']}", json=mass_body, headers=bob).json())
### STUB
mass_body = None  # TODO: the JSON body (a dict) of a PUT that moved your post to alice
### END SOLUTION

# %% labkit={"check": "mass-assignment"}
lab.check("mass-assignment", mass_body)

# %% [markdown]
# The check replays your body on the editor's **own** post — so even the catalogue's ownership
# check (`post.authorId !== req.user.id`) lets it through: it looks at the row *before* the
# update, and the update then rewrites the very field it looked at. The other direction is
# worse: `{"authorId": <bob>}` on a post he can reach makes it his for good.

# %% [markdown]
# ## Attack 4 — demoted, but the token still says "editor"
#
# Bob moves to the sales team and Alice demotes him to viewer (the lab-only route
# `POST /api/_lab/users/{id}/role` plays the admin console). Bob logged in this morning; his
# access token is valid for 15 minutes and carries `"role": "editor"` (its middle part is
# base64url JSON: decode it and see). Log in as Bob, keep the token, demote him, then edit one
# of his posts **with the old token**: a 200 means the demotion changed nothing. Put the old
# token in `stale_token`. (Bob stays a viewer afterwards: to run Attacks 2–3 again, restart the
# lab with `lab = labkit.open_lab("06-authorization")` and run the cells from the top.)

# %% labkit={"answer": "stale-role"}
### BEGIN SOLUTION
login = lab.client.post("/api/auth/login",
                        json={"email": "bob@example.com", "password": lab.users["bob"].password})  # fmt: skip
stale_token = login.json()["accessToken"]
bob_id = ids["bob@example.com"]
print(lab.client.post(f"/api/_lab/users/{bob_id}/role", json={"role": "viewer"}).json())
payload = stale_token.split(".")[1]  # header.payload.signature, base64url without padding
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
print("the token says:", claims["role"])
old = {"Authorization": f"Bearer {stale_token}"}
posts = lab.client.get("/api/posts", headers=old).json()
still_his = next(p["id"] for p in posts if p["authorId"] == bob_id)
edit = lab.client.put(f"/api/posts/{still_his}", json={"title": "Still editing"}, headers=old)
print(edit.status_code)
### STUB
stale_token = None  # TODO: a token of bob's from BEFORE his demotion
### END SOLUTION

# %% labkit={"check": "stale-role"}
lab.check("stale-role", stale_token)

# %% [markdown]
# A self-contained token is a *cache* of facts about the user, and a role is exactly the kind
# of fact that changes. ASVS 5.0 8.3.2: changes to values that authorization decisions depend
# on must apply immediately.

# %% [markdown]
# ## The whole picture
#
# An access-control audit (what Burp's Autorize or ZAP's Access Control Testing do) calls every
# route as a fresh account of each role, on its own record, someone else's and a missing one,
# and compares the outcome with the policy. Boxed cells are where the app disagrees.

# %%
vulnerable = attacks.audit(lab.client)
attacks.matrix_figure(vulnerable.matrix, policy)
plt.show()
print("\n".join(attacks.differences(vulnerable.matrix, policy)))

# %% [markdown]
# ## Fix 1 — `authorize(*permissions)`, with the role from the database
#
# In FastAPI, the catalogue's middleware becomes a **dependency**: a function whose parameters
# are themselves dependencies, run before the route's handler. The lab app gives you two:
#
# - `token_claims` — the verified claims of the caller's access token (authentication, lab 02;
#   a bad token never gets this far). `claims["sub"]` is the user id, as a string.
# - `database` — the app's `Database`: `db.user(id) -> User | None` (with `.id`, `.email`,
#   `.role` as stored **now**) and `db.post(id) -> Post | None`.
#
# Write:
#
# - `current_user(claims, db) -> User`: the caller as the database knows them. Use the token
#   for *who*, never for *what they may do* — and never a role sent in a header, the query or
#   the body. An account that no longer exists gets `HTTPException(401, "Invalid token")`
#   (lab 02's authentication already refuses such tokens; keep the check anyway).
# - `authorize(*permissions)`: returns a dependency that takes the current user and returns
#   them when their role grants **every** required permission (role and permission names
#   compared exactly; an unknown role grants nothing), else raises
#   `HTTPException(403, "Insufficient permissions")`.
#
# The app puts `Depends(authorize("posts:write"))` and friends on **every** route — one
# mechanism, applied everywhere, so no route can forget it (OWASP Authorization Cheat Sheet:
# "deny by default", "validate permissions on every request"). An `HTTPException(status,
# detail)` is answered as `{"error": detail}`.
#
# Revoking a user's tokens when their role changes (lab 02's `tokenVersion`) is the second
# half of the cure, and the reference app does both; reading the role per request is the half
# that does not depend on remembering to revoke.
#
# <!-- labkit:rules rbac current-role -->

# %%
from typing import Annotated

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from labkit.sandbox.apps.authz import Database, Post, User, database, token_claims


# %% labkit={"answer": "rbac"}
def current_user(
    claims: Annotated[dict, Depends(token_claims)], db: Annotated[Database, Depends(database)]
) -> User:
    ### BEGIN SOLUTION
    user = db.user(int(claims["sub"]))
    if user is None:
        raise HTTPException(401, "Invalid token")
    return user
    ### END SOLUTION


def authorize(*permissions: str):
    ### BEGIN SOLUTION
    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        granted = PERMISSIONS.get(user.role, [])
        if not all(p in granted for p in permissions):
            raise HTTPException(403, "Insufficient permissions")
        return user

    return dependency
    ### END SOLUTION


# %% [markdown]
# First, every role gets what its permissions say (ownership comes next, so an editor may
# still edit anybody's post here):

# %% labkit={"check": "rbac"}
lab.check("rbac", authorize=authorize)

# %% [markdown]
# Then, demote users with live tokens — an editor to viewer, an admin to editor — and replay
# their old tokens:

# %% labkit={"check": "current-role"}
lab.check("current-role", authorize=authorize)

# %% [markdown]
# ## Fix 2 — ownership, with an admin override
#
# Write `check_owner(user, post)`. The app calls it in `PUT` and `DELETE /api/posts/{id}`,
# after `authorize`, with the post it loaded (`None` when there is none):
#
# - no post → `HTTPException(404, "Not found")`;
# - someone else's post (compare `post.authorId == user.id` with `==`), and the user is not
#   an admin → `HTTPException(403, "Not authorized to edit this post")`;
# - otherwise return the post.
#
# **403 or 404?** Pick one rule and apply it everywhere. Here every role may *read* every
# post, so "this post exists but is not yours" tells an attacker nothing new: 403 with a clear
# message is honest and helps legitimate clients. When a caller may not even *see* a record
# (another tenant's invoice), answer 404 for "not yours" as well, so ids cannot be probed for
# existence — that is what OWASP API1:2023 recommends. And because the permission check runs
# first, a viewer gets the same 403 for a post that exists and one that does not.
#
# The check audits the whole matrix, so it holds your `authorize` to its rules too:
#
# <!-- labkit:rules access-matrix -->


# %% labkit={"answer": "access-matrix"}
def check_owner(user: User, post: Post | None) -> Post:
    ### BEGIN SOLUTION
    if post is None:
        raise HTTPException(404, "Not found")
    if post.authorId != user.id and user.role != "admin":
        raise HTTPException(403, "Not authorized to edit this post")
    return post
    ### END SOLUTION


# %% [markdown]
# Audit an app running your two functions, next to the policy:

# %%
try:
    mine = lab.patched(authorize=authorize, check_owner=check_owner)
except Exception as exc:  # e.g. authorize is not written yet
    print("your app could not start:", exc)
else:
    observed = attacks.audit(mine.client).matrix
    attacks.matrix_figure(observed, policy)
    plt.show()
    print("\n".join(attacks.differences(observed, policy)) or "every cell matches the policy")

# %% labkit={"check": "access-matrix"}
lab.check("access-matrix", authorize=authorize, check_owner=check_owner)

# %% [markdown]
# ## Fix 3 — an explicit update schema
#
# Replace `data: req.body` with a pydantic model the app uses as the body of
# `PUT /api/posts/{id}`; it writes only the fields you set (`model_dump(exclude_unset=True)`).
# List the two fields a client may change — `title` (a string of 1 to 200 characters) and
# `body` (a string of at most 10,000), both optional — and **forbid every other field**:
# `ConfigDict(extra="forbid")` answers 422 `{"errors": [...]}`. Forbidding beats silently
# ignoring: a client bug surfaces at once, and a mass-assignment attempt is refused and visible
# in your logs (OWASP Mass Assignment Cheat Sheet: allow-list the bindable fields). A `null`
# is treated as "not sent" (the app leaves the field alone).
#
# <!-- labkit:rules update-schema -->


# %% labkit={"answer": "update-schema"}
class PostUpdate(BaseModel):
    ### BEGIN SOLUTION
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)
    ### STUB
    pass  # TODO: the fields a PUT may change; forbid every other one
    ### END SOLUTION


# %% labkit={"check": "update-schema"}
lab.check("update-schema", PostUpdate=PostUpdate)

# %% [markdown]
# ## Verify — replay every attack
#
# Your three parts together are the authorization layer. The check first replays **your own
# exploits** from Attacks 1–3 — the request Carol got through, Bob's edit of Alice's post, your
# mass-assignment body — as fresh accounts on fresh records of an app running your fix, then
# the whole battery: the full access matrix (viewer writes, IDOR, admin override, 404s),
# routes needing two permissions, look-alike roles, mass assignment and oversized input, stale
# roles after demotion (your Attack 4, as an editor and as an admin) — while legitimate authors
# and admins work. It enforces every rule above.
#
# <!-- labkit:rules verify -->

# %%
my_exploits = {"viewer-writes": viewer_request, "idor": idor_request, "mass-assignment": mass_body}

# %% labkit={"check": "verify"}
lab.check("verify", my_exploits, authorize=authorize, check_owner=check_owner, PostUpdate=PostUpdate)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | Trusting user input (`data: req.body`) | an explicit schema per operation, `extra="forbid"` |
# | checking that a user is logged in | `authorize(...)` with explicit permissions on every route, deny by default |
# | checking the permission only | permission **and** ownership of the record (admin override explicit) |
# | the role claim of a token | the role in the database on every request; revoke tokens on role change |
#
# What a reviewer looks for in real code:
#
# - every route declares its permission in one visible place (a dependency, a decorator),
#   and a test lists routes that have none;
# - every query for a record by id is scoped to the caller (`WHERE id = ? AND author_id = ?`)
#   or followed by an ownership check — never "the id came from our own UI";
# - request bodies bind to per-operation schemas; ids, owners, roles, prices and flags are
#   never bindable from the client;
# - 403/404 chosen on purpose and applied consistently;
# - authorization facts (roles, memberships) read fresh or invalidated on change;
# - an access-matrix test like this lab's, run in CI, so a new route cannot ship unguarded.

# %%
labkit.progress()

# %%
lab.close()
