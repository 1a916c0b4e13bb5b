import Foundation
import PaystreamDomain

/// What an order system asks for (`payment-request/v1` on `payments.requests`).
/// Decoded leniently (every field optional) so that a missing field becomes a rejection with a
/// reason, not a decoding failure; without key conversion (`WireKeyed`): a field is read only
/// under its snake_case name, and a strict decode refuses another spelling of it.
public struct PaymentRequestMessage: Sendable, Codable, Hashable, WireKeyed {
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
    /// For a `repayment`: the post-paid or installment payment it pays back. Absent: the
    /// payer's oldest outstanding ones in the currency, in turn.
    public var repaysPaymentId: String?
    /// The payer's locale for notifications (`NotificationLocale.all`); absent: the notifier's default.
    public var locale: String?

    public init(schema: String? = PaymentRequestMessage.schemaName, type: String? = "payment", requestId: String?,
                paymentId: String? = nil, orderId: String? = nil, payerId: String?, merchantId: String?,
                amount: Int64?, currency: String?, method: String?, channel: String?,
                settlement: SettlementTerms? = nil, splits: [Split]? = nil, settlementCurrency: String? = nil,
                createdAt: String? = nil, metadata: JSONValue? = nil, repaysPaymentId: String? = nil, locale: String? = nil) {
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
        self.repaysPaymentId = repaysPaymentId
        self.locale = locale
    }

    /// The wire names, spelled out: the type is coded without key conversion (`WireKeyed`).
    enum CodingKeys: String, CodingKey {
        case schema, type
        case requestId = "request_id"
        case paymentId = "payment_id"
        case orderId = "order_id"
        case payerId = "payer_id"
        case merchantId = "merchant_id"
        case amount, currency, method, channel, settlement, splits
        case settlementCurrency = "settlement_currency"
        case createdAt = "created_at"
        case metadata
        case repaysPaymentId = "repays_payment_id"
        case locale
    }
}

