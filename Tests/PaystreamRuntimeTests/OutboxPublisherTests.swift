import Foundation
@testable import PaystreamKafka
@testable import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// The outbox publisher's rules as a value, without a broker: rounds and their order, the
/// watermark over delivered, failed and refused rows, the pause after failures, and the
/// changelog gate.
@Suite("Outbox publisher: rounds, watermark, failures, changelog first")
struct OutboxPublisherTests {
    static let limits = OutboxPublisher.Limits(rowsPerRound: 3, roundsInFlight: 2, deliveryFailureTimeout: .seconds(10))
    static let timedOut = KafkaError(code: 7, message: "request timed out")
    static let tooLarge = KafkaError(code: 10, message: "message too large")
    let start = ContinuousClock.now

    static func rows(_ sequences: ClosedRange<Int64>) -> [OutboxMessage] {
        sequences.map { OutboxMessage(sequence: $0, eventID: "e\($0)", topic: "t", key: nil, value: Data()) }
    }

    static func record(_ txn: Int64, outboxBefore: Int64) -> ChangelogRecord {
        ChangelogRecord(kind: .transaction, txn: txn, outboxBefore: outboxBefore)
    }

    func opened(changelog: ChangelogGate? = nil) -> OutboxPublisher {
        var publisher = OutboxPublisher(limits: Self.limits)
        publisher.open(0, publishedThrough: 0, changelog: changelog, now: start)
        return publisher
    }

    @Test("a delivery report maps to delivered, refused for good, or failed")
    func outcomes() {
        #expect(RowOutcome(.success(DeliveryReport(topic: "t", partition: 0, offset: 1))).failure == nil)
        if case .refused = RowOutcome(.failure(Self.tooLarge)) {} else { Issue.record("a too-large message is refused for good") }
        #expect(RowOutcome(.failure(Self.timedOut)).failure?.code == 7)
    }

    @Test("an opened shard is read from its file first; rows queued after a short read are sent from memory, rounds overlapping up to the limit")
    func roundsInOrder() throws {
        var publisher = opened()
        #expect(publisher.waiting(now: start) == [0])
        #expect(publisher.source(0) == .shard(after: 0, limit: 3))
        // The file has two unsent rows: fewer than a round holds, so the publisher knows them all.
        let firstMade = publisher.makeRound(0, read: Self.rows(1...2), captured: [])
        let first = try #require(firstMade)
        #expect(first.rows.map(\.sequence) == [1, 2])
        publisher.queued(Self.rows(3...7), partition: 0)
        #expect(publisher.waiting(now: start) == [0] && publisher.source(0) == .queued)
        let secondMade = publisher.makeRound(0, read: nil, captured: [])
        let second = try #require(secondMade)
        #expect(second.rows.map(\.sequence) == [3, 4, 5])
        // Two rounds on their way: the limit.
        #expect(publisher.waiting(now: start).isEmpty)
        #expect(publisher.backlog == 7)
        let settled = publisher.settle(first, [.delivered, .delivered])
        #expect(settled.write == nil && settled.deliveredByTopic == ["t": 2])
        #expect(publisher.shards[0]?.watermark.known == 2)
        let thirdMade = publisher.makeRound(0, read: nil, captured: [])
        let third = try #require(thirdMade)
        #expect(third.rows.map(\.sequence) == [6, 7])
        _ = publisher.settle(second, [.delivered, .delivered, .delivered])
        _ = publisher.settle(third, [.delivered, .delivered])
        // Nothing left: the next try finds none and the shard rests.
        #expect(publisher.waiting(now: start) == [0])
        #expect(publisher.makeRound(0, read: nil, captured: []) == nil)
        #expect(publisher.waiting(now: start).isEmpty && publisher.backlog == 0)
        // The watermark moved in memory only; the shard's next transaction stores it.
        #expect(publisher.unstored(0).watermark == 7)
        publisher.stored(0, watermark: 7, changelog: nil, now: start)
        #expect(publisher.unstored(0).watermark == nil)
    }

