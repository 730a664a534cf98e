"""A local web page to play with a generator: a grid of digits and a latent walk (``tools/demo.py``).

The page is a Gradio app, the kind AI Studio and Hugging Face apps are made of.
Gradio is the optional extra ``demo``; this module imports it (and paddle) only
inside its functions.
Everything the page shows is :func:`~paddle_dcgan.sampling.sample.sample` or
:func:`~paddle_dcgan.sampling.sample.interpolate` of the same generator with
the same arguments, drawn as the grids of ``tools/infer.py`` are.

The page fetches nothing from the internet: Gradio's analytics and version
check are off, its fonts are the ones it ships, and no share link is made.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np

from ..errors import UserError
from ..extras import require

GRID_COLUMNS = 8  # the grid holds GRID_COLUMNS x GRID_COLUMNS digits
WALK_STEPS = 16  # images along the latent walk; the slider picks one
WALK_COLUMNS = 8  # the whole walk is shown in rows of this many images
SCALE = 3  # pixels on the page per pixel of a digit in the grid and the strip, enlarged without smoothing
FRAME_SCALE = 8  # the same for the one digit the walk's slider picks
ANY = "any"  # the digit choice that lets the seed draw the digits
MAX_SEED = 2**32 - 1  # seeds the page offers; sample() takes any integer >= 0


def load_gradio():
    """The gradio module, with its telemetry off; a UserError naming the extra when it is missing.

    Gradio reads the variable at import, in each Blocks and at launch: its version check, usage reports
    and launch reports are all off.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    return require("gradio")


def open_generator(source: str | None, device: str = "auto"):
    """The engine the page draws from: ``source`` (a run folder, generator.pdparams or .pdckpt), or the generator
    that ships in the package."""
    from .engines import open_engine
    from .load import PRETRAINED

    return open_engine("dygraph", PRETRAINED if source is None else source, device=device)


def check_address(host: str, port: int) -> None:
    """Raise a UserError unless ``host:port`` can be listened on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server: TIME_WAIT is free
            probe.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot serve the page on {host}:{port} ({exc.strerror or exc}); "
                        "pick another --port, or a --host of this machine") from None


def picture(images: np.ndarray, ncols: int, scale: int = SCALE) -> np.ndarray:
    """Images [N, C, S, S] in [-1, 1] as one uint8 grid [H, W] (grey) or [H, W, 3], enlarged ``scale`` times."""
    from ..visualize import make_grid, to_uint8

    grid = make_grid(to_uint8(images), ncols)
    grid = grid[..., 0] if grid.shape[-1] == 1 else grid
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def _digit(choice: str | None) -> str | None:
    """The class the page's choice names (its name; sample() takes names and indices), None for any."""
    return None if choice in (None, ANY) else choice


def _seed(value) -> int:
    if value is None or not float(value).is_integer() or not 0 <= value <= MAX_SEED:
        raise UserError(f"a seed is a whole number from 0 to {MAX_SEED:,}, got {value!r}")
    return int(value)


class Page:
    """What the page's controls call; each returns the picture to show. One drawing at a time,
    since the page's events run in threads of their own and share the generator."""

    def __init__(self, engine):
        self.engine = engine
        self._lock = threading.Lock()

    def grid(self, digit: str | None, seed) -> np.ndarray:
        """``sample(G, 64, seed, digit)`` as an 8 x 8 grid."""
        from .sample import sample

        with self._lock:
            images = sample(self.engine, GRID_COLUMNS ** 2, seed=_seed(seed), digit=_digit(digit))
        return picture(images, GRID_COLUMNS)

    def walk(self, digit: str | None, seed_a, seed_b, position) -> tuple[np.ndarray, np.ndarray]:
        """Image ``position`` of ``interpolate(G, seed_a, seed_b, WALK_STEPS)``, and the whole walk.

        With a digit chosen, both ends are that digit; with ``any``, each end is the digit its seed draws.
        """
        from .sample import interpolate

        digit = _digit(digit)
        with self._lock:
            images = interpolate(self.engine, _seed(seed_a), _seed(seed_b), WALK_STEPS,
                                 None if digit is None else (digit, digit))
        return picture(images[int(position)][None], 1, FRAME_SCALE), picture(images, WALK_COLUMNS)


