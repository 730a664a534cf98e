"""tools/demo.py: the page driven in a real headless browser, and the tool's errors.

The browser test starts the tool on the tiny conditional generator, moves the
page's controls in Debian's chromium (driven by Selenium through Debian's
chromedriver, never a downloaded browser), and compares each picture the page
shows with sample() / interpolate() of the same generator.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paddle_dcgan.core.models import Generator
from paddle_dcgan.errors import UserError
from paddle_dcgan.sampling import demo
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.sampling.sample import interpolate, sample
from paddle_dcgan.visualize import make_grid, to_uint8

from conftest import ROOT, assert_one_line_error, run_tool, run_without

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# flags that keep chromium from calling home: no update checks, sync, first-run pages or QUIC probes
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1100"]
SERVER_START_S = 120  # paddle loads, the generator loads, then gradio serves (slow on a busy 2-core machine)
PICTURE_WAIT_S = 60  # one control moved -> the new picture on the page
GRADIO_MISSING = 'the demo extra is not installed: pip install -e ".[demo]"'
LOCAL_SCHEMES = ("data:", "blob:", "chrome:", "chrome-extension:", "devtools:", "about:")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_tool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_tool("demo.py", *args, cwd=cwd, check=False, timeout=120)


# --- the tool's errors (no browser needed) -------------------------------------------------------


def test_bad_input_is_one_error_line(tmp_path):
    assert_one_line_error(demo_tool("--port", "0", cwd=tmp_path), "--port", "from 1 to 65,535")
    assert_one_line_error(demo_tool("--port", "http", cwd=tmp_path), "--port", "whole number")
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    assert_one_line_error(demo_tool("--run", str(tmp_path / "none"), "--port", str(free_port()), cwd=tmp_path),
                          "none", "train first")


def test_port_in_use_is_one_error_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = demo_tool("--port", str(port), cwd=tmp_path)
    assert_one_line_error(result, f"127.0.0.1:{port}", "--port")


def test_missing_gradio_is_one_error_line(tmp_path):
    result = run_without("gradio", "demo.py", "--port", str(free_port()), cwd=tmp_path)
    assert_one_line_error(result, "gradio", 'pip install -e ".[demo]"')


# --- what the controls call, in this process --------------------------------------------------


def test_page_of_an_unconditional_generator():
    """A generator without classes offers only "any", and a digit sent anyway is the page's error message."""
    gr = pytest.importorskip("gradio", reason=GRADIO_MISSING)
    G = Generator(28, 16, 8, num_classes=0)
    G.eval()
    page = demo.Page(G)
    assert np.array_equal(page.grid(demo.ANY, 4), demo.picture(sample(G, 64, seed=4), 8))
    frame, strip = page.walk(demo.ANY, 1, 2, 3)
    walk = interpolate(G, 1, 2, demo.WALK_STEPS)
    assert np.array_equal(frame, demo.picture(walk[3:4], 1, demo.FRAME_SCALE))
    assert np.array_equal(strip, demo.picture(walk, demo.WALK_COLUMNS))
    with pytest.raises(UserError, match="unconditional"):
        page.grid("7", 0)
    with pytest.raises(UserError, match="seed"):
        page.grid(demo.ANY, -1)
    radios = [block for block in demo.build(G, "test").blocks.values() if isinstance(block, gr.Radio)]
    assert [choice[1] for choice in radios[0].choices] == [demo.ANY]


def test_page_of_named_classes():
    """A generator of named classes offers its names, and a name draws what sample() draws for it."""
    gr = pytest.importorskip("gradio", reason=GRADIO_MISSING)
    G = Generator(28, 16, 8, num_classes=3)
    G.eval()
    G.class_names = ("cat", "dog", "owl")
    page = demo.Page(G)
    assert np.array_equal(page.grid("owl", 5), demo.picture(sample(G, 64, seed=5, digit=2), 8))
    assert not np.array_equal(page.grid("owl", 5), page.grid("cat", 5))
    radios = [block for block in demo.build(G, "test").blocks.values() if isinstance(block, gr.Radio)]
    assert [choice[1] for choice in radios[0].choices] == [demo.ANY, "cat", "dog", "owl"]
    assert radios[0].label == "class"


# --- the page in a browser ----------------------------------------------------------------------


def _browser_or_skip():
    pytest.importorskip("gradio", reason=GRADIO_MISSING)
    webdriver = pytest.importorskip("selenium.webdriver", reason='selenium is absent: pip install -e ".[test]"')
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.is_file():
            pytest.skip(f"{binary} is absent: apt-get install -y chromium chromium-driver")
    return webdriver


@pytest.fixture
def server(tiny_cond_run, tmp_path):
    """tools/demo.py on the tiny conditional generator at 127.0.0.1:<free port>; yields its URL, then stops it."""
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    env = dict(os.environ, MPLBACKEND="Agg", GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "demo.py"), "--run", str(tiny_cond_run),
                                "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"tools/demo.py exited {process.returncode}:\n"
                            f"{(tmp_path / 'demo.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tools/demo.py did not serve {url} within {SERVER_START_S} s:\n"
                            f"{(tmp_path / 'demo.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        log.close()
    # Ctrl-C and SIGTERM stop the tool as they stop the others: exit 130
    assert process.returncode == 130, (tmp_path / "demo.log").read_text()[-3000:]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the tool's process group, SIGKILL if it is still there after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


