import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamStore

/// What one batch transaction did, beyond its writes (for logs and counters).
struct BatchOutcome: Sendable {
    /// Records forwarded to their canonical partition, per input topic.
    var forwarded: [String: Int] = [:]
    /// The outbox rows the transaction queued, in order (see `StageContext.queued`).
    var queued: [OutboxMessage] = []
}

extension StageWorker {
    /// The batch's transaction: each record in order, then the offsets.
    ///
    /// A record off its key's canonical partition is forwarded (an outbox row) and not decided.
    /// Each decision runs in a savepoint with the record's inbox marks, so a record that is
    /// dead-lettered leaves no mark and is decided again if it is ever replayed.
    /// A record carrying the `paystream-replay-of` header (`paystream dlq replay` sets it to the
    /// dead letter's id) also marks `replay:<id>`: replaying one dead letter twice has one
    /// effect, even for inputs without a message id. A forwarded copy keeps its headers, so the
    /// mark holds after forwarding too.
    /// - Parameter isolating: set on the pass after every attempt of the batch failed: an error
    ///   that is not the environment's (a bug, a corrupt row, an encoding error) then parks that
    ///   record as `stage_error` and the rest of the batch commits.
    /// - Parameter savepoints: false for the optimistic pass: records are decided without a
    ///   savepoint each (most batches have no record to park, and a savepoint per record costs two
    ///   statements and a journal of every page it touches); a record that would be parked throws
    ///   `RecordNeedsSavepoint` instead, and the caller decides the batch again with savepoints.
    func applyBatch(_ batch: [ConsumedRecord], partition: Int32, routing: ShardRouting, isolating: Bool = false,
                    savepoints: Bool = true, db: Database) throws -> BatchOutcome {
        let stored = try RuntimeTables.nextOffsets(db)
        var next: [String: Int64] = [:]
        var outcome = BatchOutcome()
        let now = clock.now()
        let context = StageContext(db: db, partition: partition, now: now, topics: topics, logger: logger)
        for physical in batch {
            // Already stored: re-delivered after a seek race or a restart; its effects are in.
            if let done = next[physical.topic] ?? stored[physical.topic]?[partition], physical.offset < done { continue }
            next[physical.topic] = physical.offset + 1
            let size = physical.value.count + (physical.key?.count ?? 0)
            if size > settings.maxRecordBytes {
                // Refused before any decision (and before forwarding): a record this size would
                // be copied into events, the request log and dead letters the broker refuses.
                try deadLetter(physical, DeadLetter(code: "record_too_large",
                                                    message: "key and value are \(size) bytes; input.max_record_bytes is \(settings.maxRecordBytes)"),
                               context: context)
                continue
            }
            let record: ConsumedRecord
            var marks: [String] = []
            switch routing.route(physical, shardKey: stage.shardKey(of:)) {
            case .forward(let canonical):
                try context.enqueue(routing.forwarding(physical, to: canonical))
                outcome.forwarded[physical.topic, default: 0] += 1
                logger.debug("record forwarded to its key's partition", metadata: [
                    "kafka.topic": "\(physical.topic)", "kafka.partition": "\(physical.partition)",
                    "kafka.offset": "\(physical.offset)", "kafka.canonical_partition": "\(canonical)"])
                continue
            case .misrouted(let why):
                try deadLetter(physical, DeadLetter(code: "misrouted", message: why), context: context)
                continue
            case .decide(let original, let forwardID):
                record = original
                if let forwardID { marks.append(forwardID) }
            }
            let input: S.Input
            do {
                input = try stage.decode(record)
            } catch {
                try deadLetter(record, error, context: context)
                continue
            }
            if let id = stage.messageID(of: input) { marks.append(id) }
            if let replayed = record.header(DeadLetter.replayOfHeader) { marks.append("replay:\(replayed)") }
            // A record with one id (nearly all) is checked by marking it: the mark is refused when
            // the id is there already, and nothing else is written (one statement instead of a
            // read and a write). With more ids, none may be seen before any is marked.
            let single = marks.count == 1
            if !single, let seen = try marks.first(where: { try RuntimeTables.isProcessed(db, messageID: $0) }) {
                logger.debug("duplicate input skipped", metadata: ["message.id": "\(seen)", "kafka.offset": "\(record.offset)"])
                continue
            }
            let decision = {
                for id in marks {
                    let fresh = try RuntimeTables.markProcessed(db, messageID: id, topic: record.topic, partition: partition,
                                                                offset: record.offset, now: now)
                    if single && !fresh {
                        logger.debug("duplicate input skipped", metadata: ["message.id": "\(id)", "kafka.offset": "\(record.offset)"])
                        return
                    }
                }
                try stage.apply(input, record: record, in: context)
            }
            if !savepoints && !isolating {
                do { try decision() } catch where Self.parking(error, isolating: false) != nil { throw RecordNeedsSavepoint() }
                continue
            }
            do {
                // Rows emitted by a record whose savepoint is rolled back are not in the outbox.
                try context.inSavepoint(decision)
            } catch {
                guard let letter = Self.parking(error, isolating: isolating) else { throw error }
                try deadLetter(record, letter, context: context)
            }
        }
        for (topic, offset) in next {
            try RuntimeTables.storeNextOffset(db, topic: topic, partition: partition, nextOffset: offset, now: now)
        }
        // The batch's outbox rows, written together (a savepoint's are written when it ends).
        do {
            outcome.queued = try context.written()
        } catch where !savepoints && !isolating && Self.parking(error, isolating: false) != nil {
            throw RecordNeedsSavepoint()
        }
        return outcome
    }

