"""Released versions never change; a new version breaks nothing (and the check says what does)."""

import copy
import json
from typing import Any

import jsonschema_rs
import pytest

from schemas import catalogue, compat

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def test_the_catalogue_passes_every_check():
    assert compat.check_all() == []


def test_every_file_is_a_valid_2020_12_schema():
    for path in catalogue.schema_files():
        jsonschema_rs.meta.validate(catalogue.load(path))


def test_resolved_schemas_have_no_ref_left():
    for path in catalogue.schema_files():
        assert "$ref" not in json.dumps(catalogue.resolved(path)), path


# --- the lock --------------------------------------------------------------------------------


def test_a_changed_release_fails_naming_the_file():
    edited = copy.deepcopy(catalogue.load("events/refund/v1.json"))
    edited["properties"]["properties"]["required"] = ["order_id"]
    found = {**compat.current_fingerprints(), "events/refund/v1.json": compat.fingerprint(edited)}
    [problem] = compat.check_lock(compat.read_lock(), found)
    assert problem.startswith("events/refund/v1.json: changed after its release")
    assert "new version file" in problem


def test_reindenting_a_release_is_not_a_change():
    schema = catalogue.load("common/v1.json")
    again = json.loads(json.dumps(schema, indent=7))
    assert compat.fingerprint(again) == compat.fingerprint(schema)


def test_a_removed_release_fails_naming_the_file():
    found = compat.current_fingerprints()
    del found["events/search/v1.json"]
    assert compat.check_lock(compat.read_lock(), found) == [
        "events/search/v1.json: released but missing; a released version is never removed"
    ]


def test_an_unreleased_file_fails_until_released():
    found = {**compat.current_fingerprints(), "events/search/v3.json": "ab" * 32}
    [problem] = compat.check_lock(compat.read_lock(), found)
    assert problem.startswith("events/search/v3.json: not released")


def test_release_adds_new_files_only(tmp_path, monkeypatch):
    monkeypatch.setattr(compat, "LOCK_FILE", tmp_path / "versions.lock.json")
    assert compat.release() == []
    assert compat.read_lock() == compat.current_fingerprints()
    # A changed entry is never rewritten by a release.
    lock = json.loads(compat.LOCK_FILE.read_text())
    lock["files"]["common/v1.json"] = "0" * 64
    compat.LOCK_FILE.write_text(json.dumps(lock))
    [problem] = compat.release()
    assert problem.startswith("common/v1.json: changed after its release")


def test_release_refuses_a_breaking_version(tmp_path, monkeypatch):
    monkeypatch.setattr(compat, "LOCK_FILE", tmp_path / "versions.lock.json")
    breaking = "events/refund/v2.json: removes field properties.currency (present in ...)"
    monkeypatch.setattr(compat, "check_versions", lambda: [breaking])
    assert compat.release() == [breaking]
    assert not compat.LOCK_FILE.exists()


def test_the_committed_lock_covers_every_file():
    assert compat.read_lock() == compat.current_fingerprints()


# --- comparing a new version with the previous one ------------------------------------------


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **more}


STR = {"type": "string", "maxLength": 256}
MONEY = {"type": "number", "minimum": 0}
V1 = {
    "$schema": DRAFT,
    **obj(
        {
            "device_id": STR,
            "page": obj({"url": STR}),
            "properties": obj(
                {
                    "order_id": STR,
                    "amount": MONEY,
                    "items": {
                        "type": "array",
                        "items": obj({"sku": STR, "price": MONEY}, ("sku",)),
                    },
                },
                ("order_id",),
            ),
        },
        ("device_id", "properties"),
    ),
}


def changed(edit) -> dict[str, Any]:
    schema = json.loads(json.dumps(V1))  # no shared sub-dicts: an edit changes one place
    edit(schema)
    return schema