    @Test("a shard whose rows are not all known waits for its rounds before reading its file again")
    func fileReadWaits() throws {
        var publisher = opened()
        // A full round from the file: there may be more behind it.
        let firstMade = publisher.makeRound(0, read: Self.rows(1...3), captured: [])
        let first = try #require(firstMade)
        #expect(publisher.source(0) == .shard(after: 0, limit: 3))
        #expect(publisher.waiting(now: start).isEmpty)
        _ = publisher.settle(first, [.delivered, .delivered, .delivered])
        #expect(publisher.waiting(now: start) == [0] && publisher.source(0) == .shard(after: 3, limit: 3))
    }

    @Test("a failed row holds the watermark; rows delivered behind it, in its round and in rounds made before the failure was known, are marked one by one")
    func failedRow() throws {
        var publisher = opened()
        let firstMade = publisher.makeRound(0, read: Self.rows(1...2), captured: [])
        let first = try #require(firstMade)
        publisher.queued(Self.rows(3...4), partition: 0)
        let secondMade = publisher.makeRound(0, read: nil, captured: [])
        let second = try #require(secondMade)
        let settled = publisher.settle(first, [.delivered, .failed(Self.timedOut)])
        #expect(settled.failures.count == 1)
        #expect(settled.write == nil, "nothing delivered behind the failed row in its round")
        #expect(publisher.shards[0]?.watermark.known == 1)
        // Round two was on its way already: delivered whole, yet behind row 2.
        let behind = publisher.settle(second, [.delivered, .delivered])
        let write = try #require(behind.write)
        #expect(write.sentPastFailure == [3, 4] && write.watermark == 1 && write.refused.isEmpty, "row 1 is delivered: stored with the marks")
        publisher.written(behind, now: start)
        #expect(publisher.shards[0]?.watermark.known == 1)
        // The next round reads the file from the first unsent row (3 and 4 are marked sent there).
        #expect(publisher.source(0) == .shard(after: 1, limit: 3))
        let againMade = publisher.makeRound(0, read: Self.rows(2...2), captured: [])
        let again = try #require(againMade)
        _ = publisher.settle(again, [.delivered])
        #expect(publisher.shards[0]?.watermark.known == 2 && publisher.shards[0]?.blocked == false)
    }

    @Test("a row refused for good passes the watermark only once its dead letter is stored")
    func refusedRow() throws {
        var publisher = opened()
        let roundMade = publisher.makeRound(0, read: Self.rows(1...2), captured: [])
        let round = try #require(roundMade)
        let settled = publisher.settle(round, [.refused(Self.tooLarge), .delivered])
        let write = try #require(settled.write)
        #expect(write.refused.map(\.row.sequence) == [1] && write.watermark == 2 && write.sentPastFailure.isEmpty)
        #expect(settled.failures.isEmpty)
        #expect(publisher.shards[0]?.watermark.known == 0, "not before the shard has the dead letter")
        publisher.written(settled, now: start)
        #expect(publisher.shards[0]?.watermark == Watermark(known: 2, stored: 2, storedAt: start))
        // The dead letter is a new row in the file: read it.
        #expect(publisher.waiting(now: start) == [0] && publisher.source(0) == .shard(after: 2, limit: 3))
    }

    @Test("failed rounds pause the next ones (100 ms doubling to 5 s), a flush ignores the pause, and deliveries give up after the timeout")
    func pauses() {
        var publisher = opened()
        var pauses: [Duration] = []
        var now = start
        while case .retry(let pause, _) = publisher.deliveriesFailed(now: now) {
            pauses.append(pause)
            #expect(publisher.waiting(now: now).isEmpty && publisher.waiting(now: now, ignoringPause: true) == [0])
            #expect(publisher.waiting(now: now + pause) == [0])
            now += pause
        }
        #expect(Array(pauses.prefix(7)) == [100, 200, 400, 800, 1_600, 3_200, 5_000].map { Duration.milliseconds($0) })
        #expect(pauses.dropFirst(6).allSatisfy { $0 == .seconds(5) })
        #expect(now - start >= Self.limits.deliveryFailureTimeout && publisher.isFailing)
        publisher.deliveriesSucceeded()
        #expect(!publisher.isFailing && publisher.waiting(now: now) == [0])
        #expect(publisher.deliveriesFailed(now: now) == .retry(after: .milliseconds(100), failingFor: .zero))
    }

