"""06-authorization: a viewer who deletes, an editor who edits anyone's post, a PUT that
changes the author, a demoted user whose token still says editor — then RBAC, ownership
and an explicit update schema.

Every check works over HTTP. Fresh accounts and posts come from the lab-only
``/api/_lab/...`` routes, and so does the ground truth (what is stored after a request), so
a check never depends on what the learner did to the seeded data.
"""

from __future__ import annotations

import random
import re
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
from labkit.exercises.rules import Rule, merge_rules
from labkit.patterns.authz import PERMISSIONS
from labkit.sandbox.apps.authz import PERMISSION_PAIRS

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
        "Authentication is not authorization: a route that only checks that the token is "
        "valid lets every logged-in user through, whatever their role.",
        "lab.client.request(method, path, headers=carol, json=body) for PUT /api/posts/3 "
        "(body {'title': ...}), DELETE /api/posts/3 and DELETE /api/users/{spare['id']}; a 2xx "
        "means carol got through. Hand in that request as (method, path).",
        "Stuck? labkit.attacks.authz.audit(lab.client) calls every route as every role and "
        "attacks.differences(result.matrix, policy) lists where the app disagrees; "
        "e.g. ('DELETE', '/api/posts/3').",
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
        "The post id in the URL is user input: does the app check that the post is the "
        "caller's before it writes?",
        "As bob: GET /api/users gives alice's id, GET /api/posts each post's authorId; then "
        "lab.client.put(f'/api/posts/{id}', json={'title': ...}, headers=bob) on one of "
        "alice's. A 200 means bob edited it; hand in ('PUT', path).",
        "Stuck? labkit.attacks.authz.audit(lab.client) shows the editor's cell on another "
        "author's post; e.g. ('PUT', '/api/posts/1').",
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
        "The handler writes the request body into the row, like the seed's `data: req.body`: "
        "every field you send is stored, not only title and body.",
        "Which field of a post says whose it is? Send it in the body of a PUT on bob's own post "
        "(lab.client.put(..., json=body, headers=bob)) and GET the post again.",
        "Stuck? The body {'title': ..., 'authorId': <alice's id from GET /api/users>} does "
        "it; hand in that dict.",
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
        "A JWT carries the role it was issued with: if the app believes the token, a "
        "demotion changes nothing until the token expires.",
        "Log in as bob and keep the token; demote him with POST /api/_lab/users/{bob's id}/role "
        "{'role': 'viewer'}; PUT one of his posts with the OLD token. The token's middle part "
        "is base64url JSON: base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)).",
        "Stuck? labkit.attacks.authz.token_claims(token) decodes the claims for you. Hand in "
        "the old token (a str).",
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


# -- rules ----------------------------------------------------------------------------------
RBAC_RULES = (
    Rule(
        "every-permission",
        "Let a caller through only when PERMISSIONS[role] holds every permission the route "
        "requires (all of them, not any; exact names, no prefixes): otherwise 403.",
    ),
    Rule(
        "unknown-role",
        "A role that is not a key of PERMISSIONS grants nothing — 'admin-intern', 'sysadmin' "
        "or 'edit' are not 'admin' or 'editor'.",
    ),
    Rule("forbidden-403", 'Refuse with 403 {"error": "Insufficient permissions"}.'),
)
CURRENT_ROLE_RULES = (
    Rule(
        "role-from-database",
        "Take the role from the database on every request (db.user(int(claims['sub']))), "
        "never from the token, a header, the query or the body: a demoted user's old token "
        "loses the old powers at once.",
    ),
)
OWNER_RULES = (
    Rule(
        "owner-or-admin",
        "Write or delete a post only as its author (post.authorId == user.id, compared with ==) "
        'or as an admin; anyone else gets 403 {"error": "Not authorized to edit this post"}.',
    ),
    Rule("missing-404", 'A post that does not exist gets 404 {"error": "Not found"}.'),
)
SCHEMA_RULES = (
    Rule(
        "no-owner-field",
        "A PUT never changes authorId or id, in any form (a number, a string, next to a title).",
    ),
    Rule(
        "forbid-extra",
        "Refuse every field other than title and body with 422 (extra='forbid'): never write "
        "it, never drop it silently.",
    ),
    Rule(
        "field-limits",
        "title is a string of 1 to 200 characters, body a string of at most 10,000; anything "
        "else (a number, a boolean, a list, an empty or longer text) is refused with 422, and "
        "null never erases a field.",
    ),
    Rule(
        "partial-update",
        "Both fields are optional: a PUT with only title or only body changes just that field "
        "and answers 200 with the updated post.",
    ),
)
MATRIX_RULES = (RBAC_RULES[0], RBAC_RULES[2], *OWNER_RULES)


