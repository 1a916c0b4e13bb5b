import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import ReconciliationWorker
import Testing

/// The reconciler's decisions on the stage harness: payment events (keyed by payer, written with
/// librdkafka's partitioner) and statement lines meet in the payment's shard; every result state;
/// results that change as the other side arrives; the timer after the window; reloading.
@Suite("reconciler: statement lines against captures and refunds")
struct ReconciliationStageTests {
    /// 2026-11-30 10:00 UTC.
    static let start = Wire.parseTimestamp("2026-11-30T10:00:00.000Z")!
    static let day = "2026-11-30"
    static let window: Double = 3_600

    static func harness(partitions: Int32 = 4) throws -> StageHarness<ReconciliationStage> {
        let settings = try ReconciliationStage.Settings(timingWindowSeconds: window,
                                                        channelFees: ["card": try FeePlan(basisPoints: 60), "alipay": try FeePlan(basisPoints: 55)])
        return try StageHarness(ReconciliationStage(topics: TopicNames(), settings: settings), partitions: partitions,
                                clock: ManualClock(start))
    }

    static func event(_ payment: String, _ type: PaymentEventType, sequence: Int, status: String, amount: Int64 = 10_000,
                      method: String = "card", refund: Int64? = nil, refundRequest: String? = nil, payer: String = "user-1",
                      viaChannel: Bool = true, at: Date = start) -> (key: String?, value: Data) {
        (payer, try! Wire.encode(PaymentEvent(
            eventId: MessageID.paymentEvent(payer: payer, payment: payment, sequence: sequence), sequence: sequence,
            occurredAt: Wire.timestamp(at), type: type.rawValue, paymentId: payment, requestId: refundRequest ?? "req-\(payment)",
            orderId: "o-\(payment)", payerId: payer, merchantId: "m-7", amount: amount, currency: "CNY", method: method,
            channel: "bank_card", status: status, channelReference: viaChannel && sequence > 1 ? "ch-\(payment)" : nil,
            refundAmount: refund, refundedTotal: refund)))
    }

    static func captured(_ payment: String, amount: Int64 = 10_000, method: String = "card", payer: String = "user-1",
                         at: Date = start) -> [(key: String?, value: Data)] {
        [event(payment, .authorized, sequence: 1, status: "authorized", amount: amount, method: method, payer: payer, at: at),
         event(payment, .captured, sequence: 2, status: "captured", amount: amount, method: method, payer: payer, at: at)]
    }

    static func line(_ payment: String, _ amount: Int64 = 10_000, fee: Int64 = 60, type: String = "payment", reference: String? = nil,
                     day: String = day, method: String = "card") -> (key: String?, value: Data) {
        let ref = reference ?? "sbx-\(payment)"
        return (payment, try! Wire.encode(StatementLine(
            lineId: "sandbox:\(ref):\(type)", source: "sandbox", method: method, day: day, channelReference: ref, paymentId: payment,
            type: type, amount: amount, currency: "CNY", fee: fee)))
    }

    /// The current result of every item, by item id.
    static func states(_ harness: StageHarness<ReconciliationStage>) throws -> [String: String] {
        var states: [String: String] = [:]
        for results in try harness.read({ try ReconciliationTables.results($0, day: nil) }) {
            for result in results { states[result.itemId] = result.state }
        }
        // A day's results (the report's `--day`) are that day's among all, in the same order.
        for (partition, results) in try harness.read({ try ReconciliationTables.results($0, day: nil) }).enumerated() {
            for day in Set(results.map(\.day)) {
                let ofDay = try harness.read { try ReconciliationTables.results($0, day: day) }[partition]
                #expect(ofDay == results.filter { $0.day == day }, "partition \(partition), \(day)")
            }
        }
        return states
    }

    static func published(_ harness: StageHarness<ReconciliationStage>) -> [ReconciliationResultMessage] {
        harness.decoded(ReconciliationResultMessage.self, on: harness.topics.reconciliationResults)
    }

