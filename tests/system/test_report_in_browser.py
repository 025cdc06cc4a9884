"""What people see, in a real headless browser: the HTML report opened from disk, and a
night's run in the Prefect UI of a real server: its name says its night, its own Artifacts
tab holds the report with every chart, and a scheduled night without input shows Failed.
Chromium comes from Debian (`apt-get install chromium`), driven by Playwright; without
it these tests skip, except under CI=true, where they fail (`.ci/run` installs it).

Set SENTIMENT_UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/*.png from these runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import ReportOptions
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.model.registry import load_classifier
from sentiment_model.reporting.context import model_context
from sentiment_model.reporting.reports import build_report
from sentiment_model.scoring.batch import score_day
from tests.conftest import canonical_rows, synthetic_reviews
from tests.processes import PROJECT_ROOT, prefect_server
from tests.unit.reporting.test_reports import DRIFTED, NORMAL_DAYS, SECTIONS, _negative_reviews_of_one_product

pytestmark = [pytest.mark.e2e]
CHROMIUM = os.environ.get("SENTIMENT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
#: Headless in a closed network: nothing to sync, update or phone home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; under CI a missing browser is a failure, not a pass."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: the browser tests must run in CI (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        _unavailable("no Chromium on this machine (install Debian's: apt-get install -y chromium, or set SENTIMENT_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (dev dependency)")
    with sync_playwright() as playwright:
        # Playwright's own browser download needs the internet: drive the system Chromium.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("SENTIMENT_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name


@pytest.fixture(scope="module")
def report_root(tmp_path_factory, tiny_champion_root) -> DataRoot:
    """Three ordinary nights and a drifted one, scored and reported with the library."""
    root = DataRoot(str(tmp_path_factory.mktemp("browser-root")))
    shutil.copytree(tiny_champion_root.models_dir(), root.models_dir())
    for index, day in enumerate(NORMAL_DAYS):
        write_incoming_batches(root, canonical_rows(synthetic_reviews(200, seed=30 + index), day))
    write_incoming_batches(root, _negative_reviews_of_one_product(150))
    classifier = load_classifier(root, "champion")
    for day in [*NORMAL_DAYS, DRIFTED]:
        score_day(root, classifier, day, new_run_id())
    build_report(root, DRIFTED, model_context(root, root.models_dir(classifier.version)), ReportOptions(window_days=3))
    return root


def _rendered_images(page) -> list[tuple[str, int]]:
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=30_000)
    return page.evaluate("Array.from(document.images).map(i => [i.alt, i.naturalWidth])")


def test_html_report_renders_every_section_and_chart(browser, report_root, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(Path(report_root.reports_dir(DRIFTED), "report.html").as_uri())
    for section in SECTIONS:
        assert page.locator(f"section#{section} h2").is_visible(), section
    images = _rendered_images(page)
    assert len(images) >= 8 and all(width > 0 for _, width in images), images
    for section in ("classes", "drift", "quality", "input", "text-drift", "explanations", "products"):
        assert page.locator(f"section#{section} table tbody tr").count() > 0, section
    page.locator("section#classes").scroll_into_view_if_needed()
    page.screenshot(path=_screenshot_path(tmp_path, "report.png"))
    page.close()


#: Two nightly runs on the server, as the deployment's worker would run them: the drifted
#: night, and a scheduled night (no run_date: yesterday in the configured timezone) that has
#: no batch file. Prints their ids, names and states.
NIGHTS = """
import json, sys
from flows.nightly_scoring import nightly_scoring

