"""Every knob of the fault suite, typed and in one place.

Each field can be overridden by ``SURGE_CHAOS_`` + its name in upper case
(``SURGE_CHAOS_EVENTS_PER_S=2000``). ``short`` scales every scenario down to what ``make test``
can afford (a few seconds of load per fault).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class ChaosSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURGE_CHAOS_", frozen=True)

    short: bool = Field(
        False, description="The short versions (make test): less load, fewer faults."
    )
    events_per_s: float = Field(
        3000.0, gt=0, description="Steady load of every scenario: modest, the machine has 2 cores."
    )
    events_per_request: int = Field(20, ge=1, description="Events per batch, as an SDK sends.")
    partitions: int = Field(3, ge=1, description="Partitions of each scenario's topic.")
    max_attempts: int = Field(
        40,
        ge=1,
        description="Sends of one batch at most: clients keep retrying through a whole outage, "
        "so that the retries' duplicates are measured.",
    )
    land_timeout_s: float = Field(
        180.0, gt=0, description="After the load, how long the lander may take to catch up."
    )
    lander_rotate_age_s: float = Field(
        2.0, gt=0, description="Short rotations: many publishes, so faults hit them mid-way."
    )
    lander_session_timeout_ms: int = Field(
        6000, ge=1000, description="How soon a killed lander's partitions move to another."
    )
    lander_backoff_max_s: float = Field(
        5.0, gt=0, description="Longest wait between the lander's publish retries."
    )
    results_dir: Path = Field(
        REPO_ROOT / "chaos" / "results", description="Where each run's JSON and table go."
    )
    hdfs_prefix: str = Field("/surge/chaos", description="HDFS folder of the scenarios' roots.")
    keep_data: bool = Field(
        False,
        description="Keep topics and HDFS roots of passing scenarios (failing ones are kept).",
    )

    def scaled(self, full: float, short: float) -> float:
        """A duration or count: ``full`` normally, ``short`` in the short versions."""
        return short if self.short else full
