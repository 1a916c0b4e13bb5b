import Foundation

/// The payment-worker's rules that need nothing stored beyond what the caller passes in. Each
/// returns nil when the request passes, or the `Rejection` (stable reason code and a message)
/// that the worker publishes as `payment.rejected`. Rules fail closed: a missing policy entry, an
/// amount in another currency, or arithmetic that would overflow is a rejection, never a pass.
public enum RequestRules {
    /// A payer's payments so far today (UTC) in one currency, before the one being checked.
    public struct DailyTotals: Sendable, Hashable {
        public var amount: Money
        public var count: Int

        public init(amount: Money, count: Int) {
            self.amount = amount
            self.count = count
        }

        public static func none(_ currency: Currency) -> DailyTotals { DailyTotals(amount: .zero(currency), count: 0) }
    }

    // MARK: policy

    /// The policy rules a validated request must pass, in order: currency enabled, method allowed,
    /// method maximum, transaction maximum. The first failure wins.
    public static func policyRejection(for request: PaymentRequest, policy: PaymentPolicy) -> Rejection? {
        currencyEnabled(request.amount.currency, policy: policy)
            ?? methodAllowed(request.method, on: request.channel, in: request.amount.currency, policy: policy)
            ?? methodMaximum(request.amount, method: request.method, policy: policy)
            ?? transactionMaximum(request.amount, policy: policy)
    }

    /// `unsupported_currency` unless the policy enables the currency.
    public static func currencyEnabled(_ currency: Currency, policy: PaymentPolicy) -> Rejection? {
        guard !policy.isCurrencyEnabled(currency.code) else { return nil }
        return Rejection(.unsupportedCurrency, "currency \(currency.code) is not enabled")
    }

    /// `method_not_allowed` unless the method is enabled and the matrix allows it on that channel
    /// in that currency.
    public static func methodAllowed(_ method: PaymentMethod, on channel: PaymentChannel, in currency: Currency,
                                     policy: PaymentPolicy) -> Rejection? {
        guard policy.isMethodEnabled(method) else {
            return Rejection(.methodNotAllowed, "method \(method.rawValue) is not enabled")
        }
        guard policy.allows(method, on: channel, in: currency.code) else {
            return Rejection(.methodNotAllowed, "method \(method.rawValue) is not allowed on channel \(channel.rawValue) in \(currency.code)")
        }
        return nil
    }

    /// `amount_limit` when the amount is above the method's maximum in its currency (the maximum
    /// itself passes).
    public static func methodMaximum(_ amount: Money, method: PaymentMethod, policy: PaymentPolicy) -> Rejection? {
        guard let maximum = policy.methodMaximum[method.rawValue]?[amount.currency.code] else {
            return Rejection(.amountLimit, "no maximum is configured for \(method.rawValue) in \(amount.currency.code)")
        }
        guard amount.minorUnits > maximum else { return nil }
        return Rejection(.amountLimit, "amount \(amount.formatted) is above the \(method.rawValue) maximum of "
            + "\(Money(minorUnits: maximum, currency: amount.currency).formatted)")
    }

    /// `risk_limit` when the amount is above the per-transaction maximum of its currency.
    public static func transactionMaximum(_ amount: Money, policy: PaymentPolicy) -> Rejection? {
        guard let limits = policy.riskLimits[amount.currency.code] else { return noRiskLimits(amount.currency) }
        guard amount.minorUnits > limits.transactionMaximum else { return nil }
        return Rejection(.riskLimit, "amount \(amount.formatted) is above the per-transaction maximum of "
            + "\(Money(minorUnits: limits.transactionMaximum, currency: amount.currency).formatted)")
    }

