"""The dashboard page in a real headless Chromium: it loads cleanly, updates, shows the frame.

Uses the system's Chromium and chromedriver (Debian: ``chromium`` and ``chromium-driver``); no
browser or driver is ever downloaded. Without them the tests skip, unless
``FRAMEPIPE_REQUIRE_BROWSER=1`` (set by CI) turns the skip into a failure.
``FRAMEPIPE_DASHBOARD_SCREENSHOT=docs/dashboard.png`` also saves a screenshot of the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import pytest

from framepipe.logging import configure
from framepipe.monitor import serve
from helpers import wait_until
from monitor_helpers import SyntheticRun, watched_run

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,1000",
)
TIMEOUT_S = 15


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    return None


def _no_browser(reason: str) -> NoReturn:
    if os.environ.get("FRAMEPIPE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FRAMEPIPE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven through the system's chromedriver, closed after the module."""
    chromium, chromedriver = _find(CHROMIUM), _find(CHROMEDRIVER)
    if chromium is None or chromedriver is None:
        _no_browser("no Chromium and chromedriver (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _no_browser("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which downloads drivers) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def _leave_the_page(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, leave its page: once a test's server has stopped, the page goes on
    retrying it, and those connection errors would land in the next test's console log."""
    yield
    if "browser" in request.fixturenames:
        driver = request.getfixturevalue("browser")
        driver.get("about:blank")
        driver.get_log("browser")  # what the old page said on its way out belongs to no test


def text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_dashboard_loads_updates_and_shows_the_latest_frame(
    browser: Any, tmp_path: Path
) -> None:
    """No console errors; frame count and resources change within two seconds; the image renders."""
    log = configure(log_dir=tmp_path)
    with watched_run(logger=log) as (run, server):
        browser.get(server.url)
        wait_until(lambda: text(browser, "frames").isdigit(), "the first event", timeout=TIMEOUT_S)
        first = text(browser, "frames")
        run.wait_for_frames(int(first) + 30)
        time.sleep(2.0)
        second = text(browser, "frames")
        assert int(second) > int(first)
        assert text(browser, "state") == "running"
        assert float(text(browser, "memory")) > 0
        assert text(browser, "queue").endswith("/ 10000")
        wait_until(
            lambda: browser.execute_script(
                "const img = document.getElementById('preview');"
                "return img.complete && img.naturalWidth;"
            ),
            "the preview image",
            timeout=TIMEOUT_S,
        )
        width = browser.execute_script("return document.getElementById('preview').naturalWidth")
        assert width == run.source.info.width
        screenshot = os.environ.get("FRAMEPIPE_DASHBOARD_SCREENSHOT")
        if screenshot:
            time.sleep(10)  # some history in the charts
            browser.save_screenshot(screenshot)
        assert console_errors(browser) == []


def test_without_a_pipeline_the_page_shows_process_and_logging_only(
    browser: Any, tmp_path: Path
) -> None:
    """A logging-only server's page loads cleanly, hides the pipeline parts and says why."""
    log = configure(log_dir=tmp_path)
    with serve(port=0, logger=log) as server:
        browser.get(server.url)
        wait_until(
            lambda: text(browser, "memory") not in ("", "-"), "the first event", timeout=TIMEOUT_S
        )
        assert browser.find_element("id", "no-pipeline").is_displayed()
        assert not browser.find_element("id", "preview").is_displayed()
        assert text(browser, "state") == "logging"
        assert console_errors(browser) == []


def stream_value(driver: Any, stream: str, key: str) -> str:
    return str(
        driver.execute_script(
            "const row = [...document.querySelectorAll('section.stream')]"
            "  .find((el) => el.dataset.stream === arguments[0]);"
            "return row ? row.querySelector(`[data-key='${arguments[1]}']`).textContent : '';",
            stream,
            key,
        )
    )


def test_several_streams_get_a_row_of_charts_each(browser: Any, tmp_path: Path) -> None:
    """Two streams: a row each whose frame counts change within two seconds, the single
    stream's tiles and preview hidden, no console errors."""
    log = configure(log_dir=tmp_path)
    with (
        SyntheticRun() as left,
        SyntheticRun() as right,
        serve(port=0, logger=log, streams={"left": left, "right": right}) as server,
    ):
        left.wait_for_frames(3)
        right.wait_for_frames(3)
        browser.get(server.url)
        names = ("left", "right")
        wait_until(
            lambda: all(stream_value(browser, n, "frames").isdigit() for n in names),
            "both rows",
            timeout=TIMEOUT_S,
        )
        first = {name: int(stream_value(browser, name, "frames")) for name in names}
        time.sleep(2.0)
        second = {name: int(stream_value(browser, name, "frames")) for name in names}
        assert all(second[name] > first[name] for name in names), (first, second)
        assert all(float(stream_value(browser, name, "fps")) > 0 for name in names)
        assert (
            browser.execute_script(
                "return document.querySelectorAll('section.stream canvas').length"
            )
            == 6
        )
        assert text(browser, "state") == "2 / 2 running"
        assert not browser.find_element("id", "fps").is_displayed()
        assert not browser.find_element("id", "preview").is_displayed()
        assert console_errors(browser) == []


def preview_width(driver: Any, stream: str) -> int:
    return int(
        driver.execute_script(
            "const row = [...document.querySelectorAll('section.stream')]"
            "  .find((el) => el.dataset.stream === arguments[0]);"
            "const img = row && row.querySelector('img.stream-preview');"
            "return img && img.complete ? img.naturalWidth : 0;",
            stream,
        )
    )


def test_the_end_of_a_two_stream_run_shows_ended_and_the_final_counts(
    browser: Any, tmp_path: Path
) -> None:
    """A real ``framepipe run A B``: each row's preview loads while it runs; once it ends the
    page says ``ended`` with the summary's frame counts, and gives up on the gone server after
    at most 3 reconnect attempts."""
    summary = tmp_path / "summary.json"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("framepipe")), "run", "synthetic:64x48@30:8",
         "synthetic:80x60@30:8", "--realtime", "--quiet", "--name", "left", "--name", "right",
         "--stats-port", "0", "--summary-json", str(summary), "--log-dir", str(tmp_path / "logs")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = next(
            line.split("stats server on ", 1)[1].strip()
            for line in process.stderr if "stats server on " in line
        )
        browser.get(url)
        for name, width in (("left", 64), ("right", 80)):
            wait_until(
                lambda name=name, width=width: preview_width(browser, name) == width,
                f"the preview of {name}",
                timeout=TIMEOUT_S,
            )
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
    final = {s["stream"]: s["frames_processed"] for s in json.loads(summary.read_text())["streams"]}
    wait_until(lambda: text(browser, "state") == "ended", "ended on the page", timeout=TIMEOUT_S)
    shown = {name: int(stream_value(browser, name, "frames")) for name in final}
    assert shown == final
    browser.get_log("browser")  # what came before the end
    time.sleep(10)  # long enough for 3 retries of 1, 2 and 4 s and more
    assert text(browser, "state") == "ended"
    assert len(console_errors(browser)) <= 3


def test_a_stream_that_leaves_the_set_leaves_the_page(browser: Any, tmp_path: Path) -> None:
    """Three streams, one removed while the page is open: its row goes, the others stay."""
    log = configure(log_dir=tmp_path)
    with SyntheticRun() as left, SyntheticRun() as middle, SyntheticRun() as right:
        live: dict[str, Any] = {"left": left, "middle": middle, "right": right}
        with serve(port=0, logger=log, streams=MappingProxyType(live)) as server:
            for run in live.values():
                run.wait_for_frames(3)
            browser.get(server.url)
            rows = (
                "return [...document.querySelectorAll('section.stream')]"
                ".map((el) => el.dataset.stream)"
            )
            wait_until(
                lambda: browser.execute_script(rows) == list(live),
                "three rows",
                timeout=TIMEOUT_S,
            )
            del live["middle"]
            wait_until(
                lambda: browser.execute_script(rows) == ["left", "right"],
                "the removed stream's row to go",
                timeout=TIMEOUT_S,
            )
            assert text(browser, "state") == "2 / 2 running"
            # A preview asked for just before the stream left may be answered 404; nothing else.
            errors = console_errors(browser)
            assert [e for e in errors if "/streams/middle/" not in e["message"]] == [], errors
