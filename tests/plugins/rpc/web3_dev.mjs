// @solana/web3.js, unmodified, against `monmouth dev` (test_rpc_dev_clients.py runs it):
// airdrop, a transfer, each confirmed by polling getSignatureStatuses, the balances after.
//
//   node web3_dev.mjs URL
//
// Prints one JSON object. It confirms over HTTP alone on purpose; web3_pubsub.mjs confirms
// with sendAndConfirmTransaction, over PubSub.
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
} from "@solana/web3.js";

const [url] = process.argv.slice(2);
const connection = new Connection(url, "confirmed");

async function confirmed(signature) {
  for (let i = 0; i < 300; i++) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const status = value[0];
    if (status && status.confirmationStatus !== "processed") {
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${signature} was not confirmed in 30 s`);
}

const payer = Keypair.generate();
const payee = Keypair.generate();
const out = {};
const airdrop = await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL);
out.airdropStatus = await confirmed(airdrop);
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
const signature = await connection.sendRawTransaction(tx.serialize());
out.transferStatus = await confirmed(signature);
out.payerBalance = await connection.getBalance(payer.publicKey);
out.payeeBalance = await connection.getBalance(payee.publicKey);
console.log(JSON.stringify(out));
