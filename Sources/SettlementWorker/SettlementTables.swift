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
    ])

    /// Stores what one refund took from each part (JSON: kind, party, amount, settled).
    static func recordReversal(_ db: Database, eventID: String, payer: String, payment: String, amount: Int64,
                               parts: [(Part, Int64, Int64)], at now: String) throws {
        let json = try Wire.encode(parts.map { ReversedPart(kind: $0.0.kind.rawValue, party: $0.0.party, amount: $0.1, settled: $0.2) })
        try db.cachedStatement(sql: """
            INSERT INTO settlement_reversal (event_id, payer_id, payment_id, amount, parts, reversed_at) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [eventID, payer, payment, amount, String(decoding: json, as: UTF8.self), now])
    }

    /// One part of a refund, as `settlement_reversal.parts` keeps it.
    public struct ReversedPart: Codable, Sendable, Hashable {
        public let kind: String
        public let party: String
        public let amount: Int64
        public let settled: Int64
    }

    // MARK: payee items and batches

    /// Money available to a payee, not yet paid out: one line of a future batch.
    struct PayeeItem {
        var id: Int64 = 0
        var role: String
        var payee: String
        var merchantID: String
        var currency: String
        var kind: String
        var amount: Int64
        var payerID: String?
        var paymentID: String?
        var reference: String?
        var availableOn: String
        var availableAt: String

        var line: PayoutLine {
            PayoutLine(kind: kind, amount: amount, paymentId: paymentID, payerId: payerID, reference: reference, availableOn: availableOn)
        }
    }

    static func insert(_ db: Database, item: PayeeItem) throws {
        try db.cachedStatement(sql: """
            INSERT INTO payee_item (role, payee, merchant_id, currency, kind, amount, payer_id, payment_id, reference, available_on, available_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [item.role, item.payee, item.merchantID, item.currency, item.kind, item.amount, item.payerID,
                             item.paymentID, item.reference, item.availableOn, item.availableAt])
    }

    /// Payee groups (merchant, role, payee, currency) with an item available by `now` that no
    /// batch has seen yet, held or closed.
    static func groupsToBatch(_ db: Database, now: String, limit: Int) throws -> [(merchant: String, role: String, payee: String, currency: String)] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT DISTINCT merchant_id, role, payee, currency FROM payee_item
            WHERE batch_id IS NULL AND held_in IS NULL AND available_at <= ? ORDER BY merchant_id, role, payee, currency LIMIT ?
            """), arguments: [now, limit]).map { ($0["merchant_id"], $0["role"], $0["payee"], $0["currency"]) }
    }

    /// The group's items in no closed batch and available by `now`, oldest first.
    static func openItems(_ db: Database, merchant: String, role: String, payee: String, currency: String, now: String) throws -> [PayeeItem] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM payee_item WHERE batch_id IS NULL AND merchant_id = ? AND role = ? AND payee = ? AND currency = ? AND available_at <= ?
            ORDER BY available_at, id
            """), arguments: [merchant, role, payee, currency, now]).map { row in
            PayeeItem(id: row["id"], role: row["role"], payee: row["payee"], merchantID: row["merchant_id"], currency: row["currency"],
                      kind: row["kind"], amount: row["amount"], payerID: row["payer_id"], paymentID: row["payment_id"],
                      reference: row["reference"], availableOn: row["available_on"], availableAt: row["available_at"])
        }
    }

    /// Records a batch; returns its id.
    static func insertBatch(_ db: Database, role: String, payee: String, merchant: String, currency: String, payoutDate: String,
                            amount: Int64, status: String, reason: String?, closedAt: String) throws -> Int64 {
        try db.cachedStatement(sql: """
            INSERT INTO payout_batch (role, payee, merchant_id, currency, payout_date, amount, status, reason, sequence, closed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
            """).execute(arguments: [role, payee, merchant, currency, payoutDate, amount, status, reason, closedAt])
        return db.lastInsertedRowID
    }

    static func setPayout(_ db: Database, batch: Int64, payoutID: String, sentAt: String, nextQueryAt: String) throws {
        try db.cachedStatement(sql: """
            UPDATE payout_batch SET payout_id = ?, payout_status = 'sent', sequence = 2, sent_at = ?, next_query_at = ? WHERE id = ?
            """).execute(arguments: [payoutID, sentAt, nextQueryAt, batch])
    }

    /// A closed batch and its payout.
    struct Payout {
        var batch: Int64
        var role: String
        var payee: String
        var merchantID: String
        var currency: String
        var payoutDate: String
        var amount: Int64
        var sequence: Int
        var payoutID: String
        var status: PayoutStatus
        var reason: String?
        var bankReference: String?
        var sentAt: String
        var nextQueryAt: String?
        var queries: Int
        var stuckReported: Bool

        var batchID: String { "b:\(MessageID.part(merchantID)):\(batch)" }
    }

    private static func payout(from row: Row) throws -> Payout {
        guard let status = PayoutStatus(rawValue: row["payout_status"] ?? "") else {
            throw DeadLetter(code: "corrupt_state", message: "payout \(row["payout_id"] as String? ?? "?") has status '\(row["payout_status"] as String? ?? "")'")
        }
        return Payout(batch: row["id"], role: row["role"], payee: row["payee"], merchantID: row["merchant_id"], currency: row["currency"],
                      payoutDate: row["payout_date"], amount: row["amount"], sequence: row["sequence"], payoutID: row["payout_id"],
                      status: status, reason: row["payout_reason"], bankReference: row["bank_reference"], sentAt: row["sent_at"] ?? "",
                      nextQueryAt: row["next_query_at"], queries: row["queries"], stuckReported: row["stuck_reported"])
    }

    static func payout(_ db: Database, id: String) throws -> Payout? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM payout_batch WHERE payout_id = ?"), arguments: [id]).map(payout(from:))
    }

    static func update(_ db: Database, payout: Payout) throws {
        try db.cachedStatement(sql: """
            UPDATE payout_batch SET payout_status = ?, payout_reason = ?, bank_reference = ?, sequence = ?, next_query_at = ?, queries = ?,
                stuck_reported = ? WHERE id = ?
            """).execute(arguments: [payout.status.rawValue, payout.reason, payout.bankReference, payout.sequence, payout.nextQueryAt,
                             payout.queries, payout.stuckReported, payout.batch])
    }

    /// Payouts still `sent` whose next query is due.
    static func payoutsToQuery(_ db: Database, now: String, limit: Int) throws -> [Payout] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM payout_batch WHERE payout_status = 'sent' AND next_query_at <= ? ORDER BY next_query_at LIMIT ?
            """), arguments: [now, limit]).map(payout(from:))
    }

    /// Payouts still `sent` since `before` or earlier, not reported stuck yet.
    static func stuckPayouts(_ db: Database, sentBefore before: String, limit: Int) throws -> [Payout] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM payout_batch WHERE payout_status = 'sent' AND stuck_reported = 0 AND sent_at <= ? ORDER BY sent_at LIMIT ?
            """), arguments: [before, limit]).map(payout(from:))
    }

    /// Puts items in a closed batch, or marks them seen by a held one.
    static func assign(_ db: Database, items: [Int64], batch: Int64, closed: Bool) throws {
        let statement = try db.cachedStatement(sql: closed ? "UPDATE payee_item SET batch_id = ? WHERE id = ?"
                                                           : "UPDATE payee_item SET held_in = ? WHERE id = ?")
        for id in items { try statement.execute(arguments: [batch, id]) }
    }

    // MARK: lines

    /// A booked payment: the terms it was priced with and what has happened to it since.
    struct Line {
        var payerID: String
        var paymentID: String
        var merchantID: String
        var orderID: String?
        var mode: String
        var method: String
        var currency: String
        var gross: Int64
        var reversed: Int64
        var repaid: Int64
        var settlementCurrency: String
        /// The account the gross was debited to, without its currency: `clearing:<method>` for
        /// prepaid, `receivable:<payer>` for post-paid and installments.
        var sourceAccount: String
        var pricing: SettlementPricing?
        var fx: FXSnapshot?
        var payoutCalendar: PayoutCalendar?
        var installmentFinancing: String?
        /// The sequence of the line's last event.
        var sequence: Int
        var sourceEventID: String
        var capturedAt: String
        var bookedAt: String
    }

    static func insert(_ db: Database, _ line: Line) throws {
        try db.cachedStatement(sql: """
            INSERT INTO settlement_line (payer_id, payment_id, merchant_id, order_id, mode, method, currency, gross, reversed, repaid,
                                         settlement_currency, source_account, pricing, fx, payout_calendar, installment_financing,
                                         sequence, source_event_id, captured_at, booked_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [line.payerID, line.paymentID, line.merchantID, line.orderID, line.mode, line.method, line.currency,
                             line.gross, line.reversed, line.repaid, line.settlementCurrency, line.sourceAccount,
                             try json(line.pricing) ?? "{}", try json(line.fx), try json(line.payoutCalendar),
                             line.installmentFinancing, line.sequence, line.sourceEventID, line.capturedAt, line.bookedAt])
    }

    static func update(_ db: Database, _ line: Line) throws {
        try db.cachedStatement(sql: """
            UPDATE settlement_line SET reversed = ?, repaid = ?, sequence = ? WHERE payer_id = ? AND payment_id = ?
            """).execute(arguments: [line.reversed, line.repaid, line.sequence, line.payerID, line.paymentID])
    }

    static func line(_ db: Database, payer: String, payment: String) throws -> Line? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM settlement_line WHERE payer_id = ? AND payment_id = ?"),
                                         arguments: [payer, payment]) else { return nil }
        return Line(payerID: row["payer_id"], paymentID: row["payment_id"], merchantID: row["merchant_id"], orderID: row["order_id"],
                    mode: row["mode"], method: row["method"], currency: row["currency"], gross: row["gross"], reversed: row["reversed"],
                    repaid: row["repaid"], settlementCurrency: row["settlement_currency"], sourceAccount: row["source_account"],
                    pricing: try decoded(SettlementPricing.self, row["pricing"]), fx: try decoded(FXSnapshot.self, row["fx"]),
                    payoutCalendar: try decoded(PayoutCalendar.self, row["payout_calendar"]),
                    installmentFinancing: row["installment_financing"], sequence: row["sequence"],
                    sourceEventID: row["source_event_id"], capturedAt: row["captured_at"], bookedAt: row["booked_at"])
    }

    // MARK: parts

    enum PartKind: String {
        case fee, commission, supplier, merchant
    }

    /// One part of a line's breakdown: booked in the payment's currency (`booked`) and in the
    /// currency it is owed in (`bookedSettled`: the settlement currency for suppliers and the
    /// merchant, the payment's for fee and commission), with what refunds reversed of each.
    struct Part {
        var position: Int
        var kind: PartKind
        var party: String
        /// The account it was credited to, with its currency (for the merchant: where its money
        /// ends up once available).
        var account: String
        var booked: Int64
        var reversed: Int64
        var settledCurrency: String
        var bookedSettled: Int64
        var reversedSettled: Int64
    }

    static func insert(_ db: Database, parts: [Part], payer: String, payment: String) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO settlement_part (payer_id, payment_id, position, kind, party, account, booked, reversed, settled_currency,
                                         booked_settled, reversed_settled)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for part in parts {
            try statement.execute(arguments: [payer, payment, part.position, part.kind.rawValue, part.party, part.account, part.booked,
                                              part.reversed, part.settledCurrency, part.bookedSettled, part.reversedSettled])
        }
    }

    static func update(_ db: Database, parts: [Part], payer: String, payment: String) throws {
        let statement = try db.cachedStatement(sql: """
            UPDATE settlement_part SET reversed = ?, reversed_settled = ? WHERE payer_id = ? AND payment_id = ? AND position = ?
            """)
        for part in parts {
            try statement.execute(arguments: [part.reversed, part.reversedSettled, payer, payment, part.position])
        }
    }

    static func parts(_ db: Database, payer: String, payment: String) throws -> [Part] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM settlement_part WHERE payer_id = ? AND payment_id = ? ORDER BY position"),
                         arguments: [payer, payment]).map { row in
            guard let kind = PartKind(rawValue: row["kind"]) else {
                throw DeadLetter(code: "corrupt_state", message: "settlement part of kind '\(row["kind"] as String)'")
            }
            return Part(position: row["position"], kind: kind, party: row["party"], account: row["account"], booked: row["booked"],
                        reversed: row["reversed"], settledCurrency: row["settled_currency"], bookedSettled: row["booked_settled"],
                        reversedSettled: row["reversed_settled"])
        }
    }

    // MARK: releases

    /// A payee's money on `<role>_pending` until its payout date.
    struct Release {
        var id: Int64
        var payerID: String
        var paymentID: String
        var merchantID: String
        var role: String
        var payee: String
        var currency: String
        var amount: Int64
        var reversed: Int64
        var availableOn: String
        var availableAt: String
        var status: String
    }

    static func addRelease(_ db: Database, payer: String, payment: String, merchant: String, role: String = "merchant", payee: String? = nil,
                           currency: String, amount: Int64, availableOn: LocalDate, availableAt: Date) throws {
        guard amount > 0 else { return }
        try db.cachedStatement(sql: """
            INSERT INTO settlement_release (payer_id, payment_id, merchant_id, role, payee, currency, amount, available_on, available_at, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
            """).execute(arguments: [payer, payment, merchant, role, payee ?? merchant, currency, amount, availableOn.description,
                             Wire.timestamp(availableAt)])
    }

    private static func release(from row: Row) -> Release {
        Release(id: row["id"], payerID: row["payer_id"], paymentID: row["payment_id"], merchantID: row["merchant_id"],
                role: row["role"], payee: row["payee"], currency: row["currency"], amount: row["amount"], reversed: row["reversed"], availableOn: row["available_on"],
                availableAt: row["available_at"], status: row["status"])
    }

    /// The line's releases to `role`/`payee` still pending, newest first (a refund takes from the newest).
    static func pendingReleases(_ db: Database, payer: String, payment: String, role: String, payee: String) throws -> [Release] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM settlement_release WHERE payer_id = ? AND payment_id = ? AND role = ? AND payee = ? AND status = 'pending'
            ORDER BY id DESC
            """), arguments: [payer, payment, role, payee]).map(release(from:))
    }

    static func dueReleases(_ db: Database, now: String, limit: Int) throws -> [Release] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM settlement_release WHERE status = 'pending' AND available_at <= ? ORDER BY available_at, id LIMIT ?
            """), arguments: [now, limit]).map(release(from:))
    }

    static func setRelease(_ db: Database, id: Int64, reversed: Int64, status: String) throws {
        try db.cachedStatement(sql: "UPDATE settlement_release SET reversed = ?, status = ? WHERE id = ?")
            .execute(arguments: [reversed, status, id])
    }

    // MARK: installments

    struct InstallmentRow {
        var number: Int
        var dueDate: String
        var dueAt: String
        var overdueAt: String
        var amount: Int64
        var paid: Int64
        var merchantShare: Int64
        var status: String

        var info: InstallmentInfo {
            InstallmentInfo(number: number, dueDate: dueDate, amount: amount, paid: paid, status: status,
                            merchantShare: merchantShare)
        }
    }

    static func insert(_ db: Database, installments: [InstallmentRow], payer: String, payment: String) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO installment (payer_id, payment_id, number, due_date, due_at, overdue_at, amount, paid, merchant_share, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for row in installments {
            try statement.execute(arguments: [payer, payment, row.number, row.dueDate, row.dueAt, row.overdueAt, row.amount, row.paid,
                                              row.merchantShare, row.status])
        }
    }

    static func installments(_ db: Database, payer: String, payment: String) throws -> [InstallmentRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM installment WHERE payer_id = ? AND payment_id = ? ORDER BY number"),
                         arguments: [payer, payment]).map(installment(from:))
    }

    static func update(_ db: Database, installment row: InstallmentRow, payer: String, payment: String) throws {
        try db.cachedStatement(sql: """
            UPDATE installment SET amount = ?, paid = ?, merchant_share = ?, status = ? WHERE payer_id = ? AND payment_id = ? AND number = ?
            """).execute(arguments: [row.amount, row.paid, row.merchantShare, row.status, payer, payment, row.number])
    }

    /// Installments whose due date has come (`scheduled`) or that are past their grace (`due`):
    /// (payer, payment, installment), oldest first.
    static func timedInstallments(_ db: Database, status: String, now: String, limit: Int) throws -> [(String, String, InstallmentRow)] {
        let column = status == "scheduled" ? "due_at" : "overdue_at"
        return try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM installment WHERE status = ? AND \(column) <= ? ORDER BY \(column), payer_id, payment_id, number LIMIT ?
            """), arguments: [status, now, limit]).map { ($0["payer_id"], $0["payment_id"], installment(from: $0)) }
    }

    private static func installment(from row: Row) -> InstallmentRow {
        InstallmentRow(number: row["number"], dueDate: row["due_date"], dueAt: row["due_at"], overdueAt: row["overdue_at"],
                       amount: row["amount"], paid: row["paid"], merchantShare: row["merchant_share"], status: row["status"])
    }

    // MARK: JSON columns

    private static func json<T: Encodable>(_ value: T?) throws -> String? {
        guard let value else { return nil }
        return String(decoding: try Wire.encode(value), as: UTF8.self)
    }

    private static func decoded<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
        guard let text, text != "{}" else { return nil }
        return try Wire.decodePlain(T.self, from: Data(text.utf8))
    }
}