    /// The dead letter a record's error parks the record as (its savepoint rolled back), or nil
    /// if the error fails the whole batch instead.
    static func parking(_ error: any Error, isolating: Bool) -> DeadLetter? {
        if let letter = error as? DeadLetter { return letter }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_CONSTRAINT {
            // A record that breaks a table constraint would fail every retry and every restart:
            // park it instead of stopping the stage.
            return DeadLetter(code: "constraint_violation", message: "\(error)")
        }
        if isolating && !isEnvironmental(error) { return .stageError(error) }
        return nil
    }

    /// Decides a batch optimistically without record savepoints, and again with them if a
    /// record is to be parked; `write` runs its body in one transaction of the shard.
    func decideBatch<T>(_ write: (_ savepoints: Bool) async throws -> T) async throws -> T {
        do { return try await write(false) } catch is RecordNeedsSavepoint { return try await write(true) }
    }

    /// `decideBatch` for a shard written synchronously (`OfflineShards`).
    func decideBatch<T>(_ write: (_ savepoints: Bool) throws -> T) throws -> T {
        do { return try write(false) } catch is RecordNeedsSavepoint { return try write(true) }
    }

    /// Errors of the machine rather than of a record (the disk, the file, a lock, cancellation):
    /// the batch fails and the worker stops instead of parking good records.
    static func isEnvironmental(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? DatabaseError else { return false }
        let environmental: [ResultCode] = [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOMEM,
                                              .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_CORRUPT, .SQLITE_NOTADB,
                                              .SQLITE_PROTOCOL, .SQLITE_INTERRUPT, .SQLITE_PERM, .SQLITE_ABORT]
        return environmental.contains(error.resultCode)
    }

    func deadLetter(_ record: ConsumedRecord, _ reason: DeadLetter, context: StageContext) throws {
        metrics.deadLetter(code: reason.code)
        logger.warning("dead letter", metadata: [
            "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)",
            "kafka.offset": "\(record.offset)", "error.code": "\(reason.code)", "error.message": "\(reason.message)",
        ])
        // The value goes whole into the letter (so it can be replayed) unless it is over the
        // input limit: then its first 64 KiB, with its size, so that the letter gets through.
        let cut = record.value.count > settings.maxRecordBytes
        var letter = DeadLetterMessage(
            errorCode: reason.code, errorMessage: reason.message, sourceTopic: record.topic,
            sourcePartition: record.partition, sourceOffset: record.offset, originalKey: record.keyString.map { String($0.prefix(1024)) },
            originalValueBase64: Data(cut ? record.value.prefix(DeadLetterMessage.cutValueBytes) : record.value[...]).base64EncodedString(),
            failedAt: context.timestamp, stage: stage.name)
        if cut { letter.originalValueBytes = record.value.count }
        letter.answerSeal = record.header(AnswerSeal.header).map { String($0.prefix(512)) }
        // The stage is in the id: two stages reading one topic each park a record they cannot decide.
        try context.emit(letter, topic: topics.deadLetter(of: record.topic), key: record.keyString,
                         eventID: "dlq:\(stage.name):\(record.topic):\(record.partition):\(record.offset)")
    }
}

/// The optimistic pass met a record to park: the batch is decided again with record savepoints.
struct RecordNeedsSavepoint: Error {}

extension DeadLetter {
    /// The header `paystream dlq replay` puts on a replayed record: its dead letter's id
    /// (`<dlq topic>:<partition>:<offset>`). The runtime marks `replay:<id>` in the inbox.
    public static let replayOfHeader = "paystream-replay-of"
}
