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

/// payment-worker against a real broker with the test playing the order system and the channel:
/// requests and confirmations are published by hand, everything the worker publishes is read
/// back, time is a `ManualClock`, and `finish()` checks every shard's ledger and payments.
/// For the wiring (routing between partitions, several instances, the operator commands); a
/// test of a decision uses `PaymentHarness`, which needs no broker.
final class BrokerPaymentHarness: @unchecked Sendable {
    let pipeline: InProcessPipeline
    let clock: ManualClock
    let reader: TopicReader
    let policy: PaymentPolicy
    let settings: PaymentStage.Settings
    /// nil: the live reference topics, seeded with `TestReference.updates`.
    let reference: (any ReferenceLookup)?
    /// How the test, playing the order system and the channel, partitions what it publishes.
    let upstream: UpstreamPartitioning
    private(set) var records: [ConsumedRecord] = []
    var topics: TopicNames { pipeline.topics }
    var stateDirectory: String { pipeline.stateDirectory }

    init(partitions: Int32 = 2, policy: PaymentPolicy? = nil, settings: PaymentStage.Settings = BrokerPaymentHarness.testSettings,
         reference: (any ReferenceLookup)? = nil, upstream: UpstreamPartitioning = .murmur2,
         startWorker: Bool = true, firstInLine: Bool = false) async throws {
        pipeline = try await InProcessPipeline(partitions: partitions, firstInLine: firstInLine)
        clock = ManualClock(Self.start)
        self.policy = try policy ?? shippedPaymentPolicy()
        self.settings = settings
        self.reference = reference
        self.upstream = upstream
        let topics = pipeline.topics
        reader = try await pipeline.reader([topics.paymentEvents, topics.channelRequests, topics.settlementRequests,
                                            topics.deadLetter(of: topics.paymentRequests),
                                            topics.deadLetter(of: topics.channelConfirmations)])
        if startWorker { try startInstance() }
    }

    /// Starts (another) payment-worker instance in the same group and state directory.
    @discardableResult
    func startInstance() throws -> Task<Void, any Error> {
        try pipeline.start([.paymentWorker], policy: policy, reference: reference, payment: settings, clock: clock)
    }

    // MARK: publishing

    func publish(topic: String, _ messages: [(key: String, value: Data)], sealedBy signer: String?) async throws {
        try await pipeline.publish(topic: topic, messages, partitioning: upstream, sealedBy: signer)
    }

    // MARK: reading

    /// Reads until `done` holds for everything read so far.
    func waitFor(_ done: @escaping ([PaymentEvent], [ChannelRequest]) -> Bool) async throws {
        let base = records, topics = self.topics
        records += try await reader.read { new in
            let all = base + new
            return done(Self.decode(PaymentEvent.self, all, topic: topics.paymentEvents),
                        Self.decode(ChannelRequest.self, all, topic: topics.channelRequests))
        }
    }

    /// Reads until `done` holds for every record read so far.
    func waitForRecords(_ done: @escaping ([ConsumedRecord]) -> Bool) async throws {
        let base = records
        records += try await reader.read { new in done(base + new) }
    }

    func settle() async throws { records += try await reader.readFor(.milliseconds(300)) }

    /// Stops everything, then checks every shard: the ledger's invariants and that every
    /// payment's hold agrees with its status.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        await reader.close()
        await pipeline.stop()
        let problems = try ShardInspection.paymentProblems(stateDirectory: pipeline.stateDirectory)
        #expect(problems == [], sourceLocation: sourceLocation)
    }
}

extension BrokerPaymentHarness: PaymentDriving {
    /// Reads until there is a copy (a busy machine may take seconds), then a moment more.
    func forwardedCopies() async throws -> [ConsumedRecord] {
        let reader = try await pipeline.reader(topics.inputTopics.map(topics.repartition(of:)))
        var copies = try await reader.read(timeout: .seconds(30)) { !$0.isEmpty }
        copies += try await reader.readFor(.milliseconds(500))
        await reader.close()
        return copies
    }
}
