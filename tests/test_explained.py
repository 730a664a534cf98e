"""docs/dcgan-explained.md against the code it explains, and tools/draw_filters.py.

The page's shape tables are rebuilt here from the real nets (a forward pass with hooks on every
layer), row by row, so a change to the model that the page does not follow fails here. Every link
to lines of code quotes code that those lines hold, so the links follow the code when it moves.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_tool

PAGE = ROOT / "docs" / "dcgan-explained.md"
TABLE_HEADING = re.compile(r"^### (Generator|Discriminator), (\d+)x\2$", re.M)
LINE_LINK = re.compile(r"\[([^\]]*)\]\(([^)#\s]+)#L(\d+)(?:-L(\d+))?\)")
BATCH = 3
CLASSES = 10  # the conditional column: digits


def cells(line: str) -> list[str]:
    return [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]


def page_tables() -> dict[tuple[str, int], list[list[str]]]:
    """``(net, image size)`` -> the rows of the table under the heading '### Generator, 28x28' (header row dropped)."""
    text = PAGE.read_text(encoding="utf-8")
    tables = {}
    for match in TABLE_HEADING.finditer(text):
        lines = text[match.end():].lstrip("\n").splitlines()
        rows = []
        for line in lines:
            if not line.startswith("|"):
                break
            rows.append(cells(line))
        tables[(match[1], int(match[2]))] = rows[2:]  # after the header and its --- row
    return tables


def shape(dims) -> str:
    return "[" + ", ".join(["N", *map(str, list(dims)[1:])]) + "]"


def side(dims) -> str:
    return str(dims[-1]) if len(dims) == 4 else "-"


def describe(layer, side_in: int, side_out: int) -> tuple[str, str]:
    """The page's 'layer' and 'side' cells for a leaf layer: its kind and, for a convolution, the size formula."""
    from paddle import nn

    kind = type(layer).__name__
    if isinstance(layer, (nn.Conv2D, nn.Conv2DTranspose)):
        k, s, p = layer.weight.shape[-1], layer._stride[0], layer._padding
        assert layer._dilation == [1, 1] and getattr(layer, "output_padding", 0) == 0, "the page's formulas assume these"
        formula = (f"({side_in} + 2*{p} - {k})/{s} + 1" if isinstance(layer, nn.Conv2D)
                   else f"({side_in} - 1)*{s} - 2*{p} + {k}")
        return f"{kind} k={k} s={s} p={p}", f"{formula} = {side_out}"
    if isinstance(layer, nn.LeakyReLU):
        return f"{kind}({layer._negative_slope})", str(side_out)
    return kind, str(side_out)


def traced(net, *inputs) -> list[tuple[str, object, list[int], list[int]]]:
    """``(name, layer, input shape, output shape)`` of every leaf layer, in the order the forward pass runs them,
    then ``('output', None, ..., the net's output shape)``."""
    seen, hooks = [], []
    for name, layer in net.named_sublayers():
        if not layer.sublayers():
            hooks.append(layer.register_forward_post_hook(
                lambda layer, args, out, name=name: seen.append((name, layer, list(args[0].shape), list(out.shape)))))
    out = net(*inputs)
    for hook in hooks:
        hook.remove()
    return seen + [("output", None, list(out.shape), list(out.shape))]


def expected_rows(net_name: str, image_size: int) -> list[list[str]]:
    """The table as the nets built with the default widths say it must be: plain and conditional side by side."""
    import paddle

    from paddle_dcgan.config import ModelConfig
    from paddle_dcgan.core.models import Discriminator, Generator

    m, rows = ModelConfig(), {}
    for classes in (0, CLASSES):
        labels = paddle.arange(BATCH, dtype="int64") % CLASSES if classes else None
        if net_name == "Generator":
            net = Generator(image_size, m.nz, m.ngf, 1, classes)
            trace = traced(net, paddle.randn([BATCH, m.nz, 1, 1]), labels)
        else:
            net = Discriminator(image_size, m.ndf, 1, classes)
            trace = traced(net, paddle.randn([BATCH, 1, image_size, image_size]), labels)
        rows[classes] = [["input", None, side(trace[0][2]), shape(trace[0][2])]]  # what the first layer reads
        for name, layer, dims_in, dims_out in trace:
            kind, size = describe(layer, dims_in[-1], dims_out[-1]) if layer else (None, side(dims_out))
            rows[classes].append([name, kind, size, shape(dims_out)])
    plain, conditional = rows[0], rows[CLASSES]
    assert [r[:3] for r in plain[1:]] == [r[:3] for r in conditional[1:]], "plain and conditional nets differ in layers"
    return [[*p, c[3]] for p, c in zip(plain, conditional)]


def table_for_page(net_name: str, image_size: int) -> str:
    """The expected table in the page's markdown (what a failing test prints, ready to paste)."""
    lines = ["| name | layer | side | output, plain | output, conditional |", "| --- | --- | --- | --- | --- |"]
    for name, kind, size, plain, conditional in expected_rows(net_name, image_size):
        size = f"`{size}`" if "=" in size else size
        lines.append(f"| `{name}` | {kind or '...'} | {size} | {plain} | {conditional} |")
    return "\n".join(lines)


