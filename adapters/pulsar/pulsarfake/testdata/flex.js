// Drives pulsarfake with the pure-JavaScript pulsar-flex client: produces
// single messages and a batch, then consumes WANT messages from the
// subscription flex-sub (created at the earliest position by the test) and
// prints them as JSON. Used by flex_test.go.
const { Producer, Consumer, logLevel } = require('pulsar-flex');

const broker = process.env.BROKER; // host:port
const topic = process.env.TOPIC;
const want = parseInt(process.env.WANT, 10);

const main = async () => {
  const producer = new Producer({
    topic,
    discoveryServers: [broker],
    producerAccessMode: Producer.ACCESS_MODES.SHARED,
    logLevel: process.env.FLEX_DEBUG ? logLevel.DEBUG : logLevel.ERROR,
  });
  await producer.create();
  for (let i = 0; i < 3; i++) {
    await producer.sendMessage({ payload: 'flex-' + i, properties: { from: 'flex' } });
  }
  await producer.sendBatch({ messages: [{ payload: 'flex-b0' }, { payload: 'flex-b1' }] });
  await producer.close();

  const consumer = new Consumer({
    topic,
    discoveryServers: [broker],
    subscription: 'flex-sub',
    subType: Consumer.SUB_TYPES.SHARED,
    consumerName: 'flex',
    receiveQueueSize: 100,
    logLevel: process.env.FLEX_DEBUG ? logLevel.DEBUG : logLevel.ERROR,
  });
  await consumer.subscribe();
  const got = [];
  await new Promise((resolve) => {
    consumer.run({
      autoAck: false,
      onMessage: async ({ ack, message }) => {
        got.push(message.toString());
        await ack();
        if (got.length >= want) resolve();
      },
    });
  });
  console.log('RESULT ' + JSON.stringify(got));
  await consumer.unsubscribe();
};

const timer = setTimeout(() => {
  console.error('flex.js: timed out');
  process.exit(2);
}, parseInt(process.env.FLEX_TIMEOUT_MS || "60000", 10));

main()
  .then(() => {
    clearTimeout(timer);
    process.exit(0);
  })
  .catch((e) => {
    console.error('flex.js:', e);
    process.exit(1);
  });
