"""brainedge-serve's page in a real browser: Debian's headless Chromium, driven by Selenium, no browser download.

    python -m brainedge.benchmarks.studies.serve_page --bundle runs/mri_224/export/tflite_int8_ptq \\
        --bundle runs/mri_224/export/tflite_float32 --image SCAN.jpg --out benchmarks/results/serve_page

starts the server on 127.0.0.1, compares the two bundles on the scan with the heatmap on, and writes
OUT.png (the page as a user sees it) and OUT.md (the command and the answers shown).
``tests/test_serve_browser.py`` drives the page with the same helpers.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from brainedge.benchmarks.studies import study_command
from brainedge.benchmarks.studies.serve_load import Connection, running_server
from brainedge.edge_runtime.files import write_atomically, write_text_atomically

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 60


def missing_browser() -> str | None:
    """Why the browser cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is absent (apt-get install {package})"
    return None


@contextmanager
def chromium(width: int = 1100, height: int = 900) -> Iterator[WebDriver]:
    """Headless Chromium with its network log on, quiet: no first-run, sync, update or other background requests."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",  # else a full-page screenshot, laid out without one, loses its width
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the page asked for since the last call, from Chrome's network events."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: WebDriver) -> list[str]:
    """The page's console errors since the last call (a resource that failed to load is one)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver: WebDriver, url: str) -> None:
    """The classify page, once it has listed the server's bundles."""
    driver.get(url)
    wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#bundle option"))


def classify_in_page(
    driver: WebDriver, images: Sequence[Path], explain: bool = False, compare: bool = False
) -> list[WebElement]:
    """Choose options and images as a user would; the answer cards once all are in, in the images' order."""
    for box, wanted in (("compare", compare), ("explain", explain)):
        checkbox = driver.find_element(By.ID, box)
        if checkbox.is_selected() != wanted:
            checkbox.click()
    driver.find_element(By.ID, "files").send_keys("\n".join(str(image) for image in images))
    done = f"Done: {len(images)} image(s)."
    wait_until(driver, lambda d: d.find_element(By.ID, "status").text == done)
    return list(reversed(driver.find_elements(By.CSS_SELECTOR, "#results > li")))


def wait_until(driver: WebDriver, condition: object) -> object:
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page, not only the window (Chrome's DevTools capture beyond the viewport)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    write_atomically(path, base64.b64decode(shot["data"]))


def answers_shown(card: WebElement) -> list[dict[str, str]]:
    """What one card says per bundle: its name, the verdict and the first bar."""
    return [
        {
            "bundle": answer.find_element(By.CSS_SELECTOR, "h3").text,
            "verdict": answer.find_element(By.CSS_SELECTOR, ".verdict").text,
            "top": answer.find_element(By.CSS_SELECTOR, ".bars li").text.replace("\n", " "),
            "timings": answer.find_element(By.CSS_SELECTOR, ".timings").text,
        }
        for answer in card.find_elements(By.CSS_SELECTOR, ".answer")
    ]


def warm_up(url: str, bundles: Sequence[Path], image: Path) -> None:
    """One answer per bundle before the page's: the first inference of an interpreter includes its one-time setup."""
    connection = Connection(url)
    for bundle in bundles:
        connection.request("POST", f"/v1/classify?explain=true&bundle={bundle.name}", image.read_bytes())
        connection.getresponse().read()
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainedge.benchmarks.studies.serve_page", description=__doc__)
    parser.add_argument("--bundle", type=Path, action="append", required=True, help="one or two bundles")
    parser.add_argument("--image", type=Path, required=True, help="the scan to classify")
    parser.add_argument("--out", type=Path, required=True, help="OUT.png and OUT.md are written")
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    with running_server(args.bundle) as (url, _), chromium(args.width, 900) as driver:
        warm_up(url, args.bundle, args.image)
        open_page(driver, url)
        [card] = classify_in_page(driver, [args.image], explain=True, compare=len(args.bundle) > 1)
        wait_until(
            driver, lambda d: all(i.get_attribute("complete") == "true" for i in d.find_elements(By.TAG_NAME, "img"))
        )
        screenshot(driver, args.out.with_suffix(".png"))
        shown = answers_shown(card)
    command = study_command("serve_page", argv)
    lines = [
        "# brainedge-serve's page classifying a test-split scan",
        "",
        f"Command: `{command}`",
        "",
        f"Image: `{args.image}`; bundles: {', '.join(f'`{bundle}`' for bundle in args.bundle)}; heatmap on. Each "
        "bundle answered the image once before the page did (an interpreter's first answer includes its setup); the "
        "page then sends it to both at once, so their times include sharing the CPU with each other.",
        "",
        f"![the page]({args.out.with_suffix('.png').name})",
        "",
        "| bundle | verdict | top class | times |",
        "|---|---|---|---|",
        *(f"| {a['bundle']} | {a['verdict']} | {a['top']} | {a['timings']} |" for a in shown),
        "",
    ]
    write_text_atomically(args.out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
