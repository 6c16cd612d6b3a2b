"""Reports rendered in a real browser (headless Chromium): no console errors, every figure
and key table visible, nothing wider than a 1,366-px laptop screen, sorting and filtering.

A probe script is put into a copy of each report; after the page loads it records what a
reader would see into a ``<pre id="xdbench-probe">`` element, which ``--dump-dom``
returns. Screenshots go to ``$XDBENCH_SCREENSHOTS`` when set (else the test's tmp folder).
Skipped when Chromium is not installed (``apt-get install -y chromium``; ``.ci/run`` does).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.report.html import write_report

WIDTH = 1366
BROWSERS = ("chromium", "chromium-browser", "google-chrome")

PROBE = """<script>
window.__probe_errors = [];
window.addEventListener('error', function (e) { window.__probe_errors.push(String(e.message)); });
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () { window.__probe_errors.push(level + ': ' + Array.from(arguments).join(' '));
                                 original.apply(console, arguments); };
});
window.addEventListener('load', function () {
  var out = {errors: window.__probe_errors, scrollWidth: document.documentElement.scrollWidth,
             scrollHeight: document.documentElement.scrollHeight, innerWidth: window.innerWidth};
  out.figures = Array.from(document.querySelectorAll('figure')).map(function (f) {
    var img = f.querySelector('img'), box = img.getBoundingClientRect();
    return {kind: f.dataset.kind, natural: img.naturalWidth, width: box.width, height: box.height,
            right: box.right, visible: getComputedStyle(img).visibility !== 'hidden' && box.height > 0};
  });
  out.tables = Array.from(document.querySelectorAll('table.data')).map(function (t) {
    var box = t.getBoundingClientRect(); return {rows: t.tBodies[0].rows.length, width: box.width, right: box.right};
  });
  out.filters = document.querySelectorAll('input.filter').length;
  out.sections = document.querySelectorAll('section.task').length;
  var table = document.querySelector('table.data');
  if (table) {
    var col = table.tHead.rows[0].cells.length - 1, th = table.tHead.rows[0].cells[col];
    var values = function () { return Array.from(table.tBodies[0].rows).map(function (r) {
      return parseFloat(r.cells[col].dataset.v); }).filter(function (v) { return !isNaN(v); }); };
    th.click(); out.sortedUp = values();
    th.click(); out.sortedDown = values();
    var box = document.querySelector('input.filter'), first = table.tBodies[0].rows[0].cells[0].textContent;
    box.value = first; box.dispatchEvent(new Event('input'));
    out.filterTerm = first;
    out.visibleAfterFilter = Array.from(table.tBodies[0].rows).filter(function (r) {
      return r.style.display !== 'none'; }).map(function (r) { return r.cells[0].textContent; });
  }
  var pre = document.createElement('pre'); pre.id = 'xdbench-probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)")


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--disable-extensions", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def render(report: Path, folder: Path, name: str) -> dict:
    """Load ``report`` in Chromium at 1,366 px; return the probe's findings (and screenshot it)."""
    browser = _browser()
    probed = folder / f"{name}-probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    done = _chromium(browser, folder / "profile", f"--window-size={WIDTH},900", "--virtual-time-budget=5000",
                     "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="xdbench-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading: {done.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    result["console"] = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    shots = Path(os.environ.get("XDBENCH_SCREENSHOTS") or folder)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"{name}.png"
    height = min(int(result["scrollHeight"]) + 20, 16000)
    _chromium(browser, folder / "profile", f"--window-size={WIDTH},{height}", f"--screenshot={shot}",
              report.as_uri())
    result["screenshot"] = shot
    return result


def _check(result: dict, kinds: set[str], sections: int) -> None:
    assert result["errors"] == [] and result["console"] == []
    assert result["innerWidth"] == WIDTH and result["scrollWidth"] <= WIDTH, "the page scrolls sideways"
    assert kinds <= {f["kind"] for f in result["figures"]}
    for figure in result["figures"]:
        assert figure["natural"] > 0 and figure["visible"] and figure["width"] > 100, figure
        assert figure["right"] <= WIDTH, figure
    assert result["sections"] == sections and result["filters"] == sections
    assert result["tables"] and all(t["rows"] > 0 and t["right"] <= WIDTH for t in result["tables"])
    assert result["sortedUp"] == sorted(result["sortedUp"])
    assert result["sortedDown"] == sorted(result["sortedDown"], reverse=True)
    term = result["filterTerm"].lower()
    assert result["visibleAfterFilter"] and all(term in row.lower() for row in result["visibleAfterFilter"])
    assert result["screenshot"].read_bytes()[:4] == b"\x89PNG"
    assert int.from_bytes(result["screenshot"].read_bytes()[16:20], "big") == WIDTH


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


def test_id_ood_report_in_the_browser(tiny_run: Path, pages: Path) -> None:
    report = write_report(tiny_run, pages / "id_ood.html")
    _check(render(report, pages, "id_ood"), {"heatmap", "gaps", "reliability", "robustness"}, 2)


def test_transfer_matrix_report_in_the_browser(transfer_run: Path, pages: Path) -> None:
    report = write_report(transfer_run, pages / "transfer.html")
    _check(render(report, pages, "transfer"), {"heatmap", "gaps", "transfer", "reliability"}, 2)


def test_mmlu_like_report_in_the_browser(mmlu_run: Path, pages: Path) -> None:
    report = write_report(mmlu_run, pages / "mmlu.html")
    result = render(report, pages, "mmlu-like")
    _check(result, {"gaps", "profile", "reliability"}, 1)


def test_two_llm_like_models_on_mmlu_in_the_browser(pages: Path) -> None:
    """Two multiple-choice models on the 57 MMLU subjects (real questions, 3 a subject):
    their capability profiles, the paired difference profile and its table."""
    from bench.pipeline import evaluate
    from bench.runner import RunConfig
    from bench.scoring.options import StatisticsOptions
    from tests.conftest import require_data

    data = require_data("mmlu/test")
    done = evaluate(RunConfig(suites=("mmlu",), models=("tests.benchmarks.random_mc:make",
                                                          "tests.report.models:make_other"),
                              limit=3, data_dir=str(data)), pages / "mmlu-two", save_models=False,
                    statistics=StatisticsOptions(resamples=200, permutations=200))
    assert done is not None
    report = write_report(done.run_dir, pages / "mmlu-two.html")
    result = render(report, pages, "mmlu-two-models")
    _check(result, {"gaps", "profile", "difference"}, 1)
    assert "Paired differences in accuracy" in report.read_text()


def test_generation_report_in_the_browser(pages: Path) -> None:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig
    from bench.scoring.options import StatisticsOptions

    suite = Path(__file__).resolve().parents[2] / "examples" / "own-qa-generation" / "suite.toml"
    done = evaluate(RunConfig(suites=(str(suite),), models=("tests.generation_models:qa",)), pages / "qa",
                    save_models=False, statistics=StatisticsOptions(level=0.9, method="percentile", resamples=200,
                                                                     permutations=200))
    assert done is not None
    report = write_report(done.run_dir, pages / "qa.html")
    result = render(report, pages, "generation")
    _check(result, {"heatmap", "gaps"}, 1)
    assert "90% Wilson interval" in report.read_text()


def test_many_baselines_on_real_data_in_the_browser(shared_data: Path, pages: Path) -> None:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig

    models = ("majority", "uniform", "source-only", "augmented")  # floors, a baseline and a mitigation
    done = evaluate(RunConfig(suites=("uci-sentiment",), models=models, data_dir=str(shared_data), limit=60),
                    pages / "uci", save_models=False)
    report = write_report(done.run_dir, pages / "uci.html")
    result = render(report, pages, "uci-sentiment")
    _check(result, {"heatmap", "gaps", "reliability", "robustness"}, 1)
    assert "<h3>Mitigations</h3>" in report.read_text()
