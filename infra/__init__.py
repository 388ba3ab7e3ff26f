"""How the real services start: a local Kafka + HDFS stack from Maven Central jars."""
