"""Fixtures of the batch tests: one Spark session, and a small landed day on the real HDFS.

The landed day (``landed``) is a flash-sale start written the way the lander writes it --
Parquet from ``schemas.to_table`` in ``dt=/hr=`` folders, files named topic+partition+offsets --
with the traps the reports must survive: a retried payment in another file, a retry in the
same file, a retry whose copies straddle midnight, a refund, an order paid a day after it was
placed, an event in the wrong hour folder, a row without event_id, events on both sides of
the Asia/Shanghai and UTC day edges, and temp files that are not data. The expected numbers
are written out by hand in the tests.

Helpers are fixtures (not an imported module) so that they work under any pytest import mode.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hdfs import InsecureClient

from infra.endpoints import Endpoints
from schemas import arrow_schema
from stream.rows import to_row, to_table

TOPIC = "surge.events"
WEB_WEIBO = {"platform": "web", "campaign": {"source": "weibo", "medium": "social"}}
IOS = {"platform": "ios"}
ANDROID_DOUYIN = {"platform": "android", "campaign": {"source": "douyin"}}
WEB = {"platform": "web"}
LIP = {"sku": "LIP-RED", "category": "lipstick", "price": 199.0}
SERUM = {"sku": "SER-30", "category": "serum", "price": 459.5}
MASK = {"sku": "MASK-01", "category": "mask", "price": 50.0}


def event(
    event_id: str | None,
    type_: str,
    at: str,
    device: str,
    *,
    received: str | None = None,
    user: str | None = None,
    session: str | None = None,
    context: dict | None = None,
    **properties: Any,
) -> dict[str, Any]:
    """An enriched event as the collector puts it on Kafka (times in UTC, "…Z")."""
    return {
        "event_id": event_id,
        "type": type_,
        "event_time": at,
        "received_at": received or at,
        "device_id": device,
        "user_id": user,
        "session_id": session,
        "context": context,
        "properties": properties,
        "app_id": "shop-cn",
        "schema_version": 1,
    }


def _pv(eid: str, at: str, device: str, **kw: Any) -> dict[str, Any]:
    return event(eid, "page_view", at, device, **kw)


D1 = {"user": "u1", "session": "s1", "context": WEB_WEIBO}
D2 = {"user": "u2", "session": "s2", "context": IOS}
D3 = {"session": "s4", "context": ANDROID_DOUYIN}
D4 = {"context": WEB_WEIBO}  # no session_id: sessions by 30 minutes of inactivity
D5 = {"session": "s5"}  # no context at all: platform and campaign "(none)"
D6 = {"user": "u6", "session": "s6", "context": WEB}
O1_ITEMS = [{**LIP, "quantity": 2}, {**SERUM, "quantity": 1}]  # lines worth 398 + 459.5

E6 = event("e06", "payment_succeeded", "2026-11-10T16:00:21Z", "d1", **D1, order_id="O1",
           amount=800.0, currency="CNY", method="alipay")  # fmt: skip
E15 = _pv("e15", "2026-11-11T05:01:00Z", "d3", **D3)


@dataclass(frozen=True)
class File:
    """One published file: its hour folder, Kafka partition and events (offsets in order)."""

    folder: str  # "2026-11-10/16"
    partition: int
    events: tuple[dict[str, Any], ...]
    nullable_keys: bool = False  # written with a schema that lets event_id be null


FILES = (
    # Shanghai's 2026-11-10, and a margin hour of its 11-11.
    File("2026-11-10/15", 4, (
        _pv("b01", "2026-11-10T15:59:59.999Z", "d5", **D5),
        _pv("x01", "2026-11-10T15:59:58Z", "d5", received="2026-11-10T15:59:58.200Z", **D5),
    )),
    File("2026-11-10/15", 5, (
        event("e22", "order_placed", "2026-11-10T15:50:00Z", "d6", **D6, order_id="O3",
              items=[{**MASK, "quantity": 2}], amount=100.0, currency="CNY"),
    )),
    # 00:00 in Shanghai: the sale starts.
    File("2026-11-10/16", 0, (
        _pv("e01", "2026-11-10T16:00:01Z", "d1", **D1),
        event("e02", "product_view", "2026-11-10T16:00:05Z", "d1", **D1, **LIP),
        event("e03", "add_to_cart", "2026-11-10T16:00:07Z", "d1", **D1, **LIP, quantity=2),
        event("e04", "begin_checkout", "2026-11-10T16:00:12Z", "d1", **D1, amount=857.5,
              currency="CNY"),
        event("e05", "order_placed", "2026-11-10T16:00:15Z", "d1", **D1, order_id="O1",
              items=O1_ITEMS, amount=800.0, currency="CNY"),
        E6,
    )),
    # The client retried the payment: same event_id, received later, a later file.
    File("2026-11-10/16", 0, ({**E6, "received_at": "2026-11-10T16:00:40Z"},)),
    File("2026-11-10/16", 1, (
        event("e08", "product_view", "2026-11-10T16:01:00Z", "d2", **D2, **SERUM),
        event("e09", "add_to_cart", "2026-11-10T16:02:00Z", "d2", **D2, **SERUM, quantity=1),
        event("e10", "order_placed", "2026-11-10T16:03:00Z", "d2", **D2, order_id="O2",
              items=[{**SERUM, "quantity": 1}], amount=459.5, currency="CNY"),
        event("e11", "payment_succeeded", "2026-11-10T16:03:30Z", "d2", **D2, order_id="O2",
              amount=459.5, currency="CNY", method="wechat_pay"),
        # A second confirmation of the same order: not a second sale.
        event("e12", "payment_succeeded", "2026-11-10T16:05:00Z", "d2", **D2, order_id="O2",
              amount=459.5, currency="CNY", method="wechat_pay"),
    )),
    File("2026-11-10/16", 2, (_pv("e13", "2026-11-10T16:00:30Z", "d3", session="s3",
                                  context=ANDROID_DOUYIN),)),
    File("2026-11-10/16", 4, (
        _pv("b02", "2026-11-10T16:00:00Z", "d5", **D5),
        # x01 retried across midnight: this copy came 5 s later, its event_time is past it.
        _pv("x01", "2026-11-10T16:00:03Z", "d5", received="2026-11-10T16:00:03.100Z", **D5),
        # Published in the wrong hour folder: the day is taken from event_time, not the folder.
        _pv("l02", "2026-11-10T15:59:59Z", "d5", **D5),
    )),
    File("2026-11-10/16", 5, (
        event("e21", "payment_succeeded", "2026-11-10T16:10:00Z", "d6", **D6, order_id="O3",
              amount=100.0, currency="CNY", method="card"),
    )),
    File("2026-11-11/00", 4, (_pv("b03", "2026-11-11T00:00:00Z", "d5", **D5),)),
    File("2026-11-11/01", 3, (
        _pv("e17", "2026-11-11T01:00:00Z", "d4", **D4),
        _pv("e18", "2026-11-11T01:10:00Z", "d4", **D4),
        _pv("e19", "2026-11-11T01:50:00Z", "d4", **D4),
    )),
    File("2026-11-11/02", 0, (
        event("e07", "refund", "2026-11-11T02:00:00Z", "d1", user="u1", session="s1b",
              context=WEB_WEIBO, order_id="O1", amount=199.0),
    )),
    File("2026-11-11/03", 3, (
        event("e20", "product_view", "2026-11-11T03:00:00Z", "d4", **D4, **LIP),
    )),
    File("2026-11-11/03", 0, (_pv(None, "2026-11-11T03:00:00Z", "d7"),), nullable_keys=True),
    File("2026-11-11/04", 2, (
        # Before d3's first product_view: not a funnel step.
        event("e23", "add_to_cart", "2026-11-11T04:00:00Z", "d3", **D3, **LIP, quantity=1),
    )),
    File("2026-11-11/05", 2, (
        event("e14", "product_view", "2026-11-11T05:00:00Z", "d3", **D3, **LIP),
        E15,
        {**E15, "received_at": "2026-11-11T05:01:02Z"},  # a retry landed in the same file
    )),
    # Late: happened at 05:59:59.5, received hours later, filed under hour 06.
    File("2026-11-11/06", 2, (
        _pv("e16", "2026-11-11T05:59:59.500Z", "d3", received="2026-11-11T16:30:00Z", **D3),
    )),
    File("2026-11-11/15", 4, (_pv("b04", "2026-11-11T15:59:59.999999Z", "d5", **D5),)),
    File("2026-11-11/16", 4, (_pv("b05", "2026-11-11T16:00:00Z", "d5", **D5),)),
    File("2026-11-11/23", 4, (_pv("b06", "2026-11-11T23:59:59.999Z", "d5", **D5),)),
    File("2026-11-12/00", 4, (_pv("b07", "2026-11-12T00:00:00Z", "d5", **D5),)),
)  # fmt: skip

# Not data: a temp file, a temp folder, a hidden file -- each holding an event of the day.
JUNK = (
    "2026-11-11/03/.surge.events+3+0000000000000000900+0000000000000000900.parquet",
    "2026-11-11/03/+tmp/surge.events+3+0000000000000000901+0000000000000000901.parquet",
    "2026-11-11/03/_tmp/surge.events+3+0000000000000000902+0000000000000000902.parquet",
    "2026-11-11/03/_surge.events+3+0000000000000000903+0000000000000000903.parquet",
)


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _nullable_keys_table(events: tuple[dict[str, Any], ...]) -> pa.Table:
    schema = arrow_schema()
    schema = schema.set(0, schema.field(0).with_nullable(True))
    return pa.Table.from_pylist([to_row(e) for e in events], schema=schema)


def write_files(
    client: InsecureClient, root: str, files: tuple[File, ...], junk: bool = True
) -> list[str]:
    """Write files as the lander publishes them (and JUNK beside them); returns their paths."""
    next_offset: dict[int, int] = defaultdict(int)
    paths = []
    for file in files:
        first = next_offset[file.partition]
        last = first + len(file.events) - 1
        next_offset[file.partition] = last + 1
        day, hour = file.folder.split("/")
        name = f"{TOPIC}+{file.partition}+{first:019d}+{last:019d}.parquet"
        path = f"{root}/dt={day}/hr={hour}/{name}"
        table = _nullable_keys_table(file.events) if file.nullable_keys else to_table(file.events)
        client.write(path, data=parquet_bytes(table), overwrite=True)
        paths.append(path)
    not_data = to_table([_pv(f"j{i}", "2026-11-11T03:30:00Z", "d9") for i in range(3)])
    for path in JUNK if junk else ():
        day, hour, rest = path.split("/", 2)
        client.write(f"{root}/dt={day}/hr={hour}/{rest}", data=parquet_bytes(not_data))
    return paths


@dataclass(frozen=True)
class Landed:
    hdfs: str  # hdfs://127.0.0.1:14020
    root: str  # /surge-batch-tests/<uid>
    files: list[str]

    @property
    def events(self) -> str:
        return f"{self.hdfs}{self.root}/events"

    @property
    def reports(self) -> str:
        return f"{self.hdfs}{self.root}/reports"


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for tests that land their own files."""
    return SimpleNamespace(
        File=File, event=event, FILES=FILES, write_files=write_files, parquet_bytes=parquet_bytes
    )


