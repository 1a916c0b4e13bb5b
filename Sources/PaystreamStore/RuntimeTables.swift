import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire

/// A message waiting in (or sent from) the outbox.
public struct OutboxMessage: Sendable, Equatable {
    public var sequence: Int64
    public var eventID: String
    public var topic: String
    /// The key's bytes (any bytes: a forwarded record keeps its producer's key as it was).
    public var key: [UInt8]?
    public var value: Data
    /// The partition to publish to; nil lets the producer's partitioner choose from the key.
    public var partition: Int32?
    /// Header name → UTF-8 value.
    public var headers: [String: String]
    public var sent: Bool

    public init(sequence: Int64 = 0, eventID: String, topic: String, key: [UInt8]?, value: Data,
                headers: [String: String] = [:], partition: Int32? = nil, sent: Bool = false) {
        self.sequence = sequence
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.value = value
        self.partition = partition
        self.headers = headers
        self.sent = sent
    }

    /// The message as the outbox stored it, under `sequence` (not sent yet).
    func stored(as sequence: Int64) -> OutboxMessage {
        var stored = self
        stored.sequence = sequence
        stored.sent = false
        return stored
    }
}

/// What a shard holds: the state of `stage` for the keys whose canonical partition, among
/// `partitionCount`, is `partition`, by the routing rule `routing`.
public struct ShardIdentity: Sendable, Equatable, CustomStringConvertible {
    public var stage: String
    public var partition: Int32
    public var partitionCount: Int32
    public var routing: String

    public init(stage: String, partition: Int32, partitionCount: Int32, routing: String) {
        self.stage = stage
        self.partition = partition
        self.partitionCount = partitionCount
        self.routing = routing
    }

    public var description: String { "\(stage) partition \(partition) of \(partitionCount) (\(routing))" }
}

/// The tables the worker runtime owns in every shard, and the statements on them. Every function
/// takes the caller's `Database`, so it runs inside the caller's transaction.
public enum RuntimeTables {
    /// The runtime's migrations, in order (registered before the stage's).
    static let migrations: [(String, @Sendable (Database) throws -> Void)] = [
        ("runtime-v1", { db in
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
        }),
        ("runtime-v2-outbox-retention", { db in
            try db.execute(sql: "CREATE INDEX outbox_created_at ON outbox(created_at)")
        }),
        // Forwarded records go to a chosen partition; keys are stored as blobs from here on
        // (a record's key is any bytes), older rows keep their text keys.
        ("runtime-v3-outbox-partition", { db in
            try db.execute(sql: "ALTER TABLE outbox ADD COLUMN partition INTEGER")
        }),
        ("runtime-v4-shard-identity", { db in
            try db.execute(sql: """
                CREATE TABLE shard_identity (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                    stage TEXT NOT NULL,
                    partition INTEGER NOT NULL,
                    partition_count INTEGER NOT NULL,
                    routing TEXT NOT NULL,
                    recorded_at TEXT NOT NULL
                )
                """)
        }),
        // The outbox is published in sequence order: a watermark says how far it is published,
        // instead of a mark on each row. Rows past it may still carry their own `sent_at` (a
        // round that was delivered in part).
        ("runtime-v5-outbox-published-through", { db in
            try db.execute(sql: """
                CREATE TABLE outbox_published (
                    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                    through INTEGER NOT NULL,
                    updated_at TEXT
                );
                INSERT INTO outbox_published (singleton, through) VALUES (1, 0);
                DROP INDEX outbox_unsent;
                """)
        }),
        // Retention prunes the oldest rows in the order they were written (rowid, sequence), so
        // the time indexes only cost a b-tree insert per message and per processed id.
        ("runtime-v8-prune-in-order", { db in
            try db.execute(sql: """
                DROP INDEX inbox_processed_at;
                DROP INDEX outbox_created_at;
                """)
        }),
    ]

    // MARK: offsets

    /// The next offset to read for each topic-partition this shard has consumed.
    public static func nextOffsets(_ db: Database) throws -> [String: [Int32: Int64]] {
        var result: [String: [Int32: Int64]] = [:]
        // Read by position (every transaction starts here): GRDB's `Row` looked each column up by name.
        try db.hotStatement("SELECT topic, partition, next_offset FROM consumed_offset").forEachRow { row in
            result[row.string(0), default: [:]][Int32(truncatingIfNeeded: row.int64(1))] = row.int64(2)
        }
        return result
    }

