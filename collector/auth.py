"""Write keys: which app a request is for. A missing or unknown key is refused (401).

A browser can put the key in the ``X-Write-Key`` header, in the body (``write_key``) or in the
query string (``?write_key=``, for sendBeacon, which sends no custom header); the first found in
that order is used.
"""

from __future__ import annotations

from collections.abc import Mapping

from collector.errors import Cause, CollectorError
from collector.settings import WriteKey


class WriteKeys:
    def __init__(self, keys: Mapping[str, WriteKey]):
        self._keys = dict(keys)

    def __iter__(self):
        return iter(self._keys.items())

    def resolve(self, key: str | None) -> WriteKey:
        if not key:
            raise CollectorError(
                Cause.UNAUTHORIZED,
                "write key missing: send the X-Write-Key header, write_key in the body "
                "or ?write_key= in the URL",
            )
        found = self._keys.get(key)
        if found is None:
            # Not echoed: a key is a secret of sorts and the value is the client's to invent.
            raise CollectorError(Cause.UNAUTHORIZED, "write key unknown")
        return found

    def check_known(self, key: str | None) -> None:
        """Before the body: refuse a key given in the header or URL that cannot be right."""
        if key:
            self.resolve(key)


def first_key(*candidates: object) -> str | None:
    for candidate in candidates:
        if candidate and isinstance(candidate, str):
            return candidate
    return None
