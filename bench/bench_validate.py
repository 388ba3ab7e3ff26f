"""Validated events per second on one core, over a realistic flash-sale mix.

    python bench/bench_validate.py             # the validator Surge uses (goal: >= 200,000/s)
    python bench/bench_validate.py --compare   # also fastjsonschema and jsonschema, same schemas
    python bench/bench_validate.py --to-row    # also the lander's to_row (events -> rows)

The mix: mostly page and product views, some searches and cart changes, a few checkouts,
orders and payments, rare refunds; 40% anonymous (user_id null), 30% epoch-ms times, 2%
invalid (a missing device_id, epoch seconds, an unknown type, a negative amount, an oversized
URL, a lowercase currency). Events are serialized and parsed back with orjson, as the collector
gets them. One process, one thread: the figure is per core.

``--compare`` on one core, 200,000 events of the mix, Python 3.11, best of 5 (jsonschema:
10,000 events, once), the run that chose the engine of schemas/validator.py:

    EventValidator on jsonschema-rs 0.61, native date-time      ~460,000 events/s  <- used
    jsonschema-rs 0.61, date-time checked by a Python callback  ~250,000 events/s
    fastjsonschema 2.22 (generated Python code)                   ~94,000 events/s
    jsonschema 4.26 (pure Python, the reference)                   ~5,200 events/s
"""

import argparse
import copy
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from event_mix import EVENT_MIX  # bench/ is sys.path[0] when run as a script

# Run as a script from anywhere: the repository root holds the `schemas` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas import catalogue
from schemas.timestamps import is_rfc3339
from schemas.validator import EventValidator

GOAL = 200_000
INVALID_SHARE = 0.02
Event = dict[str, Any]


def make_events(count: int, seed: int = 11) -> list[Event]:
    rnd = random.Random(seed)
    examples = {t: _example(t) for t in EVENT_MIX}
    types = rnd.choices(list(EVENT_MIX), weights=list(EVENT_MIX.values()), k=count)
    events = [_vary(copy.deepcopy(examples[t]), rnd) for t in types]
    for event in events:
        if rnd.random() < INVALID_SHARE:
            _break(event, rnd)
    return [orjson.loads(orjson.dumps(e)) for e in events]


def _example(event_type: str) -> Event:
    version = catalogue.event_types()[event_type]
    return catalogue.load(catalogue.event_path(event_type, version))["examples"][0]


def _vary(event: Event, rnd: random.Random) -> Event:
    event["event_id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    event["device_id"] = f"d_{rnd.getrandbits(48):012x}"
    if rnd.random() < 0.4:
        event["user_id"] = None
    if rnd.random() < 0.3:
        event["ts"] = 1794326400000 + rnd.randrange(3_600_000)
    if rnd.random() < 0.2:
        event["$lib"] = {"name": "surge-web", "version": "1.4.2"}  # an unknown field
    items = event.get("properties", {}).get("items")
    if items:
        lines = rnd.randint(1, 4)
        event["properties"]["items"] = [dict(items[0], quantity=q) for q in range(1, lines + 1)]
    return event


def _break(event: Event, rnd: random.Random) -> None:
    how = rnd.randrange(6)
    if how == 0:
        del event["device_id"]
    elif how == 1:
        event["ts"] = 1794326400  # seconds
    elif how == 2:
        event["type"] = "page_veiw"
    elif how == 3:
        event.setdefault("properties", {})["amount"] = -1
        event["type"] = "payment_succeeded"
    elif how == 4:
        event.setdefault("page", {})["url"] = "https://shop.example.com/?" + "x" * 3000
    else:
        event["type"] = "order_placed"
        event.setdefault("properties", {})["currency"] = "cny"


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