def build(engine, title: str):
    """The page as a ``gradio.Blocks``, drawing from ``engine``."""
    gr = load_gradio()
    page = Page(engine)
    from .engines import default_class_names

    names = tuple(getattr(engine, "class_names", ()) or default_class_names(engine.num_classes))
    what, plural = ("digit", "digits") if names == default_class_names(len(names)) else ("class", "classes")
    choices = [ANY, *names]

    def shown(page_call):  # a bad value typed into the page is a message there, not a traceback
        def call(*values):
            try:
                return page_call(*values)
            except UserError as exc:
                raise gr.Error(str(exc)) from None
        return call

    # Gradio's image labels cover a picture's corner; headings above the pictures name them instead
    pictures = dict(format="png", image_mode=None, interactive=False, show_label=False, buttons=["download"])
    with gr.Blocks(title="paddle-dcgan", analytics_enabled=False) as blocks:
        gr.Markdown(f"# paddle-dcgan\n{title}")
        digit = gr.Radio(choices, value=ANY, label=what, interactive=engine.num_classes > 0,
                         info=f"any: each seed draws its own {plural}" if engine.num_classes else
                         "this generator is unconditional: it draws pictures of its own choosing")
        with gr.Row():
            with gr.Column():
                gr.Markdown(f"### {GRID_COLUMNS ** 2} samples")
                seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed")
                grid = gr.Image(elem_id="grid", **pictures)
            with gr.Column():
                gr.Markdown("### A walk between two seeds")
                with gr.Row():
                    seed_a = gr.Number(1, precision=0, minimum=0, maximum=MAX_SEED, label="from seed")
                    seed_b = gr.Number(2, precision=0, minimum=0, maximum=MAX_SEED, label="to seed")
                position = gr.Slider(0, WALK_STEPS - 1, value=0, step=1, label="position along the walk")
                frame = gr.Image(elem_id="walk", **pictures)
                strip = gr.Image(elem_id="strip", **pictures)
        grid_inputs, walk_inputs = [digit, seed], [digit, seed_a, seed_b, position]
        for control in grid_inputs:
            control.change(shown(page.grid), grid_inputs, grid)
        for control in walk_inputs:
            control.change(shown(page.walk), walk_inputs, [frame, strip])
        blocks.load(shown(page.grid), grid_inputs, grid)
        blocks.load(shown(page.walk), walk_inputs, [frame, strip])
    return blocks


def launch(engine, host: str, port: int) -> None:
    """Serve the page for ``engine`` on ``host:port`` until interrupted."""
    from .load import PRETRAINED

    kind = f"conditional: {engine.num_classes} classes" if engine.num_classes else "unconditional"
    shipped = engine.source.resolve() == PRETRAINED
    name = "the generator that ships with paddle-dcgan" if shipped else f"`{engine.source}`"
    blocks = build(engine, f"Generator: {name}, step {engine.step} ({kind}).")
    # No share link, no server-side rendering (a Node process), no footer links to gradio.app, no monitoring
    # page, no history kept in the browser: a page served from this machine that needs nothing else.
    # Digits are enlarged on the server; the browser scales them without blurring.
    blocks.launch(server_name=host, server_port=port, share=False, ssr_mode=False, pwa=False, mcp_server=False,
                  footer_links=[], enable_monitoring=False, run_history=False, show_error=True, quiet=True,
                  prevent_thread_lock=True, css="img { image-rendering: pixelated; }")
    print(f"the demo page is at {blocks.local_url} (Ctrl-C stops it)", flush=True)
    try:
        while True:  # gradio's own wait would swallow Ctrl-C and exit 0; the tool exits 130 as the others do
            time.sleep(0.5)
    finally:
        blocks.close()
