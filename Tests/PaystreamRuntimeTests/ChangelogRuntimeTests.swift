import Foundation
import GRDB
import Logging
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// Shards on the changelog, against Tansu: "hosts" are separate state folders sharing a broker.
extension RuntimeTests {
    func ids(_ prefix: String, _ count: Int) -> [String] { (0..<count).map { "\(prefix)-\($0)" } }

    func publish(ids: [String]) async throws {
        try await publish(ids.map { ($0, #"{"id":"\#($0)","n":1}"#) })
    }

    /// Each output key exactly once, and every effect stored once, in `directory`.
    func expectOnce(_ out: [ConsumedRecord], _ ids: [String], in directory: String,
                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let keys = out.filter { $0.topic == "out" }.compactMap(\.keyString)
        #expect(keys.sorted() == ids.sorted(), "each output once", sourceLocation: sourceLocation)
        let stored = try effects(in: directory).map(\.id)
        #expect(stored.sorted() == ids.sorted(), "each effect once", sourceLocation: sourceLocation)
    }

    @Test("a host lost with its state folder: another host restores every shard from the changelog and goes on; one effect and one output per input; the log rebuilds the lost shards exactly")
    func hostLost() async throws {
        defer { broker.stop() }
        let first = ids("a", 20)
        try await publish(ids: first)
        _ = try await run(worker(label: "A")) { Set($0.compactMap(\.keyString)).isSuperset(of: first) }
        // Host A is gone, disk and all: what it held is kept aside for the comparison, then deleted.
        let paths = ShardStore.paths(stateDirectory: stateDirectory, stage: "recorder")
        #expect(paths.count == 2)
        let lost = try paths.map { path in
            (path, try ShardDump.of(path: path), try ShardStore.readOnly(path: path) { try ChangelogTables.position($0) })
        }
        try FileManager.default.removeItem(atPath: stateDirectory)

        let hostB = try temporaryDirectory("host-b")
        let second = ids("b", 10)
        try await publish(ids: second)
        let out = try await run(worker(label: "B", directory: hostB)) { Set($0.compactMap(\.keyString)).isSuperset(of: first + second) }
        try expectOnce(out, first + second, in: hostB)
        // A's effects came back with A's label: restored, not decided again.
        #expect(try effects(in: hostB).filter { $0.label == "A" }.map(\.id).sorted() == first.sorted())

        // The log alone, up to A's last record, gives back each of A's shards table by table.
        let kafka = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        for (path, dump, position) in lost {
            #expect(position.durableTxn == position.lastTxn, "A left nothing unconfirmed")
            let partition = Int32(String((path as NSString).lastPathComponent.dropFirst().prefix { $0.isNumber }))!
            let copy = "\(try temporaryDirectory("rebuilt"))/p\(partition).sqlite"
            _ = try await ChangelogReader(topic: "recorder.changelog", partition: partition, kafka: kafka, logger: Logger(label: "test"))
                .rebuild(into: copy, schema: RecordingStage(input: "in", output: "out").schema, through: position.lastTxn)
            #expect(try ShardDump.of(path: copy).differences(from: dump) == [], "p\(partition)")
        }
    }

    @Test("a zombie: an old owner that never learns it lost its partitions goes on deciding after the new owner's claim; none of that is published, it lets the shards go and sets their files aside, and every input has one outcome")
    func zombie() async throws {
        defer { broker.stop() }
        try broker.createTopics(["zombie.out"], partitions: 2)
        let first = ids("a", 20)
        try await publish(ids: first)
        // A: alone in its group, so no rebalance ever tells it that B took its partitions; and
        // slow to read its changelog back, so it decides for a while after B's claim.
        var slow = WorkerSettings()
        slow.readBackDelay = .milliseconds(1500)
        let a = Task { [self] in try await worker(settings: slow, label: "A", output: "zombie.out", group: "recorder-a").run() }
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["zombie.out", "out"])
        func keys(_ records: [ConsumedRecord], on topic: String) -> Set<String> {
            Set(records.filter { $0.topic == topic }.compactMap(\.keyString))
        }
        var records = try await reader.read(timeout: .seconds(60)) { keys($0, on: "zombie.out").isSuperset(of: first) }
        // B, on another host in another group, takes every partition: restores, claims, decides.
        let hostB = try temporaryDirectory("host-b")
        let b = Task { [self] in try await worker(label: "B", directory: hostB, group: "recorder-b").run() }
        // Inputs keep coming while B starts, until A has noticed B's claims (both of its files
        // set aside): A decides those that came between the claims and its noticing.
        func noticed() throws -> Bool {
            try FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/recorder").filter { $0.hasSuffix(".sqlite") }.isEmpty
        }
        var stream: [String] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while try !noticed() {
            guard ContinuousClock.now < deadline else { throw TestSupportError("A never noticed B's claims") }
            let chunk = (stream.count..<stream.count + 5).map { "s-\($0)" }
            try await publish(ids: chunk)
            stream += chunk
            try await Task.sleep(for: .milliseconds(50))
        }
        records += try await reader.read(timeout: .seconds(60)) { more in
            keys(records + more, on: "zombie.out").union(keys(records + more, on: "out")).isSuperset(of: first + stream)
        }
        records += try await reader.readFor(.seconds(1))
        // A noticed the claims: both shard files set aside, none left in use.
        let aside = try FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/recorder")
        #expect(aside.filter { $0.hasSuffix(".sqlite") }.isEmpty, "\(aside)")
        #expect(aside.filter { $0.contains(".sqlite.fenced-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.count == 2, "\(aside)")
        b.cancel()
        a.cancel()
        _ = try? await b.value
        _ = try? await a.value
        await reader.close()
        // Every input has one effect in B's shards: decided by A before B's claim, or by B.
        let effects = try effects(in: hostB)
        #expect(effects.map(\.id).sorted() == (first + stream).sorted(), "each input once")
        let byA = Set(effects.filter { $0.label == "A" }.map(\.id)), byB = Set(effects.filter { $0.label == "B" }.map(\.id))
        #expect(byA.isSuperset(of: first))
        // Published by A: only what B's state holds as A's. Nothing A decided after the claim.
        #expect(keys(records, on: "zombie.out").subtracting(byA).isEmpty, "A published \(keys(records, on: "zombie.out").subtracting(byA).sorted())")
        #expect(keys(records, on: "out") == byB)
        let outputs = records.filter { $0.topic == "out" }.compactMap(\.keyString)
        #expect(outputs.count == Set(outputs).count, "each of B's outputs once")
        // What A decided after the claim stayed in its own files, and went nowhere.
        var heldByA: Set<String> = []
        for file in aside where file.contains(".sqlite.fenced-") && !file.hasSuffix("-wal") && !file.hasSuffix("-shm") {
            heldByA.formUnion(try ShardStore.readOnly(path: "\(stateDirectory)/recorder/\(file)") { try String.fetchAll($0, sql: "SELECT id FROM effect") })
        }
        heldByA.subtract(byA)
        #expect(!heldByA.isEmpty, "A decided inputs after B's claim (its read-back is slow)")
        #expect(heldByA.isSubset(of: byB), "B decided them: one outcome each")
        print("zombie test: \(byA.count - first.count) streamed inputs decided by A before the claim, \(byB.count) by B, \(heldByA.count) by A after it and never published")
        // B's shards are exactly what the log gives, fenced records left out.
        let kafka = KafkaConfiguration(bootstrapServers: broker.bootstrapServers)
        for partition in Int32(0)..<2 {
            let copy = "\(try temporaryDirectory("rebuilt"))/p\(partition).sqlite"
            _ = try await ChangelogReader(topic: "recorder.changelog", partition: partition, kafka: kafka, logger: Logger(label: "test"))
                .rebuild(into: copy, schema: RecordingStage(input: "in", output: "out").schema)
            let live = ShardStore.path(stateDirectory: hostB, stage: "recorder", partition: partition)
            #expect(try ShardDump.of(path: copy).differences(from: ShardDump.of(path: live)) == [], "p\(partition)")
        }
    }

    /// Host A decides `all` and dies at `point` with nothing of it published; its folder is
    /// deleted and host B takes over until every output is out. What A had decided, B's folder,
    /// and the outputs.
    func crashThenTakeOver(at point: CrashPoint, _ all: [String]) async throws -> (decided: [String], hostB: String, out: [ConsumedRecord]) {
        try await publish(ids: all)
        var crashing = WorkerSettings()
        crashing.crashPoint = point
        await #expect(throws: SimulatedCrash.self) { try await worker(settings: crashing, label: "A").run() }
        let decided = try effects(in: stateDirectory).map(\.id)
        #expect(!decided.isEmpty, "A committed locally")
        let early = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: ["out"])
        #expect(try await early.readFor(.milliseconds(500)).isEmpty, "nothing of it was published")
        await early.close()
        try FileManager.default.removeItem(atPath: stateDirectory)

        let hostB = try temporaryDirectory("host-b")
        let out = try await run(worker(label: "B", directory: hostB)) { Set($0.compactMap(\.keyString)) == Set(all) }
        try expectOnce(out, all, in: hostB)
        return (decided, hostB, out)
    }

    @Test("a host that dies between its commit and the changelog record published nothing of it; with its folder gone, the next owner decides those inputs again, once")
    func crashBeforeChangelog() async throws {
        defer { broker.stop() }
        let (_, hostB, _) = try await crashThenTakeOver(at: .afterCommitBeforeChangelog, ids("c", 12))
        #expect(try effects(in: hostB).allSatisfy { $0.label == "B" }, "decided again on B: A's commit never reached the log")
    }

    @Test("a host that dies after the changelog record but before the outbox: the next owner restores the decision and publishes its outputs, once")
    func crashAfterChangelog() async throws {
        defer { broker.stop() }
        let (decided, hostB, _) = try await crashThenTakeOver(at: .afterChangelogBeforePublish, ids("d", 12))
        // What A decided and put in the log is B's now, as A decided it (A may have committed more
        // after that record, which never reached the log: B decided those again).
        let restored = Set(try effects(in: hostB).filter { $0.label == "A" }.map(\.id))
        #expect(!restored.isEmpty && restored.isSubset(of: Set(decided)), "\(restored) of \(decided)")
    }
}

extension RuntimeTests {
    @Test("A → B → A: a file that is a prefix of the log catches up from it and is reused; a stale file holding records the log never got (the partition was claimed since) is set aside and the shard restored; every input has one outcome")
    func movesBack() async throws {
        defer { broker.stop() }
        let hostB = try temporaryDirectory("host-b")
        // A decides, and its last commits never reach the log (it dies in between).
        let first = ids("a", 12)
        try await publish(ids: first)
        var crashing = WorkerSettings()
        crashing.crashPoint = .afterCommitBeforeChangelog
        await #expect(throws: SimulatedCrash.self) { try await worker(settings: crashing, label: "A").run() }
        let staleByA = Set(try effects(in: stateDirectory).map(\.id))
        #expect(!staleByA.isEmpty)
        // B, on another host, takes every partition, claims it and decides those inputs again.
        let second = ids("b", 8)
        try await publish(ids: second)
        _ = try await run(worker(label: "B", directory: hostB)) { Set($0.compactMap(\.keyString)).isSuperset(of: first + second) }
        // A comes back with its stale file: it is not a prefix of the log (B claimed the
        // partitions after A's unconfirmed records were written), so it is set aside.
        let third = ids("c", 8)
        try await publish(ids: third)
        let workerA = worker(label: "A")
        var out = try await run(workerA) { Set($0.compactMap(\.keyString)).isSuperset(of: first + second + third) }
        let aside = try FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/recorder")
            .filter { $0.contains(".sqlite.diverged-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(!aside.isEmpty, "A's stale file was set aside")
        #expect(workerA.statistics.restores.values.contains { $0.records > 0 }, "and its shard restored from the log")
        try expectOnce(out, first + second + third, in: stateDirectory)

        // A → B again, then back to A with a file that is a prefix of the log: reused, only the
        // log after it read.
        let before = try ShardStore.paths(stateDirectory: stateDirectory, stage: "recorder").map {
            try ShardStore.readOnly(path: $0) { try ChangelogTables.position($0) }.lastTxn
        }
        let fourth = ids("d", 8)
        try await publish(ids: fourth)
        _ = try await run(worker(label: "B", directory: hostB)) { Set($0.compactMap(\.keyString)).isSuperset(of: fourth) }
        let fifth = ids("e", 8)
        try await publish(ids: fifth)
        let back = worker(label: "A")
        out = try await run(back) { Set($0.compactMap(\.keyString)).isSuperset(of: fifth) }
        let asideAfter = try FileManager.default.contentsOfDirectory(atPath: "\(stateDirectory)/recorder")
            .filter { $0.contains(".sqlite.diverged-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(asideAfter.count == aside.count, "nothing more set aside: A's files were prefixes of the log")
        for (partition, restore) in back.statistics.restores {
            #expect(restore.snapshot == nil && restore.records > 0 && restore.records < restore.lastTxn,
                    "p\(partition): only B's records after A's file were applied (\(restore.records) of \(restore.lastTxn))")
        }
        #expect(before.count == 2)
        try expectOnce(out, first + second + third + fourth + fifth, in: stateDirectory)
    }
}

extension Array {
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