    @Test("a capture and its line meet in one shard and match; the capture was pending until then")
    func matched() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.paymentEvents, Self.captured("pay-1"), partitioning: .librdkafkaDefault)
        #expect(try Self.states(harness) == ["payment:pay-1": "pending"])
        try harness.send(topic: topics.channelStatements, [Self.line("pay-1")], partitioning: .librdkafkaDefault)
        #expect(try Self.states(harness) == ["payment:pay-1": "matched"])
        let results = Self.published(harness)
        #expect(results.map(\.state) == ["pending", "matched"])
        #expect(results.map(\.eventId) == ["rc:payment:pay-1:1", "rc:payment:pay-1:2"])
        #expect(results.last?.line?.lineId == "sandbox:sbx-pay-1:payment" && results.last?.expected?.fee == 60)
        #expect(results.allSatisfy { $0.day == Self.day && $0.method == "card" })
        // Every shard that holds state holds the payment's whole story: one shard here.
        #expect(try harness.read { try ReconciliationTables.results($0, day: nil).count }.filter { $0 > 0 }.count == 1)
        #expect(harness.deadLetters.isEmpty)
    }

    @Test("every state: amount, fee and status mismatches, a duplicate, pending, then missing and extra after the window")
    func everyState() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.paymentEvents,
                         Self.captured("pay-amount") + Self.captured("pay-fee") + Self.captured("pay-dup") + Self.captured("pay-missing")
                         + [Self.event("pay-failed", .failed, sequence: 1, status: "failed")], partitioning: .librdkafkaDefault)
        try harness.send(topic: topics.channelStatements, [
            Self.line("pay-amount", 9_900, fee: 59),
            Self.line("pay-fee", fee: 75),
            Self.line("pay-dup"), Self.line("pay-dup", reference: "sbx-pay-dup-again"),
            Self.line("pay-failed"),
            Self.line("pay-unknown"),
        ])
        #expect(try Self.states(harness) == [
            "payment:pay-amount": "amount_mismatch", "payment:pay-fee": "fee_mismatch",
            "payment:pay-dup": "matched", "line:sandbox:sbx-pay-dup-again:payment": "duplicate",
            "payment:pay-failed": "status_mismatch", "payment:pay-missing": "pending",
            "line:sandbox:sbx-pay-unknown:payment": "pending",
        ])
        // The capture's window ends at 11:00; the unknown line's at the end of its day plus an hour.
        try harness.advance(by: Self.window - 1)
        #expect(try Self.states(harness)["payment:pay-missing"] == "pending")
        try harness.advance(by: 1)
        #expect(try Self.states(harness)["payment:pay-missing"] == "missing_in_channel")
        #expect(try Self.states(harness)["line:sandbox:sbx-pay-unknown:payment"] == "pending")
        let dayEnd = Wire.parseTimestamp("2026-12-01T00:00:00.000Z")!
        try harness.advance(by: dayEnd.timeIntervalSince(harness.clock.now()) + Self.window)
        #expect(try Self.states(harness)["line:sandbox:sbx-pay-unknown:payment"] == "extra_in_channel")
        let failed = Self.published(harness).last { $0.paymentId == "pay-failed" }
        #expect(failed?.detail == "the channel took the money; the payment is failed")
        #expect(Set(Self.published(harness).map(\.state)) == Set(ReconciliationState.allCases.map(\.rawValue)))
        // Every shard rebuilt from its changelog alone equals the shard.
        #expect(try harness.changelogRestoreDifferences() == [])
    }

    @Test("a line before its payment is pending, then matched; a late line turns missing into matched")
    func resultsChange() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.channelStatements, [Self.line("pay-early")])
        #expect(try Self.states(harness) == ["line:sandbox:sbx-pay-early:payment": "pending"])
        try harness.send(topic: topics.paymentEvents, Self.captured("pay-early"), partitioning: .librdkafkaDefault)
        // The line's own result is replaced by the movement's, which names the line.
        #expect(try Self.states(harness) == ["payment:pay-early": "matched"])

        try harness.send(topic: topics.paymentEvents, Self.captured("pay-late"), partitioning: .librdkafkaDefault)
        try harness.advance(by: Self.window)
        #expect(try Self.states(harness)["payment:pay-late"] == "missing_in_channel")
        try harness.send(topic: topics.channelStatements, [Self.line("pay-late")])
        #expect(try Self.states(harness)["payment:pay-late"] == "matched")
        let late = Self.published(harness).filter { $0.itemId == "payment:pay-late" }
        #expect(late.map(\.state) == ["pending", "missing_in_channel", "matched"])
        #expect(late.map(\.revision) == [1, 2, 3])
    }

    @Test("refunds match by amount; a refund line with no refund recorded is extra after the window")
    func refunds() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.paymentEvents, Self.captured("pay-r") + [
            Self.event("pay-r", .partiallyRefunded, sequence: 3, status: "partially_refunded", refund: 3_000, refundRequest: "rf-1"),
            Self.event("pay-r", .partiallyRefunded, sequence: 4, status: "partially_refunded", refund: 2_000, refundRequest: "rf-2"),
        ], partitioning: .librdkafkaDefault)
        try harness.send(topic: topics.channelStatements, [
            Self.line("pay-r"),
            Self.line("pay-r", 2_000, fee: 0, type: "refund", reference: "sbx-ref-b"),
            Self.line("pay-r", 3_000, fee: 0, type: "refund", reference: "sbx-ref-a"),
            Self.line("pay-r", 1_000, fee: 0, type: "refund", reference: "sbx-ref-c"),
        ])
        let states = try Self.states(harness)
        #expect(states["payment:pay-r"] == "matched")
        #expect(states["refund:pay-r:rf-1"] == "matched" && states["refund:pay-r:rf-2"] == "matched")
        #expect(states["line:sandbox:sbx-ref-c:refund"] == "pending")
        let rf1 = Self.published(harness).last { $0.itemId == "refund:pay-r:rf-1" }
        #expect(rf1?.line?.lineId == "sandbox:sbx-ref-a:refund")
        try harness.advance(by: 86_400 + Self.window)
        #expect(try Self.states(harness)["line:sandbox:sbx-ref-c:refund"] == "extra_in_channel")
    }

    @Test("loading the same lines again changes nothing; the same line id with other content is a duplicate")
    func reload() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.paymentEvents, Self.captured("pay-a") + Self.captured("pay-b"), partitioning: .librdkafkaDefault)
        let lines = [Self.line("pay-a"), Self.line("pay-b"), Self.line("pay-x")]
        try harness.send(topic: topics.channelStatements, lines)
        let before = try Self.states(harness)
        let publishedBefore = Self.published(harness).count
        try harness.send(topic: topics.channelStatements, lines)
        try harness.send(topic: topics.channelStatements, lines, partitioning: .librdkafkaDefault)
        #expect(try Self.states(harness) == before)
        #expect(Self.published(harness).count == publishedBefore)

        // A corrected line under the same id is not silently taken: it is reported.
        try harness.send(topic: topics.channelStatements, [Self.line("pay-a", 9_999)])
        #expect(try Self.states(harness)["line:sandbox:sbx-pay-a:payment"] == "duplicate")
        #expect(try Self.states(harness)["payment:pay-a"] == "matched")
    }

    @Test("a status later than the line's is what counts; events replayed do nothing")
    func laterStatus() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        let events = Self.captured("pay-s") + [Self.event("pay-s", .refunded, sequence: 3, status: "refunded", refund: 10_000, refundRequest: "rf")]
        try harness.send(topic: topics.paymentEvents, events, partitioning: .librdkafkaDefault)
        try harness.send(topic: topics.channelStatements, [Self.line("pay-s"), Self.line("pay-s", fee: 0, type: "refund", reference: "r")])
        let count = Self.published(harness).count
        try harness.send(topic: topics.paymentEvents, events, partitioning: .librdkafkaDefault)
        #expect(Self.published(harness).count == count)
        #expect(try Self.states(harness) == ["payment:pay-s": "matched", "refund:pay-s:rf": "matched"])
    }

    @Test("money that never went through a channel (wallet, credit line) is not expected on a statement")
    func withoutChannel() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        try harness.send(topic: topics.paymentEvents, [
            Self.event("pay-w", .captured, sequence: 1, status: "captured", method: "wallet", viaChannel: false),
            Self.event("pay-c", .captured, sequence: 1, status: "captured", method: "alipay", viaChannel: false),
            Self.event("pay-c", .partiallyRefunded, sequence: 2, status: "partially_refunded", refund: 100, refundRequest: "rf", viaChannel: false),
        ], partitioning: .librdkafkaDefault)
        #expect(try Self.states(harness).isEmpty)
        try harness.advance(by: Self.window * 2)
        #expect(try Self.states(harness).isEmpty)
        try harness.send(topic: topics.channelStatements, [Self.line("pay-c", method: "alipay")])
        try harness.advance(by: 86_400 * 2)
        #expect(try Self.states(harness) == ["line:sandbox:sbx-pay-c:payment": "extra_in_channel"])
    }

    @Test("a line that is not a statement line is a dead letter; a rejected request is no movement")
    func badInput() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        var line = try Wire.decode(StatementLine.self, from: Self.line("pay-1").value)
        line.type = "chargeback"
        try harness.send(topic: topics.channelStatements, [("pay-1", try Wire.encode(line)), ("pay-2", Data("{}".utf8))])
        #expect(harness.deadLetters.map(\.errorCode).sorted() == ["invalid_line", "undecodable"])
        try harness.send(topic: topics.paymentEvents, [Self.event("pay-3", .rejected, sequence: 0, status: "rejected")])
        #expect(try Self.states(harness).isEmpty)
    }
}
