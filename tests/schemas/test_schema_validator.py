"""The hot-path validator: every type valid and invalid, with the exact message."""

import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schemas import catalogue
from schemas.dlq import Reason, Rejection
from schemas.fields import fields
from schemas.timestamps import is_rfc3339, parse_time, to_epoch_ms
from schemas.validator import EnvelopeValidator, EventValidator

DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator.load()


def mutate(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or DELETE) the value at "properties.items[1].price", creating objects on the way."""
    steps = [name or int(index) for name, index in _STEP.findall(path)]
    node = event
    for step in steps[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return event


def test_every_example_is_valid(validator, example, event_type):
    assert validator.validate(example(event_type)) is None


def test_the_catalogue_is_the_one_of_the_design(validator):
    assert validator.event_types == {
        "page_view",
        "product_view",
        "search",
        "add_to_cart",
        "remove_from_cart",
        "begin_checkout",
        "order_placed",
        "payment_succeeded",
        "refund",
        "identify",  # Segment's identify: links a device to its user
    }
    assert validator.schema_version("order_placed") == 2
    assert validator.schema_version("identify") == 1


BAD_ID = "must be 1 to 128 printable ASCII characters without spaces"

# (type, field, new value or DELETE, what is wrong): the message must be exactly "field: what"
INVALID = [
    # missing required fields
    ("page_view", "device_id", DELETE, "required"),
    ("search", "ts", DELETE, "required"),
    ("product_view", "properties", DELETE, "required"),
    ("product_view", "properties.sku", DELETE, "required"),
    ("search", "properties.query", DELETE, "required"),
    ("add_to_cart", "properties.quantity", DELETE, "required"),
    ("remove_from_cart", "properties.category", DELETE, "required"),
    ("begin_checkout", "properties.currency", DELETE, "required"),
    ("order_placed", "properties.items", DELETE, "required"),
    ("order_placed", "properties.items[1].sku", DELETE, "required"),
    ("payment_succeeded", "properties.method", DELETE, "required"),
    ("refund", "properties.order_id", DELETE, "required"),
    # wrong types
    ("page_view", "device_id", 42, "must be a string"),
    ("page_view", "user_id", 42, "must be a string or null"),
    ("page_view", "page", "https://shop.example.com/", "must be an object or null"),
    ("page_view", "context.campaign.source", ["weibo"], "must be a string or null"),
    ("product_view", "properties.price", "199.00", "must be a number"),
    ("search", "properties.query", None, "must be a string"),
    ("add_to_cart", "properties.quantity", 1.5, "must be an integer"),
    ("add_to_cart", "properties.quantity", True, "must be an integer"),
    ("order_placed", "properties.items", {}, "must be an array"),
    ("payment_succeeded", "properties.amount", None, "must be a number"),
    ("refund", "properties", [], "must be an object"),
    # negative money, bad counts and codes
    ("product_view", "properties.price", -0.01, "must be >= 0"),
    ("add_to_cart", "properties.price", -1, "must be >= 0"),
    ("remove_from_cart", "properties.quantity", 0, "must be >= 1"),
    ("begin_checkout", "properties.amount", -5, "must be >= 0"),
    ("order_placed", "properties.amount", -1068, "must be >= 0"),
    ("order_placed", "properties.items[0].price", -199, "must be >= 0"),
    ("order_placed", "properties.items[1].quantity", 0, "must be >= 1"),
    ("order_placed", "properties.items", [], "must have at least 1 item"),
    ("payment_succeeded", "properties.amount", -0.5, "must be >= 0"),
    ("refund", "properties.amount", -199, "must be >= 0"),
    ("order_placed", "properties.amount", 1e13, "must be <= 1000000000000"),
    ("order_placed", "properties.currency", "cny", "must be a 3-letter uppercase currency code"),
    ("refund", "properties.currency", "RMB1", "must be a 3-letter uppercase currency code"),
    # oversized or empty strings
    ("page_view", "device_id", "", "must not be empty"),
    ("page_view", "device_id", "d" * 257, "must be at most 256 characters"),
    ("page_view", "page.url", "https://x/" + "a" * 2040, "must be at most 2048 characters"),
    ("page_view", "page.title", "t" * 513, "must be at most 512 characters"),
    ("product_view", "properties.sku", "S" * 257, "must be at most 256 characters"),
    ("search", "properties.query", "q" * 513, "must be at most 512 characters"),
    ("payment_succeeded", "properties.method", "m" * 65, "must be at most 64 characters"),
    ("refund", "session_id", "s" * 257, "must be at most 256 characters"),
    # bad times and ids
    ("page_view", "ts", "2026-11-11T00:00:03", "not a valid RFC 3339 time or epoch ms"),
    ("page_view", "ts", "2026-02-30T00:00:00Z", "not a valid RFC 3339 time or epoch ms"),
    ("page_view", "ts", "2026-11-11 00:00:03Z", "not a valid RFC 3339 time or epoch ms"),
    ("page_view", "ts", "yesterday", "not a valid RFC 3339 time or epoch ms"),
    ("page_view", "ts", 1794326403, "not a valid RFC 3339 time or epoch ms"),  # seconds
    ("page_view", "ts", 1794326403120.5, "not a valid RFC 3339 time or epoch ms"),
    ("page_view", "ts", None, "not a valid RFC 3339 time or epoch ms"),
    ("order_placed", "sent_at", "11/11/2026", "not a valid RFC 3339 time or epoch ms"),
    ("order_placed", "event_id", "a messageId", BAD_ID),
    ("order_placed", "event_id", "", BAD_ID),
    ("order_placed", "event_id", "x" * 129, BAD_ID),
    ("order_placed", "event_id", "caf\u00e9-1", BAD_ID),
    ("order_placed", "event_id", 42, BAD_ID),
    ("identify", "user_id", DELETE, "required"),
    ("identify", "user_id", None, "must be a string"),
    # the type itself
    ("page_view", "type", "foo", "unknown event type 'foo'"),
    ("page_view", "type", "Page_View", "unknown event type 'Page_View'"),
    ("page_view", "type", 7, "must be a string"),
    ("page_view", "type", DELETE, "required"),
]


@pytest.mark.parametrize(
    ("event_type", "path", "value", "reason"),
    INVALID,
    ids=[f"{t}:{p}:{r}" for t, p, _, r in INVALID],
)
def test_invalid_event_names_the_field(validator, example, event_type, path, value, reason):
    expected = Reason.UNKNOWN_TYPE if path == "type" else Reason.SCHEMA
    rejection = validator.validate(mutate(example(event_type), path, value))
    assert rejection == Rejection(expected, f"{path}: {reason}")


def test_invalid_cases_cover_every_type():
    assert {t for t, *_ in INVALID} == set(catalogue.event_types())


def test_every_required_field_of_every_type_is_named_when_missing(validator, example, event_type):
    schema = catalogue.resolved(catalogue.event_path(event_type, 1))
    event = example(event_type)
    for path, field in fields(schema).items():
        if field.required and not path.endswith("[]") and _present(event, path):
            concrete = path.replace("[]", "[0]")
            rejection = validator.validate(mutate(example(event_type), concrete, DELETE))
            assert rejection.message == f"{concrete}: required", path


def _present(event: dict[str, Any], path: str) -> bool:
    node: Any = event
    for step in path.replace("[]", ".0").split("."):
        if isinstance(node, list) and node:
            node = node[int(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False
    return True


def test_unknown_fields_are_accepted(validator, example):
    event = example("order_placed")
    event["anonymous_id"] = {"any": ["thing"]}
    event["properties"]["coupon"] = "D11-50"
    event["properties"]["items"][0]["gift_wrap"] = True
    event["context"]["screen"] = {"width": 390}
    assert validator.validate(event) is None


def test_optional_fields_may_be_null_or_absent(validator, example):
    event = example("page_view")
    event.update(event_id=None, user_id=None, session_id=None, context=None, sent_at=None)
    event["page"] = {"url": None, "referrer": None, "title": None}
    assert validator.validate(event) is None
    assert validator.validate({"type": "page_view", "ts": 1794326403120, "device_id": "d"}) is None


def test_times_in_every_accepted_form(validator, example):
    for ts in (
        "2026-11-11T00:00:03.120+08:00",
        "2026-11-10T16:00:03Z",
        "2026-11-10t16:00:03.120z",
        "2016-12-31T23:59:60Z",  # a leap second
        1794326403120,
        1794326403120.0,  # JSON has one number type: 1794326403120.0 is an integer
    ):
        assert validator.validate(mutate(example("page_view"), "ts", ts)) is None, ts


def test_not_an_object(validator):
    not_an_object = Rejection(Reason.NOT_AN_OBJECT, "event: must be an object")
    assert validator.validate([{"type": "page_view"}]) == not_an_object
    assert validator.validate("page_view") == not_an_object


def test_input_that_is_not_json_data_is_a_message_not_a_crash(validator, example):
    event = example("page_view")
    event[1] = "a key JSON cannot have"
    assert validator.validate(event).message.startswith("event: not JSON data")


def test_a_long_unknown_type_is_cut_in_the_message(validator, example):
    rejection = validator.validate(mutate(example("page_view"), "type", "x" * 10_000))
    assert rejection.message == f"type: unknown event type '{'x' * 64}'"


# --- the envelope -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envelope() -> EnvelopeValidator:
    return EnvelopeValidator.load()


def test_envelope_example_is_valid(envelope):
    assert envelope.validate(catalogue.load("envelope/v1.json")["examples"][0]) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body: must be an object"),
        ({}, "events: required"),
        ({"events": []}, "events: must have at least 1 item"),
        ({"events": {}}, "events: must be an array"),
        ({"events": [{}] * 1001}, "events: must have at most 1000 items"),
        ({"events": [{}], "sent_at": "now"}, "sent_at: not a valid RFC 3339 time or epoch ms"),
        ({"events": [{}], "write_key": 5}, "write_key: must be a string or null"),
    ],
)
def test_envelope_problems(envelope, body, message):
    assert envelope.validate(body) == message


def test_envelope_leaves_each_event_to_the_event_validator(envelope):
    # One bad event must not turn its whole batch into a 400.
    assert envelope.validate({"events": [{"type": "page_view"}, 42]}) is None


# --- times: the validator and parse_time agree ----------------------------------------------

TIME_EDGES = [
    "2026-11-11T00:00:03.120+08:00",
    "2026-11-10t16:00:03z",
    "2024-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-11-11T00:00:03.1234567891+08:00",
    "2026-11-11T00:00:60Z",
    "2026-12-31T23:59:60Z",
    "2026-12-31T15:59:60-08:00",
    "2026-11-11T00:00:00+08:60",
    "2026-11-11T00:00:00+24:00",
    "2026-11-11T24:00:00Z",
    "0000-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "1900-01-01T00:00:00+01:00",
    "2999-12-31T23:59:59-01:00",
    "2026-11-11T00:00:00-00:00",
    "2026-11-11T00:00:00.+08:00",
    "2026-11-11T00:00:00+0800",
    "2026-11-11",
    "\uff12\uff10\uff12\uff16-11-11T00:00:00Z",  # full-width digits
]


def _mutations(seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "0123456789-:T tZz+.x6"
    bases = ["2026-11-11T00:00:03.120+08:00", "2026-12-31T23:59:60Z", "2024-02-29T00:00:00.5-23:59"]
    out = []
    for _ in range(count):
        chars = list(rnd.choice(bases))
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(chars) + 1)
            op = rnd.randrange(3)
            if op == 0 and pos < len(chars):
                chars[pos] = rnd.choice(alphabet)
            elif op == 1:
                chars.insert(pos, rnd.choice(alphabet))
            elif pos < len(chars):
                del chars[pos]
        out.append("".join(chars))
    return out


def test_validator_times_are_exactly_those_parse_time_reads(validator, example):
    # The collector corrects clock skew with parse_time: whatever passes must parse.
    event = example("page_view")
    for ts in TIME_EDGES + _mutations(seed=7, count=20_000):
        event["ts"] = ts
        accepted = validator.validate(event) is None
        assert accepted == is_rfc3339(ts), ts
        if accepted:
            parse_time(ts)


def test_parse_time():
    assert to_epoch_ms("2026-11-11T00:00:03.120+08:00") == 1794326403120
    assert to_epoch_ms("2026-11-10T16:00:03.120Z") == 1794326403120
    assert to_epoch_ms(1794326403120) == 1794326403120
    assert parse_time("2016-12-31T23:59:60Z").isoformat() == "2017-01-01T00:00:00+00:00"
    assert parse_time("2026-11-11T00:00:03.1234567+08:00").microsecond == 123456
    for bad in (1794326403, True, "2026-11-11T00:00:03", 1.5, None):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_the_collector_path_never_loads_pyarrow_or_pyspark():
    code = (
        "import sys; from schemas import EventValidator; "
        "EventValidator.load().validate({'type': 'page_view'}); "
        "print(sorted(m for m in ('pyarrow', 'pyspark') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
