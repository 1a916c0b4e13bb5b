/// What a settlement request asks (`type` of `settlement-request/v1`); the wire keeps the string.
public enum SettlementRequestType: String, Sendable, CaseIterable {
    /// A captured payment to settle.
    case capture
    /// `amount` of a settled payment given back to the payer.
    case refund
}

/// Captured money handed to settlement (`settlement-request/v1` on `settlement.requests`, keyed by merchant).
public struct SettlementRequest: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "settlement-request/v1"

    public var schema: String = SettlementRequest.schemaName
    public var eventId: String
    /// `capture` (a captured payment to settle) or `refund` (`amount` of it given back):
    /// `SettlementRequestType`, kept a string so that an unknown type is told apart from bad JSON.
    public var type: String
    public var paymentId: String
    public var orderId: String?
    public var payerId: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    public var method: String
    public var settlement: SettlementTerms
    public var splits: [Split]
    public var settlementCurrency: String?
    public var capturedAt: String
    public var sourceEventId: String

    public init(eventId: String, type: String, paymentId: String, orderId: String?, payerId: String, merchantId: String,
                amount: Int64, currency: String, method: String, settlement: SettlementTerms, splits: [Split],
                settlementCurrency: String?, capturedAt: String, sourceEventId: String) {
        self.eventId = eventId
        self.type = type
        self.paymentId = paymentId
        self.orderId = orderId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.method = method
        self.settlement = settlement
        self.splits = splits
        self.settlementCurrency = settlementCurrency
        self.capturedAt = capturedAt
        self.sourceEventId = sourceEventId
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case type
        case paymentId = "payment_id"
        case orderId = "order_id"
        case payerId = "payer_id"
        case merchantId = "merchant_id"
        case amount
        case currency
        case method
        case settlement
        case splits
        case settlementCurrency = "settlement_currency"
        case capturedAt = "captured_at"
        case sourceEventId = "source_event_id"
    }
}

/// A settlement-side event (`settlement-event/v1` on `settlements.events`, keyed by merchant).
public struct SettlementEvent: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "settlement-event/v1"

    public var schema: String = SettlementEvent.schemaName
    public var eventId: String
    public var sequence: Int
    public var occurredAt: String
    public var type: String
    public var paymentId: String
    public var orderId: String?
    public var payerId: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    public var fee: Int64
    public var commission: Int64
    public var net: Int64
    public var splits: [Split]
    public var settlementMode: String
    public var sourceEventId: String

    public init(eventId: String, sequence: Int, occurredAt: String, type: String, paymentId: String, orderId: String?,
                payerId: String, merchantId: String, amount: Int64, currency: String, fee: Int64, commission: Int64,
                net: Int64, splits: [Split], settlementMode: String, sourceEventId: String) {
        self.eventId = eventId
        self.sequence = sequence
        self.occurredAt = occurredAt
        self.type = type
        self.paymentId = paymentId
        self.orderId = orderId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.commission = commission
        self.net = net
        self.splits = splits
        self.settlementMode = settlementMode
        self.sourceEventId = sourceEventId
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case sequence
        case occurredAt = "occurred_at"
        case type
        case paymentId = "payment_id"
        case orderId = "order_id"
        case payerId = "payer_id"
        case merchantId = "merchant_id"
        case amount
        case currency
        case fee
        case commission
        case net
        case splits
        case settlementMode = "settlement_mode"
        case sourceEventId = "source_event_id"
    }
}

/// A message for one recipient (`notification/v1` on `notifications`, keyed by recipient).
public struct NotificationMessage: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "notification/v1"

    public var schema: String = NotificationMessage.schemaName
    public var eventId: String
    public var sourceEventId: String
    public var occurredAt: String
    public var recipientId: String
    /// `payer`, `merchant` or `supplier`.
    public var recipientType: String
    public var type: String
    public var paymentId: String
    public var orderId: String?
    public var amount: Int64
    public var currency: String
    public var locale: String
    public var title: String
    public var body: String

    public init(eventId: String, sourceEventId: String, occurredAt: String, recipientId: String, recipientType: String,
                type: String, paymentId: String, orderId: String?, amount: Int64, currency: String, locale: String,
                title: String, body: String) {
        self.eventId = eventId
        self.sourceEventId = sourceEventId
        self.occurredAt = occurredAt
        self.recipientId = recipientId
        self.recipientType = recipientType
        self.type = type
        self.paymentId = paymentId
        self.orderId = orderId
        self.amount = amount
        self.currency = currency
        self.locale = locale
        self.title = title
        self.body = body
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case sourceEventId = "source_event_id"
        case occurredAt = "occurred_at"
        case recipientId = "recipient_id"
        case recipientType = "recipient_type"
        case type
        case paymentId = "payment_id"
        case orderId = "order_id"
        case amount
        case currency
        case locale
        case title
        case body
    }
}

/// A record that could not be processed (`dead-letter/v1` on `<topic>.dlq`, keyed like the original).
public struct DeadLetterMessage: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "dead-letter/v1"

    public var schema: String = DeadLetterMessage.schemaName
    public var errorCode: String
    public var errorMessage: String
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    public var originalKey: String?
    /// The original value, byte for byte, base64-encoded.
    public var originalValueBase64: String
    public var failedAt: String

    public init(errorCode: String, errorMessage: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64,
                originalKey: String?, originalValueBase64: String, failedAt: String) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.originalKey = originalKey
        self.originalValueBase64 = originalValueBase64
        self.failedAt = failedAt
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case errorCode = "error_code"
        case errorMessage = "error_message"
        case sourceTopic = "source_topic"
        case sourcePartition = "source_partition"
        case sourceOffset = "source_offset"
        case originalKey = "original_key"
        case originalValueBase64 = "original_value_base64"
        case failedAt = "failed_at"
    }
}

extension SettlementRequest {
    /// The request's type, nil for a type this version does not know.
    public var requestType: SettlementRequestType? { SettlementRequestType(rawValue: type) }
}
