"""The student edition: which reference answers ``labkit edition`` leaves out, and which stay.

``labkit edition OUT`` (:mod:`labkit.course.edition`) copies labkit without ``labkit.course``
and ``labkit.grading``, replaces the body of every :data:`LEFT_OUT` definition by ``raise
ReferenceNotShipped(...)`` (a constant becomes ``None``) and sets :data:`STUDENT` to True in the
copy. :data:`KEPT` lists the reference answers the lab apps or the checks need to run, so they
stay readable in the edition too; the command prints them and INSTRUCTORS.md lists them.

This module imports nothing from labkit: the stubbed modules (``labkit.patterns`` included)
import :class:`ReferenceNotShipped` from here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INSTRUCTOR_ONLY",
    "KEPT",
    "LEFT_OUT",
    "STUDENT",
    "Answer",
    "Kept",
    "ReferenceNotShipped",
    "secure_refusal",
]

#: True only in the copy that ``labkit edition`` writes.
STUDENT = False

#: Subpackages the student edition does not ship (course build and grading: instructor tools).
INSTRUCTOR_ONLY = ("course", "grading")


class ReferenceNotShipped(NotImplementedError):
    """A reference answer was called in the student edition, which does not ship it."""

    def __init__(self, lab: str, name: str) -> None:
        self.lab, self.name = lab, name
        super().__init__(
            f"{name} is the reference answer of {lab}: the student edition of labkit does not "
            "ship it. Write your own in the notebook; your instructor grades with the full one."
        )


@dataclass(frozen=True)
class Answer:
    """One definition left out: ``module:qualname`` and the lab(s) whose answer it is."""

    target: str
    lab: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def name(self) -> str:
        return self.target.partition(":")[2]


@dataclass(frozen=True)
class Kept:
    """A reference answer the edition still ships, and why it has to."""

    targets: tuple[str, ...]
    answers: str
    why: str


def _answers(lab: str, module: str, *names: str) -> tuple[Answer, ...]:
    return tuple(Answer(f"{module}:{name}", lab) for name in names)


P = "labkit.patterns."
LEFT_OUT: tuple[Answer, ...] = (
    *_answers("00-welcome", "labkit.sandbox.apps.welcome", "validate_name_reference"),
    *_answers("02-jwt, 13-capstone", P + "tokens", "refresh_cookie", "clear_refresh_cookie"),
    *_answers("01-passwords, 13-capstone", P + "passwords", "needs_rehash"),
    *_answers("01-passwords", P + "passwords", "validate_password"),
    *_answers("01-passwords, 13-capstone", "labkit.sandbox.apps.passwords", "_secure_login"),
    *_answers(
        "03-sessions",
        P + "sessions",
        "new_session_id",
        "start_session",
        "session_cookie",
        "end_session",
        "session_expired",
    ),
    *_answers(
        "04-oauth",
        P + "oauth",
        "validate_redirect_uri",
        "verify_pkce",
        "redeem_code",
        "flow_allowed",
        "check_state",
        "check_nonce",
    ),
    *_answers(
        "05-api-keys, 13-capstone", P + "apikeys", "authenticate", "is_usable", "has_scope"
    ),
    *_answers("05-api-keys", P + "apikeys", "redact_url"),
    *_answers(
        "06-authorization",
        P + "authz",
        "has_permissions",
        "authorize",
        "load_current_user",
        "check_owner",
        "PostUpdate",
    ),
    *_answers("07-injection, 13-capstone", P + "validation", "find_users", "body_too_large"),
    *_answers(
        "07-injection",
        P + "validation",
        "create_user",
        "find_login",
        "CreateUser",
        "validate_user",
        "safe_parse",
        "flatten_errors",
    ),
    *_answers(
        "08-secrets",
        P + "settings",
        "shannon_entropy",
        "secret_problem",
        "Settings",
        "load_settings",
        "sign_token",
        "verify_token",
    ),
    *_answers(
        "09-encryption, 13-capstone",
        P + "crypto",
        "record_aad",
        "encrypt_with",
        "encrypt",
        "decrypt_with",
        "decrypt",
        "encrypt_record",
        "decrypt_record",
        "wrap_data_key",
        "unwrap_data_key",
    ),
    *_answers(
        "09-encryption, 13-capstone", P + "transport", "effective_scheme", "security_headers"
    ),
    *_answers(
        "10-cors, 13-capstone",
        P + "cors",
        "serialized_origin",
        "is_allowed_origin",
        "cors_settings",
        "install_cors",
    ),
    *_answers("11-rate-limiting, 13-capstone", P + "ratelimit", "login_keys"),
    *_answers("11-rate-limiting", P + "ratelimit", "_is_trusted", "client_ip"),
    *_answers("11-rate-limiting", P + "ratelimit", "rate_limit_headers", "new_limiter"),
    *_answers(
        "12-headers",
        P + "headers",
        "CONTENT_SECURITY_POLICY",
        "HSTS",
        "SESSION_COOKIE",
        "security_headers",
        "escape",
    ),
    *_answers("13-capstone", P + "service_tokens", "issue_tokens", "verify_token"),
    *_answers("13-capstone", P + "webhooks", "webhook_secret"),
    *_answers("13-capstone", "labkit.sandbox.apps.shop.edge", "validate_review"),
)

KEPT: tuple[Kept, ...] = (
    Kept(
        (P + "passwords:hash_password", P + "passwords:verify_password"),
        "01-passwords hashing (hash_password, verify_password), 13-capstone "
        "fix-fast-password-hash",
        "every lab app (02-12, BrokenShop) stores its accounts with them and checks its logins",
    ),
    Kept(
        (P + "passwords:authenticate", P + "passwords:dummy_hash"),
        "01-passwords no-enumeration (login), 13-capstone fix-login-enumeration",
        "the logins of the 03, 04, 05, 07 and 08 apps",
    ),
    Kept(
        (P + "tokens:TokenService",),
        "02-jwt tokens and revocation (issue_tokens, verify_token, check_not_revoked, logout)",
        "labkit.sandbox.bearer.BearerAuth, the login tokens of the 06, 07, 09, 10, 11 and 12 apps",
    ),
    Kept(
        (
            P + "apikeys:checksum",
            P + "apikeys:generate_api_key",
            P + "apikeys:hash_api_key",
            P + "apikeys:read_api_key",
        ),
        "05-api-keys key-format (checksum, generate_key), hashed-at-rest (hash_key), "
        "query-string (read_api_key)",
        "the 05 checks judge a key's format with them; BrokenShop's partner API and the 08 "
        "deployment make and read keys with them",
    ),
    Kept(
        ("labkit.attacks",),
        "the attack cells (exploits)",
        "the attack building blocks: the last hint of each attack offers them and the checks "
        "replay the attack batteries with them",
    ),
)


def secure_refusal(lab: str) -> str:
    """What ``labkit serve LAB --secure`` says in the student edition."""
    return (
        f"labkit serve {lab} --secure: this is the student edition of labkit, which does not "
        "ship the secure reference apps (they hold the answers to the fix exercises). Serve "
        f"the vulnerable app (labkit serve {lab}), or plug your own fix in with lab.patched(...)."
    )
