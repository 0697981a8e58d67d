"""06-authorization: every attack succeeds against the vulnerable app and fails against
``create_app(secure=True)``; legitimate users work on both — over real HTTP."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labkit.attacks.authz import (
    audit,
    differences,
    expected_matrix,
    log_in,
    new_account,
    new_account_row,
    new_post,
    stored,
    token_claims,
)
from labkit.exercises.labs.authz import POLICY
from labkit.patterns.authz import PERMISSIONS
from labkit.sandbox.apps.authz import SEEDED_POSTS, create_app
from labkit.sandbox.apps.base import LabState, lab_state
from labkit.sandbox.server import Sandbox

App = tuple[bool, httpx.Client, LabState]


@pytest.fixture(scope="module", params=[False, True], ids=["vulnerable", "secure"])
def app(request: pytest.FixtureRequest) -> Iterator[App]:
    secure = bool(request.param)
    application = create_app(secure=secure)
    state = lab_state(application)
    with Sandbox(application, name=f"06-{request.param}") as box:
        yield secure, box.client, state
    state.close()


def login(client: httpx.Client, state: LabState, who: str) -> dict[str, str]:
    return log_in(client, state.users[who].email, state.users[who].password)


# -- legitimate flows ----------------------------------------------------------------------
def test_everyone_reads_posts_and_users(app: App) -> None:
    _, client, state = app
    for who in ("alice", "bob", "carol"):
        headers = login(client, state, who)
        posts = client.get("/api/posts", headers=headers)
        assert posts.status_code == 200
        assert {p["title"] for p in posts.json()} >= {title for _, title, _ in SEEDED_POSTS}
        assert all(set(p) == {"id", "title", "body", "authorId"} for p in posts.json())
        users = client.get("/api/users", headers=headers).json()
        assert {u["email"]: u["role"] for u in users if u["email"].endswith("@example.com")} == {
            "alice@example.com": "admin",
            "bob@example.com": "editor",
            "carol@example.com": "viewer",
        }
        assert all(set(u) == {"id", "email", "role"} for u in users)  # no hashes


def test_an_author_edits_and_deletes_their_own_post(app: App) -> None:
    _, client, _ = app
    editor = new_account(client, "editor")
    post_id = new_post(client, editor["id"])
    edited = client.put(
        f"/api/posts/{post_id}", json={"title": "Better"}, headers=editor["headers"]
    )
    assert edited.status_code == 200
    assert edited.json() == {"id": post_id, "title": "Better", "body": "Text.",
                             "authorId": editor["id"]}  # fmt: skip
    gone = client.delete(f"/api/posts/{post_id}", headers=editor["headers"])
    assert gone.status_code == 204 and stored(client, "posts", post_id) is None


def test_an_admin_moderates_any_post_and_deletes_users(app: App) -> None:
    _, client, state = app
    alice = login(client, state, "alice")
    post_id = new_post(client, new_account_row(client, "editor")["id"])
    assert client.put(f"/api/posts/{post_id}", json={"body": "Moderated."},
                      headers=alice).status_code == 200  # fmt: skip
    victim = new_account_row(client, "viewer")
    assert client.delete(f"/api/users/{victim['id']}", headers=alice).status_code == 204
    assert stored(client, "users", victim["id"]) is None


def test_error_bodies_match_the_contract(app: App) -> None:
    _, client, state = app
    assert client.get("/api/posts").json() == {"error": "Missing token"}
    alice = login(client, state, "alice")
    missing = client.get("/api/posts/999999", headers=alice)
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    carol = login(client, state, "carol")
    refused = client.put("/api/posts/1", json={"title": "x"}, headers=carol)
    assert (refused.status_code, refused.json()) == (403, {"error": "Insufficient permissions"})


def test_login_refuses_a_wrong_password(app: App) -> None:
    _, client, _ = app
    response = client.post("/api/auth/login", json={"email": "bob@example.com", "password": "x"})
    assert (response.status_code, response.json()) == (401, {"error": "Invalid email or password"})


# -- the attacks ---------------------------------------------------------------------------
def test_a_viewer_deletes_posts_and_users(app: App) -> None:
    secure, client, _ = app
    viewer = new_account(client, "viewer")
    post_id = new_post(client, new_account_row(client, "editor")["id"])
    victim = new_account_row(client, "editor")
    deleted_post = client.delete(f"/api/posts/{post_id}", headers=viewer["headers"])
    deleted_user = client.delete(f"/api/users/{victim['id']}", headers=viewer["headers"])
    if secure:
        assert (deleted_post.status_code, deleted_user.status_code) == (403, 403)
        assert deleted_post.json() == {"error": "Insufficient permissions"}
        assert stored(client, "posts", post_id) and stored(client, "users", victim["id"])
    else:
        assert (deleted_post.status_code, deleted_user.status_code) == (204, 204)


def test_an_editor_edits_another_authors_post(app: App) -> None:
    secure, client, state = app
    bob = login(client, state, "bob")
    alices = [p for p in client.get("/api/posts", headers=bob).json() if p["authorId"] == 1]
    response = client.put(f"/api/posts/{alices[0]['id']}", json={"title": "bob was here"},
                          headers=bob)  # fmt: skip
    if secure:
        assert (response.status_code, response.json()) == (
            403,
            {"error": "Not authorized to edit this post"},
        )
    else:
        assert response.status_code == 200 and response.json()["title"] == "bob was here"


@pytest.mark.parametrize("extra", [{"authorId": 1}, {"id": 4242}, {"role": "admin"}])
def test_mass_assignment_through_put(app: App, extra: dict[str, object]) -> None:
    secure, client, _ = app
    editor = new_account(client, "editor")
    post_id = new_post(client, editor["id"])
    before = stored(client, "posts", post_id)
    response = client.put(f"/api/posts/{post_id}", json={"title": "t", **extra},
                          headers=editor["headers"])  # fmt: skip
    after = stored(client, "posts", post_id)
    if secure:
        assert response.status_code == 422 and after == before
        assert response.json()["errors"][0]["type"] == "extra_forbidden"
    elif "authorId" in extra:
        assert after is not None and after["authorId"] == 1  # the post changed hands
    else:
        assert response.status_code == 200  # ignored, but accepted


def test_a_demoted_users_token_keeps_the_old_role(app: App) -> None:
    secure, client, _ = app
    editor = new_account(client, "editor")
    post_id = new_post(client, editor["id"])
    token = editor["headers"]["Authorization"].split()[1]
    assert token_claims(token)["role"] == "editor"
    demoted = client.post(f"/api/_lab/users/{editor['id']}/role", json={"role": "viewer"})
    assert demoted.json()["role"] == "viewer"
    response = client.put(f"/api/posts/{post_id}", json={"title": "still editor?"},
                          headers=editor["headers"])  # fmt: skip
    if secure:
        assert response.status_code == 401  # the role change revoked the user's tokens
        again = log_in(client, editor["email"], editor["password"])
        assert client.get("/api/posts", headers=again).status_code == 200
        refused = client.put(f"/api/posts/{post_id}", json={"title": "x"}, headers=again)
        assert refused.status_code == 403
    else:
        assert response.status_code == 200


def test_the_access_matrix(app: App) -> None:
    secure, client, _ = app
    result = audit(client)
    assert not result.problems  # every status matches what happened to the data
    diff = differences(result.matrix, POLICY)
    if secure:
        assert diff == []
    else:
        assert "editor · PUT /api/posts/{id} · other: expected 403, got 200" in diff
        assert "viewer · DELETE /api/users/{id} · other: expected 403, got 204" in diff
        assert not [line for line in diff if " GET " in line or line.startswith("admin")]


def test_the_policy_table_is_the_seeds_permissions_map() -> None:
    assert expected_matrix(PERMISSIONS) == POLICY
    assert len(POLICY) == 3 * 14
    assert POLICY[("viewer", "GET /api/posts", "-")] == 200
    assert POLICY[("viewer", "PUT /api/posts/{id}", "missing")] == 403  # authorize runs first
    assert POLICY[("editor", "PUT /api/posts/{id}", "other")] == 403
    assert POLICY[("admin", "DELETE /api/posts/{id}", "other")] == 204
    assert POLICY[("editor", "DELETE /api/users/{id}", "other")] == 403


def test_the_notebooks_policy_table_is_the_one_the_checks_use() -> None:
    source = (Path(__file__).parents[1] / "course" / "06-authorization.py").read_text()
    assignment = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "PERMISSIONS" for t in node.targets)
    )
    notebook_permissions = ast.literal_eval(assignment.value)
    assert expected_matrix(notebook_permissions) == POLICY
