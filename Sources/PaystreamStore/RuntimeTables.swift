import Foundation
import GRDB
import PaystreamDomain

/// A message waiting in (or sent from) the outbox.
public struct OutboxMessage: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: String
    public var topic: String
    public var key: String?
    public var value: Data
    /// Header name → UTF-8 value.
    public var headers: [String: String]
    public var sent: Bool

    public init(sequence: Int64 = 0, eventID: String, topic: String, key: String?, value: Data,
                headers: [String: String] = [:], sent: Bool = false) {
        self.sequence = sequence
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.sent = sent
    }
}

/// The tables the worker runtime owns in every shard, and the statements on them. Every function
/// takes the caller's `Database`, so it runs inside the caller's transaction.
public enum RuntimeTables {
    static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("runtime-v1") { db in
            try db.execute(sql: """
                CREATE TABLE consumed_offset (
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    next_offset INTEGER NOT NULL,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (topic, partition)
                );
                CREATE TABLE inbox (
                    message_id TEXT PRIMARY KEY NOT NULL,
                    topic TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    offset INTEGER NOT NULL,
                    processed_at TEXT NOT NULL
                );
                CREATE INDEX inbox_processed_at ON inbox(processed_at);
                CREATE TABLE outbox (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    topic TEXT NOT NULL,
                    key TEXT,
                    value BLOB NOT NULL,
                    headers TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    sent_at TEXT
                );
                CREATE INDEX outbox_unsent ON outbox(sequence) WHERE sent_at IS NULL;
                """)
        }
        migrator.registerMigration("runtime-v2-outbox-retention") { db in
            try db.execute(sql: "CREATE INDEX outbox_created_at ON outbox(created_at)")
        }
    }

    // MARK: offsets

    /// The next offset to read for each topic-partition this shard has consumed.
    public static func nextOffsets(_ db: Database) throws -> [String: [Int32: Int64]] {
        var result: [String: [Int32: Int64]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT topic, partition, next_offset FROM consumed_offset") {
            result[row["topic"], default: [:]][row["partition"]] = row["next_offset"]
        }
        return result
    }

    public static func storeNextOffset(_ db: Database, topic: String, partition: Int32, nextOffset: Int64, now: Date) throws {
        try db.execute(sql: """
            INSERT INTO consumed_offset (topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
            WHERE excluded.next_offset > consumed_offset.next_offset
            """, arguments: [topic, partition, nextOffset, timestamp(now)])
    }

    // MARK: inbox

    /// Records a processed message id; returns false if it was processed before.
    public static func markProcessed(_ db: Database, messageID: String, topic: String, partition: Int32,
                                     offset: Int64, now: Date) throws -> Bool {
        try db.execute(sql: """
            INSERT INTO inbox (message_id, topic, partition, offset, processed_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(message_id) DO NOTHING
            """, arguments: [messageID, topic, partition, offset, timestamp(now)])
        return db.changesCount == 1
    }

    public static func isProcessed(_ db: Database, messageID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM inbox WHERE message_id = ?", arguments: [messageID]) ?? false
    }

    /// Forgets inbox ids processed before `cutoff`; returns how many.
    @discardableResult
    public static func pruneInbox(_ db: Database, before cutoff: Date) throws -> Int {
        try db.execute(sql: "DELETE FROM inbox WHERE processed_at < ?", arguments: [timestamp(cutoff)])
        return db.changesCount
    }

    // MARK: outbox

    /// Forgets published messages enqueued before `cutoff` (unsent ones are always kept);
    /// returns how many. Until then a stage can republish them byte for byte.
    @discardableResult
    public static func pruneSentOutbox(_ db: Database, before cutoff: Date) throws -> Int {
        try db.execute(sql: "DELETE FROM outbox WHERE created_at < ? AND sent_at IS NOT NULL", arguments: [timestamp(cutoff)])
        return db.changesCount
    }

    /// Adds a message to the outbox. An event id already there is kept as it is (returns false):
    /// re-deciding the same input never publishes a different version of the same event.
    @discardableResult
    public static func enqueue(_ db: Database, _ message: OutboxMessage, now: Date) throws -> Bool {
        let headers = String(decoding: try JSONEncoder.sortedKeys.encode(message.headers), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO outbox (event_id, topic, key, value, headers, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(event_id) DO NOTHING
            """, arguments: [message.eventID, message.topic, message.key, message.value, headers, timestamp(now)])
        return db.changesCount == 1
    }

    /// Unsent messages in the order they were enqueued.
    public static func unsent(_ db: Database, limit: Int) throws -> [OutboxMessage] {
        try Row.fetchAll(db, sql: """
            SELECT sequence, event_id, topic, key, value, headers FROM outbox
            WHERE sent_at IS NULL ORDER BY sequence LIMIT ?
            """, arguments: [limit]).map { row in
            let headersJSON: String = row["headers"]
            let headers = (try? JSONDecoder().decode([String: String].self, from: Data(headersJSON.utf8))) ?? [:]
            return OutboxMessage(sequence: row["sequence"], eventID: row["event_id"], topic: row["topic"],
                                 key: row["key"], value: row["value"], headers: headers, sent: false)
        }
    }

    public static func markUnsent(_ db: Database, eventIDs: [String]) throws {
        let statement = try db.makeStatement(sql: "UPDATE outbox SET sent_at = NULL WHERE event_id = ?")
        for id in eventIDs { try statement.execute(arguments: [id]) }
    }

    public static func unsentCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE sent_at IS NULL") ?? 0
    }

    public static func markSent(_ db: Database, sequences: [Int64], now: Date) throws {
        guard !sequences.isEmpty else { return }
        let stamp = timestamp(now)
        let statement = try db.makeStatement(sql: "UPDATE outbox SET sent_at = ? WHERE sequence = ?")
        for sequence in sequences { try statement.execute(arguments: [stamp, sequence]) }
    }

    /// Every outbox row, sent or not (for tools and tests).
    public static func all(_ db: Database) throws -> [OutboxMessage] {
        try Row.fetchAll(db, sql: "SELECT sequence, event_id, topic, key, value, headers, sent_at FROM outbox ORDER BY sequence").map { row in
            let headersJSON: String = row["headers"]
            let headers = (try? JSONDecoder().decode([String: String].self, from: Data(headersJSON.utf8))) ?? [:]
            let sentAt: String? = row["sent_at"]
            return OutboxMessage(sequence: row["sequence"], eventID: row["event_id"], topic: row["topic"],
                                 key: row["key"], value: row["value"], headers: headers, sent: sentAt != nil)
        }
    }

    static func timestamp(_ date: Date) -> String { Wire.timestamp(date) }
}

extension JSONEncoder {
    /// Sorted keys, unescaped slashes, no key conversion: stable bytes for stored JSON.
    public static let sortedKeys: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
