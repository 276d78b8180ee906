// An auxiliary Worker for the integration tests: consumes the RESULTS queue (a "queue" destination) and stores each
// envelope in the results bucket under queue-consumer/<task id>.json, where a test can read it.
export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      await env.SINK.put(`queue-consumer/${message.body.data.id}.json`, JSON.stringify(message.body));
      message.ack();
    }
  },
};
