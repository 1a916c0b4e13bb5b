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