@pytest.fixture(scope="session")
def hdfs_client(stack: Endpoints) -> InsecureClient:
    return InsecureClient(stack.webhdfs_url, user=stack.hdfs_user)


@pytest.fixture(scope="session")
def test_root(hdfs_client: InsecureClient) -> Iterator[str]:
    root = f"/surge-batch-tests/{uuid.uuid4().hex[:10]}"
    yield root
    hdfs_client.delete(root, recursive=True)


@pytest.fixture(scope="session")
def landed(stack: Endpoints, hdfs_client: InsecureClient, test_root: str) -> Landed:
    """The day above, landed under <test root>/events on the stack's HDFS."""
    files = write_files(hdfs_client, f"{test_root}/events", FILES)
    return Landed(stack.hdfs_default_fs, test_root, files)


@pytest.fixture(scope="session")
def spark(stack: Endpoints) -> Iterator[Any]:
    """One small local Spark session for the whole run (the jobs' getOrCreate reuses it)."""
    from pyspark.sql import SparkSession

    os.environ["HADOOP_USER_NAME"] = stack.hdfs_user
    session = (
        SparkSession.builder.master("local[2]")
        .appName("surge-batch-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def read_report(spark: Any, landed: Landed) -> Callable[..., list[dict[str, Any]]]:
    """read_report(name, date, reports=None): the rows of one written report day, as dicts."""

    def read(name: str, date: str, reports: str | None = None) -> list[dict[str, Any]]:
        path = f"{reports or landed.reports}/{name}/dt={date}"
        return [row.asDict(recursive=True) for row in spark.read.parquet(path).collect()]

    return read


@pytest.fixture
def day() -> Callable[[str, str], Any]:
    from batch.day import BusinessDay

    return lambda date, tz: BusinessDay(dt.date.fromisoformat(date), tz)
