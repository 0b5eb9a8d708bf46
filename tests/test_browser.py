"""The HTML report as the change approver sees it: rendered by headless Chromium (Debian's
``chromium``), checked from the rendered DOM, with a screenshot of each verdict.

Skipped when Chromium is not installed, except with CI=true, where that is a failure. With
DEPLOY_GATES_SCREENSHOT_DIR set (e.g. docs/img), the screenshots are copied there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gaterun import gates
from tests.reportrun import gate_project, newest, run

CHROMIUM = "chromium"
COLOURS = {"GO": "rgb(26, 127, 55)", "NO-GO": "rgb(207, 34, 46)",
           "INCONCLUSIVE": "rgb(154, 103, 0)"}
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    "--disable-default-apps", "--window-size=1280,800", "--hide-scrollbars",
    # the browser's own update and account checks never leave the machine
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
)
SHOTS = os.environ.get("DEPLOY_GATES_SCREENSHOT_DIR")
SHOT_DIR = Path(SHOTS).resolve() if SHOTS else None  # before pytester changes the folder
PROBE = """<script>
(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
  const banner = document.querySelector('.verdict-banner');
  const env = document.getElementById('environment');
  const envHeader = document.getElementById('environment-header');
  const results = document.getElementById('results-table');
  const out = {
    viewport: innerHeight,
    banner: banner && {...box(banner), colour: getComputedStyle(banner).backgroundColor,
                       text: banner.innerText},
    env: {height: env.offsetHeight,
          after_results: envHeader.getBoundingClientRect().top > results.getBoundingClientRect().bottom},
    sections: [...document.querySelectorAll('.deploy-gates h2')].map((h) => h.innerText),
    rows: [...document.querySelectorAll('#results-table tbody.results-table-row')].map(
      (b) => [...b.querySelectorAll('.collapsible td')].map((td) => td.innerText)),
    headers: [...document.querySelectorAll('#results-table th')].map((th) => th.innerText),
    timeline: [...document.querySelectorAll('table.timeline tr')].map((tr) => tr.innerText),
    diff: [...document.querySelectorAll('table.schema-diff tr')].map(
      (tr) => [...tr.children].map((td) => td.innerText)),
    text: document.body.innerText,
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path; in CI a missing browser fails instead of skipping."""
    path = shutil.which(CHROMIUM)
    if path is None and os.environ.get("CI", "").lower() in {"true", "1"}:
        pytest.fail("CI=true, so the browser tests must run, but chromium is not installed "
                    "(apt-get install chromium)", pytrace=False)
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browse(chromium: str, page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=60, check=True)


def render(chromium: str, report: Path, tmp_path: Path) -> dict:
    """The rendered DOM's facts, and every request the page made (from Chromium's net log)."""
    probed = tmp_path / f"probed-{report.name}"
    probed.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    netlog = tmp_path / f"{report.stem}-net.json"
    dom = browse(chromium, probed, tmp_path, f"--log-net-log={netlog}", "--dump-dom").stdout
    facts = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)
                       .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    facts["requests"] = [
        e["params"]["url"] for e in log["events"]
        if e["type"] == start and e["params"].get("initiator") != "not an origin"  # the page's
        and not e["params"].get("url", "file:").startswith(("file:", "data:"))
    ]
    return facts


def screenshot(chromium: str, report: Path, tmp_path: Path, name: str, height: int = 800) -> Path:
    shot = tmp_path / name
    browse(chromium, report, tmp_path, f"--screenshot={shot}", f"--window-size=1280,{height}")
    assert shot.stat().st_size > 10_000
    if SHOT_DIR:
        shutil.copy(shot, SHOT_DIR / name)
    return shot


def check_page(facts: dict, report: Path, verdict: str) -> None:
    banner = facts["banner"]
    assert banner is not None, facts["text"][:500]
    assert banner["text"].startswith(verdict)
    assert banner["top"] >= 0 and banner["bottom"] <= facts["viewport"], banner  # first screen
    assert banner["colour"] == COLOURS[verdict]
    text = facts["text"]
    assert not re.search(r"\('[^']*', \d+, ", text), "a raw skip tuple"
    for noise in ("The above exception", "During handling", "No log output captured"):
        assert noise not in text
    assert facts["env"]["height"] == 0 and facts["env"]["after_results"]  # last, collapsed
    assert "Links" not in facts["headers"] and {"Step", "Severity"} <= set(facts["headers"])
    assert facts["requests"] == []
    page = report.read_text()
    assert not re.search(r"""<(?:script|link|img|iframe|video|source)[^>]+(?:src|href)=["']?https?:""",
                         page)
    assert not re.search(r"url\(\s*['\"]?https?:", page)


def test_no_go_rehearsal_report_in_a_browser(
    chromium: str, pytester: pytest.Pytester, release: Path, tmp_path: Path
) -> None:
    down = release / "down" / "0008_metrics_alerts.sql"
    down.write_text(down.read_text().replace("DROP TYPE IF EXISTS metrics_alert_severity;", ""))
    result = gates(pytester, release, "--target=rehearsal", "-p", "no:xdist")
    assert result.ret == 1
    (report,) = (release / "reports").glob("*.html")
    facts = render(chromium, report, tmp_path)
    check_page(facts, report, "NO-GO")
    banner = facts["banner"]["text"]
    assert "expected the schema after rollback to equal the baseline" in banner
    assert "tascade" in banner and "P5.M3" in banner and "rehearsal" in banner
    assert facts["sections"][:3] == ["Runbook steps", "Rehearsal", "Schema differences"]
    timeline = "\n".join(facts["timeline"])
    assert re.search(r"0005_metrics_read_model\.sql\s+passed\s+\d+\.\d{3} s", timeline), timeline
    assert re.search(r"0008_metrics_alerts\.sql\s+failed", timeline), timeline
    assert ["left behind", "enum type public.metrics_alert_severity", "",
            "info,warning,critical"] in facts["diff"]
    first = facts["rows"][0]
    assert first[0] == "Failed", facts["rows"][:3]
    screenshot(chromium, report, tmp_path, "report-no-go.png")
    screenshot(chromium, report, tmp_path, "report-no-go-full.png", height=2000)


def test_go_rehearsal_report_in_a_browser(
    chromium: str, pytester: pytest.Pytester, release: Path, tmp_path: Path
) -> None:
    result = gates(pytester, release, "--target=rehearsal", "-p", "no:xdist")
    assert result.ret == 0
    (report,) = (release / "reports").glob("*.html")
    facts = render(chromium, report, tmp_path)
    check_page(facts, report, "GO")
    assert "every blocker gate passed" in facts["banner"]["text"]
    screenshot(chromium, report, tmp_path, "report-go.png")


def test_inconclusive_report_in_a_browser(
    chromium: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = gate_project(pytester, monkeypatch, "INCONCLUSIVE")
    assert run(project).ret == 6
    report = newest(project, "html")
    facts = render(chromium, report, tmp_path)
    check_page(facts, report, "INCONCLUSIVE")
    assert "no data for sum(rate(errors[5m])) within 2m" in facts["banner"]["text"]
    screenshot(chromium, report, tmp_path, "report-inconclusive.png")
