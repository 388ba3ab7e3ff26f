"""Released versions never change, and a new version keeps every promise of the previous one.

Checks, each giving messages that name the file and say what broke:
- the lock: schemas/json/versions.lock.json holds the sha256 of every released file (of its
  canonical JSON, so re-indenting is not a change); a released file that changed or vanished
  fails, and so does a file not yet in the lock (release it on purpose, see below);
- conventions: `$schema` is draft 2020-12, `$id` matches the path, an event file's `type`
  constant matches its folder, versions count 1, 2, 3... without a hole;
- compatibility of each version with the previous one of the same envelope or event type,
  on the resolved schemas (a change in common/ shows in the events that use it): no removed
  field, no retyped field, no new required field, no narrowed constraint.

    python -m schemas.compat             # check, exit 1 on a problem (the tests run it too)
    python -m schemas.compat --release   # add new version files to the lock
"""

import hashlib
import itertools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from schemas import catalogue
from schemas.fields import Field, fields, parent

LOCK_FILE = catalogue.SCHEMA_DIR / "versions.lock.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://surge.example/schemas/"
_LOCK_NOTE = (
    "sha256 of the canonical JSON of every released schema file. Never edit an entry: put a "
    "change in a new version file and run `python -m schemas.compat --release`."
)

# Constraints a new version may not tighten: an event valid before must stay valid.
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_EXACT = ("pattern", "format", "const")
# The rules a string shape (below) stands for: compared as one when both versions have a shape.
_SHAPED = frozenset({"pattern", "format", "minLength", "maxLength"})
# Formats whose strings are a run of characters from a set: (characters, least, most length).
_FORMAT_SHAPES = {"uuid": (frozenset("0123456789abcdefABCDEF-"), 36, 36)}
# A pattern that is one anchored character class, repeated: ^[a-z0-9_-]+$, ^[!-~]{1,128}$.
_RUN = re.compile(r"\^\[([^\]\\^]+)\](?:(\+)|(\*)|\{(\d+)(?:(,)(\d*))?\})\$")


def fingerprint(schema: Any) -> str:
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def current_fingerprints() -> dict[str, str]:
    return {path: fingerprint(catalogue.load(path)) for path in catalogue.schema_files()}


def read_lock() -> dict[str, str]:
    if not LOCK_FILE.exists():
        return {}
    return json.loads(LOCK_FILE.read_text(encoding="utf-8"))["files"]


def check_lock(locked: Mapping[str, str], found: Mapping[str, str]) -> list[str]:
    """Problems between the lock (released files) and the files found now."""
    problems = []
    for path, digest in locked.items():
        if path not in found:
            problems.append(f"{path}: released but missing; a released version is never removed")
        elif found[path] != digest:
            problems.append(
                f"{path}: changed after its release (sha256 {digest[:12]}… is now "
                f"{found[path][:12]}…); restore it and put the change in a new version file"
            )
    for path in sorted(found.keys() - locked.keys()):
        problems.append(
            f"{path}: not released; run `python -m schemas.compat --release` to lock it"
        )
    return problems


def check_conventions() -> list[str]:
    problems = []
    for path in catalogue.schema_files():
        schema = catalogue.load(path)
        if schema.get("$schema") != DRAFT:
            problems.append(f"{path}: $schema must be {DRAFT}")
        if schema.get("$id") != ID_BASE + path:
            problems.append(f"{path}: $id must be {ID_BASE + path}")
        folder, _, _ = path.rpartition("/")
        if folder.startswith("events/"):
            constant = schema.get("properties", {}).get("type", {}).get("const")
            if constant != folder.removeprefix("events/"):
                problems.append(f"{path}: properties.type.const must be {folder[7:]!r}")
    for folder in _versioned_folders():
        found = catalogue.versions(folder)
        if found != list(range(1, len(found) + 1)):
            problems.append(f"{folder}: versions must be v1, v2, ... without a gap, found {found}")
    return problems


def check_versions() -> list[str]:
    """Each version of the envelope and of each event type against the previous one."""
    problems = []
    for folder in _versioned_folders():
        found = catalogue.versions(folder)
        for old, new in itertools.pairwise(found):
            old_path, new_path = f"{folder}/v{old}.json", f"{folder}/v{new}.json"
            problems += compare(
                catalogue.resolved(old_path), catalogue.resolved(new_path), old_path, new_path
            )
    return problems


def check_all() -> list[str]:
    return check_lock(read_lock(), current_fingerprints()) + check_conventions() + check_versions()