    @Test("changelog first: rows wait for the record of the transaction that wrote them, and records taken after a read count for the rows read")
    func changelogFirst() throws {
        // Transaction 1 wrote rows 1–2: the read sees them, and its record (taken after the read)
        // holds them back until Kafka has it.
        var gated = opened(changelog: ChangelogGate(durableTxn: 0, logNextOffset: 0))
        #expect(gated.makeRound(0, read: Self.rows(1...2), captured: [Self.record(1, outboxBefore: 0)]) == nil)
        // Held back, not forgotten: the shard still has rows, known in memory now.
        #expect(gated.shards[0]?.mayHaveUnsent == true && gated.source(0) == .queued)
        let batchMade = gated.nextChangelogRound(0, limit: 10)
        let batch = try #require(batchMade)
        #expect(batch.records.map(\.txn) == [1])
        gated.committed([Self.record(2, outboxBefore: 2)], partition: 0)
        gated.queued(Self.rows(3...4), partition: 0)
        #expect(gated.settleChangelog(batch, partition: 0, delivered: true) == .delivered)
        // Acknowledged only: still held.
        #expect(gated.makeRound(0, read: nil, captured: []) == nil)
        #expect(gated.readBack(1, nextOffset: 1, partition: 0)?.txn == 1)
        // Record 1 is read back, record 2 is not: rows 1–2 go, 3–4 wait.
        let roundMade = gated.makeRound(0, read: nil, captured: [])
        let round = try #require(roundMade)
        #expect(round.rows.map(\.sequence) == [1, 2])
        #expect(gated.makeRound(0, read: nil, captured: []) == nil && gated.source(0) == .queued)
        #expect(gated.unstored(0).changelog?.txn == 1)
        let nextMade = gated.nextChangelogRound(0, limit: 10)
        let next = try #require(nextMade)
        #expect(gated.settleChangelog(next, partition: 0, delivered: true) == .delivered)
        #expect(gated.readBack(2, nextOffset: 2, partition: 0)?.txn == 2)
        let last = gated.makeRound(0, read: nil, captured: [])
        #expect(last?.rows.map(\.sequence) == [3, 4])
        #expect(gated.changelogSettled)
    }

