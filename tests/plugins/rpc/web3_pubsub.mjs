// @solana/web3.js, unmodified, against `monmouth dev`'s PubSub (test_pubsub_dev_clients.py runs
// it): web3.js derives the WebSocket URL from the HTTP one (port + 1), confirms through
// signatureSubscribe (confirmTransaction with a blockhash strategy, sendAndConfirmTransaction)
// and watches an account (onAccountChange) and logs (onLogs).
//
//   node web3_pubsub.mjs URL
//
// Prints one JSON object.
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";

const [url] = process.argv.slice(2);
const connection = new Connection(url, "confirmed");
const out = {};

function within(seconds, promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: nothing in ${seconds} s`)), seconds * 1000),
    ),
  ]);
}

const payer = Keypair.generate();
const payee = Keypair.generate();

// An airdrop confirmed by its blockhash strategy (signatureSubscribe raced with polling).
let latest = await connection.getLatestBlockhash();
const airdrop = await connection.requestAirdrop(payer.publicKey, 3 * LAMPORTS_PER_SOL);
out.airdropConfirmed = (
  await within(60, connection.confirmTransaction({ signature: airdrop, ...latest }), "airdrop")
).value;

// Watch the payee and the logs that mention it before the transfer.
let accountChange;
const accountSeen = new Promise((resolve) => {
  accountChange = connection.onAccountChange(
    payee.publicKey,
    (info, context) => resolve({ lamports: info.lamports, slot: context.slot }),
    { commitment: "confirmed" },
  );
});
let logsListener;
const logsSeen = new Promise((resolve) => {
  logsListener = connection.onLogs(
    payee.publicKey,
    (logs) => resolve({ signature: logs.signature, err: logs.err }),
    "confirmed",
  );
});
// web3.js subscribes lazily: give the socket a moment to carry both subscriptions.
await new Promise((resolve) => setTimeout(resolve, 1000));

const tx = new Transaction().add(
  SystemProgram.transfer({
    fromPubkey: payer.publicKey,
    toPubkey: payee.publicKey,
    lamports: LAMPORTS_PER_SOL,
  }),
);
out.sendAndConfirm = await within(
  90,
  sendAndConfirmTransaction(connection, tx, [payer], { commitment: "confirmed" }),
  "sendAndConfirmTransaction",
);
out.transferSignature = tx.signature ? (await import("bs58")).default.encode(tx.signature) : null;
out.accountChange = await within(60, accountSeen, "onAccountChange");
out.logs = await within(60, logsSeen, "onLogs");
await connection.removeAccountChangeListener(accountChange);
await connection.removeOnLogsListener(logsListener);

// A raw transaction confirmed with confirmTransaction and a blockhash strategy.
latest = await connection.getLatestBlockhash();
const second = new Transaction({ ...latest, feePayer: payer.publicKey }).add(
  SystemProgram.transfer({
    fromPubkey: payer.publicKey,
    toPubkey: payee.publicKey,
    lamports: LAMPORTS_PER_SOL / 4,
  }),
);
second.sign(payer);
const signature = await connection.sendRawTransaction(second.serialize());
out.secondConfirmed = (
  await within(60, connection.confirmTransaction({ signature, ...latest }, "confirmed"), "confirm")
).value;
out.payeeBalance = await connection.getBalance(payee.publicKey);
console.log(JSON.stringify(out));
process.exit(0);
