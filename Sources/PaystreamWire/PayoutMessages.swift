import PaystreamDomain

/// An instruction to the settlement (bank) channel (`payout-request/v1` on `payouts.requests`,
/// keyed by `merchant_id`, whose settlement shard holds the payout): pay `amount` to the payee.
public struct PayoutRequest: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "payout-request/v1"

    public var schema: String = PayoutRequest.schemaName
    /// `pay`, or `query` (what became of payout `payout_id`).
    public var requestType: String
    /// Stable: the bank deduplicates by it.
    public var payoutId: String
    public var batchId: String
    /// Who is paid: the merchant, or a supplier of its splits.
    public var payeeId: String
    /// `merchant` or `supplier`.
    public var payeeRole: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    /// The payee's payout date (`yyyy-MM-dd`, its calendar).
    public var payoutDate: String
    public var requestedAt: String

    public init(requestType: String, payoutId: String, batchId: String, payeeId: String, payeeRole: String, merchantId: String,
                amount: Int64, currency: String, payoutDate: String, requestedAt: String) {
        self.requestType = requestType
        self.payoutId = payoutId
        self.batchId = batchId
        self.payeeId = payeeId
        self.payeeRole = payeeRole
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.payoutDate = payoutDate
        self.requestedAt = requestedAt
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case requestType = "request_type"
        case payoutId = "payout_id"
        case batchId = "batch_id"
        case payeeId = "payee_id"
        case payeeRole = "payee_role"
        case merchantId = "merchant_id"
        case amount, currency
        case payoutDate = "payout_date"
        case requestedAt = "requested_at"
    }
}

/// A batch or payout event (`payout-event/v1` on `settlements.events`, keyed by `merchant_id`).
/// Per batch a `sequence` from 1: `batch.closed` first, then the payout's events.
public struct PayoutEvent: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "payout-event/v1"

    public var schema: String = PayoutEvent.schemaName
    public var eventId: String
    public var sequence: Int
    public var occurredAt: String
    /// `batch.closed`, `payout.sent`, `payout.confirmed`, `payout.failed`, `payout.returned`, `payout.stuck`.
    public var type: String
    public var batchId: String
    /// nil for a batch held (below the minimum, or not positive).
    public var payoutId: String?
    public var payeeId: String
    public var payeeRole: String
    public var merchantId: String
    public var amount: Int64
    public var currency: String
    public var payoutDate: String
    /// `held` or `closed` for a batch; the payout's status otherwise.
    public var status: String
    public var reason: String?
    /// `batch.closed`: what the batch holds, each line to the minor unit; they sum to `amount`.
    public var lines: [PayoutLine]?

    public init(eventId: String, sequence: Int, occurredAt: String, type: String, batchId: String, payoutId: String?, payeeId: String,
                payeeRole: String, merchantId: String, amount: Int64, currency: String, payoutDate: String, status: String,
                reason: String? = nil, lines: [PayoutLine]? = nil) {
        self.eventId = eventId
        self.sequence = sequence
        self.occurredAt = occurredAt
        self.type = type
        self.batchId = batchId
        self.payoutId = payoutId
        self.payeeId = payeeId
        self.payeeRole = payeeRole
        self.merchantId = merchantId
        self.amount = amount
        self.currency = currency
        self.payoutDate = payoutDate
        self.status = status
        self.reason = reason
        self.lines = lines
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case eventId = "event_id"
        case sequence
        case occurredAt = "occurred_at"
        case type
        case batchId = "batch_id"
        case payoutId = "payout_id"
        case payeeId = "payee_id"
        case payeeRole = "payee_role"
        case merchantId = "merchant_id"
        case amount, currency
        case payoutDate = "payout_date"
        case status, reason, lines
    }
}

/// One line of a batch: money that became available from a payment (`release`), taken back by a
/// refund after it was available (`refund`, negative), or back from a payout that failed or was
/// returned (`payout_failed`, `payout_returned`).
public struct PayoutLine: Sendable, Codable, Hashable, WireKeyed {
    public var kind: String
    public var amount: Int64
    public var paymentId: String?
    public var payerId: String?
    /// The refund's request event, or the payout that failed or was returned.
    public var reference: String?
    /// The day the money became available (`yyyy-MM-dd`).
    public var availableOn: String

    public init(kind: String, amount: Int64, paymentId: String?, payerId: String?, reference: String?, availableOn: String) {
        self.kind = kind
        self.amount = amount
        self.paymentId = paymentId
        self.payerId = payerId
        self.reference = reference
        self.availableOn = availableOn
    }

    enum CodingKeys: String, CodingKey {
        case kind, amount
        case paymentId = "payment_id"
        case payerId = "payer_id"
        case reference
        case availableOn = "available_on"
    }
}

/// The settlement (bank) channel's answer about a payout (`payout-confirmation/v1` on
/// `payouts.confirmations`, keyed like the instruction: `merchant_id`).
public struct PayoutConfirmation: Sendable, Codable, Hashable, WireKeyed {
    public static let schemaName = "payout-confirmation/v1"

    public var schema: String = PayoutConfirmation.schemaName
    /// Stable per answer: a repeated answer keeps it.
    public var confirmationId: String
    public var payoutId: String
    /// `paid`, `failed` (with `reason`), `returned` (paid, then sent back by the payee's bank,
    /// with `reason`), or `unknown` (a query about a payout the bank never received).
    public var status: String
    public var amount: Int64
    public var currency: String
    public var reason: String?
    public var bankReference: String?
    /// `pay`, `query`, or `return` (a return notice nobody asked for).
    public var requestType: String
    public var confirmedAt: String

    public init(confirmationId: String, payoutId: String, status: String, amount: Int64, currency: String, reason: String? = nil,
                bankReference: String? = nil, requestType: String, confirmedAt: String) {
        self.confirmationId = confirmationId
        self.payoutId = payoutId
        self.status = status
        self.amount = amount
        self.currency = currency
        self.reason = reason
        self.bankReference = bankReference
        self.requestType = requestType
        self.confirmedAt = confirmedAt
    }

    enum CodingKeys: String, CodingKey {
        case schema
        case confirmationId = "confirmation_id"
        case payoutId = "payout_id"
        case status, amount, currency, reason
        case bankReference = "bank_reference"
        case requestType = "request_type"
        case confirmedAt = "confirmed_at"
    }
}

/// Where a payout is: it only moves forward — `sent` → `paid` | `failed`, `paid` → `returned`.
public enum PayoutStatus: String, Sendable, CaseIterable {
    case sent, paid, failed, returned

    /// The status an answer moves a payout in this status to, or nil when the answer changes
    /// nothing (a duplicate, a late or out-of-order answer): a payout never moves back.
    public func next(on answer: PayoutStatus) -> PayoutStatus? {
        switch (self, answer) {
        case (.sent, .paid), (.sent, .failed), (.paid, .returned): answer
        case (.sent, .returned): .returned  // the return proves the payment: paid, then returned
        default: nil
        }
    }
}
