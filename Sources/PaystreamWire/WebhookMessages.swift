import Foundation
import PaystreamDomain

/// The body of a webhook delivery (Standard Webhooks' payload shape): the notification type, when
/// the delivery was made, and the notification (`notification/v1`) as `data`. Its bytes are fixed
/// when the delivery is queued: every attempt sends and signs the same bytes.
/// `data` must spell its own wire names (`WireKeyed`, as `NotificationMessage` does), since the
/// payload's keys are not converted.
public struct WebhookPayload<Data: Codable & Sendable & Hashable>: Sendable, Codable, Hashable, WireKeyed {
    public var type: String
    public var timestamp: String
    public var data: Data

    enum CodingKeys: String, CodingKey { case type, timestamp, data }

    public init(type: String, timestamp: String, data: Data) {
        self.type = type
        self.timestamp = timestamp
        self.data = data
    }
}

/// What a `webhook.test` delivery carries (`paystream webhooks test`).
public struct WebhookTestData: Sendable, Codable, Hashable {
    public var endpointId: String
    public var message: String

    public init(endpointId: String, message: String) {
        self.endpointId = endpointId
        self.message = message
    }
}

/// A webhook delivery given up (`webhook-dead-letter/v1` on `notifications.webhooks.dlq`, keyed
/// by endpoint id): every attempt failed, or its endpoint was disabled or deleted. It keeps the
/// exact body and `webhook-id`, so `paystream webhooks replay` sends what the endpoint would
/// have got.
public struct WebhookDeadLetter: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "webhook-dead-letter/v1"
    /// The reasons a delivery is given up.
    public static let reasons = ["attempts_exhausted", "endpoint_gone", "endpoint_disabled", "endpoint_deleted"]

    public var schema: String = WebhookDeadLetter.schemaName
    /// `wdlq:<webhook id>:<endpoint id>`.
    public var eventId: String
    public var webhookId: String
    public var endpointId: String
    public var ownerType: String
    public var ownerId: String
    public var eventType: String
    public var reason: String
    /// Every attempt, in order, with its HTTP status or error.
    public var attempts: [WebhookAttemptRecord]
    /// The body as sent (UTF-8 JSON).
    public var body: String
    public var deadLetteredAt: String

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case webhookId = "webhook_id"
        case endpointId = "endpoint_id"
        case ownerType = "owner_type"
        case ownerId = "owner_id"
        case eventType = "event_type"
        case reason, attempts, body
        case deadLetteredAt = "dead_lettered_at"
    }

    public init(webhookId: String, endpointId: String, ownerType: String, ownerId: String, eventType: String, reason: String,
                attempts: [WebhookAttemptRecord], body: String, deadLetteredAt: String) {
        eventId = "wdlq:\(webhookId):\(endpointId)"
        self.webhookId = webhookId
        self.endpointId = endpointId
        self.ownerType = ownerType
        self.ownerId = ownerId
        self.eventType = eventType
        self.reason = reason
        self.attempts = attempts
        self.body = body
        self.deadLetteredAt = deadLetteredAt
    }
}

/// One attempt at a webhook delivery: when, and the HTTP status or the error.
public struct WebhookAttemptRecord: Sendable, Codable, Hashable, WireKeyed {
    public var attempt: Int
    public var at: String
    public var status: Int?
    public var error: String?
    public var durationMs: Int?
    public var retryAfterSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case attempt, at, status, error
        case durationMs = "duration_ms"
        case retryAfterSeconds = "retry_after_seconds"
    }

    public init(attempt: Int, at: String, status: Int?, error: String?, durationMs: Int?, retryAfterSeconds: Double? = nil) {
        self.attempt = attempt
        self.at = at
        self.status = status
        self.error = error
        self.durationMs = durationMs
        self.retryAfterSeconds = retryAfterSeconds
    }
}
