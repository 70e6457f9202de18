// @solana/web3.js, unmodified, against a node following anvil with a relay key
// (test_rpc_l1_web3js.py runs it): an airdrop (a deposit from the relay key) and a transfer
// (relayed into anvil's inbox), each confirmed by polling getSignatureStatuses; then anvil mines
// past its `safe` depth and both reach `confirmed`, where getSignaturesForAddress lists them.
//
//   node web3_l1.mjs URL ANVIL_URL SAFE_DEPTH
//
// Prints one JSON object. (Confirmation by polling, over HTTP only: sendAndConfirmTransaction
// would wait on PubSub's signatureSubscribe.)
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
} from "@solana/web3.js";

const [url, anvilUrl, safeDepth] = process.argv.slice(2);
const connection = new Connection(url, "processed");

async function until(signature, levels) {
  for (let i = 0; i < 600; i++) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const status = value[0];
    if (status && levels.includes(status.confirmationStatus)) {
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${signature} did not reach ${levels} in 30 s`);
}

async function anvil(method, ...params) {
  const response = await fetch(anvilUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json();
  if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

const anyLevel = ["processed", "confirmed", "finalized"];
const payer = Keypair.generate();
const payee = Keypair.generate();
const out = {};

out.airdrop = await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL);
out.airdropStatus = await until(out.airdrop, anyLevel);
out.airdropBalance = await connection.getBalance(payer.publicKey);

const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
const tx = new Transaction({ blockhash, lastValidBlockHeight, feePayer: payer.publicKey }).add(
  SystemProgram.transfer({
    fromPubkey: payer.publicKey,
    toPubkey: payee.publicKey,
    lamports: LAMPORTS_PER_SOL,
  }),
);
tx.sign(payer);
// Preflight at `processed`, where the blockhash is (the connection's commitment).
out.transfer = await connection.sendRawTransaction(tx.serialize());
out.transferStatus = await until(out.transfer, anyLevel);
out.payerBalance = await connection.getBalance(payer.publicKey);
out.payeeBalance = await connection.getBalance(payee.publicKey);

// `confirmed` is anvil's `safe` block: mine past it, then both are confirmed.
await anvil("anvil_mine", `0x${Number(safeDepth).toString(16)}`);
out.transferConfirmed = await until(out.transfer, ["confirmed", "finalized"]);
out.airdropConfirmed = await until(out.airdrop, ["confirmed", "finalized"]);
out.payerHistory = await connection.getSignaturesForAddress(payer.publicKey, {}, "confirmed");
out.payeeHistory = await connection.getSignaturesForAddress(payee.publicKey, {}, "confirmed");
out.limited = await connection.getSignaturesForAddress(payer.publicKey, { limit: 1 }, "confirmed");
console.log(JSON.stringify(out));