    public static func storeNextOffset(_ db: Database, topic: String, partition: Int32, nextOffset: Int64, now: Date) throws {
        try db.hotStatement("""
            INSERT INTO consumed_offset (topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
            WHERE excluded.next_offset > consumed_offset.next_offset
            """).run { row in
                row.text(topic)
                row.int(Int64(partition))
                row.int(nextOffset)
                row.text(timestamp(now))
            }
    }

    // MARK: identity

    /// What the shard was made for; nil for a shard opened before identities were recorded.
    public static func identity(_ db: Database) throws -> ShardIdentity? {
        guard try db.tableExists("shard_identity"),
              let row = try Row.fetchOne(db.hotStatement("SELECT stage, partition, partition_count, routing FROM shard_identity"))
        else { return nil }
        return ShardIdentity(stage: row["stage"], partition: row["partition"], partitionCount: row["partition_count"],
                             routing: row["routing"])
    }

    /// Records `identity` if the shard has none yet; returns what the shard holds afterwards.
    @discardableResult
    public static func claim(_ db: Database, _ identity: ShardIdentity, now: Date) throws -> ShardIdentity {
        try db.hotStatement("""
            INSERT INTO shard_identity (singleton, stage, partition, partition_count, routing, recorded_at)
            VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(singleton) DO NOTHING
            """).execute(arguments: [identity.stage, identity.partition, identity.partitionCount, identity.routing, timestamp(now)])
        return try self.identity(db) ?? identity
    }

    // MARK: inbox

    /// Records a processed message id; returns false if it was processed before.
    public static func markProcessed(_ db: Database, messageID: String, topic: String, partition: Int32,
                                     offset: Int64, now: Date) throws -> Bool {
        try db.hotStatement("""
            INSERT INTO inbox (message_id, topic, partition, offset, processed_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(message_id) DO NOTHING
            """).run { row in
                row.text(messageID)
                row.text(topic)
                row.int(Int64(partition))
                row.int(offset)
                row.text(timestamp(now))
            }
        return db.changesCount == 1
    }

    public static func isProcessed(_ db: Database, messageID: String) throws -> Bool {
        try Bool.fetchOne(db.hotStatement("SELECT 1 FROM inbox WHERE message_id = ?"), arguments: [messageID]) ?? false
    }

    /// Forgets at most `limit` inbox ids processed before `cutoff`, oldest first; returns how
    /// many. Ids are forgotten in the order they were written, up to the first one processed at
    /// or after the cutoff (a clock that went back keeps the ids after it a little longer).
    @discardableResult
    public static func pruneInbox(_ db: Database, before cutoff: Date, limit: Int = .max) throws -> Int {
        guard let through = try oldestEnd(db.hotStatement("SELECT rowid, processed_at < ? FROM inbox ORDER BY rowid"),
                                          arguments: [timestamp(cutoff)], limit: limit) else { return 0 }
        try db.hotStatement("DELETE FROM inbox WHERE rowid <= ?").execute(arguments: [through])
        return db.changesCount
    }

    /// Where the oldest rows that may go end: `statement` returns each row's rowid and whether
    /// it may go, oldest first; the rows up to the first that may not (at most `limit`) may.
    /// (Pruning in the order rows were written needs no index on their time.)
    public static func oldestEnd(_ statement: Statement, arguments: StatementArguments, limit: Int) throws -> Int64? {
        var end: Int64?
        var count = 0
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        while count < limit, let row = try rows.next(), row[1] as Bool {
            end = row[0]
            count += 1
        }
        return end
    }

    // MARK: savepoints

