"""The student edition keeps every exercise and its check, and no solution survives."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_lab import classroom
from recsys_lab.classroom import (
    MARKER,
    SolutionMarkupError,
    StudentEditionError,
    UnsafeDestinationError,
    main,
    strip_solutions,
    write_student_edition,
)

BOOK = Path(__file__).resolve().parents[1] / "book"


def cell(kind, source):
    return {"cell_type": kind, "metadata": {}, "source": source,
            **({"outputs": [], "execution_count": None} if kind == "code" else {})}


def test_gated_and_inline_solutions_are_removed():
    notebook = {"cells": [
        cell("markdown", "```{exercise} Hard\n:label: ex\nDo it.\n```"),
        cell("code", "answer = ...\ncheck(answer)"),
        cell("markdown", "```{solution-start} ex\n:class: dropdown\n```"),
        cell("code", "answer = 42\nassert check(answer)"),
        cell("markdown", "```{solution-end}\n```\n\nNext exercise."),
        cell("markdown", "Text.\n\n```{solution} ex2\n:class: dropdown\nSecret.\n```\nAfter."),
    ]}
    student = strip_solutions(notebook)
    text = json.dumps(student)
    assert "42" not in text and "Secret" not in text and "solution" not in text
    assert "check(answer)" in text and "After." in text and "Do it." in text
    assert "Next exercise." in text


def test_unbalanced_gates_are_errors():
    start = cell("markdown", "```{solution-start} ex\n```")
    with pytest.raises(ValueError, match="no \\{solution-end\\}"):
        strip_solutions({"cells": [start]})
    with pytest.raises(ValueError, match="no \\{solution-start\\}"):
        strip_solutions({"cells": [cell("markdown", "```{solution-end}\n```")]})


def test_student_edition_of_the_book(tmp_path):
    written = write_student_edition(BOOK, tmp_path / "student")
    assert written, "the book has notebooks"
    pages = sorted((tmp_path / "student").rglob("*.md"))
    solution_fence = re.compile(r"^\s*(`{3,}|:{3,})\s*\{solution", re.MULTILINE)
    assert pages and not [p.name for p in pages if solution_fence.search(p.read_text())]
    assert any("{exercise}" in p.read_text() for p in pages), "page exercises are kept"
    for path in written:
        original = json.loads((BOOK / path.relative_to(tmp_path / "student")).read_text())
        student = json.loads(path.read_text())
        text = json.dumps(student)
        assert "{solution" not in text, f"a solution survives in {path.name}"
        n_exercises = sum("{exercise}" in "".join(c["source"]) for c in original["cells"])
        assert n_exercises == sum("{exercise}" in "".join(c["source"]) for c in student["cells"])
        # Each gated solution in the book asserts its checker accepts the reference answer,
        # and the exercise cell the students keep calls the same checker.
        solutions = [c for c in original["cells"] if c["cell_type"] == "code"
                     and c not in student["cells"]]
        for solution in solutions:
            source = "".join(solution["source"])
            checks = [w.split("(")[0] for w in source.split() if w.startswith("check_")]
            if checks:
                assert f"assert {checks[-1]}(" in source
                assert checks[-1] in text, f"{path.name} lost the call to {checks[-1]}"


# The command deletes nothing it did not create, and never leaves a half-written edition.

def notebook(*cells):
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5})


@pytest.fixture
def book(tmp_path):
    """A small book: a notebook with a gated solution, a page with a solution, a subfolder."""
    folder = tmp_path / "book"
    (folder / "part").mkdir(parents=True)
    (folder / "one.ipynb").write_text(notebook(
        cell("markdown", "```{exercise} One\n:label: one\nDo it.\n```"),
        cell("code", "answer = ...\ncheck_one(answer)"),
        cell("markdown", "```{solution-start} one\n```"),
        cell("code", "answer = 42\nassert check_one(answer)"),
        cell("markdown", "```{solution-end}\n```")))
    (folder / "part" / "two.ipynb").write_text(notebook(cell("code", "print('two')")))
    (folder / "page.md").write_text("Page.\n\n```{solution} one\nSecret.\n```\nAfter.\n")
    return folder


def snapshot(folder):
    """Every file and folder under ``folder``, with the bytes of every file."""
    return {path.relative_to(folder).as_posix(): None if path.is_dir() else path.read_bytes()
            for path in sorted(folder.rglob("*"))}


def test_an_edition_carries_the_marker_and_no_solution(book, tmp_path):
    written = write_student_edition(book, tmp_path / "student")
    assert written == [tmp_path / "student" / "one.ipynb",
                       tmp_path / "student" / "part" / "two.ipynb"]
    assert (tmp_path / "student" / MARKER).is_file()
    assert "42" not in (tmp_path / "student" / "one.ipynb").read_text()
    assert "Secret" not in (tmp_path / "student" / "page.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "student"], "no leftovers"


@pytest.mark.parametrize("spelling", [
    "{book}", "{book}/", "{book}/../book", "{book}/part/..", "{link}"])
def test_the_book_itself_is_refused(book, tmp_path, spelling):
    (tmp_path / "link").symlink_to(book, target_is_directory=True)
    before = snapshot(tmp_path)
    destination = Path(spelling.format(book=book, link=tmp_path / "link"))
    with pytest.raises(UnsafeDestinationError, match="it is the book itself"):
        write_student_edition(book, destination)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("parent", ["..", "../", "../..", "part/../..", "/"])
def test_a_folder_that_contains_the_book_is_refused(book, tmp_path, parent):
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeDestinationError, match="it contains the book"):
        write_student_edition(book, book / parent)
    assert snapshot(tmp_path) == before


def test_the_working_directory_is_refused(book, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    for destination in [".", "./", "", str(tmp_path)]:
        with pytest.raises(UnsafeDestinationError, match="contains the book"):
            write_student_edition(Path("book"), Path(destination))
    with pytest.raises(UnsafeDestinationError, match="contains the book"):
        write_student_edition(Path("./book/"), Path("book/.."))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("inside", ["student", "part", "part/student", "new/deeper"])
def test_a_folder_inside_the_book_is_refused(book, tmp_path, inside):
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeDestinationError, match="lies inside the book"):
        write_student_edition(book, book / inside)
    (tmp_path / "link").symlink_to(book / "part", target_is_directory=True)
    with pytest.raises(UnsafeDestinationError, match="lies inside the book"):
        write_student_edition(book, tmp_path / "link" / "student")
    (tmp_path / "link").unlink()
    assert snapshot(tmp_path) == before


def test_a_folder_without_the_marker_is_refused(book, tmp_path):
    (tmp_path / "student" / "work").mkdir(parents=True)
    (tmp_path / "student" / "work" / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeDestinationError, match=f"no {MARKER} file"):
        write_student_edition(book, tmp_path / "student")
    assert snapshot(tmp_path) == before
    (tmp_path / "student" / "work" / MARKER).write_text("a marker one level down is no marker")
    with pytest.raises(UnsafeDestinationError, match=f"no {MARKER} file"):
        write_student_edition(book, tmp_path / "student")


def test_a_file_is_refused(book, tmp_path):
    (tmp_path / "student").write_text("not a folder")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeDestinationError, match="it is a file, not a folder"):
        write_student_edition(book, tmp_path / "student")
    assert snapshot(tmp_path) == before


def test_an_empty_folder_may_be_used(book, tmp_path):
    (tmp_path / "student").mkdir()
    assert write_student_edition(book, tmp_path / "student")
    assert (tmp_path / "student" / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "student"]


def test_an_edition_is_replaced_and_nothing_else(book, tmp_path):
    write_student_edition(book, tmp_path / "student")
    (tmp_path / "student" / "stale.ipynb").write_text("from an older edition")
    (tmp_path / "notes.txt").write_text("a sibling")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "kept.txt").write_text("kept")
    book_before = snapshot(book)
    (book / "three.ipynb").write_text(notebook(cell("code", "print(3)")))

    written = write_student_edition(book, tmp_path / "student")

    assert [p.name for p in written] == ["one.ipynb", "two.ipynb", "three.ipynb"]
    assert not (tmp_path / "student" / "stale.ipynb").exists()
    assert (tmp_path / "student" / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "notes.txt", "other",
                                                          "student"]
    assert (tmp_path / "other" / "kept.txt").read_text() == "kept"
    (book / "three.ipynb").unlink()
    assert snapshot(book) == book_before


def test_an_edition_behind_a_symbolic_link_is_replaced_in_place(book, tmp_path):
    write_student_edition(book, tmp_path / "editions" / "2024")
    (tmp_path / "student").symlink_to(tmp_path / "editions" / "2024", target_is_directory=True)
    (tmp_path / "editions" / "2024" / "stale.txt").write_text("old")
    written = write_student_edition(book, tmp_path / "student")
    assert written[0] == tmp_path / "student" / "one.ipynb"
    assert (tmp_path / "student").is_symlink()
    assert not (tmp_path / "editions" / "2024" / "stale.txt").exists()
    assert sorted(p.name for p in (tmp_path / "editions").iterdir()) == ["2024"]


def test_a_failure_leaves_no_temporary_folder_and_the_previous_edition(book, tmp_path):
    write_student_edition(book, tmp_path / "student")
    before = snapshot(tmp_path)
    (book / "part" / "broken.ipynb").write_text(notebook(
        cell("markdown", "```{solution-start} ex\n```"), cell("code", "answer = 42")))
    with pytest.raises(SolutionMarkupError, match=r"broken\.ipynb: a \{solution-start\} has no"):
        write_student_edition(book, tmp_path / "student")
    (book / "part" / "broken.ipynb").unlink()
    assert snapshot(tmp_path) == before

    # A first edition, into a folder not yet there: the folder is not created.
    (book / "broken.ipynb").write_text(notebook(cell("markdown", "```{solution-start}\n```")))
    with pytest.raises(ValueError, match="no \\{solution-end\\}"):
        write_student_edition(book, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "student"]


def test_a_failed_swap_puts_the_previous_edition_back(book, tmp_path, monkeypatch):
    write_student_edition(book, tmp_path / "student")
    (tmp_path / "student" / "old.txt").write_text("the previous edition")
    before = snapshot(tmp_path)
    replace = os.replace

    def failing_replace(source, destination):
        if Path(source).name == "edition":
            raise OSError("disk full")
        replace(source, destination)

    monkeypatch.setattr(classroom.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_student_edition(book, tmp_path / "student")
    assert snapshot(tmp_path) == before


def test_files_added_during_the_build_are_not_replaced(book, tmp_path, monkeypatch):
    (tmp_path / "student").mkdir()
    build = classroom._build

    def build_while_someone_writes(*args):
        (tmp_path / "student" / "mine.txt").write_text("written meanwhile")
        return build(*args)

    monkeypatch.setattr(classroom, "_build", build_while_someone_writes)
    with pytest.raises(UnsafeDestinationError, match=f"no {MARKER} file"):
        write_student_edition(book, tmp_path / "student")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "student"]
    assert (tmp_path / "student" / "mine.txt").read_text() == "written meanwhile"


def test_errors_are_value_errors():
    assert issubclass(UnsafeDestinationError, StudentEditionError)
    assert issubclass(SolutionMarkupError, StudentEditionError)
    assert issubclass(StudentEditionError, ValueError)


def test_the_command_line_refuses_with_one_message_and_status_2(book, tmp_path, monkeypatch,
                                                                capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    for destination, reason in [(".", "contains the book"), ("book", "is the book itself"),
                                ("book/student", "lies inside the book"),
                                ("mine", f"no {MARKER} file"),
                                ("mine/notes.txt", "is a file")]:
        assert main(["book", destination]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("\n") == 1 and reason in err, err
        assert err.startswith("python -m recsys_lab.classroom: error: refusing")
    assert main(["missing", "student"]) == 2
    assert "missing is not a folder" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_the_command_line_reports_a_broken_book_with_status_1(book, tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    (book / "broken.ipynb").write_text(notebook(cell("markdown", "```{solution-end}\n```")))
    assert main(["book", "student"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.ipynb: a {solution-end} has no" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book"]


def test_the_module_runs_as_a_command(book, tmp_path):
    command = [sys.executable, "-m", "recsys_lab.classroom", "book"]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    refused = subprocess.run([*command, "."], cwd=tmp_path, env=env, capture_output=True,
                             text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    assert (book / "one.ipynb").is_file()
    done = subprocess.run([*command, "student"], cwd=tmp_path, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("student edition: 2 notebooks without solutions in student")


def test_grade_is_a_subcommand_beside_the_student_edition(book, tmp_path, capsys):
    """`grade` has its own arguments; `BOOK DESTINATION` works as before (above)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    refused = subprocess.run(
        [sys.executable, "-m", "recsys_lab.classroom", "grade", "missing", "--out", "g.csv",
         "--book", str(book)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == ("python -m recsys_lab.classroom grade: error: the submissions "
                              "missing are not a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book"]
    with pytest.raises(SystemExit):
        main(["grade", "-h"])
    assert "--cell-timeout" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["-h"])
    assert "grade [-h] SUBMISSIONS" in capsys.readouterr().out
