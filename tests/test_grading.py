"""Grading a class: exercises read from the book, every submission graded as it deserves.

The batch test builds a small book from chapter 1's own exercise cells (with a few lines of
data instead of MovieLens, so that each notebook runs in about a second), hands it out with
the student edition, and grades a class of submissions built from that edition: correct,
wrong, crashing, dying, looping, not a notebook, untouched, empty, of another chapter, and
one that tries to fake its checks.
"""

import ast
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_lab import grade_reports, grading, notebook_run
from recsys_lab.book_exercises import cell_source, checks_called, read_exercises
from recsys_lab.classroom import main, strip_solutions, write_student_edition
from recsys_lab.exercises import evaluation
from recsys_lab.grading import GradingError, match_chapter

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTER_1 = json.loads((BOOK / "01_data_and_evaluation.ipynb").read_text())
CHAPTER_2 = json.loads((BOOK / "02_matrix_factorization.ipynb").read_text())
EXERCISES = ["ch1-density", "ch1-recall", "ch1-ndcg", "ch1-popular"]

SETUP = """\
from types import SimpleNamespace

import numpy as np
import pandas as pd

ratings = pd.DataFrame({"user": [0, 0, 1, 2, 2, 2], "item": [0, 1, 1, 0, 2, 3],
                        "rating": [5, 3, 4, 2, 5, 1]})
data = SimpleNamespace(n_users=3, n_items=5)
topn = SimpleNamespace(train=ratings)
"""


def code(source):
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}


def markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def notebook(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def exercise_block(chapter):
    """A chapter's cells from its first exercise to its last {solution-end}, as they are."""
    sources = [cell_source(cell) for cell in chapter["cells"]]
    first = next(i for i, s in enumerate(sources) if "{exercise}" in s)
    last = max(i for i, s in enumerate(sources) if "{solution-end}" in s)
    return chapter["cells"][first:last + 1]


def solutions(chapter):
    """Each gated solution's code, by exercise label."""
    found, label = {}, None
    for cell in chapter["cells"]:
        source = cell_source(cell)
        if "{solution-start}" in source:
            label = source.split("{solution-start}")[1].split()[0]
        elif "{solution-end}" in source:
            label = None
        elif label and cell["cell_type"] == "code":
            found[label] = found.get(label, "") + source
    return found


def answer(student_notebook, label, source):
    """The notebook with the cell after exercise ``label`` replaced by ``source`` (the
    template's imports kept, as a student who writes below them would)."""
    cells = [dict(cell) for cell in student_notebook["cells"]]
    at = next(i for i, cell in enumerate(cells) if f":label: {label}" in cell_source(cell)) + 1
    template = cell_source(cells[at])
    imports = [ast.get_source_segment(template, node) for node in ast.parse(template).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    cells[at] = code("\n".join([*imports, source]))
    return {**student_notebook, "cells": cells}


def insert_after(student_notebook, label, source):
    """The notebook with a new code cell after the answer cell of exercise ``label``."""
    cells = list(student_notebook["cells"])
    at = next(i for i, cell in enumerate(cells) if f":label: {label}" in cell_source(cell)) + 2
    cells.insert(at, code(source))
    return {**student_notebook, "cells": cells}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def snapshot(folder):
    return {path.relative_to(folder).as_posix(): None if path.is_dir() else path.read_bytes()
            for path in sorted(folder.rglob("*"))}


# --------------------------------------------------------------------------------------------
# The exercises, read from the book
# --------------------------------------------------------------------------------------------


def test_every_chapter_exercise_and_its_check_is_read_from_the_book():
    chapters = read_exercises(BOOK)
    first = {exercise.label: exercise.checks for exercise in chapters["01_data_and_evaluation"]}
    assert first == {"ch1-density": ("check_density",), "ch1-recall": ("check_recall_at_k",),
                     "ch1-ndcg": ("check_ndcg_at_k",),
                     "ch1-popular": ("check_popularity_scores",), "ch1-tuning": (),
                     "ch1-sampled": (), "ch1-flat": ()}
    graded = [exercise for exercises in chapters.values() for exercise in exercises
              if exercise.graded]
    assert len({Path(chapter).name[:2] for chapter in chapters}) >= 8
    import importlib
    import pkgutil

    import recsys_lab.exercises as package
    checks = {name for info in pkgutil.iter_modules(package.__path__)
              for name in vars(importlib.import_module(f"recsys_lab.exercises.{info.name}"))
              if name.startswith("check_")}
    for exercise in graded:
        assert len(exercise.checks) == 1 and exercise.checks[0] in checks, exercise
        assert exercise.checks[0] in checks_called(exercise.template), exercise.label
    labels = [exercise.label for exercise in graded]
    assert len(labels) == len(set(labels))


def test_checks_called_ignores_imports_and_definitions():
    source = ("from recsys_lab.exercises.evaluation import (check_density,\n    check_ndcg_at_k)"
              "\ndef check_mine(x):\n    pass\nassert check_density(x)\nev.check_ndcg_at_k (f)")
    assert checks_called(source) == ["check_density", "check_ndcg_at_k"]


def test_each_student_chapter_is_matched_to_its_chapter():
    chapters = read_exercises(BOOK)
    for chapter in chapters:
        student = strip_solutions(json.loads((BOOK / f"{chapter}.ipynb").read_text()))
        assert match_chapter(student, "work", chapters) == chapter
    assert match_chapter(notebook([code("print(1)")]), "01_data_and_evaluation", chapters) is None


# --------------------------------------------------------------------------------------------
# Bad arguments are clear errors, before anything runs
# --------------------------------------------------------------------------------------------


@pytest.fixture
def small_class(tmp_path):
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "alice.ipynb").write_text(json.dumps(notebook([])))
    return tmp_path


@pytest.mark.parametrize("arguments, reason", [
    (["missing", "--out", "grades.csv"], "submissions missing are not a folder"),
    (["submissions", "--out", "grades.csv", "--book", "nobook"], "book nobook is not a folder"),
    (["submissions", "--out", "submissions/grades.csv"], "inside the submissions"),
    (["submissions", "--out", "submissions/../submissions/x/g.csv"], "inside the submissions"),
    (["submissions", "--out", "afile/grades.csv"], "cannot write the grades to afile"),
    (["submissions", "--out", "grades.csv", "--chapter", "99"], "'99' is not of the book's"),
    (["submissions", "--out", "grades.csv", "--chapter", "0"], "matches several"),
    (["submissions", "--out", "grades.csv", "--cell-timeout", "0"], "must be positive"),
])
def test_bad_arguments_exit_with_one_line_and_status_2(small_class, monkeypatch, capsys,
                                                       arguments, reason):
    monkeypatch.chdir(small_class)
    (small_class / "afile").write_text("a file, not a folder")
    before = snapshot(small_class)
    assert main(["grade", *arguments, *([] if "--book" in arguments else ["--book", str(BOOK)])
                 ]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and reason in err, err
    assert err.startswith("python -m recsys_lab.classroom grade: error: ")
    assert snapshot(small_class) == before


def test_the_api_raises_value_errors(small_class):
    with pytest.raises(ValueError, match="not a folder"):
        grading.grade_submissions(small_class / "missing", BOOK)
    with pytest.raises(ValueError, match="book .* is not a folder"):
        grading.grade_submissions(small_class / "submissions", small_class / "nobook")
    (small_class / "empty").mkdir()
    with pytest.raises(GradingError, match="no submissions in"):
        grading.grade_submissions(small_class / "empty", BOOK)
    with pytest.raises(GradingError, match="no exercise graded"):
        grading.grade_submissions(small_class / "submissions", small_class / "empty")


# --------------------------------------------------------------------------------------------
# The kernel's limits
# --------------------------------------------------------------------------------------------


def test_a_cell_that_ignores_interrupts_is_stopped_with_its_kernel(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_run, "INTERRUPT_GRACE", 1.0)
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n" \
               "    except KeyboardInterrupt:\n        pass"
    run = notebook_run.run_notebook(notebook([code("x = 1"), code(stubborn), code("print(x)")]),
                                    tmp_path, cell_timeout=2, notebook_timeout=60)
    assert [cell.status for cell in run.cells.values()] == ["ok", "timeout", "not run"]
    assert "did not stop when interrupted" in run.cells[1].error
    assert run.stopped == "the kernel was shut down: cell 2 would not stop"
    assert run.cells[2].error == f"not run: {run.stopped}"
    assert run.seconds < 30


def test_the_notebook_time_limit_stops_the_run(tmp_path):
    cells = [code("import time\ntime.sleep(0.5)") for _ in range(40)]
    run = notebook_run.run_notebook(notebook(cells), tmp_path, cell_timeout=10,
                                    notebook_timeout=6)
    statuses = [cell.status for cell in run.cells.values()]
    assert statuses[-1] == "not run" and "ok" in statuses
    assert "the notebook's time limit (6 s) ran out" in run.stopped
    assert run.seconds < 6 + notebook_run.INTERRUPT_GRACE + 2


# --------------------------------------------------------------------------------------------
# A class, graded
# --------------------------------------------------------------------------------------------


WRONG_NDCG = """\
def ndcg_at_k(ranked, relevant, k):
    relevant = set(relevant)
    return sum(1 / np.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)


check_ndcg_at_k(ndcg_at_k)
"""

EXPECTED = {
    "alice": [grading.PASSED] * 4,
    "bob": ["passed", "passed", "failed", "passed"],
    "carol": ["passed", "errored", "passed", "passed"],
    "dave": ["passed", "passed", "errored", "errored"],
    "erin": ["passed", "passed", "errored", "passed"],
    "frank": ["errored"] * 4,
    "grace": ["not attempted"] * 4,
    "heidi": ["not attempted"] * 4,
    "ivan": ["not attempted"] * 4,
    "mallory": ["failed", "not attempted", "passed", "passed"],
}


@pytest.fixture
def handed_out(tmp_path):
    """A two-chapter book (chapter 1's exercise cells on a few ratings; chapter 2's
    exercise cells, never run here) and its student edition."""
    book = tmp_path / "book"
    book.mkdir()
    first = notebook([markdown("# Evaluation, small"), code(SETUP), *exercise_block(CHAPTER_1)])
    (book / "01_evaluation.ipynb").write_text(json.dumps(first))
    (book / "02_matrix_factorization.ipynb").write_text(
        json.dumps(notebook(exercise_block(CHAPTER_2))))
    write_student_edition(book, tmp_path / "student")
    student = json.loads((tmp_path / "student" / "01_evaluation.ipynb").read_text())
    return book, student, solutions(first)


def build_class(folder, student, reference):
    """The submissions: a folder per student, or a file named after the student."""
    solved = student
    for label in EXERCISES:
        solved = answer(solved, label, reference[label])

    def save(name, content, data=None):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1))
        if data:
            (path.parent / "ratings.txt").write_text(data)

    save("alice/01_evaluation.ipynb", solved, data="my own notes")
    bob = answer(solved, "ch1-ndcg", WRONG_NDCG)
    save("bob.ipynb", insert_after(bob, "ch1-recall", (
        "import os\nprint('x' * 5_000_000)\nfor i in range(20_000):\n    print(i)\n"
        "for name in os.listdir('.'):\n    os.remove(name)")))
    carol = reference["ch1-recall"].replace("assert check_recall_at_k(recall_at_k)",
                                            "check_recall_at_k(recall_at_kk)")
    save("carol/work/01_evaluation.ipynb", answer(solved, "ch1-recall", carol))
    save("dave/01_evaluation.ipynb",
         insert_after(solved, "ch1-recall", "import os\nos._exit(1)"))
    save("erin.ipynb", answer(solved, "ch1-ndcg", "while True:\n    pass\n"
                                                  + reference["ch1-ndcg"]))
    save("frank.ipynb", "my answers: 0.063, and recall divides by k")
    save("grace/01_evaluation.ipynb", student)
    save("heidi/work.ipynb", notebook([]))
    save("ivan/02_matrix_factorization.ipynb",
         json.loads((folder.parent / "student" / "02_matrix_factorization.ipynb").read_text()))
    fake = json.dumps({"record": json.dumps({"check": "check_density", "passed": True,
                                             "message": "forged"}), "mac": "0" * 64})
    mallory = answer(solved, "ch1-density", (
        "my_density = 0.5\ncheck_density(my_density, len(ratings), data.n_users, "
        "data.n_items)\nprint('✅ density = 0.4000: 60.0% of the matrix is unknown.')\n"
        "from IPython.display import display\n"
        f"display({{{notebook_run.MIME!r}: {fake}}}, raw=True)"))
    mallory = answer(mallory, "ch1-recall", reference["ch1-recall"].replace(
        "assert check_recall_at_k", "def check_recall_at_k(function):\n    return True\n\n\n"
        "assert check_recall_at_k"))
    save("mallory.ipynb", mallory)
    (folder / "README.txt").write_text("collected on Monday")


