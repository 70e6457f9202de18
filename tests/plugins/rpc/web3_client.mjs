// @solana/web3.js, unmodified, against the node (test_rpc_web3js.py runs it).
//
//   node web3_client.mjs URL FACTS_JSON
//
// FACTS_JSON: {wallet, mint, signatures, slot, payerSecret}. Prints one JSON object of what the
// client answered; web3.js checks every response's shape itself (superstruct), so a call that
// returns at all returned Agave's shape.
import {
  Connection,
  Keypair,
  PublicKey,
  SystemProgram,
  TransactionMessage,
  VersionedTransaction,
} from "@solana/web3.js";

const [url, factsJson] = process.argv.slice(2);
const facts = JSON.parse(factsJson);
const connection = new Connection(url, "confirmed");
const out = {};

out.slot = await connection.getSlot();
out.blockHeight = await connection.getBlockHeight();
out.version = await connection.getVersion();
out.epochInfo = await connection.getEpochInfo();
out.slotsPerEpoch = (await connection.getEpochSchedule()).slotsPerEpoch;
out.genesisHash = await connection.getGenesisHash();
out.latest = await connection.getLatestBlockhash();
out.blockhashValid = (await connection.isBlockhashValid(out.latest.blockhash)).value;
out.rent = await connection.getMinimumBalanceForRentExemption(165);
out.balance = await connection.getBalance(new PublicKey(facts.wallet));
const mint = await connection.getAccountInfo(new PublicKey(facts.mint));
out.mintData = mint.data.toString("base64");
const parsed = await connection.getParsedAccountInfo(new PublicKey(facts.mint));
out.parsedType = parsed.value.data.parsed.type;
const many = await connection.getMultipleAccountsInfo([
  new PublicKey(facts.wallet),
  Keypair.generate().publicKey,
]);
out.many = many.map((account) => account && account.lamports);
const statuses = await connection.getSignatureStatuses(facts.signatures, {
  searchTransactionHistory: true,
});
out.statuses = statuses.value;
out.blockTime = await connection.getBlockTime(facts.slot);
out.blocks = await connection.getBlocks(0, 2);
out.firstAvailable = await connection.getFirstAvailableBlock();
out.transactionCount = await connection.getTransactionCount();

const payer = Keypair.fromSecretKey(Uint8Array.from(facts.payerSecret));
function transferTo(lamports) {
  const message = new TransactionMessage({
    payerKey: payer.publicKey,
    recentBlockhash: out.latest.blockhash,
    instructions: [
      SystemProgram.transfer({
        fromPubkey: payer.publicKey,
        toPubkey: Keypair.generate().publicKey,
        lamports,
      }),
    ],
  }).compileToV0Message();
  const tx = new VersionedTransaction(message);
  tx.sign([payer]);
  return tx;
}
const good = transferTo(1_000_000);
out.fee = (await connection.getFeeForMessage(good.message)).value;
const simulated = await connection.simulateTransaction(good, { sigVerify: true });
out.simulation = simulated.value;
try {
  await connection.sendTransaction(transferTo(1000)); // leaves the payee below rent
  out.sendError = null;
} catch (error) {
  out.sendError = error.message;
  out.sendLogs = error.logs ?? null;
}
try {
  await connection.requestAirdrop(payer.publicKey, 1_000_000_000);
  out.airdropError = null;
} catch (error) {
  out.airdropError = error.message;
}
console.log(JSON.stringify(out));
