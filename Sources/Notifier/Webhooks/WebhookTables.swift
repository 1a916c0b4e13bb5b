import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire

/// A queued delivery: one notification to one endpoint.
public struct WebhookDeliveryRow: Sendable, Hashable {
    /// The `webhook-id` header: the notification's event id, the same on every attempt.
    public let webhookID: String
    public let endpointID: String
    public let ownerType: String
    public let ownerID: String
    public let eventType: String
    /// The exact bytes sent and signed.
    public let body: Data
    public let attempts: Int
    public let history: [WebhookAttemptRecord]
    /// `pending`, `delivered`, `failed` (every attempt failed) or `endpoint_disabled`.
    public let state: String

    public struct Key: Hashable, Sendable {
        public let webhookID: String
        public let endpointID: String
    }

    public var key: Key { Key(webhookID: webhookID, endpointID: endpointID) }
}

/// The notifier's delivery queue, in each shard: one row per (notification, endpoint), made in
/// the batch that makes the notification, then worked by the delivery companion in its own
/// transactions. A row that ends badly (`failed`, `endpoint_disabled`) is published to the
/// webhook dead-letter topic by the stage's timer (`reported` turns 1).
public enum WebhookTables {
    public static let migrations: [(String, @Sendable (Database) throws -> Void)] = [
        ("notifier-v1-webhook-deliveries", { db in
            try db.execute(sql: """
                CREATE TABLE webhook_delivery (
                    webhook_id TEXT NOT NULL,
                    endpoint_id TEXT NOT NULL,
                    owner_type TEXT NOT NULL,
                    owner_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    body BLOB NOT NULL,
                    created_at TEXT NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at REAL,
                    history TEXT NOT NULL DEFAULT '[]',
                    finished_at TEXT,
                    reported INTEGER NOT NULL DEFAULT 1,
                    PRIMARY KEY (webhook_id, endpoint_id)
                ) WITHOUT ROWID;
                CREATE INDEX webhook_delivery_due ON webhook_delivery(next_attempt_at) WHERE state = 'pending';
                CREATE INDEX webhook_delivery_unreported ON webhook_delivery(state) WHERE reported = 0;
                CREATE INDEX webhook_delivery_finished ON webhook_delivery(finished_at) WHERE state != 'pending';
                """)
        }),
    ]

    /// The body a delivery was queued with, as this shard recorded it (`paystream webhooks replay`
    /// sends this, never a body read from a topic); nil when the shard has no such delivery.
    public static func recordedBody(_ db: Database, webhookID: String, endpointID: String) throws -> Data? {
        try Data.fetchOne(db, sql: "SELECT body FROM webhook_delivery WHERE webhook_id = ? AND endpoint_id = ?", arguments: [webhookID, endpointID])
    }

