"""Grade a class's submitted notebooks against the book's exercises, with one command.

``python -m recsys_lab.classroom grade SUBMISSIONS --out grades.csv`` (``make grade``):

* **Submissions.** ``SUBMISSIONS`` holds one folder per student (every ``.ipynb`` inside it,
  at any depth, is that student's: nbgrader's ``submitted/STUDENT/ASSIGNMENT/`` layout
  works as it is) or one ``.ipynb`` file per student, named after the student. Other files
  at the top are skipped and listed. Submissions are never modified: each notebook runs in
  a fresh temporary copy of its student's folder (or of the file alone), which is removed
  afterwards, in a kernel of its own (:mod:`recsys_lab.notebook_run`).
* **Exercises.** Which exercises exist, and which ``check_*`` grades each, is read from the
  book (:mod:`recsys_lab.book_exercises`); a new chapter is graded without changing this
  module. Each notebook is matched to the chapter whose exercise labels and checks it
  holds (cell ids are not used: students copy cells). ``chapters`` restricts the grading
  to an assignment; a notebook of another chapter is then reported, not run.
* **Grades.** One per student and exercise: ``passed`` or ``failed`` (the check's verdict
  when the notebook ran, with its message), ``not attempted`` (the check was never called,
  its cell is as handed out, or the student sent no notebook of that chapter) or
  ``errored`` (the exercise's cell raised, ran past its time limit or never ran because
  the kernel died or time ran out, or the submitted file is not a notebook). If a check
  is called more than once, its last call counts; if a student sent two notebooks of one
  chapter, the better result of each exercise counts.
* **Reports** (:mod:`recsys_lab.grade_reports`): ``grades.csv`` (one row per student and
  exercise), ``grades-summary.csv`` (one row per student), ``grades-feedback/STUDENT.md``
  (the check's messages, for the student) and, on request, the columns of
  ``nbgrader export``'s CSV (one row per student and chapter).

This isolates mistakes, not malicious code: the notebooks run with the rights of whoever
runs the grader. See the book's page for teachers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from recsys_lab.book_exercises import (
    Exercise,
    cell_source,
    checks_called,
    directives,
    read_exercises,
)

PASSED, FAILED, NOT_ATTEMPTED, ERRORED = "passed", "failed", "not attempted", "errored"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, ERRORED)
_RANK = {PASSED: 3, FAILED: 2, ERRORED: 1, NOT_ATTEMPTED: 0}  # which of two results counts
MAX_NOTEBOOK_BYTES = 50_000_000
"""A submitted file larger than this is not read (a notebook saved with huge outputs)."""


class GradingError(ValueError):
    """The grading cannot start: a missing folder, an unwritable output, an unknown chapter."""


@dataclasses.dataclass(frozen=True)
class Grade:
    """The result of one exercise for one student (a row of ``grades.csv``)."""

    student: str
    chapter: str
    exercise: str
    check: str
    status: str
    message: str
    notebook: str = ""

    @property
    def points(self) -> int:
        return int(self.status == PASSED)


@dataclasses.dataclass
class Report:
    """Everything a grading run found: the grades, per-student notes and times, the
    exercises graded (chapter → exercises, written ones included) and the files skipped."""

    grades: list[Grade]
    notes: dict[str, list[str]]
    seconds: dict[str, float]
    exercises: dict[str, list[Exercise]]
    skipped: list[str]
    elapsed: float = 0.0

    @property
    def students(self) -> list[str]:
        return sorted(self.notes)

    def of(self, student: str) -> list[Grade]:
        return [grade for grade in self.grades if grade.student == student]

    def counts(self, student: str) -> dict[str, int]:
        grades = self.of(student)
        return {status: sum(grade.status == status for grade in grades) for status in STATUSES}


# --------------------------------------------------------------------------------------------
# Finding, reading and matching the submissions
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Submitted:
    student: str
    path: Path  # the notebook file
    root: Path | None  # the student's folder, copied whole; None for a file per student
    shown: str  # the path as the reports show it, relative to SUBMISSIONS


def find_submissions(folder: Path) -> tuple[dict[str, list[_Submitted]], list[str]]:
    """The notebooks of each student in ``folder``, and the top-level files skipped."""
    students: dict[str, list[_Submitted]] = {}
    skipped = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX":  # hidden, or zip residue
            continue
        if entry.is_dir():
            found = students.setdefault(entry.name, [])
            for path in sorted(entry.rglob("*.ipynb")):
                parts = path.relative_to(entry).parts
                if path.is_file() and not any(part.startswith(".") for part in parts):
                    found.append(_Submitted(entry.name, path, entry,
                                            path.relative_to(folder).as_posix()))
        elif entry.suffix == ".ipynb":
            students.setdefault(entry.stem, []).append(
                _Submitted(entry.stem, entry, None, entry.name))
        else:
            skipped.append(entry.name)
    return students, skipped


def load_notebook(path: Path) -> tuple[dict | None, str]:
    """``(notebook, "")`` for a readable nbformat-4 notebook, else ``(None, why not)``."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return None, f"too large to grade ({size / 1e6:.0f} MB)"
        notebook = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, "not a notebook (not UTF-8 text)"
    except (json.JSONDecodeError, RecursionError) as error:
        return None, f"not a notebook (not valid JSON: {error or 'nested too deeply'})"
    except OSError as error:
        return None, f"could not be read ({error.strerror or error})"
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list) or notebook.get("nbformat") != 4 or not all(
            isinstance(cell, dict) and isinstance(cell.get("cell_type"), str)
            and _is_text(cell.get("source", "")) for cell in cells):
        return None, "not a notebook (JSON, but not in Jupyter's nbformat 4)"
    return notebook, ""


