"""Where an interval comes from: its construct's `ident_t` source string (the pass writes
`;file;function;line;column;;` for each construct) read back as file, line, function and
the directive text of the `with openmp(...)` statement on that line."""

import linecache
import os
import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"""openmp(?:_context)?\(\s*[rRuU]?(["'])(.*?)\1""")


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str
    directive: str

    @property
    def where(self):
        """`file.py:12`, the short name a table or a trace shows (a lock routine, which
        names no construct: its name; a construct the pass made, as the wait for a
        function's tasks at its returns: the function)."""
        if self.line == 0:
            return self.file or self.function
        return f"{os.path.basename(self.file)}:{self.line}"

    @property
    def label(self):
        """What the summary and the trace call it: place and directive."""
        if self.line == 0:
            return self.directive or f"{self.function} (implicit)"
        return f"{self.where} {self.directive}".rstrip()


def parse_site(psource):
    """The Site of an ident's psource `;file;function;line;column;;`."""
    parts = psource.split(";")
    file = parts[1] if len(parts) > 1 else "?"
    function = demangle(parts[2]) if len(parts) > 2 else "?"
    try:
        line = int(parts[3])
    except (IndexError, ValueError):
        line = 0
    if line == 0:  # a lock routine (runtime/lock_waits.py writes its name as the file),
        return Site(file, 0, function, file)  # or a construct of the pass's own
    return Site(file, line, function, directive_at(file, line))


#: (file, line) -> the directives of the `with` statements there, as written (the front
#: end registers each one it parses: passes/parse.py)
_WRITTEN = {}


def register_directive(file, line, text):
    """The front end read `text` in a `with openmp(...)` at file:line."""
    texts = _WRITTEN.setdefault((file, line), [])
    if text not in texts:
        texts.append(text)


def directive_at(file, line):
    """The directive of the `with openmp("...")` at `file:line`: as the front end read it
    (two on one line: both, joined by " / "), else (a function loaded from Numba's cache)
    from the source line ('' if not found there: a directive held in a variable, one
    spread over lines, a source file that is gone)."""
    if (file, line) in _WRITTEN:
        return " / ".join(" ".join(t.split()) for t in _WRITTEN[(file, line)])
    text = linecache.getline(file, line) if line > 0 else ""
    m = _DIRECTIVE.search(text)
    return " ".join(m.group(2).split()) if m else ""


def demangle(name):
    """`module.function` of a Numba-mangled name (`_ZN8__main__1fB2v1...`); other names
    as they are (a task's or region's outlined function keeps its parent's name)."""
    if not name.startswith("_ZN"):
        return name
    parts, i = [], 3
    while i < len(name) and name[i].isdigit():
        j = i
        while j < len(name) and name[j].isdigit():
            j += 1
        n = int(name[i:j])
        parts.append(name[j:j + n])
        i = j + n
    return ".".join(parts) if parts else name
