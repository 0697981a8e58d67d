"""``labkit edition``: the student edition holds no answer, and the course still runs on it.

Built once into a temp folder; the edition's labkit is put first on ``PYTHONPATH`` of each
subprocess (and of the notebook kernels they start), so the full labkit installed in this
environment is never what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.course.edition import EditionError, build_edition, reference_sources, scan
from labkit.edition import KEPT, LEFT_OUT

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``labkit edition OUT``, which prints what it left out and what is still readable."""
    out = tmp_path_factory.mktemp("edition") / "student"
    command = [sys.executable, "-m", "labkit", "edition", str(out), "--course", "course"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert f"{len(LEFT_OUT)} reference definitions" in run.stdout
    for kept in KEPT:
        assert all(target in run.stdout for target in kept.targets), kept
    readable = run.stdout.partition("still readable in it")[2]
    assert readable and not [t for t in NO_LONGER_KEPT if t in readable]
    return out


#: Answers the apps once needed readable (KEPT), now left out: the 02 app's logout clears the
#: cookie its own refresh_cookie part sets, the vulnerable 06 app guards with the seed's
#: authorize (labkit.vulnerable.authz), the 07 app seeds members as it seeds staff, BrokenShop
#: throttles with a moving window in memory and 11's processes in the edition with a fixed one.
NO_LONGER_KEPT = (
    "labkit.patterns.tokens:refresh_cookie",
    "labkit.patterns.tokens:clear_refresh_cookie",
    "labkit.patterns.authz:authorize",
    "labkit.patterns.authz:has_permissions",
    "labkit.patterns.validation:create_user",
    "labkit.patterns.ratelimit:new_limiter",
)


def test_the_answers_no_app_needs_any_more_are_left_out(edition: Path) -> None:
    kept = {target for k in KEPT for target in k.targets}
    left_out = {answer.target for answer in LEFT_OUT}
    assert set(NO_LONGER_KEPT) <= left_out and not set(NO_LONGER_KEPT) & kept
    references = reference_sources()

    def text_of(package: Path) -> str:
        return "\n".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py"))

    shared = text_of(REPO / "labkit")  # what the rest of the full labkit also says
    for body in references.values():
        shared = shared.replace(body, "")
    everywhere = text_of(edition / "labkit")
    for target in NO_LONGER_KEPT:
        module = target.partition(":")[0]
        text = (edition / Path(*module.split("."))).with_suffix(".py").read_text("utf-8")
        assert references[target] not in text, target
        # no line of its own (not also in other code of the full labkit) is in the edition
        own = {line.strip() for line in references[target].splitlines()[1:]}
        own = {line for line in own if len(line) > 20 and line not in shared}
        assert own and not [line for line in own if line in everywhere], target


def test_a_folder_that_holds_no_earlier_edition_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EditionError, match="not empty"):
        (tmp_path / "mine.txt").write_text("keep me")
        build_edition(REPO / "course", tmp_path)
    assert (tmp_path / "mine.txt").exists()


def _env(edition: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(edition), "LABKIT_HOME": str(tmp_path / "home")}


