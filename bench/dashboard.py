"""How quickly the dashboard answers, measured in the browser (not a test).

Debian's chromium (driven by Playwright) opens the Voila dashboard, served the way
``make run`` serves it (``python -m widgets.serve``: a preheated kernel), on a workspace holding
the five post-training variants of the default model:

1. Navigation to a usable app: from ``page.goto`` until the wizard's first question can be
   clicked, and until the trade-off chart is drawn; the first visit (nothing cached in the
   browser) and reloads (the server already started, a kernel preheated each time). Goal: 3 s.
2. A cached result: clicking Run on a recipe already in the store, until its result line is
   shown (the row read back from the store, its deltas computed); and choosing another device
   in the trade-off chart's latency menu, until the chart is drawn again from the stored rows.
   Goal: 300 ms.

Prints a table and writes bench/results/dashboard.json.

    python -m bench.dashboard
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import show_and_write  # noqa: E402

RELOADS = 4
CLICKS = 5
CHART = ".wb-tradeoff-chart .wb-chart"


def prepared_workspace(folder: str) -> None:
    import workbench
    from workbench.pipeline import prepare_task
    from workbench.store import ExperimentStore

    task = prepare_task("default", workspace=folder, progress=False)
    workbench.sweep(task, workbench.default_configs(), ExperimentStore(folder), latency_runs=10,
                    progress=False)


def draws(page) -> int:
    return int(page.eval_on_selector(CHART, "div => Number(div.dataset.draws || 0)"))


def open_app(page, url: str) -> tuple[float, float]:
    """Seconds from navigation to the first question being clickable, and to the chart drawn."""
    start = time.perf_counter()
    page.goto(url)
    page.get_by_role("button", name="unlabelled", exact=True).wait_for(timeout=120_000)
    usable = time.perf_counter() - start
    page.wait_for_function(f"() => Number(document.querySelector('{CHART}')?.dataset.draws"
                           " || 0) > 0", timeout=120_000)
    return usable, time.perf_counter() - start


def cached_run(page) -> float:
    """Seconds from clicking Run on a stored variant to its result shown in the log."""
    finished = "document.querySelector('.wb-techniques .wb-log').textContent" \
               ".split('finished:').length"
    before = page.evaluate(f"() => {finished}")
    start = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(f"() => {finished} > {before}", timeout=60_000)
    return time.perf_counter() - start


def device_switch(page, label: str) -> float:
    """Seconds from choosing a device in the latency menu to the chart drawn again."""
    before = draws(page)
    start = time.perf_counter()
    page.locator(".wb-trade-offs select").first.select_option(label=label)
    page.wait_for_function(f"() => Number(document.querySelector('{CHART}').dataset.draws) > "
                           f"{before}", timeout=60_000)
    return time.perf_counter() - start


def main() -> None:
    from playwright.sync_api import sync_playwright

    from widgets.serve import DashboardServer
    from workbench.doctor import chromium_path

    with tempfile.TemporaryDirectory() as folder:
        prepared_workspace(folder)
        with DashboardServer(folder, Path(folder) / "voila.log") as server, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path() or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            server.wait_preheated(1)
            first = open_app(page, server.url)
            reloads = []
            for round_number in range(RELOADS):
                server.wait_preheated(round_number + 2)  # the next kernel is ready
                reloads.append(open_app(page, server.url))
            page.get_by_role("tab", name="Techniques").click()
            runs = [cached_run(page) for _ in range(CLICKS)]
            page.get_by_role("tab", name="Trade-offs").click()
            devices = ["cortex_m7, estimated", "edge_tpu, estimated"] * (CLICKS // 2 + 1)
            switches = [device_switch(page, label) for label in devices[:CLICKS]]
            browser.close()
    rows = [
        {"measure": "first visit: navigation to usable app (s)", "median": first[0],
         "worst": first[0], "goal": 3.0},
        {"measure": "first visit: navigation to chart drawn (s)", "median": first[1],
         "worst": first[1], "goal": None},
        {"measure": "reload: navigation to usable app (s)",
         "median": statistics.median(r[0] for r in reloads), "worst": max(r[0] for r in reloads),
         "goal": 3.0},
        {"measure": "reload: navigation to chart drawn (s)",
         "median": statistics.median(r[1] for r in reloads), "worst": max(r[1] for r in reloads),
         "goal": None},
        {"measure": "cached result: Run click to result shown (s)",
         "median": statistics.median(runs), "worst": max(runs), "goal": 0.3},
        {"measure": "cached results: device switch to redrawn chart (s)",
         "median": statistics.median(switches), "worst": max(switches), "goal": 0.3},
    ]
    show_and_write("dashboard", rows, {"table": rows, "first_visit_s": first,
                                       "reloads_s": reloads, "cached_run_s": runs,
                                       "device_switch_s": switches}, 3)


if __name__ == "__main__":
    main()
