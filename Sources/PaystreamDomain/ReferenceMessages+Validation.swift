import Foundation

// What makes a reference value usable. A value with problems is never applied: the consumer
// keeps the key's previous value, and `paystream reference load` refuses the file.

extension MerchantReference {
    /// Everything wrong with this merchant, one sentence each; empty when it is usable.
    public var problems: [String] {
        var problems: [String] = []
        if schema != Self.schemaName { problems.append("schema '\(schema)' is not \(Self.schemaName)") }
        if merchantId.isEmpty { problems.append("merchant_id is empty") }
        if let problem = StoredText.problem("merchant_id", merchantId) { problems.append(problem) }
        if Currency.named(settlementCurrency) == nil {
            problems.append("settlement_currency '\(settlementCurrency)' is not an ISO 4217 currency code")
        }
        for (method, fee) in (fees ?? [:]).sorted(by: { $0.key < $1.key }) {
            if PaymentMethod(rawValue: method) == nil {
                problems.append("fees: '\(method)' is not a payment method (\(PaymentMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let problem = Self.feeProblem(fee) { problems.append("fees.\(method): \(problem)") }
        }
        if let fee = defaultFee, let problem = Self.feeProblem(fee) { problems.append("default_fee: \(problem)") }
        if let commission = commissionBasisPoints {
            do { _ = try CommissionPlan(basisPoints: commission) } catch {
                problems.append("commission_basis_points: \(error)")
            }
        }
        if let payout {
            do { _ = try PayoutCalendar(delayDays: payout.delayDays, timeZone: .gmt) } catch {
                problems.append("payout.delay_days: \(error)")
            }
            if TimeOfDay(payout.cutoff) == nil { problems.append("payout.cutoff '\(payout.cutoff)' is not HH:MM") }
            if TimeZone(identifier: payout.timeZone) == nil {
                problems.append("payout.time_zone '\(payout.timeZone)' is not an IANA time zone")
            }
            for day in payout.holidays ?? [] where LocalDate(day) == nil {
                problems.append("payout.holidays: '\(day)' is not a date in yyyy-MM-dd form")
            }
        }
        if let suppliers {
            if suppliers.contains(where: \.isEmpty) { problems.append("suppliers: an entry is empty") }
            if Set(suppliers).count != suppliers.count { problems.append("suppliers: an entry appears twice") }
            if suppliers.contains(where: StoredText.hasControlCharacter) {
                problems.append("suppliers: an entry holds a control character (U+0000–U+001F or U+007F)")
            }
        }
        if let financing = installmentFinancing, !Self.installmentFinancingValues.contains(financing) {
            problems.append("installment_financing '\(financing)' is not one of \(Self.installmentFinancingValues.joined(separator: ", "))")
        }
        if let locale, !NotificationLocale.all.contains(locale) {
            problems.append("locale '\(locale)' is not one of \(NotificationLocale.all.joined(separator: ", "))")
        }
        return problems
    }

    /// The values `installment_financing` may take.
    public static let installmentFinancingValues = ["upfront", "per_installment"]

    private static func feeProblem(_ fee: Fee) -> String? {
        if let onRefund = fee.onRefund, !Fee.onRefundValues.contains(onRefund) {
            return "on_refund '\(onRefund)' is not one of \(Fee.onRefundValues.joined(separator: ", "))"
        }
        do {
            _ = try FeePlan(basisPoints: fee.basisPoints, fixed: fee.fixed)
            return nil
        } catch {
            return "\(error)"
        }
    }
}

extension CreditLineReference {
    /// Everything wrong with this credit line, one sentence each; empty when it is usable.
    public var problems: [String] {
        var problems: [String] = []
        if schema != Self.schemaName { problems.append("schema '\(schema)' is not \(Self.schemaName)") }
        if payerId.isEmpty { problems.append("payer_id is empty") }
        if let problem = StoredText.problem("payer_id", payerId) { problems.append(problem) }
        for (code, limit) in limits.sorted(by: { $0.key < $1.key }) {
            if Currency.named(code) == nil { problems.append("limits: '\(code)' is not an ISO 4217 currency code") }
            if limit < 0 { problems.append("limits.\(code): \(limit) is negative") }
        }
        if let plans = installmentPlans {
            for count in plans where !(2...InstallmentSchedule.maximumCount).contains(count) {
                problems.append("installment_plans: \(count) is not within 2…\(InstallmentSchedule.maximumCount)")
            }
            if Set(plans).count != plans.count { problems.append("installment_plans: a count appears twice") }
        }
        return problems
    }
}

extension FXRateReference {
    /// Everything wrong with this rate, one sentence each; empty when it is usable.
    public var problems: [String] {
        var problems: [String] = []
        if schema != Self.schemaName { problems.append("schema '\(schema)' is not \(Self.schemaName)") }
        let baseCurrency = Currency.named(base), quoteCurrency = Currency.named(quote)
        if baseCurrency == nil { problems.append("base '\(base)' is not an ISO 4217 currency code") }
        if quoteCurrency == nil { problems.append("quote '\(quote)' is not an ISO 4217 currency code") }
        if source.isEmpty { problems.append("source is empty") }
        if let problem = StoredText.problem("source", source) { problems.append(problem) }
        let date = Self.parseTime(asOf)
        if date == nil { problems.append("as_of '\(asOf)' is not an RFC 3339 time") }
        if let baseCurrency, let quoteCurrency {
            do { _ = try exchangeRate(base: baseCurrency, quote: quoteCurrency, asOf: date ?? Date(timeIntervalSince1970: 0)) } catch {
                problems.append("rate: \(error)")
            }
        }
        return problems
    }

    /// The rate as the FX math uses it; nil if the codes, the rate or the time are invalid.
    public var exchangeRate: ExchangeRate? {
        guard let baseCurrency = Currency.named(base), let quoteCurrency = Currency.named(quote),
              let date = Self.parseTime(asOf) else { return nil }
        return try? exchangeRate(base: baseCurrency, quote: quoteCurrency, asOf: date)
    }

    private func exchangeRate(base: Currency, quote: Currency, asOf: Date) throws(ExchangeRateError) -> ExchangeRate {
        try ExchangeRate(base: base, quote: quote, rate: rate, source: source, asOf: asOf)
    }

    /// RFC 3339 with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle()))
    }
}
