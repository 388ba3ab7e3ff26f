"""The lander: Kafka surge.events -> Parquet on HDFS, exactly once."""
