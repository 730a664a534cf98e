"""The user documentation: README.md and docs/*.md.

Links lead somewhere, the README stays short, the pages speak of the product (no development
history), and docs/configuration.md is what tools/config_reference.py prints from config.py.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)  # fenced code blocks: their '#' lines are no headings
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
LINE_ANCHOR = re.compile(r"L(\d+)(?:-L(\d+))?")  # GitHub's anchor for a line or lines of a file
HISTORY = re.compile(r"session|issue #|#[0-9]+\b", re.I)  # grep -rniE "session|issue #|#[0-9]+\b"


def prose(path: Path) -> str:
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation except '-' and spaces dropped, spaces -> '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for heading in HEADING.findall(prose(path)):
        base = anchor(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")  # repeated headings get -1, -2, ...
        seen[base] = count + 1
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)]  # http:, https:, mailto: ...


def lines_exist(path: Path, fragment: str) -> bool:
    """A GitHub line anchor into a source file, ``L5`` or ``L5-L9``, whose lines are there."""
    match = LINE_ANCHOR.fullmatch(fragment)
    if not match or path.is_dir():
        return False
    first, last = int(match[1]), int(match[2] or match[1])
    return 1 <= first <= last <= len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_lead_to_files_and_headings(page):
    broken = []
    for target in relative_links(page):
        file_part, _, fragment = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if ROOT in dest.parents else dest}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading '#{fragment}' in {dest.relative_to(ROOT)}")
        elif fragment and dest.suffix != ".md" and not lines_exist(dest, fragment):
            broken.append(f"{target}: '#{fragment}' is not a line or line range (#L5, #L5-L9) of "
                          f"{dest.relative_to(ROOT)}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; at most {MAX_README_LINES}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_development_history(page):
    hits = [f"line {n}: {line.strip()}" for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
            if HISTORY.search(line)]
    assert not hits, f"{page.name} speaks of development history:\n" + "\n".join(hits)


def test_configuration_page_matches_config_py():
    printed = subprocess.run([sys.executable, str(ROOT / "tools" / "config_reference.py")], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == printed, ("docs/configuration.md differs from paddle_dcgan/config.py; "
                             "run: python tools/config_reference.py --write")


def test_configuration_page_lists_every_key():
    from paddle_dcgan.config import Config

    def keys(node, prefix=""):
        for name, value in vars(node).items():
            if hasattr(value, "__dataclass_fields__"):
                yield from keys(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}"

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key in keys(Config()) if f"| `{key}` |" not in page]
    assert not missing, f"docs/configuration.md lacks {missing}"


@pytest.mark.parametrize("heading, expected", [
    ("The oneDNN kernels (`train.kernels`)", "the-onednn-kernels-trainkernels"),
    ("Runs, resume and recovery", "runs-resume-and-recovery"),
    ("How long to train", "how-long-to-train"),
])
def test_anchor_rule(heading, expected):
    assert anchor(heading) == expected


@pytest.mark.parametrize("fragment, ok", [
    ("L1", True), ("L1-L3", True), ("L0", False), ("L3-L1", False), ("L1-L100000", False), ("l1", False),
    ("heading", False),
])
def test_line_anchor_rule(fragment, ok):
    assert lines_exist(ROOT / "tools" / "train.py", fragment) is ok
