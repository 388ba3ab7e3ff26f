"""What the load generator sent, as the sales figures the reports must show.

The reports' paid GMV and paid orders come from the landed payment events (batch/README.md:
the first payment of each order). The load generator knows every payment it sent, in the
bodies it rendered: the ones a 2xx answer accepted must all be counted, and so must any
payment that landed though its answer never came back (a timeout after Kafka had it; the
client then retried or gave up) -- at least once, never lost. Nothing else may be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import orjson

from loadgen import Results

PAYMENT = "payment_succeeded"
TOKEN = 8  # ids start with the lap's 8-hex-digit token (loadgen/batches.py)


@dataclass(frozen=True)
class Sales:
    gmv: Decimal
    paid_orders: int

    def __add__(self, other: Sales) -> Sales:
        return Sales(self.gmv + other.gmv, self.paid_orders + other.paid_orders)


@dataclass(frozen=True)
class Expected:
    acked: Sales  # payments a 2xx answer accepted
    landed_unacked: Sales  # payments that landed without a 2xx ever seen

    @property
    def total(self) -> Sales:
        return self.acked + self.landed_unacked


def payments(results: Results) -> dict[str, tuple[str, Decimal]]:
    """Every payment in the rendered bodies: lap-0 event id -> (lap-0 order id, amount)."""
    found: dict[str, tuple[str, Decimal]] = {}
    for batch in results.batches:
        if batch.malformed:
            continue
        for event in orjson.loads(batch.body)["events"]:
            if event.get("type") == PAYMENT:
                properties = event["properties"]
                found[event["event_id"]] = (
                    properties["order_id"],
                    Decimal(str(properties["amount"])),
                )
    return found


def expected_sales(results: Results, landed_ids: Iterable[str]) -> Expected:
    """Paid GMV and orders of the acknowledged payments, and of the landed unacknowledged ones.

    A later lap sends the same bodies with the token renumbered: an id is its lap (the token)
    and its lap-0 form; an order is (lap, lap-0 order id)."""
    sent = payments(results)
    acked = set(results.acked_ids())
    unacked_landed = set(landed_ids) - acked

    def sales(ids: Iterable[str]) -> Sales:
        orders: dict[tuple[str, str], Decimal] = {}
        for event_id in ids:
            lap, base = event_id[:TOKEN], "0" * TOKEN + event_id[TOKEN:]
            payment = sent.get(base)
            if payment is not None:
                orders.setdefault((lap, payment[0]), payment[1])  # the first payment counts
        return Sales(sum(orders.values(), Decimal(0)), len(orders))

    return Expected(sales(acked), sales(unacked_landed))


def compare(
    expected: Expected, reported: Sales, reported_events: int, landed_distinct: int
) -> list[str]:
    """What the reports got wrong against the load generator and the landed data; [] if none."""
    problems = []
    want = expected.total
    if reported.gmv != want.gmv:
        problems.append(f"paid GMV {reported.gmv} in the reports, {want.gmv} sent and landed")
    if reported.paid_orders != want.paid_orders:
        problems.append(
            f"{reported.paid_orders} paid orders in the reports, {want.paid_orders} sent and landed"
        )
    if reported_events != landed_distinct:
        problems.append(
            f"{reported_events} events counted by the reports, {landed_distinct} distinct landed"
        )
    return problems


def by_status(results: Mapping) -> dict[str, int]:
    """Answers by class: accepted (2xx), shed (429/503), refused (other 4xx/5xx)."""
    statuses = {int(k): v for k, v in results["requests"]["by_status"].items()}
    return {
        "accepted": sum(v for k, v in statuses.items() if 200 <= k < 300),
        "shed": sum(v for k, v in statuses.items() if k in (429, 503)),
        "refused": sum(v for k, v in statuses.items() if k >= 300 and k not in (429, 503)),
    }
