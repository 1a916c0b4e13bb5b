import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// The payment stage's tables and the statements on them (all inside the batch transaction):
/// here the schema, repayments, the request log, daily totals, the consistency check and the JSON
/// columns; the payment rows in PaymentTables+Payments.swift, refunds in PaymentTables+Refunds.swift.
public enum PaymentTables {
    public static let schema = StageSchema([
        ("payment-v1", { db in
            try db.execute(sql: """
                CREATE TABLE payment (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    request_id TEXT NOT NULL,
                    order_id TEXT,
                    payer_id TEXT NOT NULL,
                    merchant_id TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    method TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    settlement_mode TEXT NOT NULL,
                    installments INTEGER,
                    splits TEXT NOT NULL,
                    settlement_currency TEXT,
                    metadata TEXT,
                    status TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    channel_reference TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX payment_payer ON payment(payer_id);
                CREATE TABLE request_log (
                    request_id TEXT PRIMARY KEY NOT NULL,
                    fingerprint TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    received_at TEXT NOT NULL
                );
                """)
        }),
        ("payment-v2-daily-totals", { db in
            // Accepted payments per payer, currency and UTC day, for the daily risk limits.
            try db.execute(sql: """
                CREATE TABLE payer_daily_total (
                    payer_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    day TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (payer_id, currency, day)
                );
                """)
        }),
        ("payment-v3-lifecycle", { db in
            // Request types, funding, the amounts the state machine tracks, expiry timers,
            // refunds, the events that answered each request, and the payer-side ledger.
            try db.execute(sql: """
                ALTER TABLE payment ADD COLUMN type TEXT NOT NULL DEFAULT 'payment';
                ALTER TABLE payment ADD COLUMN funding TEXT NOT NULL DEFAULT 'channel';
                ALTER TABLE payment ADD COLUMN captured INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE payment ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE payment ADD COLUMN late_capture_amount INTEGER;
                ALTER TABLE payment ADD COLUMN late_capture_currency TEXT;
                ALTER TABLE payment ADD COLUMN captured_at TEXT;
                ALTER TABLE payment ADD COLUMN queried_at TEXT;
                ALTER TABLE payment ADD COLUMN next_check_at TEXT;
                UPDATE payment SET captured = amount, captured_at = updated_at WHERE status = 'captured';
                CREATE INDEX payment_next_check ON payment(next_check_at) WHERE next_check_at IS NOT NULL;
                ALTER TABLE request_log ADD COLUMN event_ids TEXT;
                CREATE INDEX request_log_received ON request_log(received_at);
                CREATE TABLE refund (
                    refund_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL REFERENCES payment(payment_id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('requested', 'completed', 'failed')),
                    reason TEXT,
                    channel_reference TEXT,
                    requested_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX refund_payment ON refund(payment_id);
                """)
            try LedgerTables.create(db)
        }),
        // FX bookings: the conversions' rate snapshots and the rounding carry (LedgerTables).
        ("payment-v4-fx", { db in try LedgerTables.createFX(db) }),
        ("payment-v5-ledger-hold-check", { db in try LedgerTables.rebuildHoldCheck(db) }),
        // Repayments handed to settlement: the payment a repayment names, and how each captured
        // repayment was shared among the post-paid and installment payments it paid back.
        ("payment-v6-repayments", { db in
            try db.execute(sql: """
                CREATE TABLE repayment_target (
                    repayment_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL
                );
                CREATE TABLE repayment_allocation (
                    repayment_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    PRIMARY KEY (repayment_id, payment_id)
                );
                CREATE INDEX repayment_allocation_payment ON repayment_allocation(payment_id);
                """)
        }),
        // The payer's locale for notifications, carried on the payment's events.
        ("payment-v7-locale", { db in try db.execute(sql: "ALTER TABLE payment ADD COLUMN locale TEXT") }),
        // Ledger entries get a primary key, so that the shard's changelog carries them.
        ("payment-v8-ledger-entry-key", { db in try db.execute(sql: LedgerTables.keyEntriesSQL) }),
        // The request log is pruned in the order it was written (as the inbox is), so its time
        // index goes: one b-tree insert less per request.
        ("payment-v9-request-log-prune-in-order", { db in try db.execute(sql: "DROP INDEX request_log_received") }),
    ])

