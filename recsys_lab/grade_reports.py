"""The reports of a grading run: the grades CSV, a summary, feedback for each student.

For a :class:`~recsys_lab.grading.Report` and ``out`` (e.g. ``grades.csv``):

* ``grades.csv``: one row per student and exercise (:data:`GRADE_COLUMNS`); ``points`` is
  1 for ``passed`` and 0 otherwise, ``message`` the check's message or what went wrong.
* ``grades-summary.csv``: one row per student (:data:`SUMMARY_COLUMNS`): the number of
  exercises in each state, the score out of the exercises checked, the time the student's
  notebooks ran, and notes (cells that raised, notebooks not run, and why).
* ``grades-feedback/STUDENT.md``: for the student, each exercise's result with the check's
  message, the written exercises left to the teacher, and the notes.
* optionally a CSV with the columns of ``nbgrader export`` (:data:`NBGRADER_COLUMNS`, one
  row per student and chapter, the chapter as the assignment), for the scripts and
  gradebook uploads that already read nbgrader's grades.

Each file is written whole or not at all (a temporary file, then renamed).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from recsys_lab.grading import ERRORED, FAILED, NOT_ATTEMPTED, PASSED, GradingError, Report

_SYMBOL = {PASSED: "✅", FAILED: "❌", ERRORED: "⚠️", NOT_ATTEMPTED: "⬜"}

GRADE_COLUMNS = ("student", "chapter", "exercise", "check", "status", "points", "message",
                 "notebook")
SUMMARY_COLUMNS = ("student", "passed", "failed", "not_attempted", "errored", "score",
                   "max_score", "seconds", "notes")
NBGRADER_COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name",
                    "first_name", "email", "raw_score", "late_submission_penalty", "score",
                    "max_score")


def output_paths(out: Path) -> tuple[Path, Path, Path]:
    """The grades CSV, the summary CSV and the feedback folder written for ``out``."""
    out = Path(out)
    return (out, out.with_name(f"{out.stem}-summary{out.suffix or '.csv'}"),
            out.with_name(f"{out.stem}-feedback"))


def check_outputs(out: Path, submissions: Path, nbgrader_csv: Path | None = None) -> None:
    """Raise :class:`GradingError` unless the reports can be written where asked.

    Nothing is written (missing folders are created by :func:`write_reports`); the reports
    may not go inside the submissions, which are never modified.
    """
    grades, summary, feedback = output_paths(out)
    files = [grades, summary, *([Path(nbgrader_csv)] if nbgrader_csv else [])]
    inside = Path(submissions).resolve()
    for target in [*files, feedback]:
        resolved = target.resolve()
        if resolved == inside or inside in resolved.parents:
            raise GradingError(f"refusing to write {target} inside the submissions "
                               f"{submissions}, which are never modified; choose another place")
    for target in files:
        if target.is_dir():
            raise GradingError(f"cannot write the grades to {target}: it is a folder")
    if feedback.exists() and not feedback.is_dir():
        raise GradingError(f"cannot write the feedback into {feedback}: it is a file")
    for folder in sorted({feedback, *(target.parent for target in files)}):
        existing = next(path for path in [folder, *folder.parents] if path.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            why = "is a file" if not existing.is_dir() else "is not writable"
            raise GradingError(f"cannot write the grades to {folder}: {existing} {why}")


def _csv(rows, columns) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def grades_csv(report: Report) -> str:
    return _csv([[g.student, g.chapter, g.exercise, g.check, g.status, g.points, g.message,
                  g.notebook] for g in report.grades], GRADE_COLUMNS)


def summary_rows(report: Report) -> list[dict]:
    """One dict per student: the counts of each status, score, max score, seconds, notes."""
    rows = []
    for student in report.students:
        counts = report.counts(student)
        rows.append({"student": student, "passed": counts[PASSED], "failed": counts[FAILED],
                     "not_attempted": counts[NOT_ATTEMPTED], "errored": counts[ERRORED],
                     "score": counts[PASSED], "max_score": len(report.of(student)),
                     "seconds": round(report.seconds.get(student, 0.0), 1),
                     "notes": "; ".join(report.notes[student])})
    return rows


def summary_csv(report: Report) -> str:
    return _csv([[row[column] for column in SUMMARY_COLUMNS] for row in summary_rows(report)],
                SUMMARY_COLUMNS)


def nbgrader_csv(report: Report) -> str:
    """The columns of ``nbgrader export``'s CSV: one row per student and chapter."""
    rows = []
    for chapter, exercises in report.exercises.items():
        max_score = sum(exercise.graded for exercise in exercises)
        for student in report.students:
            score = sum(g.points for g in report.of(student) if g.chapter == chapter)
            rows.append([chapter, "", "", student, "", "", "", float(score), 0.0, float(score),
                         float(max_score)])
    return _csv(rows, NBGRADER_COLUMNS)


def feedback_markdown(report: Report, student: str) -> str:
    """The feedback for one student: each exercise's result and the check's message."""
    grades = report.of(student)
    passed = sum(grade.points for grade in grades)
    lines = [f"# Feedback: {student}", ""]
    lines += [f"{passed} of {len(grades)} exercises checked automatically passed.", ""]
    titles = {(exercise.chapter, exercise.label): exercise.title
              for exercises in report.exercises.values() for exercise in exercises}
    for chapter, exercises in report.exercises.items():
        lines += [f"## {chapter}", ""]
        for grade in (grade for grade in grades if grade.chapter == chapter):
            title = titles.get((chapter, grade.exercise)) or grade.exercise
            lines.append(f"- {_SYMBOL[grade.status]} **{title}** (`{grade.exercise}`): "
                         f"{grade.status}. {grade.message}")
        written = [exercise.label for exercise in exercises if not exercise.graded]
        if written:
            lines += ["", "Written exercises, read by your teacher: "
                      + ", ".join(f"`{label}`" for label in written) + "."]
        lines.append("")
    if report.notes[student]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report.notes[student]] + [""]
    return "\n".join(lines)


def write_reports(report: Report, out: Path, nbgrader: Path | None = None) -> list[Path]:
    """Write the grades, the summary, one feedback file per student (and nbgrader's CSV)."""
    grades_path, summary_path, feedback = output_paths(out)
    for folder in (grades_path.parent, feedback, *([Path(nbgrader).parent] if nbgrader else [])):
        folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student in report.students:
        path = feedback / f"{student}.md"
        _write(path, feedback_markdown(report, student))
        written.append(path)
    _write(summary_path, summary_csv(report))
    _write(grades_path, grades_csv(report))
    written[:0] = [grades_path, summary_path]
    if nbgrader is not None:
        _write(Path(nbgrader), nbgrader_csv(report))
        written.append(Path(nbgrader))
    return written


def table(report: Report) -> str:
    """The grades as a text table: one row per student, one column per exercise."""
    labels = [(chapter, exercise.label) for chapter, exercises in report.exercises.items()
              for exercise in exercises if exercise.graded]
    header = ["student", *(label for _, label in labels), "score"]
    rows = []
    for student in report.students:
        by_exercise = {(g.chapter, g.exercise): g.status for g in report.of(student)}
        passed = sum(status == PASSED for status in by_exercise.values())
        rows.append([student, *(by_exercise.get(key, "") for key in labels),
                     f"{passed}/{len(by_exercise)}"])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)
