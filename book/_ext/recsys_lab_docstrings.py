"""Render recsys_lab's docstrings on the package reference pages (book/package*.md).

The package writes its docstrings for ``help()`` and ``Model?`` in JupyterLab: plain text
with RST literals, sections underlined with dashes, and entries written ``name : what it
is`` on one line, continued on indented lines (parameters, returned values, a dataclass's
fields). Read as reStructuredText, an underlined heading inside a docstring is an error and
an entry's continuation an unexpected indentation; numpydoc's parser would read each
description as a type. So, before autodoc parses a docstring, each underlined heading
becomes a rubric, and each block of entries (under such a heading, or a paragraph whose
first line is one) a definition list: the names as the term, the description as the
definition. Everything else is left as written, except that reStructuredText's standalone
e-mail addresses are undone where they are metric names: ``NDCG@10`` is not ``mailto:``.
"""

from __future__ import annotations

import re

from docutils import nodes

_METRIC = re.compile(r"^[A-Za-z][\w-]*@\d+$")
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
#: ``name : text`` or ``a, b : text``: identifiers before a spaced colon.
_ENTRY = re.compile(r"^(?P<names>[*`\w.]+(?:,\s*[*`\w.]+)*)\s+:\s+(?P<text>.*)$")
#: Where a second entry starts on the same line: ``a : (n,);  b : (m,)``.
_NEXT_ENTRY = re.compile(r"(?<=[;.])\s+(?=[*`\w.]+(?:,\s*[*`\w.]+)*\s+:\s)")
#: Headings whose blocks are entries; under any other the text is prose.
_ENTRY_SECTIONS = ("Parameters", "Returns", "Attributes", "Raises", "Yields")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _entries(block: list[str]) -> list[str]:
    """A block of entries as an RST definition list.

    A line at the block's indentation starts an entry when it is ``names : text``, or when
    the line after it is indented further (a numpydoc-style type, e.g. ``ValueError``);
    any other line continues the entry above.
    """
    base = _indent(block[0])
    out: list[str] = []
    for k, line in enumerate(block):
        match = _ENTRY.match(line.strip())
        indented_next = k + 1 < len(block) and _indent(block[k + 1]) > base
        starts = _indent(line) <= base and (match or indented_next or not out)
        if not starts:
            out.append(" " * (base + 4) + line.strip())
            continue
        if not match:
            out.append(" " * base + f"**{line.strip()}**")  # its definition: what follows
            continue
        for entry in _NEXT_ENTRY.split(line.strip()):
            names, text = _ENTRY.match(entry).group("names", "text")
            out += [" " * base + f"**{names}**", " " * (base + 4) + text.rstrip(";")]
    return out


def _paragraph(lines: list[str], i: int) -> list[str]:
    block = []
    while i < len(lines) and lines[i].strip():
        block.append(lines[i])
        i += 1
    return block


def rewrite(lines: list[str]) -> list[str]:
    """The docstring's lines with its sections and entries made valid reStructuredText."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        starts_paragraph = line.strip() and (i == 0 or not lines[i - 1].strip())
        if (line.strip() and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1])
                and len(lines[i + 1].strip()) >= len(line.strip())):
            out += [" " * _indent(line) + f".. rubric:: {line.strip()}", ""]
            block = _paragraph(lines, i + 2)
            if block and line.strip().startswith(_ENTRY_SECTIONS):
                out += _entries(block)
            else:
                out += block
            i += 2 + len(block)
        elif starts_paragraph and i > 0 and _ENTRY.match(line.strip()):
            block = _paragraph(lines, i)
            out += _entries(block)
            i += len(block)
        else:
            out.append(line)
            i += 1
    return out


def _process(app, what, name, obj, options, lines):
    lines[:] = rewrite(lines)


def _unlink_metrics(app, doctree):
    for link in list(doctree.findall(nodes.reference)):
        if link.get("refuri", "").startswith("mailto:") and _METRIC.match(link.astext()):
            link.replace_self(nodes.Text(link.astext()))


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    app.connect("doctree-read", _unlink_metrics)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
