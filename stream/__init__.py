"""The lander: Kafka surge.events -> Parquet on HDFS, exactly once.

    python -m stream        # settings: SURGE_LANDER_* (stream/settings.py)

Modules, from the outside in:
- `consumer`: the consumer group loop and rebalance listener (`Lander`);
- `partition_writer`: one partition's state machine: recover, buffer, rotate, publish;
- `wal`: the per-partition write-ahead log that makes a multi-file publish all or nothing;
- `landed`: what has landed, read from the file names (schemas/layout.py: the paths);
- `storage`: HDFS (WebHDFS or native), local folder, in-memory fake;
- `decode`, `buffer`: record value -> row -> Arrow batches -> Parquet bytes;
- `dlq`, `metrics`, `faults` (crash points for tests), `samples` (events for tests and bench).
"""
