import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamStore

/// The reconciler's tables, per shard: what the payment stage recorded of each payment (its
/// capture, status and refunds), the statement lines loaded for it, the current result of each
/// item, and when a payment's pending items are next due for a decision.
public enum ReconciliationTables {
    public static let schema = StageSchema([
        ("reconciliation-v1", { db in
            try db.execute(sql: """
                CREATE TABLE recon_payment (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    payer_id TEXT,
                    merchant_id TEXT,
                    method TEXT,
                    channel_reference TEXT,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL,
                    sequence INTEGER NOT NULL,
                    at TEXT NOT NULL
                );
                CREATE TABLE recon_refund (
                    movement_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    at TEXT NOT NULL
                );
                CREATE INDEX recon_refund_payment ON recon_refund(payment_id);
                CREATE TABLE recon_line (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    line_id TEXT NOT NULL,
                    payment_id TEXT NOT NULL,
                    body TEXT NOT NULL,
                    loaded_at TEXT NOT NULL,
                    UNIQUE (line_id, body)
                );
                CREATE INDEX recon_line_payment ON recon_line(payment_id);
                CREATE TABLE recon_item (
                    item_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL,
                    state TEXT NOT NULL,
                    day TEXT NOT NULL,
                    revision INTEGER NOT NULL,
                    signature TEXT NOT NULL,
                    result TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX recon_item_payment ON recon_item(payment_id);
                CREATE INDEX recon_item_day ON recon_item(day, state);
                CREATE TABLE recon_due (
                    payment_id TEXT PRIMARY KEY NOT NULL,
                    due_at TEXT NOT NULL
                );
                CREATE INDEX recon_due_at ON recon_due(due_at);
                """)
        }),
    ])

    /// An item's result as stored: `replaced` when a later decision paired its line with a
    /// movement (the movement's result names the line).
    public static let replaced = "replaced"

    struct PaymentRow {
        var paymentId: String
        var payerId: String?
        var merchantId: String?
        var method: String?
        /// The channel's transaction id; nil for money that never went through a channel
        /// (wallet payments, post-paid and installment payments funded by a credit line).
        var channelReference: String?
        var amount: Int64
        var currency: String
        var status: String
        var sequence: Int
        var at: String
    }

    static func payment(_ db: Database, _ id: String) throws -> PaymentRow? {
        try Row.fetchOne(db, sql: "SELECT * FROM recon_payment WHERE payment_id = ?", arguments: [id]).map { row in
            PaymentRow(paymentId: row["payment_id"], payerId: row["payer_id"], merchantId: row["merchant_id"], method: row["method"],
                       channelReference: row["channel_reference"], amount: row["amount"], currency: row["currency"], status: row["status"], sequence: row["sequence"], at: row["at"])
        }
    }

    static func save(_ db: Database, _ payment: PaymentRow) throws {
        try db.execute(sql: """
            INSERT INTO recon_payment (payment_id, payer_id, merchant_id, method, channel_reference, amount, currency, status, sequence, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (payment_id) DO UPDATE SET payer_id = excluded.payer_id, merchant_id = excluded.merchant_id,
                method = excluded.method, channel_reference = excluded.channel_reference, amount = excluded.amount, currency = excluded.currency, status = excluded.status,
                sequence = excluded.sequence, at = excluded.at
            """, arguments: [payment.paymentId, payment.payerId, payment.merchantId, payment.method, payment.channelReference, payment.amount, payment.currency,
                             payment.status, payment.sequence, payment.at])
    }

