import Foundation
import Notifier
import PaystreamDomain
import PaystreamWire
import PaystreamReference
import PaystreamRuntime
import PaystreamTesting
import Testing

/// The notifier's decisions on the stage harness: who hears of which event, rendered from the
/// shipped templates; the notification ids; redelivered events make nothing new. And the
/// templates file's checks.
@Suite("notifier: recipients and templates")
struct NotifierStageTests {
    static func harness(locale: String = "en") throws -> StageHarness<NotifierStage> {
        try StageHarness(NotifierStage(topics: TopicNames(), settings: .init(defaultLocale: locale), templates: try shippedNotificationTemplates()),
                         partitions: 2)
    }

    static func payment(_ type: PaymentEventType, sequence: Int, status: String, amount: Int64 = 19_999, currency: String = "CNY",
                        refund: Int64? = nil, total: Int64? = nil, reason: String? = nil) -> (key: String?, value: Data) {
        ("user-42", try! Wire.encode(PaymentEvent(
            eventId: "pe:user-42:pay-1:\(sequence)", sequence: sequence, occurredAt: "2026-11-30T10:00:00.000Z", type: type.rawValue,
            paymentId: "pay-1", requestId: "r", orderId: "ord-1", payerId: "user-42", merchantId: "m-7", amount: amount, currency: currency,
            method: "card", channel: "bank_card", status: status, reason: reason, refundAmount: refund, refundedTotal: total)))
    }

    static func notes(_ harness: StageHarness<NotifierStage>) -> [NotificationMessage] {
        harness.decoded(NotificationMessage.self, on: harness.topics.notifications)
    }

