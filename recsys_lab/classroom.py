"""The student edition: the book's notebooks and pages with every solution removed.

A solution is either a ``{solution}`` directive inside a markdown cell, or the run of
cells from a ``{solution-start}`` cell to its ``{solution-end}`` cell (sphinx-exercise's
gated syntax, used when a solution contains code). Exercise cells stay, with their
``check_*`` calls, so students still get instant feedback. MyST pages (``.md``) lose their
``{solution}`` blocks too.

Usage: ``python -m recsys_lab.classroom book student`` (``make student``). Grading the
notebooks students hand back is the ``grade`` subcommand (``make grade``; see
:mod:`recsys_lab.grading`): ``python -m recsys_lab.classroom grade SUBMISSIONS --out
grades.csv``.

What the command guarantees (and ``write_student_edition`` with it):

* It deletes nothing it did not create. Every edition holds a marker file,
  ``.student-edition``; an existing destination is replaced only if it holds that marker
  or is an empty folder. It refuses a destination that is the book itself, contains the
  book (such as ``.`` or the book's parent) or lies inside the book, a destination that is
  a file, and a non-empty folder without the marker. Paths are compared once resolved
  (symbolic links, ``..``, relative or absolute), so a refusal cannot be dodged by
  spelling. A refusal touches no file. A destination that is a symbolic link is followed:
  the folder it names is replaced, the link stays.
* It never leaves a half-written edition. The edition is built in a temporary folder next
  to the destination (``.DESTINATION-….partial``, on the same file system) and moved into
  place only when complete; the previous edition, if any, is deleted only after that. If
  anything fails (a notebook whose ``{solution-start}`` has no ``{solution-end}``, a full
  disk, Ctrl-C), the temporary folder is removed and the previous edition is left as it
  was. (Should moving the previous edition back fail too, it is kept in the temporary
  folder, and the error says where.)

From the command line a refusal prints one line and exits with status 2; malformed
solutions in the book, or an error of the file system, exit with status 1. The same holds
for ``grade``: a bad argument (a missing folder, an unwritable output, an unknown chapter)
exits with status 2 before any notebook runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from recsys_lab.book_exercises import DIRECTIVE
from recsys_lab.grading import GradingError

MARKER = ".student-edition"
"""The file that marks a folder as a student edition this module may replace."""

_MARKER_TEXT = (
    "This folder is a student edition of the book, written by\n"
    "`python -m recsys_lab.classroom BOOK DESTINATION` (`make student`).\n"
    "The next run replaces the whole folder: keep no work of your own in it.\n"
)



class StudentEditionError(ValueError):
    """The student edition cannot be written; nothing was deleted or left half-written."""


class NotABookError(StudentEditionError):
    """The book to copy is not a folder."""


class UnsafeDestinationError(StudentEditionError):
    """The destination could hold or be something this module did not create."""


class SolutionMarkupError(StudentEditionError):
    """A solution's markup is malformed (unbalanced gates, an unclosed block)."""


def _remove_solution_directives(source: str) -> str:
    """Drop every fenced ``{solution}`` block (its fence may be ``` or :::) from markdown."""
    kept, skipping_fence = [], None
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if skipping_fence is None:
            match = DIRECTIVE.match(stripped)
            if match and match.group("name") == "solution":
                skipping_fence = match.group("fence")
                continue
            kept.append(line)
        elif stripped == skipping_fence:
            skipping_fence = None
    if skipping_fence is not None:
        raise SolutionMarkupError("a {solution} block is not closed")
    return "".join(kept)


def _split_at_gate(source: str, gate: str) -> tuple[str, str] | None:
    """Split markdown around a fenced ``{gate}`` block: (text before it, text after it)."""
    lines = source.splitlines(keepends=True)
    for start, line in enumerate(lines):
        match = DIRECTIVE.match(line.strip())
        if match and match.group("name") == gate:
            fence = match.group("fence")
            for end in range(start + 1, len(lines)):
                if lines[end].strip() == fence:
                    return "".join(lines[:start]), "".join(lines[end + 1:])
            raise SolutionMarkupError(f"a {{{gate}}} block is not closed")
    return None


