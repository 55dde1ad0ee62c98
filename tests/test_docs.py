"""The user's documents: README.md stays a short guide, the documents cite only what a reader of this repository
can open, and every relative link leads to a file that exists."""
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


def test_the_checks_catch_what_they_look_for():
    """Each pattern fires on a planted example and stays quiet on ordinary prose."""
    planted = {"a seeds/ path": "see seeds/001 Tab. 1", "DESIGN": "DESIGN 8", "CONTRACT": "the CONTRACT says",
               "an issue number": "fixed in issue 14 item 7"}
    for what, example in planted.items():
        assert FORBIDDEN[what].search(example), what
    assert FORBIDDEN["an issue number"].search("as #21 asked")
    for prose in ("the design of the trace", "Tab. 3, Eq. 10 and Sec. 4.4", "[metrics](#metrics)", "&#8212;",
                  "issues a warning"):
        assert not any(pattern.search(prose) for pattern in FORBIDDEN.values()), prose
    assert [m.group(1) for m in LINK.finditer("[a](docs/x.md) and [b](../y.md#z \"t\") [c](https://e.org)")] == [
        "docs/x.md", "../y.md#z", "https://e.org"]
