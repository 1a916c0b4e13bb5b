import Foundation
import GRDB
import PaystreamKafka
@testable import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// Snapshots as values and files, without a broker: when they are due, which a restore may use,
/// and a copy that equals the log it covers.
@Suite("Shard snapshots: schedule, catalog, copy and install")
struct SnapshotTests {
    let schema = RecordingStage(input: "in", output: "out").schema

    @Test("the schedule: a shard is due after enough bytes or enough time with something published; one at a time; a failure waits; bytes published meanwhile count for the next")
    func schedule() {
        let start = ContinuousClock.now
        var schedule = SnapshotSchedule(limits: .init(everyBytes: 1000, every: .seconds(3600), retryAfter: .seconds(60)))
        schedule.open(0, bytes: 0, now: start)
        schedule.open(1, bytes: 1500, now: start)
        #expect(schedule.due(now: start) == [1], "p1's restore read more than the limit past its newest snapshot")
        // Time alone: nothing published, nothing to copy.
        #expect(schedule.due(now: start + .seconds(7200)) == [1])
        schedule.published(10, partition: 0)
        #expect(schedule.due(now: start + .seconds(3599)) == [1])
        #expect(schedule.due(now: start + .seconds(3600)) == [0, 1])
        schedule.started(1)
        #expect(schedule.due(now: start) == [], "one at a time")
        schedule.published(600, partition: 1)
        schedule.finished(1, published: true, now: start + .seconds(5))
        #expect(schedule.shards[1]?.bytes == 600, "what came while it ran counts for the next")
        #expect(schedule.due(now: start + .seconds(5)) == [])
        schedule.published(400, partition: 1)
        #expect(schedule.due(now: start + .seconds(6)) == [1])
        schedule.started(1)
        schedule.finished(1, published: false, now: start + .seconds(10))
        #expect(schedule.due(now: start + .seconds(69)) == [], "a failed one waits")
        #expect(schedule.due(now: start + .seconds(70)) == [1])
        schedule.close(1)
        #expect(schedule.due(now: start + .seconds(70)) == [])
        let off = SnapshotSchedule(limits: .init(everyBytes: 0, every: .zero))
        var offSchedule = off
        offSchedule.open(0, bytes: 1 << 30, now: start)
        #expect(offSchedule.due(now: start + .seconds(1 << 20)) == [])
    }

    func manifest(_ id: String, txn: Int64, chunks: Int) -> SnapshotManifest {
        SnapshotManifest(id: id, partition: 2, txn: txn, logNextOffset: txn * 2, epoch: 3, owner: "host/1 m-1", migrations: ["a", "b"],
                         size: 10, sha256: "00", chunks: chunks, createdAt: Date(timeIntervalSince1970: 1_800_000_000), instance: "host/1")
    }

    func consumed(_ messages: [OutgoingMessage], from offset: Int64) -> [ConsumedRecord] {
        messages.enumerated().map { index, message in
            ConsumedRecord(topic: message.topic, partition: message.partition ?? 0, offset: offset + Int64(index), key: message.key,
                           value: [], headers: message.headers)
        }
    }

    @Test("the catalog: a manifest after all its chunks is usable, newest record first; one with a chunk missing before it is partial; a chunk sent again counts at its last place")
    func catalog() throws {
        func chunks(_ id: String, _ indexes: [Int], of count: Int) -> [OutgoingMessage] {
            indexes.map { SnapshotWire.chunk([1, 2], index: $0, of: count, id: id, topic: "s.snapshots", partition: 2) }
        }
        let old = manifest("old", txn: 10, chunks: 2), new = manifest("new", txn: 20, chunks: 2), cut = manifest("cut", txn: 30, chunks: 3)
        let messages = chunks("old", [1, 2], of: 2) + [SnapshotWire.manifest(old, topic: "s.snapshots")]
            + chunks("new", [1, 2, 1], of: 2) + chunks("cut", [1, 3], of: 3) + [SnapshotWire.manifest(new, topic: "s.snapshots")]
            + [SnapshotWire.manifest(cut, topic: "s.snapshots")]
            + [OutgoingMessage(topic: "s.snapshots", key: nil, value: [], headers: [KafkaHeader(key: "snapshot-id", string: "x"),
                                                                                       KafkaHeader(key: "snapshot-kind", string: "manifest"),
                                                                                       KafkaHeader(key: "snapshot-manifest", string: "{")])]
        var catalog = SnapshotCatalog()
        for message in consumed(messages, from: 100) { catalog.add(message) }
        #expect(catalog.entries.map(\.manifest.id) == ["old", "new", "cut"])
        #expect(catalog.entries.map(\.manifest) == [old, new, cut], "manifests come back as written")
        #expect(catalog.usable.map(\.manifest.id) == ["new", "old"])
        #expect(catalog.entries[1].chunkOffsets == [105, 104], "chunk 1 sent again counts where it was last")
        #expect(catalog.entries[2].chunkOffsets == [106, nil, 107] && !catalog.entries[2].isComplete)
        #expect(catalog.unreadable.map(\.offset) == [110])
        // Truncating keeps the newest complete snapshots restorable: the log from the older one's offset.
        #expect(catalog.truncationOffset(keeping: 1) == new.logNextOffset)
        #expect(catalog.truncationOffset(keeping: 2) == min(new.logNextOffset, old.logNextOffset))
        #expect(catalog.truncationOffset(keeping: 3) == nil, "only two are complete")
    }

