"""06 current-role: where the caller's role comes from (no `from __future__ import
annotations`: FastAPI reads these dependencies' annotations at run time)."""

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from labkit.sandbox.apps.authz import Database, User, database, token_claims
from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


def role_from_token(claims: Annotated[dict, Depends(token_claims)]) -> User:
    return User(id=int(claims["sub"]), email="", role=str(claims["role"]))


@wrong("current-role", breaks="role-from-database", also=("verify",))
def the_token_says() -> Fixes:
    """The role written in the token: true when it was issued, stale after a demotion."""
    return P.layer(authorize=P.guard(user_dependency=role_from_token))


def database_user_token_role(
    claims: Annotated[dict, Depends(token_claims)], db: Annotated[Database, Depends(database)]
) -> User:
    user = db.user(int(claims["sub"]))
    if user is None:
        raise HTTPException(401, "Invalid token")
    return User(id=user.id, email=user.email, role=str(claims.get("role", user.role)))


@wrong("current-role", breaks="role-from-database")
def database_checked_but_token_role() -> Fixes:
    """Checks that the account exists, then keeps the token's role claim."""
    return P.layer(authorize=P.guard(user_dependency=database_user_token_role))


def header_override(
    user: Annotated[User, Depends(P.current_user)],
    x_role: Annotated[str | None, Header()] = None,
) -> User:
    return User(id=user.id, email=user.email, role=x_role or user.role)


@wrong("current-role", breaks="role-from-database")
def role_header_for_the_admin_console() -> Fixes:
    """An X-Role header 'for the admin console' overrides the stored role."""
    return P.layer(authorize=P.guard(user_dependency=header_override))


CACHE: dict[int, User] = {}


def cached_user(
    claims: Annotated[dict, Depends(token_claims)], db: Annotated[Database, Depends(database)]
) -> User:
    user_id = int(claims["sub"])
    if user_id not in CACHE:
        found = db.user(user_id)
        if found is None:
            raise HTTPException(401, "Invalid token")
        CACHE[user_id] = found
    return CACHE[user_id]


@wrong("current-role", breaks="role-from-database")
def users_cached_forever() -> Fixes:
    """The database user is cached per id 'to save a query': a demotion is never seen."""
    CACHE.clear()
    return P.layer(authorize=P.guard(user_dependency=cached_user))


def from_the_request(request: Request, db: Annotated[Database, Depends(database)]) -> User:
    claims = token_claims(request)
    found = db.user(claims["sub"])
    if not found:
        raise HTTPException(status_code=401, detail="Invalid token")
    return found


@right("current-role", also=("verify",))
def claims_read_from_the_request() -> Fixes:
    """current_user takes the Request and calls token_claims itself; db.user does int()."""
    return P.layer(authorize=P.guard(user_dependency=from_the_request))


class Principal:
    """The caller, loaded once per request."""

    def __init__(
        self,
        claims: Annotated[dict, Depends(token_claims)],
        db: Annotated[Database, Depends(database)],
    ) -> None:
        self.user = db.user(int(claims["sub"]))


def principal_user(principal: Annotated[Principal, Depends(Principal)]) -> User:
    if principal.user is None:
        raise HTTPException(401, "Invalid token")
    return principal.user


@right("current-role")
def class_dependency() -> Fixes:
    """A class as the dependency that loads the user, a function that unwraps it."""
    return P.layer(authorize=P.guard(user_dependency=principal_user))
