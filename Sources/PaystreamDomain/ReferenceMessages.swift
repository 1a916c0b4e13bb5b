/// Reference data: compacted topics, one current value per key, that every instance of a stage
/// reads in full. A record with an empty value (a tombstone) deletes its key.

/// The locales notifications are written in.
public enum NotificationLocale {
    public static let all = ["zh-CN", "en"]
}

/// A merchant (`merchant/v1` on `reference.merchants`, keyed by `merchant_id`).
public struct MerchantReference: Sendable, Codable, Hashable {
    public static let schemaName = "merchant/v1"

    public var schema: String = MerchantReference.schemaName
    public var merchantId: String
    /// Only an active merchant takes payments (`merchant_inactive` otherwise).
    public var status: MerchantStatus
    /// The currency the merchant is paid out in (ISO 4217).
    public var settlementCurrency: String
    /// The channel fee the merchant pays per method: basis points of the amount plus a fixed
    /// amount in minor units of the payment's currency. A method missing here pays `default_fee`.
    public var fees: [String: Fee]?
    public var defaultFee: Fee?
    /// The platform's commission, in basis points of the amount.
    public var commissionBasisPoints: Int64?
    /// When settled funds are paid out: T+N with a cut-off.
    public var payout: Payout?
    /// The parties that may appear in `splits` of this merchant's payments.
    public var suppliers: [String]?
    /// Who finances installments: `upfront` (the merchant is paid in full at once) or
    /// `per_installment` (the merchant is paid as installments fall due).
    public var installmentFinancing: String?
    /// The locale its notifications are rendered in (`NotificationLocale.all`); nil: the
    /// notifier's default.
    public var locale: String?
    public var updatedAt: String?

    /// The wire names, spelled out: reference messages are coded without key conversion (`WireKeyed`, declared in PaystreamWire).
    enum CodingKeys: String, CodingKey {
        case schema
        case merchantId = "merchant_id"
        case status
        case settlementCurrency = "settlement_currency"
        case fees
        case defaultFee = "default_fee"
        case commissionBasisPoints = "commission_basis_points"
        case payout, suppliers
        case installmentFinancing = "installment_financing"
        case locale
        case updatedAt = "updated_at"
    }

    public struct Fee: Sendable, Codable, Hashable {
        public var basisPoints: Int64
        public var fixed: Int64
        /// What a refund does with the fee: `return` (reversed pro rata with the other parts, the
        /// default) or `keep` (the platform keeps it and the merchant bears it).
        public var onRefund: String?

        enum CodingKeys: String, CodingKey {
            case basisPoints = "basis_points", fixed
            case onRefund = "on_refund"
        }

        public init(basisPoints: Int64, fixed: Int64 = 0, onRefund: String? = nil) {
            self.basisPoints = basisPoints
            self.fixed = fixed
            self.onRefund = onRefund
        }

        /// The values `on_refund` may take.
        public static let onRefundValues = ["return", "keep"]

        /// Whether a refund gives the fee back (pro rata).
        public var returnedOnRefund: Bool { onRefund != "keep" }
    }

    /// The fee entry for `method`: its own, else the default, else none.
    public func fee(for method: String) -> Fee { fees?[method] ?? defaultFee ?? Fee(basisPoints: 0) }

    /// The platform's commission plan.
    public func commissionPlan() throws(SettlementError) -> CommissionPlan {
        try CommissionPlan(basisPoints: commissionBasisPoints ?? 0)
    }

    public struct Payout: Sendable, Codable, Hashable {
        /// N of T+N.
        public var delayDays: Int
        /// Local time of the cut-off, `HH:MM`.
        public var cutoff: String
        /// IANA time zone of the cut-off, e.g. `Asia/Shanghai`.
        public var timeZone: String
        /// Count business days (Monday to Friday) or calendar days.
        public var businessDays: Bool?
        /// Days that are not business days (`yyyy-MM-dd`), besides weekends.
        public var holidays: [String]?

        enum CodingKeys: String, CodingKey {
            case delayDays = "delay_days", cutoff
            case timeZone = "time_zone"
            case businessDays = "business_days"
            case holidays
        }

        public init(delayDays: Int, cutoff: String, timeZone: String, businessDays: Bool? = true, holidays: [String]? = nil) {
            self.delayDays = delayDays
            self.cutoff = cutoff
            self.timeZone = timeZone
            self.businessDays = businessDays
            self.holidays = holidays
        }
    }

    public init(merchantId: String, status: MerchantStatus, settlementCurrency: String, fees: [String: Fee]? = nil,
                defaultFee: Fee? = nil, commissionBasisPoints: Int64? = nil, payout: Payout? = nil,
                suppliers: [String]? = nil, installmentFinancing: String? = nil, locale: String? = nil, updatedAt: String? = nil) {
        self.merchantId = merchantId
        self.status = status
        self.settlementCurrency = settlementCurrency
        self.fees = fees
        self.defaultFee = defaultFee
        self.commissionBasisPoints = commissionBasisPoints
        self.payout = payout
        self.suppliers = suppliers
        self.installmentFinancing = installmentFinancing
        self.locale = locale
        self.updatedAt = updatedAt
    }

    /// The fee plan for `method`: its own entry, else the default, else no fee.
    public func feePlan(for method: String) throws(SettlementError) -> FeePlan {
        let fee = fee(for: method)
        return try FeePlan(basisPoints: fee.basisPoints, fixed: fee.fixed)
    }
}

/// A payer's credit line (`credit-line/v1` on `reference.credit-lines`, keyed by `payer_id`).
public struct CreditLineReference: Sendable, Codable, Hashable {
    public static let schemaName = "credit-line/v1"

    public var schema: String = CreditLineReference.schemaName
    public var payerId: String
    /// Currency code → the credit limit in its minor units. Post-paid and installment payments
    /// in a currency without a limit here are refused (`credit_limit`).
    public var limits: [String: Int64]
    /// The installment counts this payer may choose (e.g. [3, 6, 12]); empty or absent: none.
    public var installmentPlans: [Int]?
    public var updatedAt: String?

    enum CodingKeys: String, CodingKey {
        case schema
        case payerId = "payer_id"
        case limits
        case installmentPlans = "installment_plans"
        case updatedAt = "updated_at"
    }

    public init(payerId: String, limits: [String: Int64], installmentPlans: [Int]? = nil, updatedAt: String? = nil) {
        self.payerId = payerId
        self.limits = limits
        self.installmentPlans = installmentPlans
        self.updatedAt = updatedAt
    }

    /// The limit in `currency`, or nil if the line has none there.
    public func limit(in currency: Currency) -> Money? {
        limits[currency.code].map { Money(minorUnits: max(0, $0), currency: currency) }
    }
}

/// An exchange rate (`fx-rate/v1` on `reference.fx-rates`, keyed by `BASE/QUOTE`).
public struct FXRateReference: Sendable, Codable, Hashable {
    public static let schemaName = "fx-rate/v1"

    public var schema: String = FXRateReference.schemaName
    public var base: String
    public var quote: String
    /// Units of `quote` per unit of `base`, as a decimal string (never a float).
    public var rate: String
    public var source: String
    public var asOf: String

    enum CodingKeys: String, CodingKey {
        case schema, base, quote, rate, source
        case asOf = "as_of"
    }

    public init(base: String, quote: String, rate: String, source: String, asOf: String) {
        self.base = base
        self.quote = quote
        self.rate = rate
        self.source = source
        self.asOf = asOf
    }

    /// The record key: `BASE/QUOTE`.
    public var pair: String { "\(base)/\(quote)" }
}
