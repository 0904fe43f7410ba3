"""The documentation can be followed from inside the repository.

- Every relative link in README.md and docs/ (and in the other Markdown files, such as the
  emulator's README) points to a file (or folder) of the repository, and a link to a heading
  (`file.md#heading`) to a heading that file has.
- Every path that README.md and docs/ name in code (`tap_helpscout/api/client.py`,
  `tests/emulator/`, `readers/keyset.py`, ...) exists.
- No file cites the private reference notes the project was built from (their file names, their
  folder, or their bracketed source tags such as `[D-…]`): a reader of the repository cannot
  follow them. docs/sources.md names the public sources instead.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Folders that are not part of the repository's content (tools, caches, build and run output).
SKIPPED_DIRS = {".git", ".venv", ".venvs", ".bench", ".pytest_cache", ".meltano", "build", "dist",
                "demo-output", "output", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".json", ".conf", ""}

# The reference notes' file names and folder, and their source tags. Written so that this file
# does not match itself.
REFERENCE_FILES = ("helpscout-api", "helpscout-reports", "helpscout-docs-api", "singer-notes",
                   "stitch-helpscout-v1", "tables")
CITATION = re.compile(
    r"\b(?:" + "|".join(re.escape(name) for name in REFERENCE_FILES) + r")\.(?:md|txt)\b"
    r"|shared/" + r"reference"
    r"|\[(?:D-[A-Z0-9-]+|TAP|PHP|PHP#[0-9]+|AIRBYTE|V1|V2|HS-KB|KONG|LW|HSCLI|NODE|PY2|HC-PR|HSNET)\]"
    r"|\bD-(?:AUTH|RATE|PAGE|ERR|CONV|THR3?|CUST3?|ORGCONV|ORGCUST|MBX|FIELDS|USERS|WF|HRR|UHD"
    r"|RATING|WH|SNOOZE|LLMS|V1)\b")
# The one page that may name sources by tag-like names: it lists them with their addresses.
CITATIONS_ALLOWED = {"docs/sources.md"}
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
# Code spans that name a path of the repository: from its root, within the package, or a module
# by its file name alone (`streams.py`: at the root or anywhere in the package).
PATH_SPAN = re.compile(r"^(?:tap_helpscout|tests|docs)/[\w./*-]*$|^(?:cli|sync|api|readers)/[\w/]+\.py$"
                       r"|^\w+\.py$")


def relative(path):
    return path.relative_to(ROOT).as_posix()


def prose(text):
    """`text` without its fenced code blocks (their `#` lines are not headings, their
    brackets not links)."""
    return FENCE.sub("", text)


def slug(heading, seen):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, and
    `-1`, `-2`, ... for repeats."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # a link's text only
    base = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def anchors(path):
    seen = {}
    return {slug(h, seen) for h in HEADING.findall(prose(path.read_text(encoding="utf-8")))}


def links(path):
    text = CODE_SPAN.sub("", prose(path.read_text(encoding="utf-8")))
    return LINK.findall(text)


def repository_files():
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts[:-1]):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Makefile"):
            yield path


def markdown_files():
    return sorted({*DOCS, *(p for p in repository_files() if p.suffix == ".md")})


@pytest.mark.parametrize("doc", markdown_files(), ids=relative)
def test_every_relative_link_leads_to_a_file_and_heading_of_the_repository(doc):
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):          # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (doc.parent / file_part).resolve() if file_part else doc
        if ROOT not in destination.parents and destination != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: {relative(destination)} has no heading #{anchor}")
    assert not broken, f"{relative(doc)}: " + "; ".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=relative)
def test_every_path_named_in_code_exists(doc):
    missing = []
    for span in CODE_SPAN.findall(prose(doc.read_text(encoding="utf-8"))):
        if not PATH_SPAN.match(span):
            continue
        if span.startswith(("tap_helpscout/", "tests/", "docs/")):
            candidates = [span]
        elif "/" not in span:
            candidates = [span, "tap_helpscout/**/" + span]
        elif span.startswith("readers/"):
            candidates = ["tap_helpscout/sync/" + span]
        else:
            candidates = ["tap_helpscout/" + span]
        if not any(list(ROOT.glob(c.rstrip("/"))) for c in candidates):
            missing.append(span)
    assert not missing, f"{relative(doc)} names paths that do not exist: {', '.join(missing)}"


def test_the_docs_have_an_architecture_and_a_sources_page():
    assert (ROOT / "docs" / "design" / "architecture.md").is_file()
    assert (ROOT / "docs" / "sources.md").is_file()


def test_no_file_cites_the_private_reference_notes():
    found = {}
    for path in repository_files():
        name = relative(path)
        if name in CITATIONS_ALLOWED:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits = [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}" for m in CITATION.finditer(text)]
        if hits:
            found[name] = hits
    assert not found, ("cite docs/sources.md, or the public page itself, instead of the reference notes: "
                       + "; ".join(f"{name} ({', '.join(hits)})" for name, hits in sorted(found.items())))
