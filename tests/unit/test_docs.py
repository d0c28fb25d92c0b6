"""The documentation's links hold: every relative link names a file that exists, every `#anchor`
a heading of its page, and the README leads to every page of docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "services").glob("*/README.md"),
        *(ROOT / "deploy").glob("*/README.md"),
        *(ROOT / "deploy").glob("*/*/README.md"),
    ]
)
FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[(?:[^\[\]]|`[^`]*`)*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(page: Path) -> str:
    return FENCED_BLOCK.sub("", page.read_text())


def links(page: Path) -> list[str]:
    """The targets of a page's Markdown links, outside code blocks."""
    return LINK.findall(_prose(page))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, dashes)."""
    found: set[str] = set()
    for heading in HEADING.findall(_prose(page)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)


def _named(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_named)
def test_every_relative_link_points_at_a_file_that_exists(page: Path) -> None:
    missing = [
        target
        for target in links(page)
        if _relative(target)
        and (path := target.split("#", 1)[0])
        and not (page.parent / path).exists()
    ]

    assert missing == [], f"{_named(page)} links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_named)
def test_every_anchor_link_points_at_a_heading_of_its_page(page: Path) -> None:
    dead = []
    for target in links(page):
        if not _relative(target) or "#" not in target:
            continue
        path, anchor = target.split("#", 1)
        linked = (page.parent / path) if path else page
        if linked.suffix == ".md" and linked.exists() and anchor not in anchors(linked):
            dead.append(target)

    assert dead == [], f"{_named(page)} links to headings that do not exist: {dead}"


def test_the_readme_leads_to_every_page_of_the_docs() -> None:
    linked = {(ROOT / target.split("#", 1)[0]).resolve() for target in links(ROOT / "README.md")}

    unlinked = [
        _named(page) for page in (ROOT / "docs").glob("*.md") if page.resolve() not in linked
    ]

    assert unlinked == []


def test_headings_become_the_anchors_github_gives_them(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## The tests' servers\n\n```\n## not a heading\n```\n\n## `make k8s-check`\n"
    )

    assert anchors(page) == {"title", "the-tests-servers", "make-k8s-check"}


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[a](a.md) and [`b`](b.md#x)\n\n```\n[c](c.md)\n```\n")

    assert links(page) == ["a.md", "b.md#x"]
