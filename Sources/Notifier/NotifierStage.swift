import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// notifier: turns payment and settlement events into one message per recipient on
/// `notifications`, rendered in the recipient's locale. Today: the payer on `payment.captured`.
/// (Merchant and supplier notices, webhooks and the dead-letter path come with the notifier issue.)
public struct NotifierStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// Locale for recipients without a preference: `zh-CN` or `en`.
        public var defaultLocale: String = "zh-CN"

        public init(defaultLocale: String = "zh-CN") { self.defaultLocale = defaultLocale }

        enum CodingKeys: String, CodingKey { case defaultLocale = "default_locale" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            defaultLocale = try c.decodeIfPresent(String.self, forKey: .defaultLocale) ?? "zh-CN"
            guard NotificationTemplates.locales.contains(defaultLocale) else {
                throw DecodingError.dataCorruptedError(forKey: .defaultLocale, in: c,
                    debugDescription: "locale must be one of \(NotificationTemplates.locales.sorted().joined(separator: ", "))")
            }
        }
    }

    public enum Input: Sendable {
        case payment(PaymentEvent)
        case settlement(SettlementEvent)
        /// A batch or payout event (`payout-event/v1`): nobody is notified of it yet.
        case payout(PayoutEvent)
    }

    public let name = "notifier"
    public let topics: TopicNames
    public let settings: Settings

    public init(topics: TopicNames, settings: Settings = Settings()) {
        self.topics = topics
        self.settings = settings
    }

    public var inputTopics: [String] { [topics.paymentEvents, topics.settlementEvents] }
    public var outputTopics: [String] { [topics.notifications] }
    public var schema: StageSchema { .empty }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.settlementEvents {
            if Wire.schema(of: Data(record.value)) == PayoutEvent.schemaName {
                return .payout(try decodeMessage(PayoutEvent.self, schema: PayoutEvent.schemaName, from: record))
            }
            return .settlement(try decodeMessage(SettlementEvent.self, schema: SettlementEvent.schemaName, from: record))
        }
        return .payment(try decodeMessage(PaymentEvent.self, schema: PaymentEvent.schemaName, from: record))
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .payment(let event): "event:\(event.eventId)"
        case .settlement(let event): "event:\(event.eventId)"
        case .payout(let event): "event:\(event.eventId)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        guard case .payment(let event) = input, event.eventType == .captured,
              let payer = event.payerId, let amount = event.amount, let currencyCode = event.currency else { return }
        let money = Currency.named(currencyCode).map { Money(minorUnits: amount, currency: $0) }
        let rendered = NotificationTemplates.render(type: event.type, locale: settings.defaultLocale,
                                                    orderID: event.orderId ?? event.paymentId,
                                                    amount: money?.formatted ?? "\(currencyCode) \(amount)")
        let notification = NotificationMessage(
            eventId: "nt:\(event.eventId):payer", sourceEventId: event.eventId, occurredAt: context.timestamp,
            recipientId: payer, recipientType: "payer", type: event.type, paymentId: event.paymentId,
            orderId: event.orderId, amount: amount, currency: currencyCode, locale: settings.defaultLocale,
            title: rendered.title, body: rendered.body)
        try context.emit(notification, topic: topics.notifications, key: payer, eventID: notification.eventId)
    }
}

/// Message texts per event type and locale.
public enum NotificationTemplates {
    public static let locales: Set<String> = ["zh-CN", "en"]

    public static func render(type: String, locale: String, orderID: String, amount: String) -> (title: String, body: String) {
        switch (type, locale) {
        case ("payment.captured", "en"): ("Payment successful", "Your order \(orderID) has been paid: \(amount)")
        case ("payment.captured", _): ("支付成功", "您的订单 \(orderID) 已支付 \(amount)")
        default: (type, "\(orderID) \(amount)")
        }
    }
}
