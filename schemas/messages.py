"""Short error messages that name the field: `properties.amount: must be >= 0`.

A message is what a front-end developer reads in the 200 answer's `rejected` list and what the
DLQ records, so it names the field the way the event spells it and says what is expected.
A schema node may carry `errorMessage` (the ajv-errors keyword) to say it better than the
keyword can ("not a valid RFC 3339 time or epoch ms").
"""

from collections.abc import Sequence
from typing import Any

import jsonschema_rs

_KIND = jsonschema_rs.ValidationErrorKind
_ARTICLES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
    "boolean": "a boolean",
    "null": "null",
}


def field_path(path: Sequence[str | int], root: str = "event") -> str:
    """["properties", "items", 0, "price"] -> "properties.items[0].price"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or root


def describe(error: jsonschema_rs.ValidationError, schema: dict[str, Any], root: str) -> str:
    """`<field>: <what is wrong>` for the first error jsonschema-rs reports."""
    kind = error.kind
    if isinstance(kind, _KIND.Required):
        return f"{field_path([*error.instance_path, kind.property], root)}: required"
    node = _schema_node(schema, error.schema_path[:-1])
    custom = node.get("errorMessage") if isinstance(node, dict) else None
    return f"{field_path(error.instance_path, root)}: {custom or _reason(kind, error)}"


def _schema_node(schema: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        try:
            schema = schema[step]
        except (KeyError, IndexError, TypeError):
            return None
    return schema


def _reason(kind: Any, error: jsonschema_rs.ValidationError) -> str:
    match kind:
        case _KIND.Type(types=types):
            # "a string or null" reads better than the engine's alphabetical "null or a string".
            ordered = sorted(types, key=lambda t: t == "null")
            return "must be " + " or ".join(_ARTICLES.get(t, t) for t in ordered)
        case _KIND.Minimum(limit=limit):
            return f"must be >= {limit}"
        case _KIND.Maximum(limit=limit):
            return f"must be <= {limit}"
        case _KIND.ExclusiveMinimum(limit=limit):
            return f"must be > {limit}"
        case _KIND.ExclusiveMaximum(limit=limit):
            return f"must be < {limit}"
        case _KIND.MinLength(limit=1):
            return "must not be empty"
        case _KIND.MinLength(limit=limit):
            return f"must be at least {limit} characters"
        case _KIND.MaxLength(limit=limit):
            return f"must be at most {limit} characters"
        case _KIND.MinItems(limit=limit):
            return f"must have at least {limit} item{'s' if limit != 1 else ''}"
        case _KIND.MaxItems(limit=limit):
            return f"must have at most {limit} items"
        case _KIND.Pattern(pattern=pattern):
            return f"must match {pattern}"
        case _KIND.Format(format=fmt):
            return f"must be a valid {fmt}"
        case _KIND.Enum(options=options):
            return "must be one of " + ", ".join(repr(o) for o in options)
        case _KIND.Constant(expected_value=value):
            return f"must be {value!r}"
    return error.message
