"""The run's figures and its dashboard, from a made-up sale; the dashboard in headless Chromium."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from infra import browser, dashboard
from infra.figures import business_days, sale_figures
from tests.infra import sale_reports

TZ = "Asia/Shanghai"


def _figures():
    marks = [Decimal(1000), Decimal(10_000), Decimal(1_000_000)]
    return sale_figures(sale_reports.reports(), TZ, marks, top=2)


def test_the_headline_figures_come_from_the_total_rows() -> None:
    figures = _figures()
    assert figures.gmv == Decimal("13200.50") and figures.paid_orders == 30
    assert figures.buyers == 28 and figures.aov == Decimal("440.02")
    assert figures.page_views == 1423 and figures.events == 5000
    assert (figures.peak_traffic.local, figures.peak_traffic.value) == ("10:31", 900)
    assert (figures.peak_sales.local, figures.peak_sales.value) == ("10:31", 9000)
    assert [p.sku for p in figures.top] == ["SKU-A", "SKU-B"]
    # 1,200.50 after 10:30, 10,200.50 after 10:31, never a million
    assert figures.marks == {
        Decimal(1000): "10:30",
        Decimal(10_000): "10:31",
        Decimal(1_000_000): None,
    }


def test_a_sale_across_local_midnight_covers_two_business_days() -> None:
    first = datetime(2026, 11, 11, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    last = datetime(2026, 11, 11, 16, 1, tzinfo=UTC)
    assert business_days(first, last, TZ) == [date(2026, 11, 11), date(2026, 11, 12)]
    assert business_days(first, first, TZ) == [date(2026, 11, 11)]


def _page(tmp_path: Path) -> Path:
    page = dashboard.build(
        sale_reports.reports(), sale_reports.results(), _figures(), TZ, "test sale", "PASS"
    )
    return dashboard.write(tmp_path / "dashboard.html", page)


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    text = _page(tmp_path).read_text()
    for chart_id, _ in dashboard.CHARTS:
        assert f'id="{chart_id}"' in text
    assert "<script src" not in text and "<link" not in text  # plotly.js inlined, no CDN
    assert "¥13,200.50" in text and "PASS" in text


def _chromium() -> None:
    if browser.chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium in CI: make browser installs it")
        pytest.skip("no Chromium (make browser installs Debian's chromium)")


def test_every_chart_renders_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    _chromium()
    with browser.open_page(_page(tmp_path)) as (page, console):
        page.wait_for_function(
            "ids => ids.every(id => document.querySelector(`#${id} .main-svg`))",
            arg=[chart_id for chart_id, _ in dashboard.CHARTS],
            timeout=20_000,
        )
        drawn = page.evaluate(
            """ids => ids.map(id => {
                const div = document.getElementById(id);
                return [id, div.querySelectorAll('.trace, .funnel, .bars .point').length,
                        div.getBoundingClientRect().height];
            })""",
            [chart_id for chart_id, _ in dashboard.CHARTS],
        )
    assert console.errors == [] and console.outside == []
    for chart_id, traces, height in drawn:
        assert traces > 0, f"chart {chart_id} has no trace drawn"
        assert height > 100, f"chart {chart_id} is {height}px high"
