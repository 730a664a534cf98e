"""Pictures of a run: sample grids (PNG), the fixed-noise and latent-walk animations (GIF), loss curves.

Grids and GIFs are written with Pillow (a dependency of matplotlib). Plots are
drawn on ``matplotlib.figure.Figure`` objects, which need no display and leave
matplotlib's backend (a notebook's inline plots) alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .files.io import write_atomically


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (any float array) -> uint8 [0, 255], rounded like real pixels."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2) -> np.ndarray:
    """[N, C, H, W] uint8 -> one [rows*(H+p)+p, cols*(W+p)+p, C] uint8 mosaic on a grey frame."""
    n, c, h, w = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), 128, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return grid


def _pil(grid: np.ndarray, scale: int) -> Image.Image:
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def save_grid(images_uint8: np.ndarray, path: Path, scale: int = 2, ncols: int | None = None) -> None:
    write_atomically(path, lambda tmp: _pil(make_grid(images_uint8, ncols), scale).save(tmp, format="PNG"))


def _write_gif(frames: list[Image.Image], path: Path, durations: list[int]) -> None:
    write_atomically(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                              duration=durations, loop=0))


def _palette(image: Image.Image) -> Image.Image:
    """A frame in GIF's 256-colour palette: grey as it is, colour through an adaptive palette of its own."""
    return image.convert("P") if image.mode == "L" else image.convert("RGB").quantize(256, dither=Image.Dither.NONE)


def save_gif(frame_paths: Sequence[Path], path: Path, ms_per_frame: int = 400) -> None:
    """Animate the per-epoch grids at native resolution; the last frame is held three times as long."""
    frames = [_palette(Image.open(p).reduce(2)) for p in frame_paths]  # grids are saved at 2x
    if not frames:
        return
    _write_gif(frames, path, [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 3])


def save_walk_gif(images_uint8: np.ndarray, path: Path, scale: int = 4, ms_per_frame: int = 120) -> None:
    """Animate images [N, C, H, W] uint8 (a latent walk) forth and back, ``scale`` times enlarged."""
    frames = [_palette(_pil(image.transpose(1, 2, 0), scale)) for image in images_uint8]
    frames += frames[-2:0:-1]  # back again without repeating the ends, so the loop is seamless
    _write_gif(frames, path, [ms_per_frame] * len(frames))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window < 2:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def save_training_curves(history: dict[str, list[float]], path: Path, steps_per_epoch: int,
                         extra: dict[str, tuple[list[int], list[float]]] | None = None) -> None:
    """Loss and D-output curves over steps (smoothed), plus optional extra panels.

    Args:
        history: per-step lists ``loss_d, loss_g, d_real, d_fake``.
        extra: name -> (steps, values) plotted in panels of their own (e.g. FID).
    """
    from matplotlib.figure import Figure

    extra = extra or {}
    steps = np.arange(1, len(history["loss_d"]) + 1)
    window = max(1, min(50, len(steps) // 20))
    panels = 2 + len(extra)
    fig = Figure(figsize=(5 * panels, 3.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, keys, title in ((axes[0], ("loss_d", "loss_g"), "losses"),
                            (axes[1], ("d_real", "d_fake"), "discriminator outputs")):
        for key in keys:
            values = _smooth(np.asarray(history[key]), window)
            ax.plot(steps[len(steps) - len(values):], values, label=key)
        ax.set_title(f"{title} (mean of {window} steps)" if window > 1 else title)
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    axes[1].set_ylim(0, 1)
    for ax, (name, (xs, ys)) in zip(axes[2:], extra.items()):
        ax.plot(xs, ys, marker="o")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes:
        if steps_per_epoch and len(steps) > steps_per_epoch:
            secondary = ax.secondary_xaxis("top", functions=(lambda s: s / steps_per_epoch,
                                                             lambda e: e * steps_per_epoch))
            secondary.set_xlabel("epoch")
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def save_filter_grid(weights: np.ndarray, path: Path, title: str | None = None) -> None:
    """Draw convolution filters [F, C, k, k] as a grid of small grey images, a tile per filter and channel.

    Each tile has its own scale, symmetric about 0: mid grey is a zero weight, white the tile's
    largest positive weight, black its most negative one. A filter's C channels sit side by side.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = np.asarray(weights, np.float32)
    f, c, k, _ = weights.shape
    tiles = weights.reshape(f * c, k, k)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)  # each tile in [-1, 1]
    ncols = c * math.ceil(math.sqrt(f))
    nrows = math.ceil(f * c / ncols)
    mosaic = np.full((nrows * (k + 1) + 1, ncols * (k + 1) + 1), np.nan, np.float32)  # NaN: the frame
    for i, tile in enumerate(tiles):
        r, col = divmod(i, ncols)
        mosaic[1 + r * (k + 1):(r + 1) * (k + 1), 1 + col * (k + 1):(col + 1) * (k + 1)] = tile
    fig = Figure(figsize=(0.5 + 0.1 * mosaic.shape[1], 0.8 + 0.1 * mosaic.shape[0]), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="#3b6ea8")
    ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def show_grid(images: np.ndarray, ncols: int | None = None, title: str | None = None, ax=None):
    """Show images ([N, C, H, W] in [-1, 1] or uint8) as one grid with matplotlib; returns the axes."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = to_uint8(images)
    grid = make_grid(images, ncols)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