night = nightly_scoring(data_root=sys.argv[1], config={"run_date": sys.argv[2], "report": {"window_days": 3}}, return_state=True)
scheduled = nightly_scoring(data_root=sys.argv[1], return_state=True)
print("NIGHTS " + json.dumps({name: {"id": str(state.state_details.flow_run_id)} for name, state in (("night", night), ("scheduled", scheduled))}))
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory, report_root):
    """One Prefect server with its UI for the module, and the two nights run against it."""
    tmp_path = tmp_path_factory.mktemp("prefect-ui")
    with prefect_server(tmp_path, PREFECT_UI_ENABLED="true", TF_CPP_MIN_LOG_LEVEL="3") as (api, env):
        done = subprocess.run([sys.executable, "-c", NIGHTS, report_root.url, DRIFTED.isoformat()], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=400)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        nights = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("NIGHTS "))[len("NIGHTS ") :])
        for run in nights.values():
            run.update(httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json())
        yield api.removesuffix("/api"), nights


def test_the_nights_run_page_shows_its_date_and_its_report_with_every_chart(browser, ui, report_root, tmp_path):
    base, nights = ui
    run = nights["night"]
    assert run["state"]["type"] == "COMPLETED" and run["name"] == f"nightly {DRIFTED}"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/runs/flow-run/{run['id']}")
    page.get_by_text(f"nightly {DRIFTED}", exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Artifacts", exact=True).first.click()
    keys = ("adhoc-nightly-scoring-report", "adhoc-nightly-scoring-report-html", "adhoc-nightly-scoring-class-distribution", "adhoc-nightly-scoring-negative-products")
    for key in keys:
        page.get_by_text(key, exact=True).last.wait_for(timeout=30_000)
    page.set_viewport_size({"width": 1280, "height": 1500})  # the UI scrolls inside the page: a tall window shows the artifacts
    page.screenshot(path=_screenshot_path(tmp_path, "nightly-run.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    # Every chart of the HTML report is in the report artifact, and renders.
    html = browser.new_page()
    html.goto(Path(report_root.reports_dir(DRIFTED), "report.html").as_uri())
    html_charts = {alt for alt, width in _rendered_images(html) if width > 0}
    html.close()
    page.get_by_text("adhoc-nightly-scoring-report", exact=True).last.click()
    page.locator("img").first.wait_for(timeout=30_000)
    images = _rendered_images(page)
    assert len(html_charts) >= 8 and html_charts <= {alt for alt, width in images if width > 0}, (html_charts, images)
    assert page.locator("table").count() >= 5
    page.get_by_role("heading", name="Incidents").first.scroll_into_view_if_needed()  # the morning's first look
    page.screenshot(path=_screenshot_path(tmp_path, "artifacts.png"))

    # The artifact's history lists the runs by their nights.
    page.goto(f"{base}/artifacts/key/adhoc-nightly-scoring-report")
    page.get_by_text(f"nightly {DRIFTED}").first.wait_for(timeout=30_000)
    page.close()


def test_a_scheduled_night_without_input_shows_as_failed(browser, ui, tmp_path):
    base, nights = ui
    run = nights["scheduled"]
    yesterday = dt.date.fromisoformat(run["name"].removeprefix("nightly "))  # UTC here: SENTIMENT_TIMEZONE is not set
    assert abs((dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1) - yesterday).days) <= 1
    assert run["state"]["type"] == "FAILED", run["state"]
    assert run["state"]["message"].count("no input for") == 1 and "set config.expect_empty_nights" in run["state"]["message"]
    page = browser.new_page(viewport={"width": 1280, "height": 700})
    page.goto(f"{base}/runs/flow-run/{run['id']}")
    page.get_by_text(run["name"], exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Failed", exact=True).first.wait_for(timeout=30_000)
    assert page.get_by_text("Completed", exact=True).count() == 0
    page.get_by_text("Artifacts", exact=True).first.click()
    page.get_by_text("This run did not produce any artifacts").first.wait_for(timeout=30_000)  # nothing replaced the latest report
    page.get_by_text("Logs", exact=True).first.click()
    page.get_by_text("no input for", exact=False).first.wait_for(timeout=30_000)
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.screenshot(path=_screenshot_path(tmp_path, "empty-night.png"))
    page.close()
