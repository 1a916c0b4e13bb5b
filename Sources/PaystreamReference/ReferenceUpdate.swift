import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

/// The three kinds of reference data, each on its own compacted topic (PRODUCT.md §3).
public enum ReferenceKind: String, Sendable, Hashable, CaseIterable {
    case merchant
    case creditLine = "credit-line"
    case fxRate = "fx-rate"
    case webhookEndpoint = "webhook-endpoint"

    /// What the money stages decide with (the notifier reads merchants and webhook endpoints).
    public static let decisionKinds: [ReferenceKind] = [.merchant, .creditLine, .fxRate]

    public var schemaName: String {
        switch self {
        case .merchant: MerchantReference.schemaName
        case .creditLine: CreditLineReference.schemaName
        case .fxRate: FXRateReference.schemaName
        case .webhookEndpoint: WebhookEndpointReference.schemaName
        }
    }

    public init?(schema: String) {
        guard let kind = Self.allCases.first(where: { $0.schemaName == schema }) else { return nil }
        self = kind
    }

    /// The kind whose topic this is, under `topics`' prefix.
    public init?(topic: String, in topics: TopicNames) {
        guard let kind = Self.allCases.first(where: { $0.topic(in: topics) == topic }) else { return nil }
        self = kind
    }

    public func topic(in topics: TopicNames) -> String {
        switch self {
        case .merchant: topics.merchants
        case .creditLine: topics.creditLines
        case .fxRate: topics.fxRates
        case .webhookEndpoint: topics.webhookEndpoints
        }
    }

    /// What the record key is, in the message's terms.
    public var keyDescription: String {
        switch self {
        case .merchant: "merchant_id"
        case .creditLine: "payer_id"
        case .fxRate: "BASE/QUOTE"
        case .webhookEndpoint: "endpoint_id"
        }
    }
}

/// One change to reference data: a key's new value, or its deletion (a tombstone on the topic).
///
/// As a line of a `paystream reference load` file, a change is the message itself; a deletion is
/// the schema and the key fields with `"deleted": true`, e.g.
/// `{"schema":"merchant/v1","merchant_id":"m-9","deleted":true}`,
/// `{"schema":"credit-line/v1","payer_id":"user-9","deleted":true}`,
/// `{"schema":"fx-rate/v1","base":"USD","quote":"CNY","deleted":true}`.
public enum ReferenceUpdate: Sendable, Hashable {
    case merchant(MerchantReference)
    case creditLine(CreditLineReference)
    case fxRate(FXRateReference)
    case webhookEndpoint(WebhookEndpointReference)
    case deletion(ReferenceKind, key: String)

    public var kind: ReferenceKind {
        switch self {
        case .merchant: .merchant
        case .creditLine: .creditLine
        case .fxRate: .fxRate
        case .webhookEndpoint: .webhookEndpoint
        case .deletion(let kind, _): kind
        }
    }

    /// The record key: merchant_id, payer_id or `BASE/QUOTE`.
    public var key: String {
        switch self {
        case .merchant(let merchant): merchant.merchantId
        case .creditLine(let line): line.payerId
        case .fxRate(let rate): rate.pair
        case .webhookEndpoint(let endpoint): endpoint.endpointId
        case .deletion(_, let key): key
        }
    }

    public var isDeletion: Bool { if case .deletion = self { true } else { false } }

    /// The record value (the message as JSON); nil for a deletion.
    public func value() throws -> Data? {
        switch self {
        case .merchant(let merchant): try Wire.encode(merchant)
        case .creditLine(let line): try Wire.encode(line)
        case .fxRate(let rate): try Wire.encode(rate)
        case .webhookEndpoint(let endpoint): try Wire.encode(endpoint)
        case .deletion: nil
        }
    }

