import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamStore

/// One stage of the pipeline as the runtime sees it: which topics it reads, how it decodes a
/// record, and what it decides. `apply` and `tick` read and write the shard's tables through the
/// context and emit outgoing messages into the outbox; the runtime wraps each batch in one
/// SQLite transaction together with the consumed offsets and the inbox ids.
public protocol Stage: Sendable {
    associatedtype Input: Sendable

    /// The stage's name: its state subdirectory and the default consumer group suffix.
    var name: String { get }
    /// The topics the stage consumes (full names). They must be co-partitioned.
    var inputTopics: [String] { get }
    /// The topics the stage publishes to (full names), besides the dead-letter topics of its
    /// inputs and their repartition topics. The daemon checks at start that they exist.
    var outputTopics: [String] { get }
    /// Topics the daemon publishes to outside the batch (a listener or a companion of its own):
    /// checked at start like the outputs, and granted in `paystream acl`. None by default.
    var sideOutputTopics: [String] { get }
    /// The stage's tables.
    var schema: StageSchema { get }
    /// Whether the stage's shards hold money (balances, postings): such a stage refuses
    /// `sqlite.synchronous` below FULL unless `sqlite.allow_unsafe_synchronous` is set.
    var keepsMoney: Bool { get }

    /// The bytes the stage's state is sharded by: a record is decided in the shard of the
    /// canonical partition of these bytes (`KeyPartitioner`), and forwarded there first if it
    /// arrived on another partition. nil: decided where it arrived. The default is the record key.
    func shardKey(of record: ConsumedRecord) -> [UInt8]?
    /// Where a record of `input` that arrived off its shard's partition is forwarded. The
    /// default, `<input>.repartition`, serves the group that shards the topic by its key; a stage
    /// that shards a topic other groups also read by something else needs its own
    /// (`TopicNames.repartition(of:stage:)`), or each group would decide the other's copies.
    func repartitionTopic(of input: String, in topics: TopicNames) -> String

    /// Turns bytes into an input; throws `DeadLetter` for bytes that do not decode.
    func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input
    /// The id under which the inbox remembers this input, or nil if the stage dedups itself.
    func messageID(of input: Input) -> String?
    /// Decides what the input changes. Throws `DeadLetter` for a record that breaks a rule
    /// without a business answer; its partial writes are rolled back.
    func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws

    /// How often `tick` runs without new input; nil for never.
    var tickInterval: Duration? { get }
    /// Acts on time alone (expiry, due installments, cut-offs), once per owned shard.
    func tick(in context: StageContext) throws

    /// Reference data the stage decides with, read in full by every instance: the worker
    /// catches up with it before consuming inputs and keeps it current. nil for none.
    var referenceFeed: (any ReferenceFeed)? { get }

    /// Work that runs beside the consumer loop on every shard the worker owns (webhook
    /// deliveries), so that it never holds up a batch. nil for none.
    var companion: (any ShardCompanion)? { get }
}

/// A stage's work beside the consumer loop, one task per owned shard: started once the shard is
/// open, cancelled (and waited for) before it closes — on revocation, shutdown or a crash — so
/// that it only ever touches shards this worker owns. It reads and writes the shard in its own
/// short transactions; it does not write the outbox (the stage's `tick` publishes what the
/// companion recorded, so every outbox row still comes from the loop).
public protocol ShardCompanion: Sendable {
    func run(shard: ShardStore, partition: Int32, clock: any PaystreamClock, logger: Logger) async
}

extension Stage {
    /// The input topics and their repartition topics: everything the stage's group consumes.
    public func consumedTopics(in topics: TopicNames) -> [String] {
        inputTopics + inputTopics.map { repartitionTopic(of: $0, in: topics) }
    }

    /// Each input topic's repartition topic.
    public func repartitionTopics(in topics: TopicNames) -> [String: String] {
        Dictionary(uniqueKeysWithValues: inputTopics.map { ($0, repartitionTopic(of: $0, in: topics)) })
    }

    public var keepsMoney: Bool { false }
    public var sideOutputTopics: [String] { [] }
    public func shardKey(of record: ConsumedRecord) -> [UInt8]? { record.key }
    public func repartitionTopic(of input: String, in topics: TopicNames) -> String { topics.repartition(of: input) }
    public var tickInterval: Duration? { nil }
    public func tick(in context: StageContext) throws {}
    public var referenceFeed: (any ReferenceFeed)? { nil }
    public var companion: (any ShardCompanion)? { nil }
}

/// Why a record goes to the dead-letter topic: a stable code and a message.
public struct DeadLetter: Error, Sendable, Equatable {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public static func undecodable(_ message: String) -> DeadLetter { DeadLetter(code: "undecodable", message: message) }
    public static func unknownSchema(_ schema: String?) -> DeadLetter {
        DeadLetter(code: "unknown_schema", message: "schema \(schema.map { "'\($0)'" } ?? "missing") is not supported")
    }
    /// The stage threw something that is not a business answer (a bug, a corrupt row, an
    /// encoding error) on every attempt of the batch: the record is parked, the rest goes on.
    public static func stageError(_ error: any Error) -> DeadLetter {
        DeadLetter(code: "stage_error", message: "\(error)")
    }
}

