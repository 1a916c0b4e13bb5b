import Foundation
import PaystreamDomain
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

    /// Authorizations are queried after 60 s and expire 60 s after the query (of clock time).
    static var testSettings: PaymentStage.Settings { PaymentHarness.testSettings }

    static var start: Date { PaymentHarness.start }

    init(partitions: Int32 = 2, policy: PaymentPolicy? = nil, settings: PaymentStage.Settings = testSettings,
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

    /// A `payment-request/v1` as JSON; nil fields are left out.
    static func request(_ id: String, type: String = "payment", payer: String = "user-1", merchant: String? = "m-1",
                        amount: Int? = 1000, currency: String? = "CNY", method: String? = "card",
                        channel: String? = "bank_card", payment: String? = nil, settlement: [String: Any]? = nil,
                        splits: [[String: Any]]? = nil) -> (key: String, value: Data) {
        PaymentHarness.request(id, type: type, payer: payer, merchant: merchant, amount: amount, currency: currency, method: method,
                               channel: channel, payment: payment, settlement: settlement, splits: splits)
    }

    func send(_ requests: (key: String, value: Data)...) async throws {
        try await send(requests)
    }

    /// Publishes the requests in order, with one producer (as one order system would).
    func send(_ requests: [(key: String, value: Data)]) async throws {
        try await pipeline.publish(topic: topics.paymentRequests, requests, partitioning: upstream)
    }

    /// The channel's answer to the payment's `authorize` (or another instruction).
    func confirm(_ payment: String, payer: String = "user-1", status: String = "approved", amount: Int64 = 1000,
                 currency: String = "CNY", type: String? = nil, instruction: String? = nil, id: String? = nil,
                 reason: String? = nil) async throws {
        let confirmation = ChannelConfirmation(
            confirmationId: id ?? "c-\(payment)-\(type ?? "authorize")-\(status)-\(amount)",
            channelRequestId: instruction ?? "\(payment):\(type ?? "authorize")", paymentId: payment, status: status,
            amount: amount, currency: currency, channelReference: "ref-\(payment)",
            reason: reason ?? (status == "declined" ? "do_not_honor" : nil), message: status == "declined" ? "declined" : nil,
            confirmedAt: Wire.timestamp(clock.now()), requestType: type)
        try await pipeline.publish(topic: topics.channelConfirmations, [(payer, try Wire.encode(confirmation))],
                                   partitioning: upstream)
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

    /// Waits until at least this many hand-offs and channel instructions were read (they travel
    /// on other topics than the events a test waits for, so they may arrive a poll later).
    func waitForCounts(settlement: Int = 0, channel: Int = 0) async throws {
        let topics = self.topics
        try await waitForRecords { records in
            records.filter { $0.topic == topics.settlementRequests }.count >= settlement
                && records.filter { $0.topic == topics.channelRequests }.count >= channel
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ records: [ConsumedRecord], topic: String) -> [T] {
        records.filter { $0.topic == topic }.compactMap { try? Wire.decode(T.self, from: Data($0.value)) }
    }

    /// Waits until the request has its answer (an event naming it) and returns that event.
    @discardableResult
    func outcome(of requestID: String) async throws -> PaymentEvent {
        try await waitFor { events, _ in events.contains { $0.requestId == requestID } }
        return events.last { $0.requestId == requestID }!
    }

    /// Waits for an event of `type` on `payment`.
    @discardableResult
    func event(_ type: String, of payment: String) async throws -> PaymentEvent {
        try await waitFor { events, _ in events.contains { $0.paymentId == payment && $0.type == type } }
        return events.last { $0.paymentId == payment && $0.type == type }!
    }

    func settle() async throws { records += try await reader.readFor(.milliseconds(300)) }

    var events: [PaymentEvent] { Self.decode(PaymentEvent.self, records, topic: topics.paymentEvents) }

    func events(of payment: String) -> [PaymentEvent] { events.filter { $0.paymentId == payment } }

    var channelRequests: [ChannelRequest] { Self.decode(ChannelRequest.self, records, topic: topics.channelRequests) }
    var settlementRequests: [SettlementRequest] { Self.decode(SettlementRequest.self, records, topic: topics.settlementRequests) }

    var deadLetters: [DeadLetterMessage] {
        records.filter { $0.topic.hasSuffix(".dlq") }.compactMap { try? Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
    }

    /// A ledger balance (posted, pending) in the payer shards, nil if the account was never opened.
    func balance(_ account: String) throws -> LedgerBalance? {
        try ShardInspection.read(stateDirectory: pipeline.stateDirectory, stage: "payment-worker") {
            try LedgerTables.balance($0, of: AccountID(account))
        }.compactMap { $0 }.first
    }

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
