/// How a payment is settled (`settlement.mode`): a closed set, written as these strings.
public enum SettlementMode: String, Sendable, CaseIterable {
    /// Paid through a channel now; the merchant's net is booked on capture.
    case prepaid
    /// Paid by the platform on capture from the payer's credit line; the payer repays later.
    case postpaid
    /// Paid by the platform from the payer's credit line, repaid by the payer in installments.
    case installments
}

public struct SettlementTerms: Sendable, Codable, Hashable {
    /// A `SettlementMode`; kept a string on the wire, so that a request with another mode is
    /// answered `invalid_request` instead of failing to decode.
    public var mode: String
    public var installments: Int?

    public init(mode: String, installments: Int? = nil) {
        self.mode = mode
        self.installments = installments
    }

    public init(_ mode: SettlementMode, installments: Int? = nil) {
        self.init(mode: mode.rawValue, installments: installments)
    }

    /// The mode, nil for one this version does not know.
    public var settlementMode: SettlementMode? { SettlementMode(rawValue: mode) }
}

public struct Split: Sendable, Codable, Hashable {
    public var partyId: String
    public var amount: Int64

    public init(partyId: String, amount: Int64) {
        self.partyId = partyId
        self.amount = amount
    }

    /// The wire names, spelled out (`WireKeyed` in PaystreamWire). A shard's older splits spelled `partyId`:
    /// `PaymentTables` reads those itself.
    enum CodingKeys: String, CodingKey {
        case partyId = "party_id", amount
    }
}

public enum PaymentMethod: String, Sendable, Codable, CaseIterable {
    case card, alipay, wechatPay = "wechat_pay", wallet, cash, onlineBanking = "online_banking"
}

public enum PaymentChannel: String, Sendable, Codable, CaseIterable {
    case bankCard = "bank_card", mobile, onlineBanking = "online_banking", cashOnDelivery = "cash_on_delivery", balance
}

/// The `type` of a `payment-request/v1`.
public enum PaymentRequestType: String, Sendable, Codable, CaseIterable {
    /// The payer pays a merchant.
    case payment
    /// Gives back all or part of a captured payment, to the method it was paid with.
    case refund
    /// Voids an authorized payment that is not captured yet.
    case cancel
    /// The payer funds their wallet through a channel (a payment whose beneficiary is the wallet).
    case topup
    /// The payer pays back post-paid or installment usage, restoring their credit line.
    case repayment

    /// Types that move new money in (validated by `validated()`); the others act on an existing
    /// payment (`validatedFollowUp()`).
    public var movesMoney: Bool { self == .payment || self == .topup || self == .repayment }
}

/// A payment, top-up or repayment request that passed the stateless rules.
public struct PaymentRequest: Sendable, Hashable {
    public let type: PaymentRequestType
    public let requestID: String
    public let paymentID: String
    public let orderID: String?
    public let payerID: String
    /// Who is paid; nil for a top-up or repayment (the payer's own wallet or credit line).
    public let merchantID: String?
    public let amount: Money
    public let method: PaymentMethod
    public let channel: PaymentChannel
    public let settlement: SettlementTerms
    public let splits: [Split]
    public let settlementCurrency: String?
    public let metadata: JSONValue?
    /// For a repayment: the payment it pays back, when the request names one.
    public var repaysPaymentID: String? = nil
    /// The payer's locale for notifications, when the request gives one.
    public var locale: String? = nil

    public init(type: PaymentRequestType, requestID: String, paymentID: String, orderID: String?, payerID: String,
                merchantID: String?, amount: Money, method: PaymentMethod, channel: PaymentChannel,
                settlement: SettlementTerms, splits: [Split], settlementCurrency: String?, metadata: JSONValue?,
                repaysPaymentID: String? = nil, locale: String? = nil) {
        self.type = type
        self.requestID = requestID
        self.paymentID = paymentID
        self.orderID = orderID
        self.payerID = payerID
        self.merchantID = merchantID
        self.amount = amount
        self.method = method
        self.channel = channel
        self.settlement = settlement
        self.splits = splits
        self.settlementCurrency = settlementCurrency
        self.metadata = metadata
        self.repaysPaymentID = repaysPaymentID
        self.locale = locale
    }

    /// Post-paid and installment payments are paid from the payer's credit line.
    public var drawsOnCredit: Bool { type == .payment && settlement.settlementMode != .prepaid }
}

/// A refund or cancel request that passed the stateless rules.
public struct FollowUpRequest: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// `amount` nil: everything still refundable. `currency` nil: the payment's currency.
        case refund(amount: Int64?, currency: String?)
        case cancel
    }

    public let requestID: String
    /// The payment the request acts on.
    public let paymentID: String
    public let payerID: String
    /// When given, must be the payment's merchant.
    public let merchantID: String?
    public let action: Action
    public let metadata: JSONValue?

    public init(requestID: String, paymentID: String, payerID: String, merchantID: String?, action: Action, metadata: JSONValue?) {
        self.requestID = requestID
        self.paymentID = paymentID
        self.payerID = payerID
        self.merchantID = merchantID
        self.action = action
        self.metadata = metadata
    }
}

/// Why a request was refused: a stable machine-readable code and a message for people.
public struct Rejection: Error, Sendable, Hashable {
    public let reason: RejectionReason
    public let message: String

    public init(_ reason: RejectionReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// Stable reason codes of `payment.rejected` events. Codes are never renamed or reused.
public enum RejectionReason: String, Sendable, Codable, CaseIterable {
    case invalidRequest = "invalid_request"
    case unsupportedCurrency = "unsupported_currency"
    case methodNotAllowed = "method_not_allowed"
    case amountLimit = "amount_limit"
    case merchantInactive = "merchant_inactive"
    case riskLimit = "risk_limit"
    case insufficientFunds = "insufficient_funds"
    case creditLimit = "credit_limit"
    case idempotencyConflict = "idempotency_conflict"
    case refundExceedsCaptured = "refund_exceeds_captured"
    case refundWindowClosed = "refund_window_closed"
    case invalidState = "invalid_state"
    case metadataTooLarge = "metadata_too_large"
}
