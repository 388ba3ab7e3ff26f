"""The value of a `surge.events` record: the enriched event, already in the landed table's shape.

Its fields that have a column (schemas/columns.py) stay where they are. Everything else moves
into `extra`, a JSON text: the unknown top-level keys (`ts`, `sent_at`, `$lib`...), the
unknown keys of its objects and of its items, nested as in the event. That text is exactly what
the landed table's `extra` column holds for the event.

    split_extra({"type": "order_placed", "ts": 1794326403120, "properties": {"amount": 9.9,
                 "coupon": "D11-50"}, ...})
    -> {"type": "order_placed", "properties": {"amount": 9.9}, ...,
        "extra": '{"properties":{"coupon":"D11-50"},"ts":1794326403120}'}

Why the split is the collector's: every record then has one closed shape, so the lander reads
a whole poll with Arrow's native JSON reader (stream/native.py) instead of decoding each event
in Python. The collector holds the event as a dict already, so the split is cheap there, and
it saves the lander more than it costs (bench/bench_lander.py measures the lander).

`join_extra` is the inverse. The lander's reference mapping (stream/rows.py, for records the
native reader refuses) maps the joined event, so both paths give the same row. Values that do
not fit their column (an amount with five decimals, a count of 2.0) are not moved: the native
reader refuses them, and the reference keeps them in `extra` as it always did.

No pyarrow here: the collector imports this module.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from schemas.columns import COLUMNS, DROPPED, EVENT_LAYOUT, EXTRA, ITEM_LAYOUT

# Where the one list of objects with columns of their own is: ("properties", "items").
*_ITEMS_IN, _ITEMS = next(column.path for column in COLUMNS if column.kind == "items")


_SHAPES = 1 << 12


class _Object:
    """The known keys of one kind of object, and its objects that have columns inside."""

    def __init__(self, tree: dict[str, Any], path: tuple[str, ...] = ()):
        self.known = frozenset(tree)
        self.objects = {
            key: _Object(node, (*path, key)) for key, node in tree.items() if type(node) is dict
        }
        self.has_items = list(path) == _ITEMS_IN
        self.leaf = not self.objects and not self.has_items  # nothing to look into
        # Its keys in order -> those no column holds: objects of a kind come in few shapes,
        # and a lookup is cheaper than testing each key of each object.
        self.unknown_in: dict[tuple[str, ...], tuple[str, ...]] = {}

    def unknown(self, obj: dict[str, Any]) -> tuple[str, ...]:
        shape = tuple(obj)
        unknown = self.unknown_in.get(shape)
        if unknown is None:
            if len(self.unknown_in) >= _SHAPES:
                self.unknown_in.clear()
            unknown = self.unknown_in[shape] = tuple(k for k in shape if k not in self.known)
        return unknown


_EVENT = _Object(EVENT_LAYOUT.tree)
_ITEM_KNOWN = frozenset(ITEM_LAYOUT.tree)


def extra_json(rest: dict[str, Any]) -> str:
    """The `extra` text of what no column holds: sorted keys, so a rerun writes the same."""
    try:
        return orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits, which Python's json module can parse
        return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def split_extra(event: dict[str, Any]) -> dict[str, Any]:
    """The record value of an enriched event: its columns in place, the rest in `extra`.

    A top-level `extra` the client sent is part of the rest, like any unknown key. The event
    and its objects are left as they are; what changes is copied."""
    kept, rest = _split(event, _EVENT)
    if rest:
        for key in DROPPED:  # never in `extra` (the collector drops them before)
            rest.pop(key, None)
    if not rest:
        return kept
    if kept is event:
        kept = dict(event)
    kept[EXTRA] = extra_json(rest)
    return kept


def _split(obj: dict[str, Any], node: _Object) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(obj without the keys no column holds, those keys), obj itself when nothing moves."""
    rest = None
    if not obj.keys() <= node.known:
        obj = dict(obj)
        rest = {key: obj.pop(key) for key in node.unknown(obj)}
    for key, inner_node in node.objects.items():
        inner = obj.get(key)
        if type(inner) is dict and not (inner_node.leaf and inner.keys() <= inner_node.known):
            kept, inner_rest = _split(inner, inner_node)
            if inner_rest:
                obj = _changed(obj, key, kept, rest)
                rest = rest or {}
                rest[key] = inner_rest
    if node.has_items:
        items = obj.get(_ITEMS)
        if type(items) is list:
            kept_items, item_rests = _split_items(items)
            if item_rests is not None:
                obj = _changed(obj, _ITEMS, kept_items, rest)
                rest = rest or {}
                rest[_ITEMS] = item_rests
    return obj, rest


def _changed(obj: dict[str, Any], key: str, value: Any, rest: dict | None) -> dict[str, Any]:
    """obj with key set to value: a copy, unless obj is one already (rest says it is)."""
    if rest is None:
        obj = dict(obj)
    obj[key] = value
    return obj


def _split_items(items: list[Any]) -> tuple[list[Any], list[Any] | None]:
    """(items without their unknown keys, what each keeps in `extra`, position by position:
    {} when nothing, the item itself when it is not an object), or (items, None)."""
    if all(type(item) is dict and item.keys() <= _ITEM_KNOWN for item in items):
        return items, None
    kept, rests = [], []
    for item in items:
        if type(item) is dict:
            kept.append({k: v for k, v in item.items() if k in _ITEM_KNOWN})
            rests.append({k: v for k, v in item.items() if k not in _ITEM_KNOWN})
        else:
            kept.append(item)
            rests.append(item)
    return kept, rests


def join_extra(value: dict[str, Any]) -> dict[str, Any]:
    """The enriched event of a record value: `extra` merged back where split_extra took it.

    Only what split_extra can have made is merged: keys no column holds, into objects the value
    has, never over a key it has. Anything else (a record of another producer, or of the
    collector before records were split, whose client sent a top-level `extra`) is returned as
    it is: `extra` is then an unknown key like any other, and cannot overwrite a column."""
    text = value.get(EXTRA)
    if type(text) is not str:
        return value
    try:
        rest = orjson.loads(text)
    except orjson.JSONDecodeError:
        return value
    event = dict(value)
    del event[EXTRA]
    if type(rest) is not dict or not _merged(event, rest, _EVENT):
        return value
    return event


def _merged(obj: dict[str, Any], rest: dict[str, Any], node: _Object) -> bool:
    """Puts rest back into obj (a copy; its objects are copied before they change), if rest
    is what split_extra takes from such an object; False (obj half merged) if not."""
    objects = node.objects
    for key, value in rest.items():
        there = obj.get(key)
        if key in objects:
            if type(value) is not dict or type(there) is not dict:
                return False
            obj[key] = dict(there)
            if not _merged(obj[key], value, objects[key]):
                return False
        elif node.has_items and key == _ITEMS:
            items = _merged_items(there, value)
            if items is None:
                return False
            obj[key] = items
        elif key in node.known or key in obj:
            return False  # a column, or a key the value has: never split_extra's
        else:
            obj[key] = value
    return True


def _merged_items(items: Any, rests: Any) -> list[Any] | None:
    """The items with their rests put back by position (an item that is not an object is
    its own rest), or None if the rests are not split_extra's."""
    if type(items) is not list or type(rests) is not list or len(items) != len(rests):
        return None
    merged = []
    for item, rest in zip(items, rests, strict=True):
        if type(item) is not dict:
            if rest != item:
                return None
            merged.append(item)
            continue
        if type(rest) is not dict or not rest.keys().isdisjoint(_ITEM_KNOWN | item.keys()):
            return None
        merged.append({**item, **rest})
    return merged
