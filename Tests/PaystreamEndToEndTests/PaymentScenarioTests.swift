import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing

/// The payment stage alone on the stage harness, with the test playing the channel: requests and
/// confirmations are sent by hand and every answer on payments.events is checked.
@Suite("payment-worker scenarios")
struct PaymentScenarioTests {
    static func request(_ id: String, amount: Int = 1000, payer: String = "user-1", extra: String = "") -> Data {
        Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"\#(id)","payer_id":"\#(payer)","merchant_id":"m-1","amount":\#(amount),"currency":"CNY","method":"card","channel":"bank_card"\#(extra)}"#.utf8)
    }

    static func confirmation(payment: String, status: String, amount: Int = 1000, id: String? = nil) -> Data {
        Data(try! Wire.encode(ChannelConfirmation(
            confirmationId: id ?? "c-\(payment)-\(status)", channelRequestId: "\(payment):authorize", paymentId: payment,
            status: status, amount: Int64(amount), currency: "CNY", channelReference: "ref-\(payment)",
            reason: status == "declined" ? "card_expired" : nil, message: status == "declined" ? "expired card" : nil,
            confirmedAt: "2026-11-24T10:00:00.000Z")))
    }

    /// Events on payments.events, in order, with the raw record.
    static func events(_ records: [ConsumedRecord], _ topics: TopicNames) throws -> [(PaymentEvent, ConsumedRecord)] {
        try records.filter { $0.topic == topics.paymentEvents }.sorted { $0.offset < $1.offset }
            .map { (try Wire.decode(PaymentEvent.self, from: Data($0.value)), $0) }
    }

    @Test("the payer's locale from the request rides on every event of the payment; an unknown locale is invalid_request")
    func payerLocale() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-en", extra: #","locale":"en""#)),
                                                   ("user-1", Self.request("r-none")),
                                                   ("user-1", Self.request("r-fr", extra: #","locale":"fr""#))])
        for payment in ["pay-r-en", "pay-r-none"] {
            try h.send(topic: topics.channelConfirmations, [("user-1", Self.confirmation(payment: payment, status: "approved"))], sealedBy: "card")
        }
        try await h.settle()
        let records = h.records
        try await h.finish()
        let events = try Self.events(records, topics).map(\.0)
        #expect(events.filter { $0.paymentId == "pay-r-en" }.map(\.locale) == ["en", "en"])
        #expect(events.filter { $0.paymentId == "pay-r-none" }.map(\.locale) == [nil, nil])
        let rejected = try #require(events.first { $0.paymentId == "pay-r-fr" })
        #expect(rejected.type == "payment.rejected" && rejected.reason == "invalid_request")
        #expect(rejected.message == "locale 'fr' is not one of zh-CN, en")
    }

    @Test("an identical retry republishes the original events byte for byte; the channel is not asked twice")
    func identicalRetry() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-1"))])
        #expect(h.records.contains { $0.topic == topics.channelRequests })
        try h.send(topic: topics.channelConfirmations, [("user-1", Self.confirmation(payment: "pay-r-1", status: "approved"))], sealedBy: "card")
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-1"))])
        try await h.settle()
        let records = h.records
        try await h.finish()

        let events = try Self.events(records, topics)
        #expect(events.map(\.0.eventId) == ["pe:user-1:pay-r-1:1", "pe:user-1:pay-r-1:2", "pe:user-1:pay-r-1:1", "pe:user-1:pay-r-1:2"])
        #expect(events[0].1.value == events[2].1.value)
        #expect(events[1].1.value == events[3].1.value)
        #expect(records.filter { $0.topic == topics.channelRequests }.count == 1)
    }

    @Test("the same request_id with other content is rejected idempotency_conflict; the payment is unchanged")
    func idempotencyConflict() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-2")), ("user-1", Self.request("r-2", amount: 999))])
        // The original payment still captures normally.
        try h.send(topic: topics.channelConfirmations, [("user-1", Self.confirmation(payment: "pay-r-2", status: "approved"))], sealedBy: "card")
        let records = h.records
        try await h.finish()