    /// Runs `body` in a savepoint of the caller's transaction: its writes are kept if it returns
    /// and rolled back if it throws (the error is rethrown), in the database and in the
    /// changelog's capture. The statements come from the connection's cache: one record's
    /// savepoint costs no parsing. Every savepoint inside a shard transaction goes through here.
    public static func inRecordSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try ChangelogCapture.savepoint(db, name: "paystream_record", body)
    }

    // MARK: outbox

    /// Forgets at most `limit` published messages enqueued before `cutoff` (unsent ones are
    /// always kept), oldest first; returns how many. Until then a stage can republish them byte
    /// for byte. Messages are forgotten in sequence order, up to the first one that is unsent or
    /// enqueued at or after the cutoff.
    @discardableResult
    public static func pruneSentOutbox(_ db: Database, before cutoff: Date, limit: Int = .max) throws -> Int {
        guard let through = try oldestEnd(db.hotStatement("""
            SELECT sequence, created_at < ? AND (sent_at IS NOT NULL OR sequence <= (SELECT through FROM outbox_published))
            FROM outbox ORDER BY sequence
            """), arguments: [timestamp(cutoff)], limit: limit) else { return 0 }
        try db.hotStatement("DELETE FROM outbox WHERE sequence <= ?").execute(arguments: [through])
        return db.changesCount
    }

    /// Adds a message to the outbox. An event id already there is kept as it is (returns false):
    /// re-deciding the same input never publishes a different version of the same event.
    @discardableResult
    public static func enqueue(_ db: Database, _ message: OutboxMessage, now: Date) throws -> Bool {
        try enqueued(db, message, now: now) != nil
    }

    /// The outbox's insert, many rows a statement.
    private static let insert = MultiRowInsert(
        "INSERT INTO outbox (event_id, topic, key, value, headers, created_at, partition)", columns: 7,
        tail: "ON CONFLICT(event_id) DO NOTHING")

    /// Adds messages to the outbox in their order, as `enqueue` adds each: an event id already
    /// in the outbox, or earlier in `messages`, is skipped. The rows go in up to 64 a statement
    /// (`MultiRowInsert`). Returns the rows stored, in order, with their sequences.
    public static func enqueue(_ db: Database, _ messages: [OutboxMessage], now: Date) throws -> [OutboxMessage] {
        // One row (a tick's, a small batch's): its statement says all; no sequence to read first.
        if messages.count == 1 { return try enqueued(db, messages[0], now: now).map { [$0] } ?? [] }
        guard !messages.isEmpty else { return [] }
        let createdAt = timestamp(now)
        // Every row stored from here on gets a sequence above the largest one now (AUTOINCREMENT
        // never reuses one): what a statement that skipped an id stored is read back past it.
        var last = try db.hotStatement("SELECT max(sequence) FROM outbox").fetchFirst { $0.isNull(0) ? 0 : $0.int64(0) } ?? 0
        var stored: [OutboxMessage] = []
        stored.reserveCapacity(messages.count)
        try insert.run(db, messages, bind: { bind(&$0, $1, createdAt: createdAt) }) { chunk in
            if db.changesCount == chunk.count {
                // Nothing skipped: the rows took the next sequences, in order.
                let first = db.lastInsertedRowID - Int64(chunk.count) + 1
                for (offset, message) in chunk.enumerated() { stored.append(message.stored(as: first + Int64(offset))) }
                last = db.lastInsertedRowID
                return
            }
            // An event id was there already (a decision taken again): the rows this statement
            // stored are the ones past `last`.
            var sequences: [String: Int64] = [:]
            try db.hotStatement("SELECT sequence, event_id FROM outbox WHERE sequence > ?").forEachRow(binding: { $0.int(last) }) { row in
                sequences[row.string(1)] = row.int64(0)
                last = max(last, row.int64(0))
            }
            for message in chunk {
                guard let sequence = sequences.removeValue(forKey: ColumnBinder.stored(message.eventID)) else { continue }
                stored.append(message.stored(as: sequence))
            }
        }
        return stored
    }

    private static func bind(_ row: inout ColumnBinder, _ message: OutboxMessage, createdAt: String) {
        row.text(message.eventID)
        row.text(message.topic)
        row.blob(message.key.map { Data($0) })
        row.blob(message.value)
        // A JSON object with sorted keys, as `JSONEncoder.sortedKeys` writes it (Wire's encoder gives the same bytes).
        row.text(Wire.encodeStringMap(message.headers))
        row.text(createdAt)
        row.int(message.partition.map(Int64.init))
    }

    /// `enqueue`, returning the row as stored (with its sequence), or nil if the event id was
    /// there already.
    public static func enqueued(_ db: Database, _ message: OutboxMessage, now: Date) throws -> OutboxMessage? {
        try insert.run(db, [message], bind: { bind(&$0, $1, createdAt: timestamp(now)) })
        guard db.changesCount == 1 else { return nil }
        return message.stored(as: db.lastInsertedRowID)
    }

    /// Unsent messages in the order they were enqueued: past the stored watermark and past
    /// `after` (a watermark the caller knows of and has not stored yet), not marked sent.
    public static func unsent(_ db: Database, limit: Int, after: Int64 = 0) throws -> [OutboxMessage] {
        try Row.fetchAll(db.hotStatement("""
            SELECT sequence, event_id, topic, key, value, headers, partition, sent_at FROM outbox
            WHERE sequence > ? AND sent_at IS NULL ORDER BY sequence LIMIT ?
            """), arguments: [max(after, try publishedThrough(db)), limit]).map { message(from: $0, through: 0) }
    }

    /// How many rows are not published yet (tools; a shard of a version before the watermark
    /// counts its rows without a mark).
    public static func unsentCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db.hotStatement("SELECT count(*) FROM outbox WHERE sequence > ? AND sent_at IS NULL"),
                         arguments: [try storedWatermark(db)]) ?? 0
    }

    /// The outbox's watermark: every row up to this sequence is published.
    public static func publishedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.hotStatement("SELECT through FROM outbox_published")) ?? 0
    }

    /// `publishedThrough`, and 0 in a shard not migrated to the watermark yet (read by a tool).
    public static func storedWatermark(_ db: Database) throws -> Int64 {
        try db.tableExists("outbox_published") ? publishedThrough(db) : 0
    }

    /// Moves the watermark up to `sequence` (never down): the caller has every row up to it
    /// delivered (or moved to a dead-letter topic).
    public static func storePublishedThrough(_ db: Database, _ sequence: Int64, now: Date) throws {
        try db.hotStatement("""
            UPDATE outbox_published SET through = ?, updated_at = ? WHERE through < ?
            """).execute(arguments: [sequence, timestamp(now), sequence])
    }

    /// Marks single rows sent, for a round delivered in part (the watermark stops at its first
    /// undelivered row; the rows after it that did arrive are not sent again).
    public static func markSent(_ db: Database, sequences: [Int64], now: Date) throws {
        guard !sequences.isEmpty else { return }
        let stamp = timestamp(now)
        let statement = try db.hotStatement("UPDATE outbox SET sent_at = ? WHERE sequence = ?")
        for sequence in sequences { try statement.execute(arguments: [stamp, sequence]) }
    }

    /// Queues the messages with these event ids once more, byte for byte (an idempotent retry
    /// gets the same answer), as new rows at the end of the outbox: the rows already published
    /// stay as they are. A message not published yet, or unknown, is skipped. The copy of event
    /// `E` is stored as `E#republish:<n>` (n = 1, 2, …); its headers still carry `E`.
    /// Returns the rows added, in order.
    public static func requeue(_ db: Database, eventIDs: [String], now: Date) throws -> [OutboxMessage] {
        let through = try publishedThrough(db)
        var added: [OutboxMessage] = []
        for id in eventIDs {
            guard let row = try Row.fetchOne(db.hotStatement("""
                SELECT sequence, event_id, topic, key, value, headers, partition, sent_at FROM outbox WHERE event_id = ?
                """), arguments: [id]) else { continue }
            let original = message(from: row, through: through)
            guard original.sent else { continue }
            let copies = try Int.fetchOne(db.hotStatement("""
                SELECT count(*) FROM outbox WHERE event_id > ? AND event_id < ?
                """), arguments: [id + "#republish:", id + "#republish;"]) ?? 0
            var copy = original
            copy.eventID = "\(id)#republish:\(copies + 1)"
            // The copy's id is new: it is always stored.
            if let stored = try enqueued(db, copy, now: now) { added.append(stored) }
        }
        return added
    }

    /// Every outbox row, sent or not (for tools and tests).
    public static func all(_ db: Database) throws -> [OutboxMessage] {
        let through = try storedWatermark(db)
        return try Row.fetchAll(db.hotStatement("""
            SELECT sequence, event_id, topic, key, value, headers, partition, sent_at FROM outbox ORDER BY sequence
            """)).map { message(from: $0, through: through) }
    }

    private static func message(from row: Row, through: Int64) -> OutboxMessage {
        let headersJSON: String = row["headers"]
        let headers = (try? Wire.decodePlain([String: String].self, from: Data(headersJSON.utf8))) ?? [:]
        let key: [UInt8]? = switch (row["key"] as DatabaseValue).storage {
        case .blob(let data): Array(data)
        case .string(let text): Array(text.utf8)  // written before keys were blobs
        default: nil
        }
        let sentAt: String? = row["sent_at"]
        let sequence: Int64 = row["sequence"]
        return OutboxMessage(sequence: sequence, eventID: row["event_id"], topic: row["topic"], key: key,
                             value: row["value"], headers: headers, partition: row["partition"],
                             sent: sentAt != nil || sequence <= through)
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
