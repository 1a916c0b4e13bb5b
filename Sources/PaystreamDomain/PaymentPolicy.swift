import Foundation

/// What the payment-worker accepts: currencies, methods, the capability matrix, limits and refund
/// windows. Read from JSON (`Config/payment-policy.json`) with `decode(from:)`; check it with
/// `RequestRules.validate(policy:)` before use. Amounts are minor units of the currency they are
/// listed under. Names stay strings here so that a policy with an unknown name still decodes and
/// `validate` can say which name is wrong; the rules never treat a missing entry as "no limit".
public struct PaymentPolicy: Codable, Sendable, Hashable {
    /// ISO 4217 codes payments may use.
    public var enabledCurrencies: [String]
    /// `PaymentMethod` raw values payments may use.
    public var enabledMethods: [String]
    /// method → channel → currencies: which method may run on which channel in which currency.
    public var capabilities: [String: [String: [String]]]
    /// method → currency → the largest amount one payment may have (`amount_limit`).
    public var methodMaximum: [String: [String: Int64]]
    /// currency → the payer risk limits in that currency (`risk_limit`).
    public var riskLimits: [String: RiskLimits]
    /// method → days after capture during which a refund is accepted (`refund_window_closed`).
    public var refundWindowDays: [String: Int]

    /// Per-currency risk limits.
    public struct RiskLimits: Codable, Sendable, Hashable {
        /// The largest amount of a single payment, whatever the method.
        public var transactionMaximum: Int64
        /// The most one payer may pay in a day (UTC), this payment included.
        public var dailyAmount: Int64
        /// The most payments one payer may make in a day (UTC), this payment included.
        public var dailyCount: Int

        public init(transactionMaximum: Int64, dailyAmount: Int64, dailyCount: Int) {
            self.transactionMaximum = transactionMaximum
            self.dailyAmount = dailyAmount
            self.dailyCount = dailyCount
        }

        enum CodingKeys: String, CodingKey {
            case transactionMaximum = "transaction_maximum"
            case dailyAmount = "daily_amount"
            case dailyCount = "daily_count"
        }
    }

    public init(enabledCurrencies: [String], enabledMethods: [String], capabilities: [String: [String: [String]]],
                methodMaximum: [String: [String: Int64]], riskLimits: [String: RiskLimits], refundWindowDays: [String: Int]) {
        self.enabledCurrencies = enabledCurrencies
        self.enabledMethods = enabledMethods
        self.capabilities = capabilities
        self.methodMaximum = methodMaximum
        self.riskLimits = riskLimits
        self.refundWindowDays = refundWindowDays
    }

    // Explicit keys, because a snake_case key strategy would also rewrite the dictionary keys
    // ("wechat_pay" → "wechatPay"). Decode with `decode(from:)`, not `Wire.decode`.
    enum CodingKeys: String, CodingKey {
        case enabledCurrencies = "enabled_currencies"
        case enabledMethods = "enabled_methods"
        case capabilities
        case methodMaximum = "method_maximum"
        case riskLimits = "risk_limits"
        case refundWindowDays = "refund_window_days"
    }

    /// Decodes a policy from its JSON file. Every key is required; unknown keys are ignored.
    public static func decode(from data: Data) throws -> PaymentPolicy {
        try JSONDecoder().decode(PaymentPolicy.self, from: data)
    }

    /// The policy as JSON with sorted keys, in the form `decode(from:)` reads.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public func isCurrencyEnabled(_ code: String) -> Bool { enabledCurrencies.contains(code) }
    public func isMethodEnabled(_ method: PaymentMethod) -> Bool { enabledMethods.contains(method.rawValue) }

    /// Whether the matrix lets `method` run on `channel` in `currency`.
    public func allows(_ method: PaymentMethod, on channel: PaymentChannel, in currency: String) -> Bool {
        capabilities[method.rawValue]?[channel.rawValue]?.contains(currency) ?? false
    }
}
