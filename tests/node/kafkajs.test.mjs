// kafkajs against StrikeMQ: admin, idempotent producer, a consumer group, record by record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { startBroker } from './broker.mjs';

let broker;
let kafka;

before(async () => {
  broker = await startBroker();
  kafka = new Kafka({ clientId: 'node-test', brokers: [broker.bootstrap], logLevel: process.env.KLOG ? logLevel.INFO : logLevel.NOTHING });
});

after(async () => {
  await broker.stop();
});

test('admin creates, lists and deletes topics', async () => {
  const admin = kafka.admin();
  await admin.connect();
  assert.equal(await admin.createTopics({ topics: [{ topic: 'node-admin', numPartitions: 3 }] }), true);
  assert.ok((await admin.listTopics()).includes('node-admin'));
  const md = await admin.fetchTopicMetadata({ topics: ['node-admin'] });
  assert.equal(md.topics[0].partitions.length, 3);
  await admin.deleteTopics({ topics: ['node-admin'] });
  assert.ok(!(await admin.listTopics()).includes('node-admin'));
  await admin.disconnect();
});

test('idempotent producer and a consumer group read every record once', async () => {
  const topic = 'node-group';
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const messages = Array.from({ length: 400 }, (_, i) => ({
    key: `k${i}`,
    value: `v${i}`,
    partition: i % 4,
    headers: { i: String(i) },
    timestamp: String(1700000000000 + i),
  }));
  for (let i = 0; i < messages.length; i += 100) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 100) });
  }
  await producer.disconnect();

  const consumerConfig = { groupId: 'node-g', maxWaitTimeInMs: 500, heartbeatInterval: 500 };
  const consumers = [kafka.consumer(consumerConfig), kafka.consumer(consumerConfig)];
  const seen = new Map();
  const byConsumer = [new Set(), new Set()];
  let done;
  const all = new Promise((resolve) => { done = resolve; });
  for (const [n, c] of consumers.entries()) {
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachMessage: async ({ partition, message }) => {
        const v = message.value.toString();
        assert.ok(!seen.has(v), `delivered twice: ${v}`);
        seen.set(v, { partition, offset: Number(message.offset), key: message.key.toString(), header: message.headers.i.toString(), ts: message.timestamp });
        byConsumer[n].add(partition);
        if (seen.size === messages.length) done();
      },
    });
  }
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${seen.size} records`)), 60000);
  });
  await Promise.race([all, timeout]).finally(() => clearTimeout(timer));
  messages.forEach((m, i) => {
    const got = seen.get(m.value);
    assert.ok(got, `missing ${m.value}`);
    assert.equal(got.partition, i % 4);
    assert.equal(got.offset, Math.floor(i / 4));
    assert.equal(got.key, m.key);
    assert.equal(got.header, String(i));
    assert.equal(got.ts, m.timestamp);
  });

  const offsets = await admin.fetchOffsets({ groupId: 'node-g', topics: [topic] });
  await Promise.all(consumers.map((c) => c.disconnect()));
  const groups = await admin.listGroups();
  assert.ok(groups.groups.some((g) => g.groupId === 'node-g'));
  const committed = (await admin.fetchOffsets({ groupId: 'node-g', topics: [topic] }))[0].partitions;
  assert.deepEqual(committed.map((p) => Number(p.offset)).sort(), [100, 100, 100, 100]);
  assert.ok(offsets.length === 1);
  await admin.disconnect();
});

test('transactions commit and abort, with offsets sent to the transaction', async () => {
  const topic = 'node-tx';
  const source = 'node-tx-in';
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }, { topic: source, numPartitions: 1 }] });
  await admin.disconnect();

  const producer = kafka.producer({ transactionalId: 'node-tx-id', idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'c1' }, { value: 'c2' }] });
  await txn.commit();
  txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'a1' }] });
  await txn.abort();
  txn = await producer.transaction();
  await txn.send({ topic, messages: [{ value: 'c3' }] });
  await txn.sendOffsets({ consumerGroupId: 'node-tx-group', topics: [{ topic: source, partitions: [{ partition: 0, offset: '5' }] }] });
  await txn.commit();
  await producer.disconnect();

  // A read_committed consumer sees the committed records only.
  const consumer = kafka.consumer({ groupId: 'node-tx-reader', maxWaitTimeInMs: 200, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message.value.toString());
        if (got.length === 3) resolve();
      },
    });
  });
  // Give an aborted record (there must be none) the time of a few more fetches.
  await new Promise((r) => setTimeout(r, 600));
  await consumer.disconnect();
  assert.deepEqual(got, ['c1', 'c2', 'c3']);

  const admin2 = kafka.admin();
  await admin2.connect();
  const offsets = await admin2.fetchOffsets({ groupId: 'node-tx-group', topics: [source] });
  await admin2.disconnect();
  assert.equal(offsets[0].partitions[0].offset, '5');
});
