import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime
import PaystreamStore

/// The payment table: a payment's row written and read, the shard's memory of it, and the
/// queries over payments (credit outstanding, the expiry timer, pending repayments).
extension PaymentTables {
    /// A credit-funded payment and what the payer still owes on it.
    struct Outstanding {
        let payment: PaymentRecord
        let outstanding: Int64
    }

    /// The payer's post-paid and installment payments in `currency` with something left to
    /// repay, oldest capture first (or just `only`, if given and outstanding).
    static func outstandingCredit(_ db: Database, payerID: String, currency: String, only: String? = nil) throws -> [Outstanding] {
        var found: [Outstanding] = []
        try db.cachedStatement(sql: """
            SELECT \(paymentColumns), p.captured - p.refunded
                   - coalesce((SELECT sum(a.amount) FROM repayment_allocation a WHERE a.payment_id = p.payment_id), 0) AS outstanding
            FROM payment p
            WHERE p.payer_id = ? AND p.currency = ? AND p.type = 'payment' AND p.funding = 'credit' AND p.captured > 0
                  AND (? IS NULL OR p.payment_id = ?)
            ORDER BY p.captured_at, p.rowid
            """).forEachRow(binding: { row in
                row.text(payerID)
                row.text(currency)
                row.text(only)
                row.text(only)
            }) { row in
            let outstanding = row.int64(paymentColumnCount)
            if outstanding > 0 { found.append(Outstanding(payment: try record(from: row), outstanding: outstanding)) }
        }
        return found
    }