    /// Adds a refund; false if it was there already.
    static func addRefund(_ db: Database, movementId: String, paymentId: String, amount: Int64, currency: String, at: String) throws -> Bool {
        try db.execute(sql: "INSERT OR IGNORE INTO recon_refund (movement_id, payment_id, amount, currency, at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [movementId, paymentId, amount, currency, at])
        return db.changesCount > 0
    }

    static func refunds(_ db: Database, paymentId: String) throws -> [(id: String, amount: Int64, currency: String, at: String)] {
        try Row.fetchAll(db, sql: "SELECT * FROM recon_refund WHERE payment_id = ? ORDER BY rowid", arguments: [paymentId]).map {
            ($0["movement_id"], $0["amount"], $0["currency"], $0["at"])
        }
    }

    /// Adds a statement line; false if the same line (id and content) was loaded before.
    static func addLine(_ db: Database, _ line: StatementLine, at: String) throws -> Bool {
        let body = String(decoding: try Wire.encode(line), as: UTF8.self)
        try db.execute(sql: "INSERT OR IGNORE INTO recon_line (line_id, payment_id, body, loaded_at) VALUES (?, ?, ?, ?)",
                       arguments: [line.lineId, line.paymentId, body, at])
        return db.changesCount > 0
    }

    static func lines(_ db: Database, paymentId: String) throws -> [StatementLine] {
        try String.fetchAll(db, sql: "SELECT body FROM recon_line WHERE payment_id = ? ORDER BY id", arguments: [paymentId]).map {
            try Wire.decode(StatementLine.self, from: Data($0.utf8))
        }
    }

    struct ItemRow {
        var state: String
        var revision: Int
        var signature: String
    }

    static func items(_ db: Database, paymentId: String) throws -> [String: ItemRow] {
        var items: [String: ItemRow] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT item_id, state, revision, signature FROM recon_item WHERE payment_id = ?",
                                    arguments: [paymentId]) {
            items[row["item_id"]] = ItemRow(state: row["state"], revision: row["revision"], signature: row["signature"])
        }
        return items
    }

    static func saveItem(_ db: Database, _ message: ReconciliationResultMessage, signature: String) throws {
        let result = String(decoding: try Wire.encode(message), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO recon_item (item_id, payment_id, state, day, revision, signature, result, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (item_id) DO UPDATE SET state = excluded.state, day = excluded.day, revision = excluded.revision,
                signature = excluded.signature, result = excluded.result, updated_at = excluded.updated_at
            """, arguments: [message.itemId, message.paymentId, message.state, message.day, message.revision, signature, result,
                             message.occurredAt])
    }

    static func markReplaced(_ db: Database, itemId: String, at: String) throws {
        try db.execute(sql: "UPDATE recon_item SET state = ?, signature = ?, updated_at = ? WHERE item_id = ?",
                       arguments: [replaced, replaced, at, itemId])
    }

    static func setDue(_ db: Database, paymentId: String, at: String?) throws {
        if let at {
            try db.execute(sql: "INSERT INTO recon_due (payment_id, due_at) VALUES (?, ?) ON CONFLICT (payment_id) DO UPDATE SET due_at = excluded.due_at",
                           arguments: [paymentId, at])
        } else {
            try db.execute(sql: "DELETE FROM recon_due WHERE payment_id = ?", arguments: [paymentId])
        }
    }

    static func due(_ db: Database, before now: String, limit: Int) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT payment_id FROM recon_due WHERE due_at <= ? ORDER BY due_at LIMIT ?", arguments: [now, limit])
    }

    /// The current results (every item not replaced) whose day is `day`, or all when nil, as
    /// published; in the order they were last decided.
    public static func results(_ db: Database, day: String?) throws -> [ReconciliationResultMessage] {
        guard try db.tableExists("recon_item") else { return [] }
        // A day's results through `recon_item_day` (an `? IS NULL OR day = ?` filter would scan every item).
        let rows = if let day {
            try String.fetchAll(db, sql: """
                SELECT result FROM recon_item WHERE day = ? AND state != ? ORDER BY updated_at, item_id
                """, arguments: [day, replaced])
        } else {
            try String.fetchAll(db, sql: "SELECT result FROM recon_item WHERE state != ? ORDER BY updated_at, item_id",
                                arguments: [replaced])
        }
        return try rows.map { try Wire.decode(ReconciliationResultMessage.self, from: Data($0.utf8)) }
    }
}