def strip_solutions(notebook: dict) -> dict:
    """Return a copy of a notebook (nbformat 4 JSON) without solutions.

    Text that shares a markdown cell with a gate (before ``{solution-start}``, after
    ``{solution-end}``) is kept. Raises ``SolutionMarkupError`` (a ``ValueError``) if
    the gates do not pair up.
    """
    cells, inside = [], False

    def keep(cell, source):
        if source.strip():
            cells.append({**cell, "source": source})

    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            if not inside:
                cells.append(cell)
            continue
        end = _split_at_gate(source, "solution-end")
        if end is not None:
            if not inside:
                raise SolutionMarkupError("a {solution-end} has no {solution-start}")
            inside, source = False, end[1]
        elif inside:
            if _split_at_gate(source, "solution-start") is not None:
                raise SolutionMarkupError("a {solution-start} opens inside another solution")
            continue
        start = _split_at_gate(source, "solution-start")
        if start is not None:
            inside, source = True, start[0]
        keep(cell, _remove_solution_directives(source))
    if inside:
        raise SolutionMarkupError("a {solution-start} has no {solution-end}")
    return {**notebook, "cells": cells}


def _same_folder(a: Path, b: Path) -> bool:
    """Whether two resolved paths name the same folder (also on case-insensitive disks)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _is_edition(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def _check_destination(book: Path, destination: Path, target: Path) -> None:
    """Raise ``UnsafeDestinationError`` unless ``target`` may become the student edition.

    ``book`` and ``target`` are resolved; ``destination`` is the path as the caller gave it.
    """
    shown = str(destination) if destination == target else f"{destination} ({target})"

    def refuse(reason: str) -> UnsafeDestinationError:
        return UnsafeDestinationError(
            f"refusing to write the student edition to {shown}: {reason}")

    if _same_folder(target, book):
        raise refuse("it is the book itself; choose a new folder outside the book")
    if any(_same_folder(target, folder) for folder in book.parents):
        raise refuse(f"it contains the book {book}, which would be deleted with it; "
                     "choose a new folder outside the book")
    if any(_same_folder(folder, book) for folder in target.parents):
        raise refuse(f"it lies inside the book {book}; choose a new folder outside the book")
    if not target.exists():
        return
    if not target.is_dir():
        raise refuse("it is a file, not a folder")
    if not _is_edition(target) and not _is_empty(target):
        raise refuse(f"it is a folder that is neither empty nor a student edition (it has no "
                     f"{MARKER} file); delete it yourself or choose another destination")


def _build(book: Path, edition: Path) -> list[Path]:
    """Copy ``book`` to the new folder ``edition`` without solutions; return its notebooks."""
    shutil.copytree(book, edition, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebooks = sorted(edition.rglob("*.ipynb"))
    for path in notebooks:
        name = path.relative_to(edition)
        try:
            notebook = strip_solutions(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as error:
            raise StudentEditionError(f"{book / name}: not a notebook ({error})") from error
        except SolutionMarkupError as error:
            raise SolutionMarkupError(f"{book / name}: {error}") from error
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    for path in sorted(edition.rglob("*.md")):
        name = path.relative_to(edition)
        text = path.read_text(encoding="utf-8")
        try:
            if _split_at_gate(text, "solution-start") is not None:
                raise SolutionMarkupError(
                    "gated solutions ({solution-start}) belong in notebooks, not pages")
            text = _remove_solution_directives(text)
        except SolutionMarkupError as error:
            raise SolutionMarkupError(f"{book / name}: {error}") from error
        path.write_text(text, encoding="utf-8")
    (edition / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    return [path.relative_to(edition) for path in notebooks]


def write_student_edition(book: Path, destination: Path) -> list[Path]:
    """Copy ``book`` to ``destination`` with solutions stripped from every notebook and page.

    Returns the notebooks written (the pages are rewritten too). ``destination`` must be a
    new path, an empty folder or a previous student edition (a folder with the ``MARKER``
    file), and neither the book, nor a folder that contains it, nor one inside it; otherwise
    ``UnsafeDestinationError`` is raised and nothing is touched. Malformed solutions raise
    ``SolutionMarkupError`` and leave any previous edition as it was. Both are
    ``ValueError`` subclasses (see the module's docstring for the guarantees).
    """
    book, destination = Path(book), Path(destination)
    if not book.is_dir():
        raise NotABookError(f"{book} is not a folder of notebooks")
    book = book.resolve()
    try:
        target = destination.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a loop of symbolic links
        raise UnsafeDestinationError(f"cannot resolve the destination {destination}: "
                                     f"{error}") from error
    _check_destination(book, destination, target)

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial",
                                 dir=target.parent))
    previous = work / "previous"
    try:
        written = _build(book, work / "edition")
        _check_destination(book, destination, target)  # again: it may have changed meanwhile
        _move_into_place(work / "edition", target, previous)
    except BaseException as error:
        if previous.exists():  # moving the previous edition back failed: keep it
            raise StudentEditionError(
                f"the student edition could not be written to {target} ({error}); the "
                f"previous edition is kept in {previous}") from error
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)  # with the previous edition, if any
    return [destination / name for name in written]


def _move_into_place(edition: Path, target: Path, previous: Path) -> None:
    """Replace ``target`` (absent, empty or a previous edition) by ``edition``.

    The previous edition is moved to ``previous`` (on the same file system) and back if
    the new one cannot take its place.
    """
    if not target.exists():
        os.replace(edition, target)
        return
    os.replace(target, previous)
    try:
        if not (_is_edition(previous) or _is_empty(previous)):
            raise UnsafeDestinationError(
                f"refusing to replace {target}: files were added to it while the student "
                f"edition was being written")
        os.replace(edition, target)
    except BaseException:
        os.replace(previous, target)
        raise


def _write_student_edition_command(args: argparse.Namespace) -> int:
    written = write_student_edition(args.book, args.destination)
    print(f"student edition: {len(written)} notebooks without solutions in "
          f"{args.destination}{os.sep}")
    return 0


def _grade_command(args: argparse.Namespace) -> int:
    from recsys_lab import grade_reports, grading

    if not (args.cell_timeout > 0 and args.notebook_timeout > 0):
        raise GradingError("the time limits must be positive numbers of seconds")
    if not args.submissions.is_dir():
        raise GradingError(f"the submissions {args.submissions} are not a folder")
    grading.graded_chapters(args.book, args.chapter)
    grade_reports.check_outputs(args.out, args.submissions, args.nbgrader_csv)
    report = grading.grade_submissions(
        args.submissions, args.book, chapters=args.chapter or None,
        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
        progress=lambda line: print(line, flush=True))
    grade_reports.write_reports(report, args.out, args.nbgrader_csv)
    for name in report.skipped:
        print(f"skipped (not a notebook or a student's folder): {name}")
    print()
    print(grade_reports.table(report))
    grades, summary, feedback = grade_reports.output_paths(args.out)
    also = f", {args.nbgrader_csv}" if args.nbgrader_csv else ""
    print(f"\n{len(report.students)} students graded in {report.elapsed:.1f} s: {grades}, "
          f"{summary}, {feedback}{os.sep} (a file per student){also}")
    return 0


def _grade_parser() -> argparse.ArgumentParser:
    from recsys_lab import grading

    parser = argparse.ArgumentParser(
        prog="python -m recsys_lab.classroom grade",
        description=grading.__doc__.splitlines()[0],
        epilog="Each notebook runs in a temporary copy, in a kernel of its own; submissions "
               "are never modified. This isolates mistakes, not malicious code: run it in a "
               "container to grade code you do not trust.")
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                        help="one folder, or one .ipynb file, per student")
    parser.add_argument("--out", type=Path, required=True, metavar="GRADES.csv",
                        help="the grades, one row per student and exercise; the summary "
                             "and the feedback folder are written beside it")
    parser.add_argument("--book", type=Path, default=Path("book"), metavar="BOOK",
                        help="the book whose exercises are graded (default: book)")
    parser.add_argument("--chapter", action="append", metavar="CHAPTER",
                        help="grade this chapter (e.g. 01 or 01_data_and_evaluation; may be "
                             "repeated); default: every chapter submitted")
    parser.add_argument("--cell-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="time limit of each cell (default: 300)")
    parser.add_argument("--notebook-timeout", type=float, default=900.0, metavar="SECONDS",
                        help="time limit of each notebook, kernel start included "
                             "(default: 900)")
    parser.add_argument("--nbgrader-csv", type=Path, metavar="FILE",
                        help="also write the grades in the columns of `nbgrader export`")
    parser.set_defaults(command=_grade_command)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recsys_lab.classroom", description=__doc__.splitlines()[0],
        usage="%(prog)s [-h] BOOK DESTINATION\n       %(prog)s grade [-h] SUBMISSIONS "
              "--out GRADES.csv ...",
        epilog=f"DESTINATION must be new, empty, or a previous student edition (a folder with "
               f"a {MARKER} file), outside the book; it is replaced only once the new "
               f"edition is complete. `grade` grades the notebooks students hand back "
               f"(see `%(prog)s grade -h`).")
    parser.add_argument("book", type=Path, metavar="BOOK", help="the book's folder, e.g. book")
    parser.add_argument("destination", type=Path, metavar="DESTINATION",
                        help="the student edition's folder, e.g. student")
    parser.set_defaults(command=_write_student_edition_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (2: refused, 1: failed)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    grade = bool(argv) and argv[0] == "grade"
    parser = _grade_parser() if grade else _parser()
    args = parser.parse_args(argv[1:] if grade else argv)
    try:
        return args.command(args)
    except (NotABookError, UnsafeDestinationError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except GradingError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (StudentEditionError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