def _is_text(source) -> bool:
    """Whether a cell's source is text: a string or a list of strings."""
    return isinstance(source, str) or (isinstance(source, list)
                                       and all(isinstance(line, str) for line in source))


def match_chapter(notebook: dict, name: str, chapters: dict[str, list[Exercise]]) -> str | None:
    """The chapter whose exercise labels and checks ``notebook`` holds most of, or None.

    Ties go to the chapter whose file name the notebook's ``name`` starts with.
    """
    labels, calls = set(), set()
    for cell in notebook["cells"]:
        source = cell_source(cell)
        if cell["cell_type"] == "markdown":
            labels.update(label for kind, _, label in directives(source) if kind == "exercise")
        elif cell["cell_type"] == "code":
            calls.update(checks_called(source))
    scored = [((len(labels & {exercise.label for exercise in exercises})
                + len(calls & {check for exercise in exercises for check in exercise.checks}),
                name.startswith(Path(chapter).name)), chapter)
              for chapter, exercises in chapters.items()]
    if not scored:
        return None
    (score, _), chapter = max(scored, key=lambda item: item[0])  # the first of equals
    return chapter if score > 0 else None


def _is_empty(notebook: dict) -> bool:
    return not any(cell_source(cell).strip() for cell in notebook["cells"])


# --------------------------------------------------------------------------------------------
# One exercise's grade from one run
# --------------------------------------------------------------------------------------------


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def grade_exercise(exercise: Exercise, notebook: dict, run) -> tuple[str, str]:
    """``(status, message)`` of one exercise from a :class:`~recsys_lab.notebook_run.NotebookRun`.

    The exercise's cells are the code cells that call one of its checks or recorded a call;
    the last of them decides: the last verdict it recorded, else the error that stopped it,
    else "not attempted". A failed verdict from a cell still as handed out is "not attempted".
    """
    checks = set(exercise.checks)
    names = " or ".join(exercise.checks)
    relevant = [cell for index, cell in sorted(run.cells.items())
                if checks & set(checks_called(cell_source(notebook["cells"][index])))
                or any(record.check in checks for record in cell.records)]
    if not relevant:
        return NOT_ATTEMPTED, f"no cell calls {names}"
    cell = relevant[-1]
    where = f"cell {cell.index + 1}"
    verdicts = [record for record in cell.records if record.check in checks]
    if verdicts:
        verdict = verdicts[-1]
        if verdict.passed:
            return PASSED, verdict.message
        template = _normalized(exercise.template)
        if template and _normalized(cell_source(notebook["cells"][cell.index])) == template:
            return NOT_ATTEMPTED, (f"the exercise cell is as handed out; {verdict.check} said: "
                                   f"{verdict.message}")
        return FAILED, verdict.message
    if cell.status == "not run":
        return ERRORED, f"{where} {cell.error}"
    if cell.status == "timeout":
        return ERRORED, f"{where}: {cell.error}"
    if cell.status == "error":
        return ERRORED, f"{where} raised {cell.error}"
    return NOT_ATTEMPTED, (f"{where} ran without calling the book's {names} (was it "
                           f"redefined, or its call skipped?)")


