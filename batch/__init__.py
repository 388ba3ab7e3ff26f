"""Spark jobs run with spark-submit: sales and traffic reports, compaction."""
