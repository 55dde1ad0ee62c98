"""The user's documents: README.md stays a short guide, the documents and the code, tests, flagfiles and
Makefile cite only what a reader of this repository can open, and every relative link leads to a file that
exists."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MAX_README_LINES = 300


def documents():
    """README.md, every docs/*.md, benchmarks/README.md and experiments/README.md, as paths relative to the
    repository root."""
    docs = os.path.join(ROOT, "docs")
    names = ["README.md", os.path.join("benchmarks", "README.md"), os.path.join("experiments", "README.md")]
    names += sorted(os.path.join("docs", name) for name in os.listdir(docs) if name.endswith(".md"))
    return names


# Paths outside this repository, internal planning documents and tracker numbers mean nothing to a user.
FORBIDDEN = {
    "a seeds/ path": re.compile(r"seeds/"),
    "DESIGN": re.compile(r"DESIGN"),
    "CONTRACT": re.compile(r"CONTRACT"),
    "an issue number": re.compile(r"(?i)\bissues?\s*#?\d+|(?<![\w&/])#\d+\b"),
}
# What each pattern must catch (test_the_checks_catch_what_they_look_for).
PLANTED = {"a seeds/ path": ["see seeds/001 Tab. 1"], "DESIGN": ["DESIGN 8"], "CONTRACT": ["the CONTRACT says"],
           "an issue number": ["fixed in issue 14 item 7", "as #21 asked"]}
# Matches that are not citations: (file, matched text) -> why.
NOT_CITATIONS = {("tests/test_tables.py", "#1"): "a method name with LaTeX's macro-argument sign, to be escaped"}
# The end of the block above, which is the only place this file may name what it forbids.
OWN_PATTERNS_END = "# The end of the block above"
# The code, tests, flagfiles, scripts and notes a user gets with the repository (what documents() lists is
# checked there). Directories that are not the repository's own: hidden ones, build output, runs.
CODE_SUFFIXES = (".py", ".flags", ".sh", ".md")
NOT_SCANNED = {"__pycache__", "build", "dist", "runs", "demo_output"}
# [text](target): inline Markdown links; the target ends at the first space or closing parenthesis.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_readme_is_a_short_guide():
    with open(README, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move details to docs/"


@pytest.mark.parametrize("name", documents())
def test_no_citation_a_reader_cannot_open(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
        text = handle.read()
    found = [f"{what}: {match.group(0)!r} on line {text.count(chr(10), 0, match.start()) + 1}"
             for what, pattern in FORBIDDEN.items() for match in pattern.finditer(text)]
    assert not found, f"{name}: " + "; ".join(found)


@pytest.mark.parametrize("name", documents())
def test_relative_links_lead_to_files(name):
    path = os.path.join(ROOT, name)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):   # a URL or an anchor in this file
            continue
        file_part = target.split("#", 1)[0]
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), file_part))):
            broken.append(target)
    assert not broken, f"{name}: links to missing files: {', '.join(broken)}"


def code_files():
    """Every *.py, *.flags, *.sh and *.md file and the Makefile of the repository, relative to its root, except
    the documents (checked by test_no_citation_a_reader_cannot_open)."""
    names = []
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith(".")
                                   and name not in NOT_SCANNED and not name.endswith(".egg-info"))
        for name in files:
            if name.endswith(CODE_SUFFIXES) or name == "Makefile":
                names.append(os.path.relpath(os.path.join(directory, name), ROOT))
    documents_ = set(documents())
    return sorted(name for name in names if name not in documents_)


def citations(name, text):
    """'file:line: what 'match'' for each forbidden pattern's match in `text` (the content of file `name`)."""
    if name == os.path.join("tests", "test_docs.py"):   # this file: all but the block that defines the patterns
        start, end = text.index("FORBIDDEN = {"), text.index(OWN_PATTERNS_END)
        text = text[:start] + "\n" * text.count("\n", start, end) + text[end:]
    return [f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {what} {match.group(0)!r}"
            for what, pattern in FORBIDDEN.items() for match in pattern.finditer(text)
            if (name.replace(os.sep, "/"), match.group(0)) not in NOT_CITATIONS]


def test_no_citation_a_reader_cannot_open_in_code():
    """Comments, docstrings, help texts and flagfile headers cite papers by short name (docs/references.md)."""
    names = code_files()
    assert {"Makefile", os.path.join("tests", "test_docs.py"), os.path.join("flags", "demo.flags"),
            os.path.join("physstd", "trace.py")} <= set(names)
    found = []
    for name in names:
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            found += citations(name, handle.read())
    assert not found, "\n".join(found)


def test_the_checks_catch_what_they_look_for():
    """Each pattern fires on a planted example and stays quiet on ordinary prose; the code check sees a planted
    example in any file, this file's own patterns excepted."""
    for what, examples in PLANTED.items():
        for example in examples:
            match = FORBIDDEN[what].search(example)
            assert match, what
            assert citations(os.path.join("flags", "x.flags"), f"--a=1\n# {example}\n") == [
                f"flags/x.flags:2: {what} {match.group(0)!r}"]
            own = f"FORBIDDEN = {{{example!r}: 1}}\n{OWN_PATTERNS_END}\n# {example}\n"
            assert citations(os.path.join("tests", "test_docs.py"), own) == [
                f"tests/test_docs.py:3: {what} {match.group(0)!r}"]
    (name, text), = NOT_CITATIONS
    assert citations(name, f"name = 'A & {text}'") == [] and citations("x.py", f"name = 'A & {text}'")
    for prose in ("the design of the trace", "Tab. 3, Eq. 10 and Sec. 4.4", "[metrics](#metrics)", "&#8212;",
                  "issues a warning"):
        assert not any(pattern.search(prose) for pattern in FORBIDDEN.values()), prose
    assert [m.group(1) for m in LINK.finditer("[a](docs/x.md) and [b](../y.md#z \"t\") [c](https://e.org)")] == [
        "docs/x.md", "../y.md#z", "https://e.org"]
