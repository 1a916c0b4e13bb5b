import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// notifier: turns payment, settlement and payout events into one message per recipient who
/// cares (payer, merchant, supplier) on `notifications`, rendered from the operator's templates
/// (`NotificationTemplates`) in the recipient's locale. Who hears of what is
/// `NotificationRecipients.table`; docs/notifications.md has it.
public struct NotifierStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// Locale for recipients without a preference: `zh-CN` or `en`.
        public var defaultLocale: String = "zh-CN"
        /// The templates file (YAML); a relative path starts from the config file's folder.
        /// Required by the daemon.
        public var templatesFile: String?

        public init(defaultLocale: String = "zh-CN", templatesFile: String? = nil) {
            self.defaultLocale = defaultLocale
            self.templatesFile = templatesFile
        }

        enum CodingKeys: String, CodingKey { case defaultLocale = "default_locale", templatesFile = "templates_file" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            defaultLocale = try c.decodeIfPresent(String.self, forKey: .defaultLocale) ?? "zh-CN"
            templatesFile = try c.decodeIfPresent(String.self, forKey: .templatesFile)
            guard NotificationTemplates.locales.contains(defaultLocale) else {
                throw DecodingError.dataCorruptedError(forKey: .defaultLocale, in: c,
                    debugDescription: "locale must be one of \(NotificationTemplates.locales.joined(separator: ", "))")
            }
        }
    }

    public enum Input: Sendable {
        case payment(PaymentEvent)
        case settlement(SettlementEvent)
        case payout(PayoutEvent)
    }

    public let name = "notifier"
    public let topics: TopicNames
    public let settings: Settings
    public let templates: NotificationTemplates
    /// Merchants' locales (`merchant/v1` `locale`), read in full from `reference.merchants`; nil
    /// renders every notification in the default locale.
    public let reference: (any ReferenceLookup)?

    public init(topics: TopicNames, settings: Settings = Settings(), templates: NotificationTemplates,
                reference: (any ReferenceLookup)? = nil) {
        self.topics = topics
        self.settings = settings
        self.templates = templates
        self.reference = reference
    }

    /// A live lookup (`LiveReferenceData`) is kept current by the worker.
    public var referenceFeed: (any ReferenceFeed)? { reference as? any ReferenceFeed }

    /// The recipient's locale: a payer's from its payment's request (carried on the payment's
    /// events), a merchant's (or a supplier's, when it has a merchant record) from reference
    /// data, else the default.
    func locale(of notice: Notice) -> String {
        if let preferred = notice.preferredLocale, NotificationTemplates.locales.contains(preferred) { return preferred }
        guard notice.recipientType != "payer", let locale = reference?.merchant(notice.recipientId)?.locale,
              NotificationTemplates.locales.contains(locale) else { return settings.defaultLocale }
        return locale
    }

    /// Reads and checks the templates file the settings name (every notified event in both
    /// locales, each using only its event's variables).
    /// - Parameter configFile: the daemon's config file, whose folder relative paths start from.
    public static func loadTemplates(_ settings: Settings, configFile: String?) throws -> NotificationTemplates {
        guard let file = settings.templatesFile, !file.isEmpty else {
            throw ConfigurationError("stage.templates_file is required (the notification texts, e.g. Config/notification-templates.yaml)")
        }
        let path = configRelativePath(file, configFile: configFile)
        do { return try NotificationTemplates.load(path: path) } catch let error as NotificationTemplates.Invalid {
            throw ConfigurationError(error.description)
        }
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
        let notices: [Notice]
        let source: String
        switch input {
        case .payment(let event): (notices, source) = (NotificationRecipients.notices(for: event), event.eventId)
        case .settlement(let event): (notices, source) = (NotificationRecipients.notices(for: event), event.eventId)
        case .payout(let event): (notices, source) = (NotificationRecipients.notices(for: event), event.eventId)
        }
        for notice in notices {
            let locale = locale(of: notice)
            let text = try templates.render(notice, locale: locale)
            let eventID = "nt:\(source):\(notice.recipientType):\(notice.recipientId)"
            let notification = NotificationMessage(
                eventId: eventID, sourceEventId: source, occurredAt: context.timestamp, recipientId: notice.recipientId,
                recipientType: notice.recipientType, type: notice.eventType, paymentId: notice.paymentId, payoutId: notice.payoutId,
                orderId: notice.orderId, amount: notice.amount, currency: notice.currency, locale: locale,
                title: text.title, body: text.body)
            try context.emit(notification, topic: topics.notifications, key: notice.recipientId, eventID: eventID)
        }
    }
}
