import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamRuntime
import PaymentWorker
import PaystreamTesting
import Testing

/// What a payment test drives, with or without a broker (`PaymentHarness` on the stage harness,
/// `BrokerPaymentHarness` against Tansu). Each says how it publishes, reads and waits; what a test
/// sends and reads on top of that is written once, below.
/// How a test playing the channel seals an answer.
enum AnswerSealing {
    /// With the test key of the method the payment's instruction named (the card connector's for
    /// a payment never instructed), as the channel's connector would.
    case asChannel
    /// With this signer's test key.
    case by(String)
    /// Not at all, as a forger without a key would send it.
    case none
}

protocol PaymentDriving: AnyObject {
    var topics: TopicNames { get }
    var stateDirectory: String { get }
    var clock: ManualClock { get }
    /// How the test, playing the order system and the channel, partitions what it publishes.
    var upstream: UpstreamPartitioning { get }
    /// What the worker published on the topics a payment test looks at (events, instructions,
    /// hand-offs, dead letters), in order.
    var records: [ConsumedRecord] { get }
    /// Publishes to `topic` as one producer, partitioned as `upstream` says; `sealedBy` seals each
    /// record with that signer's test key (`TestAnswerKeys`), as a channel connector would.
    func publish(topic: String, _ messages: [(key: String, value: Data)], sealedBy: String?) async throws
    /// Until `done` holds for the events and channel instructions published so far.
    func waitFor(_ done: @escaping ([PaymentEvent], [ChannelRequest]) -> Bool) async throws
    /// Until `done` holds for every record published so far.
    func waitForRecords(_ done: @escaping ([ConsumedRecord]) -> Bool) async throws
    func settle() async throws
    func finish(sourceLocation: SourceLocation) async throws
    /// The records the stage forwarded to the repartition topics of its inputs.
    func forwardedCopies() async throws -> [ConsumedRecord]
}

extension PaymentDriving {
    func publish(topic: String, _ messages: [(key: String, value: Data)]) async throws {
        try await publish(topic: topic, messages, sealedBy: nil)
    }

    /// Authorizations are queried after 60 s and expire 60 s after the query (of clock time).
    static var testSettings: PaymentStage.Settings {
        PaymentStage.Settings(authorization: .init(default: .init(queryAfterSeconds: 60, expireAfterSeconds: 60)),
                              expiryCheckIntervalMs: 10)
    }

    static var start: Date { Date(timeIntervalSince1970: 1_795_514_400) }  // 2026-11-24T10:00:00Z

    // MARK: sending

    /// A `payment-request/v1` as JSON; nil fields are left out.
    static func request(_ id: String, type: String = "payment", payer: String = "user-1", merchant: String? = "m-1",
                        amount: Int? = 1000, currency: String? = "CNY", method: String? = "card",
                        channel: String? = "bank_card", payment: String? = nil, settlement: [String: Any]? = nil,
                        splits: [[String: Any]]? = nil, metadata: [String: Any]? = nil) -> (key: String, value: Data) {
        var body: [String: Any] = ["schema": "payment-request/v1", "type": type, "request_id": id, "payer_id": payer]
        body["merchant_id"] = merchant
        body["amount"] = amount
        body["currency"] = currency
        body["method"] = method
        body["channel"] = channel
        body["payment_id"] = payment
        body["settlement"] = settlement
        body["splits"] = splits
        body["metadata"] = metadata
        return (payer, try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
    }

    func send(_ requests: (key: String, value: Data)...) async throws {
        try await send(requests)
    }

    /// Publishes the requests in order, with one producer (as one order system would).
    func send(_ requests: [(key: String, value: Data)]) async throws {
        try await publish(topic: topics.paymentRequests, requests)
    }

    /// The channel's answer to the payment's `authorize` (or another instruction), sealed as the
    /// connector of the instruction's method would (`AnswerSeal`), unless `sealing` says otherwise.
    func confirm(_ payment: String, payer: String = "user-1", status: String = "approved", amount: Int64 = 1000,
                 currency: String = "CNY", type: String? = nil, instruction: String? = nil, id: String? = nil,
                 reason: String? = nil, sealing: AnswerSealing = .asChannel) async throws {
        let signer: String? = switch sealing {
        case .asChannel: channelRequests.first { $0.paymentId == payment }?.method ?? "card"
        case .by(let name): name
        case .none: nil
        }
        let confirmation = ChannelConfirmation(
            confirmationId: id ?? "c-\(payment)-\(type ?? "authorize")-\(status)-\(amount)",
            channelRequestId: instruction ?? "\(payment):\(type ?? "authorize")", paymentId: payment, status: status,
            amount: amount, currency: currency, channelReference: "ref-\(payment)",
            reason: reason ?? (status == "declined" ? "do_not_honor" : nil), message: status == "declined" ? "declined" : nil,
            confirmedAt: Wire.timestamp(clock.now()), requestType: type)
        try await publish(topic: topics.channelConfirmations, [(payer, try Wire.encode(confirmation))], sealedBy: signer)
    }

    /// Sends a card request the channel never answers, and moves the clock until it is queried
    /// and then expired. Returns the `payment.expired` event.
    @discardableResult
    func expireUnanswered(_ requestID: String, amount: Int) async throws -> PaymentEvent {
        try await send(Self.request(requestID, amount: amount))
        try await outcome(of: requestID)
        clock.advance(by: 61)
        try await waitFor { _, requests in requests.contains { $0.requestType == "query" && $0.paymentId == "pay-\(requestID)" } }
        clock.advance(by: 61)
        return try await event("payment.expired", of: "pay-\(requestID)")
    }

    // MARK: reading

    /// At least this many hand-offs and channel instructions were published (they travel on
    /// other topics than the events a test waits for, so they may arrive a poll later).
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

    /// Waits for an event of `type` on `payment` and returns the last one.
    @discardableResult
    func event(_ type: String, of payment: String) async throws -> PaymentEvent {
        try await waitFor { events, _ in events.contains { $0.paymentId == payment && $0.type == type } }
        return events.last { $0.paymentId == payment && $0.type == type }!
    }

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

    func finish(location: SourceLocation = #_sourceLocation) async throws { try await finish(sourceLocation: location) }
}
