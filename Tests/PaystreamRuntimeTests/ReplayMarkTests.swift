import Foundation
import Logging
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// `paystream dlq replay` sets `paystream-replay-of: <dead letter id>` on what it publishes; the
/// runtime marks `replay:<id>` in the inbox with the decision, so one dead letter replayed twice
/// has one effect, even for an input without a message id, and even when it was forwarded.
extension RuntimeTests {
    @Test("a record replayed twice under one dead letter id has one effect, also through the repartition topic; another id is another effect")
    func replayMarkDedups() async throws {
        defer { broker.stop() }
        let key = "k"
        let canonical = KeyPartitioner.partition(of: Array(key.utf8), partitionCount: 2)
        let value = #"{"id":"anon-1","n":1}"#
        func replay(_ id: String, partition: Int32? = nil) -> OutgoingMessage {
            OutgoingMessage(topic: "in", key: key, value: value,
                            headers: [KafkaHeader(key: DeadLetter.replayOfHeader, string: id)], partition: partition)
        }
        // The same dead letter three times: on the key's partition, again there, and on the other
        // partition (forwarded, headers kept); then a second dead letter with the same bytes.
        try await produce([replay("in.dlq:0:7"), replay("in.dlq:0:7"), replay("in.dlq:0:7", partition: 1 - canonical),
                           replay("in.dlq:1:3")])

        let worker = worker()
        let task = Task { try await worker.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        // Done when the key's shard has consumed the three records on its partition and the forwarded copy.
        func consumed() throws -> Int64 {
            let path = ShardStore.path(stateDirectory: stateDirectory, stage: "recorder", partition: canonical)
            guard FileManager.default.fileExists(atPath: path) else { return 0 }
            return try ShardStore.readOnly(path: path) { db in
                guard try db.tableExists("consumed_offset") else { return 0 }
                let next = try RuntimeTables.nextOffsets(db)
                return (next["in"]?[canonical] ?? 0) + (next["in.repartition"]?[canonical] ?? 0)
            }
        }
        while try consumed() < 4 {
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        _ = try? await task.value
        #expect(try consumed() == 4, "the shard consumed 3 records on \(canonical) and 1 forwarded copy")
        let rows = try effects(in: stateDirectory)
        #expect(rows.map(\.id) == ["anon-1", "anon-1"], "one effect per dead letter id: \(rows)")
        let marks = try ShardStore.readOnly(path: ShardStore.path(stateDirectory: stateDirectory, stage: "recorder", partition: canonical)) { db in
            try ["replay:in.dlq:0:7", "replay:in.dlq:1:3"].map { try RuntimeTables.isProcessed(db, messageID: $0) }
        }
        #expect(marks == [true, true])
    }
}