    static func insert(_ db: Database, _ p: PaymentRecord) throws {
        let splits = try splitsColumn(p.splits), metadata = try p.metadata.map(json)
        try db.hotStatement("""
            INSERT INTO payment (payment_id, request_id, order_id, payer_id, merchant_id, amount, currency, method, channel,
                settlement_mode, installments, splits, settlement_currency, metadata, status, sequence, channel_reference,
                created_at, updated_at, type, funding, captured, refunded, late_capture_amount, late_capture_currency,
                captured_at, queried_at, next_check_at, locale)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run { row in
                row.text(p.paymentID)
                row.text(p.requestID)
                row.text(p.orderID)
                row.text(p.payerID)
                row.text(p.merchantID ?? "")
                row.int(p.amount)
                row.text(p.currency)
                row.text(p.method)
                row.text(p.channel)
                row.text(p.settlementMode)
                row.int(p.installments)
                row.text(splits)
                row.text(p.settlementCurrency)
                row.text(metadata)
                row.text(p.status.rawValue)
                row.int(p.sequence)
                row.text(p.channelReference)
                row.text(p.createdAt)
                row.text(p.updatedAt)
                row.text(p.type.rawValue)
                row.text(p.funding.rawValue)
                row.int(p.captured)
                row.int(p.refunded)
                row.int(p.lateCapture?.minorUnits)
                row.text(p.lateCapture?.currencyCode)
                row.text(p.capturedAt)
                row.text(p.queriedAt)
                row.text(p.nextCheckAt)
                row.text(p.locale)
            }
        if let memory = ShardMemory.of(db) { memory.remember(paymentRows, p.paymentID, try asStored(p, metadata: metadata)) }
    }

    static func update(_ db: Database, _ p: PaymentRecord) throws {
        try db.hotStatement("""
            UPDATE payment SET status = ?, sequence = ?, channel_reference = ?, updated_at = ?, captured = ?, refunded = ?,
                late_capture_amount = ?, late_capture_currency = ?, captured_at = ?, queried_at = ?, next_check_at = ?
            WHERE payment_id = ?
            """).run { row in
                row.text(p.status.rawValue)
                row.int(p.sequence)
                row.text(p.channelReference)
                row.text(p.updatedAt)
                row.int(p.captured)
                row.int(p.refunded)
                row.int(p.lateCapture?.minorUnits)
                row.text(p.lateCapture?.currencyCode)
                row.text(p.capturedAt)
                row.text(p.queriedAt)
                row.text(p.nextCheckAt)
                row.text(p.paymentID)
            }
        // The remembered row gets what the statement set, nothing else.
        ShardMemory.of(db)?.update(paymentRows, p.paymentID) { stored in
            var row = stored
            setUpdatedColumns(of: &row, from: p)
            return row
        }
    }

    /// The columns `update` writes, from `p` as SQLite keeps them (text up to its first NUL).
    private static func setUpdatedColumns(of row: inout PaymentRecord, from p: PaymentRecord) {
        let s = ColumnBinder.stored
        row.status = p.status
        row.sequence = p.sequence
        row.channelReference = p.channelReference.map(s)
        row.updatedAt = s(p.updatedAt)
        row.captured = p.captured
        row.refunded = p.refunded
        row.lateCapture = p.lateCapture.map { .init(minorUnits: $0.minorUnits, currencyCode: s($0.currencyCode)) }
        row.capturedAt = p.capturedAt.map(s)
        row.queriedAt = p.queriedAt.map(s)
        row.nextCheckAt = p.nextCheckAt.map(s)
    }

    /// `p` as a read of the row `insert` wrote gives it back: text up to its first NUL (what
    /// SQLite keeps of it), no merchant for an empty one, the metadata as its stored JSON decodes
    /// (a whole number written as 2.0 reads back as 2). The splits' JSON keeps them exactly.
    private static func asStored(_ p: PaymentRecord, metadata: String?) throws -> PaymentRecord {
        let s = ColumnBinder.stored
        var row = p
        row.paymentID = s(p.paymentID)
        row.requestID = s(p.requestID)
        row.orderID = p.orderID.map(s)
        row.payerID = s(p.payerID)
        let merchant = s(p.merchantID ?? "")
        row.merchantID = merchant.isEmpty ? nil : merchant
        row.currency = s(p.currency)
        row.method = s(p.method)
        row.channel = s(p.channel)
        row.settlementMode = s(p.settlementMode)
        row.settlementCurrency = p.settlementCurrency.map(s)
        row.metadata = try metadata.map { try Wire.decodePlain(JSONValue.self, from: Data($0.utf8)) }
        row.locale = p.locale.map(s)
        row.createdAt = s(p.createdAt)
        setUpdatedColumns(of: &row, from: p)
        return row
    }

    /// The payment `id`, from the shard's memory when it has the row (one written or read in an
    /// earlier transaction).
    public static func payment(_ db: Database, id: String) throws -> PaymentRecord? {
        let memory = ShardMemory.of(db)
        if let remembered = memory?.row(paymentRows, id) { return remembered }
        let payment = try db.cachedStatement(sql: paymentByID).fetchFirst(binding: { $0.text(id) }, record(from:))
        // A payment id not found is not remembered: the one decision that asks for a new id
        // inserts it next, which remembers it.
        if let payment { memory?.remember(paymentRows, id, payment) }
        return payment
    }

    /// The payment rows in a shard's memory (`ShardMemory`; the ledger's tables are 1–3), by
    /// id. Every write to the payment table is one of the methods here, which keep the memory.
    /// The request log and the daily totals are not remembered: a request's look-up of its own
    /// id finds nothing but for a retry, and a payer's daily total is found again only when the
    /// payer pays twice before the memory is emptied; remembering either cost more instructions
    /// than the reads it saved (docs/architecture.md, the shard's memory). At most 20,000
    /// payments a shard (about a kilobyte each): the answers to a payment come within seconds
    /// to minutes of it, and a shard taking 200 payments a second fills that in 100 seconds.
    static let paymentRows = ShardMemory.Table<PaymentRecord>(4, limit: 20_000)

    public static func payments(_ db: Database) throws -> [PaymentRecord] {
        var all: [PaymentRecord] = []
        try db.cachedStatement(sql: "SELECT \(paymentColumns) FROM payment ORDER BY created_at, payment_id").forEachRow {
            all.append(try record(from: $0))
        }
        return all
    }

    /// The payments whose expiry timer is due at `now`, oldest first.
    static func dueForCheck(_ db: Database, now: String, limit: Int) throws -> [String] {
        try String.fetchAll(db.hotStatement("""
            SELECT payment_id FROM payment WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?
            """), arguments: [now, limit])
    }

    /// Takes a payment off the expiry timer.
    static func stopChecking(_ db: Database, paymentID: String) throws {
        try db.hotStatement("UPDATE payment SET next_check_at = NULL WHERE payment_id = ?").execute(arguments: [paymentID])
        ShardMemory.of(db)?.update(paymentRows, paymentID) { stored in
            var row = stored
            row.nextCheckAt = nil
            return row
        }
    }

    /// The payer's repayments authorized but not yet captured, in `currency`.
    static func pendingRepayments(_ db: Database, payerID: String, currency: String) throws -> Int64 {
        try Int64.fetchOne(db.hotStatement("""
            SELECT coalesce(sum(amount), 0) FROM payment
            WHERE payer_id = ? AND currency = ? AND type = 'repayment' AND status = 'authorized'
            """), arguments: [payerID, currency]) ?? 0
    }

    /// The columns `record(from:)` reads, in its order (read by position, not by name).
    private static let paymentColumnNames = [
        "payment_id", "request_id", "order_id", "payer_id", "merchant_id", "amount", "currency", "method", "channel",
        "settlement_mode", "installments", "splits", "settlement_currency", "metadata", "status", "sequence", "channel_reference",
        "created_at", "updated_at", "type", "funding", "captured", "refunded", "late_capture_amount", "late_capture_currency",
        "captured_at", "queried_at", "next_check_at", "locale",
    ]
    private static let paymentColumns = paymentColumnNames.joined(separator: ", ")
    private static let paymentColumnCount = Int32(paymentColumnNames.count)
    /// Built once: the statement cache finds a statement by its text.
    private static let paymentByID = "SELECT \(paymentColumns) FROM payment WHERE payment_id = ?"

    private static func record(from row: ColumnReader) throws -> PaymentRecord {
        let id = row.string(0)
        // A value no version of this stage writes: refuse to guess (a wrong funding would book to
        // the wrong account); the input that needed the row is parked.
        func corrupt(_ column: Int32) -> DeadLetter {
            DeadLetter(code: "corrupt_state", message: "payment \(id) has an unknown \(paymentColumnNames[Int(column)]) "
                       + "'\(row.optionalString(column) ?? "null")'")
        }
        guard let type = PaymentRequestType(rawValue: row.string(19)) else { throw corrupt(19) }
        guard let funding = Funding(rawValue: row.string(20)) else { throw corrupt(20) }
        guard let status = PaymentStatus(rawValue: row.string(14)) else { throw corrupt(14) }
        let merchant = row.string(4)
        let lateCurrency = row.optionalString(24)
        var record = PaymentRecord(
            paymentID: id, type: type,
            requestID: row.string(1), orderID: row.optionalString(2), payerID: row.string(3),
            merchantID: merchant.isEmpty ? nil : merchant, amount: row.int64(5), currency: row.string(6),
            method: row.string(7), channel: row.string(8), settlementMode: row.string(9),
            installments: row.optionalInt(10), splits: try storedSplits(row.string(11)),
            settlementCurrency: row.optionalString(12),
            metadata: try row.optionalString(13).map { try Wire.decodePlain(JSONValue.self, from: Data($0.utf8)) },
            funding: funding, status: status, sequence: row.int(15),
            captured: row.int64(21), refunded: row.int64(22),
            lateCapture: row.optionalInt64(23).map { PaymentState.ReportedAmount(minorUnits: $0, currencyCode: lateCurrency ?? "") },
            channelReference: row.optionalString(16), createdAt: row.string(17), updatedAt: row.string(18),
            capturedAt: row.optionalString(25), queriedAt: row.optionalString(26), nextCheckAt: row.optionalString(27))
        record.locale = row.optionalString(28)
        return record
    }
}
