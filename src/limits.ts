/**
 * @module
 * Size limits of the public contract (API.md, "Errors"): every body is read with a running count and refused at its
 * limit, so no request or tenant answer can make an isolate buffer more than this.
 */

const MiB = 1024 * 1024;

/** Any JSON request body other than a batch or a callback: function specs, bulk filters, accounts. */
export const MAX_JSON_BODY_BYTES = 1 * MiB;
/** `POST /v1/functions/:name/tasks:batch`: the whole request (each item's payload still obeys maxPayloadBytes). */
export const MAX_BATCH_BODY_BYTES = 10 * MiB;
/** `POST /v1/tasks/:id/complete`: the callback of a long-running task, result included. */
export const MAX_CALLBACK_BODY_BYTES = 10 * MiB;
/** A tenant function's answer; a larger one fails the attempt instead of filling memory and R2. */
export const MAX_RESULT_BYTES = 10 * MiB;
/** Bytes of a failed answer kept as the error excerpt. */
export const ERROR_EXCERPT_BYTES = 300;
/** Longest `Content-Type` accepted on a request (it is stored with the payload and sent on every call). */
export const MAX_CONTENT_TYPE_LENGTH = 256;
/** Cloudflare lets one invocation hold 6 outgoing connections open at a time (the 7th waits); locally unenforced. */
export const CONNECTIONS_PER_INVOCATION = 6;
/** Inline bytes one RPC between Durable Objects carries at most (reports, hand-offs); the platform's cap is 32 MiB. */
export const MAX_RPC_BATCH_BYTES = 2 * MiB;
