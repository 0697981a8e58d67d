"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Authorization as a hurried API does it (lab 06-authorization): write routes that only check
*that* someone is logged in, a lookup that finds a post but never asks whose it is, the
catalogue's ``data: req.body`` that lets a request set any column, and a role read from a
token that was issued before the user was demoted. Secure twin: :mod:`labkit.patterns.authz`.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException

__all__ = [
    "TokenUser",
    "apply_update",
    "authenticated_only",
    "authorize",
    "find_post",
    "token_user",
]

#: Every column of the posts table but its primary key: what ``data: req.body`` may write.
POST_COLUMNS = ("title", "body", "authorId")
P = TypeVar("P")


@dataclass(frozen=True)
class TokenUser:
    """The caller as the token describes them (``req.user = {id, role}`` in the catalogue)."""

    id: int
    role: str
    email: str = ""


def token_user(claims: Mapping[str, Any]) -> TokenUser:
    """The caller with the role written in their access token.

    Flaw: the ``role`` claim was true when the token was issued; after a demotion it stays
    valid until the token expires (15 minutes here, days in many apps).
    Exploited in: 06-authorization (stale role after demotion).
    Secure twin: labkit.patterns.authz.load_current_user.
    """
    return TokenUser(id=int(claims["sub"]), role=str(claims["role"]))


def authenticated_only(current_user: Callable[..., Any]) -> Callable[..., Any]:
    """A dependency that only checks that *someone* is logged in.

    Flaw: authentication is not authorization: a viewer passes it as easily as an admin, so
    a write or delete route guarded by it alone is open to every role.
    Exploited in: 06-authorization (a viewer deletes users and posts).
    Secure twin: labkit.patterns.authz.authorize.
    """

    def dependency(user: Annotated[Any, Depends(current_user)]) -> Any:
        return user

    return dependency


def authorize(
    *required: str,
    current_user: Callable[..., Any],
    permissions: Mapping[str, Iterable[str]],
) -> Callable[..., Any]:
    """The catalogue's ``authorize(...requiredPermissions)`` middleware, as a dependency.

    Flaw: it grants what the role ``current_user`` reports, checked nowhere else: here the role
    read from the token (:func:`token_user`), so a demoted user keeps the old role's powers
    while the token lives. And no route configuration is checked: naming no permission lets
    everyone through (``[].every(...)`` is true), a misspelt one silently denies everyone.
    Exploited in: 06-authorization (stale role after demotion).
    Secure twin: labkit.patterns.authz.authorize.
    """

    def dependency(user: Annotated[Any, Depends(current_user)]) -> Any:
        user_permissions = permissions.get(user.role) or ()
        if not all(p in user_permissions for p in required):
            raise HTTPException(403, "Insufficient permissions")
        return user

    return dependency


def find_post(user: Any, post: P | None) -> P:
    """The post to edit or delete: 404 when missing, and no question about whose it is.

    Flaw: broken object level authorization (OWASP API1:2023): any editor may change any
    author's post by changing the id in the URL (IDOR).
    Exploited in: 06-authorization (an editor edits an admin's post).
    Secure twin: labkit.patterns.authz.check_owner.
    """
    if post is None:
        raise HTTPException(404, "Not found")
    return post


def apply_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """The changes to write: every key of the request body that names a column.

    Flaw: mass assignment (the catalogue's ``db.post.update({ data: req.body })``): the
    ownership check reads ``authorId`` *before* the update, and the update may then set it.
    Exploited in: 06-authorization (a PUT moves a post to another author).
    Secure twin: labkit.patterns.authz.PostUpdate.
    """
    return {key: value for key, value in body.items() if key in POST_COLUMNS}