    /// The record to publish: keyed, on the kind's topic; a tombstone for a deletion.
    public func message(in topics: TopicNames) throws -> OutgoingMessage {
        let topic = kind.topic(in: topics)
        guard let value = try value() else { return .tombstone(topic: topic, key: key) }
        return OutgoingMessage(topic: topic, key: Array(key.utf8), value: Array(value))
    }

    /// Reads a change as a load file has it: the `schema` decides the kind, `"deleted": true`
    /// makes it a deletion of the key its fields name. Throws with the reason for anything that
    /// is not a valid message.
    public static func parse(_ data: Data) throws(ReferenceRejection) -> ReferenceUpdate {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw ReferenceRejection("not a JSON object")
        }
        guard let schema = object["schema"]?.stringValue else { throw ReferenceRejection("no \"schema\" field") }
        guard let kind = ReferenceKind(schema: schema) else {
            throw ReferenceRejection("schema '\(schema)' is not one of \(ReferenceKind.allCases.map(\.schemaName).joined(separator: ", "))")
        }
        switch object["deleted"] {
        case nil, .bool(false)?, .null?:
            return try decode(data, kind: kind)
        case .bool(true)?:
            return .deletion(kind, key: try deletionKey(object, kind: kind))
        default:
            throw ReferenceRejection("\"deleted\" must be true or false")
        }
    }

    /// Reads a record's value from the topic of `kind` under `key`: the schema must be the
    /// topic's, the message valid, and the key the one the message names.
    public static func decode(_ data: Data, kind: ReferenceKind, key: String) throws(ReferenceRejection) -> ReferenceUpdate {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw ReferenceRejection("value is not a JSON object")
        }
        guard let schema = object["schema"]?.stringValue else { throw ReferenceRejection("value has no \"schema\" field") }
        guard schema == kind.schemaName else {
            throw ReferenceRejection("schema '\(schema)' does not belong on this topic (expected \(kind.schemaName))")
        }
        let update = try decode(data, kind: kind)
        guard update.key == key else {
            throw ReferenceRejection("record key '\(key)' does not match the message's \(kind.keyDescription) '\(update.key)'")
        }
        return update
    }

    private static func decode(_ data: Data, kind: ReferenceKind) throws(ReferenceRejection) -> ReferenceUpdate {
        let update: ReferenceUpdate
        let problems: [String]
        do {
            switch kind {
            case .merchant:
                let merchant = try Wire.decode(MerchantReference.self, from: data, strict: true)
                (update, problems) = (.merchant(merchant), merchant.problems)
            case .creditLine:
                let line = try Wire.decode(CreditLineReference.self, from: data, strict: true)
                (update, problems) = (.creditLine(line), line.problems)
            case .fxRate:
                let rate = try Wire.decode(FXRateReference.self, from: data, strict: true)
                (update, problems) = (.fxRate(rate), rate.problems)
            case .webhookEndpoint:
                let endpoint = try Wire.decode(WebhookEndpointReference.self, from: data, strict: true)
                (update, problems) = (.webhookEndpoint(endpoint), endpoint.problems)
            }
        } catch {
            throw ReferenceRejection("\(kind.schemaName): \(Wire.describe(error))")
        }
        guard problems.isEmpty else { throw ReferenceRejection("\(kind.schemaName): \(problems.joined(separator: "; "))") }
        return update
    }

    private static func deletionKey(_ object: [String: JSONValue], kind: ReferenceKind) throws(ReferenceRejection) -> String {
        func field(_ name: String) throws(ReferenceRejection) -> String {
            guard let value = object[name]?.stringValue, !value.isEmpty else {
                throw ReferenceRejection("a \(kind.schemaName) deletion needs \"\(name)\"")
            }
            return value
        }
        switch kind {
        case .merchant: return try field("merchant_id")
        case .creditLine: return try field("payer_id")
        case .fxRate: return "\(try field("base"))/\(try field("quote"))"
        case .webhookEndpoint: return try field("endpoint_id")
        }
    }
}
