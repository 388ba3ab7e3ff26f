"""Batches as a browser SDK sends them, rendered to bytes before the run.

A batch is the body of one ``POST /v1/batch``: ``{"sent_at", "write_key"?, "events": [...]}``
with several events of consecutive visits, in order. Bodies are rendered once, so the send
loop does no JSON work; two things are patched in the bytes instead:

- ``sent_at`` always comes first, as 13 digits of epoch ms at `SENT_AT_OFFSET`: a retry moves
  it on by the time waited, as an SDK stamps each send, and keeps every ``event_id``;
- every id (event, device, session, user, order) carries an 8-character token at offsets
  listed in `Batch.token_offsets`: a run longer than the rendered bodies sends them again as
  a new "lap" with the lap number in the token, so ids stay unique.

A share of events are spoiled (invalid: rejected by index, to the DLQ) and a share of
requests malformed (refused whole with a 400), as real clients get things wrong.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from loadgen.journeys import ZERO_TOKEN, Journeys, spoil
from loadgen.settings import LoadConfig

SENT_AT_OFFSET = len(b'{"sent_at":')
SENT_AT_DIGITS = 13  # epoch ms until the year 2286
# Rendered in place of the token, then found and replaced: JSON-safe, never in a value.
_PLACEHOLDER = "@LAPTOK@"
_FLUSH_MS = (50, 1500)  # how long an SDK holds its last event before the batch leaves


@dataclass(frozen=True, slots=True)
class Batch:
    body: bytes  # ids rendered with the lap-0 token
    event_ids: tuple[str, ...]  # by index in the batch, lap 0
    token_offsets: array  # where the 8-character token sits in `body`
    user_agent: str  # the platform's, as that client would send it
    malformed: bool = False


def lap_token(lap: int) -> bytes:
    return f"{lap:08x}".encode()


def lap_id(event_id: str, lap: int) -> str:
    """The id ``event_id`` (as rendered, lap 0) has in lap ``lap``."""
    return event_id if lap == 0 else f"{lap:08x}{event_id[8:]}"


def for_lap(batch: Batch, lap: int) -> bytes:
    """The batch's body with every id renumbered for ``lap``."""
    if lap == 0:
        return batch.body
    body, token = bytearray(batch.body), lap_token(lap)
    for offset in batch.token_offsets:
        body[offset : offset + 8] = token
    return bytes(body)


def with_sent_at(body: bytes | bytearray, sent_at_ms: int, offset: int = 0) -> bytes:
    """``body`` (starting at ``offset`` of a request) stamped with another ``sent_at``."""
    out = bytearray(body)
    start = offset + SENT_AT_OFFSET
    out[start : start + SENT_AT_DIGITS] = b"%013d" % sent_at_ms
    return bytes(out)


def sent_at_of(body: bytes, offset: int = 0) -> int:
    start = offset + SENT_AT_OFFSET
    return int(body[start : start + SENT_AT_DIGITS])


def batches(config: LoadConfig, start_ms: int) -> Iterator[Batch]:
    """Endless batches of ``config.events_per_request`` events of consecutive visits."""
    journeys = Journeys(config.journeys, config.seed, start_ms, token=_PLACEHOLDER)
    rng = random.Random(config.seed + 1)  # separate, so spoiling does not change the journeys
    size = config.events_per_request
    queued: list[tuple[dict[str, Any], int, str]] = []  # event, time, user agent
    for visit in journeys:
        agent = visit.platform.user_agent
        queued += ((e, t, agent) for e, t in zip(visit.events, visit.times_ms, strict=True))
        while len(queued) >= size:
            chunk, queued = queued[:size], queued[size:]
            yield _render(chunk, config, rng)


def rendered(config: LoadConfig, count: int, start_ms: int) -> list[Batch]:
    return list(islice(batches(config, start_ms), count))


def _render(
    chunk: list[tuple[dict[str, Any], int, str]], config: LoadConfig, rng: random.Random
) -> Batch:
    events = [
        spoil(event, rng) if rng.random() < config.invalid_event_share else event
        for event, _, _ in chunk
    ]
    sent_at = max(t for _, t, _ in chunk) + rng.randrange(*_FLUSH_MS)
    envelope: dict[str, Any] = {"sent_at": sent_at}
    if config.write_key is not None and config.write_key_in_body:
        envelope["write_key"] = config.write_key
    envelope["events"] = events
    malformed = rng.random() < config.malformed_request_share
    body = _malform(envelope, rng) if malformed else orjson.dumps(envelope)
    placeholder = _PLACEHOLDER.encode()
    offsets, at = array("I"), body.find(placeholder)
    while at >= 0:
        offsets.append(at)
        at = body.find(placeholder, at + len(placeholder))
    ids = tuple(e["event_id"].replace(_PLACEHOLDER, ZERO_TOKEN) for e in events)
    user_agent = chunk[0][2]
    return Batch(
        body.replace(placeholder, ZERO_TOKEN.encode()), ids, offsets, user_agent, malformed
    )


def _malform(envelope: dict[str, Any], rng: random.Random) -> bytes:
    """A body the collector refuses whole; ``sent_at`` stays first so retries can stamp it."""
    way = rng.choice(("truncated", "no_events", "events_not_a_list"))
    if way == "truncated":
        body = orjson.dumps(envelope)
        return body[: len(body) // 2]
    if way == "no_events":
        return orjson.dumps(envelope | {"events": []})
    return orjson.dumps(envelope | {"events": {"0": envelope["events"][0]}})
