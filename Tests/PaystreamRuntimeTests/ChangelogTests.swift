import Foundation
import GRDB
import PaystreamKafka
@testable import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// The changelog as values and files, without a broker: the gate that holds the outbox back,
/// the wire format and its reassembly, and restores that refuse what they must.
@Suite("Shard changelog: gate, wire format, restore")
struct ChangelogTests {
    static func record(_ txn: Int64, outboxBefore: Int64 = 0, bytes: Int = 8) -> ChangelogRecord {
        ChangelogRecord(kind: .transaction, txn: txn, outboxBefore: outboxBefore, sequences: ["outbox": outboxBefore + 1],
                        patchset: Data((0..<bytes).map { UInt8(truncatingIfNeeded: Int(txn) &* 31 &+ $0) }))
    }

    @Test("the gate: outbox rows past the first unconfirmed record wait; a record counts once read back in order, not when acknowledged; a failed round sends everything again")
    func gate() {
        var gate = ChangelogGate(durableTxn: 4, logNextOffset: 10)
        #expect(gate.releasableThrough == nil)
        gate.committed([Self.record(3), Self.record(5, outboxBefore: 20), Self.record(6, outboxBefore: 22)])
        // Record 3 is already in Kafka: only 5 and 6 are pending; rows up to 20 were written before 5.
        #expect(gate.pending.map(\.txn) == [5, 6])
        #expect(gate.releasableThrough == 20)
        let first = gate.takeToSend(limit: 1)
        let second = gate.takeToSend(limit: 10)
        #expect(first.records.map(\.txn) == [5] && second.records.map(\.txn) == [6])
        #expect(!gate.hasUnsent)
        // Record 5's round failed: both go again, and the round of 6 made before is stale.
        #expect(gate.settle(first.records, generation: first.generation, delivered: false) == .resend)
        #expect(gate.settle(second.records, generation: second.generation, delivered: true) == .stale)
        #expect(gate.releasableThrough == 20 && gate.hasUnsent)
        let again = gate.takeToSend(limit: 10)
        #expect(again.records.map(\.txn) == [5, 6])
        // Acknowledged is not enough: nothing is released before the records are read back.
        #expect(gate.settle(again.records, generation: again.generation, delivered: true) == .delivered)
        #expect(gate.releasableThrough == 20 && !gate.hasUnsent)
        // Read back out of order (6 before 5, after a resend): only the next one counts.
        #expect(gate.readBack(6, nextOffset: 12) == nil)
        #expect(gate.readBack(5, nextOffset: 11)?.txn == 5)
        #expect(gate.releasableThrough == 22)
        #expect(gate.readBack(5, nextOffset: 13) == nil, "a copy")
        #expect(gate.readBack(6, nextOffset: 15)?.txn == 6)
        #expect(gate.releasableThrough == nil && gate.isSettled)
        #expect(gate.unstored?.txn == 6 && gate.unstored?.nextOffset == 15)
        gate.stored(6)
        #expect(gate.unstored == nil)
        // A round that failed after its records were read back anyway sends nothing again.
        gate.committed([Self.record(7, outboxBefore: 30)])
        let late = gate.takeToSend(limit: 10)
        #expect(gate.readBack(7, nextOffset: 16)?.txn == 7)
        #expect(gate.settle(late.records, generation: late.generation, delivered: false) == .stale && !gate.hasUnsent)
    }

