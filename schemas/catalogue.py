"""The schema files: where they are, which versions exist, and their self-contained form.

Layout under schemas/json/ (paths below are relative to it):
    common/vN.json            shared $defs (time, page, context, order item...)
    envelope/vN.json          the body of POST /v1/batch
    events/<type>/vN.json     one file per event type and version

`resolved()` inlines every $ref, so each validator engine compiles a plain schema without
resolving references (no network, no registry), and the compatibility check and the docs read
whole fields. A `$ref` with sibling keywords (draft 2020-12 allows it) is merged into one
object schema; fastjsonschema, for one, would otherwise ignore the siblings silently.
"""

import functools
import json
import posixpath
import re
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent / "json"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.json")

# Keywords that describe but never constrain: on a clash, the referring side wins.
ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "errorMessage", "deprecated"}
)
# Keywords whose meaning depends on the sibling `properties`: merging those would change it.
_CONTEXTUAL = frozenset(
    {"additionalProperties", "patternProperties", "unevaluatedProperties", "dependentSchemas"}
)


@functools.cache
def load(path: str) -> dict[str, Any]:
    """The JSON of one schema file, by its path under schemas/json/ ("events/search/v1.json").

    Cached and shared by every caller: copy it before changing it.
    """
    return json.loads((SCHEMA_DIR / path).read_text(encoding="utf-8"))


def versions(folder: str) -> list[int]:
    """Released versions in one folder ("envelope", "events/search"), oldest first."""
    found = (_VERSION_FILE.fullmatch(p.name) for p in (SCHEMA_DIR / folder).glob("v*.json"))
    return sorted(int(m.group(1)) for m in found if m)


def event_types() -> dict[str, int]:
    """Every event type with its latest version: the catalogue."""
    folders = sorted(p.name for p in (SCHEMA_DIR / "events").iterdir() if p.is_dir())
    return {name: versions(f"events/{name}")[-1] for name in folders}


def event_path(event_type: str, version: int) -> str:
    return f"events/{event_type}/v{version}.json"


def schema_files() -> list[str]:
    """Every schema file, as paths under schemas/json/, sorted."""
    found = SCHEMA_DIR.rglob("v*.json")
    return sorted(
        p.relative_to(SCHEMA_DIR).as_posix() for p in found if _VERSION_FILE.fullmatch(p.name)
    )


@functools.cache
def _resolved(path: str) -> str:
    # Cached as JSON text so that every caller gets its own copy to keep or mutate.
    schema = _resolve(load(path), path, ())
    for key in ("$id", "$defs"):  # nothing refers to them any more
        schema.pop(key, None)
    return json.dumps(schema)


def resolved(path: str) -> dict[str, Any]:
    """The schema file at `path` with every $ref inlined (a fresh copy)."""
    return json.loads(_resolved(path))


def _resolve(node: Any, doc: str, stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, doc, stack) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _resolve(v, doc, stack) for k, v in node.items() if k != "$ref"}
    if "$ref" not in node:
        return out
    target_doc, pointer = _split_ref(node["$ref"], doc)
    key = f"{target_doc}#{pointer}"
    if key in stack:
        raise ValueError(f"{doc}: circular $ref {node['$ref']!r}")
    target = _resolve(_follow(load(target_doc), pointer), target_doc, (*stack, key))
    return merge(target, out)


def _split_ref(ref: str, doc: str) -> tuple[str, str]:
    # Only file-relative refs: an absolute URI would need the network or a registry.
    file_part, _, pointer = ref.partition("#")
    if "://" in file_part or file_part.startswith("/"):
        raise ValueError(f"{doc}: only relative $ref are supported, got {ref!r}")
    if not file_part:
        return doc, pointer
    return posixpath.normpath(posixpath.join(posixpath.dirname(doc), file_part)), pointer


def _follow(schema: Any, pointer: str) -> Any:
    for token in filter(None, pointer.split("/")):
        schema = schema[token.replace("~1", "/").replace("~0", "~")]
    return schema


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """One schema that means `base` AND `over`, flat when they do not clash, else an allOf.

    `properties` merge key by key, `required` lists unite and `type`s intersect, which is exact
    unless a keyword that looks at sibling properties is present (then: allOf); annotations of
    `over` win.
    """
    if _CONTEXTUAL & (base.keys() | over.keys()):
        return {"allOf": [base, over]}
    merged = dict(base)
    for key, value in over.items():
        if key not in merged or key in ANNOTATIONS or merged[key] == value:
            merged[key] = value
        elif key == "properties":
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = merge(props[name], sub) if name in props else sub
            merged[key] = props
        elif key == "required":
            merged[key] = [*merged[key], *(r for r in value if r not in merged[key])]
        elif key == "type" and (both := [t for t in _types(merged[key]) if t in _types(value)]):
            # Both must hold: the types of both (a nullable id made required and non-null).
            merged[key] = both[0] if len(both) == 1 else both
        else:  # two different values of one keyword: keep both, exactly
            return {"allOf": [base, over]}
    return merged


def _types(value: str | list[str]) -> list[str]:
    """The JSON types of a `type` keyword, in its order: for an intersection."""
    return [value] if isinstance(value, str) else list(value)