        let events: [PaymentEvent] = try Self.events(records, topics).map { $0.0 }
        try #require(events.count == 3)
        #expect(events[0].type == "payment.authorized")
        let conflict = events[1]
        #expect(conflict.type == "payment.rejected")
        #expect(conflict.reason == "idempotency_conflict")
        #expect(conflict.paymentId == "pay-r-2")
        #expect(conflict.sequence == 0)
        #expect(conflict.amount == 999)
        #expect(conflict.eventId.hasPrefix("rj:user-1:r-2:conflict:"))
        #expect(events[2].type == "payment.captured")
        #expect(events[2].sequence == 2)
        #expect(records.filter { $0.topic == topics.channelRequests }.count == 1)
    }

    @Test("a retried invalid request gets the same rejection again")
    func retriedRejection() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-3", amount: -5))])
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-3", amount: -5))])
        let records = h.records
        try await h.finish()

        let events = try Self.events(records, topics)
        #expect(events.count == 2)
        for (event, _) in events {
            #expect(event.eventId == "rj:user-1:r-3")
            #expect(event.reason == "invalid_request")
            #expect(event.sequence == 0)  // a rejection changes no payment
        }
        #expect(events[0].1.value == events[1].1.value)
    }

    @Test("declined → failed with the channel's reason; a duplicate answer has no effect; an unknown payment is a dead letter")
    func confirmations() async throws {
        let h = try await PaymentHarness()
        let topics = h.topics
        try h.send(topic: topics.paymentRequests, [("user-1", Self.request("r-4"))])
        try h.send(topic: topics.channelConfirmations, [
            ("user-1", Self.confirmation(payment: "pay-r-4", status: "declined")),
            ("user-1", Self.confirmation(payment: "pay-r-4", status: "declined")),
            ("user-1", Self.confirmation(payment: "pay-r-4", status: "approved")),
            ("user-1", Self.confirmation(payment: "pay-nobody", status: "approved")),
        ], sealedBy: "card")
        let records = h.records.filter { $0.topic != topics.channelRequests }
        try await h.finish()

        let events: [PaymentEvent] = try Self.events(records, topics).map { $0.0 }
        #expect(events.map(\.type) == ["payment.authorized", "payment.failed"])
        #expect(events.last?.reason == "card_expired")
        #expect(events.last?.message == "expired card")
        #expect(events.last?.sequence == 2)
        #expect(records.filter { $0.topic == topics.settlementRequests }.isEmpty)
        let letters = try records.filter { $0.topic.hasSuffix(".dlq") }.map { try Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
        #expect(letters.map(\.errorCode) == ["unknown_payment"])
        #expect(letters.first?.sourceOffset == 3)
    }
}

@Suite("payment-worker policy rules")
struct PaymentPolicyScenarioTests {
    @Test("capability matrix, method maximum and per-payer daily count are enforced with their reason codes")
    func policyRules() async throws {
        var policy = try shippedPaymentPolicy()
        policy.riskLimits["CNY"]?.dailyCount = 2
        let h = try await PaymentHarness(policy: policy)
        let topics = h.topics
        func request(_ id: String, payer: String, amount: Int, method: String = "card", channel: String = "bank_card",
                     currency: String = "CNY") -> (key: String, value: Data) {
            (payer, Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"\#(id)","payer_id":"\#(payer)","merchant_id":"m-1","amount":\#(amount),"currency":"\#(currency)","method":"\#(method)","channel":"\#(channel)"}"#.utf8))
        }
        try h.send(topic: topics.paymentRequests, [
            request("p-cash-on-card", payer: "u-1", amount: 100, method: "cash"),
            request("p-too-big", payer: "u-2", amount: 5_000_001),
            request("p-at-max", payer: "u-2", amount: 5_000_000),
            request("p-day-1", payer: "u-3", amount: 100),
            request("p-day-2", payer: "u-3", amount: 100),
            request("p-day-3", payer: "u-3", amount: 100),
            request("p-other-payer", payer: "u-4", amount: 100),
            request("p-eur-cash", payer: "u-5", amount: 100, method: "cash", channel: "cash_on_delivery", currency: "EUR"),
        ])
        let records = h.records.filter { $0.topic == topics.paymentEvents }
        try await h.finish()
        #expect(records.count == 8)
        var outcome: [String: String] = [:]
        for record in records {
            let event = try Wire.decode(PaymentEvent.self, from: Data(record.value))
            outcome[event.requestId ?? "?"] = event.reason ?? event.status
        }
        #expect(outcome == [
            "p-cash-on-card": "method_not_allowed", "p-too-big": "amount_limit", "p-at-max": "authorized",
            "p-day-1": "authorized", "p-day-2": "authorized", "p-day-3": "risk_limit", "p-other-payer": "authorized",
            "p-eur-cash": "method_not_allowed",
        ])
    }
}
