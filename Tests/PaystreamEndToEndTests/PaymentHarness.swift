import Foundation
import PaystreamDomain
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

    /// Authorizations are queried after 60 s and expire 60 s after the query (of clock time).
    static let testSettings = PaymentStage.Settings(
        authorization: .init(default: .init(queryAfterSeconds: 60, expireAfterSeconds: 60)),
        expiryCheckIntervalMs: 10)

    static let start = Date(timeIntervalSince1970: 1_795_514_400)  // 2026-11-24T10:00:00Z

    /// - Parameter reference: the stage's reference data; `TestReference.standard` if nil.
    init(partitions: Int32 = 2, policy: PaymentPolicy? = nil, settings: PaymentStage.Settings = testSettings,
         reference: (any ReferenceLookup)? = nil, upstream: UpstreamPartitioning = .murmur2) async throws {
        let topics = TopicNames()
        let stage = PaymentStage(topics: topics, policy: try policy ?? shippedPaymentPolicy(),
                                 reference: reference ?? TestReference.standard, settings: settings)
        harness = try StageHarness(stage, partitions: partitions, clock: ManualClock(Self.start), topics: topics)
        self.upstream = upstream
    }

    // MARK: sending

    /// A `payment-request/v1` as JSON; nil fields are left out.
    static func request(_ id: String, type: String = "payment", payer: String = "user-1", merchant: String? = "m-1",
                        amount: Int? = 1000, currency: String? = "CNY", method: String? = "card",
                        channel: String? = "bank_card", payment: String? = nil, settlement: [String: Any]? = nil,
                        splits: [[String: Any]]? = nil) -> (key: String, value: Data) {
        var body: [String: Any] = ["schema": "payment-request/v1", "type": type, "request_id": id, "payer_id": payer]
        body["merchant_id"] = merchant
        body["amount"] = amount
        body["currency"] = currency
        body["method"] = method
        body["channel"] = channel
        body["payment_id"] = payment
        body["settlement"] = settlement
        body["splits"] = splits
        return (payer, try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
    }

    func send(_ requests: (key: String, value: Data)...) async throws {
        try await send(requests)
    }

    /// Sends the requests in order, as one order system's producer would.
    func send(_ requests: [(key: String, value: Data)]) async throws {
        try harness.send(topic: topics.paymentRequests, requests.map { ($0.key, $0.value) }, partitioning: upstream)
    }

    /// Sends raw records to any topic the stage reads.
    @discardableResult
    func send(topic: String, _ messages: [(key: String, value: Data)]) throws -> [ConsumedRecord] {
        try harness.send(topic: topic, messages.map { ($0.key, $0.value) }, partitioning: upstream)
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
        try harness.send(topic: topics.channelConfirmations, [(payer, try Wire.encode(confirmation))], partitioning: upstream)
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

    /// At least this many hand-offs and channel instructions were published.
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

    /// The request's answer (the last event naming it).
    @discardableResult
    func outcome(of requestID: String) async throws -> PaymentEvent {
        try await waitFor { events, _ in events.contains { $0.requestId == requestID } }
        return events.last { $0.requestId == requestID }!
    }

    /// The last event of `type` on `payment`.
    @discardableResult
    func event(_ type: String, of payment: String) async throws -> PaymentEvent {
        try await waitFor { events, _ in events.contains { $0.paymentId == payment && $0.type == type } }
        return events.last { $0.paymentId == payment && $0.type == type }!
    }

    /// Runs the timer once more (the broker-backed harness reads for a moment here).
    func settle() async throws { try harness.tick() }

    var events: [PaymentEvent] { Self.decode(PaymentEvent.self, records, topic: topics.paymentEvents) }

    func events(of payment: String) -> [PaymentEvent] { events.filter { $0.paymentId == payment } }

    var channelRequests: [ChannelRequest] { Self.decode(ChannelRequest.self, records, topic: topics.channelRequests) }
    var settlementRequests: [SettlementRequest] { Self.decode(SettlementRequest.self, records, topic: topics.settlementRequests) }

    var deadLetters: [DeadLetterMessage] {
        records.filter { $0.topic.hasSuffix(".dlq") }.compactMap { try? Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
    }

    /// A ledger balance (posted, pending) in the payer shards, nil if the account was never opened.
    func balance(_ account: String) throws -> LedgerBalance? {
        try ShardInspection.read(stateDirectory: stateDirectory, stage: "payment-worker") {
            try LedgerTables.balance($0, of: AccountID(account))
        }.compactMap { $0 }.first
    }

    /// Closes the shards.
    func stop() { harness.close() }

    /// Closes the shards, then checks every one: the ledger's invariants and that every
    /// payment's hold agrees with its status.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        harness.close()
        let problems = try ShardInspection.paymentProblems(stateDirectory: stateDirectory)
        #expect(problems == [], sourceLocation: sourceLocation)
    }
}

/// What a payment test drives, with or without a broker (`PaymentHarness`, `BrokerPaymentHarness`).
protocol PaymentDriving: AnyObject {
    var topics: TopicNames { get }
    var stateDirectory: String { get }
    var events: [PaymentEvent] { get }
    var deadLetters: [DeadLetterMessage] { get }
    func send(_ requests: [(key: String, value: Data)]) async throws
    func confirm(_ payment: String, payer: String, status: String, amount: Int64, currency: String, type: String?,
                 instruction: String?, id: String?, reason: String?) async throws
    func waitFor(_ done: @escaping ([PaymentEvent], [ChannelRequest]) -> Bool) async throws
    func waitForCounts(settlement: Int, channel: Int) async throws
    @discardableResult func event(_ type: String, of payment: String) async throws -> PaymentEvent
    func settle() async throws
    func finish(sourceLocation: SourceLocation) async throws
    /// The records the stage forwarded to the repartition topics of its inputs.
    func forwardedCopies() async throws -> [ConsumedRecord]
}

extension PaymentDriving {
    func events(of payment: String) -> [PaymentEvent] { events.filter { $0.paymentId == payment } }
    func confirm(_ payment: String, payer: String = "user-1", amount: Int64 = 1000) async throws {
        try await confirm(payment, payer: payer, status: "approved", amount: amount, currency: "CNY", type: nil, instruction: nil,
                          id: nil, reason: nil)
    }
    func waitForCounts(settlement: Int) async throws { try await waitForCounts(settlement: settlement, channel: 0) }
    func finish(location: SourceLocation = #_sourceLocation) async throws { try await finish(sourceLocation: location) }
}

extension PaymentHarness: PaymentDriving {
    func forwardedCopies() async throws -> [ConsumedRecord] {
        harness.published.filter { topics.source(ofRepartition: $0.topic) != nil }
    }
}

struct HarnessConditionNotMet: Error, CustomStringConvertible {
    let description: String
}