def compare(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> list[str]:
    """What `new` breaks for events that were valid under `old`."""
    before, after = fields(old), fields(new)
    problems = []
    for path, was in before.items():
        now = after.get(path)
        if now is None and parent(path) in before and parent(path) not in after:
            continue  # its parent is gone: said once, for the parent
        if now is None:
            problems.append(f"{new_name}: removes field {path} (present in {old_name})")
        elif now.types != was.types:
            problems.append(
                f"{new_name}: retypes field {path} from {_types(was)} to {_types(now)} "
                f"(in {old_name})"
            )
        else:
            problems += [f"{new_name}: {p} (in {old_name})" for p in _narrowing(path, was, now)]
    for path, now in after.items():
        holder = parent(path)
        if not now.required or (holder and holder not in before):
            continue  # optional, or inside an object old events never had
        if path not in before:
            problems.append(f"{new_name}: adds required field {path} (absent in {old_name})")
        elif not before[path].required:
            problems.append(f"{new_name}: makes field {path} required (optional in {old_name})")
    return problems


def _types(f: Field) -> str:
    return "|".join(sorted(f.types))


def _narrowing(path: str, was: Field, now: Field) -> Iterator[str]:
    old, new = was.constraints, now.constraints
    if _wider_shape(old, new):  # its string rules compared as one: then the others apart
        old = {k: v for k, v in old.items() if k not in _SHAPED}
        new = {k: v for k, v in new.items() if k not in _SHAPED}
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            yield f"narrows field {path}: {key} {old.get(key, 'none')} -> {new[key]}"
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            yield f"narrows field {path}: {key} {old.get(key, 'none')} -> {new[key]}"
    for key in _EXACT:
        if key in new and new.get(key) != old.get(key):
            yield f"narrows field {path}: {key} {old.get(key, 'none')!r} -> {new[key]!r}"
    if "enum" in new and "enum" not in old:
        yield f"narrows field {path}: now limited to {new['enum']}"
    elif "enum" in new:
        dropped = [v for v in old["enum"] if v not in new["enum"]]
        if dropped:
            yield f"narrows field {path}: enum no longer allows {dropped}"


Shape = tuple[frozenset[str], int, float]  # characters, least and most length


def _wider_shape(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Both have a string shape, and the new one allows every string the old one allows."""
    before, after = _shape(old), _shape(new)
    if before is None or after is None:
        return False
    (chars, least, most), (new_chars, new_least, new_most) = before, after
    return chars <= new_chars and new_least <= least and most <= new_most


def _shape(c: dict[str, Any]) -> Shape | None:
    """The strings a field's rules allow as a run of characters from a set, if they are one
    (a format or pattern of that form, narrowed by minLength/maxLength); else None."""
    shapes = []
    if "format" in c:
        if c["format"] not in _FORMAT_SHAPES:
            return None
        shapes.append(_FORMAT_SHAPES[c["format"]])
    if "pattern" in c:
        run = _pattern_shape(c["pattern"])
        if run is None:
            return None
        shapes.append(run)
    if not shapes:
        return None
    chars = frozenset.intersection(*(s[0] for s in shapes))
    least = max([c.get("minLength", 0), *(s[1] for s in shapes)])
    most = min([c.get("maxLength", float("inf")), *(s[2] for s in shapes)])
    return chars, least, most


def _pattern_shape(pattern: str) -> Shape | None:
    match = _RUN.fullmatch(pattern)
    if match is None:
        return None
    members, plus, star, low, comma, high = match.groups()
    chars: set[str] = set()
    i = 0
    while i < len(members):  # ranges a-z, else single characters; a final "-" is itself
        if i + 2 < len(members) and members[i + 1] == "-":
            chars.update(map(chr, range(ord(members[i]), ord(members[i + 2]) + 1)))
            i += 3
        else:
            chars.add(members[i])
            i += 1
    if plus or star:
        return frozenset(chars), 1 if plus else 0, float("inf")
    least = int(low)
    most = (int(high) if high else float("inf")) if comma else least
    return frozenset(chars), least, most


def _versioned_folders() -> list[str]:
    return ["envelope", *(f"events/{name}" for name in catalogue.event_types())]


def release() -> list[str]:
    """Lock the files not locked yet, if every check but "not released" passes.

    A released entry is never rewritten, and a breaking version is never released.
    """
    locked, found = read_lock(), current_fingerprints()
    problems = [p for p in check_lock(locked, found) if "not released" not in p]
    problems += check_conventions() + check_versions()
    if problems:
        return problems
    new = sorted(found.keys() - locked.keys())
    files = {**locked, **{path: found[path] for path in new}}
    body = {"note": _LOCK_NOTE, "files": dict(sorted(files.items()))}
    LOCK_FILE.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    print("released:", *new or ["nothing new"], sep="\n  ")
    return []


def main(argv: list[str]) -> int:
    problems = release() if argv == ["--release"] else check_all()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
