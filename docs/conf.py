"""Sphinx configuration of pyomp's documentation site (docs/).

Sphinx with MyST Markdown: the pages stay Markdown like the README and ARCHITECTURE.md,
autodoc reads the API reference from the docstrings, and `-W -n` turns every broken
internal link or reference into a failed build (ci/docs.sh). No extension reaches the
network (CI has none): no intersphinx.
"""

project = "pyomp"
author = "the pyomp developers"
copyright = "2026, the pyomp developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# Headings up to level 3 get anchors, so pages link to sections (`page.md#a-section`).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# The tutorial's examples are tested by tests/test_docs_examples.py; these are not pages.
exclude_patterns = ["_build", "README.md"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}

html_theme = "furo"
html_title = "pyomp"
html_static_path = ["_static"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Broken references are errors (`-n`); the C-level and NumPy types docstrings mention
# are not documented here.
nitpick_ignore_regex = [(r"py:class", r"(numpy|numba|ctypes|collections\.abc|typing)\..*")]
# Program output (```output blocks) is set apart from code: custom.css.
html_css_files = ["custom.css"]
