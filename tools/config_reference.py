"""Print docs/configuration.md: every config key with its type, default and meaning.

python tools/config_reference.py > docs/configuration.md
python tools/config_reference.py --write      # the same, written in place

It reads paddle_dcgan/config.py of this checkout as text, whichever copy of the package is
installed: the keys, types and defaults of its dataclasses, and the meaning from the comment on
each field's line (or the comment lines just above it). tests/test_docs.py fails when the page and config.py differ.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from paddle_dcgan import cli

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "paddle_dcgan" / "config.py"
PAGE = ROOT / "docs" / "configuration.md"
TOP = "Config"  # the dataclass that holds the top-level keys and one field per section

INTRO = """\
# Configuration

```bash
python tools/train.py -c configs/dcgan.yaml -o train.epochs=80 model.ngf=32
python tools/config_reference.py --write    # rewrites this page from paddle_dcgan/config.py
```

Every key below has its default in one place, the dataclasses of `paddle_dcgan/config.py`;
this page is generated from them and from the comment beside each field.

- `-c FILE` reads a YAML file that changes some keys (`configs/dcgan.yaml` restates the main
  defaults). Without `-c` the defaults apply and the run is called `dcgan`; with it, `run_name`
  defaults to the file's name.
- `-o section.key=value` changes one key after the file. Both `-o a=1 -o b=2` and `-o a=1 b=2`
  work. Values are read with `yaml.safe_load`, so `-o train.epochs=5` is an integer and
  `-o device=cpu` a string.
- A config file is UTF-8 text of at most 1 MB. YAML anchors and aliases, merge keys (`<<`) and a
  key or section given twice are refused rather than guessed at; numbers must be finite.
- A key that does not exist, a value of the wrong type or out of range, or a path the system
  cannot name (a NUL byte, a name over 255 bytes) is a one-line error naming the key, before
  anything is written:

```
$ python tools/train.py -o train.batchsize=32
error: unknown config key 'train.batchsize'; did you mean 'train.batch_size'?
```

The resolved config is printed when a run starts and saved as `<run>/config.yaml`.
`--resume` refuses a config that changes any of these keys, because they change the weights' shapes
or what a step means ([Runs, resume and recovery](runs.md#resume)): {resume_keys}
(`train.class_loss` only where `model.conditioning=classifier`: no other model uses it).
"""


def comments_by_line(text: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}


def field_comment(line: int, comments: dict[int, str], lines: list[str]) -> str:
    """The comment after the field on its line, else the comment-only lines right above it."""
    if line in comments:
        return comments[line]
    above = []
    while line - 1 in comments and lines[line - 2].lstrip().startswith("#"):
        line -= 1
        above.insert(0, comments[line])
    return " ".join(above)


def default_text(node: ast.expr, text: str) -> str:
    """A field's default as written in YAML; numbers as written in config.py (2e-4)."""
    value = ast.literal_eval(node)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value or '""'
    return ast.get_source_segment(text, node)


def section_of(node: ast.expr) -> str | None:
    """``field(default_factory=ModelConfig)`` -> "ModelConfig"; None for a plain default."""
    if isinstance(node, ast.Call):
        return next(k.value.id for k in node.keywords if k.arg == "default_factory")
    return None


def cell(text: str) -> str:
    """Markdown table cell: keep | < > * as text."""
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        text = text.replace(char, escaped)
    return text


def render() -> str:
    text = SOURCE.read_text(encoding="utf-8")
    lines, comments = text.splitlines(), comments_by_line(text)
    tree = ast.parse(text)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    resume_keys = next(ast.literal_eval(n.value) for n in tree.body
                       if isinstance(n, ast.Assign) and n.targets[0].id == "RESUME_KEYS")
    header = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]

    def table(name: str, prefix: str) -> list[str]:
        rows = []
        for node in classes[name].body:
            if isinstance(node, ast.AnnAssign) and not section_of(node.value):
                rows.append(f"| `{prefix}{node.target.id}` | {ast.unparse(node.annotation)} | "
                            f"`{default_text(node.value, text)}` | "
                            f"{cell(field_comment(node.lineno, comments, lines))} |")
        return header + rows

    page = [INTRO.format(resume_keys=", ".join(f"`{k}`" for k in resume_keys)), "## Top level", "", *table(TOP, "")]
    for node in classes[TOP].body:
        if isinstance(node, ast.AnnAssign) and section_of(node.value):
            page += ["", f"## {node.target.id}", "", *table(section_of(node.value), f"{node.target.id}.")]
    return "\n".join(page) + "\n"


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {PAGE} instead of printing")
    args = parser.parse_args()
    if args.write:
        PAGE.write_text(render(), encoding="utf-8")
    else:
        print(render(), end="")


if __name__ == "__main__":
    cli.run(main)