@pytest.mark.parametrize("net_name", ["Generator", "Discriminator"])
@pytest.mark.parametrize("image_size", [28, 64])
def test_shape_table_matches_the_model(net_name, image_size):
    tables = page_tables()
    assert (net_name, image_size) in tables, f"no '### {net_name}, {image_size}x{image_size}' table in {PAGE.name}"
    page = tables[(net_name, image_size)]
    expected = expected_rows(net_name, image_size)
    # the 'what it is' cell of the input and output rows is prose; every other cell is checked
    got = [[c for i, c in enumerate(row) if not (i == 1 and row[0] in ("input", "output"))] for row in page]
    want = [[c for i, c in enumerate(row) if not (i == 1 and row[0] in ("input", "output"))] for row in expected]
    assert got == want, (f"{PAGE.name}: the {net_name} {image_size}x{image_size} table differs from the model; "
                         f"it should read (up to the prose of the input and output rows):\n"
                         f"{table_for_page(net_name, image_size)}")


def test_every_line_link_quotes_code_those_lines_hold():
    text = PAGE.read_text(encoding="utf-8")
    links = LINE_LINK.findall(text)
    assert len(links) >= 20, "the page maps the tutorial's ideas to lines of code"
    wrong = []
    for label, target, first, last in links:
        path = (PAGE.parent / target).resolve()
        held = "\n".join(path.read_text(encoding="utf-8").splitlines()[int(first) - 1:int(last or first)])
        lines = f"L{first}" + (f"-L{last}" if last else "")
        if not label.startswith(f"{path.name} {lines}"):
            wrong.append(f"[{label}]: the text should start with '{path.name} {lines}'")
        quoted = re.findall(r"`([^`]+)`", label)
        if not quoted:
            wrong.append(f"[{label}]: quote the code it points at, as `code`")
        wrong += [f"[{label}]: '{code}' is not in {path.name} {lines}" for code in quoted if code not in held]
    assert not wrong, "\n".join(wrong)


def test_the_page_shows_the_filter_picture_and_how_to_draw_it():
    text = PAGE.read_text(encoding="utf-8")
    assert "](d_filters.png)" in text
    assert "python tools/draw_filters.py --run output/cdcgan --out docs/d_filters.png" in text


# ---------------------------------------------------------------- tools/draw_filters.py
def test_draw_filters_draws_the_image_weights_of_the_first_convolution(tiny_cond_run, tmp_path):
    from PIL import Image

    from paddle_dcgan.files.checkpoint import list_checkpoints, load_checkpoint

    out = tmp_path / "filters.png"
    result = run_tool("draw_filters.py", "--run", str(tiny_cond_run), "--out", str(out), cwd=tmp_path)
    newest = list_checkpoints(tiny_cond_run)[-1]
    saved = load_checkpoint(newest)
    weights = np.asarray(saved["discriminator"]["blocks.0.0.weight"])
    assert weights.shape == (8, 1 + 10, 4, 4)  # TINY's ndf=8; the image channel, then 10 label planes
    assert f"8 filters of {newest} (step {saved['step']}) -> {out}" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and min(image.size) > 100

    # default: beside the checkpoints, in the run folder; a checkpoint file works as well as the folder
    run_tool("draw_filters.py", "--run", str(newest), cwd=tmp_path)
    assert (tiny_cond_run / "d_filters.png").is_file()


def test_filter_grid_scales_each_tile_about_zero(tmp_path):
    """The picture is one grey tile per filter: zero is mid grey, each tile's extremes are black and white."""
    from PIL import Image

    from paddle_dcgan.visualize import save_filter_grid

    weights = np.zeros((4, 1, 4, 4), np.float32)
    weights[:, 0, 0, 0] = [1.0, 0.01, -3.0, 0.0]  # very different sizes: each tile still spans its own range
    save_filter_grid(weights, tmp_path / "f.png")
    grey = np.asarray(Image.open(tmp_path / "f.png").convert("RGB")).astype(int)
    is_grey = (grey[..., 0] == grey[..., 1]) & (grey[..., 1] == grey[..., 2])
    values = set(np.unique(grey[..., 0][is_grey]))
    assert {0, 255} <= values  # white for tiles 0 and 1 (their largest weight), black for tile 2
    assert any(120 <= v <= 135 for v in values)  # zero weights: mid grey


@pytest.mark.parametrize("args, fragment", [
    (["--run", "no_such_run"], "no run folder or checkpoint 'no_such_run'"),
    (["--run", "."], "no checkpoint in"),
])
def test_draw_filters_errors_are_one_line(tmp_path, args, fragment):
    assert_one_line_error(run_tool("draw_filters.py", *args, cwd=tmp_path, check=False), fragment)
