"""End to end in a real browser: Voila serves notebooks/dashboard.ipynb, Debian's chromium
(driven by Playwright) answers the wizard, runs int8, and reads the plot and the table."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from workbench.doctor import chromium_path

CHROMIUM = chromium_path() or "/usr/bin/chromium"
VOILA = Path(sys.executable).with_name("voila")
# Offline, the widget manager's Font Awesome stylesheet (button icons) cannot come from its CDN.
OFFLINE_CDN = "cdn.jsdelivr.net/npm/@fortawesome"
WAIT_MS = 300_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
                                reason="chromium is not installed (CI installs it)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dashboard(fresh_workspace):
    port = free_port()
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(fresh_workspace)}
    server = subprocess.Popen(
        [str(VOILA), "notebooks/dashboard.ipynb", f"--port={port}", "--no-browser",
         "--Voila.ip=127.0.0.1"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url + "voila/static/", timeout=2)
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP answer: the server is up
                break
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("voila did not start")
            time.sleep(0.5)
        else:
            break
    yield url
    server.terminate()
    server.wait(30)


def plotted_latency(page) -> float:
    """The latency (customdata column 1) of the first variant drawn in the trade-off plot."""
    return page.evaluate("() => document.querySelector('.js-plotly-plot').data"
                         ".find(t => t.customdata).customdata[0][1]")


def test_dashboard_end_to_end(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"this is not a keras archive")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors, failed = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(dashboard, timeout=WAIT_MS)
        page.get_by_text("Loaded 'default'.").first.wait_for(timeout=WAIT_MS)

        for answer in ("unlabelled", "edge_tpu", "latency"):
            page.get_by_role("button", name=answer, exact=True).click()
        page.get_by_text("Edge TPU runs only full-integer int8").wait_for()
        page.get_by_role("button", name="Run the recommended recipes").click()
        page.get_by_text("Finished: int8 on default.").wait_for(timeout=WAIT_MS)

        page.get_by_role("tab", name="Trade-offs").click()
        page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for()
        assert "edge_tpu, estimated" in page.locator(".js-plotly-plot .gtitle").text_content()
        on_tpu = plotted_latency(page)
        page.locator("select:has(option:text-is('cortex_m7, estimated'))").select_option(
            label="cortex_m7, estimated")
        page.wait_for_function("() => document.querySelector('.js-plotly-plot .gtitle')"
                               ".textContent.includes('cortex_m7')")
        on_mcu = plotted_latency(page)
        assert on_mcu > 2 * on_tpu > 0  # the microcontroller is slower than the TPU

        page.get_by_role("tab", name="Results").click()
        assert "int8" in page.locator(".wb-results").first.inner_text()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        page.get_by_role("tab", name="Model and data").click()
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Upload .keras").click()
        chooser.value.set_files(str(broken))
        page.get_by_role("button", name="Upload .keras (1)").wait_for()
        page.locator("button").filter(has_text=re.compile(r"^\W*Load\W*$")).click()
        page.locator(".wb-error").wait_for(timeout=WAIT_MS)
        assert "broken.keras" in page.locator(".wb-error").inner_text()
        assert "Traceback" not in page.content()
        page.get_by_role("tab", name="Results").click()  # the app still answers
        assert "int8" in page.locator(".wb-results").first.inner_text()
        browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    offline = [url for url in failed if OFFLINE_CDN in url]
    assert failed == offline
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
    assert len(errors) <= len(offline)
