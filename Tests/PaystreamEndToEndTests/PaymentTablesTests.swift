import Foundation
import GRDB
@testable import PaymentWorker
import PaystreamDomain
import PaystreamStore
import PaystreamTesting
import Testing

/// Reading back what older shards wrote.
@Suite("payment tables")
struct PaymentTablesTests {
    @Test("a payment's splits read back as written now (party_id) and as older shards wrote them (partyId)")
    func storedSplits() throws {
        #expect(try PaymentTables.storedSplits(#"[{"party_id":"a","amount":1},{"party_id":"partyId","amount":2}]"#)
                == [Split(partyId: "a", amount: 1), Split(partyId: "partyId", amount: 2)])
        #expect(try PaymentTables.storedSplits(#"[{"partyId":"b","amount":3}]"#) == [Split(partyId: "b", amount: 3)])
        #expect(try PaymentTables.storedSplits("[]") == [])
        #expect(throws: DecodingError.self) { try PaymentTables.storedSplits(#"[{"party":"c","amount":3}]"#) }
    }

    @Test("the request log is pruned oldest first in the order it was written, up to the first request received after the cutoff (no index on its time)")
    func requestLogPrunedInOrder() throws {
        let directory = try temporaryDirectory()
        let shard = try ShardStore(path: "\(directory)/p0.sqlite", partition: 0, schema: PaymentTables.schema)
        defer { try? shard.close() }
        // r-3 was logged after a clock that went back: it is old, but waits behind r-2.
        let received = ["2026-12-01T00:00:00.000Z", "2026-12-01T00:00:01.000Z", "2026-12-09T00:00:00.000Z",
                        "2026-12-01T00:00:02.000Z", "2026-12-09T00:00:01.000Z"]
        let pruned = try shard.write { db in
            for (i, time) in received.enumerated() {
                try PaymentTables.logRequest(db, requestID: "r-\(i)", fingerprint: "f", paymentID: "pay-r-\(i)", status: "authorized",
                                             eventIDs: ["e-\(i)"], now: time)
            }
            return try PaymentTables.pruneRequestLog(db, before: "2026-12-08T00:00:00.000Z")
        }
        let left = try shard.read { db in try (0..<5).filter { try PaymentTables.requestLog(db, requestID: "r-\($0)") != nil } }
        #expect(pruned == 2 && left == [2, 3, 4])
        let indexes = try shard.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_log'") }
        #expect(indexes.allSatisfy { $0.hasPrefix("sqlite_autoindex") }, "only the request id's own index: \(indexes)")
        // Once the newer one is old enough, the rest go too.
        #expect(try shard.write { db in try PaymentTables.pruneRequestLog(db, before: "2026-12-10T00:00:00.000Z") } == 3)
    }

    @Test("the payment row's JSON columns are Foundation's sorted-keys bytes, with the metadata's keys as the upstream spelt them")
    func jsonColumnsAsFoundation() throws {
        let metadata: JSONValue = .object([
            "orderRef": .string("A/1 \u{e9}\u{0}\"q\""), "camelCaseKey": .array([.integer(Int64.max), .number(2.0), .number(0.1), .number(1e300)]),
            "nested": .object(["zKey": .bool(true), "aKey": .null, "MixedCase": .integer(-7)]), "": .string("empty key"),
        ])
        let splits = [Split(partyId: "sup/1", amount: 5), Split(partyId: "\u{1F600}", amount: 1)]
        let eventIDs = ["pe:payer/1:pay-1:1", "rj:\u{0}x"]
        func foundation<T: Encodable>(_ value: T) throws -> String {
            String(decoding: try JSONEncoder.sortedKeys.encode(value), as: UTF8.self)
        }
        #expect(try PaymentTables.json(metadata) == foundation(metadata))
        #expect(try PaymentTables.json(metadata).contains("\"camelCaseKey\""))
        for splits in [splits, [], [splits[0]]] {
            #expect(try PaymentTables.splitsColumn(splits) == foundation(splits))
            #expect(try PaymentTables.storedSplits(PaymentTables.splitsColumn(splits)) == splits)
        }
        for ids in [eventIDs, [], ["one"], ["tab\tnew\nline", "back\\slash", "\u{7f}\u{1f}"]] {
            #expect(PaymentTables.eventIDsColumn(ids) == (try foundation(ids)))
        }
    }
}