# -- fix batteries ------------------------------------------------------------------------
def _audit(client: httpx.Client, findings: Findings) -> Audit | None:
    try:
        return audit(client)
    except httpx.HTTPStatusError as exc:
        findings.fail(f"could not set up the audit: {exc.request.method} {exc.request.url.path} "
                      f"answered {exc.response.status_code}{_fault(exc.response)}")  # fmt: skip
        return None


def _cell_rule(role: str, route: Route, kind: str, status: int) -> tuple[str, str]:
    """(rule of the cell's status, rule of its error message)."""
    if route.permission not in PERMISSIONS[role]:
        refused = 400 <= status < 500  # refused, but not with the 403 the contract names
        return ("forbidden-403" if refused else "every-permission"), "forbidden-403"
    if route.owned and kind == "missing":
        return "missing-404", "missing-404"
    if route.owned:
        return "owner-or-admin", "owner-or-admin"
    return "every-permission", "every-permission"


def _judge_cells(
    result: Audit, findings: Findings, include: Callable[[str, Route, str], bool]
) -> int:
    """Compare the included cells with the policy (status and error message), each tagged
    with the rule it breaks. A learner function that fails is reported once, not once per
    cell; at most :data:`MAX_LINES` differing cells are listed."""
    judged, lines = 0, []
    faults: dict[str, list[str]] = {}
    for route in ROUTES:
        for role in PERMISSIONS:
            for kind in route.kinds:
                if not include(role, route, kind):
                    continue
                judged += 1
                cell = result.cells[(role, route.label, kind)]
                status_rule, message_rule = _cell_rule(role, route, kind, cell.status)
                if cell.fault:
                    faults.setdefault(cell.fault, []).append(status_rule)
                    continue
                want = POLICY[(role, route.label, kind)]
                where = route.label if kind == "-" else f"{route.label} · {kind}"
                message = expected_error(role, route, kind)
                if cell.status != want:
                    line = f"expected {want}, got {_cell_text(cell)}"
                    lines.append((status_rule, f"{role} · {where}: {line}"))
                elif cell.problem:
                    lines.append((status_rule, f"{role} · {where}: {cell.problem}"))
                elif message is not None and cell.error != message:
                    line = f"the {want} body must be {{'error': {message!r}}}, got {cell.error!r}"
                    lines.append((message_rule, f"{role} · {where}: {line}"))
    for fault, rules in faults.items():
        findings.fail(f"{len(rules)} request(s) answered 500 — {fault}", rule=rules[0])
    for rule, line in lines[:MAX_LINES]:
        findings.fail(line, rule=rule)
    if len(lines) > MAX_LINES:
        findings.fail(f"... and {len(lines) - MAX_LINES} more cells differ from the policy")
    return judged


def _permission_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    result = _audit(client, findings)
    if result is not None:

        def permission_cells(role: str, route: Route, kind: str) -> bool:
            # someone else's post, for a role that has the permission, is ownership's business
            return not (route.owned and kind == "other" and route.permission in PERMISSIONS[role])

        before = len(findings.problems)
        judged = _judge_cells(result, findings, permission_cells)
        if len(findings.problems) == before:
            findings.saw(f"{judged} role × route cells follow the PERMISSIONS map")
    _pairs_battery(client, findings)
    _unknown_roles_battery(client, findings, rng)


