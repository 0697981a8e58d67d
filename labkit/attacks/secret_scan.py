"""A small secret scanner: source text, a working tree, and a git repository's whole history.

What attackers run on a leaked repository, and what CI should run first (lab 08-secrets).
It is deliberately scoped — three kinds of rule, the ones detect-secrets, gitleaks and
TruffleHog are built on:

* **known formats**: cloud and SaaS key shapes (AWS ``AKIA…``, GitHub ``ghp_…``, Slack
  ``xox…``, Stripe ``sk_live_…``, this course's ``lk_live_…``), private-key PEM headers,
  JWTs, and passwords inside URLs (``postgresql://user:password@host``);
* **secret-named assignments**: a literal assigned to a name containing ``secret``,
  ``password``, ``token``, ``api_key``… (``JWT_SECRET = "…"``, ``JWT_SECRET=…`` in a
  ``.env``, a hard-coded fallback in ``os.environ.get("JWT_SECRET", "…")``);
* **high entropy**: quoted or assigned strings of 20+ base64 characters above 4.5 bits of
  Shannon entropy per character, or 32+ hex characters above 3.0 (detect-secrets' defaults).

Obvious placeholders (``changeme``, ``<your-key>``, ``${VAR}``, ``**********``) are skipped.
:func:`scan_git_history` reads every added line of every commit with real ``git log -p``:
deleting a file in a later commit does not take it out of history.

>>> [f.rule for f in scan_text('JWT_SECRET = "9fK2LmQ7xR4tW8zB1nV6cY3hJ5gD0sPa"')]
['secret assignment']
"""

from __future__ import annotations

import math
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "git_log_patch", "scan_git_history", "scan_patch", "scan_text", "scan_tree"]

_SECRET_WORD = r"(?:secret|passw(?:or)?d|pwd|token|api_?key|private_?key|credential)"  # noqa: S105
#: rule name -> pattern; group "secret" (or the whole match) is the secret.
KNOWN_FORMATS: dict[str, re.Pattern[str]] = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Stripe secret key": re.compile(r"\b[rs]k_live_[A-Za-z0-9]{20,}\b"),
    "labkit API key": re.compile(r"\blk_live_[0-9A-Za-z]{36}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "JSON Web Token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "password in URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<secret>[^\s@/'\"]+)@"),
}
#: ``NAME = "literal"``, ``NAME: str = "literal"``, ``"name": "literal"``, ``SecretStr("…")``
_ASSIGNED = re.compile(
    rf"""(?ix)
    ["']?(?P<name>\w*{_SECRET_WORD}\w*)["']?      # a secret-sounding name
    \s*(?::\s*[\w\[\]., |]+?\s*)?                 # an optional type annotation
    (?:=|:)\s*
    (?:Secret(?:Str|Bytes)\(\s*)?                 # SecretStr("...") is still a literal
    [rbu]{{0,2}}(?P<q>["'])(?P<value>[^"'\s]+)(?P=q)
    """
)
#: ``NAME=value`` lines of ``.env`` files and shell scripts (no spaces around ``=``)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_]\w*)=(?P<value>[^\s\"'#][^\s#]*)")
_FALLBACK = re.compile(
    rf"""(?ix)(?:getenv|environ\.get|env\.get|\.get)\(\s*["'](?P<name>\w*{_SECRET_WORD}\w*)["']
    \s*,\s*[rbu]{{0,2}}["'](?P<secret>[^"'\n]+)["']"""
)
_QUOTED = re.compile(r"""(["'])(?P<secret>[^"'\s]{20,})\1""")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_=-]{20,}$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")
BASE64_LIMIT, HEX_LIMIT = 4.5, 3.0
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "xxx", "example", "none",
     "null", "true", "false", "placeholder", "redacted", "todo", "your-secret-here"}
)  # fmt: skip
MIN_LITERAL = 8


