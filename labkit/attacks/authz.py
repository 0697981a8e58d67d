"""Access-control testing: who can call what, on whose records (lab 06-authorization).

An access-control audit in the style of Burp's Autorize or OWASP ZAP's Access Control
Testing add-on: log in as one account per role, call every route on a record of your own,
one of someone else's and one that does not exist, and compare what *happened* with what
the policy says *should* happen. :func:`audit` does it against a lab app (fresh accounts
and records come from its lab-only ``/api/_lab`` routes, so nothing seeded is destroyed);
:func:`expected_matrix` turns a role → permissions map into the policy table;
:func:`differences` lists the cells where the two disagree.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from labkit.attacks.apikeys import log_in

__all__ = [
    "MISSING_ID",
    "ROLES",
    "ROUTES",
    "Cell",
    "Matrix",
    "Route",
    "audit",
    "differences",
    "expected_matrix",
    "log_in",
    "matrix_figure",
    "token_claims",
]

Kind = Literal["-", "own", "other", "missing"]
ROLES = ("admin", "editor", "viewer")
#: An id no record has (the audit's "missing" column).
MISSING_ID = 2_000_000_000
ADMIN = "admin"


@dataclass(frozen=True)
class Route:
    """A route of the API, the permission it needs and whether ownership also matters."""

    method: str
    template: str
    permission: str
    owned: bool = False  # a post write/delete: permission AND ownership (admin overrides)

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def item(self) -> bool:
        return "{id}" in self.template

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return ("own", "other", "missing") if self.item else ("-",)

    @property
    def success(self) -> int:
        return 204 if self.method == "DELETE" else 200


#: The lab's routes (CURRICULUM) with the permission each needs.
ROUTES = (
    Route("GET", "/api/posts", "posts:read"),
    Route("GET", "/api/posts/{id}", "posts:read"),
    Route("PUT", "/api/posts/{id}", "posts:write", owned=True),
    Route("DELETE", "/api/posts/{id}", "posts:delete", owned=True),
    Route("GET", "/api/users", "users:read"),
    Route("DELETE", "/api/users/{id}", "users:delete"),
)

#: (role, route label, kind) -> status code.
Matrix = dict[tuple[str, str, str], int]


@dataclass
class Cell:
    """What one request did: its status, its ``error`` message and what changed."""

    status: int
    error: str | None = None
    problem: str | None = None  # the status and the stored data disagree
    fault: str | None = None  # a lab app's ``labkitFault`` (your function failed)


@dataclass
class Audit:
    """The observed statuses, plus every cell whose status contradicts what it did."""

    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)

    @property
    def matrix(self) -> Matrix:
        return {key: cell.status for key, cell in self.cells.items()}

    @property
    def problems(self) -> list[str]:
        return [
            f"{role} · {label} · {kind}: {cell.problem}"
            for (role, label, kind), cell in self.cells.items()
            if cell.problem
        ]


def expected_matrix(
    permissions: Mapping[str, Iterable[str]], routes: Iterable[Route] = ROUTES
) -> Matrix:
    """The policy table: for each role, route and kind of record, the status it should get.

    403 without the permission (checked first, so a missing record is 403 too), 404 for a
    missing record, 403 for someone else's post unless admin, else 200 (204 for DELETE).
    """
    table: Matrix = {}
    for role, granted in permissions.items():
        allowed = set(granted)
        for route in routes:
            for kind in route.kinds:
                if route.permission not in allowed:
                    status = 403
                elif kind == "missing":
                    status = 404
                elif route.owned and kind == "other" and role != ADMIN:
                    status = 403
                else:
                    status = route.success
                table[(role, route.label, kind)] = status
    return table


def differences(observed: Mapping[Any, int], expected: Mapping[Any, int]) -> list[str]:
    """Readable lines for every cell where ``observed`` differs from ``expected``."""
    lines = []
    for key, want in expected.items():
        got = observed.get(key)
        if got != want:
            role, label, kind = key
            where = label if kind == "-" else f"{label} · {kind}"
            lines.append(f"{role} · {where}: expected {want}, got {got}")
    return lines


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read WITHOUT verifying it (what anyone holding it can see)."""
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError, TypeError) as exc:
        raise ValueError("not a JWT (header.payload.signature)") from exc


# -- the audit ----------------------------------------------------------------------------
def new_account(client: httpx.Client, role: str) -> dict[str, Any]:
    """A fresh account of ``role`` (lab-only route), logged in: its row plus ``headers``."""
    account = client.post("/api/_lab/accounts", json={"role": role})
    account.raise_for_status()
    row = dict(account.json())
    row["headers"] = log_in(client, row["email"], row["password"])
    return row


