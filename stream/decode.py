"""Record values -> rows of the landed table, one Arrow batch per poll, and the reason each
refused record cannot be a row.

Two ways to the same rows. `native.from_values` reads a whole poll with Arrow's JSON reader
when every value is in the split shape the collector writes (schemas/record.py): the usual
poll. When it cannot, the poll is taken a chunk at a time, natively again where it can; the
chunks it cannot read are mapped event by event (`rows.to_record_batch`, `extra` joined back
first), and this module decides what the lander refuses. So a record off the collector's
shape costs its chunk the slow way, not its whole poll. Reasons are the closed set of the DLQ
letter (schemas/dlq.py; they label the DLQ metric); the detail says what exactly.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from schemas.columns import COLUMNS
from schemas.dlq import Reason
from schemas.record import join_extra
from stream.native import from_values
from stream.rows import to_record_batch, to_row

# Columns the table declares non-null: a row without them cannot be landed or bucketed.
REQUIRED = tuple(column.name for column in COLUMNS if not column.nullable)
CHUNK = 512  # values read or mapped at once when a whole poll cannot be read natively


@dataclass
class Decoded:
    batch: pa.RecordBatch  # the rows that can land, in the order of the values
    rows: list[int]  # for each row of `batch`, the index of its value
    rejected: list[tuple[int, Reason, str]]  # (index of the value, reason, detail), in order
    native: int = 0  # how many values Arrow read natively (stream/native.py)


def decode_batch(values: Sequence[bytes | None]) -> Decoded:
    """The rows of record values, and why the others cannot be rows."""
    native = from_values(values)  # the usual poll: every value as the collector writes it
    if native is not None:
        return Decoded(native, list(range(len(values))), [], native=len(values))
    batches: list[pa.RecordBatch] = []
    rows: list[int] = []
    rejected: list[tuple[int, Reason, str]] = []
    read_natively = 0
    with _no_cyclic_gc():
        for start in range(0, max(len(values), 1), CHUNK):
            chunk = values[start : start + CHUNK]
            batch = from_values(chunk) if len(chunk) < len(values) else None
            if batch is not None:
                decoded = Decoded(batch, list(range(start, start + len(chunk))), [])
                read_natively += len(chunk)
            else:
                decoded = _map_chunk(chunk, start)
            batches.append(decoded.batch)
            rows += decoded.rows
            rejected += decoded.rejected
    batch = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
    return Decoded(batch, rows, rejected, read_natively)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector held off: decoded events are JSON values, without
    cycles, freed by reference counting once their chunk is mapped. Left on, it ran every
    few hundred of their dicts and, as they outlive that, kept promoting and re-scanning
    them with the whole heap, at a cost the profile showed. It runs again afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _map_chunk(values: Sequence[bytes | None], first: int) -> Decoded:
    """decode_batch of `values` (which start at index `first`), event by event."""
    rejected: list[tuple[int, Reason, str]] = []
    events: list[dict[str, Any]] = []
    where: list[int] = []  # the index of each event's value
    for i, value in enumerate(values, first):
        if not value:
            rejected.append((i, Reason.EMPTY, "record has no value"))
            continue
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            rejected.append((i, Reason.NOT_JSON, str(exc)))
            continue
        if type(event) is not dict:
            kind = type(event).__name__
            rejected.append((i, Reason.NOT_AN_OBJECT, f"JSON {kind}, not an object"))
            continue
        events.append(join_extra(event))
        where.append(i)
    mapped = to_record_batch(events)
    batch, rows = mapped.batch, where
    if mapped.refused:
        rows = [w for j, w in enumerate(where) if j not in mapped.refused]
        rejected += [(where[j], *_why_refused(events[j], d)) for j, d in mapped.refused.items()]
    missing = _missing(batch)
    if missing is not None:
        # to_row keeps a value of the wrong type in `extra`; say which it was.
        names = [column.to_pylist() for column in missing.values()]
        keep = []
        for r, row in enumerate(rows):
            absent = [name for name, nulls in zip(missing, names, strict=True) if nulls[r]]
            if absent:
                rejected.append((row, Reason.MISSING_FIELD, _missing_detail(absent)))
            else:
                keep.append(r)
        batch = batch.take(pa.array(keep, pa.int64()))
        rows = [rows[r] for r in keep]
    rejected.sort(key=lambda rejection: rejection[0])
    return Decoded(batch, rows, rejected)


def _missing(batch: pa.RecordBatch) -> dict[str, pa.Array] | None:
    """{required column: is it null, per row}, when some row lacks one; else None."""
    if not any(batch.column(name).null_count for name in REQUIRED):
        return None
    return {name: batch.column(name).is_null() for name in REQUIRED}


def _why_refused(event: dict[str, Any], detail: str) -> tuple[Reason, str]:
    """Why the mapping refused an event, as decoding one row at a time said it: a required
    field missing wins over Arrow refusing another value of the row."""
    try:
        row = to_row(event)
    except Exception:  # to_row itself failed: `detail` says how
        return Reason.UNMAPPABLE, detail
    absent = [name for name in REQUIRED if row[name] is None]
    if absent:
        return Reason.MISSING_FIELD, _missing_detail(absent)
    return Reason.UNMAPPABLE, detail


def _missing_detail(absent: list[str]) -> str:
    return f"missing or invalid: {', '.join(absent)}"