    @Test("the tail: only the owner's records after its claim count, in order; a newer claim fences it; a record cut by a restart is read whole again")
    func tail() throws {
        let owner = ChangelogClaimant(epoch: 3, owner: "me"), zombie = ChangelogClaimant(epoch: 2, owner: "old")
        func stamped(_ txn: Int64, _ claimant: ChangelogClaimant, bytes: Int = 8) -> ChangelogRecord {
            var record = Self.record(txn, bytes: bytes)
            (record.epoch, record.owner) = (claimant.epoch, claimant.owner)
            return record
        }
        var offset: Int64 = 100
        func wire(_ record: ChangelogRecord) -> [ConsumedRecord] {
            let messages = consumed(ChangelogWire.messages(for: record, topic: "s.changelog", partition: 1, instance: "i", maxChunkBytes: 4_096),
                                    from: offset)
            offset += Int64(messages.count)
            // The tail reads headers only: the values do not come.
            return messages.map { ConsumedRecord(topic: $0.topic, partition: $0.partition, offset: $0.offset, key: $0.key, value: [],
                                                 headers: $0.headers) }
        }
        var follower = TailFollower(partition: 1, owner: owner, through: 9, from: 100)
        var events: [TailEvent] = []
        let early = wire(stamped(10, zombie)) + wire(stamped(10, owner)) + wire(stamped(12, owner))
        let bigChunks = wire(stamped(11, owner, bytes: 10_000))
        #expect(bigChunks.count == 3)
        for message in early + bigChunks.prefix(2) {
            if let event = try follower.take(message) { events.append(event) }
        }
        #expect(events == [.readBack(partition: 1, txn: 10, nextOffset: 102)], "the zombie's record and 12 before 11 do not count")
        // Reassigned mid-record: reading resumes at the record's first chunk.
        #expect(follower.resumeOffset == 103)
        follower.restart()
        for message in bigChunks + wire(stamped(12, owner)) + wire(ChangelogRecord.claim(ChangelogClaimant(epoch: 4, owner: "next"), lastTxn: 12))
            + wire(stamped(13, owner)) {
            if let event = try follower.take(message) { events.append(event) }
        }
        #expect(events.dropFirst() == [.readBack(partition: 1, txn: 11, nextOffset: 106), .readBack(partition: 1, txn: 12, nextOffset: 107),
                                       .fenced(partition: 1, by: ChangelogClaimant(epoch: 4, owner: "next"))])
        #expect(follower.isFenced)
    }

    func consumed(_ messages: [OutgoingMessage], from offset: Int64 = 0) -> [ConsumedRecord] {
        messages.enumerated().map { index, message in
            ConsumedRecord(topic: message.topic, partition: message.partition ?? 0, offset: offset + Int64(index), key: message.key,
                           value: message.value, headers: message.headers)
        }
    }

    @Test("the wire: a record cut into chunks comes back whole; an interrupted record is dropped; a corrupt one is refused")
    func wire() throws {
        var big = Self.record(1, bytes: 2_500)
        (big.epoch, big.owner) = (3, "host-b/42 member-7")
        let messages = ChangelogWire.messages(for: big, topic: "s.changelog", partition: 3, instance: "test", maxChunkBytes: 1_000)
        #expect(messages.count == 3 && messages.allSatisfy { $0.partition == 3 && $0.value.count <= 1_000 })
        var assembler = ChangelogAssembler()
        let records = consumed(messages)
        #expect(try assembler.add(records[0]) == nil)
        #expect(try assembler.add(records[1]) == nil)
        let whole = try #require(try assembler.add(records[2]))
        #expect(whole.record == big && whole.nextOffset == 3)
        // A writer that died after the first chunk, then the record sent again from its start.
        let small = ChangelogWire.messages(for: Self.record(2), topic: "s.changelog", partition: 3, instance: "test")
        var interrupted = ChangelogAssembler()
        #expect(try interrupted.add(records[0]) == nil)
        let second = try #require(try interrupted.add(consumed(small, from: 3)[0]))
        #expect(second.record.txn == 2 && interrupted.dropped == 1)
        // A flipped byte fails the checksum.
        var corrupt = consumed(small)[0]
        corrupt = ConsumedRecord(topic: corrupt.topic, partition: corrupt.partition, offset: 0, key: corrupt.key,
                                 value: corrupt.value.map { $0 ^ 1 }, headers: corrupt.headers)
        var checking = ChangelogAssembler()
        #expect(throws: ChangelogError.self) { try checking.add(corrupt) }
    }

    /// A shard of the recording stage with a few transactions, and its records.
    func shardWithRecords(_ path: String, inputs: [String]) throws -> (ShardStore, [ChangelogRecord]) {
        let shard = try ShardStore(path: path, partition: 0, schema: RecordingStage(input: "in", output: "out").schema)
        return (shard, try shard.writeInputs(inputs))
    }

    @Test("a restore applies each record once in order, carries the outbox counter, skips a record after a gap, and sets aside a diverged file")
    func restore() throws {
        let folder = try temporaryDirectory("changelog-restore")
        let (shard, records) = try shardWithRecords("\(folder)/original.sqlite", inputs: ["a", "b", "c"])
        #expect(records.map(\.kind) == [.schema, .transaction, .transaction, .transaction])
        #expect(records.map(\.txn) == [1, 2, 3, 4])
        // Pruned rows must not let the counter go back: the restored outbox goes on after 3.
        try shard.write { db in try db.execute(sql: "DELETE FROM outbox WHERE sequence = 3") }
        let all = records + shard.takeCaptured()
        try shard.close()

        let copy = try ShardRestore(path: "\(folder)/copy.sqlite", schema: RecordingStage(input: "in", output: "out").schema)
        // Sent twice, and record 4 once before a gap (its round failed and went again).
        #expect(try copy.apply(Array(all[0...1]) + [all[3]] + Array(all[1...]), logNextOffset: 9) == all.count)
        try copy.close()
        #expect(try ShardDump.of(path: "\(folder)/copy.sqlite").differences(from: ShardDump.of(path: "\(folder)/original.sqlite")) == [])
        let reopened = try ShardStore(path: "\(folder)/copy.sqlite", partition: 0, schema: RecordingStage(input: "in", output: "out").schema)
        let next = try reopened.write { db in
            try RuntimeTables.enqueued(db, OutboxMessage(eventID: "out:d", topic: "out", key: nil, value: Data()), now: Date())
        }
        #expect(next?.sequence == 4)
        // Numbering goes on after the restored records.
        #expect(reopened.takeCaptured().map(\.txn) == [all.count + 1].map(Int64.init))
        try reopened.close()

        // A file that made record 5 and never got it out, while the log has another record 5.
        let (mine, made) = try shardWithRecords("\(folder)/mine.sqlite", inputs: ["a", "b", "c", "x"])
        try mine.close()
        let diverged = try ShardRestore(path: "\(folder)/mine.sqlite", schema: RecordingStage(input: "in", output: "out").schema)
        #expect(diverged.unconfirmed.map(\.txn) == made.map(\.txn))
        #expect(throws: ChangelogDivergence.self) { try diverged.apply(all, logNextOffset: 9) }
        try diverged.close()

        // A file whose own records reached the log only in part (killed mid-round): reading the
        // log confirms those, and the rest stay queued for the worker to publish before any
        // outbox row they hold back.
        let (partial, ownRecords) = try shardWithRecords("\(folder)/partial.sqlite", inputs: ["p", "q"])
        try partial.close()
        let reopened2 = try ShardRestore(path: "\(folder)/partial.sqlite", schema: RecordingStage(input: "in", output: "out").schema)
        #expect(try reopened2.apply(Array(ownRecords.prefix(2)), logNextOffset: 2) == 0)
        #expect(reopened2.position.durableTxn == 2 && reopened2.position.lastTxn == 3)
        try reopened2.close()
        let again = try ShardStore(path: "\(folder)/partial.sqlite", partition: 0, schema: RecordingStage(input: "in", output: "out").schema)
        #expect(again.takeCaptured().map(\.txn) == [3], "record 3 is still to be published")
        try again.close()
    }

    @Test("a file is behind the log only when the log's first message comes after where the file stands (truncated past it)")
    func behind() {
        #expect(ChangelogBehind(path: "p", position: 40, firstRead: 40) == nil, "reads on where it stopped")
        #expect(ChangelogBehind(path: "p", position: 40, firstRead: nil) == nil, "nothing new")
        #expect(ChangelogBehind(path: "p", position: 0, firstRead: 7) == nil, "a new file: the first-record check refuses it")
        #expect(ChangelogBehind(path: "p", position: 40, firstRead: 40) == nil, "nothing read, the end reached where it stands")
        let behind = ChangelogBehind(path: "p", position: 40, firstRead: 95)
        #expect(behind?.logStart == 95 && behind?.description.contains("truncated past the file") == true)
    }

    @Test("the fence: a newer claim takes over, a claim not newer is ignored, and records count only under the current claim")
    func fence() {
        func record(_ txn: Int64, _ epoch: Int64, _ owner: String, kind: ChangelogRecord.Kind = .transaction) -> ChangelogRecord {
            ChangelogRecord(kind: kind, txn: txn, epoch: epoch, owner: owner)
        }
        var fence = ChangelogFence()
        #expect(fence.admit(record(1, 0, "")) == .admitted, "records from before claims existed")
        #expect(fence.admit(record(1, 1, "a", kind: .claim)) == .claimed)
        #expect(fence.admit(record(1, 0, "")) == .fenced)
        #expect(fence.admit(record(2, 1, "a")) == .admitted)
        #expect(fence.admit(record(2, 2, "b", kind: .claim)) == .claimed)
        // The zombie goes on under epoch 1; a claimant that lost the race to epoch 2 writes too.
        #expect(fence.admit(record(3, 1, "a")) == .fenced)
        #expect(fence.admit(record(2, 2, "c", kind: .claim)) == .fenced)
        #expect(fence.admit(record(3, 2, "c")) == .fenced)
        #expect(fence.admit(record(3, 2, "b")) == .admitted)
        #expect(fence.admit(record(3, 1, "a", kind: .claim)) == .fenced, "a stale claim")
        #expect(fence.current == ChangelogClaimant(epoch: 2, owner: "b"))

        // The epoch history of the same log, as `paystream changelog claims` prints it.
        var history = ClaimHistory()
        for r in [record(1, 0, ""), record(1, 1, "a", kind: .claim), record(2, 1, "a"), record(2, 2, "b", kind: .claim),
                  record(3, 1, "a"), record(2, 2, "c", kind: .claim), record(3, 2, "c"), record(3, 2, "b"), record(3, 1, "a", kind: .claim),
                  record(4, 2, "b")] {
            history.add(r)
        }
        #expect(history.unclaimedRecords == 1)
        #expect(history.claims == [
            .init(epoch: 1, owner: "a", atTxn: 1, tookOver: true, records: 1, fenced: 0),
            .init(epoch: 2, owner: "b", atTxn: 2, tookOver: true, records: 2, fenced: 2),
            .init(epoch: 2, owner: "c", atTxn: 2, tookOver: false),
            .init(epoch: 1, owner: "a", atTxn: 3, tookOver: false),
        ])
    }

    @Test("claims: a zombie's records after the new owner's claim never reach a copy, those before it are the new owner's too; the zombie's file diverges and is refused")
    func claims() throws {
        let folder = try temporaryDirectory("changelog-claims")
        let schema = RecordingStage(input: "in", output: "out").schema
        let a = ChangelogClaimant(epoch: 1, owner: "host-a/1 member-a"), b = ChangelogClaimant(epoch: 2, owner: "host-b/1 member-b")
        // A claims a new partition and writes three transactions under its claim.
        let owner = try ShardStore(path: "\(folder)/a.sqlite", partition: 0, schema: schema, claimant: a)
        let first = try owner.writeInputs(["a", "b", "c"])
        #expect(first.allSatisfy { $0.claimant == a } && first.map(\.txn) == [1, 2, 3, 4])
        var log = [ChangelogRecord.claim(a, lastTxn: 0)] + first
        // B restores from the log; A, cut off, writes z1, which lands before B's claim.
        let restoreB = try ShardRestore(path: "\(folder)/b.sqlite", schema: schema)
        try restoreB.apply(log, logNextOffset: Int64(log.count))
        #expect(restoreB.position.claimant == a && restoreB.position.lastTxn == 4)
        let zombie = try owner.writeInputs(["z1"])
        let claimB = ChangelogRecord.claim(b, lastTxn: restoreB.position.lastTxn)
        log += zombie + [claimB]
        // B reads its claim back, applying what came before it: z1 is B's history too.
        try restoreB.apply(zombie + [claimB], logNextOffset: Int64(log.count))
        try restoreB.checkPrefix()
        #expect(restoreB.position.claimant == b && restoreB.position.lastTxn == 5)
        try restoreB.close()
        #expect(throws: ChangelogError.self) { _ = try ShardStore(path: "\(folder)/b.sqlite", partition: 0, schema: schema, claimant: a) }
        let newOwner = try ShardStore(path: "\(folder)/b.sqlite", partition: 0, schema: schema, claimant: b)
        let fromB = try newOwner.writeInputs(["d", "e"])
        let late = try owner.writeInputs(["z2"])
        #expect(fromB.map(\.txn) == [6, 7] && late.map(\.txn) == [6] && fromB.allSatisfy { $0.claimant == b })
        // The zombie's z2 lands after B's claim, before B's records.
        log += late + fromB
        try newOwner.close()
        try owner.close()
        let copy = try ShardRestore(path: "\(folder)/copy.sqlite", schema: schema)
        #expect(try copy.apply(log, logNextOffset: Int64(log.count)) == 7)
        try copy.checkPrefix()
        try copy.close()
        #expect(try ShardDump.of(path: "\(folder)/copy.sqlite").differences(from: ShardDump.of(path: "\(folder)/b.sqlite")) == [])
        // A's file holds z2 as record 6, never confirmed; the log's record 6 is B's.
        let stale = try ShardRestore(path: "\(folder)/a.sqlite", schema: schema)
        #expect(throws: ChangelogDivergence.self) { try stale.apply(log, logNextOffset: Int64(log.count)) }
        try stale.close()
    }

    @Test("a file with records Kafka never got is not a prefix of a log claimed since, even with nothing written after the claim; otherwise its next claim restamps them")
    func notAPrefix() throws {
        let folder = try temporaryDirectory("changelog-prefix")
        let schema = RecordingStage(input: "in", output: "out").schema
        let a = ChangelogClaimant(epoch: 1, owner: "a"), b = ChangelogClaimant(epoch: 2, owner: "b")
        let owner = try ShardStore(path: "\(folder)/a.sqlite", partition: 0, schema: schema, claimant: a)
        let made = try owner.writeInputs(["a", "x"])
        try owner.close()
        let inKafka = [ChangelogRecord.claim(a, lastTxn: 0)] + made.prefix(2)
        let file = try ShardRestore(path: "\(folder)/a.sqlite", schema: schema)
        try file.apply(inKafka + [ChangelogRecord.claim(b, lastTxn: 2)], logNextOffset: 4)
        #expect(file.position.claimant == b && file.position.durableTxn == 2 && file.position.lastTxn == 3)
        #expect(throws: ChangelogDivergence.self) { try file.checkPrefix() }
        try file.close()
        // The same file against a log not claimed since: record 3 is still its own to publish.
        let again = try ShardStore(path: "\(folder)/a2.sqlite", partition: 0, schema: schema, claimant: a)
        let mine = try again.writeInputs(["a", "x"])
        try again.close()
        let restored = try ShardRestore(path: "\(folder)/a2.sqlite", schema: schema)
        try restored.apply([ChangelogRecord.claim(a, lastTxn: 0)] + mine.prefix(2), logNextOffset: 3)
        try restored.checkPrefix()
        try restored.close()
        // Restarting, it claims anew: the record Kafka lacks goes out under the new claim.
        let reopened = try ShardStore(path: "\(folder)/a2.sqlite", partition: 0, schema: schema, claimant: b)
        #expect(reopened.takeCaptured().map { [$0.txn, $0.epoch] } == [[3, 2]])
        try reopened.close()
    }

    @Test("a shard with a table that has no primary key refuses to open: the changelog could not carry its rows")
    func uncapturedTable() throws {
        let folder = try temporaryDirectory("changelog-uncaptured")
        let schema = StageSchema([("keyless", { db in try db.execute(sql: "CREATE TABLE notes (text TEXT)") })])
        #expect(throws: ChangelogError.self) { _ = try ShardStore(path: "\(folder)/p0.sqlite", partition: 0, schema: schema) }
    }
}

extension ShardStore {
    /// Writes one transaction per input of the recording stage (an effect row and an outbox row)
    /// and returns the records taken since the last look (the schema record of a new file too).
    func writeInputs(_ inputs: [String]) throws -> [ChangelogRecord] {
        for id in inputs {
            try write { db in
                try db.execute(sql: "INSERT INTO effect (id, n, kafka_offset, label) VALUES (?, 1, 0, '')", arguments: [id])
                try RuntimeTables.enqueue(db, OutboxMessage(eventID: "out:\(id)", topic: "out", key: nil, value: Data(id.utf8)), now: Date())
            }
        }
        return takeCaptured()
    }
}
