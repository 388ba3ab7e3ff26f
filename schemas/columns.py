"""The landed table's columns: their names, kinds and where each value is in the enriched event.

The one declarative list the Arrow schema (schemas/arrow.py), the Kafka record shape
(schemas/record.py), the lander's row mapping (stream/rows.py) and the docs are derived from.
Kinds, not Arrow types, so that the collector can know which fields are columns without
loading pyarrow; schemas/arrow.py gives each kind its Arrow type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EXTRA = "extra"
# Dropped, not kept in `extra`: a credential of sorts, and `app_id` already says whose it is.
DROPPED = frozenset({"write_key"})


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "string", "int32", "decimal", "timestamp" or "items": the converter it takes
    path: tuple[str, ...]  # where the value is in the enriched event (or in an item)
    nullable: bool = True


def _text(name: str, *path: str) -> Column:
    return Column(name, "string", path or (name,))


ITEM_COLUMNS = (
    _text("sku"),
    _text("category"),
    Column("price", "decimal", ("price",)),
    Column("quantity", "int32", ("quantity",)),
)

COLUMNS = (
    Column("event_id", "string", ("event_id",), nullable=False),
    Column("type", "string", ("type",), nullable=False),
    Column("event_time", "timestamp", ("event_time",), nullable=False),
    Column("received_at", "timestamp", ("received_at",), nullable=False),
    Column("device_id", "string", ("device_id",), nullable=False),
    _text("user_id"),
    _text("session_id"),
    _text("app_id"),
    Column("schema_version", "int32", ("schema_version",)),
    _text("ip"),
    _text("user_agent"),
    _text("page_url", "page", "url"),
    _text("page_referrer", "page", "referrer"),
    _text("page_title", "page", "title"),
    _text("platform", "context", "platform"),
    _text("app_version", "context", "app_version"),
    _text("locale", "context", "locale"),
    _text("campaign_source", "context", "campaign", "source"),
    _text("campaign_medium", "context", "campaign", "medium"),
    _text("campaign_name", "context", "campaign", "name"),
    _text("order_id", "properties", "order_id"),
    Column("amount", "decimal", ("properties", "amount")),
    _text("currency", "properties", "currency"),
    _text("sku", "properties", "sku"),
    _text("category", "properties", "category"),
    Column("price", "decimal", ("properties", "price")),
    Column("quantity", "int32", ("properties", "quantity")),
    _text("query", "properties", "query"),
    _text("method", "properties", "method"),
    Column("items", "items", ("properties", "items")),  # each item: ITEM_COLUMNS
)


@dataclass(frozen=True)
class Layout:
    """Columns as a tree of the event's keys: one walk over an event finds every column."""

    names: tuple[str, ...]
    tree: dict[str, Any]  # {"page": {"url": Column(page_url), ...}, "type": Column(type), ...}

    @classmethod
    def of(cls, columns: Iterable[Column]) -> Layout:
        columns = tuple(columns)
        tree: dict[str, Any] = {}
        for column in columns:
            *parents, leaf = column.path
            node = tree
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = column
        return cls(tuple(c.name for c in columns), tree)


EVENT_LAYOUT = Layout.of(COLUMNS)
ITEM_LAYOUT = Layout.of(ITEM_COLUMNS)
