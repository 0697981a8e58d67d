"""A correct 06 authorization layer written for the corpus: a wrong case replaces one part."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from labkit.sandbox.apps.authz import PERMISSIONS, Database, Post, User, database, token_claims
from tests.fixes.corpus import Fixes

Claims = Annotated[dict, Depends(token_claims)]
Db = Annotated[Database, Depends(database)]


def current_user(claims: Claims, db: Db) -> User:
    user = db.user(int(claims["sub"]))
    if user is None:
        raise HTTPException(401, "Invalid token")
    return user


def guard(role_of: Any = None, user_dependency: Any = current_user) -> Any:
    """An ``authorize`` whose permission test is ``role_of(user, permissions)`` (default: the
    right one) over the user ``user_dependency`` yields."""

    def allowed(user: Any, permissions: tuple[str, ...]) -> bool:
        return all(p in PERMISSIONS.get(user.role, ()) for p in permissions)

    test = role_of or allowed

    def authorize(*permissions: str) -> Any:
        def dependency(user: Annotated[User, Depends(user_dependency)]) -> User:
            if not test(user, permissions):
                raise HTTPException(403, "Insufficient permissions")
            return user

        return dependency

    return authorize


authorize = guard()


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


def layer(**parts: Any) -> Fixes:
    """All three parts, ``parts`` replacing some of them."""
    return {"authorize": authorize, "check_owner": check_owner, "PostUpdate": PostUpdate, **parts}
