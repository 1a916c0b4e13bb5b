import PaystreamDomain

/// A state change of a payment (`payment-event/v1` on `payments.events`, keyed by payer).
/// Optional fields are written as JSON null, so consumers see every field.
public struct PaymentEvent: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "payment-event/v1"

    public var schema: String = PaymentEvent.schemaName
    public var eventId: String
    public var sequence: Int
    public var occurredAt: String
    public var type: String
    public var paymentId: String
    public var requestId: String?
    public var orderId: String?
    public var payerId: String?
    public var merchantId: String?
    public var amount: Int64?
    public var currency: String?
    public var method: String?
    public var channel: String?
    public var status: String
    public var reason: String?
    public var message: String?
    public var channelReference: String?
    /// For refund events: this refund's amount, and the payment's refunded total after it.
    public var refundAmount: Int64?
    public var refundedTotal: Int64?
    /// The payer's locale for notifications, when the payment's request gave one.
    public var locale: String?
    public var metadata: JSONValue?

    public init(eventId: String, sequence: Int, occurredAt: String, type: String, paymentId: String,
                requestId: String?, orderId: String?, payerId: String?, merchantId: String?, amount: Int64?,
                currency: String?, method: String?, channel: String?, status: String, reason: String? = nil,
                message: String? = nil, channelReference: String? = nil, refundAmount: Int64? = nil,
                refundedTotal: Int64? = nil, metadata: JSONValue? = nil, locale: String? = nil) {
        self.eventId = eventId
        self.sequence = sequence
        self.occurredAt = occurredAt
        self.type = type
        self.paymentId = paymentId
        self.requestId = requestId
        self.orderId = orderId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.method = method
        self.channel = channel
        self.status = status
        self.reason = reason
        self.message = message
        self.channelReference = channelReference
        self.refundAmount = refundAmount
        self.refundedTotal = refundedTotal
        self.metadata = metadata
        self.locale = locale
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case sequence
        case occurredAt = "occurred_at"
        case type
        case paymentId = "payment_id"
        case requestId = "request_id"
        case orderId = "order_id"
        case payerId = "payer_id"
        case merchantId = "merchant_id"
        case amount
        case currency
        case method
        case channel
        case status
        case reason
        case message
        case channelReference = "channel_reference"
        case refundAmount = "refund_amount"
        case refundedTotal = "refunded_total"
        case metadata
        case locale
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(eventId, forKey: .eventId)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(occurredAt, forKey: .occurredAt)
        try c.encode(type, forKey: .type)
        try c.encode(paymentId, forKey: .paymentId)
        try c.encode(requestId, forKey: .requestId)
        try c.encode(orderId, forKey: .orderId)
        try c.encode(payerId, forKey: .payerId)
        try c.encode(merchantId, forKey: .merchantId)
        try c.encode(amount, forKey: .amount)
        try c.encode(currency, forKey: .currency)
        try c.encode(method, forKey: .method)
        try c.encode(channel, forKey: .channel)
        try c.encode(status, forKey: .status)
        try c.encode(reason, forKey: .reason)
        try c.encode(message, forKey: .message)
        try c.encode(channelReference, forKey: .channelReference)
        try c.encode(refundAmount, forKey: .refundAmount)
        try c.encode(refundedTotal, forKey: .refundedTotal)
        try c.encode(metadata ?? .object([:]), forKey: .metadata)
        try c.encodeIfPresent(locale, forKey: .locale)
    }
}

/// The `type` of a `payment-event/v1`: a closed set, written as these strings. `PaymentEvent.type`
/// stays a string on the wire, so that a consumer meeting a type it does not know yet can still
/// read the rest of the event; `eventType` is nil then.
public enum PaymentEventType: String, Sendable, CaseIterable {
    case authorized = "payment.authorized", captured = "payment.captured", conflicted = "payment.conflicted"
    case failed = "payment.failed", cancelled = "payment.cancelled", expired = "payment.expired"
    case lateCapture = "payment.late_capture", partiallyRefunded = "payment.partially_refunded"
    case refunded = "payment.refunded", refundFailed = "payment.refund_failed", rejected = "payment.rejected"

    /// The event that records a payment reaching `status`.
    public init(reaching status: PaymentStatus) {
        switch status {
        case .authorized: self = .authorized
        case .captured: self = .captured
        case .partiallyRefunded: self = .partiallyRefunded
        case .refunded: self = .refunded
        case .failed: self = .failed
        case .expired: self = .expired
        case .cancelled: self = .cancelled
        case .conflicted: self = .conflicted
        case .rejected: self = .rejected
        }
    }
}

extension PaymentEvent {
    /// The event's type, nil for a type this version does not know.
    public var eventType: PaymentEventType? { PaymentEventType(rawValue: type) }
}