# --------------------------------------------------------------------------------------------
# The whole class
# --------------------------------------------------------------------------------------------


def graded_chapters(book: Path, chapters=None) -> dict[str, list[Exercise]]:
    """The book's chapters that have exercises graded by a check, each with its exercises.

    ``chapters`` keeps only those named (a chapter's name, its ``.ipynb`` file name or a
    unique prefix such as ``01``). Raises :class:`GradingError` for a missing book, a
    notebook in it that is not JSON, no graded exercise, or an unknown chapter.
    """
    book = Path(book)
    if not book.is_dir():
        raise GradingError(f"the book {book} is not a folder of notebooks")
    try:
        found = read_exercises(book)
    except ValueError as error:
        raise GradingError(f"cannot read the book's exercises: {error}") from error
    in_book = {chapter: exercises for chapter, exercises in found.items()
               if any(exercise.graded for exercise in exercises)}
    if not in_book:
        raise GradingError(f"the book {book} has no exercise graded by a check_* function")
    return _select(in_book, chapters) if chapters else in_book


def _select(chapters: dict[str, list[Exercise]], wanted) -> dict[str, list[Exercise]]:
    """The chapters named in ``wanted`` (a name, its ``.ipynb`` file or a unique prefix)."""
    chosen = {}
    for name in wanted:
        name = str(name).removesuffix(".ipynb")
        matches = [chapter for chapter in chapters
                   if chapter == name or Path(chapter).name == name]
        matches = matches or [chapter for chapter in chapters
                              if Path(chapter).name.startswith(name)]
        if len(matches) != 1:
            known = ", ".join(chapters) or "none"
            how = "matches several" if matches else "is not"
            raise GradingError(f"the chapter {name!r} {how} of the book's chapters with graded "
                               f"exercises ({known})")
        chosen[matches[0]] = chapters[matches[0]]
    return chosen


def _remove(folder: Path) -> None:
    """Delete a temporary folder, even one whose permissions a notebook changed."""

    def make_writable(function, path, _):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=make_writable)
    else:
        shutil.rmtree(folder, onerror=make_writable)


