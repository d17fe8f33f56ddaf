#!/usr/bin/env node
// The npm Cryptomus client libraries against payglot, run by check_sdks.py:
//
//     node tests/sdk/check_node_sdks.cjs --proxy http://127.0.0.1:8080
//
// Prints one `CHECK {"name","ok","detail"}` line per check; check_sdks.py judges them with the
// Python ones (expectations.py lists those expected to fail). Credentials: config/payglot.yaml's
// demo Cryptomus merchant, routed to the Apollo sandbox.
"use strict";

const crypto = require("node:crypto");

const MERCHANT = "c0ffee00-0000-4000-8000-000000000001";
const KEY = "cm_test_payglot_key";
const RUN = crypto.randomBytes(6).toString("hex");
const NON_ASCII = "Заказ №7 — café ✓ / 注文";

const proxyArg = process.argv.indexOf("--proxy");
if (proxyArg < 0 || !process.argv[proxyArg + 1]) {
  console.error("usage: check_node_sdks.cjs --proxy http://127.0.0.1:PORT");
  process.exit(2);
}
const proxy = process.argv[proxyArg + 1].replace(/\/+$/, "");
// The Cryptomus layout and the NearPayments one; both reach the route cryptomus-to-apollo.
const entries = { cryptomus: `${proxy}/v1/`, nearpayments: `${proxy}/cryptomus/v1/` };

class CheckFailed extends Error {}

function expect(cond, what, got) {
  if (!cond) throw new CheckFailed(got === undefined ? what : `${what}; got ${JSON.stringify(got)}`);
}

async function check(name, fn) {
  let result;
  try {
    result = { name, ok: true, detail: (await fn()) || "" };
  } catch (e) {
    result = { name, ok: false, detail: `${e instanceof CheckFailed ? "" : e.name + ": "}${e.message}` };
  }
  console.log(`CHECK ${JSON.stringify(result)}`);
}

function expectInvoice(inv, orderId) {
  expect(inv && typeof inv.uuid === "string" && inv.uuid, "a uuid", inv);
  expect(inv.order_id === orderId, "order_id echoed", inv.order_id);
  expect(["10", "10.00000000"].includes(inv.amount), "amount 10", inv.amount);
  expect(inv.status === "check", "status check", inv.status);
  expect(inv.is_final === false, "is_final false", inv.is_final);
  expect(typeof inv.address === "string" && inv.address, "an address", inv.address);
  return inv.uuid;
}

// cryptomus-sdk 3.0.0: `url` is a public attribute set in the constructor; it signs
// JSON.stringify(options) and axios sends the same serialisation. Answers come back whole
// ({state, result}); an error answer makes it throw `new Error(err.response.data)`.
async function cryptomusSdk() {
  const { Cryptomus } = require("cryptomus-sdk");
  // The SDK posts with the shared default axios instance and throws `new Error(object)` on an
  // error answer ("[object Object]"): an interceptor on that instance keeps the last answer so
  // a failure can say what payglot answered. It observes only.
  let lastAnswer;
  require("axios").interceptors.response.use(
    (response) => ((lastAnswer = response), response),
    (error) => ((lastAnswer = error.response), Promise.reject(error)),
  );
  const answered = () =>
    lastAnswer ? `${lastAnswer.status} ${JSON.stringify(lastAnswer.data)}` : "no answer";
  const label = "cryptomus-sdk 3.0.0 (npm)";
  const client = (base) => {
    const c = new Cryptomus(MERCHANT, KEY, "");
    c.url = base;
    return c;
  };
  let created;
  for (const [entry, base] of Object.entries(entries)) {
    await check(`${label}: createPayment via ${entry} entry`, async () => {
      const orderId = `npm-${entry.slice(0, 4)}-${RUN}`;
      const body = await client(base).createPayment({
        amount: "10",
        currency: "USDT",
        network: "tron",
        order_id: orderId,
        url_callback: "https://merchant.example/hooks/cryptomus",
        additional_data: NON_ASCII,
      });
      expect(body && body.state === 0, "state 0", body);
      const uuid = expectInvoice(body.result, orderId);
      expect(body.result.additional_data === NON_ASCII, "additional_data echoed", body.result.additional_data);
      created = created || uuid;
      return `uuid=${uuid}`;
    });
  }
  await check(`${label}: getPaymentInfo (lookup)`, async () => {
    expect(created, "an invoice created above");  // (both creates above fail otherwise)
    let body;
    try {
      body = await client(entries.cryptomus).getPaymentInfo({ uuid: created });
    } catch (e) {
      throw new CheckFailed(`the SDK threw "${e.message}"; payglot answered ${answered()}`);
    }
    expect(body === undefined || body.state === 0, "state 0", body);
    expect(body && body.result && body.result.uuid === created, "the same invoice", body);
    return `status=${body.result.status}`;
  });
}

(async () => {
  await cryptomusSdk();
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
