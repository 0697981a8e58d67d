"""labkit.patterns.authz and its insecure twin, as plain library code (no sandbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, HTTPException
from pydantic import ValidationError

from labkit.attacks.authz import token_claims
from labkit.patterns import authz
from labkit.sandbox.server import Sandbox
from labkit.vulnerable import authz as weak


@dataclass(frozen=True)
class Someone:
    id: int
    role: str


@dataclass(frozen=True)
class Doc:
    id: int
    authorId: int


def test_permissions_are_the_seeds_map_exactly() -> None:
    admin = ["users:read", "users:write", "users:delete", "posts:read", "posts:write"]
    assert {role: sorted(p) for role, p in authz.PERMISSIONS.items()} == {
        "admin": sorted([*admin, "posts:delete"]),
        "editor": sorted(["posts:read", "posts:write", "posts:delete", "users:read"]),
        "viewer": sorted(["posts:read", "users:read"]),
    }


def test_has_permissions_needs_every_permission_and_denies_unknown_roles() -> None:
    assert authz.has_permissions("editor", ["posts:write", "users:read"])
    assert not authz.has_permissions("editor", ["posts:write", "users:delete"])
    assert not authz.has_permissions("superuser", ["posts:read"])
    assert not authz.has_permissions("", ["posts:read"])


def test_authorize_refuses_empty_or_unknown_permissions_at_startup() -> None:
    with pytest.raises(ValueError, match="at least one permission"):
        authz.authorize(current_user=lambda: Someone(1, "admin"))
    with pytest.raises(ValueError, match="unknown permission"):
        authz.authorize("post:write", current_user=lambda: Someone(1, "admin"))


CALLER = {"role": "viewer"}


def current_caller() -> Someone:
    return Someone(7, CALLER["role"])


MAY_DELETE = authz.authorize("posts:delete", current_user=current_caller)


def test_authorize_is_a_fastapi_dependency() -> None:
    app = FastAPI()

    @app.delete("/things")
    def delete_things(user: Annotated[Someone, Depends(MAY_DELETE)]) -> dict[str, int]:
        return {"by": user.id}

    with Sandbox(app) as box:
        CALLER["role"] = "viewer"
        assert box.client.delete("/things").status_code == 403
        CALLER["role"] = "editor"
        assert box.client.delete("/things").json() == {"by": 7}


def test_check_owner() -> None:
    doc = Doc(1, authorId=5)
    assert authz.check_owner(Someone(5, "editor"), doc) is doc
    assert authz.check_owner(Someone(9, "admin"), doc) is doc
    with pytest.raises(HTTPException) as other:
        authz.check_owner(Someone(9, "editor"), doc)
    assert (other.value.status_code, other.value.detail) == (
        403,
        "Not authorized to edit this post",
    )
    with pytest.raises(HTTPException) as missing:
        authz.check_owner(Someone(9, "admin"), None)
    assert (missing.value.status_code, missing.value.detail) == (404, "Not found")


def test_load_current_user_takes_the_role_from_the_database() -> None:
    table = {5: Someone(5, "viewer")}
    user = authz.load_current_user({"sub": "5", "role": "admin"}, table.get)
    assert user.role == "viewer"
    for claims in ({"sub": "6", "role": "admin"}, {"role": "admin"}, {"sub": "x"}):
        with pytest.raises(HTTPException) as gone:
            authz.load_current_user(claims, table.get)
        assert gone.value.status_code == 401


def test_post_update_forbids_everything_it_does_not_list() -> None:
    assert authz.PostUpdate(title="New").model_dump(exclude_unset=True) == {"title": "New"}
    for bad in ({"authorId": 2}, {"id": 1}, {"title": ""}, {"title": "x" * 201},
                {"body": "x" * 10_001}, {"title": 5}):  # fmt: skip
        with pytest.raises(ValidationError):
            authz.PostUpdate.model_validate(bad)


def test_the_vulnerable_twins() -> None:
    assert weak.token_user({"sub": "3", "role": "editor"}).role == "editor"
    assert weak.apply_update({"title": "t", "authorId": 1, "junk": 2}) == {
        "title": "t",
        "authorId": 1,
    }
    doc = Doc(1, authorId=5)
    assert weak.find_post(Someone(9, "viewer"), doc) is doc  # nobody asks whose it is
    for module in (weak,):
        assert module.__doc__ and module.__doc__.startswith("DELIBERATELY INSECURE")
    unchecked = weak.authorize(current_user=current_caller, permissions=authz.PERMISSIONS)
    assert unchecked(Someone(1, "intern")).role == "intern"  # no permission named: all pass
    typo = weak.authorize("post:write", current_user=current_caller, permissions=authz.PERMISSIONS)
    with pytest.raises(HTTPException):  # a misspelt permission: nobody, silently
        typo(Someone(1, "admin"))
    fns = (weak.token_user, weak.authenticated_only, weak.authorize, weak.find_post)
    for fn in (*fns, weak.apply_update):
        doc_text = fn.__doc__ or ""
        assert "Flaw:" in doc_text and "Exploited in: 06-authorization" in doc_text
        assert "Secure twin: labkit.patterns.authz." in doc_text


def test_token_claims_reads_without_verifying() -> None:
    assert token_claims("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIyIn0.sig") == {"sub": "2"}
    with pytest.raises(ValueError):
        token_claims("not a token")
