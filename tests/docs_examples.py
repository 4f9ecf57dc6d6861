"""The code examples of the documentation site (docs/**/*.md), as test cases.

A page's examples are its fenced code blocks, read with markdown-it (MyST's own parser):

- a ```python block is a whole program: it is run in a fresh interpreter;
- a ```c block preceded by an `<!-- example ... -->` comment is compiled with OpenMP and run;
- an ```output block right after either is what the program prints; it is compared with
  doctest's ELLIPSIS rule (`...` stands for any text: timings, addresses, paths).

An `<!-- example: threads=4 sorted stderr exit=1 timeout=120 compiler=clang -->` comment
right before a program sets how it runs: OMP_NUM_THREADS (4 by default: the outputs shown
were printed at 4 threads), `sorted` (lines compared in sorted order: one line per thread in
whatever order the threads print), `stderr` (stderr is compared too, after stdout),
`exit=N` (the exit status expected; 0 by default), `timeout=S`, `ranks=N` (run under
`mpiexec -n N python -m mpi4py`: an MPI program).

Other fence languages (bash, text, cython, ...) are shown, not run; a Python example in any
other spelling (py, python3, pycon, ipython) is refused, so none escapes the tests.
"""

import dataclasses
import pathlib
import re

from markdown_it import MarkdownIt

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
RUN_LANGUAGES = {"python", "c"}
UNTESTED_PYTHON = {"py", "python3", "pycon", "ipython", "py3"}
_OPTION = re.compile(r"<!--\s*example:?(.*?)-->", re.S)


@dataclasses.dataclass
class Example:
    page: str
    line: int
    language: str
    code: str
    output: str | None = None
    threads: int = 4
    sorted: bool = False
    stderr: bool = False
    exit: int = 0
    timeout: int = 180
    compiler: str = "gcc"
    ranks: int = 0  # > 0: an MPI program, run by mpiexec with this many ranks

    @property
    def id(self):
        return f"{self.page}:{self.line}"


def pages():
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def _apply_options(example, text):
    for word in text.replace(",", " ").split():
        key, _, value = word.partition("=")
        if key in ("sorted", "stderr"):
            setattr(example, key, True)
        elif key in ("threads", "exit", "timeout", "ranks"):
            setattr(example, key, int(value))
        elif key == "compiler":
            example.compiler = value
        else:
            raise ValueError(f"{example.id}: unknown example option {word!r}")


def examples_of(path):
    """The runnable examples of one page, each with its expected output if it shows one."""
    page = str(path.relative_to(DOCS))
    tokens = MarkdownIt("commonmark").parse(path.read_text())
    found, options, last_was_code = [], None, False
    for token in tokens:
        if token.type == "html_block" and _OPTION.search(token.content):
            options = _OPTION.search(token.content).group(1)
            continue
        if token.type != "fence":
            options = None
            continue
        language = token.info.split()[0] if token.info.strip() else ""
        if language in UNTESTED_PYTHON:
            raise ValueError(f"{page}:{token.map[0] + 1}: write Python examples as ```python")
        if language == "output" and found and found[-1].output is None and last_was_code:
            found[-1].output = token.content
        elif language == "python" or (language == "c" and options is not None):
            example = Example(page, token.map[0] + 1, language, token.content)
            _apply_options(example, options or "")
            found.append(example)
        last_was_code = language in RUN_LANGUAGES
        options = None
    return found


def all_examples():
    return [example for page in pages() for example in examples_of(page)]
