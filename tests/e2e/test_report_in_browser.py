"""What people see, in a real headless browser: the HTML report opened from disk, and the
report's artifacts in the Prefect UI of a real server. Chromium comes from Debian
(`apt-get install chromium`), driven by Playwright; without it these tests skip.

Set SENTIMENT_UPDATE_SCREENSHOTS=1 to refresh docs/screenshots/*.png from these runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sentiment_model.core.layout import DataRoot, new_run_id
from sentiment_model.core.settings import ReportOptions
from sentiment_model.ingest.canonical import write_incoming_batches
from sentiment_model.model.registry import load_classifier
from sentiment_model.reporting.reports import build_report, model_context
from sentiment_model.scoring.batch import score_day
from tests.code.test_reports import DRIFTED, NORMAL_DAYS, SECTIONS, _negative_reviews_of_one_product
from tests.conftest import canonical_rows, synthetic_reviews
from tests.e2e.test_deployed_nightly_scoring import BIN, PROJECT_ROOT, stop, wait_for
from tests.processes import free_port, prefect_server_env

pytestmark = [pytest.mark.e2e]
CHROMIUM = os.environ.get("SENTIMENT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (install Debian's: apt-get install -y chromium, or set SENTIMENT_CHROMIUM)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev dependency)")
    with playwright_api.sync_playwright() as playwright:
        # Playwright's own browser download needs the internet: drive the system Chromium.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
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


def test_artifacts_tab_of_a_real_server_shows_the_charts_and_tables(browser, report_root, tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_server_env(tmp_path, api, PREFECT_UI_ENABLED="true", TF_CPP_MIN_LOG_LEVEL="3")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=open(tmp_path / "server.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 120, "the Prefect server")
        code = (
            "import datetime as dt, sys; from flows.report import report; "
            f"report(run_date=dt.date.fromisoformat('{DRIFTED.isoformat()}'), data_root=sys.argv[1], report_options={{'window_days': 3}}, artifact_key_prefix='nightly-scoring')"
        )
        done = subprocess.run([sys.executable, "-c", code, report_root.url], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs = httpx.post(f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": ["report"]}}}, timeout=10).json()
        assert len(runs) == 1

        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/runs/flow-run/{runs[0]['id']}")
        page.get_by_text("Artifacts", exact=True).first.click()
        for key in ("nightly-scoring-report", "nightly-scoring-class-distribution", "nightly-scoring-live-quality", "nightly-scoring-input-health"):
            page.get_by_text(key, exact=True).last.wait_for(timeout=30_000)
        page.screenshot(path=tmp_path / "artifacts-tab.png")
        page.get_by_text("nightly-scoring-report", exact=True).last.click()
        page.locator("img[alt='class_distribution.png']").wait_for(timeout=30_000)
        images = _rendered_images(page)
        assert {"class_distribution.png", "sentiment_trend.png", "probability_histograms.png", "live_quality_trend.png"} <= {alt for alt, width in images if width > 0}, images
        assert page.locator("table").count() >= 5
        page.get_by_text("Class distribution", exact=True).scroll_into_view_if_needed()
        page.screenshot(path=_screenshot_path(tmp_path, "artifacts.png"))
        page.close()
    finally:
        stop(server, signal.SIGINT)
