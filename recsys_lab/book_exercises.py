"""Which exercises the book's notebooks hold, and which ``check_*`` grades each one.

An exercise is a ``{exercise}`` directive with a ``:label:`` in a markdown cell of a
chapter notebook. The code cell right after it is the student's cell (with a call to the
check); its gated solution (``{solution-start} LABEL`` … ``{solution-end}``) asserts the
check that accepts the reference answer, ``assert check_name(...)``. That assertion names
the exercise's check. An exercise without one falls back to the checks its student cell
calls, unless a ``{solution}`` block of text answers it: a written question, which is not
graded automatically (its ``checks`` are empty).

Everything is read from the notebooks' JSON: a new chapter's exercises are found without
changing this module. Nothing here imports or runs a notebook.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

#: The opening line of a MyST directive: a fence of backticks or colons, ``{name}``, an argument.
DIRECTIVE = re.compile(r"^\s*(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w-]+)\}\s*(?P<argument>.*)$")
_LABEL = re.compile(r"^\s*:label:\s*(?P<label>\S+)\s*$")
_ASSERTED = re.compile(r"^\s*assert\s+(check_\w+)\s*\(", re.MULTILINE)
_CALLED = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*(check_\w+)\s*\(")
_DEFINED = re.compile(r"\bdef\s+$")


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter.

    ``chapter`` is the notebook's path inside the book without ``.ipynb`` (e.g.
    ``01_data_and_evaluation``); ``checks`` the ``check_*`` functions that grade it (empty
    for a written exercise); ``template`` the source of the code cell handed out with it
    ("" if none).
    """

    chapter: str
    label: str
    title: str
    checks: tuple[str, ...]
    template: str = ""

    @property
    def graded(self) -> bool:
        return bool(self.checks)


def checks_called(source: str) -> list[str]:
    """The ``check_*`` functions a piece of code calls, in order (imports and ``def`` do not).

    >>> checks_called("from m import check_a\\nassert check_a(x)\\nmod.check_b (y)")
    ['check_a', 'check_b']
    """
    return [match.group(1) for match in _CALLED.finditer(source)
            if not _DEFINED.search(source[max(0, match.start() - 8):match.start()])]


def cell_source(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def directives(markdown: str) -> list[tuple[str, str, str]]:
    """The directives opened in a markdown cell: ``(name, argument, label)`` in order.

    ``label`` is the ``:label:`` option of the directive ("" if none);
    ``argument`` the text after ``{name}`` on the opening line.
    """
    found, lines = [], markdown.splitlines()
    for index, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        label = ""
        for option in lines[index + 1:]:
            option_match = _LABEL.match(option)
            if option_match:
                label = option_match.group("label")
                break
            if not option.strip().startswith(":"):
                break
        found.append((match.group("name"), match.group("argument").strip(), label))
    return found


def chapter_exercises(notebook: dict, chapter: str) -> list[Exercise]:
    """The exercises of one notebook (nbformat 4 JSON), in the order they appear."""
    cells = [cell for cell in notebook.get("cells", []) if isinstance(cell, dict)]
    opened: list[tuple[str, str, str]] = []  # (label, title, template), in order
    asserted: dict[str, list[str]] = {}
    written = set()  # labels answered by a {solution} block of text
    solution = None  # the label whose gated solution we are inside
    for index, cell in enumerate(cells):
        source = cell_source(cell)
        if cell.get("cell_type") == "code":
            if solution is not None:
                asserted.setdefault(solution, []).extend(_ASSERTED.findall(source))
            continue
        if cell.get("cell_type") != "markdown":
            continue
        labels = []
        for name, argument, label in directives(source):
            if name == "solution-start":
                solution = argument.split()[0] if argument else None
            elif name == "solution-end":
                solution = None
            elif name == "solution" and argument:
                written.add(argument.split()[0])
            elif name == "exercise" and label:
                labels.append((label, argument))
        following = cells[index + 1] if index + 1 < len(cells) else {}
        for position, (label, title) in enumerate(labels):
            last = position == len(labels) - 1
            template = (cell_source(following) if last and following.get("cell_type") == "code"
                        else "")
            opened.append((label, title, template))
    exercises = []
    for label, title, template in opened:
        checks = asserted.get(label) or ([] if label in written else checks_called(template))
        checks = tuple(dict.fromkeys(checks))
        exercises.append(Exercise(chapter, label, title, checks, template if checks else ""))
    return exercises


def read_exercises(book: Path) -> dict[str, list[Exercise]]:
    """Every chapter notebook under ``book`` that has exercises, mapped to its exercises.

    Chapters are keyed by their path inside the book without ``.ipynb``, in sorted order.
    Raises ``ValueError`` if ``book`` is not a folder or a notebook in it is not JSON.
    """
    book = Path(book)
    if not book.is_dir():
        raise ValueError(f"the book {book} is not a folder of notebooks")
    chapters = {}
    for path in sorted(book.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        chapter = path.relative_to(book).with_suffix("").as_posix()
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a notebook ({error})") from error
        exercises = chapter_exercises(notebook, chapter)
        if exercises:
            chapters[chapter] = exercises
    return chapters