    static func setRepaymentTarget(_ db: Database, repaymentID: String, paymentID: String) throws {
        try db.hotStatement("INSERT INTO repayment_target (repayment_id, payment_id) VALUES (?, ?)")
            .execute(arguments: [repaymentID, paymentID])
    }

    static func repaymentTarget(_ db: Database, repaymentID: String) throws -> String? {
        try String.fetchOne(db.hotStatement("SELECT payment_id FROM repayment_target WHERE repayment_id = ?"),
                            arguments: [repaymentID])
    }

    static func allocateRepayment(_ db: Database, repaymentID: String, paymentID: String, amount: Int64) throws {
        try db.hotStatement("INSERT INTO repayment_allocation (repayment_id, payment_id, amount) VALUES (?, ?, ?)")
            .execute(arguments: [repaymentID, paymentID, amount])
    }

    struct LoggedRequest {
        let fingerprint: String
        let paymentID: String
        let status: String
        let eventIDs: [String]?
    }

    static func requestLog(_ db: Database, requestID: String) throws -> LoggedRequest? {
        try db.hotStatement("SELECT fingerprint, payment_id, status, event_ids FROM request_log WHERE request_id = ?")
            .fetchFirst(binding: { $0.text(requestID) }) { row in
                LoggedRequest(fingerprint: row.string(0), paymentID: row.string(1), status: row.string(2),
                              eventIDs: try row.optionalString(3).map { try Wire.decodePlain([String].self, from: Data($0.utf8)) })
            }
    }

    /// The events that answer a request again: for the request that made a payment, every
    /// event of that payment so far (the order system learns where it stands); for a rejection,
    /// refund or cancel, the events logged with it.
    static func eventIDs(_ db: Database, answering requestID: String, _ logged: LoggedRequest) throws -> [String] {
        if logged.status != PaymentStatus.rejected.rawValue, let payment = try payment(db, id: logged.paymentID),
           payment.requestID == requestID {
            return (1...max(payment.sequence, 1)).map { MessageID.paymentEvent(payer: payment.payerID, payment: payment.paymentID, sequence: $0) }
        }
        if let ids = logged.eventIDs { return ids }
        // Logged before rejections stored their event ids: the id of that time.
        return logged.status == PaymentStatus.rejected.rawValue ? ["rj:\(requestID)"] : []
    }

    static func dailyTotals(_ db: Database, payerID: String, currency: Currency, day: String) throws -> RequestRules.DailyTotals {
        try db.hotStatement("""
            SELECT amount, count FROM payer_daily_total WHERE payer_id = ? AND currency = ? AND day = ?
            """).fetchFirst(binding: { row in
                row.text(payerID)
                row.text(currency.code)
                row.text(day)
            }) { row in
                RequestRules.DailyTotals(amount: Money(minorUnits: row.int64(0), currency: currency), count: row.int(1))
            } ?? .none(currency)
    }

    static func addToDailyTotals(_ db: Database, payerID: String, amount: Money, day: String) throws {
        // The limits were checked against these totals just before, so the sum cannot overflow
        // past the configured daily amount.
        try db.hotStatement("""
            INSERT INTO payer_daily_total (payer_id, currency, day, amount, count) VALUES (?, ?, ?, ?, 1)
            ON CONFLICT(payer_id, currency, day) DO UPDATE SET amount = amount + excluded.amount, count = count + 1
            """).run { row in
                row.text(payerID)
                row.text(amount.currency.code)
                row.text(day)
                row.int(amount.minorUnits)
            }
    }

    /// Remembers how a request was answered, for its retries.
    static func logRequest(_ db: Database, requestID: String, fingerprint: String, paymentID: String,
                           status: String, eventIDs: [String], now: String) throws {
        let eventIDs = eventIDsColumn(eventIDs)
        try db.hotStatement("""
            INSERT INTO request_log (request_id, fingerprint, payment_id, status, received_at, event_ids) VALUES (?, ?, ?, ?, ?, ?)
            """).run { row in
                row.text(requestID)
                row.text(fingerprint)
                row.text(paymentID)
                row.text(status)
                row.text(now)
                row.text(eventIDs)
            }
    }

