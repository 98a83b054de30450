#!/usr/bin/env python3
"""Keeps the docs' code examples equal to code that runs, and their links alive.

The Markdown files (README.md, CONTRIBUTING.md, docs/*.md) mark a code block taken from a
tested file with an HTML comment on the line right before its fence:

    <!-- snippet: tests/docs/python/basics.py#basics -->
    ```python
    ...
    ```

The block must equal the region of that file between the lines `START basics` and
`END basics` (each in a comment of the file's language: `#`, `//`, `/*`, `<!--`), with
other markers inside the region left out and the region's common indentation removed;
the comparison is otherwise whitespace-exact. `tests/docs/run.sh` runs those files.

Checked, each failure printed as FILE:LINE: what is wrong:
- every marked block equals its region (`--fix` rewrites the blocks from the sources);
- every fenced block names a language, and a block in a language that runs (Python,
  JavaScript, TypeScript, shell, C, Rust) is marked, or says why not with
  `<!-- not-tested: reason -->` right before its fence;
- every region under tests/docs/ is shown by some document (a region nobody shows is a
  test of nothing the reader sees);
- every relative link and image resolves to a file, and a `#fragment` on a Markdown
  target to one of its headings.

Stdlib only: `python3 scripts/check-doc-snippets.py [--fix]`, from any directory.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = {
    "python", "py", "javascript", "js", "mjs", "cjs", "typescript", "ts", "mts", "cts",
    "bash", "sh", "shell", "zsh", "c", "rust", "rs",
}
SNIPPET = re.compile(r"^<!--\s*snippet:\s*(\S+?)#([\w.-]+)\s*-->\s*$")
NOT_TESTED = re.compile(r"^<!--\s*not-tested:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^\s`]*)")
MARKER = re.compile(r"^\s*(?:#|//|/\*|<!--)\s*(START|END)\s+([\w.-]+)\b")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SNIPPET_DIR = "tests/docs"


def documents() -> list[Path]:
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    docs += sorted((ROOT / "docs").glob("*.md"))
    return [d for d in docs if d.exists()]


def regions(path: Path) -> dict[str, str]:
    """Every START/END region of a file, markers inside a region left out, dedented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    open_at: dict[str, int] = {}
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        kind, name = m.groups()
        if kind == "START":
            open_at[name] = i
        elif name in open_at:
            body = [l for l in lines[open_at.pop(name) + 1 : i] if not MARKER.match(l)]
            found[name] = textwrap.dedent("\n".join(body) + "\n")
    return found


def slug_set(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings."""
    seen: dict[str, int] = {}
    anchors = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not m:
            continue
        text = re.sub(r"[^\w\- ]", "", m.group(1).lower().replace("`", ""))
        base = text.replace(" ", "-")
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchors.add(base if n == 0 else f"{base}-{n}")
    return anchors


class Checker:
    def __init__(self, fix: bool) -> None:
        self.fix = fix
        self.errors: list[str] = []
        self.used: set[tuple[str, str]] = set()
        self.cache: dict[Path, dict[str, str]] = {}

    def error(self, doc: Path, line: int, what: str) -> None:
        self.errors.append(f"{doc.relative_to(ROOT)}:{line}: {what}")

    def region(self, src: str, name: str) -> str | None:
        path = (ROOT / src).resolve()
        if not path.is_file():
            return None
        if path not in self.cache:
            self.cache[path] = regions(path)
        return self.cache[path].get(name)

    def document(self, doc: Path) -> None:
        lines = doc.read_text(encoding="utf-8").splitlines(keepends=True)
        out: list[str] = []
        i = 0
        changed = False
        while i < len(lines):
            line = lines[i]
            fence = FENCE.match(line)
            if not fence:
                self.links(doc, i + 1, line)
                out.append(line)
                i += 1
                continue
            # A fenced block: find its end and the comment right before it.
            ticks, lang = fence.group(1), fence.group(2).lower()
            end = i + 1
            while end < len(lines) and not lines[end].startswith(ticks):
                end += 1
            if end == len(lines):
                self.error(doc, i + 1, "code fence never closed")
                out.extend(lines[i:])
                break
            prev = out[-1].strip() if out else ""
            body = "".join(lines[i + 1 : end])
            snippet, untested = SNIPPET.match(prev), NOT_TESTED.match(prev)
            if not lang:
                self.error(doc, i + 1, "code block without a language (```text for plain text)")
            if snippet:
                src, name = snippet.groups()
                self.used.add((src, name))
                want = self.region(src, name)
                if want is None:
                    self.error(doc, i, f"snippet {src}#{name}: no such file or region")
                elif body != want:
                    if self.fix:
                        body = want
                        changed = True
                    else:
                        self.error(
                            doc, i + 1,
                            f"block differs from {src}#{name} (run scripts/check-doc-snippets.py --fix)",
                        )
            elif untested:
                if not untested.group(1):
                    self.error(doc, i, "not-tested needs a reason")
            elif lang in RUNNABLE:
                self.error(
                    doc, i + 1,
                    f"```{lang} block is neither a snippet of a tested file "
                    "(<!-- snippet: tests/docs/FILE#REGION -->) nor <!-- not-tested: reason -->",
                )
            out.append(line)
            out.append(body)
            out.append(lines[end])
            i = end + 1
        if changed:
            doc.write_text("".join(out), encoding="utf-8")
            print(f"rewrote {doc.relative_to(ROOT)}")

    def links(self, doc: Path, line_no: int, line: str) -> None:
        text = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                self.error(doc, line_no, f"link to {target}: no such file")
            elif fragment and dest.suffix == ".md" and fragment not in slug_set(dest):
                self.error(doc, line_no, f"link to {target}: no such heading in {dest.name}")

    def unused_regions(self) -> None:
        for path in sorted((ROOT / SNIPPET_DIR).rglob("*")):
            if not path.is_file() or path.suffix in (".md", ".pyc"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            for name in regions(path):
                if (rel, name) not in self.used:
                    self.errors.append(f"{rel}: region {name} is shown by no document")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="rewrite marked blocks from their sources")
    args = parser.parse_args()
    checker = Checker(args.fix)
    for doc in documents():
        checker.document(doc)
    checker.unused_regions()
    for e in checker.errors:
        print(e, file=sys.stderr)
    if checker.errors:
        print(f"check-doc-snippets: {len(checker.errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-doc-snippets: {len(documents())} documents, {len(checker.used)} snippets, links ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
