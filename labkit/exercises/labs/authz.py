"""06-authorization: a viewer who deletes, an editor who edits anyone's post, a PUT that
changes the author, a demoted user whose token still says editor — then RBAC, ownership
and an explicit update schema.

Every check works over HTTP. Fresh accounts and posts come from the lab-only
``/api/_lab/...`` routes, and so does the ground truth (what is stored after a request), so
a check never depends on what the learner did to the seeded data.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.authz import (
    ROUTES,
    Audit,
    Route,
    audit,
    differences,
    expected_matrix,
    log_in,
    new_account,
    new_account_row,
    new_post,
    probe,
    stored,
    token_claims,
)
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.patterns.authz import PERMISSIONS

__all__ = ["LAB", "POLICY", "expected_error"]

LAB = LabDefinition("06-authorization", "06 · Authorization", "labkit.sandbox.apps.authz")

#: The policy table every learner's app must match: role × route × record -> status.
POLICY = expected_matrix(PERMISSIONS)
WRITES = tuple(r for r in ROUTES if r.method != "GET")
FORBIDDEN, NOT_YOURS, NOT_FOUND = (
    "Insufficient permissions",
    "Not authorized to edit this post",
    "Not found",
)
MAX_LINES = 12
_ITEM_PATH = re.compile(r"^/api/(posts|users)/(\d+)/?$")


def expected_error(role: str, route: Route, kind: str) -> str | None:
    """The ``error`` message the contract gives for a refused cell (None when allowed)."""
    status = POLICY[(role, route.label, kind)]
    if status == 404:
        return NOT_FOUND
    if status == 403:
        return FORBIDDEN if route.permission not in PERMISSIONS[role] else NOT_YOURS
    return None


# -- helpers ------------------------------------------------------------------------------
def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _route_of(answer: Any) -> Route | str:
    """The write route a ``(method, path)`` answer names, or why the answer is not one."""
    if not (
        isinstance(answer, (tuple, list))
        and len(answer) == 2
        and all(isinstance(x, str) for x in answer)
    ):
        return f"expected a tuple (method, path) such as ('DELETE', '/api/posts/4'), got {answer!r}"
    method, path = answer[0].upper(), answer[1].split("?")[0]
    match = _ITEM_PATH.match(path)
    if method == "GET" or (method, path) in {("GET", "/api/posts"), ("GET", "/api/users")}:
        return "every role may read: hand in a write or delete request (PUT or DELETE)"
    if match is None:
        return (
            f"{path!r} is not one of the lab's item routes (/api/posts/{{id}}, /api/users/{{id}})"
        )
    template = f"/api/{match.group(1)}/{{id}}"
    for route in WRITES:
        if route.method == method and route.template == template:
            return route
    return f"{method} {template} is not a route of this API"


def _cell_text(cell: Any) -> str:
    text = str(cell.status)
    if cell.error:
        text += f" {cell.error!r}"
    if cell.fault:
        text += f" — {cell.fault}"
    return text


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _demote(client: httpx.Client, user_id: int, role: str) -> None:
    client.post(f"/api/_lab/users/{user_id}/role", json={"role": role}).raise_for_status()


# -- attacks ------------------------------------------------------------------------------
def _replay_as(ctx: CheckContext, role: str, route: Route, success: str, refused: str) -> Verdict:
    with ctx.target.client() as client:
        me = new_account(client, role)
        author = new_account_row(client, "admin")
        cell = probe(client, route, "other", me, int(author["id"]))
    what = "user" if route.template.startswith("/api/users") else "post"
    details = (f"replayed {route.label} as a fresh {role} on another author's {what}: "
               f"{_cell_text(cell)}",)  # fmt: skip
    if 200 <= cell.status < 300 and not cell.problem:
        return Verdict(True, success, details)
    return Verdict(False, refused, details)


@LAB.check(
    "viewer-writes",
    title="As a viewer, change or delete something that is not yours",
    kind="attack",
    hints=(
        "carol = attacks.log_in(lab.client, 'carol@example.com', lab.users['carol'].password)",
        "Try every write route (PUT /api/posts/{id}, DELETE /api/posts/{id}, "
        "DELETE /api/users/{id}) with carol's headers: which one forgot authorize?",
        "Hand in the request that worked as a tuple, e.g. ('DELETE', '/api/posts/4').",
    ),
    answer_help="a tuple (method, path) of a write a viewer got through",
)
def viewer_writes(ctx: CheckContext) -> Verdict:
    route = _route_of(ctx.answer)
    if isinstance(route, str):
        return Verdict(False, route)
    return _replay_as(
        ctx,
        "viewer",
        route,
        f"a viewer gets through {route.label}: the route checks who you are, not what you may do",
        f"a viewer is refused on {route.label}: that route has its authorize — try another",
    )


@LAB.check(
    "idor",
    title="As an editor, edit a post somebody else wrote (IDOR)",
    kind="attack",
    hints=(
        "Log in as bob (an editor) and list the posts: each has an authorId.",
        "PUT /api/posts/{id} with {'title': ...} on one of alice's posts.",
        "Hand in the request as a tuple, e.g. ('PUT', '/api/posts/1').",
    ),
    answer_help="a tuple (method, path) an editor used on another author's post",
)
def idor(ctx: CheckContext) -> Verdict:
    route = _route_of(ctx.answer)
    if isinstance(route, str):
        return Verdict(False, route)
    if not route.owned:
        return Verdict(False, f"{route.label} is not about posts: edit or delete a post")
    return _replay_as(
        ctx,
        "editor",
        route,
        f"an editor gets through {route.label} on anybody's post: ownership is never checked",
        f"an editor is refused on another author's post with {route.label}",
    )


@LAB.check(
    "mass-assignment",
    title="Move a post to another author with a PUT (mass assignment)",
    kind="attack",
    hints=(
        "The handler writes the request body into the row, like the seed's `data: req.body`.",
        "Which field of a post says whose it is? Put it in the body of a PUT on bob's own post.",
        "Hand in the JSON body you sent, e.g. {'title': ..., 'authorId': ...}.",
    ),
    answer_help="the JSON body (a dict) of a PUT that changed a post's author",
)
def mass_assignment(ctx: CheckContext) -> Verdict:
    body = ctx.answer
    if not isinstance(body, dict):
        return Verdict(
            False, f"expected the JSON body you sent (a dict), got {type(body).__name__}"
        )
    with ctx.target.client() as client:
        editor = new_account(client, "editor")
        post_id = new_post(client, int(editor["id"]))
        response = client.put(f"/api/posts/{post_id}", json=body, headers=editor["headers"])
        after = stored(client, "posts", post_id) or {}
    details = (
        f"replayed PUT /api/posts/{{id}} {body!r} as a fresh editor on their own post: "
        f"{response.status_code}, authorId now {after.get('authorId')!r}",
    )
    if after.get("authorId") != editor["id"]:
        return Verdict(
            True,
            "the post changed hands: the ownership check (if any) ran on the old author",
            details,
        )
    return Verdict(False, "the post's author did not change", details)


def _lost_routes(token_role: str, role_now: str) -> list[Route]:
    lost = set(PERMISSIONS.get(token_role, ())) - set(PERMISSIONS.get(role_now, ()))
    return [r for r in WRITES if r.permission in lost]


@LAB.check(
    "stale-role",
    title="Keep your old powers after a demotion (a stale role in a valid token)",
    kind="attack",
    hints=(
        "Log in as bob and keep the token; then have the 'admin' demote him: "
        "POST /api/_lab/users/{bob's id}/role {'role': 'viewer'}.",
        "attacks.token_claims(token) shows what the token says; GET /api/users what the "
        "database says.",
        "Edit one of bob's posts with the OLD token, then hand in that token (a str).",
    ),
    answer_help="the access token (str) of a user demoted after it was issued",
)
def stale_role(ctx: CheckContext) -> Verdict:
    token = ctx.answer
    if not isinstance(token, str):
        return Verdict(False, f"expected an access token (str), got {type(token).__name__}")
    try:
        claims = token_claims(token)
        user_id, token_role = int(claims["sub"]), str(claims["role"])
    except (ValueError, KeyError, TypeError):
        return Verdict(False, "that is not one of this app's access tokens (no sub / role)")
    with ctx.target.client() as client:
        user = stored(client, "users", user_id)
        if user is None:
            return Verdict(False, f"user #{user_id} does not exist (any more)")
        lost = _lost_routes(token_role, user["role"])
        if token_role == user["role"] or not lost:
            return Verdict(
                False,
                f"the token says {token_role!r} and the database says {user['role']!r}: "
                "demote the user AFTER logging in, and keep the old token",
            )
        route = lost[0]
        me = {"id": user_id, "headers": {"Authorization": f"Bearer {token}"}}
        kind = "other" if route.template.startswith("/api/users") else "own"
        author = new_account_row(client, "viewer")
        cell = probe(client, route, kind, me, int(author["id"]))
    details = (
        f"token role {token_role!r}, database role {user['role']!r}; replayed {route.label}: "
        f"{_cell_text(cell)}",
    )
    if 200 <= cell.status < 300 and not cell.problem:
        return Verdict(True, f"a {user['role']} still acts as {token_role} until the token expires",
                       details)  # fmt: skip
    return Verdict(False, "the old token was refused", details)


# -- fix batteries ------------------------------------------------------------------------
def _audit(client: httpx.Client, findings: Findings) -> Audit | None:
    try:
        return audit(client)
    except httpx.HTTPStatusError as exc:
        findings.fail(f"could not set up the audit: {exc.request.method} {exc.request.url.path} "
                      f"answered {exc.response.status_code}{_fault(exc.response)}")  # fmt: skip
        return None


def _judge_cells(
    result: Audit, findings: Findings, include: Callable[[str, Route, str], bool]
) -> int:
    """Compare the included cells with the policy (status and error message).

    A learner function that fails is reported once, not once per cell; at most
    :data:`MAX_LINES` differing cells are listed.
    """
    judged, lines = 0, []
    faults: dict[str, int] = {}
    for route in ROUTES:
        for role in PERMISSIONS:
            for kind in route.kinds:
                if not include(role, route, kind):
                    continue
                judged += 1
                cell = result.cells[(role, route.label, kind)]
                if cell.fault:
                    faults[cell.fault] = faults.get(cell.fault, 0) + 1
                    continue
                want = POLICY[(role, route.label, kind)]
                where = route.label if kind == "-" else f"{route.label} · {kind}"
                message = expected_error(role, route, kind)
                if cell.status != want:
                    lines.append(f"{role} · {where}: expected {want}, got {_cell_text(cell)}")
                elif cell.problem:
                    lines.append(f"{role} · {where}: {cell.problem}")
                elif message is not None and cell.error != message:
                    lines.append(
                        f"{role} · {where}: the {want} body must be "
                        f"{{'error': {message!r}}}, got {cell.error!r}"
                    )
    for fault, count in faults.items():
        findings.fail(f"{count} request(s) answered 500 — {fault}")
    for line in lines[:MAX_LINES]:
        findings.fail(line)
    if len(lines) > MAX_LINES:
        findings.fail(f"... and {len(lines) - MAX_LINES} more cells differ from the policy")
    return judged


def _permission_battery(client: httpx.Client, findings: Findings) -> None:
    result = _audit(client, findings)
    if result is None:
        return

    def permission_cells(role: str, route: Route, kind: str) -> bool:
        # someone else's post, for a role that has the permission, is ownership's business
        return not (route.owned and kind == "other" and route.permission in PERMISSIONS[role])

    before = len(findings.problems)
    judged = _judge_cells(result, findings, permission_cells)
    if len(findings.problems) == before:
        findings.saw(f"{judged} role × route cells follow the PERMISSIONS map")


def _matrix_battery(client: httpx.Client, findings: Findings) -> None:
    result = _audit(client, findings)
    if result is None:
        return
    before = len(findings.problems)
    judged = _judge_cells(result, findings, lambda role, route, kind: True)
    if len(findings.problems) == before:
        findings.saw(
            f"all {judged} cells (3 roles × 6 routes × own/other/missing) match the policy"
        )


def _stale_role_battery(client: httpx.Client, findings: Findings) -> None:
    for old, new in (("editor", "viewer"), ("admin", "editor")):
        me = new_account(client, old)
        _demote(client, int(me["id"]), new)
        author = new_account_row(client, "viewer")
        for route in _lost_routes(old, new):
            kind = "other" if route.template.startswith("/api/users") else "own"
            cell = probe(client, route, kind, me, int(author["id"]))
            if cell.fault:
                findings.fail(f"{route.label} answered {cell.status} — {cell.fault}")
                return
            refused = cell.status in (401, 403) and not cell.problem
            findings.expect(
                refused,
                f"{_a(old)} demoted to {new} still gets through {route.label} with the token "
                f"from before: {_cell_text(cell)}" + (f" ({cell.problem})" if cell.problem else ""),
                f"{old} → {new}: the old token is refused on {route.label} ({cell.status})",
            )
        again = log_in(client, me["email"], me["password"])
        reads = client.get("/api/posts", headers=again)
        findings.expect(
            reads.status_code == 200,
            f"after the demotion a fresh login cannot read posts ({reads.status_code})"
            f"{_fault(reads)}",
        )


def _update_attempts(other_id: int) -> dict[str, dict[str, Any]]:
    return {
        "authorId alone": {"authorId": other_id},
        "authorId next to a title": {"title": "Looks innocent", "authorId": other_id},
        "authorId as a string": {"authorId": str(other_id)},
        "an id": {"id": 424242, "title": "Renumbered"},
        "an unknown field (role)": {"title": "Promoted", "role": "admin"},
        "a title that is a number": {"title": 12345},
        "an empty title": {"title": ""},
        "a 5,000-character title": {"title": "A" * 5000},
        "a 200,000-character body": {"body": "B" * 200_000},
    }


def _update_battery(client: httpx.Client, findings: Findings) -> None:
    editor = new_account(client, "editor")
    other = new_account_row(client, "viewer")
    headers, my_id = editor["headers"], int(editor["id"])
    for label, body in _update_attempts(int(other["id"])).items():
        post_id = new_post(client, my_id, title="Original title")
        before = stored(client, "posts", post_id)
        response = client.put(f"/api/posts/{post_id}", json=body, headers=headers)
        after = stored(client, "posts", post_id)
        if _fault(response):
            findings.fail(f"a PUT with {label} answered {response.status_code}{_fault(response)}")
            return
        if after != before:
            findings.fail(f"a PUT with {label} changed the post: {before} → {after}"
                          f"{_fault(response)}")  # fmt: skip
        elif response.status_code in (400, 422):
            findings.saw(f"{label}: refused ({response.status_code}), nothing changed")
        elif 200 <= response.status_code < 300:
            findings.fail(
                f"a PUT with {label} answered {response.status_code} and silently dropped it: "
                "forbid what the schema does not list (extra='forbid', constraints), so the "
                "request is refused with 422"
            )
        else:
            findings.fail(f"a PUT with {label} answered {response.status_code}{_fault(response)}")
    _legitimate_updates(client, findings, headers, my_id)


def _legitimate_updates(
    client: httpx.Client, findings: Findings, headers: dict[str, str], my_id: int
) -> None:
    title, text = f"Fresh title {secrets.token_hex(2)}", "A corrected paragraph."
    for body, expect in (
        ({"title": title}, {"title": title, "body": "Text."}),
        ({"body": text}, {"title": "Original title", "body": text}),
        ({"title": title, "body": text}, {"title": title, "body": text}),
    ):
        post_id = new_post(client, my_id, title="Original title")
        response = client.put(f"/api/posts/{post_id}", json=body, headers=headers)
        after = stored(client, "posts", post_id) or {}
        want = {**expect, "id": post_id, "authorId": my_id}
        ok = response.status_code == 200 and after == want
        findings.expect(
            ok,
            f"the author's own update {body} got {response.status_code}{_fault(response)}, "
            f"stored {after}",
            f"a legitimate update of {sorted(body)} works",
        )
        if ok:
            findings.expect(
                response.json() == want,
                f"the PUT answered {response.json()} instead of the updated post",
            )


def _run(
    battery: Callable[[httpx.Client, Findings], None], client: httpx.Client, findings: Findings
) -> None:
    try:
        battery(client, findings)
    except httpx.HTTPStatusError as exc:
        findings.fail(f"{exc.request.method} {exc.request.url.path} answered "
                      f"{exc.response.status_code}{_fault(exc.response)}")  # fmt: skip


def _fix_check(
    ctx: CheckContext, battery: Callable[[httpx.Client, Findings], None], ok: str, bad: str
) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(battery, client, findings)
    return findings.verdict(ok, bad)


# -- fixes --------------------------------------------------------------------------------
@LAB.check(
    "rbac",
    title="authorize(*permissions): every route asks the role's permissions",
    kind="fix",
    fixes=("authorize",),
    hints=(
        "authorize returns a function; FastAPI calls it with the caller: "
        "def dependency(user: User = Depends(current_user)) -> User.",
        "Allowed when EVERY required permission is in PERMISSIONS[user.role] (unknown role: "
        "none); else raise HTTPException(403, 'Insufficient permissions').",
        "Return the user: the routes use it for the ownership check.",
    ),
)
def rbac(ctx: CheckContext) -> Verdict:
    return _fix_check(
        ctx, _permission_battery, "every role gets exactly its permissions", "the roles leak"
    )


@LAB.check(
    "current-role",
    title="A demoted user's old token loses the old powers at once",
    kind="fix",
    fixes=("authorize",),
    hints=(
        "Use the token for WHO (claims['sub']), the database for WHAT: db.user(int(sub)).",
        "A user that no longer exists: raise HTTPException(401, 'Invalid token').",
        "current_user must not read claims['role'] at all.",
    ),
)
def current_role(ctx: CheckContext) -> Verdict:
    return _fix_check(
        ctx,
        _stale_role_battery,
        "permissions follow the role in the database, not the one in the token",
        "an old token still carries an old role",
    )


@LAB.check(
    "access-matrix",
    title="The whole access matrix equals the policy (roles × routes × own/other/missing)",
    kind="fix",
    fixes=("authorize", "check_owner"),
    hints=(
        "check_owner(user, post): post is None → HTTPException(404, 'Not found').",
        "Someone else's post → HTTPException(403, 'Not authorized to edit this post') ... "
        "unless user.role == 'admin'.",
        "Compare your matrix with the policy table in the notebook: each red box is one cell.",
    ),
)
def access_matrix(ctx: CheckContext) -> Verdict:
    return _fix_check(
        ctx, _matrix_battery, "the access matrix equals the policy", "the matrix differs"
    )


@LAB.check(
    "update-schema",
    title="An explicit update schema: only title and body, nothing else",
    kind="fix",
    fixes=("PostUpdate",),
    hints=(
        "class PostUpdate(BaseModel): list title and body, both optional (str | None = None).",
        "model_config = ConfigDict(extra='forbid') turns unknown fields into a 422.",
        "Field(min_length=1, max_length=200) for the title, a max_length for the body too.",
    ),
)
def update_schema(ctx: CheckContext) -> Verdict:
    return _fix_check(
        ctx,
        _update_battery,
        "a PUT changes only what the schema lists",
        "a PUT still writes or drops fields it should refuse",
    )


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "access matrix (viewer writes, IDOR, admin override, 404s)": _matrix_battery,
    "mass assignment and input limits": _update_battery,
    "stale role after demotion": _stale_role_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("authorize", "check_owner", "PostUpdate"),
    points=2,
    hints=(
        "Pass all three: authorize=authorize, check_owner=check_owner, PostUpdate=PostUpdate.",
        "Each battery names what failed; fix that part and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in BATTERIES.items():
            with findings.section(name, "every attack refused, legitimate use works"):
                _run(battery, client, findings)
    return findings.verdict(
        "every attack fails and legitimate users work", "some attacks still get through"
    )


def observed_vs_policy(result: Audit) -> list[str]:
    """The cells of an audit that differ from :data:`POLICY` (for the notebook)."""
    return differences(result.matrix, POLICY)
