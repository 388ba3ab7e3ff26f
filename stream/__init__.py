"""The lander: Kafka surge.events -> Parquet on HDFS, exactly once.

    python -m stream        # settings: SURGE_LANDER_* (stream/settings.py)

Modules, from the outside in:
- `consumer`: the consumer group loop and rebalance listener (`Lander`), one `Assigned` per
  partition;
- `partition_writer`: one partition's state machine: recover, buffer, rotate, publish;
- `wal`: the per-partition write-ahead log that makes a multi-file publish all or nothing;
- `landed`: what has landed, read from the file names (schemas/layout.py: every path);
- `storage`: HDFS (WebHDFS or native RPC), or a local folder;
- `decode`: record values -> Arrow rows, read natively (`native`) or event by event (`rows`);
- `buffer`: rows per dt=/hr= bucket -> Parquet bytes;
- `dlq`, `metrics`, `settings`.
"""