    /// `risk_limit` when this payment would take the payer's day above the daily amount or count
    /// of its currency. `payerToday` excludes this payment.
    public static func dailyLimits(_ amount: Money, payerToday: DailyTotals, policy: PaymentPolicy) -> Rejection? {
        guard let limits = policy.riskLimits[amount.currency.code] else { return noRiskLimits(amount.currency) }
        guard payerToday.count < limits.dailyCount else {
            return Rejection(.riskLimit, "the payer has made \(payerToday.count) payments in \(amount.currency.code) today; "
                + "the daily limit is \(limits.dailyCount)")
        }
        let limit = Money(minorUnits: limits.dailyAmount, currency: amount.currency)
        guard let total = try? payerToday.amount.adding(amount), total <= limit else {
            return Rejection(.riskLimit, "\(amount.formatted) on top of \(payerToday.amount.formatted) today is above "
                + "the payer's daily limit of \(limit.formatted)")
        }
        return nil
    }

    private static func noRiskLimits(_ currency: Currency) -> Rejection {
        Rejection(.riskLimit, "no risk limits are configured for \(currency.code)")
    }

    // MARK: reference data and balances

    /// `merchant_inactive` unless the merchant is known (`status` not nil) and active.
    public static func merchantActive(_ status: MerchantStatus?, merchantID: String) -> Rejection? {
        switch status {
        case .active?: nil
        case .suspended?: Rejection(.merchantInactive, "merchant \(merchantID) is suspended")
        case nil: Rejection(.merchantInactive, "merchant \(merchantID) is not known")
        }
    }

    /// The rules a payment's merchant decides, in order: known and active (`merchant_inactive`);
    /// every split party is one of the merchant's suppliers and the splits fit in the amount
    /// after the merchant's fee for the method (`invalid_request`); a settlement currency other
    /// than the payment's has a rate (`unsupported_currency`). `hasRate(base, quote)` says whether
    /// reference data holds that rate.
    public static func merchantTerms(for request: PaymentRequest, merchant: MerchantReference?,
                                     hasRate: (String, String) -> Bool) -> Rejection? {
        let merchantID = request.merchantID ?? ""
        if let rejection = merchantActive(merchant?.status, merchantID: merchantID) { return rejection }
        guard let merchant else { return nil }
        let suppliers = Set(merchant.suppliers ?? [])
        if let stranger = request.splits.first(where: { !suppliers.contains($0.partyId) }) {
            return Rejection(.invalidRequest, "split party \(stranger.partyId) is not a supplier of merchant \(merchantID)")
        }
        if !request.splits.isEmpty {
            let fee: Money
            do {
                fee = try merchant.feePlan(for: request.method.rawValue).fee(for: request.amount)
            } catch {
                return Rejection(.merchantInactive, "merchant \(merchantID) has no usable fee plan for \(request.method.rawValue): \(error)")
            }
            let splitTotal = request.splits.reduce(Int64(0)) { $0 + $1.amount }  // ≤ amount, checked by validated()
            guard let net = try? request.amount.subtracting(fee), splitTotal <= net.minorUnits else {
                return Rejection(.invalidRequest, "splits of \(Money(minorUnits: splitTotal, currency: request.amount.currency).formatted) "
                    + "exceed the \(((try? request.amount.subtracting(fee)) ?? request.amount).formatted) left after the merchant's fee")
            }
        }
        let settlementCurrency = request.settlementCurrency ?? merchant.settlementCurrency
        if settlementCurrency != request.amount.currency.code && !hasRate(request.amount.currency.code, settlementCurrency) {
            return Rejection(.unsupportedCurrency, "no exchange rate \(request.amount.currency.code)/\(settlementCurrency) "
                + "to settle in \(settlementCurrency)")
        }
        return nil
    }

    /// `insufficient_funds` unless the wallet's available balance (balance minus active holds)
    /// covers the amount.
    public static func walletFunds(_ amount: Money, balance: Money, activeHolds: Money) -> Rejection? {
        guard let available = try? balance.subtracting(activeHolds), available.currency == amount.currency,
              available >= amount else {
            let shown = (try? balance.subtracting(activeHolds).formatted) ?? "none"
            return Rejection(.insufficientFunds, "wallet available balance \(shown) does not cover \(amount.formatted)")
        }
        return nil
    }

