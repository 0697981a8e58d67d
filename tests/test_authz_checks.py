"""06-authorization: every check fails on the stub and on plausible wrong answers or fixes,
and passes on the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from labkit.attacks.authz import new_account
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.sandbox.apps.authz import PERMISSIONS, Database, Post, User, database, token_claims
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "06-authorization") as opened:
        yield opened


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


# -- the learner's possible answers (written as in the notebook) --------------------------
def current_user(
    claims: Annotated[dict, Depends(token_claims)], db: Annotated[Database, Depends(database)]
) -> User:
    user = db.user(int(claims["sub"]))
    if user is None:
        raise HTTPException(401, "Invalid token")
    return user


def authorize(*permissions: str) -> Any:
    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if not all(p in PERMISSIONS.get(user.role, ()) for p in permissions):
            raise HTTPException(403, "Insufficient permissions")
        return user

    return dependency


def check_owner(user: User, post: Post | None) -> Post:
    if post is None:
        raise HTTPException(404, "Not found")
    if post.authorId != user.id and user.role != "admin":
        raise HTTPException(403, "Not authorized to edit this post")
    return post


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)


REFERENCE = {"authorize": authorize, "check_owner": check_owner, "PostUpdate": PostUpdate}


def not_written(*args: Any) -> Any:
    raise NotImplementedError


def current_user_stub(claims: Annotated[dict, Depends(token_claims)]) -> User:
    raise NotImplementedError


def authorize_with_stub_user(*permissions: str) -> Any:
    def dependency(user: Annotated[User, Depends(current_user_stub)]) -> User:
        return user

    return dependency


class PostUpdateStub(BaseModel):
    pass  # the release's stub: no fields listed


# -- viewer-writes --------------------------------------------------------------------------
def test_viewer_writes_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("viewer-writes", None)
    assert not result.passed
    assert mentions(result, "expected a tuple (method, path)")


def test_viewer_writes_fails_on_a_guarded_route(lab: Lab) -> None:
    result = lab.check("viewer-writes", ("PUT", "/api/posts/4"))
    assert not result.passed
    assert mentions(result, "403 'Insufficient permissions'")


def test_viewer_writes_fails_on_a_read(lab: Lab) -> None:
    result = lab.check("viewer-writes", ("GET", "/api/posts/4"))
    assert not result.passed
    assert mentions(result, "every role may read")


@pytest.mark.parametrize("path", ["/api/posts/4", "/api/users/3"])
def test_viewer_writes_passes_on_an_unguarded_delete(lab: Lab, path: str) -> None:
    result = lab.check("viewer-writes", ("DELETE", path))
    assert result.passed, repr(result)


# -- idor -----------------------------------------------------------------------------------
def test_idor_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("idor", None).passed


def test_idor_fails_on_a_route_without_owners(lab: Lab) -> None:
    result = lab.check("idor", ("DELETE", "/api/users/3"))
    assert not result.passed
    assert mentions(result, "is not about posts")


def test_idor_passes_on_an_edit_of_another_authors_post(lab: Lab) -> None:
    result = lab.check("idor", ("PUT", "/api/posts/1"))
    assert result.passed, repr(result)


# -- mass-assignment ------------------------------------------------------------------------
def test_mass_assignment_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("mass-assignment", None)
    assert not result.passed
    assert mentions(result, "expected the JSON body you sent")


@pytest.mark.parametrize("body", [{"title": "Mine now"}, {"author_id": 1}])
def test_mass_assignment_fails_when_the_author_stays(lab: Lab, body: dict[str, Any]) -> None:
    result = lab.check("mass-assignment", body)
    assert not result.passed
    assert mentions(result, "the post's author did not change")


def test_mass_assignment_passes_when_authorid_is_written(lab: Lab) -> None:
    result = lab.check("mass-assignment", {"title": "Signed by alice", "authorId": 1})
    assert result.passed, repr(result)


# -- stale-role -----------------------------------------------------------------------------
def editor_token(lab: Lab) -> tuple[int, str]:
    account = new_account(lab.client, "editor")
    token = account["headers"]["Authorization"].split()[1]
    return int(account["id"]), token


def test_stale_role_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("stale-role", None)
    assert not result.passed
    assert mentions(result, "expected an access token (str)")


def test_stale_role_fails_without_a_demotion(lab: Lab) -> None:
    _, token = editor_token(lab)
    result = lab.check("stale-role", token)
    assert not result.passed
    assert mentions(result, "the token says 'editor' and the database says 'editor'")


def test_stale_role_fails_on_a_token_from_after_the_demotion(lab: Lab) -> None:
    user_id, _ = editor_token(lab)
    email = lab.client.get(f"/api/_lab/users/{user_id}").json()["email"]
    lab.client.post(f"/api/_lab/users/{user_id}/role", json={"role": "viewer"})
    assert lab.client.get(f"/api/_lab/users/{user_id}").json()["email"] == email
    fresh = new_account(lab.client, "viewer")["headers"]["Authorization"].split()[1]
    result = lab.check("stale-role", fresh)
    assert not result.passed
    assert mentions(result, "the token says 'viewer' and the database says 'viewer'")


def test_stale_role_passes_on_a_token_from_before_the_demotion(lab: Lab) -> None:
    user_id, token = editor_token(lab)
    lab.client.post(f"/api/_lab/users/{user_id}/role", json={"role": "viewer"})
    result = lab.check("stale-role", token)
    assert result.passed, repr(result)
    assert mentions(result, "token role 'editor', database role 'viewer'")


# -- rbac -----------------------------------------------------------------------------------
def test_rbac_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("rbac", authorize=not_written)
    assert not result.passed
    assert mentions(result, "authorize is not written yet")


def test_rbac_fails_on_a_stub_current_user(lab: Lab) -> None:
    result = lab.check("rbac", authorize=authorize_with_stub_user)
    assert not result.passed
    assert mentions(result, "current_user_stub is not written yet")


def test_rbac_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("rbac", authorize=authorize)
    assert result.passed, repr(result)


# -- current-role ---------------------------------------------------------------------------
def test_current_role_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("current-role", authorize=not_written).passed


def test_current_role_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("current-role", authorize=authorize)
    assert result.passed, repr(result)


# -- access-matrix --------------------------------------------------------------------------
def test_access_matrix_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("access-matrix", authorize=authorize, check_owner=not_written)
    assert not result.passed
    assert mentions(result, "check_owner is not written yet")


def test_access_matrix_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("access-matrix", authorize=authorize, check_owner=check_owner)
    assert result.passed, repr(result)
    assert mentions(result, "all 42 cells")


# -- update-schema --------------------------------------------------------------------------
def test_update_schema_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("update-schema", PostUpdate=PostUpdateStub)
    assert not result.passed
    assert mentions(result, "the author's own update {'title'")


def test_update_schema_fails_on_a_function(lab: Lab) -> None:
    result = lab.check("update-schema", PostUpdate=not_written)
    assert not result.passed
    assert mentions(result, "PostUpdate must be a pydantic model class")


def test_update_schema_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("update-schema", PostUpdate=PostUpdate)
    assert result.passed, repr(result)


# -- verify ---------------------------------------------------------------------------------
def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in ("access matrix", "mass assignment", "stale role"):
        assert mentions(result, f"{battery}")
    assert not result.details or "every attack refused" in repr(result)


def test_verify_needs_all_three_parts(lab: Lab) -> None:
    result = lab.check("verify", authorize=authorize)
    assert not result.passed
    assert result.summary == "this check needs your functions check_owner, PostUpdate"


MY_EXPLOITS = {
    "viewer-writes": ("DELETE", "/api/posts/3"),
    "idor": ("PUT", "/api/posts/1"),
    "mass-assignment": {"title": "Why I quit (by Alice)", "authorId": 1},
}


def test_verify_replays_the_learners_own_exploits(lab: Lab) -> None:
    result = lab.check("verify", MY_EXPLOITS, **REFERENCE)
    assert result.passed, repr(result)
    for attack in ("Attack 1 (DELETE /api/posts/{id} as a viewer)", "Attack 2", "Attack 3"):
        assert mentions(result, f"your exploit from {attack}"), repr(result)
    assert mentions(result, "is now refused")


def everyones_post(user: User, post: Post | None) -> Post:
    if post is None:
        raise HTTPException(404, "Not found")
    return post  # no ownership check: the IDOR of Attack 2 still works


def test_verify_names_the_learners_exploit_that_still_works(lab: Lab) -> None:
    result = lab.check("verify", MY_EXPLOITS, **{**REFERENCE, "check_owner": everyones_post})
    assert not result.passed
    assert mentions(result, "[owner-or-admin] your exploit from Attack 2 still works"), repr(result)
