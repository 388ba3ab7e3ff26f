"""The run's dashboard: one HTML file that opens anywhere, with no network.

Built with plotly, its JavaScript inlined once; the charts read the report Parquet (traffic,
sales, funnel, products) and the load generator's per-second timeline (what the collector
answered, how fast, and what it shed).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import pyarrow as pa
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from infra.figures import FUNNEL, SaleFigures, per_sku, total_rows

# The charts, in page order: (div id, title). The browser test checks each one rendered.
CHARTS = (
    ("traffic", "Traffic per minute"),
    ("gmv", "Cumulative paid GMV"),
    ("funnel", "Funnel (devices)"),
    ("products", "Top products by revenue"),
    ("load", "Collector: events offered, accepted and shed per second"),
    ("latency", "Collector: answer latency per second"),
)
_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
    "height": 360,
    "template": "plotly_white",
    "legend": {"orientation": "h", "y": -0.25},
}


def in_window(rows: list[dict], start: datetime, end: datetime) -> list[dict]:
    """The per-minute rows of the minutes the run touched (late events aside)."""
    first = start.replace(second=0, microsecond=0)
    return sorted((r for r in rows if first <= r["minute"] <= end), key=lambda r: r["minute"])


def traffic_chart(minutes: list[dict], zone: ZoneInfo) -> go.Figure:
    x = [r["minute"].astimezone(zone).strftime("%H:%M") for r in minutes]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=x, y=[r["page_views"] for r in minutes], name="page views")
    fig.add_scatter(x=x, y=[r["unique_devices"] for r in minutes], name="devices", secondary_y=True)
    fig.update_yaxes(title_text="page views", secondary_y=False)
    fig.update_yaxes(title_text="devices", secondary_y=True)
    return fig


def gmv_chart(minutes: list[dict], zone: ZoneInfo) -> go.Figure:
    x = [r["minute"].astimezone(zone).strftime("%H:%M") for r in minutes]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=x, y=[float(r["gmv"] or 0) for r in minutes], name="GMV in the minute")
    cumulative, total = [], 0.0
    for r in minutes:  # over the run's minutes (the report's restarts at midnight)
        total += float(r["gmv"] or 0)
        cumulative.append(total)
    fig.add_scatter(
        x=x, y=cumulative, name="cumulative GMV", mode="lines+markers", secondary_y=True
    )
    fig.update_yaxes(title_text="CNY per minute", secondary_y=False)
    fig.update_yaxes(title_text="CNY cumulative", secondary_y=True)
    return fig


def funnel_chart(funnel: pa.Table) -> go.Figure:
    totals = total_rows(funnel, "platform", "campaign_source")
    devices = [sum(r[f"{step}_devices"] for r in totals) for step in FUNNEL]
    return go.Figure(
        go.Funnel(y=list(FUNNEL), x=devices, texttemplate="%{value:,}<br>%{percentInitial:.0%}")
    )


def products_chart(products: pa.Table, top: int = 10) -> go.Figure:
    rows = sorted(per_sku(products.to_pylist()), key=lambda r: (-r["revenue"], r["sku"]))
    rows = rows[:top][::-1]  # plotly draws the first bar at the bottom
    return go.Figure(
        go.Bar(
            x=[float(r["revenue"] or 0) for r in rows],
            y=[f"{r['sku']} ({r['category']})" for r in rows],
            orientation="h",
            text=[f"{r['units_sold']} units" for r in rows],
        )
    )


def load_chart(timeline: list[dict]) -> go.Figure:
    x = [row["second"] for row in timeline]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=x, y=[row["offered_events"] for row in timeline], name="offered events/s")
    fig.add_scatter(x=x, y=[row["acked_events"] for row in timeline], name="accepted events/s")
    shed = [row["shed"] for row in timeline]
    fig.add_bar(x=x, y=shed, name="shed requests/s (429/503)", opacity=0.6, secondary_y=True)
    fig.update_xaxes(title_text="second of the run")
    fig.update_yaxes(title_text="events/s", secondary_y=False)
    fig.update_yaxes(title_text="shed requests/s", secondary_y=True, rangemode="tozero")
    return fig


def latency_chart(timeline: list[dict]) -> go.Figure:
    x = [row["second"] for row in timeline]
    fig = go.Figure()
    for key, name in (("ok_p50_ms", "p50"), ("ok_p99_ms", "p99")):
        fig.add_scatter(x=x, y=[row.get(key) for row in timeline], name=f"{name} of 2xx answers")
    fig.update_xaxes(title_text="second of the run")
    fig.update_yaxes(title_text="ms", rangemode="tozero")
    return fig


def build(
    reports: Mapping[str, pa.Table],
    results: Mapping[str, Any],
    figures: SaleFigures,
    tz: str,
    title: str,
    verdict: str,
) -> str:
    """The dashboard's HTML."""
    zone = ZoneInfo(tz)
    start = datetime.fromisoformat(results["started_at"]).astimezone(UTC)
    end = start + timedelta(seconds=results["duration_s"] + 60)
    traffic = in_window(reports["traffic_minute"].to_pylist(), start, end)
    sales = in_window(reports["sales_minute"].to_pylist(), start, end)
    timeline = results["timeline"]
    charts = {
        "traffic": traffic_chart(traffic, zone),
        "gmv": gmv_chart(sales, zone),
        "funnel": funnel_chart(reports["funnel_daily"]),
        "products": products_chart(reports["top_products"]),
        "load": load_chart(timeline),
        "latency": latency_chart(timeline),
    }
    sections = []
    for chart_id, chart_title in CHARTS:
        fig = charts[chart_id]
        fig.update_layout(title_text=chart_title, **_LAYOUT)
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=chart_id,
            config={"displaylogo": False, "responsive": True},
        )
        sections.append(f'<section class="chart">{div}</section>')
    return PAGE.format(
        title=html.escape(title),
        plotly=get_plotlyjs(),
        cards=_cards(figures, results, verdict),
        charts="\n".join(sections),
        note=html.escape(
            f"Minutes in {tz}. Reports of {', '.join(d.isoformat() for d in figures.days)}; "
            "load figures as the load generator saw the collector's answers."
        ),
    )


def write(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _cards(figures: SaleFigures, results: Mapping[str, Any], verdict: str) -> str:
    events = results["events"]
    cards = [
        ("paid GMV", f"¥{figures.gmv:,.2f}"),
        ("paid orders", f"{figures.paid_orders:,}"),
        ("buyers", f"{figures.buyers:,}"),
        ("AOV", f"¥{figures.aov:,.2f}" if figures.aov is not None else "-"),
        ("events accepted", f"{events['acked']:,}"),
        ("reconciliation", verdict),
    ]
    return "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div></div>'
        for label, value in cards
    )


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 16px 24px; color: #222; background: #fafafa; }}
h1 {{ font-size: 20px; margin: 0 0 12px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }}
.card {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; }}
.label {{ font-size: 12px; color: #666; }}
.value {{ font-size: 20px; font-weight: 600; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 10px; }}
.chart {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; min-width: 0; }}
p.note {{ font-size: 12px; color: #666; }}
</style>
<script>{plotly}</script>
</head>
<body>
<h1>{title}</h1>
<div class="cards">{cards}</div>
<div class="grid">
{charts}
</div>
<p class="note">{note}</p>
<script>
// Charts drawn before the grid had its final width: fit them to their cells.
window.addEventListener("load", () =>
  document.querySelectorAll(".plotly-graph-div").forEach(div => Plotly.Plots.resize(div)));
</script>
</body>
</html>
"""
