import PaystreamDomain

/// An instruction to a payment channel (`channel-request/v1` on `channel.requests`, keyed by payer).
public struct ChannelRequest: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "channel-request/v1"

    public var schema: String = ChannelRequest.schemaName
    /// `authorize` (take the payment), `query` (what became of an authorization that got no
    /// answer), `refund` (give back `amount` of a captured payment), `cancel` (void an
    /// authorization the payer or merchant no longer wants). See `ChannelRequestType`.
    public var requestType: String
    public var channelRequestId: String
    public var paymentId: String
    public var payerId: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    public var method: String
    public var channel: String
    public var requestedAt: String
    /// For `query`, `refund` and `cancel`: the `authorize` instruction they refer to.
    public var targetRequestId: String?
    /// Why the instruction was sent when the payer did not ask for it (`late_capture_reversal`).
    public var reason: String?

    public init(requestType: String, channelRequestId: String, paymentId: String, payerId: String, merchantId: String,
                amount: Int64, currency: String, method: String, channel: String, requestedAt: String,
                targetRequestId: String? = nil, reason: String? = nil) {
        self.requestType = requestType
        self.channelRequestId = channelRequestId
        self.paymentId = paymentId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.method = method
        self.channel = channel
        self.requestedAt = requestedAt
        self.targetRequestId = targetRequestId
        self.reason = reason
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case requestType = "request_type"
        case channelRequestId = "channel_request_id"
        case paymentId = "payment_id"
        case payerId = "payer_id"
        case merchantId = "merchant_id"
        case amount
        case currency
        case method
        case channel
        case requestedAt = "requested_at"
        case targetRequestId = "target_request_id"
        case reason
    }
}

/// The instructions a channel understands (`request_type` of `channel-request/v1`).
public enum ChannelRequestType: String, Sendable, Codable, CaseIterable {
    case authorize, query, refund, cancel
}

/// How a channel answered (`status` of `channel-confirmation/v1`).
public enum ChannelAnswer: String, Sendable, Codable, CaseIterable {
    /// Done: the money was taken (authorize, or a query about a taken payment), given back
    /// (refund), or the authorization voided (cancel).
    case approved
    /// Refused, with the channel's `reason`.
    case declined
    /// Only for a query: the channel has no record of the authorization (it never arrived).
    case unknown
}

/// A channel's answer (`channel-confirmation/v1` on `channel.confirmations`, keyed like the request).
public struct ChannelConfirmation: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "channel-confirmation/v1"

    public var schema: String = ChannelConfirmation.schemaName
    /// Unique per answer; a channel that repeats an answer repeats this id.
    public var confirmationId: String
    public var channelRequestId: String
    public var paymentId: String
    /// `approved`, `declined`, or (for a query only) `unknown`: see `ChannelAnswer`.
    public var status: String
    public var amount: Int64
    public var currency: String
    public var channelReference: String?
    public var reason: String?
    public var message: String?
    public var confirmedAt: String
    /// The `request_type` of the instruction answered; absent means `authorize`.
    public var requestType: String?

    public init(confirmationId: String, channelRequestId: String, paymentId: String, status: String, amount: Int64,
                currency: String, channelReference: String?, reason: String? = nil, message: String? = nil,
                confirmedAt: String, requestType: String? = nil) {
        self.confirmationId = confirmationId
        self.channelRequestId = channelRequestId
        self.paymentId = paymentId
        self.status = status
        self.amount = amount
        self.currency = currency
        self.channelReference = channelReference
        self.reason = reason
        self.message = message
        self.confirmedAt = confirmedAt
        self.requestType = requestType
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema
        case confirmationId = "confirmation_id"
        case channelRequestId = "channel_request_id"
        case paymentId = "payment_id"
        case status
        case amount
        case currency
        case channelReference = "channel_reference"
        case reason
        case message
        case confirmedAt = "confirmed_at"
        case requestType = "request_type"
    }
}
