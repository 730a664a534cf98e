"""A screenshot of the demo page (docs/demo.png), taken by Debian's headless chromium.

python tools/demo.py &                                   # serves http://127.0.0.1:7860
python tools/demo_screenshot.py http://127.0.0.1:7860 docs/demo.png [--digit 7] [--position 6]

Needs selenium (the 'test' extra) and /usr/bin/chromium with /usr/bin/chromedriver
(apt-get install chromium chromium-driver); no browser is downloaded.
"""

import tempfile
import time

from paddle_dcgan import cli
from paddle_dcgan.errors import UserError

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SETTLE_S = 8  # for the page to load, then for the pictures the moved controls ask for


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("url", help="the page, as tools/demo.py prints it")
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--digit", default="7", help="the digit to choose on the page (any, or 0-9)")
    parser.add_argument("--position", type=cli.whole_number(0), default=6, help="where to move the walk's slider")
    parser.add_argument("--width", type=cli.whole_number(320), default=1280, help="page width in pixels")
    args = parser.parse_args()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
    except ImportError:
        raise UserError('taking the screenshot needs selenium: pip install -e ".[test]"') from None

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--window-size={args.width},900", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        try:
            driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        except Exception as exc:  # selenium reports a missing or mismatched browser in many types
            raise UserError(f"cannot start {CHROMIUM} through {CHROMEDRIVER} ({type(exc).__name__}); "
                            "apt-get install chromium chromium-driver") from None
        try:
            driver.set_page_load_timeout(60)
            driver.get(args.url)
            time.sleep(SETTLE_S)
            driver.find_element(By.CSS_SELECTOR, f'[data-testid="{args.digit}-radio-label"]').click()
            driver.find_element(By.CSS_SELECTOR, 'input[type="range"]').send_keys(*[Keys.ARROW_RIGHT] * args.position)
            driver.find_element(By.TAG_NAME, "h1").click()  # no hover or focus styles in the picture
            time.sleep(SETTLE_S)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the whole page, not the first screen
                                   {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            time.sleep(1)
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(f"{args.url} -> {args.out}")


if __name__ == "__main__":
    cli.run(main)
