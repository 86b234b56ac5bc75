"""The documentation's links resolve, every selector has one card marker, and no prose names a
commit of this repository (history belongs in CHANGELOG.md, stated as changes)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchsuite.selectors.registry import SELECTORS

ROOT = Path(__file__).resolve().parent.parent
# [text](target) and [text](target "title"); images too. Targets with a scheme are not files.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEX = re.compile(r"\b[0-9a-f]{7,40}\b")
FENCE = re.compile(r"^(```|~~~)")


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += sorted((ROOT / "results").rglob("README.md"))
    return [p for p in pages if p.is_file()]


def _prose(text: str) -> str:
    """The text outside fenced code blocks (commands there may name real files that a reader
    makes, such as DIR)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def relative_links(text: str) -> list[str]:
    """Every link target in markdown prose that names a file of this repository."""
    found = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue                                        # http:, mailto:, doi:, same-page anchor
        found.append(target.split("#", 1)[0])
    return found


def broken_links(page: Path) -> list[str]:
    return [t for t in relative_links(page.read_text(encoding="utf-8"))
            if not (page.parent / t).exists()]


def test_link_parser_finds_files_and_skips_urls_anchors_and_code():
    text = ("see [a](docs/a.md#x), ![img](p.png) and [u](https://x.org/y.md), [s](#here)\n"
            "```bash\n[not](inside/code.md)\n```\n[t](c.md \"title\")")
    assert relative_links(text) == ["docs/a.md", "p.png", "c.md"]


def test_broken_link_is_reported(tmp_path):
    (tmp_path / "here.md").write_text("x")
    page = tmp_path / "README.md"
    page.write_text("[ok](here.md#part) [gone](missing/file.md)")
    assert broken_links(page) == ["missing/file.md"]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)} links to missing files"


def test_every_selector_has_one_card_in_one_docs_page():
    pages = sorted((ROOT / "docs").glob("*.md"))
    texts = {p.name: p.read_text(encoding="utf-8") for p in pages}
    problems = []
    for name in SELECTORS.names():
        begin, end = f"<!-- card:{name}:begin -->", f"<!-- card:{name}:end -->"
        where = [page for page, text in texts.items() if begin in text]
        count = sum(text.count(begin) for text in texts.values())
        if len(where) != 1 or count != 1:
            problems.append(f"{name}: begin marker in {where or 'no page'} ({count}x)")
        elif texts[where[0]].count(end) != 1 or texts[where[0]].index(end) < texts[where[0]].index(begin):
            problems.append(f"{name}: no matching end marker after the begin in {where[0]}")
    assert problems == []


def _is_commit(token: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{token}^{{commit}}"], cwd=ROOT,
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="no git or no .git: commits cannot be looked up")
def test_no_prose_names_a_commit_of_this_repository():
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("git cannot read this repository")
    assert _is_commit(head.stdout.strip()), "the lookup must recognise HEAD's short hash"
    found = []
    for page in _pages():
        tokens = set(HEX.findall(page.read_text(encoding="utf-8")))
        found += [f"{page.relative_to(ROOT)}: {t}" for t in sorted(tokens) if _is_commit(t)]
    assert found == []
