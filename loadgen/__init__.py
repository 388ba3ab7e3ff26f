"""Surge's load generator and the one generator of realistic events the repository shares.

    from loadgen import LoadConfig, Constant, FlashSale, Steps, run, run_async, events

    results = run(LoadConfig(url="http://127.0.0.1:8080", profile=FlashSale()))
    results.as_dict()                 # counts, percentiles, per-second timeline
    set(results.acked_ids())          # the event ids 2xx answers accepted
    for event in events(1000, seed=7):  # valid events of whole shoppers' visits
        ...

See loadgen/README.md and ``python -m loadgen --help``.
"""

from loadgen.batches import Batch, batches, rendered
from loadgen.journeys import Journeys, Visit, events, spoil
from loadgen.profiles import Constant, FlashSale, Steps, offered_requests, send_times
from loadgen.results import Results
from loadgen.runner import run, run_async
from loadgen.settings import JourneyMix, LoadConfig

__all__ = [
    "Batch",
    "Constant",
    "FlashSale",
    "JourneyMix",
    "Journeys",
    "LoadConfig",
    "Results",
    "Steps",
    "Visit",
    "batches",
    "events",
    "offered_requests",
    "rendered",
    "run",
    "run_async",
    "send_times",
    "spoil",
]