/// What a stage may touch while deciding: the shard's database (inside the batch transaction),
/// the time, the topic names, and the outbox.
public final class StageContext {
    public let db: Database
    public let partition: Int32
    public let now: Date
    public let topics: TopicNames
    /// The worker's logger, with the partition in its metadata.
    public let logger: Logger

    /// The outbox rows written through this context, in order, as stored: the publisher sends
    /// them without reading them back (the outbox only grows at its end, see `republish`).
    private var queued: [OutboxMessage] = []
    /// Rows emitted and not written yet: they go in together, a statement per up to 64 rows
    /// (`RuntimeTables.enqueue`), when the batch or the record's savepoint ends (`flush`), or
    /// before anything that needs the outbox as it stands (`emitIfNew`, `republish`).
    private var pending: [OutboxMessage] = []

    init(db: Database, partition: Int32, now: Date, topics: TopicNames, logger: Logger) {
        self.db = db
        self.partition = partition
        self.now = now
        self.topics = topics
        var logger = logger
        logger[metadataKey: "kafka.partition"] = "\(partition)"
        self.logger = logger
    }

    /// The time as it appears in messages.
    public var timestamp: String { Wire.timestamp(now) }

    /// Queues a message for publication after the transaction commits. `eventID` must be stable
    /// (the same decision gives the same id): a second message with an id already in the outbox
    /// (or emitted before in this transaction) is dropped, so a re-decided input never publishes
    /// a different version of an event.
    public func emit<T: Encodable>(_ message: T, topic: String, key: String?, eventID: String) throws {
        enqueue(try outgoing(message, topic: topic, key: key, eventID: eventID))
    }

    /// `emit`, at once: returns false if the event id was in the outbox already (nothing new was
    /// queued), for a decision that answers differently then.
    public func emitIfNew<T: Encodable>(_ message: T, topic: String, key: String?, eventID: String) throws -> Bool {
        let row = try outgoing(message, topic: topic, key: key, eventID: eventID)
        try flush()
        guard let stored = try RuntimeTables.enqueued(db, row, now: now) else { return false }
        queued.append(stored)
        return true
    }

    private func outgoing<T: Encodable>(_ message: T, topic: String, key: String?, eventID: String) throws -> OutboxMessage {
        OutboxMessage(eventID: eventID, topic: topic, key: key.map { Array($0.utf8) }, value: try Wire.encode(message),
                      headers: ["event-id": eventID])
    }

    /// `emit`, the record sealed by `signer` (see `AnswerSeal`): the channel connectors' and bank
    /// adapters' answers. With no keyring (answers not required: development) it goes unsealed;
    /// a keyring without the signer's key is an error (checked when the daemon starts).
    public func emit<T: Encodable>(_ message: T, topic: String, key: String?, eventID: String,
                                   sealedBy signer: String, keys: AnswerKeyring?) throws {
        var row = try outgoing(message, topic: topic, key: key, eventID: eventID)
        if let keys {
            guard let seal = keys.seal(signer: signer, topic: topic, key: row.key, value: Array(row.value)) else {
                throw AnswerKeyError("no answer key for signer '\(signer)' to seal \(topic) \(eventID)")
            }
            row.headers[AnswerSeal.header] = seal
        }
        enqueue(row)
    }

    /// Queues an outbox row as it is (see `emit`).
    func enqueue(_ message: OutboxMessage) {
        pending.append(message)
    }

    /// Writes the rows emitted since the last flush to the outbox.
    func flush() throws {
        guard !pending.isEmpty else { return }
        let rows = pending
        pending.removeAll(keepingCapacity: true)
        queued += try RuntimeTables.enqueue(db, rows, now: now)
    }

    /// Every row written to the outbox through this context, in order, as stored (what is
    /// pending written first): what the publisher is told of once the transaction commits.
    func written() throws -> [OutboxMessage] {
        try flush()
        return queued
    }

    /// Runs `body` in a savepoint of the transaction (`RuntimeTables.inRecordSavepoint`): if it
    /// throws, its writes are rolled back and what it emitted is dropped. Every savepoint a
    /// stage takes inside a batch or a tick goes through here, so that no outbox row the
    /// publisher is told of was rolled back.
    public func inSavepoint<T>(_ body: () throws -> T) throws -> T {
        // What was emitted before belongs to the transaction, not to the savepoint.
        try flush()
        let before = queued.count
        do {
            return try RuntimeTables.inRecordSavepoint(db) {
                let value = try body()
                try flush()
                return value
            }
        } catch {
            pending.removeAll()
            queued.removeSubrange(before...)
            throw error
        }
    }

    /// Publishes messages already in the outbox once more, byte for byte (an idempotent retry
    /// gets the same answer): each is queued again as a copy at the end of the outbox. Unknown
    /// ids, and messages not published yet, are ignored.
    public func republish(eventIDs: [String]) throws {
        try flush()
        queued += try RuntimeTables.requeue(db, eventIDs: eventIDs, now: now)
    }
}
