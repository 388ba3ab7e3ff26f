"""A request's events, each on its own: structure, schema, enrichment -> a Kafka record, or a
rejection (in the answer's ``rejected`` list, and a DLQ letter). One bad event does not refuse
the others.

No HTTP here: the handler (ingest.py) and the benchmark (bench_collector.py --path) both call
``process``, after ``parse.envelope`` and once the write key is known and within its rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from collector import enrich, parse
from collector.enrich import RequestFacts
from collector.records import Record, dead_record, event_record
from collector.settings import CollectorSettings
from collector.validation import Validator
from schemas.dlq import Reason, Rejection


@dataclass(frozen=True, slots=True)
class EventRules:
    """What checking an event needs, built once per worker."""

    validator: Validator
    max_depth: int
    max_event_bytes: int

    @classmethod
    def of(cls, settings: CollectorSettings, validator: Validator) -> EventRules:
        return cls(validator, settings.max_json_depth, settings.max_event_bytes)


class RejectedEvent(NamedTuple):
    """An event refused on its own: its place in the request, and why."""

    index: int
    reason: Reason
    message: str


@dataclass(slots=True)
class Outcome:
    records: list[Record] = field(default_factory=list)
    dead: list[Record] = field(default_factory=list)  # the DLQ letters
    rejected: list[RejectedEvent] = field(default_factory=list)  # in order


def process(events: list[Any], body_bytes: int, facts: RequestFacts, rules: EventRules) -> Outcome:
    """The records of a request's events. Raises TOO_LARGE (the whole request) when an event
    is over ``max_event_bytes``; any other bad event is rejected on its own."""
    parse.check_event_sizes(events, body_bytes, rules.max_event_bytes)
    outcome = Outcome()
    records = outcome.records
    max_depth = rules.max_depth
    validate, version = rules.validator.validate, rules.validator.schema_version
    structure_problem, enrich_event = parse.structure_problem, enrich.enrich
    for index, event in enumerate(events):
        rejection = structure_problem(event, max_depth) or validate(event)
        if rejection is None:
            try:
                enriched = enrich_event(event, facts, version(event["type"]))
            except ValueError as exc:  # the schema let through a time parse_time refuses
                rejection = Rejection(Reason.BAD_TIME, f"ts: {exc}")
            else:
                records.append(event_record(enriched))
                continue
        outcome.rejected.append(RejectedEvent(index, rejection.reason, rejection.message))
        outcome.dead.append(dead_record(event, rejection, index, facts))
    return outcome