def _pairs_battery(client: httpx.Client, findings: Findings) -> None:
    """Routes that need two permissions: a role with only one of them is refused."""
    with findings.rule("every-permission"):
        for role, granted in PERMISSIONS.items():
            me = new_account(client, role)
            for index, pair in enumerate(PERMISSION_PAIRS):
                response = client.get(f"/api/_lab/requires/{index}", headers=me["headers"])
                want = 200 if set(pair) <= set(granted) else 403
                if not findings.expect(
                    response.status_code == want,
                    f"{_a(role)} on a route needing {' and '.join(pair)} got "
                    f"{response.status_code}{_fault(response)}, expected {want}",
                ):
                    return
        findings.saw("routes needing two permissions let through only roles with both")


def _unknown_roles(rng: random.Random) -> list[str]:
    """Role names that contain, extend or cut a real one: none of them is a role."""
    known = rng.choice(["admin", "editor"])
    cut = rng.randrange(2, len(known))
    suffix = rng.choice(["-intern", "_readonly", "s", "-trial", "2"])
    prefix = rng.choice(["sys", "not-", "ex-", "super", "co-"])
    return [f"{known}{suffix}", f"{prefix}{rng.choice(['admin', 'editor'])}", known[:cut]]


def _unknown_roles_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    with findings.rule("unknown-role"):
        for role in _unknown_roles(rng):
            me = new_account(client, role)
            victim = new_account_row(client, "viewer")
            attempts = {
                "GET /api/posts": client.get("/api/posts", headers=me["headers"]),
                "DELETE /api/users/{id}": client.delete(
                    f"/api/users/{victim['id']}", headers=me["headers"]
                ),
                "a route needing posts:read and users:delete": client.get(
                    "/api/_lab/requires/0", headers=me["headers"]
                ),
            }
            for label, response in attempts.items():
                if not findings.expect(
                    response.status_code == 403,
                    f"the unknown role {role!r} got {response.status_code}{_fault(response)} on "
                    f"{label}: a role that is not in PERMISSIONS grants nothing",
                ):
                    return
            findings.expect(
                stored(client, "users", int(victim["id"])) is not None,
                f"the unknown role {role!r} deleted a user",
            )
        findings.saw("unknown roles (look-alikes of real ones) are refused everywhere")


def _roles_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    _pairs_battery(client, findings)
    _unknown_roles_battery(client, findings, rng)


def _matrix_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    result = _audit(client, findings)
    if result is None:
        return
    before = len(findings.problems)
    judged = _judge_cells(result, findings, lambda role, route, kind: True)
    if len(findings.problems) == before:
        findings.saw(
            f"all {judged} cells (3 roles × 6 routes × own/other/missing) match the policy"
        )


def _stale_role_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    with findings.rule("role-from-database"):
        _demotions(client, findings)
        _client_roles(client, findings)
        _deleted_account(client, findings)


def _demotions(client: httpx.Client, findings: Findings) -> None:
    for old, new in (("editor", "viewer"), ("admin", "editor")):
        me = new_account(client, old)
        # the user works before the demotion (a cache of users or roles fills up now)
        client.get("/api/posts", headers=me["headers"])
        client.get("/api/_lab/requires/2", headers=me["headers"])
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


def _client_roles(client: httpx.Client, findings: Findings) -> None:
    """A viewer who claims to be an admin in a header, the query or the body."""
    me = new_account(client, "viewer")
    claim = "admin"
    for where, extra in (
        ("an X-Role header", {"headers": {**me["headers"], "X-Role": claim,
                                          "X-User-Role": claim}}),
        ("?role= in the query", {"headers": me["headers"], "params": {"role": claim}}),
        ("role in the JSON body", {"headers": me["headers"], "json": {"role": claim}}),
    ):  # fmt: skip
        victim = new_account_row(client, "viewer")
        response = client.request("DELETE", f"/api/users/{victim['id']}", **extra)
        gone = stored(client, "users", int(victim["id"])) is None
        if not findings.expect(
            response.status_code == 403 and not gone,
            f"a viewer with {where} saying {claim!r} got {response.status_code}"
            f"{_fault(response)} on DELETE /api/users/{{id}}"
            + (" and the user is gone" if gone else ""),
        ):
            return
    findings.saw("a role claimed in a header, the query or the body changes nothing")