    /// Forgets requests received before `cutoff`, oldest first in the order they were logged, up
    /// to the first one received at or after it (a clock that went back keeps the requests after
    /// it a little longer, as `RuntimeTables.pruneInbox` does); returns how many.
    static func pruneRequestLog(_ db: Database, before cutoff: String) throws -> Int {
        guard let through = try RuntimeTables.oldestEnd(db.hotStatement("SELECT rowid, received_at < ? FROM request_log ORDER BY rowid"),
                                                        arguments: [cutoff], limit: .max) else { return 0 }
        try db.hotStatement("DELETE FROM request_log WHERE rowid <= ?").execute(arguments: [through])
        return db.changesCount
    }

    /// Where payments and the ledger disagree, one line each; empty when every payment's hold
    /// matches its status (authorized: pending; captured or refunded: posted for the captured
    /// amount; failed, cancelled, conflicted: voided; expired: expired), every refunded total is
    /// the sum of its refunds, and the ledger's own invariants hold.
    public static func consistencyProblems(_ db: Database) throws -> [String] {
        let ledger = try LedgerTables.loadAll(db)
        var problems = ledger.checkInvariants().map { "ledger: \($0)" }
        for payment in try payments(db) {
            let hold = ledger.holds[payment.holdID]
            let expected: String
            switch payment.status {
            case .authorized: expected = "pending"
            case .captured, .partiallyRefunded, .refunded: expected = "posted \(payment.captured)"
            case .failed, .cancelled, .conflicted: expected = "voided"
            case .expired: expected = "expired"
            case .rejected: expected = "none"
            }
            let found: String
            switch hold?.resolution {
            case nil where hold == nil: found = "none"
            case nil: found = "pending"
            case .posted(let amount, _)?: found = "posted \(amount.minorUnits)"
            case .voided?: found = "voided"
            case .expired?: found = "expired"
            }
            if expected != found {
                problems.append("payment \(payment.paymentID) is \(payment.status.rawValue) but its hold is \(found), expected \(expected)")
            }
            // The automatic refund of a late capture is not a refund of the payment.
            let refunds = try Self.refunds(db, paymentID: payment.paymentID)
                .filter { $0.refundID != PaymentRecord.lateCaptureRefundID(payment.paymentID) }
            let refunded = refunds.reduce(Int64(0)) { $0 + $1.amount }
            if refunded != payment.refunded {
                problems.append("payment \(payment.paymentID) has refunded \(payment.refunded) but its refunds sum to \(refunded)")
            }
            do { _ = try payment.state() } catch { problems.append("payment \(payment.paymentID): \(error)") }
        }
        return problems
    }

    /// A JSON column's text: sorted keys, keys as they are (metadata keeps the upstream's own
    /// spelling); the bytes `JSONEncoder.sortedKeys` writes.
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try Wire.encodePlain(value), as: UTF8.self)
    }

    /// The splits column, as `json` writes it, written by the splits themselves (through
    /// `Encodable` it cost ~6 k instructions a payment).
    static func splitsColumn(_ splits: [Split]) throws -> String { try Wire.encodeArray(splits) }

    /// The request log's event ids, as `json` writes them, without `Encodable` (~14 k a request).
    static func eventIDsColumn(_ ids: [String]) -> String { Wire.encodeStrings(ids) }

    /// A payment's splits column: `party_id` as written now, or `partyId` as shards wrote it once.
    static func storedSplits(_ text: String) throws -> [Split] {
        if let splits = try? Wire.decodePlain([Split].self, from: Data(text.utf8)) { return splits }
        return try Wire.decodePlain([StoredSplit].self, from: Data(text.utf8)).map { Split(partyId: $0.partyId, amount: $0.amount) }
    }

    /// A split as an older shard spelled it.
    private struct StoredSplit: Decodable {
        let partyId: String
        let amount: Int64
    }
}
