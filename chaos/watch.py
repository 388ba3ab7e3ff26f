"""A probe beside the load: one small POST and one ``GET /readyz`` every tick, each with its
time, status, latency and ``Retry-After``. It tells what the load's counts cannot: how fast a
refusal came, whether it said when to come back, what /readyz said during a fault, and when
service came back.

Its events are valid ones of the load generator's kind, with ids of its own; those answered 2xx
are reconciled with the load's.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from dataclasses import dataclass, field

import orjson

from loadgen import events


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic() when sent
    status: int | None  # None: no answer (refused, reset, timed out)
    latency_s: float
    retry_after: str | None = None


@dataclass
class Probe:
    url: str
    tick_s: float = 0.2
    timeout_s: float = 10.0
    posts: list[Sample] = field(default_factory=list)
    ready: list[Sample] = field(default_factory=list)
    acked_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        host, port = self.url.removeprefix("http://").split(":")
        self._host, self._port = host, int(port)
        self._template = next(iter(events(1, seed=5)))

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._post()
            self.ready.append(self._request("GET", "/readyz")[0])
            self._stop.wait(max(0.0, self.tick_s - (time.monotonic() - started)))

    def _post(self) -> None:
        event_id = str(uuid.uuid4())  # event ids are UUIDs (schemas/json/common)
        event = self._template | {"event_id": event_id}
        body = orjson.dumps({"events": [event]})
        sample, answer = self._request("POST", "/v1/batch", body)
        self.posts.append(sample)
        if sample.status == 200 and orjson.loads(answer).get("accepted") == 1:
            self.acked_ids.append(event_id)

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[Sample, bytes]:
        headers = {"X-Write-Key": "dev", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        started = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            latency = time.monotonic() - started
            return Sample(started, answer.status, latency, answer.getheader("Retry-After")), data
        except OSError:
            return Sample(started, None, time.monotonic() - started), b""
        finally:
            conn.close()

    # -- what the samples say ----------------------------------------------------------------

    @staticmethod
    def between(samples: list[Sample], start: float, end: float) -> list[Sample]:
        return [s for s in samples if start <= s.at < end]

    def first_ok_after(self, since: float) -> float | None:
        """Seconds from ``since`` to the first POST answered 2xx that was sent after it."""
        for s in self.posts:
            if s.at >= since and s.status is not None and 200 <= s.status < 300:
                return s.at + s.latency_s - since
        return None

    def first_ready_after(self, since: float) -> float | None:
        for s in self.ready:
            if s.at >= since and s.status == 200:
                return s.at + s.latency_s - since
        return None

    def recovery(self, since: float, timeout_s: float = 60) -> float | None:
        """Seconds from ``since`` until both a POST was accepted and /readyz said 200, waiting
        for them up to ``timeout_s``; None if they did not come."""
        deadline = since + timeout_s
        while True:
            ok, ready = self.first_ok_after(since), self.first_ready_after(since)
            if ok is not None and ready is not None:
                return max(ok, ready)
            if time.monotonic() > deadline:
                return None
            time.sleep(self.tick_s)
