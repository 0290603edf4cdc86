"""A chapter shows its Keras model as code the reader can edit and retrain, and that code is
the package's own (issue "Every number in the prose comes from the run", Teaching).

A code cell that writes out a function or class of ``recsys_lab`` names it in its metadata,
``"recsys_lab": {"same_as": ["recsys_lab.models.ncf.neumf_network", ...]}``, and defines it
under the same name. This test keeps the two identical, up to comments and docstrings, so
the book cannot teach a network that the library no longer trains. The chapter then
retrains the cell's version through the model's ``build_network()`` override.
"""

import ast
import importlib.util
import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
#: Chapters with a Keras model, each of which writes at least one out as editable code.
EDITABLE = ("02_matrix_factorization", "03_neural_cf", "04_autoencoders",
            "05_content_cold_start", "06_rnn_sequences", "07_attention", "08_gans",
            "09_graph_networks", "10_feature_models")


def _code_cells(name: str) -> list[dict]:
    notebook = json.loads((BOOK / f"{name}.ipynb").read_text())
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _same_as(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("recsys_lab", {}).get("same_as", [])


def _without_docstrings(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            child.body = body[1:] or [ast.Pass()]
    return node


def _definition(tree: ast.AST, name: str) -> ast.AST | None:
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node
    return None


def package_definition(dotted: str) -> ast.AST:
    """The AST of ``recsys_lab.module.name`` (a top-level function or class), read from
    its source file without importing it."""
    module, _, name = dotted.rpartition(".")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(f"no module {module!r}")
    node = _definition(ast.parse(Path(spec.origin).read_text()), name)
    if node is None:
        raise LookupError(f"{module} defines no top-level {name!r}")
    return node


def same_code(cell_source: str, dotted: str) -> bool:
    """Whether the cell defines ``dotted``'s last name with the package's code, up to
    comments and docstrings."""
    node = _definition(ast.parse(cell_source), dotted.rpartition(".")[2])
    if node is None:
        return False
    return (ast.dump(_without_docstrings(node))
            == ast.dump(_without_docstrings(package_definition(dotted))))


def test_same_code_ignores_comments_and_docstrings_but_not_code():
    package = "recsys_lab.models.ncf.dot_product_network"
    source = ast.get_source_segment(
        Path(importlib.util.find_spec("recsys_lab.models.ncf").origin).read_text(),
        package_definition(package))
    lines = source.splitlines()
    edited = "\n".join([lines[0], "    # a reader's note", *lines[1:]])
    assert same_code(edited, package)
    assert not same_code(edited.replace('"user_embedding"', '"users"'), package)
    assert not same_code("x = 1", package)


@pytest.mark.parametrize("name", EDITABLE)
def test_a_chapter_writes_out_a_model_the_package_trains(name):
    cells = [cell for cell in _code_cells(name) if _same_as(cell)]
    assert cells, f"{name} has no editable model cell (metadata recsys_lab.same_as)"
    for cell in cells:
        source = "".join(cell["source"])
        for dotted in _same_as(cell):
            assert same_code(source, dotted), (
                f"{name}: the cell's {dotted.rpartition('.')[2]} differs from {dotted}")


@pytest.mark.parametrize("name", EDITABLE)
def test_a_chapter_shows_code_as_code_not_printed_source(name):
    printed = [cell["id"] for cell in _code_cells(name)
               if "getsource" in "".join(cell["source"])]
    assert not printed, f"{name} prints source text in cells {printed}"
