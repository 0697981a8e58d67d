"""Authorization done right: RBAC, resource ownership and explicit update schemas (lab 06).

Three layers, each answering one question (OWASP Authorization Cheat Sheet; ASVS 5.0 §8.2):

1. **Function level** — may this *role* call this route at all? :func:`authorize` is a FastAPI
   dependency factory over the catalogue's ``PERMISSIONS`` map: a route declares the
   permissions it needs (``Depends(authorize("posts:write", current_user=...))``) and a
   caller whose role lacks one gets 403 before the handler runs (ASVS 8.2.1; OWASP API5:2023
   Broken Function Level Authorization). Deny by default: an unknown role has no permission.
2. **Object level** — may this *user* touch this *record*? :func:`check_owner` allows the
   author, or an admin (ASVS 8.2.2; OWASP API1:2023 Broken Object Level Authorization).
3. **Field level** — which fields may the request change? :class:`PostUpdate` lists them
   and forbids the rest (``extra="forbid"``), so ``{"authorId": ...}`` cannot ride along
   (ASVS 8.2.3; OWASP Mass Assignment Cheat Sheet; API3:2023).

Who the caller is comes from a verified token, but *what they may do* comes from the
database on every request (:func:`load_current_user`): a role claim in a 15-minute token is
a cache that goes stale the moment an admin demotes someone.

403 or 404? Every role here may read every post, so refusing an edit with 403 reveals
nothing the caller could not see anyway; a missing post is 404. Where a caller may not even
*read* a record, answer 404 for "exists but not yours" too, so ids cannot be probed
(OWASP API1:2023). The permission check runs first, so a caller without the permission gets
the same 403 whether or not the record exists.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ADMIN_ROLE",
    "ALL_PERMISSIONS",
    "PERMISSIONS",
    "PostUpdate",
    "Principal",
    "authorize",
    "check_owner",
    "has_permissions",
    "load_current_user",
]

#: The catalogue's RBAC map, exactly (role -> the permissions it grants).
PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(
        {"users:read", "users:write", "users:delete", "posts:read", "posts:write", "posts:delete"}
    ),
    "editor": frozenset({"posts:read", "posts:write", "posts:delete", "users:read"}),
    "viewer": frozenset({"posts:read", "users:read"}),
}
ALL_PERMISSIONS: frozenset[str] = frozenset().union(*PERMISSIONS.values())
#: The role that overrides ownership (the catalogue's ``req.user.role !== "admin"``).
ADMIN_ROLE = "admin"

FORBIDDEN = "Insufficient permissions"
NOT_YOURS = "Not authorized to edit this post"
NOT_FOUND = "Not found"
GONE = "Invalid token"


class Principal(Protocol):
    """Who is calling: an id and the role the database holds for them *now*."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...


class Owned(Protocol):
    @property
    def authorId(self) -> int: ...  # the API's field name


R = TypeVar("R", bound=Owned)


def has_permissions(
    role: str, required: Iterable[str], permissions: Mapping[str, Iterable[str]] = PERMISSIONS
) -> bool:
    """True when ``role`` grants *every* permission in ``required`` (unknown role: none)."""
    granted = set(permissions.get(role, ()))
    return all(p in granted for p in required)


def load_current_user(
    claims: Mapping[str, Any], find_user: Callable[[int], Principal | None]
) -> Principal:
    """The caller as the database knows them now; 401 when the account is gone.

    Use the token only for *who* (``sub``), never for *what they may do*: the ``role``
    claim was true when the token was issued and may not be any more.
    """
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        raise HTTPException(401, GONE) from None
    user = find_user(user_id)
    if user is None:
        raise HTTPException(401, GONE)
    return user


def authorize(
    *required: str,
    current_user: Callable[..., Principal],
    permissions: Mapping[str, Iterable[str]] = PERMISSIONS,
) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, if their role grants every permission in ``required``.

    ``current_user`` is the dependency that yields the caller (with their current role).
    Naming no permission, or one that no role has (a typo such as ``"post:write"``), is a
    configuration error raised at startup, not a route that silently allows or denies all.
    """
    if not required:
        raise ValueError("authorize() needs at least one permission (deny by default)")
    known = set().union(*map(set, permissions.values()))
    unknown = sorted(set(required) - known)
    if unknown:
        raise ValueError(f"unknown permission(s) {', '.join(unknown)}")

    def dependency(user: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not has_permissions(user.role, required, permissions):
            raise HTTPException(403, FORBIDDEN)
        return user

    dependency.__name__ = f"authorize_{'_'.join(p.replace(':', '_') for p in required)}"
    return dependency


def check_owner(user: Principal, resource: R | None) -> R:
    """The resource, if it exists and ``user`` wrote it or is an admin; else 404 / 403.

    Run it *after* :func:`authorize`: the permission says what a role may do, ownership
    says to which records. Neither replaces the other.
    """
    if resource is None:
        raise HTTPException(404, NOT_FOUND)
    if resource.authorId != user.id and user.role != ADMIN_ROLE:
        raise HTTPException(403, NOT_YOURS)
    return resource


class PostUpdate(BaseModel):
    """The fields a ``PUT /api/posts/{id}`` may change, and nothing else.

    ``extra="forbid"`` answers 422 to any other field (``authorId``, ``id``...) instead of
    writing it (the catalogue's ``data: req.body``) or silently dropping it: a client bug
    surfaces, and a mass-assignment attempt is visible in the logs.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=10_000)
