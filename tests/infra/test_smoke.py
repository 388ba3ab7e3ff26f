"""The three round trips of `make run`, each asserting the data that came back."""

from __future__ import annotations

import asyncio
import os

import pyarrow as pa
import pytest

from infra import smoke

pytestmark = pytest.mark.integration


def test_kafka_record_comes_back(stack):
    value = os.urandom(16).hex().encode()
    assert asyncio.run(smoke.kafka_round_trip(stack, value)) == value


def test_hdfs_file_survives_write_rename_read(stack):
    data = os.urandom(70_000)  # more than one WebHDFS chunk
    assert smoke.hdfs_round_trip(stack, data) == data
    assert smoke.hdfs_client(stack).list(smoke.SMOKE_DIR) == []  # temp and final both gone


def test_spark_reads_parquet_from_hdfs(stack):
    table = pa.table({"event_id": ["e1", "e2"], "amount": [12.5, None], "quantity": [1, 3]})
    rows = smoke.spark_round_trip(stack, table)
    assert sorted(rows, key=lambda row: row["event_id"]) == table.to_pylist()