extension PaymentRequestMessage {
    /// The request's type, or the rejection for a missing or unknown one.
    public func requestType() -> Result<PaymentRequestType, Rejection> {
        guard let type, let known = PaymentRequestType(rawValue: type) else {
            return .failure(Rejection(.invalidRequest, "type \(type.map { "'\($0)'" } ?? "is missing"): must be one of "
                + PaymentRequestType.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        return .success(known)
    }

    /// Applies the rules that need no stored state to a payment, top-up or repayment. The caller
    /// has checked `schema` already.
    /// The most bytes `metadata` may take as compact JSON. It is carried into events, the
    /// request log and notifications, never interpreted: a bound keeps one request from
    /// growing every copy of it.
    public static let maxMetadataBytes = 4096
    /// The longest id or code a request may carry (`request_id`, `payment_id`, `order_id`, …).
    public static let maxIdLength = 255


    /// Sizes and characters, checked before any other rule: `metadata` over 4 KiB
    /// (`metadata_too_large`), an id over 255 characters or with a control character
    /// (`invalid_request`).
    public func sizeRejection() -> Rejection? {
        let ids: [(String, String?)] = [("request_id", requestId), ("payment_id", paymentId), ("order_id", orderId),
                                        ("payer_id", payerId), ("merchant_id", merchantId), ("repays_payment_id", repaysPaymentId),
                                        ("settlement_currency", settlementCurrency), ("currency", currency), ("method", method),
                                        ("channel", channel), ("type", type), ("locale", locale), ("created_at", createdAt)]
        for (name, value) in ids {
            if let value, value.count > Self.maxIdLength {
                return Rejection(.invalidRequest, "\(name) is \(value.count) characters; at most \(Self.maxIdLength)")
            }
            if let value, StoredText.hasControlCharacter(value) {
                return Rejection(.invalidRequest, "\(name) contains a control character")
            }
        }
        for split in splits ?? [] {
            if split.partyId.count > Self.maxIdLength {
                return Rejection(.invalidRequest, "a split's party_id is \(split.partyId.count) characters; at most \(Self.maxIdLength)")
            }
            if StoredText.hasControlCharacter(split.partyId) {
                return Rejection(.invalidRequest, "a split's party_id contains a control character")
            }
        }
        if let metadata {
            let size = metadata.compactJSONSize
            if size > Self.maxMetadataBytes {
                return Rejection(.metadataTooLarge, "metadata is \(size) bytes of JSON; at most \(Self.maxMetadataBytes)")
            }
        }
        return nil
    }

    public func validated() -> Result<PaymentRequest, Rejection> {
        func invalid(_ message: String) -> Result<PaymentRequest, Rejection> { .failure(Rejection(.invalidRequest, message)) }
        if let rejection = sizeRejection() { return .failure(rejection) }
        guard let requestId, (1...255).contains(requestId.count) else { return invalid("request_id must be 1 to 255 characters") }
        let kind: PaymentRequestType
        switch requestType() {
        case .failure(let rejection): return .failure(rejection)
        case .success(let type) where !type.movesMoney:
            return invalid("a \(type.rawValue) request acts on an existing payment; it is not a new payment")
        case .success(let type): kind = type
        }
        guard let payerId, !payerId.isEmpty else { return invalid("payer_id is required") }
        let merchant: String?
        if kind == .payment {
            guard let merchantId, !merchantId.isEmpty else { return invalid("merchant_id is required") }
            merchant = merchantId
        } else {
            guard merchantId == nil || merchantId == "" else {
                return invalid("a \(kind.rawValue) has no merchant_id: its beneficiary is the payer's own "
                    + (kind == .topup ? "wallet" : "credit line"))
            }
            merchant = nil
        }
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
        if kind == .topup && method == .wallet { return invalid("a topup cannot be paid from the wallet it funds") }
        let terms = settlement ?? SettlementTerms(.prepaid)
        guard let mode = terms.settlementMode else {
            return invalid("settlement.mode must be prepaid, postpaid or installments")
        }
        if kind != .payment {
            guard mode == .prepaid else { return invalid("a \(kind.rawValue) is always prepaid") }
            guard (splits ?? []).isEmpty else { return invalid("a \(kind.rawValue) has no splits") }
        }
        if mode == .installments {
            guard let count = terms.installments, (2...120).contains(count) else {
                return invalid("settlement.installments must be 2 to 120 when settlement.mode is installments")
            }
        }
        if mode != .prepaid && method == .cash {
            return invalid("cash on delivery is paid at delivery; it cannot be \(terms.mode)")
        }
        if mode != .prepaid && method == .wallet {
            return invalid("a wallet payment is paid from the balance at once; it cannot be \(terms.mode)")
        }
        if let metadata, case .object = metadata {} else if metadata != nil {
            return invalid("metadata must be a JSON object")
        }
        if let repays = repaysPaymentId {
            guard kind == .repayment else { return invalid("repays_payment_id is only for a repayment") }
            guard !repays.isEmpty else { return invalid("repays_payment_id, when given, names a payment") }
        }
        let splits = self.splits ?? []
        var splitTotal: Int64 = 0
        for split in splits {
            guard !split.partyId.isEmpty else { return invalid("every split needs a party_id") }
            guard split.amount > 0 else { return invalid("split amounts must be greater than zero") }
            let (sum, overflow) = splitTotal.addingReportingOverflow(split.amount)
            guard !overflow, sum <= amount else { return invalid("splits sum to more than the amount") }
            splitTotal = sum
        }
        var request = PaymentRequest(
            type: kind, requestID: requestId, paymentID: paymentId ?? "pay-\(requestId)", orderID: orderId,
            payerID: payerId, merchantID: merchant, amount: Money(minorUnits: amount, currency: currency),
            method: method, channel: channel, settlement: terms, splits: splits,
            settlementCurrency: settlementCurrency, metadata: metadata)
        if let locale, !NotificationLocale.all.contains(locale) {
            return invalid("locale '\(locale)' is not one of \(NotificationLocale.all.joined(separator: ", "))")
        }
        request.repaysPaymentID = repaysPaymentId
        request.locale = locale
        return .success(request)
    }

    /// Applies the rules that need no stored state to a refund or cancel.
    public func validatedFollowUp() -> Result<FollowUpRequest, Rejection> {
        func invalid(_ message: String) -> Result<FollowUpRequest, Rejection> { .failure(Rejection(.invalidRequest, message)) }
        if let rejection = sizeRejection() { return .failure(rejection) }
        guard let requestId, (1...255).contains(requestId.count) else { return invalid("request_id must be 1 to 255 characters") }
        let kind: PaymentRequestType
        switch requestType() {
        case .failure(let rejection): return .failure(rejection)
        case .success(let type) where type.movesMoney: return invalid("a \(type.rawValue) is not a refund or cancel")
        case .success(let type): kind = type
        }
        guard let paymentId, !paymentId.isEmpty else { return invalid("payment_id is required: the payment to \(kind.rawValue)") }
        guard let payerId, !payerId.isEmpty else { return invalid("payer_id is required") }
        if let metadata, case .object = metadata {} else if metadata != nil {
            return invalid("metadata must be a JSON object")
        }
        let action: FollowUpRequest.Action
        if kind == .refund {
            if let amount, amount <= 0 { return invalid("a refund amount must be greater than zero") }
            if let currency, Currency.named(currency) == nil {
                return .failure(Rejection(.unsupportedCurrency, "currency '\(currency)' is not supported"))
            }
            action = .refund(amount: amount, currency: currency)
        } else {
            action = .cancel
        }
        return .success(FollowUpRequest(requestID: requestId, paymentID: paymentId, payerID: payerId,
                                        merchantID: merchantId.flatMap { $0.isEmpty ? nil : $0 }, action: action,
                                        metadata: metadata))
    }
}
