import Foundation

/// A merchant's or supplier's webhook endpoint (`webhook-endpoint/v1`, compacted topic
/// `reference.webhook-endpoints`, keyed by `endpoint_id`). The signing secrets are not here: the
/// notifier reads them from `<credentials directory>/webhook_<endpoint_id>`, never from Kafka.
public struct WebhookEndpointReference: Sendable, Codable, Hashable {
    public static let schemaName = "webhook-endpoint/v1"
    /// Who may own an endpoint: the recipient types that are not payers.
    public static let ownerTypes = ["merchant", "supplier"]

    public var schema: String = WebhookEndpointReference.schemaName
    public var endpointId: String
    /// `merchant` or `supplier`.
    public var ownerType: String
    public var ownerId: String
    /// Where deliveries are POSTed: an absolute http or https URL.
    public var url: String
    /// The notification types sent to it (`payment.captured`, `payout.failed`, …); absent or
    /// empty: every type its owner is notified of.
    public var eventTypes: [String]?
    /// A disabled endpoint gets nothing; what was queued for it goes to the webhook dead-letter
    /// topic. The notifier disables an endpoint that answers 410 Gone.
    public var enabled: Bool
    /// Why it was disabled, when the notifier did it.
    public var disabledReason: String?
    public var updatedAt: String?

    /// The wire names, spelled out: reference messages are coded without key conversion (`WireKeyed`, declared in PaystreamWire).
    enum CodingKeys: String, CodingKey {
        case schema
        case endpointId = "endpoint_id"
        case ownerType = "owner_type"
        case ownerId = "owner_id"
        case url
        case eventTypes = "event_types"
        case enabled
        case disabledReason = "disabled_reason"
        case updatedAt = "updated_at"
    }

    public init(endpointId: String, ownerType: String, ownerId: String, url: String, eventTypes: [String]? = nil,
                enabled: Bool = true, disabledReason: String? = nil, updatedAt: String? = nil) {
        self.endpointId = endpointId
        self.ownerType = ownerType
        self.ownerId = ownerId
        self.url = url
        self.eventTypes = eventTypes
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.updatedAt = updatedAt
    }

    /// Whether the endpoint takes notifications of `type` (whether or not it is enabled).
    public func subscribes(to type: String) -> Bool {
        guard let eventTypes, !eventTypes.isEmpty else { return true }
        return eventTypes.contains(type)
    }

    /// Everything wrong with this endpoint, one sentence each; empty when it is usable.
    public var problems: [String] {
        var problems: [String] = []
        if schema != Self.schemaName { problems.append("schema '\(schema)' is not \(Self.schemaName)") }
        if endpointId.isEmpty || !endpointId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            problems.append("endpoint_id '\(endpointId)' must be letters, digits, '-', '_' or '.' (it names the secret's file)")
        }
        if !Self.ownerTypes.contains(ownerType) {
            problems.append("owner_type '\(ownerType)' is not one of \(Self.ownerTypes.joined(separator: ", "))")
        }
        if ownerId.isEmpty { problems.append("owner_id is empty") }
        if let problem = StoredText.problem("owner_id", ownerId) { problems.append(problem) }
        if let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
           parsed.host?.isEmpty == false {
        } else {
            problems.append("url '\(url)' is not an absolute http or https URL")
        }
        if let eventTypes {
            if eventTypes.contains(where: { $0.isEmpty || !$0.contains(".") }) {
                problems.append("event_types: each entry is a notification type such as payment.captured")
            }
            if Set(eventTypes).count != eventTypes.count { problems.append("event_types: an entry appears twice") }
        }
        return problems
    }
}
