"""Names of the reasons a message or transaction is rejected (docs/protocol.md sections 1 and 3).

Rejected means never executed: no state change and no fee. The transaction-level names are
Agave's `TransactionError` variants in snake case, so that a runtime rejection that is not listed
here (for example `account_loaded_twice`) is named the same way.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an inbox message or one Solana transaction was rejected."""

    # Whole inbox messages (section 4).
    UNKNOWN_VERSION = "unknown_version"
    UNKNOWN_KIND = "unknown_kind"
    MALFORMED_BATCH = "malformed_batch"
    MALFORMED_DEPOSIT = "malformed_deposit"
    EMPTY_DEPOSIT = "empty_deposit"
    # One transaction inside a well-framed batch (sections 4 and 5).
    MALFORMED_TX = "malformed_tx"
    SIGNATURE_FAILURE = "signature_failure"
    BLOCKHASH_NOT_FOUND = "blockhash_not_found"
    ALREADY_PROCESSED = "already_processed"
    FEE_PAYER = "fee_payer"
