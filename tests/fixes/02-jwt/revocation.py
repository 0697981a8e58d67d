"""02 revocation: wrong and right logout, rotation and reuse detection."""

from __future__ import annotations

import uuid
from typing import Any

import jwt

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


def _version_ok(claims: dict[str, Any], ledger: Any) -> None:
    if claims.get("ver") != ledger.token_version(claims["sub"]):
        raise jwt.InvalidTokenError("revoked")


@wrong("revocation", breaks="reuse-detection", also=("verify",))
def rotation_without_reuse_detection() -> Fixes:
    """Logout bumps the version, but a used refresh token can be replayed forever."""
    return P.parts(check_not_revoked=_version_ok)


@wrong("revocation", breaks="reuse-detection")
def reuse_refused_family_kept() -> Fixes:
    """A replayed refresh token is refused, but its family lives on with the thief's copy."""

    def check_not_revoked(claims: dict[str, Any], ledger: Any) -> None:
        _version_ok(claims, ledger)
        if "jti" in claims and not ledger.use_once(claims["jti"]):
            raise jwt.InvalidTokenError("reused")

    return P.revocation(check_not_revoked=check_not_revoked)


@wrong("revocation", breaks="logout-revokes")
def logout_deletes_the_cookie_only() -> Fixes:
    """Logout does nothing on the server: the tokens stay valid until exp."""
    return P.parts(logout=lambda claims, ledger: None)


@wrong("revocation", breaks="logout-revokes")
def logout_revokes_the_family_only() -> Fixes:
    """Logout revokes this login's refresh family: its access token, and other devices, live on."""

    def logout(claims: dict[str, Any], ledger: Any) -> None:
        ledger.revoke_family(claims.get("fam", ""))

    return P.revocation(logout=logout)


@wrong("revocation", breaks="rotate")
def deterministic_jti() -> Fixes:
    """jti derived from the family: every token of a family has the same id."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        pair = P.issue_tokens(user, keys)
        claims = jwt.decode(pair["refreshToken"], options={"verify_signature": False})
        claims["jti"] = f"{claims['sub']}-{claims['fam']}"
        refresh = jwt.encode(claims, keys["refresh"], "HS256", headers={"typ": "refresh+jwt"})
        return {**pair, "refreshToken": refresh}

    return P.parts(issue_tokens=issue_tokens)


@right("revocation", also=("verify",))
def revocation_class() -> Fixes:
    """A class; families checked before the version; logout also revokes the family."""

    class Revocations:
        def check(self, claims: dict[str, Any], ledger: Any) -> None:
            family = claims.get("fam")
            if family is not None:
                if ledger.family_revoked(family):
                    raise jwt.InvalidTokenError("family revoked")
                if not ledger.use_once(claims["jti"]):
                    ledger.revoke_family(family)
                    raise jwt.InvalidTokenError("refresh token replayed")
            if claims.get("ver") != ledger.token_version(claims["sub"]):
                raise jwt.InvalidTokenError("logged out")

        def logout(self, claims: dict[str, Any], ledger: Any) -> None:
            ledger.revoke_all(claims["sub"])
            if "fam" in claims:
                ledger.revoke_family(claims["fam"])

    revocations = Revocations()
    return P.parts(check_not_revoked=revocations.check, logout=revocations.logout)


@right("revocation")
def uuid_jti() -> Fixes:
    """uuid4 jtis, and the version compared as an int."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        pair = P.issue_tokens(user, keys)
        claims = jwt.decode(pair["refreshToken"], options={"verify_signature": False})
        claims["jti"] = str(uuid.uuid4())
        refresh = jwt.encode(claims, keys["refresh"], "HS256", headers={"typ": "refresh+jwt"})
        return {**pair, "refreshToken": refresh}

    def check_not_revoked(claims: dict[str, Any], ledger: Any) -> None:
        if int(claims["ver"]) != int(ledger.token_version(claims["sub"])):
            raise jwt.InvalidTokenError("revoked")
        P.check_not_revoked(claims, ledger)

    return P.revocation(issue_tokens=issue_tokens, check_not_revoked=check_not_revoked)