    @Test("a copy of a live shard installed in place of a missing file, with the log after it applied, equals the shard rebuilt from the whole log; a corrupt, short or newer-schema copy is refused and leaves the path alone")
    func copyAndInstall() throws {
        let folder = try temporaryDirectory("snapshot-copy")
        let live = try ShardStore(path: "\(folder)/live.sqlite", partition: 0, schema: schema)
        var log = try live.writeInputs(["a", "b", "c"])
        // Kafka has records 1–3, the last before offset 7; record 4 is not confirmed yet (the
        // copy holds it; a snapshot is published only once it is).
        try live.write { db in try ChangelogTables.markDurable(db, through: 3, nextOffset: 7) }
        let taken = try ShardSnapshot.take(from: live.path, into: "\(folder)/copy.sqlite")
        log += live.takeCaptured()
        #expect(taken.position.lastTxn == 4 && taken.position.logNextOffset == 7)
        #expect(taken.migrations == ShardStore.migrations(schema).map(\.0))
        #expect(try ShardSnapshot.checksum(of: taken.path) == (taken.size, taken.sha256))
        // The shard goes on after the copy.
        log += try live.writeInputs(["d", "e"])
        let manifest = SnapshotManifest(id: "s1", partition: 0, txn: 4, logNextOffset: 7, epoch: 0, owner: "", migrations: taken.migrations,
                                        size: taken.size, sha256: taken.sha256, chunks: 1, createdAt: Date(), instance: "test")
        let known = ShardStore.migrations(schema).map(\.0)

        // Refused: a flipped byte, a short file, a copy from a newer version. The path stays as it was.
        let target = "\(folder)/restored.sqlite"
        for (name, damage) in [("flipped", { (bytes: inout [UInt8]) in bytes[bytes.count / 2] ^= 0x40 }),
                               ("short", { (bytes: inout [UInt8]) in bytes.removeLast(4096) })] {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: taken.path)))
            damage(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/\(name).sqlite"))
            #expect(throws: ChangelogError.self, "\(name)") {
                try ShardSnapshot.install("\(folder)/\(name).sqlite", manifest: manifest, known: known, at: target)
            }
        }
        var newer = manifest
        newer.migrations.append("from-the-future")
        #expect(throws: ChangelogError.self) { try ShardSnapshot.install(taken.path, manifest: newer, known: known, at: target) }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try ShardRestore.isMissing(target))

        try ShardSnapshot.install(taken.path, manifest: manifest, known: known, at: target)
        #expect(!FileManager.default.fileExists(atPath: taken.path), "moved into place")
        let restore = try ShardRestore(path: target, schema: schema)
        #expect(restore.position == ChangelogPosition(lastTxn: 4, durableTxn: 4, logNextOffset: 7))
        #expect(restore.unconfirmed.isEmpty, "the copy's queue is not its own")
        // The tail from the manifest's offset: records 4.. (4 again, as the log has it).
        #expect(try restore.apply(Array(log.dropFirst(3)), logNextOffset: 12) == 2)
        try restore.close()
        let whole = try ShardRestore(path: "\(folder)/whole.sqlite", schema: schema)
        try whole.apply(log, logNextOffset: 12)
        try whole.close()
        try live.close()
        #expect(try ShardDump.of(path: target).differences(from: ShardDump.of(path: "\(folder)/whole.sqlite")) == [])
        #expect(try ShardDump.of(path: target).differences(from: ShardDump.of(path: "\(folder)/live.sqlite")) == [])
        // And it opens as a shard that numbers on after the log.
        let reopened = try ShardStore(path: target, partition: 0, schema: schema)
        #expect(try reopened.writeInputs(["f"]).map(\.txn) == [7])
        try reopened.close()
    }

    @Test("a state folder: instances share it, but one that keeps standby copies must have it alone (its copies are the files an owner there would use)")
    func folderLock() throws {
        let folder = try temporaryDirectory("folder-lock")
        var first: StateFolderLock? = try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: false)
        let second = try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: false)
        #expect(throws: ShardLayoutError.self) { try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: true) }
        first = nil
        _ = second
        #expect(throws: ShardLayoutError.self) { try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: true) }
        _ = consume second
        let standby = try Self.lockOnceFree(folder)
        #expect(throws: ShardLayoutError.self) { try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: false) }
        #expect(try StateFolderLock(stateDirectory: folder, stage: "other", exclusive: false).path.hasSuffix("other/.instances.lock"))
        _ = standby
        #expect(first == nil)
    }

    /// The exclusive lock, once the shared ones this test released are free. A released lock can
    /// stay held for a moment by a process another test of this run is starting: its child has
    /// a copy of every descriptor from its fork until its exec closes the `O_CLOEXEC` ones (the
    /// CI run on 5994947 failed here once). So the lock is tried again until it is free, for at
    /// most 10 s; anything else holding it still fails the test.
    static func lockOnceFree(_ folder: String) throws -> StateFolderLock {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try StateFolderLock(stateDirectory: folder, stage: "recorder", exclusive: true)
            } catch is ShardLayoutError where ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }
}
