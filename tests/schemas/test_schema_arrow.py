"""The landed table's Arrow schema: typed columns from one declarative list, then `extra`."""

import pyarrow as pa
import pytest

from schemas import catalogue
from schemas.arrow import MONEY, arrow_schema
from schemas.columns import COLUMNS
from schemas.fields import fields

EXPECTED_COLUMNS = [
    "event_id", "type", "event_time", "received_at", "device_id", "user_id", "session_id",
    "app_id", "schema_version", "ip", "user_agent", "page_url", "page_referrer", "page_title",
    "platform", "app_version", "locale", "campaign_source", "campaign_medium", "campaign_name",
    "order_id", "amount", "currency", "sku", "category", "price", "quantity", "query", "method",
    "items", "extra",
]  # fmt: skip


def test_columns():
    schema = arrow_schema()
    assert schema.names == EXPECTED_COLUMNS
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.decimal128(18, 4)
    assert schema.field("quantity").type == pa.int32()
    assert schema.field("items").type == pa.list_(
        pa.struct(
            [
                ("sku", pa.string()),
                ("category", pa.string()),
                ("price", MONEY),
                ("quantity", pa.int32()),
            ]
        )
    )
    assert [f.name for f in schema if not f.nullable] == [
        "event_id", "type", "event_time", "received_at", "device_id",
    ]  # fmt: skip


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: c.name)
def test_every_column_path_is_a_field_of_some_event_or_a_server_field(column, example):
    server = {"event_time", "received_at", "ip", "user_agent", "app_id", "schema_version"}
    if column.path[0] in server:
        return
    known = set()
    for event_type, version in catalogue.event_types().items():
        known |= set(fields(catalogue.resolved(catalogue.event_path(event_type, version))))
    assert ".".join(column.path) in known
