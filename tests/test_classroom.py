"""The student edition keeps every exercise and its check, and no solution survives."""

import json
import re
from pathlib import Path

import pytest

from recsys_lab.classroom import strip_solutions, write_student_edition

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