    /// Queues a delivery; a notification made again (a redelivered event) queues nothing new.
    static func enqueue(_ db: Database, webhookID: String, endpoint: WebhookEndpointReference, eventType: String, body: Data,
                        now: Date) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO webhook_delivery
                (webhook_id, endpoint_id, owner_type, owner_id, event_type, body, created_at, state, next_attempt_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)
            """, arguments: [webhookID, endpoint.endpointId, endpoint.ownerType, endpoint.ownerId, eventType, body,
                             Wire.timestamp(now), now.timeIntervalSince1970])
    }

    private static let columns = "webhook_id, endpoint_id, owner_type, owner_id, event_type, body, attempts, history, state"

    /// A row's attempts, from its `history` column.
    private static func history(_ r: Row) -> [WebhookAttemptRecord] {
        (try? Wire.decode([WebhookAttemptRecord].self, from: Data((r["history"] as String).utf8))) ?? []
    }

    private static func row(_ r: Row) -> WebhookDeliveryRow {
        let history = Self.history(r)
        return WebhookDeliveryRow(webhookID: r["webhook_id"], endpointID: r["endpoint_id"], ownerType: r["owner_type"],
                                  ownerID: r["owner_id"], eventType: r["event_type"], body: r["body"], attempts: r["attempts"],
                                  history: history, state: r["state"])
    }

    /// Pending deliveries due at `now`, oldest due first, leaving out the endpoints in `excluded`.
    static func due(_ db: Database, now: Date, excluding excluded: Set<String>, limit: Int) throws -> [WebhookDeliveryRow] {
        let placeholders = excluded.isEmpty ? "" : " AND endpoint_id NOT IN (\(Array(repeating: "?", count: excluded.count).joined(separator: ",")))"
        var arguments: [any DatabaseValueConvertible] = [now.timeIntervalSince1970]
        arguments += excluded.sorted() as [any DatabaseValueConvertible]
        arguments.append(limit)
        return try Row.fetchAll(db, sql: """
            SELECT \(columns) FROM webhook_delivery
            WHERE state = 'pending' AND next_attempt_at <= ?\(placeholders)
            ORDER BY next_attempt_at LIMIT ?
            """, arguments: StatementArguments(arguments)).map(row)
    }

    /// When the next pending delivery falls due (nil: none is pending).
    static func nextDue(_ db: Database) throws -> Date? {
        try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM webhook_delivery WHERE state = 'pending'")
            .map { Date(timeIntervalSince1970: $0) }
    }

    /// Records an attempt: `state` pending with the next attempt's time, or an end state
    /// (`delivered`; `failed` and `endpoint_disabled` wait for the timer to dead-letter them).
    /// Nothing changes unless the row is still pending (a row is worked by one companion only,
    /// but a stale answer must never reopen a finished delivery).
    static func record(_ db: Database, _ key: WebhookDeliveryRow.Key, attempt: WebhookAttemptRecord?, state: String, nextAttemptAt: Date?,
                       now: Date) throws {
        let current = try Row.fetchOne(db, sql: """
            SELECT attempts, history FROM webhook_delivery WHERE webhook_id = ? AND endpoint_id = ? AND state = 'pending'
            """, arguments: [key.webhookID, key.endpointID])
        guard let current else { return }
        var history = Self.history(current)
        if let attempt { history.append(attempt) }
        let finished = state == "pending" ? nil : Wire.timestamp(now)
        let reported = state == "failed" || state == "endpoint_disabled" ? 0 : 1
        try db.execute(sql: """
            UPDATE webhook_delivery SET state = ?, attempts = ?, history = ?, next_attempt_at = ?, finished_at = ?, reported = ?
            WHERE webhook_id = ? AND endpoint_id = ?
            """, arguments: [state, history.count, String(decoding: try Wire.encode(history), as: UTF8.self),
                             nextAttemptAt?.timeIntervalSince1970, finished, reported, key.webhookID, key.endpointID])
    }

    /// Finished deliveries whose dead letter is not published yet.
    static func unreported(_ db: Database, limit: Int) throws -> [WebhookDeliveryRow] {
        try Row.fetchAll(db, sql: """
            SELECT \(columns) FROM webhook_delivery WHERE reported = 0 ORDER BY finished_at LIMIT ?
            """, arguments: [limit]).map(row)
    }

    static func markReported(_ db: Database, _ key: WebhookDeliveryRow.Key) throws {
        try db.execute(sql: "UPDATE webhook_delivery SET reported = 1 WHERE webhook_id = ? AND endpoint_id = ?",
                       arguments: [key.webhookID, key.endpointID])
    }

    /// Deletes up to `limit` finished deliveries (delivered, or dead-lettered and published)
    /// that finished before `cutoff`; returns how many.
    static func prune(_ db: Database, finishedBefore cutoff: Date, limit: Int) throws -> Int {
        try db.execute(sql: """
            DELETE FROM webhook_delivery WHERE (webhook_id, endpoint_id) IN (
                SELECT webhook_id, endpoint_id FROM webhook_delivery
                WHERE state != 'pending' AND reported = 1 AND finished_at < ? LIMIT ?)
            """, arguments: [Wire.timestamp(cutoff), limit])
        return db.changesCount
    }

    /// Every delivery of the shard, for tools and tests.
    public static func all(_ db: Database) throws -> [WebhookDeliveryRow] {
        try Row.fetchAll(db, sql: "SELECT \(columns) FROM webhook_delivery ORDER BY created_at, webhook_id, endpoint_id").map(row)
    }
}
