import Foundation
import GRDB
import PaystreamRuntime

/// A payment's refunds: their rows and statuses.
extension PaymentTables {
    /// Where a refund stands (the `status` column; its CHECK names the same three).
    public enum RefundStatus: String, Sendable, CaseIterable {
        /// Sent to the channel, no answer yet (a channel-funded payment's refund).
        case requested
        /// Done: the channel gave the money back, or the wallet or credit line was credited at once.
        case completed
        /// The channel refused it: the money is owed to the payer (`refunds_owed`, or `late_capture`).
        case failed
    }

    public struct RefundRecord: Sendable, Equatable {
        public let refundID: String
        public let paymentID: String
        public let amount: Int64
        public let currency: String
        public var status: RefundStatus
        public var reason: String?
        public var channelReference: String?
    }

    static func insertRefund(_ db: Database, _ r: RefundRecord, now: String) throws {
        try db.hotStatement("""
            INSERT INTO refund (refund_id, payment_id, amount, currency, status, reason, channel_reference, requested_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [r.refundID, r.paymentID, r.amount, r.currency, r.status.rawValue, r.reason, r.channelReference, now, now])
    }

    static func updateRefund(_ db: Database, _ r: RefundRecord, now: String) throws {
        try db.hotStatement("UPDATE refund SET status = ?, reason = ?, channel_reference = ?, updated_at = ? WHERE refund_id = ?").execute(arguments: [r.status.rawValue, r.reason, r.channelReference, now, r.refundID])
    }

    public static func refunds(_ db: Database, paymentID: String? = nil) throws -> [RefundRecord] {
        let rows = try paymentID.map {
            try Row.fetchAll(db.hotStatement("SELECT * FROM refund WHERE payment_id = ? ORDER BY requested_at, refund_id"), arguments: [$0])
        } ?? Row.fetchAll(db.hotStatement("SELECT * FROM refund ORDER BY requested_at, refund_id"))
        return try rows.map(refund(from:))
    }

    static func refund(_ db: Database, id: String) throws -> RefundRecord? {
        try Row.fetchOne(db.hotStatement("SELECT * FROM refund WHERE refund_id = ?"), arguments: [id]).map(refund(from:))
    }

    private static func refund(from row: Row) throws -> RefundRecord {
        let id: String = row["refund_id"]
        guard let status = RefundStatus(rawValue: row["status"]) else {
            throw DeadLetter(code: "corrupt_state", message: "refund \(id) has an unknown status '\(row["status"] as String? ?? "null")'")
        }
        return RefundRecord(refundID: id, paymentID: row["payment_id"], amount: row["amount"], currency: row["currency"],
                            status: status, reason: row["reason"], channelReference: row["channel_reference"])
    }
}
