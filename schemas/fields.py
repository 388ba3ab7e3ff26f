"""A resolved schema read as a flat list of fields: what the compatibility check compares and
what the README lists.

    fields(resolved("events/order_placed/v1.json"))["properties.items[].price"]
    -> Field(types={"number"}, required=True, constraints={"minimum": 0, ...}, ...)

Paths spell fields as events do ("page.url"); "[]" is the element of an array.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from schemas.catalogue import merge

# Keywords that limit a field's values, as the README shows them and the check compares them.
CONSTRAINTS = (
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "format",
    "const",
    "enum",
)


@dataclass(frozen=True)
class Field:
    types: frozenset[str]  # JSON types: "string", "null"...; a time is {"string", "integer"}
    required: bool  # required in its parent object
    constraints: dict[str, Any] = field(default_factory=dict, compare=False)
    description: str = field(default="", compare=False)
    formats: tuple[str, ...] = field(default=(), compare=False)  # of the node or its branches

    def type_label(self) -> str:
        """ "string (date-time) | integer", for people."""
        labels = []
        for name in sorted(self.types, key=_TYPE_ORDER.index):
            fmt = self.formats[0] if name == "string" and self.formats else None  # string formats
            labels.append(f"{name} ({fmt})" if fmt else name)
        return " | ".join(labels)


_TYPE_ORDER = ["object", "array", "string", "number", "integer", "boolean", "null", "any"]


def fields(schema: dict[str, Any]) -> dict[str, Field]:
    """Every field of a resolved schema, by path, in schema order."""
    return dict(_walk(schema, "", required=True))


def parent(path: str) -> str:
    """The field holding `path` ("" at the top): "page" for "page.url"."""
    return path[:-2] if path.endswith("[]") else path.rpartition(".")[0]


def _walk(node: Any, path: str, required: bool) -> Iterator[tuple[str, Field]]:
    if not isinstance(node, dict):
        return
    node = flatten_all_of(node)
    if path:
        yield path, _field(node, required)
    prefix = f"{path}." if path else ""
    needed = set(node.get("required", ()))
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, prefix + name, required=name in needed)
    if isinstance(node.get("items"), dict):
        # The element is a field of its own, "properties.items[]", there whenever the array is.
        yield from _walk(node["items"], f"{path}[]", required=True)


def _field(node: dict[str, Any], required: bool) -> Field:
    return Field(
        types=_json_types(node),
        required=required,
        constraints={k: node[k] for k in CONSTRAINTS if k in node},
        description=node.get("description", ""),
        formats=tuple(_formats(node)),
    )


def _formats(node: dict[str, Any]) -> Iterator[str]:
    if "format" in node:
        yield node["format"]
    for branch in node.get("anyOf") or node.get("oneOf") or ():
        yield from _formats(flatten_all_of(branch))


def flatten_all_of(node: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in node.items() if k != "allOf"}
    for part in node.get("allOf", ()):
        flat = merge(flat, flatten_all_of(part))
        if "allOf" in flat:  # keywords that clash: read the first part, the base
            return flatten_all_of(flat["allOf"][0])
    return flat


def _json_types(node: dict[str, Any]) -> frozenset[str]:
    declared = node.get("type")
    if declared is not None:
        return frozenset([declared] if isinstance(declared, str) else declared)
    values = [node["const"]] if "const" in node else node.get("enum")
    if values is not None:
        return frozenset(_type_of(v) for v in values)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return frozenset().union(*(_json_types(flatten_all_of(b)) for b in branches))
    return frozenset({"any"})


def _type_of(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")