def _deleted_account(client: httpx.Client, findings: Findings) -> None:
    """The token of a removed account (authentication already refuses it: this fails only
    when the caller is not loaded through token_claims)."""
    me = new_account(client, "editor")
    client.delete(f"/api/_lab/users/{me['id']}").raise_for_status()
    response = client.get("/api/posts", headers=me["headers"])
    error = _error(response)
    findings.expect(
        response.status_code == 401 and error == "Invalid token",
        f"the token of a deleted account got {response.status_code} {error!r}{_fault(response)} "
        "on GET /api/posts: expected 401 'Invalid token'",
        "a deleted account's token is refused (401)",
    )


def _error(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


EXTRA_FIELDS = ("role", "isAdmin", "published", "author_id", "createdAt", "owner", "views")


def _update_attempts(other_id: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, label, body) of PUTs that must be refused without changing anything."""
    extra = rng.choice(EXTRA_FIELDS)
    invented = f"x{rng.getrandbits(24):06x}"
    return [
        ("no-owner-field", "authorId alone", {"authorId": other_id}),
        ("no-owner-field", "authorId next to a title",
         {"title": "Looks innocent", "authorId": other_id}),
        ("no-owner-field", "authorId as a string", {"authorId": str(other_id)}),
        ("no-owner-field", "an id", {"id": rng.randrange(10**6, 10**7), "title": "Renumbered"}),
        ("forbid-extra", f"an unknown field ({extra})", {"title": "Promoted", extra: "admin"}),
        ("forbid-extra", f"a made-up field ({invented})", {"body": "Text", invented: 1}),
        ("field-limits", "a title that is a number", {"title": rng.randrange(1, 10**6)}),
        ("field-limits", "a title that is a boolean", {"title": True}),
        ("field-limits", "a body that is a list", {"body": ["a", "b"]}),
        ("field-limits", "an empty title", {"title": ""}),
        ("field-limits", "a 201-character title", {"title": "T" * 201}),
        ("field-limits", "a 10,001-character body", {"body": "B" * 10_001}),
    ]  # fmt: skip


def _update_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    editor = new_account(client, "editor")
    other = new_account_row(client, "viewer")
    headers, my_id = editor["headers"], int(editor["id"])
    for rule, label, body in _update_attempts(int(other["id"]), rng):
        post_id = new_post(client, my_id, title="Original title")
        before = stored(client, "posts", post_id)
        response = client.put(f"/api/posts/{post_id}", json=body, headers=headers)
        after = stored(client, "posts", post_id)
        if _fault(response):
            findings.fail(f"a PUT with {label} answered {response.status_code}{_fault(response)}")
            return
        if after != before:
            findings.fail(
                f"a PUT with {label} changed the post: {_change(before, after)}", rule=rule
            )
        elif response.status_code in (400, 422):
            findings.saw(f"{label}: refused ({response.status_code}), nothing changed")
        elif 200 <= response.status_code < 300:
            findings.fail(
                f"a PUT with {label} answered {response.status_code} and silently dropped it: "
                "refuse what the schema does not allow with 422",
                rule="forbid-extra" if rule == "no-owner-field" else rule,
            )
        else:
            findings.fail(f"a PUT with {label} answered {response.status_code}", rule=rule)
    _null_title(client, findings, headers, my_id)
    _legitimate_updates(client, findings, headers, my_id, rng)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...' ({len(str(value)):,} characters)"


def _change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What a PUT changed, field by field, long values cut."""
    if before is None or after is None:
        return f"{_short(before)} → {_short(after)}"
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return ", ".join(f"{k} {_short(before.get(k))} → {_short(after.get(k))}" for k in keys)


def _null_title(
    client: httpx.Client, findings: Findings, headers: dict[str, str], my_id: int
) -> None:
    post_id = new_post(client, my_id, title="Original title")
    response = client.put(f"/api/posts/{post_id}", json={"title": None}, headers=headers)
    after = stored(client, "posts", post_id) or {}
    findings.expect(
        after.get("title") == "Original title" and response.status_code < 500,
        f"a PUT with title null answered {response.status_code}{_fault(response)} and stored "
        f"title {after.get('title')!r}",
        "title null erases nothing",
        rule="field-limits",
    )


def _legitimate_updates(
    client: httpx.Client,
    findings: Findings,
    headers: dict[str, str],
    my_id: int,
    rng: random.Random,
) -> None:
    title = f"Fresh title {rng.getrandbits(16):04x}"
    text = "A corrected paragraph."
    # letters at both ends: a fix may strip surrounding whitespace (the rule allows it)
    longest = "a" + "".join(rng.choice("abcdefgh ") for _ in range(198)) + "z"
    for rule, body, expect in (
        ("partial-update", {"title": title}, {"title": title, "body": "Text."}),
        ("partial-update", {"body": text}, {"title": "Original title", "body": text}),
        ("partial-update", {"title": title, "body": text}, {"title": title, "body": text}),
        ("field-limits", {"title": longest, "body": "b" * 10_000},
         {"title": longest, "body": "b" * 10_000}),
    ):  # fmt: skip
        post_id = new_post(client, my_id, title="Original title")
        response = client.put(f"/api/posts/{post_id}", json=body, headers=headers)
        after = stored(client, "posts", post_id) or {}
        want = {**expect, "id": post_id, "authorId": my_id}
        ok = response.status_code == 200 and after == want
        shown = {k: (v if len(str(v)) < 40 else f"<{len(v)} characters>") for k, v in body.items()}
        findings.expect(
            ok,
            f"the author's own update {shown} got {response.status_code}{_fault(response)}"
            + ("" if after == want else ", and the post was not stored as sent"),
            f"a legitimate update of {sorted(body)} works",
            rule=rule,
        )
        if ok:
            findings.expect(
                response.json() == want,
                f"the PUT of {sorted(body)} did not answer with the updated post",
                rule="partial-update",
            )


Battery = Callable[[httpx.Client, Findings, random.Random], None]


def _run(battery: Battery, client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    try:
        battery(client, findings, rng)
    except httpx.HTTPStatusError as exc:
        findings.fail(f"{exc.request.method} {exc.request.url.path} answered "
                      f"{exc.response.status_code}{_fault(exc.response)}")  # fmt: skip


def _fix_check(ctx: CheckContext, battery: Battery, ok: str, bad: str) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(battery, client, findings, ctx.rng)
    return findings.verdict(ok, bad)


# -- fixes --------------------------------------------------------------------------------
@LAB.check(
    "rbac",
    title="authorize(*permissions): every route asks the role's permissions",
    kind="fix",
    fixes=("authorize",),
    rules=RBAC_RULES,
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
    rules=CURRENT_ROLE_RULES,
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
    rules=MATRIX_RULES,
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
    rules=SCHEMA_RULES,
    hints=(
        "class PostUpdate(BaseModel): list title and body, both optional (str | None = None).",
        "model_config = ConfigDict(extra='forbid') turns unknown fields into a 422.",
        "Field(min_length=1, max_length=200) for the title, max_length=10_000 for the body.",
    ),
)
def update_schema(ctx: CheckContext) -> Verdict:
    return _fix_check(
        ctx,
        _update_battery,
        "a PUT changes only what the schema lists",
        "a PUT still writes or drops fields it should refuse",
    )


#: (answer key, attack, role replaying it, the rule it breaks when it still works)
OWN_EXPLOITS = (
    ("viewer-writes", "Attack 1", "viewer", "every-permission"),
    ("idor", "Attack 2", "editor", "owner-or-admin"),
)


def _own_exploits(client: httpx.Client, findings: Findings, exploits: dict[Any, Any]) -> None:
    """Replay the learner's own requests (plain data from the attack cells) against the fix:
    each as a fresh account of the attacker's role, on another author's fresh record."""
    for key, attack, role, rule in OWN_EXPLOITS:
        route = _route_of(exploits.get(key))
        if isinstance(route, str):
            findings.saw(f"{attack}: nothing to replay ({key!r}: {route})")
            continue
        me = new_account(client, role)
        author = new_account_row(client, "admin")
        cell = probe(client, route, "other", me, int(author["id"]))
        if cell.fault:
            findings.fail(f"replaying {attack} ({route.label}) answered {_cell_text(cell)}")
            continue
        findings.expect(
            not (200 <= cell.status < 300) and not cell.problem,
            f"your exploit from {attack} still works: {route.label} as {_a(role)} on another "
            f"author's record got {_cell_text(cell)}"
            + (f" ({cell.problem})" if cell.problem else ""),
            f"your exploit from {attack} ({route.label} as {_a(role)}) is now refused: "
            f"{_cell_text(cell)}",
            rule=rule,
        )
    body = exploits.get("mass-assignment")
    if not isinstance(body, dict) or not body:
        findings.saw("Attack 3: nothing to replay (mass-assignment: no JSON body)")
        return
    editor = new_account(client, "editor")
    post_id = new_post(client, int(editor["id"]))
    before = stored(client, "posts", post_id)
    response = client.put(f"/api/posts/{post_id}", json=body, headers=editor["headers"])
    after = stored(client, "posts", post_id)
    if _fault(response):
        findings.fail(f"your body from Attack 3 answered {response.status_code}{_fault(response)}")
        return
    moved = (after or {}).get("authorId") != editor["id"]
    findings.expect(
        not moved,
        f"your exploit from Attack 3 still works: PUT {body!r} on an editor's own post "
        f"answered {response.status_code} and changed {_change(before, after)}",
        f"your exploit from Attack 3 (PUT with {sorted(body)}) is now refused: "
        f"{response.status_code}, the post is still the editor's",
        rule="no-owner-field",
    )


BATTERIES: dict[str, Battery] = {
    "access matrix (viewer writes, IDOR, admin override, 404s)": _matrix_battery,
    "several permissions and unknown roles": _roles_battery,
    "mass assignment and input limits": _update_battery,
    "stale role after demotion, deleted accounts": _stale_role_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("authorize", "check_owner", "PostUpdate"),
    points=2,
    rules=merge_rules(RBAC_RULES, CURRENT_ROLE_RULES, OWNER_RULES, SCHEMA_RULES),
    hints=(
        "Pass all three: authorize=authorize, check_owner=check_owner, PostUpdate=PostUpdate.",
        "Each battery names what failed; fix that part and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        if isinstance(ctx.answer, dict) and ctx.answer:
            with findings.section("your own exploits from Attacks 1-3", "each one now refused"):
                try:
                    _own_exploits(client, findings, ctx.answer)
                except httpx.HTTPStatusError as exc:
                    findings.fail(f"{exc.request.method} {exc.request.url.path} answered "
                                  f"{exc.response.status_code}{_fault(exc.response)}")  # fmt: skip
        for name, battery in BATTERIES.items():
            with findings.section(name, "every attack refused, legitimate use works"):
                _run(battery, client, findings, ctx.rng)
    return findings.verdict(
        "every attack fails and legitimate users work", "some attacks still get through"
    )


def observed_vs_policy(result: Audit) -> list[str]:
    """The cells of an audit that differ from :data:`POLICY` (for the notebook)."""
    return differences(result.matrix, POLICY)
