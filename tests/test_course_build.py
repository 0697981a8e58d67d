"""labkit.course: solution markers, stubs, metadata, deterministic output, staleness."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.course.build import (
    BuildError,
    build_course,
    build_notebook,
    check_ids,
    render,
    stale_notebooks,
)
from labkit.course.cells import cell_role

SOURCE = """# %% [markdown]
# # Title

# %% labkit={"answer": "hashing"}
SETUP = 1
### BEGIN SOLUTION
HASHER = "argon2"
### STUB
HASHER = None  # TODO
### END SOLUTION


def hash_password(password: str) -> str:
    ### BEGIN SOLUTION
    return HASHER + password
    ### END SOLUTION


# %% labkit={"check": "hashing"}
print("check")
"""


def write(tmp_path: Path, text: str = SOURCE, name: str = "00-welcome.py") -> Path:
    course = tmp_path / "course"
    course.mkdir(exist_ok=True)
    path = course / name
    path.write_text(text, encoding="utf-8")
    return path


def code(notebook: object) -> list[str]:
    return [c.source for c in notebook.cells if c.cell_type == "code"]  # type: ignore[attr-defined]


def test_release_replaces_solutions_with_stubs(tmp_path: Path) -> None:
    answer = code(build_notebook(write(tmp_path)))[0]
    assert 'HASHER = "argon2"' not in answer and "return HASHER" not in answer
    assert "HASHER = None  # TODO" in answer
    assert "    # TODO: your code here\n    raise NotImplementedError" in answer
    assert "SETUP = 1" in answer and "BEGIN SOLUTION" not in answer and "### STUB" not in answer


def test_solved_build_keeps_solutions_without_markers(tmp_path: Path) -> None:
    answer = code(build_notebook(write(tmp_path), solved=True))[0]
    assert 'HASHER = "argon2"' in answer and "    return HASHER + password" in answer
    assert "HASHER = None" not in answer and "###" not in answer


@pytest.mark.parametrize("solved", [False, True])
def test_cells_keep_their_labkit_metadata_and_tags(tmp_path: Path, solved: bool) -> None:
    notebook = build_notebook(write(tmp_path), solved=solved)
    roles = [cell_role(c) for c in notebook.cells]
    assert roles == [None, ("answer", "hashing"), ("check", "hashing")]
    assert notebook.cells[1].metadata["tags"] == ["answer"]
    assert notebook.cells[2].metadata["tags"] == ["check"]
    assert check_ids(notebook) == {"answer": ["hashing"], "check": ["hashing"]}
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata["labkit"] == {
        "lab": "00-welcome",
        "build": "solved" if solved else "release",
    }


def test_output_is_deterministic_and_empty(tmp_path: Path) -> None:
    source = write(tmp_path)
    first, second = render(build_notebook(source)), render(build_notebook(source))
    assert first == second
    notebook = build_notebook(source)
    assert [c["id"] for c in notebook.cells] == ["c00", "answer-hashing", "check-hashing"]
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells[1:])


@pytest.mark.parametrize(
    "text, message",
    [
        ('# %% labkit={"answer": "a"}\n### BEGIN SOLUTION\nx = 1\n', "without ### END"),
        ('# %% labkit={"answer": "a"}\n### END SOLUTION\n', "without ### BEGIN"),
        ("# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "belong in cells tagged"),
        ('# %% labkit={"answer": "a"}\n### STUB\n', "outside a solution region"),
    ],
)
def test_malformed_sources_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build_notebook(write(tmp_path, text))


def test_stale_detection(tmp_path: Path) -> None:
    source = write(tmp_path, SOURCE.replace('"hashing"', '"first-ticket"', 1))
    out = tmp_path / "notebooks"
    assert stale_notebooks(source.parent, out) == ["00-welcome.ipynb"]
    out.mkdir()
    (out / "00-welcome.ipynb").write_text(render(build_notebook(source)), encoding="utf-8")
    assert stale_notebooks(source.parent, out) == []
    source.write_text(source.read_text() + "\n# %%\nprint('new cell')\n", encoding="utf-8")
    assert stale_notebooks(source.parent, out) == ["00-welcome.ipynb"]


def test_build_course_refuses_checks_the_lab_does_not_register(tmp_path: Path) -> None:
    source = write(tmp_path)  # 00-welcome has no "hashing" check
    with pytest.raises(BuildError, match="unregistered checks: hashing"):
        build_course(source.parent, tmp_path / "out")


def test_build_course_refuses_a_lab_missing_a_check_cell(tmp_path: Path) -> None:
    text = SOURCE.replace('"hashing"', '"first-ticket"')
    source = write(tmp_path, text)
    with pytest.raises(BuildError, match="without a check cell: greeting-fix"):
        build_course(source.parent, tmp_path / "out")
