"""The hot-path validators: one compiled schema per event type, picked by `type`.

    validator = EventValidator.load()
    validator.validate(event)   # None, or (Reason.SCHEMA, "properties.amount: must be >= 0")

Engine: jsonschema-rs (Rust), chosen by measurement against fastjsonschema and jsonschema
(`python bench/bench_validate.py --compare`), and with formats checked natively rather than by
a Python callback.

jsonschema-rs also speaks draft 2020-12 (fastjsonschema implements up to draft 7 and silently
ignores the siblings of a $ref), asserts formats when asked, and gives typed errors with the
instance path, so messages name the field without parsing text. Valid events only pay
`is_valid`; the first error is looked up for invalid ones only.
"""

from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from schemas import catalogue
from schemas.dlq import Reason, Rejection
from schemas.messages import describe

_MAX_TYPE_IN_MESSAGE = 64


class CompiledSchema:
    """One resolved schema compiled by jsonschema-rs, answering None or a short message."""

    def __init__(self, schema: dict[str, Any], root: str = "event") -> None:
        self.schema = schema
        self._root = root
        # Formats are annotations by default in 2020-12: without this a bad `ts` would pass.
        self._compiled = jsonschema_rs.validator_for(schema, validate_formats=True)

    def check(self, instance: Any) -> str | None:
        try:
            if self._compiled.is_valid(instance):
                return None
            error = next(iter(self._compiled.iter_errors(instance)))
        except ValueError as exc:  # not JSON data (a non-str key...): bad input, never a crash
            return f"{self._root}: not JSON data ({exc})"
        return describe(error, self.schema, self._root)


class EventValidator:
    """Validates one event against the latest version of its type's schema."""

    def __init__(self, schemas: Mapping[str, tuple[int, dict[str, Any]]]) -> None:
        self._by_type = {name: CompiledSchema(schema) for name, (_, schema) in schemas.items()}
        self._versions = {name: version for name, (version, _) in schemas.items()}

    @classmethod
    def load(cls) -> "EventValidator":
        """The catalogue under schemas/json/events/, each type at its latest version."""
        latest = catalogue.event_types()
        return cls(
            {
                name: (version, catalogue.resolved(catalogue.event_path(name, version)))
                for name, version in latest.items()
            }
        )

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def schema_version(self, event_type: str) -> int:
        """The version events of this type are validated against (the `schema_version` column)."""
        return self._versions[event_type]

    def validate(self, event: Any) -> Rejection | None:
        """None when the event is valid, else why: a reason and one short message naming the
        field."""
        if type(event) is not dict:
            return Rejection(Reason.NOT_AN_OBJECT, "event: must be an object")
        event_type = event.get("type")
        # The type picks the schema; a oneOf over all types would report every branch's error.
        compiled = self._by_type.get(event_type) if type(event_type) is str else None
        if compiled is None:
            return Rejection(Reason.UNKNOWN_TYPE, _type_problem(event))
        message = compiled.check(event)
        return None if message is None else Rejection(Reason.SCHEMA, message)


class EnvelopeValidator:
    """Validates the body of POST /v1/batch; its events are then validated one by one."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._compiled = CompiledSchema(schema, root="body")

    @classmethod
    def load(cls, version: int | None = None) -> "EnvelopeValidator":
        version = version or catalogue.versions("envelope")[-1]
        return cls(catalogue.resolved(f"envelope/v{version}.json"))

    def validate(self, body: Any) -> str | None:
        return self._compiled.check(body)


def _type_problem(event: dict[str, Any]) -> str:
    if "type" not in event:
        return "type: required"
    event_type = event["type"]
    if type(event_type) is not str:
        return "type: must be a string"
    return f"type: unknown event type {event_type[:_MAX_TYPE_IN_MESSAGE]!r}"
