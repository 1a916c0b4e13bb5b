import Foundation
import PaystreamDomain
import PaystreamWire
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
        /// Webhook delivery (`stage.webhooks`).
        public var webhooks = WebhookSettings()

        public init(defaultLocale: String = "zh-CN", templatesFile: String? = nil, webhooks: WebhookSettings = WebhookSettings()) {
            self.defaultLocale = defaultLocale
            self.templatesFile = templatesFile
            self.webhooks = webhooks
        }

        enum CodingKeys: String, CodingKey {
            case defaultLocale = "default_locale", templatesFile = "templates_file", webhooks
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            defaultLocale = try c.decodeIfPresent(String.self, forKey: .defaultLocale) ?? "zh-CN"
            templatesFile = try c.decodeIfPresent(String.self, forKey: .templatesFile)
            webhooks = try c.decodeIfPresent(WebhookSettings.self, forKey: .webhooks) ?? WebhookSettings()
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
    /// Merchants' locales (`merchant/v1` `locale`) and the webhook endpoints, read in full from
    /// `reference.merchants` and `reference.webhook-endpoints`; nil renders every notification
    /// in the default locale and sends no webhook.
    public let reference: (any ReferenceLookup)?
    /// Webhook delivery beside the consumer loop.
    public let webhooks: WebhookDelivery

    /// The reference data the notifier reads.
    public static let referenceKinds: [ReferenceKind] = [.merchant, .webhookEndpoint]

    public init(topics: TopicNames, settings: Settings = Settings(), templates: NotificationTemplates,
                reference: (any ReferenceLookup)? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.topics = topics
        self.settings = settings
        self.templates = templates
        self.reference = reference
        webhooks = WebhookDelivery(settings: settings.webhooks, reference: reference, environment: environment)
    }

    public var companion: (any ShardCompanion)? { webhooks }
    /// The timer publishes the deliveries given up (and the endpoints that answered 410).
    public var tickInterval: Duration? { .seconds(1) }

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
    public var outputTopics: [String] { [topics.notifications, topics.webhookDeadLetters, topics.webhookEndpoints] }
    public var schema: StageSchema { StageSchema(WebhookTables.migrations) }

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
            try queueWebhooks(notification, in: context)
        }
    }

    /// Queues the notification for each enabled endpoint of its recipient that takes its type.
    /// The body's bytes are fixed here: every attempt sends and signs exactly these.
    func queueWebhooks(_ notification: NotificationMessage, in context: StageContext) throws {
        guard notification.recipientType != "payer", let reference else { return }
        let endpoints = reference.webhookEndpoints(ownerType: notification.recipientType, ownerID: notification.recipientId)
            .filter { $0.enabled && $0.subscribes(to: notification.type) }
        guard !endpoints.isEmpty else { return }
        let body = try Wire.encode(WebhookPayload(type: notification.type, timestamp: notification.occurredAt, data: notification))
        for endpoint in endpoints {
            try WebhookTables.enqueue(context.db, webhookID: notification.eventId, endpoint: endpoint, eventType: notification.type,
                                      body: body, now: context.now)
        }
    }

    /// Publishes the deliveries the companion gave up: a dead letter each, and for an endpoint
    /// that answered 410 its record disabled on `reference.webhook-endpoints` and a
    /// `webhook.endpoint_disabled` notification to its owner.
    /// Old finished deliveries are pruned in chunks of this many per shard and tick.
    static let pruneChunk = 1_000

    public func tick(in context: StageContext) throws {
        for row in try WebhookTables.unreported(context.db, limit: 500) {
            let gone = row.history.last?.status == 410
            let reason = if row.state == "failed" { "attempts_exhausted" }
                else if gone { "endpoint_gone" }
                else if row.history.last?.error == "endpoint_deleted" { "endpoint_deleted" }
                else { "endpoint_disabled" }
            let letter = WebhookDeadLetter(webhookId: row.webhookID, endpointId: row.endpointID, ownerType: row.ownerType,
                                           ownerId: row.ownerID, eventType: row.eventType, reason: reason,
                                           attempts: row.history, body: String(decoding: row.body, as: UTF8.self),
                                           deadLetteredAt: context.timestamp)
            try context.emit(letter, topic: topics.webhookDeadLetters, key: row.endpointID, eventID: letter.eventId)
            if gone, var endpoint = reference?.webhookEndpoint(row.endpointID), endpoint.enabled {
                let at = row.history.last?.at ?? context.timestamp
                endpoint.enabled = false
                endpoint.disabledReason = "answered 410 Gone at \(at)"
                endpoint.updatedAt = at
                // The same id from every shard that saw the 410: one disabling, however many.
                try context.emit(endpoint, topic: topics.webhookEndpoints, key: endpoint.endpointId,
                                 eventID: "endpoint-disabled:\(endpoint.endpointId):\(at)")
                try notifyDisabled(endpoint, at: at, in: context)
            }
            try WebhookTables.markReported(context.db, row.key)
        }
        let retention = settings.webhooks.retentionHours * 3600
        try WebhookTables.prune(context.db, finishedBefore: context.now.addingTimeInterval(-retention), limit: Self.pruneChunk)
    }

    func notifyDisabled(_ endpoint: WebhookEndpointReference, at: String, in context: StageContext) throws {
        let notice = NotificationRecipients.notice(disabling: endpoint)
        let locale = locale(of: notice)
        let text = try templates.render(notice, locale: locale)
        let eventID = "nt:endpoint-disabled:\(endpoint.endpointId):\(at):\(notice.recipientType):\(notice.recipientId)"
        let notification = NotificationMessage(
            eventId: eventID, sourceEventId: "endpoint-disabled:\(endpoint.endpointId):\(at)", occurredAt: context.timestamp,
            recipientId: notice.recipientId, recipientType: notice.recipientType, type: notice.eventType, paymentId: nil,
            payoutId: nil, orderId: nil, amount: nil, currency: nil, locale: locale, title: text.title, body: text.body)
        try context.emit(notification, topic: topics.notifications, key: notice.recipientId, eventID: eventID)
    }
}
