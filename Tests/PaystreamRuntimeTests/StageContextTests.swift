import Foundation
import GRDB
import Logging
@testable import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// What a stage emits reaches the outbox, in order, and the publisher is told of exactly the
/// rows the transaction stored.
@Suite("StageContext: the outbox rows a decision emits")
struct StageContextTests {
    struct Note: Encodable { let n: Int }

    @Test("a savepoint that throws drops what it emitted, from the outbox and from the rows handed to the publisher; emitIfNew sees what was emitted before it and keeps the order")
    func savepointsAndOrder() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        struct Refused: Error {}
        let (written, stored, answers) = try shard.write { db in
            let context = StageContext(db: db, partition: 0, now: Date(), topics: TopicNames(), logger: Logger(label: "test"))
            try context.emit(Note(n: 1), topic: "out", key: "k", eventID: "e-1")
            // Emitted, then the savepoint fails (a ledger write refused after the event): gone.
            var refused = false
            do {
                try context.inSavepoint {
                    // Written inside the savepoint (emitIfNew writes what is pending first), and pending.
                    try context.emit(Note(n: 2), topic: "out", key: "k", eventID: "e-2")
                    _ = try context.emitIfNew(Note(n: 2), topic: "out", key: "k", eventID: "e-2b")
                    try context.emit(Note(n: 2), topic: "out", key: "k", eventID: "e-2c")
                    throw Refused()
                }
            } catch is Refused { refused = true }
            #expect(refused)
            try context.inSavepoint { try context.emit(Note(n: 3), topic: "out", key: "k", eventID: "e-3") }
            try context.emit(Note(n: 4), topic: "out", key: "k", eventID: "e-4")
            // e-4 is pending: emitIfNew sees it, and a new id goes after it.
            let answers = [try context.emitIfNew(Note(n: 5), topic: "out", key: "k", eventID: "e-4"),
                           try context.emitIfNew(Note(n: 6), topic: "out", key: "k", eventID: "e-6")]
            try context.emit(Note(n: 7), topic: "out", key: "k", eventID: "e-1")  // there already: dropped
            try context.emit(Note(n: 8), topic: "out", key: "k", eventID: "e-8")
            return (try context.written(), try RuntimeTables.all(db), answers)
        }
        #expect(answers == [false, true])
        #expect(written.map(\.eventID) == ["e-1", "e-3", "e-4", "e-6", "e-8"])
        #expect(written == stored, "the rows handed on are the outbox's, as stored")
        #expect(written.map { String(decoding: $0.value, as: UTF8.self) } == [1, 3, 4, 6, 8].map { #"{"n":\#($0)}"# })
    }
}
