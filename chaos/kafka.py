"""What the suite asks Kafka, synchronously: topics made and dropped, end offsets, and a
consumer group's committed offsets (the lander commits only what it has published)."""

from __future__ import annotations

import contextlib

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


class KafkaView:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap

    def _admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topics(self, partitions: dict[str, int]) -> None:
        admin = self._admin()  # kept referenced until its futures are done
        futures = admin.create_topics(
            [NewTopic(name, n, 1) for name, n in partitions.items()], operation_timeout=30
        )
        for future in futures.values():
            future.result(timeout=60)

    def delete_topics(self, names: list[str]) -> None:
        admin = self._admin()
        for future in admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):  # already gone: nothing to clean
                future.result(timeout=60)

    def _consumer(self, group: str) -> Consumer:
        return Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False}
        )

    def end_offsets(self, topic: str, partitions: int, timeout_s: float = 10) -> dict[int, int]:
        consumer = self._consumer("chaos-watermarks")
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
                for p in range(partitions)
            }
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: int, timeout_s: float = 10) -> dict:
        """{partition: committed offset} of ``group``, 0 where it committed none."""
        consumer = self._consumer(group)
        try:
            tps = consumer.committed(
                [TopicPartition(topic, p) for p in range(partitions)], timeout=timeout_s
            )
            return {tp.partition: max(tp.offset, 0) for tp in tps}
        finally:
            consumer.close()
