"""Check the relative links and #anchors of the repository's Markdown files.

    python -m tools.check_links [FILE.md ...]   # default: every tracked *.md; exit 1 on a broken one

A link ``[text](path)``, ``[text](path#anchor)`` or ``[text](#anchor)`` must name a file or folder that
exists (relative to the page), and an anchor must be a heading of the target page, spelled as GitHub
spells heading ids (lower case, punctuation dropped, spaces as hyphens, "-1", "-2" for repeats).
Links with a scheme (https:, mailto:) are not fetched. Fenced code blocks and inline code are skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str):
    """(line number, line) of the lines outside fenced code blocks, inline code blanked."""
    fence = None
    for no, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            yield no, re.sub(r"`[^`]*`", lambda c: " " * len(c.group()), line)


def slug(heading: str) -> str:
    """GitHub's id for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading id of a Markdown file, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    out = set()
    fence = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _FENCE.match(line)
        if m:
            fence = m.group(1) if fence is None else (None if m.group(1) == fence else fence)
            continue
        h = _HEADING.match(line) if fence is None else None
        if h:
            base = slug(h.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(page: Path) -> list[str]:
    """'page:line: target (why)' for each relative link or anchor of `page` that does not resolve."""
    problems = []
    cache: dict[Path, set[str]] = {}
    for no, line in _prose_lines(page.read_text(encoding="utf-8")):
        for m in _LINK.finditer(line):
            target = m.group(1)
            if _SCHEME.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            where = f"{_show(page)}:{no}: {target}"
            if not dest.exists():
                problems.append(f"{where} (no such file)")
                continue
            if anchor and dest.suffix == ".md":
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if anchor not in cache[dest]:
                    problems.append(f"{where} (no heading #{anchor} in {_show(dest)})")
    return problems


def tracked_pages() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / p for p in out.split()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pages = [Path(a).resolve() for a in args] or tracked_pages()
    problems = [p for page in pages for p in broken_links(page)]
    for p in problems:
        print(p)
    print(f"{len(pages)} pages, {len(problems)} broken links", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
