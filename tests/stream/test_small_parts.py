"""Settings, backoff, DLQ records, fault points and metrics."""

import orjson
import pytest
from prometheus_client import generate_latest

from stream.consumer import Backoff
from stream.decode import Reason
from stream.dlq import dlq_value
from stream.metrics import Metrics
from stream.partition_writer import Rejected, no_fault
from stream.settings import LanderSettings
from tests.stream.doubles import crash_at


def test_settings_defaults_and_environment(monkeypatch):
    defaults = LanderSettings()
    assert (defaults.group, defaults.topic, defaults.root) == (
        "surge-lander",
        "surge.events",
        "/surge/events",
    )
    assert defaults.rotate_age_s < 60  # visible within a minute
    monkeypatch.setenv("SURGE_LANDER_ROTATE_ROWS", "500")
    monkeypatch.setenv("SURGE_LANDER_STORAGE_URL", "file:///tmp/x")
    changed = LanderSettings()
    assert changed.rotate_rows == 500 and changed.storage_url == "file:///tmp/x"
    with pytest.raises(ValueError):  # its files would be hidden from Spark
        LanderSettings(topic="_events")


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(initial_s=1, max_s=8)
    waits = [backoff.failed(now=0) for _ in range(6)]
    assert all(0.5 * min(8, 2**i) <= w <= min(8, 2**i) for i, w in enumerate(waits))
    assert not backoff.due(0) and backoff.due(8)
    backoff.succeeded()
    assert backoff.due(0)


def test_a_dlq_record_says_why_and_where_from():
    text = orjson.loads(dlq_value("t", 2, Rejected(7, b"k", b"nope", Reason.NOT_JSON, "bad")))
    assert text.pop("received_at").endswith("Z")
    assert text == {
        "stage": "lander",
        "reason": "not_json",
        "message": "bad",
        "app_id": None,
        "source": {"topic": "t", "partition": 2, "offset": 7},
        "raw": None,
        "raw_text": "nope",
        "raw_bytes": 4,
        "truncated": False,
    }
    binary = orjson.loads(dlq_value("t", 2, Rejected(8, None, b"\xff", Reason.NOT_JSON, "bad")))
    assert binary["raw_text"] == "\\xff"
    value = b'{"app_id": "shop", "device_id": 7}'
    json = orjson.loads(dlq_value("t", 2, Rejected(9, None, value, Reason.MISSING_FIELD, "bad")))
    assert (json["raw"], json["app_id"]) == ({"app_id": "shop", "device_id": 7}, "shop")


def test_crash_points_are_checked():
    assert crash_at("") is no_fault
    with pytest.raises(ValueError):
        crash_at("nowhere")
    crash_at("renamed:2")("wal_written")  # another point: nothing happens


def test_metrics_are_exposed_on_their_own_registry():
    first, second = Metrics(), Metrics()  # no clash: no global registry
    first.records_landed.labels("3").inc(5)
    first.dlq.labels("not_json").inc()
    text = generate_latest(first.registry).decode()
    assert 'surge_lander_records_landed_total{partition="3"} 5.0' in text
    assert 'surge_lander_dlq_total{reason="not_json"} 1.0' in text
    assert "surge_lander_records_landed_total{" not in generate_latest(second.registry).decode()


@pytest.mark.parametrize(
    "value, reason",
    [
        (b'{"app_id": "shop", "device_id": 7}', Reason.MISSING_FIELD),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b"nope", Reason.NOT_JSON),
    ],
)
def test_a_dlq_record_parses_the_value_once(monkeypatch, value, reason):
    """Its app and its raw come from one parse of the value (none more for one the decoder
    found not to be JSON: the letter's own try); the letter says the size as received."""
    calls, loads = [], orjson.loads

    def counting_loads(data):
        calls.append(data)
        return loads(data)

    monkeypatch.setattr(orjson, "loads", counting_loads)
    letter = loads(dlq_value("t", 2, Rejected(9, None, value, reason, "bad")))
    assert len(calls) == 1
    assert letter["raw_bytes"] == len(value)