def new_post(client: httpx.Client, author_id: int, title: str = "A post") -> int:
    """A fresh post by ``author_id`` (lab-only route); returns its id."""
    response = client.post(
        "/api/_lab/posts", json={"title": title, "body": "Text.", "authorId": author_id}
    )
    response.raise_for_status()
    return int(response.json()["id"])


def stored(client: httpx.Client, kind: str, record_id: int) -> dict[str, Any] | None:
    """A post or user as stored (lab-only route), or None once it is gone."""
    response = client.get(f"/api/_lab/{kind}/{record_id}")
    return dict(response.json()) if response.status_code == 200 else None


def _body_field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return str(value) if value is not None else None


def _target(
    client: httpx.Client, route: Route, kind: Kind, me: dict[str, Any], other_id: int
) -> int | None:
    if kind == "-":
        return None
    if kind == "missing":
        return MISSING_ID
    if route.template.startswith("/api/users"):
        if kind == "own":
            return int(me["id"])
        return int(new_account_row(client)["id"])
    return new_post(client, int(me["id"]) if kind == "own" else other_id)


def new_account_row(client: httpx.Client, role: str = "viewer") -> dict[str, Any]:
    """A fresh account (lab-only route), not logged in."""
    response = client.post("/api/_lab/accounts", json={"role": role})
    response.raise_for_status()
    return dict(response.json())


def probe(
    client: httpx.Client, route: Route, kind: Kind, me: dict[str, Any], other_id: int
) -> Cell:
    record = _target(client, route, kind, me, other_id)
    path = route.template.replace("{id}", str(record))
    marker = f"audited {secrets.token_hex(3)}"
    body = {"title": marker} if route.method == "PUT" else None
    response = client.request(route.method, path, headers=me["headers"], json=body)
    cell = Cell(
        response.status_code,
        _body_field(response, "error"),
        fault=_body_field(response, "labkitFault"),
    )
    if record is None or kind == "missing" or route.method == "GET":
        return cell
    table = "users" if route.template.startswith("/api/users") else "posts"
    after = stored(client, table, record)
    ok = 200 <= response.status_code < 300
    if route.method == "PUT":
        changed = after is not None and after.get("title") == marker
        if ok != changed:
            cell.problem = f"answered {response.status_code} but the post was " + (
                "changed" if changed else "not changed"
            )
    elif route.method == "DELETE":
        gone = after is None
        if ok != gone:
            cell.problem = f"answered {response.status_code} but the {table[:-1]} is " + (
                "gone" if gone else "still there"
            )
    return cell


def audit(client: httpx.Client, roles: Iterable[str] = ROLES) -> Audit:
    """Call every route as a fresh account of each role, on own / other / missing records.

    ``client`` points at a lab app. Deleting one's own account comes last for each role
    (after it the account's token is dead).
    """
    result = Audit()
    author = new_account_row(client, "editor")  # whose posts are "someone else's"
    for role in roles:
        me = new_account(client, role)
        cells = [(route, kind) for route in ROUTES for kind in route.kinds]
        cells.sort(key=lambda c: c[0].template.startswith("/api/users/") and c[1] == "own")
        for route, kind in cells:
            result.cells[(role, route.label, kind)] = probe(
                client, route, kind, me, int(author["id"])
            )
    return result


# -- the picture ---------------------------------------------------------------------------
def matrix_figure(observed: Mapping[Any, int], expected: Mapping[Any, int]) -> Any:
    """A heatmap: policy on the left, observed on the right; disagreements boxed."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    columns = list(dict.fromkeys((label, kind) for _, label, kind in expected))
    roles = list(dict.fromkeys(role for role, _, _ in expected))
    palette = {"allowed": 0, 403: 1, 404: 2, "other": 3}

    def code(status: int | None) -> int:
        if status is not None and 200 <= status < 300:
            return palette["allowed"]
        return palette.get(status, palette["other"])  # type: ignore[arg-type]

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), sharey=True)
    cmap = ListedColormap(["#2da44e", "#cf222e", "#8c959f", "#bf8700"])
    for ax, table, title in ((axes[0], expected, "policy"), (axes[1], observed, "observed")):
        grid = [[code(table.get((r, label, kind))) for label, kind in columns] for r in roles]
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto")
        for i, role in enumerate(roles):
            for j, (label, kind) in enumerate(columns):
                status = table.get((role, label, kind))
                ax.text(j, i, str(status), ha="center", va="center", color="white", fontsize=8)
                if table is observed and status != expected.get((role, label, kind)):
                    ax.add_patch(
                        plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=2.5)
                    )
        ax.set_xticks(range(len(columns)))
        names = [label.replace("/api", "") + ("" if k == "-" else f"\n{k}") for label, k in columns]
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(roles)))
        ax.set_yticklabels(roles)
        ax.set_title(title)
    fig.suptitle("green: allowed · red: 403 · grey: 404 · boxed: differs from the policy")
    fig.tight_layout()
    return fig
