import Foundation
import GRDB
import PaystreamStore
import PaystreamTesting
import Testing

@Suite("Runtime tables in a shard")
struct RuntimeTablesTests {
    @Test("pruning deletes old inbox ids and sent outbox rows a chunk at a time, never unsent rows")
    func pruneInChunks() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        let cutoff = old.addingTimeInterval(3600)
        try shard.write { db in
            for i in 0..<25 {
                _ = try RuntimeTables.markProcessed(db, messageID: "m-\(i)", topic: "in", partition: 0, offset: Int64(i), now: old)
                try RuntimeTables.enqueue(db, OutboxMessage(eventID: "e-\(i)", topic: "out", key: nil, value: Data("v".utf8)), now: old)
            }
            let rows = try RuntimeTables.unsent(db, limit: 100)
            try RuntimeTables.markSent(db, sequences: rows.prefix(20).map(\.sequence), now: old)
        }
        var chunks: [Int] = []
        while true {
            let deleted = try shard.write { db in
                try RuntimeTables.pruneInbox(db, before: cutoff, limit: 10) + RuntimeTables.pruneSentOutbox(db, before: cutoff, limit: 10)
            }
            if deleted == 0 { break }
            chunks.append(deleted)
        }
        #expect(chunks == [20, 20, 5])  // inbox 10, 10, 5; sent outbox 10, 10, 0
        let inbox: Int = try shard.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox") ?? -1 }
        let outbox: [OutboxMessage] = try shard.read { db in try RuntimeTables.all(db) }
        #expect(inbox == 0)
        #expect(outbox.map(\.eventID) == (20..<25).map { "e-\($0)" })  // the unsent rows stay
    }

    @Test("pruning goes oldest first and stops at the first row that must stay: one written after the cutoff keeps the rows after it, whatever their times (a clock that went back)")
    func pruneStopsAtTheFirstNewRow() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        let cutoff = old.addingTimeInterval(3600)
        let times = [old, old, cutoff.addingTimeInterval(1), old, old]
        try shard.write { db in
            for (i, time) in times.enumerated() {
                _ = try RuntimeTables.markProcessed(db, messageID: "m-\(i)", topic: "in", partition: 0, offset: Int64(i), now: time)
                let row = try RuntimeTables.enqueued(db, OutboxMessage(eventID: "e-\(i)", topic: "out", key: nil, value: Data("v".utf8)), now: time)
                try RuntimeTables.storePublishedThrough(db, row!.sequence, now: time)
            }
        }
        #expect(try shard.write { db in try RuntimeTables.pruneInbox(db, before: cutoff) + RuntimeTables.pruneSentOutbox(db, before: cutoff) } == 4)
        let inbox: [String] = try shard.read { db in try String.fetchAll(db, sql: "SELECT message_id FROM inbox ORDER BY rowid") }
        let outbox: [String] = try shard.read { db in try RuntimeTables.all(db).map(\.eventID) }
        #expect(inbox == ["m-2", "m-3", "m-4"])
        #expect(outbox == ["e-2", "e-3", "e-4"])
        // Once the newer row is old enough, the rest go too.
        #expect(try shard.write { db in try RuntimeTables.pruneInbox(db, before: cutoff.addingTimeInterval(2)) } == 3)
    }

    @Test("the outbox watermark: rows up to it are published and pruned, rows past it unsent unless marked (kept until the rows before them go), and it never goes back")
    func publishedThroughWatermark() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        let sequences: [Int64] = try shard.write { db in
            try (0..<10).map { i in
                try RuntimeTables.enqueued(db, OutboxMessage(eventID: "e-\(i)", topic: "out", key: nil, value: Data("\(i)".utf8)),
                                           now: old)!.sequence
            }
        }
        try shard.write { db in
            try RuntimeTables.storePublishedThrough(db, sequences[3], now: old)
            try RuntimeTables.storePublishedThrough(db, sequences[1], now: old)  // never back
            try RuntimeTables.markSent(db, sequences: [sequences[6]], now: old)  // delivered past a failed row
        }
        try shard.read { (db: Database) throws -> Void in
            #expect(try RuntimeTables.publishedThrough(db) == sequences[3])
            #expect(try RuntimeTables.unsent(db, limit: 100).map(\.eventID) == ["e-4", "e-5", "e-7", "e-8", "e-9"])
            #expect(try RuntimeTables.unsent(db, limit: 2).map(\.eventID) == ["e-4", "e-5"])
            // A watermark the worker knows of and has not stored yet.
            #expect(try RuntimeTables.unsent(db, limit: 100, after: sequences[7]).map(\.eventID) == ["e-8", "e-9"])
            #expect(try RuntimeTables.unsentCount(db) == 5)
            #expect(try RuntimeTables.all(db).filter(\.sent).map(\.eventID) == ["e-0", "e-1", "e-2", "e-3", "e-6"])
        }
        // Pruned oldest first, up to the first unsent row: e-6, delivered past it, waits for it.
        let pruned = try shard.write { db in try RuntimeTables.pruneSentOutbox(db, before: old.addingTimeInterval(1)) }
        #expect(pruned == 4)
        let left: [String] = try shard.read { db in try RuntimeTables.all(db).map(\.eventID) }
        #expect(left == ["e-4", "e-5", "e-6", "e-7", "e-8", "e-9"])
    }

    @Test("republishing queues a published message again as a copy at the end, byte for byte; unpublished and unknown ids are skipped")
    func requeueCopies() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let first = OutboxMessage(eventID: "e-1", topic: "out", key: [0, 255, 7], value: Data("one".utf8),
                                  headers: ["event-id": "e-1", "x": "y"], partition: 2)
        try shard.write { db in
            let stored = try RuntimeTables.enqueued(db, first, now: now)!
            try RuntimeTables.enqueue(db, OutboxMessage(eventID: "e-2", topic: "out", key: nil, value: Data("two".utf8)), now: now)
            try RuntimeTables.storePublishedThrough(db, stored.sequence, now: now)
        }
        let added = try shard.write { db in
            try RuntimeTables.requeue(db, eventIDs: ["e-1", "e-2", "nope"], now: now)
                + RuntimeTables.requeue(db, eventIDs: ["e-1"], now: now)
        }
        #expect(added.map(\.eventID) == ["e-1#republish:1", "e-1#republish:2"])
        let unsent = try shard.read { db in try RuntimeTables.unsent(db, limit: 10) }
        #expect(unsent.map(\.eventID) == ["e-2", "e-1#republish:1", "e-1#republish:2"])
        #expect(unsent == [unsent[0]] + added)
        for copy in unsent.dropFirst() {
            #expect(copy.key == first.key && copy.value == first.value && copy.headers == first.headers && copy.partition == 2)
            #expect(copy.topic == "out" && !copy.sent)
        }
    }

    @Test("outbox rows written together (a statement per up to 64) are stored as one at a time would store them: ids already there or earlier in the batch skipped, the rest in order with the sequences they got", arguments: [1, 2, 3])
    func enqueueTogether(seed: UInt64) throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        var random = SeededRandom(seed: seed)
        var stored: Set<String> = []
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        for round in 0..<40 {
            // Counts across the statement sizes (0, 1, 63, 64, 65, 200, …); ids from a pool small
            // enough that some are in the outbox already and some come twice in one batch.
            let count = [0, 1, 2, 63, 64, 65, 129, 200, Int.random(in: 0...150, using: &random)].randomElement(using: &random)!
            let messages = (0..<count).map { _ in
                let id = "e-\(Int.random(in: 0..<(stored.count + 120), using: &random))"
                var headers = ["event-id": id]
                if Bool.random(using: &random) { headers["trace"] = "t\(round)" }
                return OutboxMessage(eventID: id, topic: "out-\(Int.random(in: 0..<3, using: &random))",
                                     key: Bool.random(using: &random) ? nil : Array(id.utf8), value: Data("v\(round):\(id)".utf8),
                                     headers: headers, partition: Bool.random(using: &random) ? nil : Int32.random(in: 0..<4, using: &random))
            }
            var expected: [OutboxMessage] = []
            for message in messages where stored.insert(message.eventID).inserted { expected.append(message) }
            let (written, all) = try shard.write { db in
                (try RuntimeTables.enqueue(db, messages, now: now), try RuntimeTables.all(db))
            }
            #expect(written.map { Self.content($0) } == expected.map { Self.content($0) }, "round \(round)")
            #expect(zip(written, written.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            // Each row is what the outbox holds under its sequence, read back.
            let bySequence = Dictionary(uniqueKeysWithValues: all.map { ($0.sequence, $0) })
            #expect(written.allSatisfy { bySequence[$0.sequence] == $0 }, "round \(round)")
            if round % 10 == 9 {
                // Everything published and pruned: new rows still get sequences past the old ones.
                try shard.write { db in
                    try RuntimeTables.storePublishedThrough(db, all.map(\.sequence).max() ?? 0, now: now)
                    try RuntimeTables.pruneSentOutbox(db, before: now.addingTimeInterval(1))
                }
                stored = []
            }
        }
    }

    private static func content(_ message: OutboxMessage) -> [String] {
        [message.eventID, message.topic, message.key.map { "\($0)" } ?? "-", String(decoding: message.value, as: UTF8.self),
         "\(message.headers.sorted { $0.key < $1.key })", "\(message.partition.map(String.init) ?? "-")"]
    }

    @Test("outbox headers are stored as JSON that reads back exactly, whatever the characters")
    func headersRoundTrip() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        let headers = ["event-id": "pay:1/captured", "quote\"back\\slash": "line\nbreak\ttab\u{01}control", "中文": "✓ é",
                       "": "empty key"]
        let stored = try shard.write { db in
            try RuntimeTables.enqueue(db, OutboxMessage(eventID: "e", topic: "out", key: nil, value: Data("v".utf8), headers: headers),
                                      now: Date())
            return try RuntimeTables.unsent(db, limit: 10)
        }
        #expect(stored.map(\.headers) == [headers])
        let text: String? = try shard.read { db in try String.fetchOne(db, sql: "SELECT headers FROM outbox") }
        #expect(text?.hasPrefix(#"{"":"empty key","event-id":"pay:1/captured","#) == true)
    }

    @Test("a record's savepoint keeps its writes when the body returns and undoes them when it throws, inside the batch's transaction")
    func recordSavepoint() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: .empty)
        defer { try? shard.close() }
        struct Refused: Error {}
        try shard.write { db in
            try RuntimeTables.inRecordSavepoint(db) {
                _ = try RuntimeTables.markProcessed(db, messageID: "kept", topic: "in", partition: 0, offset: 0, now: Date())
            }
            #expect(throws: Refused.self) {
                try RuntimeTables.inRecordSavepoint(db) {
                    _ = try RuntimeTables.markProcessed(db, messageID: "undone", topic: "in", partition: 0, offset: 1, now: Date())
                    throw Refused()
                }
            }
            try RuntimeTables.inRecordSavepoint(db) {
                _ = try RuntimeTables.markProcessed(db, messageID: "after", topic: "in", partition: 0, offset: 2, now: Date())
            }
        }
        let ids: [String] = try shard.read { db in try String.fetchAll(db, sql: "SELECT message_id FROM inbox ORDER BY offset") }
        #expect(ids == ["kept", "after"])
    }
}
