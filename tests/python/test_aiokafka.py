"""aiokafka (asyncio) against StrikeMQ: producer, a consumer group with commits, record by record."""

import asyncio

from helpers import create_topic


def test_aiokafka_produce_and_group_consume(broker, topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    create_topic(broker.bootstrap, topic, 3)

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True,
                                    compression_type="gzip")
        await producer.start()
        try:
            for i in range(300):
                await producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3,
                                    headers=[("i", b"%d" % i)], timestamp_ms=1_700_000_000_000 + i)
            await producer.flush()
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="aio-" + topic,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        got = []
        try:
            while len(got) < 300:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                for records in batches.values():
                    got.extend(records)
            await consumer.commit()
            committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(3)]
        finally:
            await consumer.stop()
        return got, committed

    got, committed = asyncio.run(scenario())
    assert committed == [100, 100, 100]
    by_value = {r.value: r for r in got}
    assert len(by_value) == 300
    for i in range(300):
        r = by_value[b"v%d" % i]
        assert (r.partition, r.offset, r.key, r.timestamp) == (i % 3, i // 3, b"k%d" % i, 1_700_000_000_000 + i)
        assert list(r.headers) == [("i", b"%d" % i)]