    /// `credit_limit` unless the credit line's available credit (limit minus used minus held)
    /// covers the amount. Post-paid and installment payments draw on the line.
    public static func creditAvailable(_ amount: Money, limit: Money, used: Money, held: Money) -> Rejection? {
        let available = try? limit.subtracting(used).subtracting(held)
        guard let available, available.currency == amount.currency, available >= amount else {
            return Rejection(.creditLimit, "available credit \(available?.formatted ?? "none") does not cover \(amount.formatted)")
        }
        return nil
    }

    // MARK: idempotency, refunds, state

    /// `idempotency_conflict` when `request_id` was seen before with another fingerprint. Nil for
    /// a new request (no stored fingerprint) and for an identical retry, which the caller answers
    /// by publishing the original outcome again.
    public static func idempotency(requestID: String, fingerprint: String, storedFingerprint: String?) -> Rejection? {
        guard let storedFingerprint, storedFingerprint != fingerprint else { return nil }
        return Rejection(.idempotencyConflict, "request_id \(requestID) was used before with different content")
    }

    /// `refund_exceeds_captured` when the refund would take the refunded total above the captured
    /// total (refunding exactly what is left passes); `invalid_request` for a refund that is not
    /// positive or not in the payment's currency.
    public static func refundAmount(_ refund: Money, captured: Money, alreadyRefunded: Money) -> Rejection? {
        guard refund.currency == captured.currency, alreadyRefunded.currency == captured.currency else {
            return Rejection(.invalidRequest, "a refund in \(refund.currency.code) of a payment in \(captured.currency.code)")
        }
        guard refund.isPositive else { return Rejection(.invalidRequest, "a refund amount must be greater than zero") }
        guard let total = try? alreadyRefunded.adding(refund), total <= captured else {
            let left = (try? captured.subtracting(alreadyRefunded))?.formatted ?? "nothing"
            return Rejection(.refundExceedsCaptured, "refund of \(refund.formatted) exceeds the \(left) still refundable")
        }
        return nil
    }

    /// `refund_window_closed` when `now` is past the capture time plus the method's refund window.
    /// A window is whole 24-hour days from the capture instant (UTC, no calendar), and its last
    /// instant still passes.
    public static func refundWindow(method: PaymentMethod, capturedAt: Date, now: Date, policy: PaymentPolicy) -> Rejection? {
        guard let days = policy.refundWindowDays[method.rawValue] else {
            return Rejection(.refundWindowClosed, "no refund window is configured for \(method.rawValue)")
        }
        let closes = capturedAt.addingTimeInterval(Double(days) * 86_400)
        guard now > closes else { return nil }
        return Rejection(.refundWindowClosed, "\(method.rawValue) refunds close \(days) days after capture, at "
            + Timestamp.text(closes))
    }

    /// `invalid_state` (or `refund_exceeds_captured`, `invalid_request`) when the payment's state
    /// machine has no transition for `event`: a cancel of a captured payment, a refund of one never
    /// captured. The rule and the machine cannot disagree, because the rule asks the machine.
    public static func stateAllows(_ event: PaymentState.Event, in state: PaymentState) -> Rejection? {
        do {
            _ = try state.apply(event)
            return nil
        } catch {
            return error.rejection
        }
    }

    // MARK: the policy itself

