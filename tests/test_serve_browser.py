"""brainedge-serve's page in a real browser: Debian's headless Chromium (chromium, chromium-driver) and Selenium.

The server runs in its own process on 127.0.0.1, as a user starts it; the page uploads an MRI-like slice,
a colour image and a file that is no image, and must show what the runtime answers, the runtime's own
error, nothing fetched from any other host, and work by keyboard and on a phone-sized screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from brainedge.benchmarks.studies.serve_load import running_server
from brainedge.benchmarks.studies.serve_page import (
    answers_shown,
    chromium,
    classify_in_page,
    console_errors,
    missing_browser,
    open_page,
    requested_urls,
    screenshot,
    wait_until,
)
from brainedge.edge_runtime.classifier import NOT_RECOGNISED, UNCERTAIN, Classifier, Prediction
from brainedge.train.synthetic import render_slice

pytestmark = [pytest.mark.slow, pytest.mark.system]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def server(bundles: Path) -> Iterator[str]:
    with running_server([bundles / "int8_head", bundles / "float32_head"]) as (url, _):
        yield url


def verdict(prediction: Prediction) -> str:
    """What the command line prints in place of a label (edge_runtime/cli.py's text_line)."""
    if prediction.out_of_distribution:
        return NOT_RECOGNISED
    return UNCERTAIN if prediction.uncertain else prediction.label


def mri_slice(folder: Path) -> Path:
    path = folder / "slice.jpg"
    Image.fromarray(render_slice("glioma", np.random.default_rng(0), 128)).save(path, quality=90)
    return path


def test_the_page_shows_the_runtime_answers_and_errors_and_asks_no_other_host(
    browser: WebDriver, server: str, bundles: Path, tmp_path: Path
) -> None:
    scan, red = mri_slice(tmp_path), bundles / "images" / "red" / "0.png"
    notes = tmp_path / "notes.txt"
    notes.write_text("not a scan")
    requested_urls(browser)  # forget what earlier tests asked for
    open_page(browser, server)
    cards = classify_in_page(browser, [scan, notes, red], explain=True, compare=True)

    for card, image in ((cards[0], scan), (cards[2], red)):
        shown = answers_shown(card)
        assert [answer["bundle"] for answer in shown] == ["int8_head", "float32_head"]
        for answer in shown:
            expected = Classifier.from_bundle(bundles / answer["bundle"]).classify(image)
            assert answer["verdict"] == verdict(expected)
            assert answer["top"] == f"{expected.label} {100 * expected.score:.1f}%"
            assert answer["timings"].startswith("decode ") and " · inference " in answer["timings"]
        overlays = card.find_elements(By.CSS_SELECTOR, "img.overlay")
        assert len(overlays) == 2 and all(o.get_attribute("src").startswith("data:image/png") for o in overlays)
    assert answers_shown(cards[2])[0]["verdict"] == "red"
    errors = [alert.text for alert in cards[1].find_elements(By.CSS_SELECTOR, "[role=alert]")]
    assert errors == ["notes.txt: not an image file Pillow can read"] * 2

    screenshot(browser, tmp_path / "page.png")
    assert Image.open(tmp_path / "page.png").size[0] > 0
    port = urlsplit(server).port
    hosts = {urlsplit(url).netloc for url in requested_urls(browser) if not url.startswith(("data:", "blob:"))}
    assert hosts == {f"127.0.0.1:{port}"}


def test_the_pages_load_without_a_console_error(browser: WebDriver, server: str) -> None:
    """Not even the icon's: every page links one, and /favicon.ico (asked beside the API schema) exists."""
    console_errors(browser)  # forget earlier tests' errors
    for page in ("", "facts", "openapi.json"):
        browser.get(server + page)
        wait_until(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        if page != "openapi.json":
            wait_until(browser, lambda d: "loaded" in d.find_element(By.ID, "status").text)
    assert console_errors(browser) == []


def test_the_facts_page_lists_each_bundle(browser: WebDriver, server: str) -> None:
    browser.get(server + "facts")
    wait_until(browser, lambda d: "bundle(s) loaded" in d.find_element(By.ID, "status").text)
    text = browser.find_element(By.ID, "facts").text
    for expected in ("int8_head", "float32_head", "red, green, blue", "tflite_int8_ptq", "temperature", "threshold"):
        assert expected in text


def test_the_page_works_by_keyboard_and_fits_a_phone(browser: WebDriver, server: str) -> None:
    browser.set_window_size(390, 844)  # a phone held upright
    try:
        open_page(browser, server)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        reached = []
        for _ in range(12):  # the keyboard alone, from the top of the page
            ActionChains(browser).send_keys(Keys.TAB).perform()
            reached.append(browser.switch_to.active_element.get_attribute("id"))
        assert {"bundle", "compare", "explain", "files"} <= set(reached)
        for control in ("bundle", "compare", "explain", "files"):  # each named by a label
            assert browser.find_elements(By.CSS_SELECTOR, f"label[for={control}]")
    finally:
        browser.set_window_size(1100, 900)


def test_a_token_typed_once_into_the_page_is_used(browser: WebDriver, bundles: Path, tmp_path: Path) -> None:
    """Images cannot be chosen before the token is typed (the page says why); then they are answered."""
    with running_server([bundles / "int8_head"], "--token", "typed-once") as (url, _):
        browser.get(url)
        wait_until(browser, lambda d: d.find_element(By.ID, "token-panel").is_displayed())
        assert "needs its access token" in browser.find_element(By.ID, "token-why").text
        assert not browser.find_element(By.ID, "files").is_enabled()
        assert "Type the access token above" in browser.find_element(By.ID, "status").text
        browser.find_element(By.ID, "token").send_keys("typed-once", Keys.ENTER)
        wait_until(browser, lambda d: d.find_element(By.ID, "files").is_enabled())
        [card] = classify_in_page(browser, [bundles / "images" / "blue" / "0.png"])
        assert answers_shown(card)[0]["verdict"] == "blue"


def error_shown(card: WebElement) -> list[str]:
    return [alert.text for alert in card.find_elements(By.CSS_SELECTOR, ".answer [role=alert]")]


def test_no_answer_hangs_whatever_fails(browser: WebDriver, bundles: Path) -> None:
    """A token gone stale, then a server gone: each item says what failed, none stays on "Classifying…"."""
    image = bundles / "images" / "red" / "0.png"
    with running_server([bundles / "int8_head"], "--token", "typed-once") as (url, _):
        browser.get(url)
        browser.execute_script("sessionStorage.setItem('brainedge-serve-token', 'typed-once')")
        open_page(browser, url)
        browser.execute_script("sessionStorage.setItem('brainedge-serve-token', 'stale')")
        [card] = classify_in_page(browser, [image])
        assert error_shown(card) == ["wrong access token"]
        assert browser.find_element(By.ID, "token-panel").is_displayed()
    [gone] = classify_in_page(browser, [image])[-1:]
    assert error_shown(gone) == ["the server cannot be reached: is brainedge-serve still running?"]
    assert not browser.find_elements(By.CSS_SELECTOR, ".pending")
