"""The HTTP collector: parse, validate, enrich, produce to Kafka, answer."""