def _python(edition: Path, tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
        env={**_env(edition, tmp_path), "LABKIT_STRICT": "0"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_edition_holds_no_answer_text(edition: Path) -> None:
    assert sorted(p.stem for p in (edition / "notebooks").glob("*.ipynb")) == sorted(
        p.stem for p in (REPO / "course").glob("[0-9][0-9]-*.py")
    )
    assert not (edition / "course").exists()
    assert not (edition / "labkit" / "course").exists()
    assert not (edition / "labkit" / "grading").exists()
    references = reference_sources()
    assert len(references) == len(LEFT_OUT)
    assert scan(edition, references) == []
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in edition.rglob("*") if p.suffix in {".py", ".ipynb"}
    )
    assert "### BEGIN SOLUTION" not in text
    for answer in LEFT_OUT:  # no line of its own is left in its module either
        relative = Path(*answer.module.split(".")).with_suffix(".py")
        shared = (REPO / relative).read_text(encoding="utf-8")  # what kept code also has
        for other in LEFT_OUT:
            if other.module == answer.module:
                shared = shared.replace(references[other.target], "")
        own = {line.strip() for line in references[answer.target].splitlines()[1:]}
        own = {line for line in own if len(line) > 20 and line not in shared}
        left = (edition / relative).read_text(encoding="utf-8")
        assert not [line for line in own if line in left], answer.target


def test_every_left_out_answer_raises_and_the_rest_imports(edition: Path, tmp_path: Path) -> None:
    run = _python(edition, tmp_path, f"""
        import importlib, inspect, pkgutil, labkit
        from labkit.edition import LEFT_OUT, STUDENT, ReferenceNotShipped
        assert STUDENT and labkit.__file__.startswith({str(edition)!r}), labkit.__file__
        for info in pkgutil.walk_packages(labkit.__path__, "labkit."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
        for answer in LEFT_OUT:
            value = getattr(importlib.import_module(answer.module), answer.name)
            if value is None:  # a constant
                continue
            needed = [p for p in inspect.signature(value).parameters.values()
                      if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            args = [None for p in needed if p.kind is not p.KEYWORD_ONLY]
            kwargs = dict((p.name, None) for p in needed if p.kind is p.KEYWORD_ONLY)
            try:
                value(*args, **kwargs)
            except ReferenceNotShipped as exc:
                assert answer.lab in str(exc)
            else:
                raise AssertionError(f"{{answer.target}} still answers")
        from labkit.exercises.registry import get_lab
        try:
            get_lab("02-jwt").create_app(secure=True)
            raise AssertionError("the secure 02 app was built")
        except ReferenceNotShipped as exc:
            assert "the secure reference app" in str(exc)
        print("ok", len(LEFT_OUT))
    """)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ok")


def test_serve_secure_says_the_reference_is_not_shipped(edition: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "labkit", "serve", "02-jwt", "--secure"]
    run = subprocess.run(
        command, cwd=tmp_path, env=_env(edition, tmp_path), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert "does not ship the secure reference apps" in run.stderr
    grade = [sys.executable, "-m", "labkit", "grade", str(tmp_path)]
    run = subprocess.run(
        grade, cwd=tmp_path, env=_env(edition, tmp_path), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "instructor command" in run.stderr


def test_a_correct_fix_passes_its_check_in_the_edition(edition: Path, tmp_path: Path) -> None:
    """00's and 01's fix checks judge a learner's own fix; the references are not there."""
    run = _python(edition, tmp_path, """
        from labkit.edition import ReferenceNotShipped
        from labkit.exercises.lab import Lab
        from labkit.exercises.registry import get_lab
        from labkit.patterns.passwords import hash_password, validate_password as reference
        from labkit.wordlists import common_passwords

        try:
            reference("correct horse battery staple")
            raise SystemExit("the reference validate_password answered")
        except ReferenceNotShipped:
            pass
        BLOCKLIST = frozenset(common_passwords())

        def validate_password(password):
            errors = []
            if len(password) < 12:
                errors.append("Minimum 12 characters")
            if len(password) > 128:
                errors.append("Maximum 128 characters")
            if password.lower() in BLOCKLIST:
                errors.append("This password is too common")
            return errors

        def validate_name(name):
            name = name.strip()
            if not name:
                return ["Name is required"]
            return ["Name must be at most 40 characters"] if len(name) > 40 else []

        for lab_id, check, fixes in (
            ("00-welcome", "greeting-fix", {"validate_name": validate_name}),
            ("01-passwords", "policy",
             {"validate_password": validate_password, "hash_password": hash_password}),
        ):
            lab = Lab(get_lab(lab_id))
            try:
                assert not lab.check(check, **{k: None for k in fixes}).passed
                result = lab.check(check, **fixes)
                assert result.passed, repr(result)
            finally:
                lab.close()
        print("passed")
    """)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "passed" in run.stdout


@pytest.mark.notebook
@pytest.mark.parametrize(
    "lab_id", ["00-welcome", "02-jwt", "06-authorization", "07-injection", "11-rate-limiting",
               "13-capstone"],
)  # fmt: skip
def test_release_notebooks_run_to_their_checks(
    edition: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab_id: str
) -> None:
    """Strict mode, the edition's labkit in the kernel: only the check cells fail."""
    import nbformat
    from nbclient import NotebookClient

    for name, value in _env(edition, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LABKIT_STRICT", "1")
    notebook = nbformat.read(edition / "notebooks" / f"{lab_id}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()  # fmt: skip
    failed, checks, said = set(), set(), []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            failed.add(index)
            said.append(errors[0].evalue)
        if "check" in cell.metadata.get("labkit", {}):
            checks.add(index)
    assert failed == checks, f"failed {sorted(failed - checks)}: {said}"
    if lab_id == "13-capstone":  # the audit says what it could not do without the secure shop
        assert any("that replay runs when your instructor grades" in s for s in said), said
