import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime

/// Payees' money on its way out: releases pending their payout date, payee lines, batches and payouts.
extension SettlementTables {
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
        try db.hotStatement("""
            INSERT INTO payee_item (role, payee, merchant_id, currency, kind, amount, payer_id, payment_id, reference, available_on, available_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [item.role, item.payee, item.merchantID, item.currency, item.kind, item.amount, item.payerID,
                             item.paymentID, item.reference, item.availableOn, item.availableAt])
    }

    /// Payee groups (merchant, role, payee, currency) with an item available by `now` that no
    /// batch has seen yet, held or closed.
    static func groupsToBatch(_ db: Database, now: String, limit: Int) throws -> [(merchant: String, role: String, payee: String, currency: String)] {
        try Row.fetchAll(db.hotStatement("""
            SELECT DISTINCT merchant_id, role, payee, currency FROM payee_item
            WHERE batch_id IS NULL AND held_in IS NULL AND available_at <= ? ORDER BY merchant_id, role, payee, currency LIMIT ?
            """), arguments: [now, limit]).map { ($0["merchant_id"], $0["role"], $0["payee"], $0["currency"]) }
    }

    /// The group's items in no closed batch and available by `now`, oldest first.
    static func openItems(_ db: Database, merchant: String, role: String, payee: String, currency: String, now: String) throws -> [PayeeItem] {
        try Row.fetchAll(db.hotStatement("""
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
        try db.hotStatement("""
            INSERT INTO payout_batch (role, payee, merchant_id, currency, payout_date, amount, status, reason, sequence, closed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
            """).execute(arguments: [role, payee, merchant, currency, payoutDate, amount, status, reason, closedAt])
        return db.lastInsertedRowID
    }

    static func setPayout(_ db: Database, batch: Int64, payoutID: String, sentAt: String, nextQueryAt: String) throws {
        try db.hotStatement("""
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
        try Row.fetchOne(db.hotStatement("SELECT * FROM payout_batch WHERE payout_id = ?"), arguments: [id]).map(payout(from:))
    }

    static func update(_ db: Database, payout: Payout) throws {
        try db.hotStatement("""
            UPDATE payout_batch SET payout_status = ?, payout_reason = ?, bank_reference = ?, sequence = ?, next_query_at = ?, queries = ?,
                stuck_reported = ? WHERE id = ?
            """).execute(arguments: [payout.status.rawValue, payout.reason, payout.bankReference, payout.sequence, payout.nextQueryAt,
                             payout.queries, payout.stuckReported, payout.batch])
    }

    /// Payouts still `sent` whose next query is due.
    static func payoutsToQuery(_ db: Database, now: String, limit: Int) throws -> [Payout] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM payout_batch WHERE payout_status = 'sent' AND next_query_at <= ? ORDER BY next_query_at LIMIT ?
            """), arguments: [now, limit]).map(payout(from:))
    }

    /// Payouts still `sent` since `before` or earlier, not reported stuck yet.
    static func stuckPayouts(_ db: Database, sentBefore before: String, limit: Int) throws -> [Payout] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM payout_batch WHERE payout_status = 'sent' AND stuck_reported = 0 AND sent_at <= ? ORDER BY sent_at LIMIT ?
            """), arguments: [before, limit]).map(payout(from:))
    }

    /// Puts items in a closed batch, or marks them seen by a held one.
    static func assign(_ db: Database, items: [Int64], batch: Int64, closed: Bool) throws {
        let statement = try db.cachedStatement(sql: closed ? "UPDATE payee_item SET batch_id = ? WHERE id = ?"
                                                           : "UPDATE payee_item SET held_in = ? WHERE id = ?")
        for id in items { try statement.execute(arguments: [batch, id]) }
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
        try db.hotStatement("""
            INSERT INTO settlement_release (payer_id, payment_id, merchant_id, role, payee, currency, amount, available_on, available_at, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')
            """).run { row in
                row.text(payer)
                row.text(payment)
                row.text(merchant)
                row.text(role)
                row.text(payee ?? merchant)
                row.text(currency)
                row.int(amount)
                row.text(availableOn.description)
                row.text(Wire.timestamp(availableAt))
            }
    }

    private static func release(from row: Row) -> Release {
        Release(id: row["id"], payerID: row["payer_id"], paymentID: row["payment_id"], merchantID: row["merchant_id"],
                role: row["role"], payee: row["payee"], currency: row["currency"], amount: row["amount"], reversed: row["reversed"], availableOn: row["available_on"],
                availableAt: row["available_at"], status: row["status"])
    }

    /// The line's releases to `role`/`payee` still pending, newest first (a refund takes from the newest).
    static func pendingReleases(_ db: Database, payer: String, payment: String, role: String, payee: String) throws -> [Release] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM settlement_release WHERE payer_id = ? AND payment_id = ? AND role = ? AND payee = ? AND status = 'pending'
            ORDER BY id DESC
            """), arguments: [payer, payment, role, payee]).map(release(from:))
    }

    static func dueReleases(_ db: Database, now: String, limit: Int) throws -> [Release] {
        try Row.fetchAll(db.hotStatement("""
            SELECT * FROM settlement_release WHERE status = 'pending' AND available_at <= ? ORDER BY available_at, id LIMIT ?
            """), arguments: [now, limit]).map(release(from:))
    }

    static func setRelease(_ db: Database, id: Int64, reversed: Int64, status: String) throws {
        try db.hotStatement("UPDATE settlement_release SET reversed = ?, status = ? WHERE id = ?")
            .execute(arguments: [reversed, status, id])
    }
}