    /// Everything inconsistent in `policy`, one line each with the key path; empty when it is
    /// usable. A worker refuses to start with a policy that has problems.
    public static func validate(policy: PaymentPolicy) -> [String] {
        var problems: [String] = []
        let methods = Set(PaymentMethod.allCases.map(\.rawValue))
        let channels = Set(PaymentChannel.allCases.map(\.rawValue))
        let currencies = Set(policy.enabledCurrencies)
        let enabledMethods = Set(policy.enabledMethods)

        func checkCurrency(_ code: String, at path: String) {
            if Currency.named(code) == nil {
                problems.append("\(path): '\(code)' is not an ISO 4217 currency")
            } else if !currencies.contains(code) {
                problems.append("\(path): currency \(code) is not in enabled_currencies")
            }
        }
        func checkMethod(_ name: String, at path: String) {
            if !methods.contains(name) {
                problems.append("\(path): '\(name)' is not a payment method (\(PaymentMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            } else if !enabledMethods.contains(name) {
                problems.append("\(path): method \(name) is not in enabled_methods")
            }
        }

        if policy.enabledCurrencies.isEmpty { problems.append("enabled_currencies: is empty") }
        for code in duplicates(policy.enabledCurrencies) { problems.append("enabled_currencies: \(code) is listed twice") }
        for code in policy.enabledCurrencies where Currency.named(code) == nil {
            problems.append("enabled_currencies: '\(code)' is not an ISO 4217 currency")
        }
        if policy.enabledMethods.isEmpty { problems.append("enabled_methods: is empty") }
        for name in duplicates(policy.enabledMethods) { problems.append("enabled_methods: \(name) is listed twice") }
        for name in policy.enabledMethods where !methods.contains(name) {
            problems.append("enabled_methods: '\(name)' is not a payment method")
        }

        for (method, byChannel) in policy.capabilities.sorted(by: { $0.key < $1.key }) {
            checkMethod(method, at: "capabilities.\(method)")
            for (channel, codes) in byChannel.sorted(by: { $0.key < $1.key }) {
                let path = "capabilities.\(method).\(channel)"
                if !channels.contains(channel) {
                    problems.append("\(path): '\(channel)' is not a channel (\(PaymentChannel.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if codes.isEmpty { problems.append("\(path): lists no currency") }
                for code in duplicates(codes) { problems.append("\(path): \(code) is listed twice") }
                for code in codes {
                    checkCurrency(code, at: path)
                    if policy.methodMaximum[method]?[code] == nil {
                        problems.append("method_maximum.\(method).\(code): missing, but capabilities.\(method).\(channel) allows \(code)")
                    }
                }
            }
        }
        for method in policy.enabledMethods where methods.contains(method) {
            if policy.capabilities[method, default: [:]].values.allSatisfy(\.isEmpty) {
                problems.append("capabilities.\(method): enabled method has no channel and currency")
            }
            if policy.refundWindowDays[method] == nil {
                problems.append("refund_window_days.\(method): missing for an enabled method")
            }
        }

        for (method, byCurrency) in policy.methodMaximum.sorted(by: { $0.key < $1.key }) {
            checkMethod(method, at: "method_maximum.\(method)")
            for (code, maximum) in byCurrency.sorted(by: { $0.key < $1.key }) {
                checkCurrency(code, at: "method_maximum.\(method).\(code)")
                if maximum <= 0 { problems.append("method_maximum.\(method).\(code): must be positive, not \(maximum)") }
            }
        }

        for code in policy.enabledCurrencies where policy.riskLimits[code] == nil {
            problems.append("risk_limits.\(code): missing for an enabled currency")
        }
        for (code, limits) in policy.riskLimits.sorted(by: { $0.key < $1.key }) {
            let path = "risk_limits.\(code)"
            checkCurrency(code, at: path)
            if limits.transactionMaximum <= 0 { problems.append("\(path).transaction_maximum: must be positive") }
            if limits.dailyAmount <= 0 { problems.append("\(path).daily_amount: must be positive") }
            if limits.dailyCount <= 0 { problems.append("\(path).daily_count: must be positive") }
            if limits.dailyAmount < limits.transactionMaximum {
                problems.append("\(path): daily_amount \(limits.dailyAmount) is below transaction_maximum \(limits.transactionMaximum)")
            }
        }

        for (method, days) in policy.refundWindowDays.sorted(by: { $0.key < $1.key }) {
            checkMethod(method, at: "refund_window_days.\(method)")
            // Beyond about 100 years the window is a typo, and Date arithmetic stops being exact.
            if !(0...36_500).contains(days) { problems.append("refund_window_days.\(method): must be 0 to 36500, not \(days)") }
        }
        return problems
    }

    private static func duplicates(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        var twice: [String] = []
        for value in values where !seen.insert(value).inserted && !twice.contains(value) { twice.append(value) }
        return twice
    }
}