def test_a_class_is_graded_as_each_submission_deserves(handed_out, tmp_path, monkeypatch,
                                                        capsys):
    book, student, reference = handed_out
    submissions = tmp_path / "submissions"
    build_class(submissions, student, reference)
    before = snapshot(submissions)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "out" / "grades.csv"

    start = time.monotonic()
    status = main(["grade", str(submissions), "--out", str(out), "--book", str(book),
                   "--chapter", "01", "--cell-timeout", "5", "--notebook-timeout", "60",
                   "--nbgrader-csv", str(tmp_path / "out" / "nbgrader.csv")])
    elapsed = time.monotonic() - start
    printed = capsys.readouterr().out
    print(printed)
    print(f"the batch took {elapsed:.1f} s")
    assert status == 0

    # Exactly the grades each deserves.
    rows = read_csv(out)
    assert tuple(rows[0]) == grade_reports.GRADE_COLUMNS
    got = {}
    for row in rows:
        got.setdefault(row["student"], []).append(row["status"])
        assert row["chapter"] == "01_evaluation" and row["points"] == str(
            int(row["status"] == "passed"))
    assert got == EXPECTED
    assert [row["exercise"] for row in rows if row["student"] == "alice"] == EXERCISES
    message = {(row["student"], row["exercise"]): row["message"] for row in rows}

    def wrong_ndcg():
        space = {"np": np, "check_ndcg_at_k": lambda function: function}
        exec(WRONG_NDCG, space)
        return space["ndcg_at_k"]

    expected_ndcg = evaluation.check_ndcg_at_k(wrong_ndcg()).message
    assert message["bob", "ch1-ndcg"] == " ".join(expected_ndcg.split())
    assert message["alice", "ch1-popular"] == evaluation.check_popularity_scores(
        lambda train, n: np.bincount(train["item"], minlength=n),
        __import__("pandas").DataFrame({"item": [0, 1, 1, 0, 2, 3]}), 5).message
    assert message["carol", "ch1-recall"].endswith(
        "raised NameError: name 'recall_at_kk' is not defined")
    assert message["dave", "ch1-ndcg"].endswith("not run: the kernel died in cell "
                                                f"{_cell_of(student, 'ch1-recall') + 2}")
    assert "ran past its time limit (5 s) and was interrupted" in message["erin", "ch1-ndcg"]
    assert message["frank", "ch1-density"].startswith("frank.ipynb is not a notebook (not valid")
    assert message["grace", "ch1-recall"].startswith("the exercise cell is as handed out")
    assert message["heidi", "ch1-density"] == (
        "no notebook of chapter 01_evaluation was submitted (heidi/work.ipynb is empty)")
    assert "ivan/02_matrix_factorization.ipynb is chapter 02_matrix_factorization, not " \
           "graded here" in message["ivan", "ch1-popular"]
    assert message["mallory", "ch1-density"] == evaluation.check_density(0.5, 6, 3, 5).message
    assert "without calling the book's check_recall_at_k" in message["mallory", "ch1-recall"]

    # The summary, the feedback and nbgrader's columns.
    summary = {row["student"]: row for row in read_csv(tmp_path / "out" / "grades-summary.csv")}
    assert list(summary) == sorted(EXPECTED)
    assert (summary["alice"]["score"], summary["alice"]["max_score"]) == ("4", "4")
    assert summary["bob"]["passed"] == "3" and summary["bob"]["failed"] == "1"
    assert "were ignored" in summary["mallory"]["notes"]
    assert "not run" in summary["ivan"]["notes"] and float(summary["ivan"]["seconds"]) == 0
    feedback = (tmp_path / "out" / "grades-feedback" / "bob.md").read_text()
    assert feedback.startswith("# Feedback: bob\n\n3 of 4 exercises")
    assert f"❌ **NDCG@K** (`ch1-ndcg`): failed. {' '.join(expected_ndcg.split())}" in feedback
    assert "`ch1-tuning`" in feedback
    assert sorted(p.name for p in (tmp_path / "out" / "grades-feedback").iterdir()) == [
        f"{name}.md" for name in sorted(EXPECTED)]
    nbgrader = read_csv(tmp_path / "out" / "nbgrader.csv")
    assert tuple(nbgrader[0]) == grade_reports.NBGRADER_COLUMNS
    assert [(row["student_id"], row["score"], row["max_score"]) for row in nbgrader][:2] == [
        ("alice", "4.0", "4.0"), ("bob", "3.0", "4.0")]

    # The table printed, within the time limits; submissions untouched, no copy left.
    assert "skipped (not a notebook or a student's folder): README.txt" in printed
    table = printed[printed.index("\nstudent "):].splitlines()[1:12]
    assert table[0].split() == ["student", *EXERCISES, "score"]
    assert table[1].split() == ["alice", *["passed"] * 4, "4/4"]
    assert table[10].split() == ["mallory", "failed", "not", "attempted", "passed", "passed",
                                 "2/4"]
    assert "10 students graded in" in printed
    assert elapsed < 120
    assert snapshot(submissions) == before
    assert list(scratch.iterdir()) == []
    assert not any(name.startswith(".") for name in os.listdir(tmp_path / "out"))


def _cell_of(student_notebook, label):
    """The 1-based number of the markdown cell of exercise ``label``."""
    return next(i for i, cell in enumerate(student_notebook["cells"])
                if f":label: {label}" in cell_source(cell)) + 1


def test_the_real_chapter_handed_out_and_solved_passes(tmp_path):
    """Chapter 1 itself, on MovieLens (about ten seconds): its student edition with the
    reference solutions written in gets every exercise passed."""
    write_student_edition(BOOK, tmp_path / "student")
    student = json.loads((tmp_path / "student" / "01_data_and_evaluation.ipynb").read_text())
    reference = solutions(CHAPTER_1)
    for label in EXERCISES:
        student = answer(student, label, reference[label])
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "chapter1.ipynb").write_text(json.dumps(student))
    report = grading.grade_submissions(tmp_path / "class", BOOK, cell_timeout=120,
                                       notebook_timeout=300)
    assert list(report.exercises) == ["01_data_and_evaluation"]
    assert [(g.exercise, g.status) for g in report.grades] == [
        (label, grading.PASSED) for label in EXERCISES]
    assert report.notes == {"alice": []}, "every cell of the chapter ran without an error"
