/// What an order system asks for (`payment-request/v1` on `payments.requests`).
/// Decoded leniently (every field optional) so that a missing field becomes a rejection with a
/// reason, not a decoding failure.
public struct PaymentRequestMessage: Sendable, Codable, Hashable {
    public static let schemaName = "payment-request/v1"

    public var schema: String?
    public var type: String?
    public var requestId: String?
    public var paymentId: String?
    public var orderId: String?
    public var payerId: String?
    public var merchantId: String?
    public var amount: Int64?
    public var currency: String?
    public var method: String?
    public var channel: String?
    public var settlement: SettlementTerms?
    public var splits: [Split]?
    public var settlementCurrency: String?
    public var createdAt: String?
    public var metadata: JSONValue?

    public init(schema: String? = PaymentRequestMessage.schemaName, type: String? = "payment", requestId: String?,
                paymentId: String? = nil, orderId: String? = nil, payerId: String?, merchantId: String?,
                amount: Int64?, currency: String?, method: String?, channel: String?,
                settlement: SettlementTerms? = nil, splits: [Split]? = nil, settlementCurrency: String? = nil,
                createdAt: String? = nil, metadata: JSONValue? = nil) {
        self.schema = schema
        self.type = type
        self.requestId = requestId
        self.paymentId = paymentId
        self.orderId = orderId
        self.payerId = payerId
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.method = method
        self.channel = channel
        self.settlement = settlement
        self.splits = splits
        self.settlementCurrency = settlementCurrency
        self.createdAt = createdAt
        self.metadata = metadata
    }
}

public struct SettlementTerms: Sendable, Codable, Hashable {
    public var mode: String
    public var installments: Int?

    public init(mode: String, installments: Int? = nil) {
        self.mode = mode
        self.installments = installments
    }
}

public struct Split: Sendable, Codable, Hashable {
    public var partyId: String
    public var amount: Int64

    public init(partyId: String, amount: Int64) {
        self.partyId = partyId
        self.amount = amount
    }
}

public enum PaymentMethod: String, Sendable, Codable, CaseIterable {
    case card, alipay, wechatPay = "wechat_pay", wallet, cash, onlineBanking = "online_banking"
}

public enum PaymentChannel: String, Sendable, Codable, CaseIterable {
    case bankCard = "bank_card", mobile, onlineBanking = "online_banking", cashOnDelivery = "cash_on_delivery", balance
}

/// A payment request that passed the stateless rules.
public struct PaymentRequest: Sendable, Hashable {
    public let requestID: String
    public let paymentID: String
    public let orderID: String?
    public let payerID: String
    public let merchantID: String
    public let amount: Money
    public let method: PaymentMethod
    public let channel: PaymentChannel
    public let settlement: SettlementTerms
    public let splits: [Split]
    public let settlementCurrency: String?
    public let metadata: JSONValue?
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
}

extension PaymentRequestMessage {
    /// Applies the rules that need no stored state. The caller has checked `schema` already.
    public func validated() -> Result<PaymentRequest, Rejection> {
        func invalid(_ message: String) -> Result<PaymentRequest, Rejection> { .failure(Rejection(.invalidRequest, message)) }
        guard let requestId, (1...255).contains(requestId.count) else { return invalid("request_id must be 1 to 255 characters") }
        guard let type, type == "payment" else { return invalid("type \(type.map { "'\($0)'" } ?? "is missing"): only 'payment' is supported yet") }
        guard let payerId, !payerId.isEmpty else { return invalid("payer_id is required") }
        guard let merchantId, !merchantId.isEmpty else { return invalid("merchant_id is required") }
        guard let amount else { return invalid("amount is required (integer minor units)") }
        guard amount > 0 else { return invalid("amount must be greater than zero") }
        guard let currencyCode = currency else { return invalid("currency is required") }
        guard let currency = Currency.named(currencyCode) else {
            return .failure(Rejection(.unsupportedCurrency, "currency '\(currencyCode)' is not supported"))
        }
        guard let methodName = method, let method = PaymentMethod(rawValue: methodName) else {
            return invalid("method must be one of \(PaymentMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let channelName = channel, let channel = PaymentChannel(rawValue: channelName) else {
            return invalid("channel must be one of \(PaymentChannel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let terms = settlement ?? SettlementTerms(mode: "prepaid")
        guard ["prepaid", "postpaid", "installments"].contains(terms.mode) else {
            return invalid("settlement.mode must be prepaid, postpaid or installments")
        }
        if terms.mode == "installments" {
            guard let count = terms.installments, (2...120).contains(count) else {
                return invalid("settlement.installments must be 2 to 120 when settlement.mode is installments")
            }
        }
        if let metadata, case .object = metadata {} else if metadata != nil {
            return invalid("metadata must be a JSON object")
        }
        let splits = self.splits ?? []
        var splitTotal: Int64 = 0
        for split in splits {
            guard split.amount > 0 else { return invalid("split amounts must be greater than zero") }
            let (sum, overflow) = splitTotal.addingReportingOverflow(split.amount)
            guard !overflow, sum <= amount else { return invalid("splits sum to more than the amount") }
            splitTotal = sum
        }
        return .success(PaymentRequest(
            requestID: requestId, paymentID: paymentId ?? "pay-\(requestId)", orderID: orderId,
            payerID: payerId, merchantID: merchantId, amount: Money(minorUnits: amount, currency: currency),
            method: method, channel: channel, settlement: terms, splits: splits,
            settlementCurrency: settlementCurrency, metadata: metadata))
    }
}
