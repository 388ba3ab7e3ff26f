"""Validated events per second on one core, over a realistic flash-sale mix.

    python bench/bench_validate.py             # the validator Surge uses (goal: >= 200,000/s)
    python bench/bench_validate.py --compare   # also fastjsonschema and jsonschema, same schemas
    python bench/bench_validate.py --to-row    # also the lander's to_row (events -> rows)

The mix: shoppers' journeys from the shared generator (loadgen): mostly page and product
views, some searches and cart changes, a few checkouts, orders and payments, rare refunds; half
anonymous, 30% epoch-ms times, 20% with an unknown field, 2% invalid (loadgen.spoil: a missing
device_id, an unknown type, a bad time, a negative amount, a price as text). Events are
serialized and parsed back with orjson, as the collector gets them. One process, one thread:
the figure is per core.
"""

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

# Run as a script from anywhere: the repository root holds `schemas` and `loadgen`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import loadgen
from schemas import catalogue
from schemas.timestamps import is_rfc3339
from schemas.validator import EventValidator

GOAL = 200_000
INVALID_SHARE = 0.02
Event = dict[str, Any]


def make_events(count: int, seed: int = 11) -> list[Event]:
    rnd = random.Random(seed)
    mix = loadgen.JourneyMix(unknown_field_share=0.2)
    events = [
        loadgen.spoil(event, rnd) if rnd.random() < INVALID_SHARE else event
        for event in loadgen.events(count, seed=seed, mix=mix, start_ms=1_794_326_400_000)
    ]
    return [orjson.loads(orjson.dumps(e)) for e in events]


def measure(name: str, check: Callable[[Event], bool], events: list[Event], repeat: int) -> float:
    """Best-of-`repeat` events/s of `check` over `events`; prints best and median."""
    invalid = sum(not check(e) for e in events[:2000])  # warm up, and a sanity figure
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        for event in events:
            check(event)
        rates.append(len(events) / (time.perf_counter() - started))
    print(
        f"{name:46s} {max(rates):>11,.0f} events/s  (median {statistics.median(rates):,.0f}; "
        f"{invalid / 20:.1f}% invalid)"
    )
    return max(rates)


def surge_check() -> Callable[[Event], bool]:
    validator = EventValidator.load()
    return lambda event: validator.validate(event) is None


def fastjsonschema_check() -> Callable[[Event], bool]:
    import fastjsonschema

    # Its own date-time regex accepts February 30: the same check as the schema's is given.
    formats = {"date-time": is_rfc3339}
    compiled = {
        t: fastjsonschema.compile(s, formats=formats, use_default=False) for t, s in _schemas()
    }

    def check(event: Event) -> bool:
        validate = compiled.get(event.get("type"))
        try:
            return validate is not None and validate(event) is not None
        except fastjsonschema.JsonSchemaValueException:
            return False

    return check


def jsonschema_check() -> Callable[[Event], bool]:
    import jsonschema

    formats = jsonschema.FormatChecker()
    formats.checks("date-time")(lambda v: not isinstance(v, str) or is_rfc3339(v))
    compiled = {
        t: jsonschema.Draft202012Validator(s, format_checker=formats) for t, s in _schemas()
    }

    def check(event: Event) -> bool:
        validator = compiled.get(event.get("type"))
        return validator is not None and validator.is_valid(event)

    return check


def jsonschema_rs_python_format_check() -> Callable[[Event], bool]:
    import jsonschema_rs

    compiled = {
        t: jsonschema_rs.validator_for(s, validate_formats=True, formats={"date-time": is_rfc3339})
        for t, s in _schemas()
    }

    def check(event: Event) -> bool:
        validator = compiled.get(event.get("type"))
        return validator is not None and validator.is_valid(event)

    return check


def to_row_check() -> Callable[[Event], bool]:
    from schemas.table import to_row

    validator = EventValidator.load()
    server = {"received_at": 1794326416000, "event_time": 1794326415275, "app_id": "shop-cn"}

    def check(event: Event) -> bool:
        if validator.validate(event) is not None:
            return False
        to_row({**event, **server})
        return True

    return check


def _schemas() -> list[tuple[str, Event]]:
    latest = catalogue.event_types()
    return [(t, catalogue.resolved(catalogue.event_path(t, v))) for t, v in latest.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="time the other engines too")
    parser.add_argument("--to-row", action="store_true", help="time validate + to_row too")
    args = parser.parse_args()

    events = make_events(args.events)
    print(f"{len(events):,} events, Python {sys.version.split()[0]}, one core")
    rate = measure("surge EventValidator (jsonschema-rs)", surge_check(), events, args.repeat)
    if args.compare:
        measure("jsonschema-rs, date-time checked in Python", jsonschema_rs_python_format_check(),
                events, args.repeat)  # fmt: skip
        measure("fastjsonschema", fastjsonschema_check(), events, args.repeat)
        few = events[: max(2000, len(events) // 20)]  # pure Python: a smaller sample
        measure("jsonschema (pure Python, reference)", jsonschema_check(), few, 1)
    if args.to_row:
        measure("validate + to_row (the lander's share)", to_row_check(), events, args.repeat)
    verdict = "met" if rate >= GOAL else "NOT met"
    print(f"validated events/s per core: {rate:,.0f} (goal {GOAL:,}: {verdict})")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