    @Test("changelog rounds: at most the limit on their way; a failed one makes the others stale and sends everything again")
    func changelogRounds() throws {
        var publisher = opened(changelog: ChangelogGate(durableTxn: 0, logNextOffset: 0))
        publisher.committed((1...3).map { Self.record($0, outboxBefore: $0) }, partition: 0)
        let firstMade = publisher.nextChangelogRound(0, limit: 1)
        let first = try #require(firstMade)
        let secondMade = publisher.nextChangelogRound(0, limit: 1)
        let second = try #require(secondMade)
        #expect(publisher.nextChangelogRound(0, limit: 1) == nil, "two rounds on their way: the limit")
        let generations = publisher.changelogGenerations
        #expect(publisher.settleChangelog(first, partition: 0, delivered: false) == .resend)
        #expect(publisher.changelogGenerations != generations)
        #expect(publisher.settleChangelog(second, partition: 0, delivered: true) == .stale)
        let againMade = publisher.nextChangelogRound(0, limit: 10)
        let again = try #require(againMade)
        #expect(again.records.map(\.txn) == [1, 2, 3])
        #expect(publisher.settleChangelog(again, partition: 0, delivered: true) == .delivered)
        #expect(!publisher.changelogSettled)
        for txn in Int64(1)...3 { #expect(publisher.readBack(txn, nextOffset: txn + 2, partition: 0)?.txn == txn) }
        #expect(publisher.changelogSettled)
        // The position is stored by the shard's next transaction, or after a second of idleness.
        #expect(publisher.idle(now: start, all: false).isEmpty)
        #expect(publisher.idle(now: start + .seconds(1), all: false).map(\.changelog?.txn) == [3])
        #expect(publisher.idle(now: start, all: true).map(\.changelog?.nextOffset) == [5])
    }

    @Test("property: with rows committed, rounds made, landed and failed at random, no row leaves before its changelog record, no delivered row leaves twice, the watermark never passes an undelivered row, and everything is delivered in the end")
    func randomRuns() {
        var failures: [String] = []
        for index in 0..<300 {
            var random = SeededRandom(seed: 20_261_206 &+ UInt64(index))
            if let failure = Self.randomRun(&random) { failures.append("seed \(20_261_206 + index): \(failure)") }
            if failures.count >= 3 { break }
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    /// One random run against a model of the shard's outbox and changelog; nil if every rule held.
    static func randomRun(_ random: inout SeededRandom) -> String? {
        let now = ContinuousClock.now
        var publisher = OutboxPublisher(limits: .init(rowsPerRound: Int.random(in: 1...5, using: &random),
                                                      roundsInFlight: Int.random(in: 1...3, using: &random),
                                                      deliveryFailureTimeout: .seconds(3600)))
        publisher.open(0, publishedThrough: 0, changelog: ChangelogGate(durableTxn: 0, logNextOffset: 0), now: now)
        // The shard: its outbox (sequence → marked sent), its committed records not yet taken.
        var outbox: [Int64: Bool] = [:]
        var nextSequence: Int64 = 1, nextTxn: Int64 = 1
        var captured: [ChangelogRecord] = []
        // What happened: rows delivered, refused, the transactions' records and their rows.
        var delivered: Set<Int64> = [], refused: Set<Int64> = []
        var durableThrough: Int64 = 0
        var rowTxn: [Int64: Int64] = [:]
        var rounds: [OutboxRound] = [], changelogRounds: [ChangelogBatch] = []
        // Delivered changelog records not yet read back, in log order.
        var readable: [ChangelogRecord] = []
        var onTheirWay: Set<Int64> = []
        func commit(_ count: Int) -> [OutboxMessage] {
            let written = rows(nextSequence...(nextSequence + Int64(count) - 1))
            captured.append(record(nextTxn, outboxBefore: nextSequence - 1))
            for row in written { outbox[row.sequence] = false; rowTxn[row.sequence] = nextTxn }
            nextSequence += Int64(count)
            nextTxn += 1
            return written
        }
        func unsent(after: Int64, limit: Int) -> [OutboxMessage] {
            outbox.filter { $0.key > after && !$0.value }.keys.sorted().prefix(limit).map { rows($0...$0)[0] }
        }
        for step in 0..<400 {
            let draining = step >= 300
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !draining:
                publisher.queued(commit(Int.random(in: 1...4, using: &random)), partition: 0)
            case 1:
                for partition in publisher.waiting(now: now, ignoringPause: true) {
                    var read: [OutboxMessage]?
                    if case .shard(let after, let limit) = publisher.source(partition) { read = unsent(after: after, limit: limit) }
                    let taken = captured
                    captured = []
                    guard let round = publisher.makeRound(partition, read: read, captured: taken) else { continue }
                    for row in round.rows {
                        if delivered.contains(row.sequence) { return "row \(row.sequence) sent again after it was delivered" }
                        if onTheirWay.contains(row.sequence) { return "row \(row.sequence) sent while on its way" }
                        if rowTxn[row.sequence]! > durableThrough { return "row \(row.sequence) sent before record \(rowTxn[row.sequence]!) was durable" }
                        onTheirWay.insert(row.sequence)
                    }
                    rounds.append(round)
                }
            case 2 where !rounds.isEmpty:
                let round = rounds.removeFirst()
                let outcomes: [RowOutcome] = round.rows.map { _ in
                    switch Int.random(in: 0..<20, using: &random) {
                    case 0..<(draining ? 0 : 3): .failed(timedOut)
                    case 3 where !draining: .refused(tooLarge)
                    default: .delivered
                    }
                }
                for (row, outcome) in zip(round.rows, outcomes) {
                    onTheirWay.remove(row.sequence)
                    switch outcome {
                    case .delivered: delivered.insert(row.sequence)
                    case .refused: refused.insert(row.sequence)
                    case .failed: break
                    }
                }
                let settlement = publisher.settle(round, outcomes)
                if let write = settlement.write {
                    for sequence in write.sentPastFailure { outbox[sequence] = true }
                    // A dead letter is a row of a new transaction (the settle's own).
                    if !write.refused.isEmpty { _ = commit(write.refused.count) }
                    publisher.written(settlement, now: now)
                }
                if settlement.failures.isEmpty { publisher.deliveriesSucceeded() } else { _ = publisher.deliveriesFailed(now: now) }
            case 3:
                publisher.committed(captured, partition: 0)
                captured = []
                if let batch = publisher.nextChangelogRound(0, limit: Int.random(in: 1...3, using: &random)) { changelogRounds.append(batch) }
            case 4 where !changelogRounds.isEmpty:
                let batch = changelogRounds.removeFirst()
                let ok = draining || Int.random(in: 0..<6, using: &random) > 0
                _ = publisher.settleChangelog(batch, partition: 0, delivered: ok)
                // What was delivered is read back, in log order (a resend may put a record twice).
                if ok { readable += batch.records }
            case 5 where !readable.isEmpty:
                let record = readable.removeFirst()
                if let confirmed = publisher.readBack(record.txn, nextOffset: record.txn + 1, partition: 0) {
                    durableThrough = confirmed.txn
                }
            default:
                break
            }
            let known = publisher.shards[0]!.watermark.known
            if let passed = outbox.keys.first(where: { $0 <= known && !delivered.contains($0) && !refused.contains($0) }) {
                return "the watermark (\(known)) passed row \(passed), never delivered"
            }
        }
        // Drain: everything goes out and every round comes back delivered.
        for _ in 0..<10_000 {
            publisher.committed(captured, partition: 0)
            captured = []
            while let batch = publisher.nextChangelogRound(0, limit: 100) { changelogRounds.append(batch) }
            for batch in changelogRounds {
                _ = publisher.settleChangelog(batch, partition: 0, delivered: true)
                readable += batch.records
            }
            changelogRounds = []
            for record in readable {
                if let confirmed = publisher.readBack(record.txn, nextOffset: record.txn + 1, partition: 0) { durableThrough = confirmed.txn }
            }
            readable = []
            for round in rounds {
                for row in round.rows { delivered.insert(row.sequence); onTheirWay.remove(row.sequence) }
                if let write = publisher.settle(round, round.rows.map { _ in .delivered }).write {
                    for sequence in write.sentPastFailure { outbox[sequence] = true }
                }
            }
            rounds = []
            let waiting = publisher.waiting(now: now, ignoringPause: true)
            if waiting.isEmpty && publisher.changelogSettled { break }
            for partition in waiting {
                var read: [OutboxMessage]?
                if case .shard(let after, let limit) = publisher.source(partition) { read = unsent(after: after, limit: limit) }
                if let round = publisher.makeRound(partition, read: read, captured: []) {
                    for row in round.rows where delivered.contains(row.sequence) { return "row \(row.sequence) sent again after it was delivered" }
                    rounds.append(round)
                }
            }
        }
        let lost = outbox.keys.filter { !delivered.contains($0) && !refused.contains($0) }
        if !lost.isEmpty { return "rows never delivered: \(lost.sorted())" }
        return nil
    }
}