def props(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["properties"]["properties"]["properties"]


BREAKING = [
    (
        lambda s: props(s).pop("amount"),
        "v2: removes field properties.amount (present in v1)",
    ),
    (
        lambda s: s["properties"].pop("page"),
        "v2: removes field page (present in v1)",
    ),
    (
        lambda s: props(s)["items"]["items"]["properties"].pop("price"),
        "v2: removes field properties.items[].price (present in v1)",
    ),
    (
        lambda s: props(s).__setitem__("amount", {"type": "string"}),
        "v2: retypes field properties.amount from number to string (in v1)",
    ),
    (
        lambda s: props(s).__setitem__("amount", {"type": ["number", "null"], "minimum": 0}),
        "v2: retypes field properties.amount from number to null|number (in v1)",
    ),
    (
        lambda s: s["properties"]["page"]["properties"].__setitem__(
            "url", {"anyOf": [STR, {"type": "integer"}]}
        ),
        "v2: retypes field page.url from string to integer|string (in v1)",
    ),
    (
        lambda s: (
            props(s).__setitem__("currency", {"type": "string"}),
            s["properties"]["properties"]["required"].append("currency"),
        ),
        "v2: adds required field properties.currency (absent in v1)",
    ),
    (
        lambda s: s["properties"]["properties"]["required"].append("amount"),
        "v2: makes field properties.amount required (optional in v1)",
    ),
    (
        lambda s: s["properties"]["page"]["required"].append("url"),
        "v2: makes field page.url required (optional in v1)",
    ),
    (
        lambda s: props(s)["items"]["items"]["required"].append("price"),
        "v2: makes field properties.items[].price required (optional in v1)",
    ),
    (
        lambda s: s["properties"]["device_id"].__setitem__("maxLength", 64),
        "v2: narrows field device_id: maxLength 256 -> 64 (in v1)",
    ),
    (
        lambda s: props(s)["amount"].__setitem__("minimum", 1),
        "v2: narrows field properties.amount: minimum 0 -> 1 (in v1)",
    ),
    (
        lambda s: props(s)["order_id"].__setitem__("pattern", "^SO-"),
        "v2: narrows field properties.order_id: pattern 'none' -> '^SO-' (in v1)",
    ),
]


UUID_ID = {"type": ["string", "null"], "format": "uuid"}


def _id_rules(**rules: Any):
    """An edit giving properties.order_id the string rules ``rules`` (v1 has a UUID one)."""
    return lambda s: props(s).__setitem__("order_id", {"type": ["string", "null"], **rules})


# What the event_id of common/v2.json did: a UUID-only id became any printable ASCII id.
WIDER_ID = _id_rules(pattern="^[!-~]+$", minLength=1, maxLength=128)
NARROWER_IDS = [
    (
        _id_rules(pattern="^[!-~]+$", maxLength=32),  # too short for a UUID
        "v2: narrows field properties.order_id: maxLength none -> 32 (in v1)",
    ),
    (
        _id_rules(pattern="^[a-f0-9-]+$"),  # no upper case: some UUIDs refused
        "v2: narrows field properties.order_id: pattern 'none' -> '^[a-f0-9-]+$' (in v1)",
    ),
    (
        _id_rules(pattern="^ord-[!-~]+$"),  # not a run of characters: compared as before
        "v2: narrows field properties.order_id: pattern 'none' -> '^ord-[!-~]+$' (in v1)",
    ),
]


def _with_uuid_order_id() -> dict[str, Any]:
    return changed(lambda s: props(s).__setitem__("order_id", dict(UUID_ID)))


def test_a_format_traded_for_a_wider_pattern_is_compatible():
    assert compat.compare(_with_uuid_order_id(), changed(WIDER_ID), "v1", "v2") == []


@pytest.mark.parametrize(("edit", "message"), NARROWER_IDS, ids=[m for _, m in NARROWER_IDS])
def test_a_pattern_that_refuses_some_old_values_is_narrowing(edit, message):
    assert message in compat.compare(_with_uuid_order_id(), changed(edit), "v1", "v2")


def test_the_wider_pattern_cannot_go_back_to_a_uuid():
    problems = compat.compare(changed(WIDER_ID), _with_uuid_order_id(), "v1", "v2")
    assert "v2: narrows field properties.order_id: format 'none' -> 'uuid' (in v1)" in problems


@pytest.mark.parametrize(("edit", "message"), BREAKING, ids=[m for _, m in BREAKING])
def test_a_breaking_version_fails_saying_what_broke(edit, message):
    assert compat.compare(V1, changed(edit), "v1", "v2") == [message]


COMPATIBLE = [
    lambda s: props(s).__setitem__("coupon", STR),  # a new optional field
    lambda s: s["properties"].__setitem__(
        "screen", obj({"width": {"type": "integer"}}, ("width",))
    ),
    lambda s: s["properties"]["device_id"].__setitem__("maxLength", 512),  # relaxed
    lambda s: s["properties"]["properties"]["required"].remove("order_id"),  # no longer required
    lambda s: s["properties"]["page"].__setitem__("description", "Where it happened."),
]


@pytest.mark.parametrize("edit", COMPATIBLE)
def test_a_compatible_version_passes(edit):
    assert compat.compare(V1, changed(edit), "v1", "v2") == []


def test_refs_are_compared_as_what_they_point_to():
    # A field moved behind a $ref (common/) is the same field.
    v1 = catalogue.resolved("events/order_placed/v1.json")
    inlined = copy.deepcopy(v1)
    props(inlined)["amount"] = {"type": "number", "minimum": 0, "maximum": 1000000000000}
    assert compat.compare(v1, inlined, "v1", "v2") == []


def test_new_version_of_a_real_type_is_compared_with_the_previous():
    v1 = catalogue.resolved("events/refund/v1.json")
    v2 = copy.deepcopy(v1)
    props(v2).pop("currency")
    v2["properties"]["properties"]["required"].append("reason")
    props(v2)["reason"] = {"type": "string"}
    old, new = "events/refund/v1.json", "events/refund/v2.json"
    assert compat.compare(v1, v2, old, new) == [
        f"{new}: removes field properties.currency (present in {old})",
        f"{new}: adds required field properties.reason (absent in {old})",
    ]


# --- merging a $ref with its sibling keywords -----------------------------------------------


def test_merge_is_flat_when_keywords_do_not_clash():
    base = obj({"a": STR}, ("a",), description="base")
    over = obj({"b": STR}, ("b",), description="over")
    assert catalogue.merge(base, over) == obj({"a": STR, "b": STR}, ("a", "b"), description="over")


def test_merge_intersects_types():
    # identify's user_id: the common nullable id, made a non-null one.
    nullable = {"type": ["string", "null"], "minLength": 1}
    assert catalogue.merge(nullable, {"type": "string"}) == {"type": "string", "minLength": 1}
    assert catalogue.merge({"type": "string"}, {"type": "integer"}) == {
        "allOf": [{"type": "string"}, {"type": "integer"}]
    }


def test_merge_keeps_both_when_keywords_clash():
    assert catalogue.merge({"maxLength": 5}, {"maxLength": 3}) == {
        "allOf": [{"maxLength": 5}, {"maxLength": 3}]
    }
    # additionalProperties looks at sibling properties: merging would change what it allows.
    base = obj({"a": STR}, additionalProperties=False)
    assert "allOf" in catalogue.merge(base, obj({"b": STR}))
