import PaystreamDomain

/// What a settlement request asks (`type` of `settlement-request/v1`); the wire keeps the string.
public enum SettlementRequestType: String, Sendable, CaseIterable {
    /// A captured payment to settle.
    case capture
    /// `amount` of a settled payment given back to the payer.
    case refund
    /// `amount` repaid by the payer on a post-paid or installment payment (`payment_id`), through
    /// `method`; `repayment_id` names the repayment.
    case repayment
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
    /// For a `repayment`: the repayment's own payment id (the payer's request).
    public var repaymentId: String?
    /// The payer's locale for notifications (from the payment's request), kept with the
    /// settlement line for the payer's installment notices.
    public var payerLocale: String?

    public init(eventId: String, type: String, paymentId: String, orderId: String?, payerId: String, merchantId: String,
                amount: Int64, currency: String, method: String, settlement: SettlementTerms, splits: [Split],
                settlementCurrency: String?, capturedAt: String, sourceEventId: String, repaymentId: String? = nil,
                payerLocale: String? = nil) {
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
        self.repaymentId = repaymentId
        self.payerLocale = payerLocale
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
        case repaymentId = "repayment_id"
        case payerLocale = "payer_locale"
    }
}

/// A settlement-side event (`settlement-event/v1` on `settlements.events`, keyed by merchant).
///
/// `amount`, `fee`, `commission`, `net` and `splits` are in `currency`, the payment's: on
/// `settlement.booked` the breakdown booked, on `settlement.refunded` the parts reversed. What the
/// merchant and suppliers receive in the settlement currency is in `net_settled` and
/// `splits_settled`, priced by the `fx` snapshot when the currencies differ.
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
    /// The terms the booking used, frozen: fee plan, refund rule, commission.
    public var pricing: SettlementPricing?
    public var settlementCurrency: String?
    /// The merchant's part in the settlement currency.
    public var netSettled: Int64?
    /// Each supplier's part in the settlement currency.
    public var splitsSettled: [Split]?
    /// The rate snapshot, when the settlement currency is not the payment's.
    public var fx: FXSnapshot?
    /// When the merchant's money booked by this event becomes available (`yyyy-MM-dd`, the
    /// merchant's calendar); nil when it waits for installments.
    public var availableOn: String?
    /// `upfront` or `per_installment`, for installments.
    public var installmentFinancing: String?
    /// `installment.scheduled`: the whole schedule.
    public var installments: [InstallmentInfo]?
    /// `installment.due`, `.paid`, `.overdue`: the installment.
    public var installment: InstallmentInfo?
    /// `settlement.refunded`: the total reversed so far, in `currency`.
    public var reversedTotal: Int64?
    /// `settlement.repaid`, `installment.paid`: what the payer still owes on this payment.
    public var outstanding: Int64?
    /// For events caused by a refund or a repayment: the payment stage's request or payment id.
    public var reference: String?
    /// The payer's locale for notifications, when the payment's request gave one.
    public var payerLocale: String?

    public init(eventId: String, sequence: Int, occurredAt: String, type: String, paymentId: String, orderId: String?,
                payerId: String, merchantId: String, amount: Int64, currency: String, fee: Int64, commission: Int64,
                net: Int64, splits: [Split], settlementMode: String, sourceEventId: String, pricing: SettlementPricing? = nil,
                settlementCurrency: String? = nil, netSettled: Int64? = nil, splitsSettled: [Split]? = nil, fx: FXSnapshot? = nil,
                availableOn: String? = nil, installmentFinancing: String? = nil, installments: [InstallmentInfo]? = nil,
                installment: InstallmentInfo? = nil, reversedTotal: Int64? = nil, outstanding: Int64? = nil, reference: String? = nil,
                payerLocale: String? = nil) {
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
        self.pricing = pricing
        self.settlementCurrency = settlementCurrency
        self.netSettled = netSettled
        self.splitsSettled = splitsSettled
        self.fx = fx
        self.availableOn = availableOn
        self.installmentFinancing = installmentFinancing
        self.installments = installments
        self.installment = installment
        self.reversedTotal = reversedTotal
        self.outstanding = outstanding
        self.reference = reference
        self.payerLocale = payerLocale
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
        case pricing
        case settlementCurrency = "settlement_currency"
        case netSettled = "net_settled"
        case splitsSettled = "splits_settled"
        case fx
        case availableOn = "available_on"
        case installmentFinancing = "installment_financing"
        case installments
        case installment
        case reversedTotal = "reversed_total"
        case outstanding
        case reference
        case payerLocale = "payer_locale"
    }
}

/// The terms a settlement was priced with, as booked (later reference changes do not touch them).
public struct SettlementPricing: Sendable, Codable, Hashable, WireKeyed {
    public var feeBasisPoints: Int64
    public var feeFixed: Int64
    /// `return` or `keep`: what refunds do with the fee.
    public var feeOnRefund: String
    public var commissionBasisPoints: Int64
    public var commissionFixed: Int64

