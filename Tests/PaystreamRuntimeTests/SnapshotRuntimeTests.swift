import Foundation
import Logging
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// Snapshots against Tansu: published by the worker, used by restores.
extension RuntimeTests {
    @Test("snapshots: the worker publishes its shards' copies; a lost folder starts from the newest that passes its checks (a corrupt newer one and a partial one are refused) and reads only the log after it, equal to a restore from offset 0; the host going on from it decides nothing twice")
    func snapshots() async throws {
        defer { broker.stop() }
        try broker.createTopics(["recorder.snapshots"], partitions: 2)
        let kafka = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        let logger = Logger(label: "test")
        var often = WorkerSettings()
        often.snapshotEveryBytes = 1
        let first = ids("a", 30)
        try await publish(ids: first)
        // A runs until each of its shards has a snapshot out.
        let a = Task { [self] in try await worker(settings: often, label: "A").run() }
        func snapshotted() async throws -> Bool {
            for partition in Int32(0)..<2 {
                let catalog = try await SnapshotStore(topic: "recorder.snapshots", partition: partition, kafka: kafka, logger: logger).catalog()
                guard catalog?.newest != nil else { return false }
            }
            return true
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while try await !snapshotted() {
            guard ContinuousClock.now < deadline else { throw TestSupportError("no snapshot of both shards within 60 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
        a.cancel()
        _ = try? await a.value
        // More after the snapshots, with snapshots off: the tail a restore must read.
        let second = ids("b", 20)
        try await publish(ids: second)
        var never = WorkerSettings()
        never.snapshotEveryBytes = 0
        never.snapshotEvery = .zero
        _ = try await run(worker(settings: never, label: "A")) { Set($0.compactMap(\.keyString)).isSuperset(of: first + second) }
        var catalogs: [Int32: SnapshotCatalog] = [:]
        for partition in Int32(0)..<2 {
            let catalog = try await SnapshotStore(topic: "recorder.snapshots", partition: partition, kafka: kafka, logger: logger).catalog()
            #expect(catalog != nil, "the snapshot topic exists")
            catalogs[partition] = catalog ?? SnapshotCatalog()
            #expect(!(catalogs[partition]!.usable.isEmpty), "p\(partition) was snapshotted")
        }
        // Partition 0's newest-looking snapshots are bad: one whose bytes do not match its
        // manifest, one whose second chunk never came.
        let good = try #require(catalogs[0]!.newest)
        var corrupt = good.manifest
        (corrupt.id, corrupt.txn, corrupt.chunks) = ("corrupt", good.manifest.txn + 1000, 1)
        var partial = good.manifest
        (partial.id, partial.txn, partial.chunks) = ("partial", good.manifest.txn + 2000, 2)
        try await produce([SnapshotWire.chunk(Array(repeating: 7, count: Int(corrupt.size)), index: 1, of: 1, id: "corrupt",
                                               topic: "recorder.snapshots", partition: 0),
                           SnapshotWire.manifest(corrupt, topic: "recorder.snapshots"),
                           SnapshotWire.chunk([1], index: 1, of: 2, id: "partial", topic: "recorder.snapshots", partition: 0),
                           SnapshotWire.manifest(partial, topic: "recorder.snapshots")])
        try FileManager.default.removeItem(atPath: stateDirectory)

        // A restore from the snapshots and one from offset 0 give the same shard.
        let folder = try temporaryDirectory("snapshot-restore")
        for partition in Int32(0)..<2 {
            var restorer = ShardRestorer(path: "\(folder)/p\(partition).sqlite", partition: partition, topic: "recorder.changelog",
                                         schema: RecordingStage(input: "in", output: "out").schema, kafka: kafka, synchronous: .full,
                                         logger: logger)
            restorer.snapshots = "recorder.snapshots"
            let summary = try await restorer.run()
            let used = try #require(summary.snapshot, "p\(partition) started from a snapshot")
            #expect(used == catalogs[partition]!.newest?.manifest, "the newest good one")
            #expect(summary.refusedSnapshots == (partition == 0 ? 1 : 0), "the corrupt one was tried and refused; the partial one never")
            let fromZero = try await ChangelogReader(topic: "recorder.changelog", partition: partition, kafka: kafka, logger: logger)
                .rebuild(into: "\(folder)/zero-p\(partition).sqlite", schema: RecordingStage(input: "in", output: "out").schema)
            #expect(summary.lastTxn == fromZero.lastTxn)
            #expect(summary.records < fromZero.applied, "only the tail was applied (\(summary.records) of \(fromZero.applied))")
            #expect(try ShardDump.of(path: "\(folder)/p\(partition).sqlite")
                .differences(from: ShardDump.of(path: "\(folder)/zero-p\(partition).sqlite")) == [], "p\(partition)")
        }

        // A host that lost its folder starts from them and goes on: every input once.
        let hostB = try temporaryDirectory("host-b")
        let third = ids("c", 10)
        try await publish(ids: third)
        let out = try await run(worker(settings: never, label: "B", directory: hostB)) {
            Set($0.compactMap(\.keyString)).isSuperset(of: first + second + third)
        }
        try expectOnce(out, first + second + third, in: hostB)
        #expect(try effects(in: hostB).filter { $0.label == "A" }.map(\.id).sorted() == (first + second).sorted(), "restored, not decided again")
    }

    @Test("standby: an instance keeps a warm copy of the partition it does not own, following its changelog; when the owner leaves it takes the partition over reading only the log after its copy, and every input has one outcome")
    func standby() async throws {
        defer { broker.stop() }
        let first = ids("a", 30)
        try await publish(ids: first)
        // A alone owns both partitions; B joins with standby copies of whatever it does not own.
        let workerA = worker(label: "A")
        let a = Task { try await workerA.run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        var records = try await reader.read(timeout: .seconds(60)) { Set($0.compactMap(\.keyString)).isSuperset(of: first) }
        var keeping = WorkerSettings()
        keeping.standby = .all
        keeping.maxBatchWait = .milliseconds(20)
        let hostB = try temporaryDirectory("host-b")
        let workerB = worker(settings: keeping, label: "B", directory: hostB)
        let b = Task { try await workerB.run() }
        func waitFor(_ what: String, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while try !condition() {
                guard ContinuousClock.now < deadline else { throw TestSupportError("\(what) within 60 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await waitFor("B owns a partition") { workerB.statistics.restores.count == 1 }
        let owned = workerB.statistics.restores.keys.first!, other: Int32 = 1 - owned
        let second = ids("b", 20)
        try await publish(ids: second)
        records += try await reader.read(timeout: .seconds(60)) { more in Set((records + more).compactMap(\.keyString)).isSuperset(of: first + second) }
        // B's copy of A's partition follows A's log: it holds everything A has confirmed.
        let copy = ShardStore.path(stateDirectory: hostB, stage: "recorder", partition: other)
        let original = ShardStore.path(stateDirectory: stateDirectory, stage: "recorder", partition: other)
        try await waitFor("B's standby copy catches up") {
            guard FileManager.default.fileExists(atPath: copy) else { return false }
            let confirmed = try ShardStore.readOnly(path: original) { try ChangelogTables.position($0) }.durableTxn
            return try ShardStore.readOnly(path: copy) { try ChangelogTables.position($0) }.lastTxn >= confirmed && confirmed > 0
        }
        let warm = try ShardStore.readOnly(path: copy) { try ChangelogTables.position($0) }.lastTxn

        // A leaves; B is assigned A's partition and promotes its copy.
        a.cancel()
        _ = try? await a.value
        try await waitFor("B takes A's partition") { workerB.statistics.restores[other] != nil }
        let promotion = try #require(workerB.statistics.restores[other])
        #expect(promotion.snapshot == nil, "the copy was there: no snapshot fetched")
        #expect(promotion.lastTxn >= warm)
        #expect(promotion.records <= promotion.lastTxn - warm + 1 && promotion.records < warm,
                "only the log after the copy was applied (\(promotion.records) records; the copy held \(warm))")
        let third = ids("c", 10)
        try await publish(ids: third)
        records += try await reader.read(timeout: .seconds(60)) { more in
            Set((records + more).compactMap(\.keyString)).isSuperset(of: first + second + third)
        }
        records += try await reader.readFor(.milliseconds(700))
        b.cancel()
        _ = try? await b.value
        await reader.close()
        let keys = records.compactMap(\.keyString)
        #expect(Set(keys) == Set(first + second + third))
        #expect(keys.count == Set(keys).count, "each output once")
        #expect(try effects(in: hostB).map(\.id).sorted() == (first + second + third).sorted(), "each effect once, all in B's shards")
    }
}
