import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamLedger
import PaystreamReference
import PaystreamTesting
import Testing

/// The payment stage on a `StageHarness` (temporary shards, a `ManualClock`, no broker), with the
/// test playing the order system and the channel: requests and confirmations are sent by hand and
/// decided at once, the timer runs before every look at the output, and `finish()` checks every
/// shard's ledger and payments. The API is the broker-backed `BrokerPaymentHarness`'s; a `waitFor`
/// whose condition does not hold once everything was decided fails at once (nothing else runs).
final class PaymentHarness: @unchecked Sendable {
    let harness: StageHarness<PaymentStage>
    var clock: ManualClock { harness.clock }
    var topics: TopicNames { harness.topics }
    var stateDirectory: String { harness.stateDirectory }
    /// How the test, playing the order system and the channel, partitions what it sends.
    let upstream: UpstreamPartitioning

    /// - Parameter reference: the stage's reference data; `TestReference.standard` if nil.
    init(partitions: Int32 = 2, policy: PaymentPolicy? = nil, settings: PaymentStage.Settings = PaymentHarness.testSettings,
         reference: (any ReferenceLookup)? = nil, upstream: UpstreamPartitioning = .murmur2) async throws {
        let topics = TopicNames()
        let stage = PaymentStage(topics: topics, policy: try policy ?? shippedPaymentPolicy(),
                                 reference: reference ?? TestReference.standard, settings: settings, answers: TestAnswerKeys.payment)
        harness = try StageHarness(stage, partitions: partitions, clock: ManualClock(Self.start), topics: topics)
        self.upstream = upstream
    }

    // MARK: sending

    func publish(topic: String, _ messages: [(key: String, value: Data)], sealedBy signer: String?) async throws {
        try send(topic: topic, messages, sealedBy: signer)
    }

    /// Sends raw records to any topic the stage reads (sealed by `signer`'s test key, if given).
    @discardableResult
    func send(topic: String, _ messages: [(key: String, value: Data)], sealedBy signer: String? = nil) throws -> [ConsumedRecord] {
        try harness.send(topic: topic, messages.map { ($0.key, $0.value) }, partitioning: upstream, sealedBy: signer)
    }

    // MARK: reading

    /// What the stage published on the topics a payment test looks at (events, instructions,
    /// hand-offs, dead letters), in order.
    var records: [ConsumedRecord] {
        let watched: Set<String> = [topics.paymentEvents, topics.channelRequests, topics.settlementRequests,
                                    topics.deadLetter(of: topics.paymentRequests), topics.deadLetter(of: topics.channelConfirmations)]
        return harness.published.filter { watched.contains($0.topic) }
    }

    /// Runs the timer, then checks `done`; it fails if `done` does not hold, since nothing is left to happen.
    func waitFor(_ done: @escaping ([PaymentEvent], [ChannelRequest]) -> Bool) async throws {
        try harness.tick()
        guard done(events, channelRequests) else {
            throw HarnessConditionNotMet(description: "condition not met once everything was decided; events: "
                                         + events.map { "\($0.eventId) \($0.type)" }.joined(separator: ", "))
        }
    }

    func waitForRecords(_ done: @escaping ([ConsumedRecord]) -> Bool) async throws {
        try harness.tick()
        guard done(records) else {
            throw HarnessConditionNotMet(description: "condition not met on \(records.count) published records")
        }
    }

    /// Runs the timer once more (the broker-backed harness reads for a moment here).
    func settle() async throws { try harness.tick() }

    /// Closes the shards.
    func stop() { harness.close() }

    /// Closes the shards, then checks every one: the ledger's invariants and that every
    /// payment's hold agrees with its status.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        // Every shard rebuilt from its changelog alone equals the shard.
        #expect(try harness.changelogRestoreDifferences() == [], sourceLocation: sourceLocation)
        harness.close()
        let problems = try ShardInspection.paymentProblems(stateDirectory: stateDirectory)
        #expect(problems == [], sourceLocation: sourceLocation)
    }
}

extension PaymentHarness: PaymentDriving {
    func forwardedCopies() async throws -> [ConsumedRecord] {
        harness.published.filter { topics.source(ofRepartition: $0.topic) != nil }
    }
}

struct HarnessConditionNotMet: Error, CustomStringConvertible {
    let description: String
}
