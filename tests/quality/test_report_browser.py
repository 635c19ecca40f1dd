"""The HTML report in a real browser: Debian's `chromium`, headless (tools/components/20-chromium.sh installs
it), loads the page from disk with no network, logs no console message (a page that does is caught: the
detector is tested too), and its DOM after the scripts ran holds the rendered heatmaps and the tables. A
screenshot is kept under the test's tmp dir."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from binance_lake.lake import Lake
from binance_lake.quality.report import build_report
from binance_lake.sim import placement
from binance_lake.sim.server import SimServer
from tests.cli.runner import run_cli
from tests.components import require

CHROMIUM = shutil.which("chromium")
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(.*)")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            *args,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def console_messages(stderr: str) -> list[str]:
    return [m.group(1) for line in stderr.splitlines() if (m := CONSOLE.search(line))]


@pytest.fixture(scope="module")
def report_lake(sim_server: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("reported")
    lake = Lake(settings=sim_server.settings(root))
    symbols = "BTCUSDT,ETHUSDT,SOLUSDT"
    assert lake.sync(
        datasets="klines", intervals="1h", symbols=symbols, start="2023-03-01", end="2023-03-31"
    ).ok
    (missing,) = [f for f in placement.MISSING_FILES if f.dataset == "metrics"]
    day = dt.timedelta(days=1)
    assert lake.sync(
        datasets="metrics", symbols=missing.symbol, start=missing.period - day, end=missing.period + day
    ).ok
    lake.check(now=sim_server.universe.clock.now(), end=missing.period + day)
    return lake


def test_the_report_renders_in_chromium_without_console_errors(report_lake: Lake, tmp_path: Path) -> None:
    require(CHROMIUM is not None, "chromium", "apt-get install -y chromium")
    page = tmp_path / "report.html"
    report_lake.report(page)
    url = page.resolve().as_uri()

    shot = tmp_path / "report.png"
    shown = chromium("--window-size=1400,2400", f"--screenshot={shot}", url, profile=tmp_path / "p1")
    assert shot.is_file() and shot.stat().st_size > 10_000, shown.stderr[-2000:]
    assert console_messages(shown.stderr) == []

    dumped = chromium("--virtual-time-budget=10000", "--dump-dom", url, profile=tmp_path / "p2")
    dom = dumped.stdout
    assert console_messages(dumped.stderr) == []
    for chart in ("heatmap-provenance", "heatmap-gaps", "sizes"):
        section = dom[dom.index(f'id="{chart}"') :]
        assert 'class="main-svg"' in section[:20_000], f"{chart} was not drawn"
    heatmaps = dom[dom.index('id="heatmap-provenance"') : dom.index('id="gaps"')]
    assert heatmaps.count('class="hm"') >= 2  # both heatmap traces rendered
    for table in ("gaps", "findings", "runs"):
        assert f'<table id="{table}">' in dom
    gaps = dom[dom.index('<table id="gaps">') : dom.index("</table>", dom.index('<table id="gaps">'))]
    assert "maintenance" in gaps and "missing-file" in gaps
    assert "http://" not in page.read_text()[:2000] and "<script src=" not in page.read_text()


def test_the_console_detector_catches_errors(tmp_path: Path) -> None:
    require(CHROMIUM is not None, "chromium", "apt-get install -y chromium")
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><script>console.error("boom"); throw new Error("uncaught")</script></body></html>'
    )
    messages = console_messages(chromium("--dump-dom", bad.as_uri(), profile=tmp_path / "p").stderr)
    assert any("boom" in m for m in messages) and any("uncaught" in m for m in messages)


def test_a_long_range_is_drawn_by_month_and_a_short_one_by_day(report_lake: Lake) -> None:
    _, summary = build_report(report_lake.database)
    assert summary["monthly"] is True  # 2023-03 .. 2024-03: more than DAILY_CELLS_UP_TO days
    _, march = build_report(report_lake.database, start="2023-03-01", end="2023-03-31")
    assert march["monthly"] is False and march["cells"] == 3 * 31


def test_the_report_command_writes_the_file_and_says_where(report_lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = run_cli("report", "--root", str(report_lake.root), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and out.stat().st_size > 1_000_000
    refused = run_cli("report", "--root", str(report_lake.root), "--out", str(tmp_path / "nope" / "r.html"))
    assert refused.returncode == 2 and "does not exist" in refused.stderr
