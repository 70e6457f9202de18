// @solana/web3.js, unmodified, against `monmouth dev` (test_rpc_tokens.py runs it): SPL Token
// instructions built by hand (the program's documented layouts, no @solana/spl-token): a mint,
// two associated token accounts, a mint-to and a transfer; the token reads back; and a transfer
// of more than the holder has, refused in preflight.
//
//   node web3_tokens.mjs URL
//
// Prints one JSON object (getParsedTransaction of the two transactions too). Each transaction is confirmed by polling getSignatureStatuses
// (over HTTP only; sendAndConfirmTransaction would wait on PubSub's signatureSubscribe).
import {
  ComputeBudgetProgram,
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SystemProgram,
  SYSVAR_RENT_PUBKEY,
  Transaction,
  TransactionInstruction,
} from "@solana/web3.js";

const TOKEN = new PublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
const ATA = new PublicKey("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
const MINT_SIZE = 82;
const ACCOUNT_SIZE = 165;
const DECIMALS = 6;
const MINTED = 1_000_000_000n;
const MOVED = 250_000_000n;

const [url] = process.argv.slice(2);
const connection = new Connection(url, "confirmed");

async function confirmed(signature) {
  for (let i = 0; i < 600; i++) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const status = value[0];
    if (status && status.confirmationStatus !== "processed") {
      if (status.err) throw new Error(`${signature} failed: ${JSON.stringify(status.err)}`);
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${signature} was not confirmed in 60 s`);
}

async function send(payer, instructions, ...signers) {
  const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
  const tx = new Transaction({ blockhash, lastValidBlockHeight, feePayer: payer.publicKey });
  tx.add(...instructions);
  tx.sign(payer, ...signers);
  return tx;
}

function u64(value) {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
}

function associated(owner, mint) {
  return PublicKey.findProgramAddressSync(
    [owner.toBuffer(), TOKEN.toBuffer(), mint.toBuffer()],
    ATA,
  )[0];
}

// InitializeMint2 (20): decimals, mint authority, freeze authority as COption (here None).
function initializeMint2(mint, authority) {
  const data = Buffer.concat([Buffer.from([20, DECIMALS]), authority.toBuffer(), Buffer.from([0])]);
  return new TransactionInstruction({
    programId: TOKEN,
    keys: [{ pubkey: mint, isSigner: false, isWritable: true }],
    data,
  });
}

function createAssociated(payer, owner, mint) {
  return new TransactionInstruction({
    programId: ATA,
    keys: [
      { pubkey: payer, isSigner: true, isWritable: true },
      { pubkey: associated(owner, mint), isSigner: false, isWritable: true },
      { pubkey: owner, isSigner: false, isWritable: false },
      { pubkey: mint, isSigner: false, isWritable: false },
      { pubkey: SystemProgram.programId, isSigner: false, isWritable: false },
      { pubkey: TOKEN, isSigner: false, isWritable: false },
      { pubkey: SYSVAR_RENT_PUBKEY, isSigner: false, isWritable: false },
    ],
    data: Buffer.alloc(0),
  });
}

// MintTo (7): amount.
function mintTo(mint, destination, authority, amount) {
  return new TransactionInstruction({
    programId: TOKEN,
    keys: [
      { pubkey: mint, isSigner: false, isWritable: true },
      { pubkey: destination, isSigner: false, isWritable: true },
      { pubkey: authority, isSigner: true, isWritable: false },
    ],
    data: Buffer.concat([Buffer.from([7]), u64(amount)]),
  });
}

// TransferChecked (12): amount, decimals.
function transferChecked(source, mint, destination, owner, amount) {
  return new TransactionInstruction({
    programId: TOKEN,
    keys: [
      { pubkey: source, isSigner: false, isWritable: true },
      { pubkey: mint, isSigner: false, isWritable: false },
      { pubkey: destination, isSigner: false, isWritable: true },
      { pubkey: owner, isSigner: true, isWritable: false },
    ],
    data: Buffer.concat([Buffer.from([12]), u64(amount), Buffer.from([DECIMALS])]),
  });
}

const payer = Keypair.generate();
const holder = Keypair.generate();
const mint = Keypair.generate();
const mine = associated(payer.publicKey, mint.publicKey);
const theirs = associated(holder.publicKey, mint.publicKey);
const out = {
  payer: payer.publicKey.toBase58(),
  holder: holder.publicKey.toBase58(),
  mint: mint.publicKey.toBase58(),
  mine: mine.toBase58(),
  theirs: theirs.toBase58(),
};

await confirmed(await connection.requestAirdrop(payer.publicKey, 2 * LAMPORTS_PER_SOL));
const rent = await connection.getMinimumBalanceForRentExemption(MINT_SIZE);
const create = await send(
  payer,
  [
    SystemProgram.createAccount({
      fromPubkey: payer.publicKey,
      newAccountPubkey: mint.publicKey,
      lamports: rent,
      space: MINT_SIZE,
      programId: TOKEN,
    }),
    initializeMint2(mint.publicKey, payer.publicKey),
    createAssociated(payer.publicKey, payer.publicKey, mint.publicKey),
    createAssociated(payer.publicKey, holder.publicKey, mint.publicKey),
  ],
  mint,
);
const createSignature = await connection.sendRawTransaction(create.serialize());
await confirmed(createSignature);
const move = await send(payer, [
  ComputeBudgetProgram.setComputeUnitLimit({ units: 300_000 }), // Agave does not parse it
  mintTo(mint.publicKey, mine, payer.publicKey, MINTED),
  transferChecked(mine, mint.publicKey, theirs, payer.publicKey, MOVED),
]);
const moveSignature = await connection.sendRawTransaction(move.serialize());
await confirmed(moveSignature);

const byOwner = await connection.getTokenAccountsByOwner(payer.publicKey, {
  mint: mint.publicKey,
});
out.byOwner = byOwner.value.map(({ pubkey }) => pubkey.toBase58());
const parsedByOwner = await connection.getParsedTokenAccountsByOwner(holder.publicKey, {
  programId: TOKEN,
});
out.parsedByOwner = parsedByOwner.value.map(({ pubkey, account }) => [
  pubkey.toBase58(),
  account.data.parsed,
]);
out.balance = (await connection.getTokenAccountBalance(theirs)).value;
out.supply = (await connection.getTokenSupply(mint.publicKey)).value;
const holders = await connection.getProgramAccounts(TOKEN, {
  encoding: "base64",
  filters: [{ dataSize: ACCOUNT_SIZE }, { memcmp: { offset: 0, bytes: mint.publicKey.toBase58() } }],
});
out.holders = Object.fromEntries(
  holders.map(({ pubkey, account }) => [
    pubkey.toBase58(),
    account.data.readBigUInt64LE(64).toString(),
  ]),
);
const holdersParsed = await connection.getParsedProgramAccounts(TOKEN, {
  filters: [
    { dataSize: ACCOUNT_SIZE },
    { memcmp: { offset: 32, bytes: holder.publicKey.toBase58() } },
  ],
});
out.holdersParsed = holdersParsed.map(({ pubkey, account }) => [
  pubkey.toBase58(),
  account.data.parsed,
]);

// The two transactions as getParsedTransaction shows them (web3.js checks each instruction's
// shape: parsed {program, programId, parsed} or partially decoded {programId, accounts, data}).
function instructions(list) {
  return list.map((ix) =>
    "parsed" in ix
      ? { program: ix.program, programId: ix.programId.toBase58(), parsed: ix.parsed }
      : {
          programId: ix.programId.toBase58(),
          accounts: ix.accounts.map((key) => key.toBase58()),
          data: ix.data,
        },
  );
}
for (const [name, signature] of [
  ["parsedCreate", createSignature],
  ["parsedMove", moveSignature],
]) {
  const parsed = await connection.getParsedTransaction(signature, {
    commitment: "confirmed",
    maxSupportedTransactionVersion: 0,
  });
  out[name] = {
    instructions: instructions(parsed.transaction.message.instructions),
    inner: parsed.meta.innerInstructions.map(({ index, instructions: list }) => ({
      index,
      instructions: instructions(list),
    })),
  };
}

// More than the holder has: the token program fails in preflight; web3.js throws.
const overdraw = await send(
  payer,
  [transferChecked(theirs, mint.publicKey, mine, holder.publicKey, MOVED + 1n)],
  holder,
);
try {
  await connection.sendRawTransaction(overdraw.serialize());
  out.sendError = null;
} catch (error) {
  out.sendError = {
    name: error.constructor.name,
    message: error.message,
    logs: error.logs ?? null,
    getLogs: await error.getLogs(connection),
  };
}
console.log(JSON.stringify(out));
