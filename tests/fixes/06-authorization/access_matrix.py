"""06 access-matrix: wrong and right ownership checks."""

from typing import Any

from fastapi import HTTPException

from labkit.sandbox.apps.authz import Post, User
from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


def _owner(test: Any, missing: int = 404) -> Any:
    def check_owner(user: User, post: Post | None) -> Post:
        if post is None:
            raise HTTPException(missing, "Not found")
        if not test(user, post):
            raise HTTPException(403, "Not authorized to edit this post")
        return post

    return check_owner


@wrong("access-matrix", breaks="owner-or-admin", also=("verify",))
def exists_is_enough() -> Fixes:
    """Only checks that the post exists (the permission check is the only guard)."""
    return P.layer(check_owner=_owner(lambda user, post: True))


@wrong("access-matrix", breaks="owner-or-admin")
def no_admin_override() -> Fixes:
    """Ownership without the admin override: even an admin edits only their own posts."""
    return P.layer(check_owner=_owner(lambda user, post: post.authorId == user.id))


@wrong("access-matrix", breaks="owner-or-admin")
def identity_instead_of_equality() -> Fixes:
    """'post.authorId is user.id': true for small ids only (CPython caches -5..256)."""
    return P.layer(
        check_owner=_owner(lambda user, post: post.authorId is user.id or user.role == "admin")
    )


@wrong("access-matrix", breaks="owner-or-admin")
def not_yours_is_not_found() -> Fixes:
    """Someone else's post answers 404 (OWASP's choice for unreadable records), but here every
    role reads every post and the notebook asks for 403."""

    def check_owner(user: User, post: Post | None) -> Post:
        if post is None or (post.authorId != user.id and user.role != "admin"):
            raise HTTPException(404, "Not found")
        return post

    return P.layer(check_owner=check_owner)


@wrong("access-matrix", breaks="missing-404")
def missing_is_forbidden() -> Fixes:
    """A missing post answers 403 ('do not reveal what exists')."""
    return P.layer(check_owner=_owner(lambda user, post: True, missing=403))


@wrong("access-matrix", breaks="missing-404")
def missing_post_crashes() -> Fixes:
    """No None check: a missing post is an AttributeError, the app answers 500."""

    def check_owner(user: User, post: Any) -> Any:
        if post.authorId != user.id and user.role != "admin":
            raise HTTPException(403, "Not authorized to edit this post")
        return post

    return P.layer(check_owner=check_owner)


@right("access-matrix", also=("verify",))
def match_statement() -> Fixes:
    """A match statement, admin first, ids compared as ints."""

    def check_owner(user: User, post: Post | None) -> Post:
        match post:
            case None:
                raise HTTPException(status_code=404, detail="Not found")
            case _ if user.role == "admin" or int(post.authorId) == int(user.id):
                return post
            case _:
                raise HTTPException(status_code=403, detail="Not authorized to edit this post")

    return P.layer(check_owner=check_owner)


@right("access-matrix")
def owners_set() -> Fixes:
    """Who may edit, as a set of ids (the author) plus a role test."""

    def check_owner(user: User, post: Post | None) -> Post:
        if post is None:
            raise HTTPException(404, "Not found")
        editors = {post.authorId}
        if user.id in editors or user.role in {"admin"}:
            return post
        raise HTTPException(403, "Not authorized to edit this post")

    return P.layer(check_owner=check_owner)
