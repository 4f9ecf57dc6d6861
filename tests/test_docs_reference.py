"""The directive reference (docs/reference/directives.md) does not drift from the parser.

- every construct the grammar spells (the `construct:` alternatives and the other directive
  rules: critical, atomic, flush, ...) has a row in a `| construct | clauses |` table of the
  page's "Constructs" section, and those rows list exactly the clauses checks.py accepts
  on that construct (ALLOWED_CLAUSES, OpenMP 5.2's table);
- every clause the grammar knows has a `### ` heading naming it in backticks in the page's
  "Clauses" section.

The expectations come from grammar.lark and checks.py, never from a copy.
"""

import pathlib
import re

from pyomp.directives.checks import ALLOWED_CLAUSES, CLAUSE_NAMES, CONSTRUCTS

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "reference" / "directives.md").read_text()
GRAMMAR = (ROOT / "numba_ext" / "pyomp" / "directives" / "grammar.lark").read_text()


def _rule(name):
    """The body of grammar rule `name` (after its colon, up to the next rule)."""
    m = re.search(rf"^[?!]?{name}:(.*?)(?=^\S|\Z)", GRAMMAR, re.M | re.S)
    return re.sub(r"//[^\n]*", "", m.group(1))


def _words(text):
    return " ".join(re.findall(r'"(\w+)"', text))


def grammar_constructs():
    found = {_words(alt) for alt in _rule("construct").split("|")}
    for name in _rule("directive").split("|"):
        name = name.strip()
        if name != "plain":  # critical, atomic, ...: the keywords the rule starts with
            found.add(_words(re.match(r'\s*((?:"\w+"\s*)+)', _rule(name)).group(1)))
    return found


def grammar_clauses():
    """First keyword of each alternative aliased to a clause (`-> c_...`); an alternative
    that is a rule (memory_order) stands for that rule's keywords."""
    found = set()
    for alt in re.findall(r"^(?:\S+:|\s*\|)\s*(.*->\s*c_\w+)", GRAMMAR, re.M):
        keyword = re.match(r'"(\w+)"', alt)
        found |= {keyword.group(1)} if keyword else set(_words(_rule(alt.split()[0])).split())
    return found


def section(title):
    return re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", PAGE, re.M | re.S).group(1)


def documented_clause_lists():
    """{construct: [clauses]} from the `| construct | clauses |` tables of "Constructs"."""
    rows = {}
    for table in re.findall(r"^\| construct \| clauses \|\n\|---\|---\|\n((?:\|.*\n)+)",
                            section("Constructs"), re.M):
        for row in table.splitlines():
            construct, clauses = (cell.strip() for cell in row.strip("|").split("|"))
            name = re.fullmatch(r"`([\w ]+)`", construct).group(1)
            assert name not in rows, f"{name!r} has two rows"
            rows[name] = re.findall(r"`(\w+)`", clauses)
    return rows


def test_directives_grammar_and_checks_agree():
    assert grammar_constructs() == set(CONSTRUCTS)
    assert grammar_clauses() == set(CLAUSE_NAMES)


def test_directives_page_lists_every_construct_with_its_clauses():
    rows = documented_clause_lists()
    constructs = grammar_constructs()
    assert not constructs - rows.keys(), f"constructs without a row: {constructs - rows.keys()}"
    assert not rows.keys() - constructs, f"rows of no construct: {rows.keys() - constructs}"
    for construct, clauses in rows.items():
        accepted = set(ALLOWED_CLAUSES[construct])
        assert set(clauses) == accepted, (
            f"{construct}: missing {accepted - set(clauses)}, extra {set(clauses) - accepted}")


def test_directives_page_has_an_entry_per_clause():
    headings = re.findall(r"^### (.*)$", section("Clauses"), re.M)
    named = {word for h in headings for word in re.findall(r"`(\w+)`", h)}
    assert sorted(grammar_clauses() - named) == []