def _run_copy(submitted: _Submitted, notebook: dict, **limits):
    """Run ``notebook`` in a temporary copy of its submission; the copy is removed after.

    Raises ``OSError`` (or ``shutil.Error``) if the submission cannot be copied.
    """
    from recsys_lab.notebook_run import run_notebook

    scratch = Path(tempfile.mkdtemp(prefix="recsys-lab-grade-"))
    try:
        work = scratch / "work"
        if submitted.root is None:
            work.mkdir()
            shutil.copy2(submitted.path, work / submitted.path.name)
            cwd = work
        else:
            shutil.copytree(submitted.root, work, symlinks=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            cwd = work / submitted.path.parent.relative_to(submitted.root)
        return run_notebook(notebook, cwd, **limits)
    finally:
        _remove(scratch)


def _grade_one(submitted: _Submitted, notebook: dict, limits: dict):
    """``(run, "")``, or ``(None, why)`` when the notebook could not be run at all.

    Whatever goes wrong with one notebook (a file that cannot be copied, or a fault of the
    grader itself) is reported for that notebook and never stops the batch.
    """
    try:
        return _run_copy(submitted, notebook, **limits), ""
    except (OSError, shutil.Error) as error:
        return None, f"could not be copied to be run ({error})"
    except Exception as error:
        return None, f"could not be graded ({type(error).__name__}: {error})"


def grade_submissions(submissions: Path, book: Path, *, chapters=None,
                      cell_timeout: float = 300.0, notebook_timeout: float = 900.0,
                      env: dict | None = None,
                      progress: Callable[[str], None] | None = None) -> Report:
    """Grade every student's notebooks in ``submissions`` against the exercises of ``book``.

    ``chapters`` names the chapters to grade (default: every chapter some notebook is);
    ``cell_timeout`` and ``notebook_timeout`` are in seconds; ``env`` is the kernels'
    environment (default: this process's). ``progress`` receives a line per notebook.
    Raises :class:`GradingError` for a missing folder or an unknown chapter; nothing a
    submission holds stops the batch.
    """
    start = time.monotonic()
    submissions = Path(submissions)
    in_book = graded_chapters(book)
    wanted = _select(in_book, chapters) if chapters else None
    if not submissions.is_dir():
        raise GradingError(f"the submissions {submissions} are not a folder (expected one "
                           f"folder or one .ipynb file per student)")
    students, skipped = find_submissions(submissions)
    if not students:
        raise GradingError(f"no submissions in {submissions}: expected one folder or one "
                           f".ipynb file per student")
    say = progress or (lambda line: None)
    limits = dict(cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, env=env)

    notes: dict[str, list[str]] = {student: [] for student in students}
    seconds = dict.fromkeys(students, 0.0)
    results: dict[tuple[str, str], list[tuple[dict, object, str]]] = {}  # runs by chapter
    unreadable: dict[str, list[str]] = {}  # files that are no notebook: "errored"
    unmatched: dict[str, list[str]] = {}  # notebooks not run: why a chapter may be missing
    def skip(submitted: _Submitted, why: str, errored: bool) -> None:
        """Record a notebook that was not run: unreadable ones make the grades "errored"."""
        (unreadable if errored else unmatched).setdefault(submitted.student, []).append(
            f"{submitted.shown} {why}")
        notes[submitted.student].append(f"{submitted.shown} {why}: not run")
        say(f"{submitted.student}: {submitted.shown} {why}: not run")

    for student, submitted_list in students.items():
        if not submitted_list:
            notes[student].append("no notebook (.ipynb) submitted")
        for submitted in submitted_list:
            notebook, problem = load_notebook(submitted.path)
            if notebook is None:
                skip(submitted, f"is {problem}", errored=True)
                continue
            chapter = None if _is_empty(notebook) else match_chapter(
                notebook, submitted.path.stem, in_book)
            if chapter is None or (wanted is not None and chapter not in wanted):
                skip(submitted, "is empty" if _is_empty(notebook) else
                     "holds no exercise of the book" if chapter is None else
                     f"is chapter {chapter}, not graded here", errored=False)
                continue
            run, problem = _grade_one(submitted, notebook, limits)
            if run is None:
                skip(submitted, problem, errored=True)
                continue
            seconds[student] += run.seconds
            results.setdefault((student, chapter), []).append((notebook, run, submitted.shown))
            notes[student].extend(_run_notes(submitted.shown, run))
            say(f"{student}: {submitted.shown}: chapter {chapter}, ran in {run.seconds:.1f} s"
                + (f" ({run.stopped})" if run.stopped else ""))

    graded = wanted if wanted is not None else {
        chapter: in_book[chapter] for chapter in in_book
        if any(key[1] == chapter for key in results)}
    grades = []
    for student in sorted(students):
        for chapter, exercises in graded.items():
            runs = results.get((student, chapter), [])
            for exercise in (exercise for exercise in exercises if exercise.graded):
                grades.append(_best(student, chapter, exercise, runs,
                                    unreadable.get(student, []),
                                    unmatched.get(student, [])))
    return Report(grades, notes, seconds, graded, skipped, time.monotonic() - start)


def _best(student, chapter, exercise, runs, unreadable, unmatched) -> Grade:
    """The grade of one exercise: the best over the student's notebooks of its chapter."""
    check = " ".join(exercise.checks)
    if not runs:
        if unreadable:
            return Grade(student, chapter, exercise.label, check, ERRORED,
                         "; ".join(unreadable))
        why = f" ({'; '.join(unmatched)})" if unmatched else ""
        return Grade(student, chapter, exercise.label, check, NOT_ATTEMPTED,
                     f"no notebook of chapter {chapter} was submitted{why}")
    candidates = [(grade_exercise(exercise, notebook, run), shown)
                  for notebook, run, shown in runs]
    (status, message), shown = max(candidates, key=lambda item: _RANK[item[0][0]])
    return Grade(student, chapter, exercise.label, check, status, message, shown)


def _run_notes(shown: str, run) -> list[str]:
    """What a teacher should know about one run besides the grades."""
    notes = []
    failed = [cell for cell in run.cells.values() if cell.status in ("error", "timeout")]
    for cell in failed[:10]:
        notes.append(f"{shown}: cell {cell.index + 1}: {cell.error}")
    if len(failed) > 10:
        notes.append(f"{shown}: {len(failed) - 10} more cells failed")
    if run.stopped:
        notes.append(f"{shown}: stopped early: {run.stopped}")
    if run.ignored_records:
        notes.append(f"{shown}: {run.ignored_records} check result(s) not written by the "
                     f"grader were ignored")
    return notes
