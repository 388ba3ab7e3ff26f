"""Event validation is the catalogue's (schemas/): the collector only names what it needs."""

from __future__ import annotations

from typing import Any, Protocol

from schemas.dlq import Rejection


class Validator(Protocol):
    def validate(self, event: Any) -> Rejection | None:
        """None when the event is valid, else why: a reason, and a message naming the field."""
        ...

    def schema_version(self, event_type: str) -> int:
        """The version a valid event of this type was checked against."""
        ...


class EnvelopeChecker(Protocol):
    def validate(self, body: Any) -> str | None: ...


def load_validators() -> tuple[Validator, EnvelopeChecker]:
    from schemas.validator import EnvelopeValidator, EventValidator

    return EventValidator.load(), EnvelopeValidator.load()
