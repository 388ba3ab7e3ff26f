"""The event catalogue, the one source of truth for event shapes (see schemas/README.md).

    from schemas import EventValidator, arrow_schema, spark_schema

Names are imported on first use, so the collector, which only validates, never loads pyarrow
or pyspark.
"""

import importlib
from typing import Any

_EXPORTS = {
    "EventValidator": "schemas.validator",
    "EnvelopeValidator": "schemas.validator",
    "parse_time": "schemas.timestamps",
    "arrow_schema": "schemas.arrow",
    "spark_schema": "schemas.spark",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