@dataclass(frozen=True)
class Finding:
    """One suspected secret: which rule, the value, and where (file, line, commit)."""

    rule: str
    secret: str
    line: int
    path: str = ""
    commit: str = ""

    @property
    def redacted(self) -> str:
        """The secret with all but its first four characters hidden (for reports)."""
        return self.secret[:4] + "…" if len(self.secret) > 4 else "…"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path else f"line {self.line}"
        commit = f" in commit {self.commit[:8]}" if self.commit else ""
        return f"{where}{commit}: {self.rule} {self.redacted}"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _placeholder(value: str) -> bool:
    v = value.strip().lower()
    return (
        len(v) < MIN_LITERAL
        or v in PLACEHOLDERS
        or v.startswith(("<", "${", "{{", "%(", "$"))
        or set(v) <= set("*x.-_#")
        or "…" in v
    )


def _high_entropy(value: str) -> bool:
    if _HEX.match(value):
        return _entropy(value) > HEX_LIMIT
    return bool(_BASE64.match(value)) and _entropy(value) > BASE64_LIMIT


def _line_findings(line: str) -> Iterable[tuple[str, str]]:
    for rule, pattern in KNOWN_FORMATS.items():
        for match in pattern.finditer(line):
            secret = match.groupdict().get("secret") or match.group(0)
            if rule != "password in URL" or not _placeholder(secret):
                yield rule, secret
    for match in _FALLBACK.finditer(line):
        if not _placeholder(match.group("secret")):
            yield "hard-coded fallback", match.group("secret")
    for match in _ASSIGNED.finditer(line):
        value = match.group("value")
        if not _placeholder(value) and value.lower() != match.group("name").lower():
            yield "secret assignment", value
    env_line = _ENV_LINE.match(line)
    if env_line:
        value = env_line.group("value")
        if re.search(_SECRET_WORD, env_line.group("name"), re.I) and not _placeholder(value):
            yield "secret assignment", value
        elif _high_entropy(value):
            yield "high-entropy string", value
    for match in _QUOTED.finditer(line):
        if _high_entropy(match.group("secret")):
            yield "high-entropy string", match.group("secret")


def scan_text(text: str, path: str = "", commit: str = "") -> list[Finding]:
    """Every suspected secret in ``text``, at most one finding per value and line."""
    findings: dict[tuple[int, str], Finding] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, secret in _line_findings(line):
            if not any(secret in f.secret or f.secret in secret for (n, _), f in
                       findings.items() if n == number):  # fmt: skip
                findings[(number, secret)] = Finding(rule, secret, number, path, commit)
    return list(findings.values())


def scan_tree(root: str | Path) -> list[Finding]:
    """Scan every text file under ``root`` (skipping ``.git``): what is in the code *now*."""
    base = Path(root)
    findings: list[Finding] = []
    for file in sorted(base.rglob("*")):
        if ".git" in file.relative_to(base).parts or not file.is_file():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        findings += scan_text(text, str(file.relative_to(base)))
    return findings


def git_log_patch(repo: str | Path) -> str:
    """``git log -p`` of every commit on every branch, oldest first (real ``git``)."""
    command = ["git", "-C", str(repo), "log", "-p", "--all", "--reverse", "--no-color",
               "--format=commit %H"]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - git with fixed arguments
        command, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)")


def scan_patch(patch: str) -> list[Finding]:
    """Scan the lines *added* in ``git log -p`` output, each with its commit and file."""
    findings: list[Finding] = []
    commit = path = ""
    line_no = 0
    for raw in patch.splitlines():
        if raw.startswith("commit "):
            commit = raw.split()[1]
        elif raw.startswith("+++ "):
            path = raw[6:] if raw.startswith("+++ b/") else ""
        elif hunk := _HUNK.match(raw):
            line_no = int(hunk.group("start"))
        elif raw.startswith("+") and path:
            findings += [
                Finding(f.rule, f.secret, line_no, path, commit) for f in scan_text(raw[1:])
            ]
            line_no += 1
        elif raw.startswith(" "):
            line_no += 1
    return findings


def scan_git_history(repo: str | Path) -> list[Finding]:
    """Scan every line ever added in the repository's history, with its commit and file.

    A secret removed from the current files is still here: ``git log -p`` shows it to anyone
    who clones the repository (rotate it; rewriting history does not reach existing clones).
    """
    return scan_patch(git_log_patch(repo))
