"""The user-facing docs stay a guide: README.md short, with the two set-up commands, and neither it
nor docs/RESULTS.md speaking of the project's bookkeeping (issue numbers, sessions, "this machine")
instead of the software; every relative link in the docs leads to a file and heading that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "RESULTS.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# A reader of the README cannot look up an issue or a session; "this machine" names no hardware.
BOOKKEEPING = re.compile(r"\bissue\s*#?\s*\d+|\bsession\b|\bthis machine\b", re.IGNORECASE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+?)\s*#*$", text, re.MULTILINE)}


def test_slug_matches_github_anchors() -> None:
    assert _slug("Robustness: blur beyond training") == "robustness-blur-beyond-training"
    assert _slug("Small long-tailed profile (FMNIST-LT-Small)") == "small-long-tailed-profile-fmnist-lt-small"


def test_readme_is_short_and_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; measurements belong in docs/RESULTS.md"
    commands = [line.split("#")[0].strip() for line in lines]
    assert "make run" in commands and "make test" in commands, "README must show `make run` and `make test`"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"Makefile has no `{target}` target"


@pytest.mark.parametrize("path", [README, RESULTS], ids=lambda p: p.name)
def test_no_bookkeeping_words(path: Path) -> None:
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if BOOKKEEPING.search(line)]
    assert not hits, f"{path.name} speaks of issues, sessions or 'this machine':\n" + "\n".join(hits)


def test_bookkeeping_pattern_catches_what_it_must() -> None:
    for bad in ("as issue #3 asked", "issue 10 retired it", "in the previous session", "on This Machine"):
        assert BOOKKEEPING.search(bad), bad
    for fine in ("bench/gpu_issue10.sh", "sessions of training", "machine learning"):
        assert not BOOKKEEPING.search(fine), fine


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto: are not checked offline
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{path.name} has broken links:\n" + "\n".join(broken)
