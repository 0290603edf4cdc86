"""Work around Sphinx 7.4's double inline scripts (fixed upstream in sphinx-doc/sphinx#13402)."""
from sphinx.builders.html import StandaloneHTMLBuilder

_add_js_file = StandaloneHTMLBuilder.add_js_file


def _add_js_file_once(self, filename, **kwargs):
    # Sphinx.add_js_file passes None for an inline script, init_js_files passes '':
    # the duplicate check then misses and the <script> is written twice.
    return _add_js_file(self, filename or "", **kwargs)


def setup(app):
    StandaloneHTMLBuilder.add_js_file = _add_js_file_once
    return {"parallel_read_safe": True, "parallel_write_safe": True}
