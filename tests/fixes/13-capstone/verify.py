"""13 verify: every fix in one shop. Two complete right sets (the right alternatives of the
row files, combined so that the login verifies what hash_password stores), and for each row
one complete set with that row's fix wrong — verify must name the row, then its rule."""

from __future__ import annotations

import importlib.util
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.fixes.corpus import FixCase, Fixes, right, wrong

HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"capstone_corpus_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations there
    spec.loader.exec_module(module)
    return module


TOKENS, ACCOUNTS, EDGE, DATA = (_sibling(n) for n in ("tokens", "accounts", "edge", "data"))


def _cases(*cases: FixCase) -> Fixes:
    fixes: Fixes = {}
    for case in cases:
        fixes.update(case.make())
    return fixes


def _login_for(trio: Fixes) -> Any:
    """01's login around this set's own verify_password and a dummy of its own hash."""
    dummy = trio["hash_password"](secrets.token_urlsafe(16))
    return ACCOUNTS.make_login(trio["verify_password"], dummy)


def first_set(**override: Any) -> Fixes:
    """The first right alternative of every row; passwords with argon2id at OWASP's first
    setting (m=19 MiB, t=2: the cheapest allowed, to keep the corpus fast)."""
    trio = ACCOUNTS.argon2_trio(ACCOUNTS.OWASP)
    fixes = _cases(
        TOKENS.secure_prefix_cookie,
        TOKENS.joserfc_class,
        TOKENS.settings_object,
        ACCOUNTS.tuple_of_keys,
        EDGE.policy_class,
        EDGE.scheme_policy_class,
        EDGE.hand_written_with_32_kib_cap,
        DATA.chacha20_poly1305_class,
        DATA.named_parameter_class,
        DATA.key_gate_class,
    )
    return {**fixes, **trio, "login": _login_for(trio), **override}


@right("verify")
def every_first_alternative() -> Fixes:
    """joserfc, a __Secure- cookie, argon2id, ChaCha20-Poly1305, a 32 KiB cap..."""
    return first_set()


@right("verify")
def every_second_alternative() -> Fixes:
    """PyJWT decode, SameSite=Lax with Expires, bcrypt (cost 10), AES-GCM, a 1 MiB cap..."""
    trio = ACCOUNTS.bcrypt_trio(cost=10)
    fixes = _cases(
        TOKENS.simple_cookie_lax_with_expires,
        TOKENS.pyjwt_decode_then_typ,
        TOKENS.entropy_with_key_error,
        ACCOUNTS.lower_and_strip,
        EDGE.deduplicated_origins,
        EDGE.regex_tokens,
        EDGE.strict_types_with_1_mib_cap,
        DATA.gcm_with_record_aad,
        DATA.numbered_parameter_cursor,
        DATA.guard_clauses,
    )
    return {**fixes, **trio, "login": _login_for(trio)}


@wrong("verify", breaks="jwt-in-localstorage")
def cookie_readable_by_scripts() -> Fixes:
    """Row 1 wrong (no HttpOnly), everything else right."""
    return first_set(**TOKENS.cookie_without_httponly.make())


@wrong("verify", breaks="fast-password-hash")
def salted_but_fast() -> Fixes:
    """Row 2 wrong (one salted SHA-256), the login built on it."""
    trio = ACCOUNTS.salted_sha256.make()
    return first_set(**trio, login=_login_for(trio))


@wrong("verify", breaks="hardcoded-secret")
def secret_with_a_fallback() -> Fixes:
    """Row 3 wrong (a fallback literal)."""
    return first_set(**TOKENS.fallback_literal.make())


@wrong("verify", breaks="cors-wildcard")
def any_subdomain_may_read() -> Fixes:
    """Row 4 wrong (a regex for every subdomain)."""
    return first_set(**EDGE.any_subdomain_regex.make())


@wrong("verify", breaks="login-enumeration")
def unknown_users_cost_nothing() -> Fixes:
    """Row 5 wrong (no dummy hash: the time tells)."""
    verify = ACCOUNTS.argon2_trio(ACCOUNTS.OWASP)["verify_password"]

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None or not verify(password, user.password_hash):
            return 401, {"error": "Invalid email or password"}
        return 200, {"email": user.email, "role": user.role}

    return first_set(login=login)


@wrong("verify", breaks="no-auth-rate-limit")
def limited_per_address_only() -> Fixes:
    """Row 6 wrong (per IP only)."""
    return first_set(**ACCOUNTS.ip_only.make())


@wrong("verify", breaks="homemade-crypto")
def cards_without_aad() -> Fixes:
    """Row 7 wrong (no associated data)."""
    return first_set(**DATA.gcm_without_aad.make())


@wrong("verify", breaks="trusting-input")
def quotes_escaped_by_hand() -> Fixes:
    """Row 8 wrong (quotes doubled into an f-string)."""
    return first_set(**DATA.quotes_doubled_by_hand.make())


@wrong("verify", breaks="eternal-api-key")
def revoked_keys_still_work() -> Fixes:
    """Row 9 wrong (revocation forgotten)."""
    return first_set(**DATA.revocation_forgotten.make())


@wrong("verify", breaks="no-https-redirect")
def the_clients_forwarded_value() -> Fixes:
    """Row 10 wrong (the first X-Forwarded-Proto value)."""
    return first_set(**EDGE.first_forwarded_value.make())


@wrong("verify", breaks="symmetric-jwt")
def any_audience_accepted() -> Fixes:
    """Row 11 wrong (verify_aud and verify_iss off)."""
    return first_set(**TOKENS.iss_and_aud_switched_off.make())


@wrong("verify", breaks="no-length-limits")
def bodies_of_any_size() -> Fixes:
    """Row 12 wrong (no body cap)."""
    return first_set(**EDGE.no_body_cap.make())