    @Test("payment events: payer and merchant as the table says, in the default locale, amounts per currency; a redelivery makes nothing new")
    func paymentEvents() throws {
        let harness = try Self.harness()
        let topics = harness.topics
        let events = [
            Self.payment(.captured, sequence: 2, status: "captured"),
            Self.payment(.partiallyRefunded, sequence: 3, status: "partially_refunded", refund: 5_000, total: 5_000),
            Self.payment(.refunded, sequence: 4, status: "refunded", refund: 14_999, total: 19_999),
            Self.payment(.authorized, sequence: 1, status: "authorized"),
        ]
        try harness.send(topic: topics.paymentEvents, events, partitioning: .librdkafkaDefault)
        let notes = Self.notes(harness)
        #expect(notes.map { "\($0.type) \($0.recipientType) \($0.recipientId)" } == [
            "payment.captured payer user-42", "payment.captured merchant m-7",
            "payment.partially_refunded payer user-42", "payment.partially_refunded merchant m-7",
            "payment.refunded payer user-42", "payment.refunded merchant m-7",
        ])
        #expect(notes[0].body == "Your order ord-1 has been paid: ¥199.99" && notes[0].locale == "en")
        #expect(notes[1].body == "Order ord-1 was paid: ¥199.99 (card)")
        #expect(notes[2].body == "¥50.00 of your order ord-1 was refunded (¥50.00 in all)" && notes[2].amount == 5_000)
        #expect(notes[4].eventId == "nt:pe:user-42:pay-1:4:payer:user-42")
        #expect(harness.published(on: topics.notifications).map(\.keyString) == ["user-42", "m-7", "user-42", "m-7", "user-42", "m-7"])
        try harness.send(topic: topics.paymentEvents, events)
        #expect(Self.notes(harness).count == 6)

        try harness.send(topic: topics.paymentEvents, [
            Self.payment(.failed, sequence: 2, status: "failed", amount: 500, currency: "JPY", reason: "do_not_honor"),
            Self.payment(.conflicted, sequence: 3, status: "conflicted", amount: 1_500, currency: "KWD", reason: "amount_mismatch"),
        ].map { ($0.key, Data(String(decoding: $0.value, as: UTF8.self).replacingOccurrences(of: "pay-1", with: "pay-2").utf8)) })
        let more = Self.notes(harness).suffix(2)
        #expect(more.map(\.body) == [
            "The payment of JP¥500 for your order ord-1 did not go through (do_not_honor)",
            "The channel confirmed order ord-1 for another amount than KWD 1.500 (amount_mismatch); please check",
        ])
    }

    @Test("settlement and payout events: merchant, supplier of each split, payer of an installment; zh-CN by default")
    func settlementEvents() throws {
        let harness = try Self.harness(locale: "zh-CN")
        let topics = harness.topics
        var booked = SettlementEvent(
            eventId: "se:user-42:pay-1:booked", sequence: 1, occurredAt: "2026-11-30T10:00:00.000Z", type: "settlement.booked",
            paymentId: "pay-1", orderId: "ord-1", payerId: "user-42", merchantId: "m-7", amount: 19_999, currency: "CNY", fee: 120,
            commission: 200, net: 14_679, splits: [Split(partyId: "supplier-3", amount: 5_000)], settlementMode: "prepaid",
            sourceEventId: "pe:user-42:pay-1:2")
        booked.availableOn = "2026-12-01"
        var due = booked
        due.eventId = "se:user-42:pay-1:3"
        due.type = "installment.due"
        due.installment = InstallmentInfo(number: 2, dueDate: "2026-12-24", amount: 3_334, paid: 0, status: "due")
        let payout = PayoutEvent(eventId: "b:m-7:4:3", sequence: 3, occurredAt: "2026-12-01T02:00:00.000Z", type: "payout.confirmed",
                                 batchId: "b:m-7:4", payoutId: "po:m-7:4", payeeId: "supplier-3", payeeRole: "supplier", merchantId: "m-7",
                                 amount: 5_000, currency: "CNY", payoutDate: "2026-12-01", status: "paid")
        var failed = payout
        failed.eventId = "b:m-7:5:3"
        failed.type = "payout.failed"
        failed.batchId = "b:m-7:5"
        failed.payoutId = "po:m-7:5"
        failed.payeeId = "m-7"
        failed.payeeRole = "merchant"
        failed.reason = "account_closed"
        var supplierSent = payout
        supplierSent.eventId = "b:m-7:4:2"
        supplierSent.type = "payout.sent"
        try harness.send(topic: topics.settlementEvents, [booked, due].map { ("m-7", try! Wire.encode($0)) }
                         + [payout, failed, supplierSent].map { ("m-7", try! Wire.encode($0)) })
        let notes = Self.notes(harness)
        #expect(notes.map { "\($0.type) \($0.recipientType) \($0.recipientId)" } == [
            "settlement.booked merchant m-7", "settlement.booked supplier supplier-3", "installment.due payer user-42",
            "payout.confirmed supplier supplier-3", "payout.failed merchant m-7",
        ])
        #expect(notes.map(\.body) == [
            "订单 ord-1：金额 ¥199.99，手续费 ¥1.20，佣金 ¥2.00，应得 ¥146.79，2026-12-01 可提现",
            "商户 m-7 的订单 ord-1 分给您 ¥50.00，2026-12-01 可提现",
            "订单 ord-1 第 2 期 ¥33.34 于 2026-12-24 到期",
            "出款 po:m-7:4：¥50.00 已到账",
            "出款 po:m-7:5：¥50.00 未成功（account_closed），款项将并入下一批次",
        ])
        #expect(notes[3].paymentId == nil && notes[3].payoutId == "po:m-7:4")
        #expect(notes.allSatisfy { $0.locale == "zh-CN" })

        // The payer's locale rides on its installment events.
        var english = due
        english.eventId = "se:user-42:pay-1:4"
        english.payerLocale = "en"
        try harness.send(topic: topics.settlementEvents, [("m-7", try Wire.encode(english))])
        #expect(Self.notes(harness).last.map { "\($0.recipientType) \($0.locale) \($0.body)" }
                == "payer en Installment 2 of order ord-1, ¥33.34, is due on 2026-12-24")
    }

    @Test("a merchant's locale from reference data wins over the default; the payer, without one, gets the default")
    func merchantLocale() throws {
        let reference = StaticReferenceData(merchants: [
            MerchantReference(merchantId: "m-7", status: .active, settlementCurrency: "CNY", locale: "en"),
            MerchantReference(merchantId: "m-8", status: .active, settlementCurrency: "CNY"),
        ])
        let harness = try StageHarness(NotifierStage(topics: TopicNames(), settings: .init(defaultLocale: "zh-CN"),
                                                     templates: try shippedNotificationTemplates(), reference: reference), partitions: 2)
        let other = Data(String(decoding: Self.payment(.captured, sequence: 2, status: "captured").value, as: UTF8.self)
            .replacingOccurrences(of: "m-7", with: "m-8").replacingOccurrences(of: "pay-1", with: "pay-9").utf8)
        try harness.send(topic: harness.topics.paymentEvents, [Self.payment(.captured, sequence: 2, status: "captured"), ("user-42", other)])
        let notes = Self.notes(harness)
        #expect(notes.map { "\($0.recipientId) \($0.locale) \($0.title)" } == [
            "user-42 zh-CN 支付成功", "m-7 en Payment received", "user-42 zh-CN 支付成功", "m-8 zh-CN 收到付款",
        ])
    }

    @Test("a payer's locale from its request (carried on the event) wins over the default; the merchant keeps its own")
    func payerLocale() throws {
        let harness = try Self.harness(locale: "zh-CN")
        var event = try Wire.decode(PaymentEvent.self, from: Self.payment(.captured, sequence: 2, status: "captured").value)
        event.locale = "en"
        try harness.send(topic: harness.topics.paymentEvents, [("user-42", try Wire.encode(event))])
        #expect(Self.notes(harness).map { "\($0.recipientType) \($0.locale) \($0.title)" } == [
            "payer en Payment successful", "merchant zh-CN 收到付款",
        ])
    }

    @Test("the shipped templates render every notified event for each recipient in both locales, every placeholder filled")
    func shippedTemplates() throws {
        let templates = try shippedNotificationTemplates()
        #expect(NotificationRecipients.table.count == 24)
        for entry in NotificationRecipients.table {
            let variables = Dictionary(uniqueKeysWithValues: entry.variables.map { ($0, "<\($0)>") })
            for locale in NotificationTemplates.locales {
                let text = try templates.render(event: entry.event, recipient: entry.recipient, locale: locale, variables: variables)
                #expect(!text.title.isEmpty && !text.body.isEmpty && !(text.title + text.body).contains("{{"),
                        "\(entry.event).\(entry.recipient).\(locale)")
                #expect(text.body.contains("<"), "\(entry.event).\(entry.recipient).\(locale) uses no variable")
            }
        }
    }

    static let minimal: String = {
        var yaml = ""
        for (event, entries) in Dictionary(grouping: NotificationRecipients.table, by: \.event).sorted(by: { $0.key < $1.key }) {
            yaml += "\(event):\n"
            for entry in entries {
                yaml += "  \(entry.recipient):\n    zh-CN: {title: \"t\", body: \"b\"}\n    en: {title: \"t\", body: \"{{\(entry.variables[0])}}\"}\n"
            }
        }
        return yaml
    }()

    @Test("a templates file is refused, naming what is wrong")
    func refusedFiles() throws {
        #expect(throws: Never.self) { try NotificationTemplates.parse(Self.minimal) }
        func problem(_ yaml: String) -> String {
            do { _ = try NotificationTemplates.parse(yaml); return "accepted" } catch { return "\(error)" }
        }
        let captured = "payment.captured:\n  payer:\n    zh-CN: {title: \"t\", body: \"b\"}\n    en: {title: \"t\", body: \"{{order_id}}\"}\n"
        #expect(Self.minimal.contains(captured))
        #expect(problem(Self.minimal.replacingOccurrences(of: captured, with: "payment.captured:\n  payer:\n    zh-CN: {title: \"t\", body: \"b\"}\n"))
                    .hasPrefix("payment.captured.payer.en: missing"))
        #expect(problem(Self.minimal.replacingOccurrences(of: captured, with: captured.replacingOccurrences(of: "{{order_id}}", with: "{{refund_amount}}")))
                == "payment.captured.payer.en.body: {{refund_amount}} is not a variable of this event (it has amount, merchant_id, method, order_id, payment_id)")
        #expect(problem(Self.minimal.replacingOccurrences(of: captured, with: captured.replacingOccurrences(of: "{{order_id}}", with: "{{order_id")))
                .hasPrefix("payment.captured.payer.en: an unclosed {{"))
        #expect(problem(Self.minimal + "payment.authorized:\n  payer:\n    en: {title: t, body: b}\n")
                .hasPrefix("payment.authorized: no such notified event"))
        #expect(problem(Self.minimal.replacingOccurrences(of: captured, with: captured.replacingOccurrences(of: "en:", with: "fr:")))
                .hasPrefix("payment.captured.payer.fr: unknown locale"))
        #expect(problem(Self.minimal.replacingOccurrences(of: captured, with: captured.replacingOccurrences(of: "  payer:", with: "  supplier:")))
                .hasPrefix("payment.captured.supplier: this recipient is not notified"))
    }
}
