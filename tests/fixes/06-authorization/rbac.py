"""06 rbac: wrong and right permission guards (no `from __future__ import annotations`:
FastAPI reads these dependencies' annotations at run time)."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException

from labkit.sandbox.apps.authz import PERMISSIONS, Database, User, database, token_claims
from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


@wrong("rbac", breaks="every-permission", also=("access-matrix", "verify"))
def only_viewers_restricted() -> Fixes:
    """'Only viewers are read-only': an editor may then delete users."""
    return P.layer(
        authorize=P.guard(
            lambda user, perms: user.role != "viewer" or all(p.endswith(":read") for p in perms)
        )
    )


@wrong("rbac", breaks="every-permission", also=("verify",))
def any_permission_is_enough() -> Fixes:
    """any() instead of all(): one of the required permissions lets the caller through."""
    return P.layer(
        authorize=P.guard(
            lambda user, perms: any(p in PERMISSIONS.get(user.role, ()) for p in perms)
        )
    )


@wrong("rbac", breaks="every-permission")
def first_permission_only() -> Fixes:
    """Checks permissions[0] and forgets the rest."""
    return P.layer(
        authorize=P.guard(lambda user, perms: perms[0] in PERMISSIONS.get(user.role, ()))
    )


@wrong("rbac", breaks="every-permission", also=("access-matrix",))
def resource_prefix() -> Fixes:
    """Grants by resource: any 'posts:...' permission allows every 'posts:' route."""

    def allowed(user: Any, perms: tuple[str, ...]) -> bool:
        granted = {g.split(":")[0] for g in PERMISSIONS.get(user.role, ())}
        return all(p.split(":")[0] in granted for p in perms)

    return P.layer(authorize=P.guard(allowed))


@wrong("rbac", breaks="unknown-role")
def role_by_substring() -> Fixes:
    """'admin' in user.role: a role that merely contains a role's name gets its powers."""

    def allowed(user: Any, perms: tuple[str, ...]) -> bool:
        for name, granted in PERMISSIONS.items():
            if name in user.role or user.role in name:
                return all(p in granted for p in perms)
        return False

    return P.layer(authorize=P.guard(allowed))


@wrong("rbac", breaks="unknown-role")
def role_by_prefix() -> Fixes:
    """role.startswith(name): 'admin-intern' is an admin, 'editors' an editor."""

    def allowed(user: Any, perms: tuple[str, ...]) -> bool:
        for name, granted in PERMISSIONS.items():
            if user.role.startswith(name):
                return all(p in granted for p in perms)
        return False

    return P.layer(authorize=P.guard(allowed))


@wrong("rbac", breaks="no-crash")
def unknown_role_raises() -> Fixes:
    """PERMISSIONS[user.role]: an unknown role is a KeyError (a 500), not a 403."""
    return P.layer(
        authorize=P.guard(lambda user, perms: all(p in PERMISSIONS[user.role] for p in perms))
    )


@wrong("rbac", breaks="forbidden-403", also=("access-matrix", "verify"))
def other_message() -> Fixes:
    """Refuses the right requests, but with {'error': 'Forbidden'}."""

    def authorize(*permissions: str) -> Any:
        def dependency(user: Annotated[User, Depends(P.current_user)]) -> User:
            if not set(permissions) <= set(PERMISSIONS.get(user.role, ())):
                raise HTTPException(403, "Forbidden")
            return user

        return dependency

    return P.layer(authorize=authorize)


@wrong("rbac", breaks="forbidden-403")
def unauthorized_401() -> Fixes:
    """401 'Insufficient permissions': the caller is authenticated, 401 is the wrong code."""

    def authorize(*permissions: str) -> Any:
        def dependency(user: Annotated[User, Depends(P.current_user)]) -> User:
            if not set(permissions) <= set(PERMISSIONS.get(user.role, ())):
                raise HTTPException(401, "Insufficient permissions")
            return user

        return dependency

    return P.layer(authorize=authorize)


@right("rbac", also=("access-matrix", "verify"))
def callable_class() -> Fixes:
    """A class whose instances are the dependencies; permissions as frozensets."""
    grants = {role: frozenset(perms) for role, perms in PERMISSIONS.items()}

    class Require:
        def __init__(self, *permissions: str) -> None:
            self.needed = frozenset(permissions)

        def __call__(
            self,
            claims: Annotated[dict, Depends(token_claims)],
            db: Annotated[Database, Depends(database)],
        ) -> User:
            user = db.user(int(claims["sub"]))
            if user is None:
                raise HTTPException(status_code=401, detail="Invalid token")
            if not self.needed <= grants.get(user.role, frozenset()):
                raise HTTPException(status_code=403, detail="Insufficient permissions")
            return user

    return P.layer(authorize=Require)


@right("rbac")
def loop_with_early_refusal() -> Fixes:
    """A loop over the permissions that refuses at the first one missing."""

    def authorize(*permissions: str) -> Any:
        def dependency(user: Annotated[User, Depends(P.current_user)]) -> User:
            granted = PERMISSIONS.get(user.role)
            for permission in permissions:
                if granted is None or permission not in granted:
                    raise HTTPException(403, "Insufficient permissions")
            return user

        return dependency

    return P.layer(authorize=authorize)