    public init(feeBasisPoints: Int64, feeFixed: Int64, feeOnRefund: String, commissionBasisPoints: Int64, commissionFixed: Int64) {
        self.feeBasisPoints = feeBasisPoints
        self.feeFixed = feeFixed
        self.feeOnRefund = feeOnRefund
        self.commissionBasisPoints = commissionBasisPoints
        self.commissionFixed = commissionFixed
    }

    enum CodingKeys: String, CodingKey {
        case feeBasisPoints = "fee_basis_points"
        case feeFixed = "fee_fixed"
        case feeOnRefund = "fee_on_refund"
        case commissionBasisPoints = "commission_basis_points"
        case commissionFixed = "commission_fixed"
    }
}

/// A rate snapshot as a settlement used it: `source_amount` of `base` became `converted_amount` of
/// `quote` at `rate` (units of quote per unit of base), rounded with `rounding`.
public struct FXSnapshot: Sendable, Codable, Hashable, WireKeyed {
    public var base: String
    public var quote: String
    public var rate: String
    public var source: String
    public var asOf: String
    public var rounding: String
    public var sourceAmount: Int64
    public var convertedAmount: Int64

    public init(base: String, quote: String, rate: String, source: String, asOf: String, rounding: String, sourceAmount: Int64,
                convertedAmount: Int64) {
        self.base = base
        self.quote = quote
        self.rate = rate
        self.source = source
        self.asOf = asOf
        self.rounding = rounding
        self.sourceAmount = sourceAmount
        self.convertedAmount = convertedAmount
    }

    enum CodingKeys: String, CodingKey {
        case base, quote, rate, source
        case asOf = "as_of"
        case rounding
        case sourceAmount = "source_amount"
        case convertedAmount = "converted_amount"
    }
}

/// One installment of a payment's schedule, as settlement events carry it.
public struct InstallmentInfo: Sendable, Codable, Hashable, WireKeyed {
    public var number: Int
    public var dueDate: String
    /// What the payer owes for it, in the payment's currency (lowered by refunds).
    public var amount: Int64
    /// What the payer has paid of it.
    public var paid: Int64
    /// `scheduled`, `due`, `overdue`, `paid` or `cancelled` (a refund took all of it).
    public var status: String
    /// The merchant's share released when it is paid (`per_installment` financing), in the
    /// settlement currency.
    public var merchantShare: Int64?

    public init(number: Int, dueDate: String, amount: Int64, paid: Int64, status: String, merchantShare: Int64? = nil) {
        self.number = number
        self.dueDate = dueDate
        self.amount = amount
        self.paid = paid
        self.status = status
        self.merchantShare = merchantShare
    }

    enum CodingKeys: String, CodingKey {
        case number
        case dueDate = "due_date"
        case amount, paid, status
        case merchantShare = "merchant_share"
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
    /// The payment it is about; nil for a batch or payout.
    public var paymentId: String?
    /// The payout (or held batch) it is about; nil for a payment.
    public var payoutId: String?
    public var orderId: String?
    /// The money it is about; absent for a notification about no money (`webhook.endpoint_disabled`).
    public var amount: Int64?
    public var currency: String?
    public var locale: String
    public var title: String
    public var body: String

    public init(eventId: String, sourceEventId: String, occurredAt: String, recipientId: String, recipientType: String,
                type: String, paymentId: String?, payoutId: String? = nil, orderId: String?, amount: Int64?, currency: String?,
                locale: String, title: String, body: String) {
        self.eventId = eventId
        self.sourceEventId = sourceEventId
        self.occurredAt = occurredAt
        self.recipientId = recipientId
        self.recipientType = recipientType
        self.type = type
        self.paymentId = paymentId
        self.payoutId = payoutId
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
        case payoutId = "payout_id"
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
    /// The stage that parked it (a topic read by two stages, like `payments.events`, may get a
    /// dead letter from each); absent in letters written before the field existed.
    public var stage: String?
    /// Set when the value was too large to carry whole: its size in bytes; `original_value_base64`
    /// then holds only its first `cutValueBytes`, and the letter cannot be replayed.
    public var originalValueBytes: Int?
    /// The original record's answer seal (its `paystream-answer-seal` header), kept so that a
    /// replayed channel or bank answer still proves where it came from.
    public var answerSeal: String?

    /// How much of a value too large to carry a dead letter keeps.
    public static let cutValueBytes = 64 * 1024

    public init(errorCode: String, errorMessage: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64,
                originalKey: String?, originalValueBase64: String, failedAt: String, stage: String? = nil) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.originalKey = originalKey
        self.originalValueBase64 = originalValueBase64
        self.failedAt = failedAt
        self.stage = stage
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
        case stage
        case originalValueBytes = "original_value_bytes"
        case answerSeal = "answer_seal"
    }
}

extension SettlementRequest {
    /// The request's type, nil for a type this version does not know.
    public var requestType: SettlementRequestType? { SettlementRequestType(rawValue: type) }
}
