import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaymentWorker
import PaystreamStore
import PaystreamTesting
import Testing

@Suite("End to end: one card payment through every stage")
struct CardPaymentTests {
    @Test("a card payment is authorized, confirmed, captured, settled and notified; every message checked field by field",
          arguments: UpstreamPartitioning.allCases)
    func cardPayment(upstream: UpstreamPartitioning) async throws {
        let pipeline = try await InProcessPipeline(partitions: 4)
        let topics = pipeline.topics
        try pipeline.start()
        let request = #"""
        {"schema":"payment-request/v1","type":"payment","request_id":"ord-1001-try-1","payment_id":"pay-1001",
         "order_id":"ord-1001","payer_id":"user-42","merchant_id":"m-7","amount":19999,"currency":"CNY",
         "method":"card","channel":"bank_card","settlement":{"mode":"prepaid"},
         "splits":[{"party_id":"supplier-3","amount":5000}],"created_at":"2026-11-24T10:00:00Z",
         "metadata":{"cart":"c-1","items":3},"unknown_field":"ignored"}
        """#
        try await pipeline.publish(topic: topics.paymentRequests, [("user-42", Data(request.utf8))], partitioning: upstream)

        let watched = [topics.paymentEvents, topics.channelRequests, topics.channelConfirmations,
                       topics.settlementRequests, topics.settlementEvents, topics.notifications]
        let reader = try await pipeline.reader(watched + topics.inputTopics.map(topics.deadLetter(of:)))
        var records = try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == topics.notifications }.count >= 4 && records.contains { $0.topic == topics.settlementEvents }
        }
        records += try await reader.readFor(.milliseconds(500))  // nothing more may arrive
        await reader.close()
        await pipeline.stop()
        #expect(try ShardInspection.paymentProblems(stateDirectory: pipeline.stateDirectory) == [])

        func on(_ topic: String) -> [ConsumedRecord] { records.filter { $0.topic == topic }.sorted { $0.offset < $1.offset } }
        // No dead letters anywhere.
        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)

        // payments.events: authorized then captured, keyed by payer, one partition.
        let paymentEvents = try on(topics.paymentEvents).map { try Wire.decode(PaymentEvent.self, from: Data($0.value)) }
        try #require(paymentEvents.count == 2)
        #expect(Set(on(topics.paymentEvents).map(\.partition)).count == 1)
        #expect(on(topics.paymentEvents).allSatisfy { $0.keyString == "user-42" })
        for (event, (sequence, type, status)) in zip(paymentEvents, [(1, "payment.authorized", "authorized"), (2, "payment.captured", "captured")]) {
            #expect(event.schema == "payment-event/v1")
            #expect(event.eventId == "pe:user-42:pay-1001:\(sequence)")
            #expect(event.sequence == sequence)
            #expect(event.type == type)
            #expect(event.status == status)
            #expect(event.paymentId == "pay-1001")
            #expect(event.requestId == "ord-1001-try-1")
            #expect(event.orderId == "ord-1001")
            #expect(event.payerId == "user-42")
            #expect(event.merchantId == "m-7")
            #expect(event.amount == 19999)
            #expect(event.currency == "CNY")
            #expect(event.method == "card")
            #expect(event.channel == "bank_card")
            #expect(event.reason == nil)
            #expect(event.message == nil)
            #expect(event.metadata == .object(["cart": .string("c-1"), "items": .integer(3)]))
            #expect(ISO8601DateFormatter.withFraction.date(from: event.occurredAt) != nil)
        }
        #expect(paymentEvents[0].channelReference == nil)
        // Every field is present, null included, as the schema says.
        let rawAuthorized = try JSONSerialization.jsonObject(with: Data(on(topics.paymentEvents)[0].value)) as! [String: Any]
        #expect(Set(rawAuthorized.keys) == ["schema", "event_id", "sequence", "occurred_at", "type", "payment_id", "request_id",
                                            "order_id", "payer_id", "merchant_id", "amount", "currency", "method", "channel",
                                            "status", "reason", "message", "channel_reference", "refund_amount", "refunded_total", "metadata"])
        #expect(on(topics.paymentEvents)[0].header("event-id") == "pe:user-42:pay-1001:1")

        // channel.requests: one authorize instruction keyed by payer.
        let instructions = try on(topics.channelRequests).map { try Wire.decode(ChannelRequest.self, from: Data($0.value)) }
        try #require(instructions.count == 1)
        let instruction = instructions[0]
        #expect(on(topics.channelRequests)[0].keyString == "user-42")
        #expect(instruction.schema == "channel-request/v1")
        #expect(instruction.requestType == "authorize")
        #expect(instruction.channelRequestId == "pay-1001:authorize")
        #expect(instruction.paymentId == "pay-1001")
        #expect(instruction.payerId == "user-42")
        #expect(instruction.merchantId == "m-7")
        #expect(instruction.amount == 19999)
        #expect(instruction.currency == "CNY")
        #expect(instruction.method == "card")
        #expect(instruction.channel == "bank_card")

        // channel.confirmations: approved, same key as the request.
        let confirmations = try on(topics.channelConfirmations).map { try Wire.decode(ChannelConfirmation.self, from: Data($0.value)) }
        try #require(confirmations.count == 1)
        let confirmation = confirmations[0]
        #expect(on(topics.channelConfirmations)[0].keyString == "user-42")
        #expect(on(topics.channelConfirmations)[0].partition == on(topics.channelRequests)[0].partition)
        #expect(confirmation.schema == "channel-confirmation/v1")
        #expect(confirmation.confirmationId == "cc-pay-1001:authorize")
        #expect(confirmation.channelRequestId == "pay-1001:authorize")
        #expect(confirmation.paymentId == "pay-1001")
        #expect(confirmation.status == "approved")
        #expect(confirmation.amount == 19999)
        #expect(confirmation.currency == "CNY")
        #expect(confirmation.reason == nil)
        let reference = try #require(confirmation.channelReference)
        #expect(reference.hasPrefix("sbx-card-"))
        #expect(paymentEvents[1].channelReference == reference)

        // settlement.requests: the capture, keyed by merchant.
        let handoffs = try on(topics.settlementRequests).map { try Wire.decode(SettlementRequest.self, from: Data($0.value)) }
        try #require(handoffs.count == 1)
        let handoff = handoffs[0]
        #expect(on(topics.settlementRequests)[0].keyString == "m-7")
        #expect(handoff.schema == "settlement-request/v1")
        #expect(handoff.eventId == "sr:user-42:pay-1001:capture")
        #expect(handoff.type == "capture")
        #expect(handoff.paymentId == "pay-1001")
        #expect(handoff.orderId == "ord-1001")
        #expect(handoff.payerId == "user-42")
        #expect(handoff.merchantId == "m-7")
        #expect(handoff.amount == 19999)
        #expect(handoff.currency == "CNY")
        #expect(handoff.method == "card")
        #expect(handoff.settlement == SettlementTerms(mode: "prepaid"))
        #expect(handoff.splits == [Split(partyId: "supplier-3", amount: 5000)])
        #expect(handoff.settlementCurrency == nil)
        #expect(handoff.sourceEventId == "pe:user-42:pay-1001:2")

        // settlements.events: booked, fee 0.60% of 19999 = 119.994 → 120 (half up), net = 19999 − 120 − 5000.
        let settlements = try on(topics.settlementEvents).map { try Wire.decode(SettlementEvent.self, from: Data($0.value)) }
        try #require(settlements.count == 1)
        let booked = settlements[0]
        #expect(on(topics.settlementEvents)[0].keyString == "m-7")
        #expect(booked.schema == "settlement-event/v1")
        #expect(booked.eventId == "se:user-42:pay-1001:booked")
        #expect(booked.sequence == 1)
        #expect(booked.type == "settlement.booked")
        #expect(booked.paymentId == "pay-1001")
        #expect(booked.orderId == "ord-1001")
        #expect(booked.payerId == "user-42")
        #expect(booked.merchantId == "m-7")
        #expect(booked.amount == 19999)
        #expect(booked.currency == "CNY")
        #expect(booked.fee == 120)
        #expect(booked.commission == 0)
        #expect(booked.net == 14879)
        #expect(booked.splits == [Split(partyId: "supplier-3", amount: 5000)])
        #expect(booked.settlementMode == "prepaid")
        #expect(booked.sourceEventId == "sr:user-42:pay-1001:capture")

        // notifications, in zh-CN: the capture to the payer and the merchant, the booking to the
        // merchant and to the supplier of the split.
        let notes = try on(topics.notifications).map { try Wire.decode(NotificationMessage.self, from: Data($0.value)) }
        #expect(notes.map { "\($0.type) \($0.recipientType) \($0.recipientId)" }.sorted() == [
            "payment.captured merchant m-7", "payment.captured payer user-42",
            "settlement.booked merchant m-7", "settlement.booked supplier supplier-3",
        ])
        let note = try #require(notes.first { $0.recipientType == "payer" })
        #expect(on(topics.notifications).filter { $0.keyString == "user-42" }.count == 1)
        #expect(note.schema == "notification/v1")
        #expect(note.eventId == "nt:pe:user-42:pay-1001:2:payer:user-42")
        #expect(note.sourceEventId == "pe:user-42:pay-1001:2")
        #expect(note.recipientId == "user-42")
        #expect(note.type == "payment.captured")
        #expect(note.paymentId == "pay-1001")
        #expect(note.orderId == "ord-1001")
        #expect(note.amount == 19999)
        #expect(note.currency == "CNY")
        #expect(note.locale == "zh-CN")
        #expect(note.title == "支付成功")
        #expect(note.body == "您的订单 ord-1001 已支付 ¥199.99")
        let supplier = try #require(notes.first { $0.recipientType == "supplier" })
        #expect(supplier.amount == 5000 && supplier.body == "商户 m-7 的订单 ord-1001 分给您 ¥50.00，\(booked.availableOn ?? "-") 可提现")

        // The settlement ledger balances, and holds what was booked.
        let entries = try ledgerEntries(pipeline.stateDirectory)
        #expect(entries.reduce(0) { $0 + $1.amount } == 0)
        #expect(Dictionary(entries.map { ($0.account, $0.amount) }, uniquingKeysWith: +) == [
            "clearing:card:CNY": 19999, "merchant_pending:m-7:CNY": -14879, "fee_revenue:CNY": -120,
            "supplier_pending:supplier-3:CNY": -5000,
        ])
    }
}

extension CardPaymentTests {
    @Test("two payers who use the same payment_id: both captured, settled and notified, nothing shared downstream")
    func samePaymentIDTwoPayers() async throws {
        let pipeline = try await InProcessPipeline(partitions: 4)
        let topics = pipeline.topics
        // Two payers whose shards differ, so the payment stage holds each payment on its own.
        func shard(_ payer: String) -> Int32 { KeyPartitioner.partition(of: Array(payer.utf8), partitionCount: 4) }
        let other = try #require((1...100).map { "user-\($0)" }.first { shard($0) != shard("user-42") })
        let payers = ["user-42", other]
        try pipeline.start()
        let requests = payers.enumerated().map { index, payer in
            (payer, Data("""
                {"schema":"payment-request/v1","type":"payment","request_id":"same-\(payer)","payment_id":"pay-same",
                 "payer_id":"\(payer)","merchant_id":"m-7","amount":\(1000 + index),"currency":"CNY",
                 "method":"card","channel":"bank_card"}
                """.utf8))
        }
        try await pipeline.publish(topic: topics.paymentRequests, requests)
        let reader = try await pipeline.reader([topics.paymentEvents, topics.settlementEvents, topics.notifications]
                                               + topics.inputTopics.map(topics.deadLetter(of:)))
        var records = try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == topics.notifications }.count >= 2
                && records.filter { $0.topic == topics.settlementEvents }.count >= 2
        }
        records += try await reader.readFor(.milliseconds(500))
        await reader.close()
        await pipeline.stop()

        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)
        let events = try records.filter { $0.topic == topics.paymentEvents }.map { try Wire.decode(PaymentEvent.self, from: Data($0.value)) }
        let booked = try records.filter { $0.topic == topics.settlementEvents }.map { try Wire.decode(SettlementEvent.self, from: Data($0.value)) }
        let notes = try records.filter { $0.topic == topics.notifications }.map { try Wire.decode(NotificationMessage.self, from: Data($0.value)) }
        for (index, payer) in payers.enumerated() {
            #expect(events.filter { $0.payerId == payer && $0.type == "payment.captured" }.map(\.eventId) == ["pe:\(payer):pay-same:2"])
            #expect(booked.filter { $0.payerId == payer }.map(\.eventId) == ["se:\(payer):pay-same:booked"])
            #expect(booked.first { $0.payerId == payer }?.amount == Int64(1000 + index))
            #expect(notes.filter { $0.recipientId == payer }.map(\.sourceEventId) == ["pe:\(payer):pay-same:2"])
        }
        let rows = try settlementRows(pipeline.stateDirectory)
        #expect(Set(rows.map { "\($0.payer)/\($0.payment)" }) == Set(payers.map { "\($0)/pay-same" }) && rows.count == 2)
        #expect(try ledgerEntries(pipeline.stateDirectory).reduce(0) { $0 + $1.amount } == 0)
    }
}

func settlementRows(_ stateDirectory: String) throws -> [(payer: String, payment: String)] {
    try ShardInspection.read(stateDirectory: stateDirectory, stage: "settlement-worker") { db in
        try Row.fetchAll(db, sql: "SELECT payer_id, payment_id FROM settlement_line").map { ($0["payer_id"] as String, $0["payment_id"] as String) }
    }.flatMap { $0 }
}

func ledgerEntries(_ stateDirectory: String) throws -> [(account: String, amount: Int64)] {
    let dir = "\(stateDirectory)/settlement-worker"
    var result: [(String, Int64)] = []
    // Shards only: the stage's reference.sqlite (its copy of the reference topics) sits beside them.
    for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasPrefix("p") && file.hasSuffix(".sqlite") {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)  // a worker may be writing this shard right now
        let queue = try DatabaseQueue(path: "\(dir)/\(file)", configuration: configuration)
        result += try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT account_id, amount FROM ledger_entry").map { ($0["account_id"] as String, $0["amount"] as Int64) }
        }
        try queue.close()
    }
    return result
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFraction: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
