import Foundation
import GRDB
import PaystreamDomain
import PaystreamLedger
import PaystreamRuntime
import PaystreamStore

/// The settlement stage's tables: the merchant-side ledger (`LedgerTables`), and for each booked
/// payment its settlement line (the terms it was priced with, frozen), the parts of its breakdown
/// with what refunds reversed of each, the merchant's money waiting for its payout date
/// (releases), and the installment schedule.
public enum SettlementTables {
    public static let schema = StageSchema([
        ("settlement-v1", { db in
            try db.execute(sql: """
                CREATE TABLE settlement (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    fee INTEGER NOT NULL,
                    net INTEGER NOT NULL,
                    mode TEXT NOT NULL,
                    source_event_id TEXT NOT NULL,
                    booked_at TEXT NOT NULL
                );
                CREATE TABLE ledger_entry (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    posting_id TEXT NOT NULL,
                    account TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    posted_at TEXT NOT NULL
                );
                CREATE INDEX ledger_entry_posting ON ledger_entry(posting_id);
                CREATE INDEX ledger_entry_account ON ledger_entry(account, currency);
                """)
        }),
        // A payment downstream of the payment stage is (payer_id, payment_id): two payers may use
        // the same payment_id.
        ("settlement-v2-payer-payment", { db in
            try db.execute(sql: """
                CREATE TABLE settlement_v2 (
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    fee INTEGER NOT NULL,
                    net INTEGER NOT NULL,
                    mode TEXT NOT NULL,
                    source_event_id TEXT NOT NULL,
                    booked_at TEXT NOT NULL,
                    PRIMARY KEY (payer_id, payment_id)
                );
                INSERT INTO settlement_v2 (payer_id, payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at)
                    SELECT '', payment_id, merchant_id, amount, currency, fee, net, mode, source_event_id, booked_at FROM settlement;
                DROP TABLE settlement;
                ALTER TABLE settlement_v2 RENAME TO settlement;
                """)
        }),
        // The merchant-side ledger becomes the domain `Ledger`, persisted by LedgerTables like the
        // payer side: accounts per currency (`<name>:<CCY>`, clearing debit-normal, the payables
        // and revenues credit-normal) with stored balances, postings, entries, the FX carry.
        ("settlement-v3-domain-ledger", { db in
            try db.execute(sql: """
                DROP INDEX ledger_entry_posting;
                DROP INDEX ledger_entry_account;
                ALTER TABLE ledger_entry RENAME TO settlement_entry_v1;
                """)
            try LedgerTables.create(db)
            try LedgerTables.createFX(db)
            try db.execute(sql: """
                INSERT INTO ledger_posting (posting_id, posted_at)
                    SELECT posting_id, MIN(posted_at) FROM settlement_entry_v1 GROUP BY posting_id ORDER BY MIN(id);
                INSERT INTO ledger_entry (posting_id, account_id, currency, amount)
                    SELECT posting_id, account || ':' || currency, currency, amount FROM settlement_entry_v1 ORDER BY id;
                INSERT INTO ledger_account (account_id, currency, normal_side, floor, posted, pending)
                    SELECT account || ':' || currency, currency,
                           CASE WHEN account LIKE 'clearing:%' THEN 'debit' ELSE 'credit' END, NULL,
                           CASE WHEN account LIKE 'clearing:%' THEN SUM(amount) ELSE -SUM(amount) END, 0
                    FROM settlement_entry_v1 GROUP BY account, currency;
                DROP TABLE settlement_entry_v1;
                """)
        }),
        ("settlement-v4-ledger-hold-check", { db in try LedgerTables.rebuildHoldCheck(db) }),
        // Pricing from reference data, frozen per payment; the parts of each breakdown with their
        // reversals; releases to the merchant on the payout date; installment schedules. Lines
        // booked before (one fee, everything else to `merchant_payable`) become lines with a fee
        // part and a merchant part on `merchant_payable`, so their refunds still reverse them.
        ("settlement-v5-lines", { db in
            try db.execute(sql: """
                CREATE TABLE settlement_line (
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    order_id TEXT,
                    mode TEXT NOT NULL,
                    method TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    gross INTEGER NOT NULL CHECK (gross > 0),
                    reversed INTEGER NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= gross),
                    repaid INTEGER NOT NULL DEFAULT 0,
                    settlement_currency TEXT NOT NULL,
                    source_account TEXT NOT NULL,
                    pricing TEXT NOT NULL,
                    fx TEXT,
                    payout_calendar TEXT,
                    installment_financing TEXT,
                    sequence INTEGER NOT NULL,
                    source_event_id TEXT NOT NULL,
                    captured_at TEXT NOT NULL,
                    booked_at TEXT NOT NULL,
                    PRIMARY KEY (payer_id, payment_id)
                );
                CREATE TABLE settlement_part (
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    kind TEXT NOT NULL CHECK (kind = 'fee' OR kind = 'commission' OR kind = 'supplier' OR kind = 'merchant'),
                    party TEXT NOT NULL,
                    account TEXT NOT NULL,
                    booked INTEGER NOT NULL CHECK (booked >= 0),
                    reversed INTEGER NOT NULL DEFAULT 0 CHECK (reversed >= 0),
                    settled_currency TEXT NOT NULL,
                    booked_settled INTEGER NOT NULL CHECK (booked_settled >= 0),
                    reversed_settled INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (payer_id, payment_id, position)
                );
                CREATE TABLE settlement_release (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    reversed INTEGER NOT NULL DEFAULT 0 CHECK (reversed >= 0 AND reversed <= amount),
                    available_on TEXT NOT NULL,
                    available_at TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status = 'pending' OR status = 'available')
                );
                CREATE INDEX settlement_release_payment ON settlement_release(payer_id, payment_id);
                CREATE INDEX settlement_release_due ON settlement_release(available_at) WHERE status = 'pending';
                CREATE TABLE installment (
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    due_date TEXT NOT NULL,
                    due_at TEXT NOT NULL,
                    overdue_at TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount >= 0),
                    paid INTEGER NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
                    merchant_share INTEGER NOT NULL DEFAULT 0 CHECK (merchant_share >= 0),
                    status TEXT NOT NULL,
                    PRIMARY KEY (payer_id, payment_id, number)
                );
                CREATE INDEX installment_scheduled ON installment(due_at) WHERE status = 'scheduled';
                CREATE INDEX installment_due ON installment(overdue_at) WHERE status = 'due';

                INSERT INTO settlement_line (payer_id, payment_id, merchant_id, order_id, mode, method, currency, gross, settlement_currency,
                                             source_account, pricing, sequence, source_event_id, captured_at, booked_at)
                    SELECT payer_id, payment_id, merchant_id, NULL, mode, '', currency, amount, currency, '', '{}', 1, source_event_id,
                           booked_at, booked_at
                    FROM settlement WHERE amount > 0;
                INSERT INTO settlement_part (payer_id, payment_id, position, kind, party, account, booked, settled_currency, booked_settled)
                    SELECT payer_id, payment_id, 0, 'fee', '', 'fee_revenue:' || currency, fee, currency, fee FROM settlement WHERE amount > 0;
                INSERT INTO settlement_part (payer_id, payment_id, position, kind, party, account, booked, settled_currency, booked_settled)
                    SELECT payer_id, payment_id, 1, 'merchant', merchant_id, 'merchant_payable:' || merchant_id || ':' || currency,
                           amount - fee, currency, amount - fee FROM settlement WHERE amount > 0;
                """)
        }),
        // Batches: releases name their payee (the merchant, or a supplier of its splits); money
        // that became available is a payee item until a batch takes it; batches.
        ("settlement-v6-batches", { db in
            try db.execute(sql: """
                ALTER TABLE settlement_release ADD COLUMN role TEXT NOT NULL DEFAULT 'merchant';
                ALTER TABLE settlement_release ADD COLUMN payee TEXT NOT NULL DEFAULT '';
                UPDATE settlement_release SET payee = merchant_id;
                CREATE TABLE payee_item (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    role TEXT NOT NULL CHECK (role = 'merchant' OR role = 'supplier'),
                    payee TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount != 0),
                    payer_id TEXT,
                    payment_id TEXT,
                    reference TEXT,
                    available_on TEXT NOT NULL,
                    available_at TEXT NOT NULL,
                    batch_id INTEGER,
                    held_in INTEGER
                );
                CREATE INDEX payee_item_open ON payee_item(merchant_id, role, payee, currency) WHERE batch_id IS NULL;
                CREATE INDEX payee_item_batch ON payee_item(batch_id);
                CREATE TABLE payout_batch (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    role TEXT NOT NULL,
                    payee TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    payout_date TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status = 'held' OR status = 'closed'),
                    reason TEXT,
                    sequence INTEGER NOT NULL,
                    closed_at TEXT NOT NULL,
                    payout_id TEXT UNIQUE,
                    payout_status TEXT,
                    payout_reason TEXT,
                    bank_reference TEXT,
                    sent_at TEXT,
                    next_query_at TEXT,
                    queries INTEGER NOT NULL DEFAULT 0,
                    stuck_reported INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX payout_query_due ON payout_batch(next_query_at) WHERE payout_status = 'sent';
                CREATE INDEX payout_stuck ON payout_batch(sent_at) WHERE payout_status = 'sent' AND stuck_reported = 0;
                """)
        }),
        // Each refund's reversed parts, so that a payout report can itemize it.
        ("settlement-v7-reversals", { db in
            try db.execute(sql: """
                CREATE TABLE settlement_reversal (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    payer_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    parts TEXT NOT NULL,
                    reversed_at TEXT NOT NULL
                );
                """)
        }),
        // The payer's locale for notifications, from the capture's request.
        ("settlement-v8-payer-locale", { db in try db.execute(sql: "ALTER TABLE settlement_line ADD COLUMN payer_locale TEXT") }),
        // Ledger entries get a primary key, so that the shard's changelog carries them.
        ("settlement-v9-ledger-entry-key", { db in try db.execute(sql: LedgerTables.keyEntriesSQL) }),
    ])
}