@pytest.fixture
def browser(tmp_path):
    """Headless chromium with a fresh profile; its performance log records every request the page makes."""
    webdriver = _browser_or_skip()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # an explicit driver path: Selenium Manager never looks for (or downloads) one
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _picture(driver, element_id: str) -> tuple[str | None, np.ndarray | None]:
    """The src of the picture in the page's element ``element_id`` and its pixels, uint8 [H, W] (grey) or
    [H, W, 3]; (None, None) while the browser has not shown one."""
    src = driver.execute_script("const img = document.querySelector(arguments[0]);"
                                "return img && img.complete && img.naturalWidth > 0 ? img.src : null;",
                                f"#{element_id} img")
    if not src:
        return None, None
    with urllib.request.urlopen(src, timeout=30) as response:  # the file the browser decoded, read again
        return src, np.asarray(Image.open(io.BytesIO(response.read())))


def _enlarged(images: np.ndarray, ncols: int, scale: int) -> np.ndarray:
    grid = make_grid(to_uint8(images), ncols)[..., 0]  # the tiny generator draws grey digits
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def _differences(shown: np.ndarray | None, expected: np.ndarray) -> str | None:
    """None when ``shown`` is ``expected`` within one grey level, else what differs.

    The server and this test run the same net on the same CPU, but their threads may add in another order:
    a value on a rounding boundary may then land one grey level apart after the PNG's uint8.
    """
    if shown is None:
        return "no picture shown"
    if shown.shape != expected.shape:
        return f"a picture of shape {shown.shape}, not {expected.shape}"
    worst = int(np.abs(shown.astype(int) - expected.astype(int)).max())
    return None if worst <= 1 else f"pixels up to {worst} grey levels apart"


def _assert_shows(driver, element_id: str, expected: np.ndarray) -> None:
    """Wait until the picture in ``element_id`` is ``expected``: each control the test moves sends an event,
    and the page shows the answers in turn."""
    deadline, last_src, problem = time.monotonic() + PICTURE_WAIT_S, None, "no picture shown"
    while time.monotonic() < deadline:
        src, shown = _picture(driver, element_id)
        if src != last_src:
            last_src, problem = src, _differences(shown, expected)
            if problem is None:
                return
        time.sleep(0.2)
    pytest.fail(f"#{element_id} did not show the expected picture within {PICTURE_WAIT_S} s: {problem}")


def _set_number(driver, label: str, value: int) -> None:
    """Type ``value`` into the number box named ``label`` and leave it, as a person does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f'input[type="number"][aria-label="{label}"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.ENTER)
    box.send_keys(Keys.TAB)


def _requests(driver) -> set[str]:
    """Every URL the browser asked for (pages, scripts, fonts, images, event streams, web sockets)."""
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.add(message["params"]["url"])
    return urls


def test_page_shows_what_sample_and_interpolate_draw(server, browser, tiny_cond_run):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    G, _ = load_generator(tiny_cond_run)
    browser.get(server)

    # the page opens on "any" digit and seed 0, and on the start of the walk from seed 1 to seed 2
    _assert_shows(browser, "grid", _enlarged(sample(G, 64, seed=0), 8, demo.SCALE))
    _assert_shows(browser, "walk", _enlarged(interpolate(G, 1, 2, demo.WALK_STEPS)[:1], 1, demo.FRAME_SCALE))

    # a digit, then a seed
    browser.find_element(By.CSS_SELECTOR, '[data-testid="7-radio-label"]').click()
    _assert_shows(browser, "grid", _enlarged(sample(G, 64, seed=0, digit=7), 8, demo.SCALE))
    _set_number(browser, "seed", 5)
    _assert_shows(browser, "grid", _enlarged(sample(G, 64, seed=5, digit=7), 8, demo.SCALE))

    # the walk between two other seeds, both ends drawn as 7s; the slider moved with the keyboard
    _set_number(browser, "from seed", 3)
    _set_number(browser, "to seed", 11)
    walk = interpolate(G, 3, 11, demo.WALK_STEPS, digits=(7, 7))
    _assert_shows(browser, "walk", _enlarged(walk[:1], 1, demo.FRAME_SCALE))
    _assert_shows(browser, "strip", _enlarged(walk, demo.WALK_COLUMNS, demo.SCALE))
    slider = browser.find_element(By.CSS_SELECTOR, 'input[type="range"]')
    slider.send_keys(*[Keys.ARROW_RIGHT] * 5)
    _assert_shows(browser, "walk", _enlarged(walk[5:6], 1, demo.FRAME_SCALE))
    slider.send_keys(Keys.END)
    _assert_shows(browser, "walk", _enlarged(walk[-1:], 1, demo.FRAME_SCALE))

    # everything the page loaded came from the tool's own server
    port = server.rstrip("/").rsplit(":", 1)[1]
    own = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/")
    requests = _requests(browser)
    assert server in requests  # the log holds the page's own requests: the check below looks at them all
    outside = sorted(url for url in requests if not url.startswith(own + LOCAL_SCHEMES))
    assert not outside, outside
