from __future__ import annotations

import hashlib
import inspect
import re
from types import SimpleNamespace

import bcrypt
import pytest

import labkit.patterns.passwords as secure
import labkit.vulnerable
from labkit.vulnerable import BANNER
from labkit.vulnerable import passwords as vp

PUBLIC = [
    vp.hash_password,
    vp.hash_password_md5,
    vp.hash_password_sha256,
    vp.login,
    vp.validate_password,
    vp.verify_password,
]


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def test_banner_opens_every_module_docstring() -> None:
    assert BANNER.startswith("DELIBERATELY INSECURE")
    assert _flat(labkit.vulnerable.__doc__).startswith(BANNER)
    assert _flat(vp.__doc__).startswith(BANNER)


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_docstring_names_flaw_lab_and_twin(func: object) -> None:
    doc = _flat(inspect.getdoc(func))
    match = re.search(
        r"Flaw: .+?\. Exploited in: 01-passwords \(.+?\)\. "
        r"Secure twin: labkit\.patterns\.passwords\.(\w+)\.",
        doc,
    )
    assert match, doc
    assert hasattr(secure, match[1])


def test_unsalted_hashes_are_deterministic_digests() -> None:
    assert vp.hash_password_md5("password") == "5f4dcc3b5aa765d61d8327deb882cf99"
    assert vp.hash_password_md5("a") == vp.hash_password_md5("a")
    assert vp.hash_password_sha256("password") == hashlib.sha256(b"password").hexdigest()


def test_verify_fast_hashes_and_unknown_format() -> None:
    assert vp.verify_password("hunter2", vp.hash_password_md5("hunter2"))
    assert vp.verify_password("hunter2", vp.hash_password_md5("hunter2").upper())
    assert not vp.verify_password("hunter3", vp.hash_password_md5("hunter2"))
    assert vp.verify_password("hunter2", vp.hash_password_sha256("hunter2"))
    assert not vp.verify_password("hunter3", vp.hash_password_sha256("hunter2"))
    assert not vp.verify_password("hunter2", "plaintext")
    assert not vp.verify_password("hunter2", "$2b$12$garbage")


def test_bcrypt_silently_truncates_at_72_bytes() -> None:
    prefix = "x" * 72
    first, second = prefix + "A" * 8, prefix + "B" * 8
    stored = vp.hash_password(first)
    assert stored.startswith("$2b$12$")
    assert vp.verify_password(first, stored)
    assert vp.verify_password(second, stored)  # the flaw: a different password verifies
    assert not vp.verify_password("x" * 71, stored)
    # bcrypt 5 itself refuses instead of truncating; the twin hides that.
    with pytest.raises(ValueError):
        bcrypt.hashpw(first.encode(), bcrypt.gensalt(4))


def test_composition_policy_accepts_weak_rejects_passphrase() -> None:
    assert vp.validate_password("Password1!") == []
    errors = vp.validate_password("correct horse battery staple")
    assert "Must contain a digit" in errors
    assert "Must contain an uppercase letter" in errors
    assert "Must contain a symbol" in errors
    assert vp.validate_password("Ab1!") == ["Minimum 8 characters"]
    assert vp.validate_password("Aa1!" * 100) == []  # no maximum


def test_login_enumerates_by_message() -> None:
    alice = SimpleNamespace(
        email="alice@example.com", role="admin", password_hash=vp.hash_password_md5("s3cret")
    )
    find = {alice.email: alice}.get
    assert vp.login("nobody@example.com", "s3cret", find) == (401, {"error": "No such user"})
    assert vp.login(alice.email, "wrong", find) == (401, {"error": "Invalid password"})
    assert vp.login(alice.email, "s3cret", find) == (
        200,
        {"email": "alice@example.com", "role": "admin"},
    )
