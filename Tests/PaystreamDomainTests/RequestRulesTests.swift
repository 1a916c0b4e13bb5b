import Foundation
import PaystreamDomain
import PaystreamWire
import Testing

@Suite("Request rules and the payment policy")
struct RequestRulesTests {
    static let cny = Currency.named("CNY")!
    static let usd = Currency.named("USD")!
    static func yuan(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: cny) }

    /// A small policy with round numbers, so the boundaries below are easy to read.
    static let policy = PaymentPolicy(
        enabledCurrencies: ["CNY", "USD"],
        enabledMethods: ["card", "alipay", "wallet"],
        capabilities: ["card": ["bank_card": ["CNY", "USD"]], "alipay": ["mobile": ["CNY"]], "wallet": ["balance": ["CNY"]]],
        methodMaximum: ["card": ["CNY": 100_000, "USD": 50_000], "alipay": ["CNY": 20_000], "wallet": ["CNY": 10_000]],
        riskLimits: ["CNY": .init(transactionMaximum: 80_000, dailyAmount: 150_000, dailyCount: 3),
                     "USD": .init(transactionMaximum: 40_000, dailyAmount: 60_000, dailyCount: 2)],
        refundWindowDays: ["card": 180, "alipay": 365, "wallet": 0])

    static let captureTime = Date(timeIntervalSince1970: 1_795_000_000)
    static let day: TimeInterval = 86_400

    static func request(amount: Int64 = 10_000, currency: String = "CNY", method: String = "card",
                        channel: String = "bank_card") -> PaymentRequest {
        try! PaymentRequestMessage(requestId: "r-1", payerId: "user-1", merchantId: "m-1", amount: amount,
                                   currency: currency, method: method, channel: channel).validated().get()
    }

    // MARK: every reason code

    static let rejections: [(String, @Sendable () -> Rejection?, RejectionReason)] = [
        ("amount above the method maximum", { RequestRules.methodMaximum(yuan(20_001), method: .alipay, policy: policy) }, .amountLimit),
        ("no maximum for the method in that currency",
         { RequestRules.methodMaximum(Money(minorUnits: 1, currency: usd), method: .alipay, policy: policy) }, .amountLimit),
        ("currency not enabled", { RequestRules.currencyEnabled(Currency.named("EUR")!, policy: policy) }, .unsupportedCurrency),
        ("method not enabled", { RequestRules.methodAllowed(.cash, on: .cashOnDelivery, in: cny, policy: policy) }, .methodNotAllowed),
        ("method on the wrong channel", { RequestRules.methodAllowed(.card, on: .mobile, in: cny, policy: policy) }, .methodNotAllowed),
        ("method in the wrong currency", { RequestRules.methodAllowed(.alipay, on: .mobile, in: usd, policy: policy) }, .methodNotAllowed),
        ("merchant suspended", { RequestRules.merchantActive(.suspended, merchantID: "m-1") }, .merchantInactive),
        ("merchant unknown", { RequestRules.merchantActive(nil, merchantID: "m-1") }, .merchantInactive),
        ("above the transaction maximum", { RequestRules.transactionMaximum(yuan(80_001), policy: policy) }, .riskLimit),
        ("no risk limits for the currency",
         { RequestRules.transactionMaximum(Money(minorUnits: 1, currency: Currency.named("JPY")!), policy: policy) }, .riskLimit),
        ("daily amount exceeded",
         { RequestRules.dailyLimits(yuan(50_001), payerToday: .init(amount: yuan(100_000), count: 1), policy: policy) }, .riskLimit),
        ("daily count exceeded",
         { RequestRules.dailyLimits(yuan(1), payerToday: .init(amount: yuan(3), count: 3), policy: policy) }, .riskLimit),
        ("daily totals in another currency",
         { RequestRules.dailyLimits(yuan(1), payerToday: .none(usd), policy: policy) }, .riskLimit),
        ("wallet short by holds", { RequestRules.walletFunds(yuan(5_000), balance: yuan(8_000), activeHolds: yuan(3_001)) }, .insufficientFunds),
        ("wallet in another currency",
         { RequestRules.walletFunds(yuan(1), balance: Money(minorUnits: 100, currency: usd), activeHolds: Money(minorUnits: 0, currency: usd)) },
         .insufficientFunds),
        ("credit line used up",
         { RequestRules.creditAvailable(yuan(1_000), limit: yuan(10_000), used: yuan(8_000), held: yuan(1_001)) }, .creditLimit),
        ("credit arithmetic overflows",
         { RequestRules.creditAvailable(yuan(1), limit: yuan(.max), used: yuan(-1), held: yuan(0)) }, .creditLimit),
        ("same request id, other content",
         { RequestRules.idempotency(requestID: "r-1", fingerprint: "b", storedFingerprint: "a") }, .idempotencyConflict),
        ("refund above what is left",
         { RequestRules.refundAmount(yuan(6_001), captured: yuan(10_000), alreadyRefunded: yuan(4_000)) }, .refundExceedsCaptured),
        ("refund overflowing", { RequestRules.refundAmount(yuan(.max), captured: yuan(10), alreadyRefunded: yuan(1)) }, .refundExceedsCaptured),
        ("refund of zero", { RequestRules.refundAmount(yuan(0), captured: yuan(10), alreadyRefunded: yuan(0)) }, .invalidRequest),
        ("refund in another currency",
         { RequestRules.refundAmount(Money(minorUnits: 1, currency: usd), captured: yuan(10), alreadyRefunded: yuan(0)) }, .invalidRequest),
        ("refund after the window",
         { RequestRules.refundWindow(method: .card, capturedAt: captureTime, now: captureTime + 181 * day, policy: policy) },
         .refundWindowClosed),
        ("refund with no window configured",
         { RequestRules.refundWindow(method: .cash, capturedAt: captureTime, now: captureTime, policy: policy) }, .refundWindowClosed),
        ("cancel of a captured payment",
         { RequestRules.stateAllows(.cancelled, in: try! PaymentState(authorizing: yuan(10)).apply(.channelApproved(amount: 10, currency: "CNY"))) },
         .invalidState),
        ("refund of an authorized payment", { RequestRules.stateAllows(.refunded(yuan(1)), in: try! PaymentState(authorizing: yuan(10))) },
         .invalidState),
        ("refund above captured, via the state machine",
         { RequestRules.stateAllows(.refunded(yuan(11)), in: try! PaymentState(authorizing: yuan(10)).apply(.channelApproved(amount: 10, currency: "CNY"))) },
         .refundExceedsCaptured),
    ]

    @Test("each rule rejects its crafted input with its reason code", arguments: rejections.indices)
    func rejects(_ index: Int) throws {
        let (name, rule, reason) = Self.rejections[index]
        let rejection = try #require(rule(), "\(name): passed")
        #expect(rejection.reason == reason, "\(name): \(rejection)")
        #expect(!rejection.message.isEmpty)
    }

    @Test("the cases above produce every reason code the rules can give")
    func everyReasonCovered() {
        let produced = Set(Self.rejections.map(\.2))
        let documented: Set<RejectionReason> = [
            .amountLimit, .unsupportedCurrency, .methodNotAllowed, .merchantInactive, .riskLimit, .insufficientFunds,
            .creditLimit, .idempotencyConflict, .refundExceedsCaptured, .refundWindowClosed, .invalidState, .invalidRequest,
        ]
        #expect(produced == documented)
    }

    // MARK: boundaries: exactly at a limit passes, one minor unit (or one more) over fails

    @Test("method maximum: at the limit passes, one minor unit over fails")
    func methodMaximumBoundary() {
        #expect(RequestRules.methodMaximum(Self.yuan(20_000), method: .alipay, policy: Self.policy) == nil)
        #expect(RequestRules.methodMaximum(Self.yuan(20_001), method: .alipay, policy: Self.policy)?.reason == .amountLimit)
        #expect(RequestRules.methodMaximum(Money(minorUnits: 50_000, currency: Self.usd), method: .card, policy: Self.policy) == nil)
    }

    @Test("transaction maximum: at the limit passes, one minor unit over fails")
    func transactionMaximumBoundary() {
        #expect(RequestRules.transactionMaximum(Self.yuan(80_000), policy: Self.policy) == nil)
        #expect(RequestRules.transactionMaximum(Self.yuan(80_001), policy: Self.policy)?.reason == .riskLimit)
    }

    @Test("daily limits: reaching the amount and the count passes, going over fails")
    func dailyBoundary() {
        let today = RequestRules.DailyTotals(amount: Self.yuan(100_000), count: 2)
        #expect(RequestRules.dailyLimits(Self.yuan(50_000), payerToday: today, policy: Self.policy) == nil)
        #expect(RequestRules.dailyLimits(Self.yuan(50_001), payerToday: today, policy: Self.policy)?.reason == .riskLimit)
        #expect(RequestRules.dailyLimits(Self.yuan(1), payerToday: .init(amount: Self.yuan(1), count: 3), policy: Self.policy) != nil)
        #expect(RequestRules.dailyLimits(Self.yuan(150_000), payerToday: .none(Self.cny), policy: Self.policy) == nil)
        #expect(RequestRules.dailyLimits(Self.yuan(1), payerToday: .init(amount: Self.yuan(.max), count: 0), policy: Self.policy)?.reason == .riskLimit)
    }

    @Test("wallet: available exactly the amount passes, one minor unit short fails")
    func walletBoundary() {
        #expect(RequestRules.walletFunds(Self.yuan(5_000), balance: Self.yuan(8_000), activeHolds: Self.yuan(3_000)) == nil)
        #expect(RequestRules.walletFunds(Self.yuan(5_001), balance: Self.yuan(8_000), activeHolds: Self.yuan(3_000))?.reason == .insufficientFunds)
        #expect(RequestRules.walletFunds(Self.yuan(1), balance: Self.yuan(0), activeHolds: Self.yuan(0))?.reason == .insufficientFunds)
    }

    @Test("credit: available exactly the amount passes, one minor unit short fails")
    func creditBoundary() {
        #expect(RequestRules.creditAvailable(Self.yuan(1_000), limit: Self.yuan(10_000), used: Self.yuan(8_000), held: Self.yuan(1_000)) == nil)
        #expect(RequestRules.creditAvailable(Self.yuan(1_001), limit: Self.yuan(10_000), used: Self.yuan(8_000), held: Self.yuan(1_000))?.reason == .creditLimit)
    }

    @Test("refund amount: exactly what is left passes, one minor unit more fails")
    func refundBoundary() {
        #expect(RequestRules.refundAmount(Self.yuan(6_000), captured: Self.yuan(10_000), alreadyRefunded: Self.yuan(4_000)) == nil)
        #expect(RequestRules.refundAmount(Self.yuan(6_001), captured: Self.yuan(10_000), alreadyRefunded: Self.yuan(4_000))?.reason == .refundExceedsCaptured)
        #expect(RequestRules.refundAmount(Self.yuan(1), captured: Self.yuan(10_000), alreadyRefunded: Self.yuan(10_000))?.reason == .refundExceedsCaptured)
    }

    @Test("refund window: the last second of the window passes, the next one fails; a zero-day window closes at capture")
    func refundWindowBoundary() {
        let closes = Self.captureTime + 180 * Self.day
        #expect(RequestRules.refundWindow(method: .card, capturedAt: Self.captureTime, now: closes, policy: Self.policy) == nil)
        #expect(RequestRules.refundWindow(method: .card, capturedAt: Self.captureTime, now: closes + 1, policy: Self.policy)?.reason == .refundWindowClosed)
        #expect(RequestRules.refundWindow(method: .wallet, capturedAt: Self.captureTime, now: Self.captureTime, policy: Self.policy) == nil)
        #expect(RequestRules.refundWindow(method: .wallet, capturedAt: Self.captureTime, now: Self.captureTime + 1, policy: Self.policy) != nil)
    }

    @Test("idempotency: a new request and an identical retry pass")
    func idempotencyPasses() {
        #expect(RequestRules.idempotency(requestID: "r", fingerprint: "a", storedFingerprint: nil) == nil)
        #expect(RequestRules.idempotency(requestID: "r", fingerprint: "a", storedFingerprint: "a") == nil)
    }

    @Test("the policy rules run in order and pass a request the policy allows")
    func policyRejection() {
        #expect(RequestRules.policyRejection(for: Self.request(), policy: Self.policy) == nil)
        #expect(RequestRules.merchantActive(.active, merchantID: "m-1") == nil)
        // EUR is unsupported before card-in-EUR is checked against the matrix.
        #expect(RequestRules.policyRejection(for: Self.request(currency: "EUR"), policy: Self.policy)?.reason == .unsupportedCurrency)
        #expect(RequestRules.policyRejection(for: Self.request(method: "alipay"), policy: Self.policy)?.reason == .methodNotAllowed)
        #expect(RequestRules.policyRejection(for: Self.request(amount: 100_001), policy: Self.policy)?.reason == .amountLimit)
        #expect(RequestRules.policyRejection(for: Self.request(amount: 80_001), policy: Self.policy)?.reason == .riskLimit)
    }

    // MARK: the policy file

    static let json = #"""
    {
      "enabled_currencies": ["CNY"],
      "enabled_methods": ["wechat_pay"],
      "capabilities": { "wechat_pay": { "mobile": ["CNY"] } },
      "method_maximum": { "wechat_pay": { "CNY": 5000 } },
      "risk_limits": { "CNY": { "transaction_maximum": 5000, "daily_amount": 9000, "daily_count": 4 } },
      "refund_window_days": { "wechat_pay": 365 },
      "comment": "unknown keys are ignored"
    }
    """#

    @Test("the policy decodes from snake_case JSON and keeps dictionary keys as written")
    func decodes() throws {
        let policy = try PaymentPolicy.decode(from: Data(Self.json.utf8))
        #expect(policy.capabilities["wechat_pay"]?["mobile"] == ["CNY"])
        #expect(policy.allows(.wechatPay, on: .mobile, in: "CNY"))
        #expect(policy.methodMaximum["wechat_pay"]?["CNY"] == 5_000)
        #expect(policy.riskLimits["CNY"] == .init(transactionMaximum: 5_000, dailyAmount: 9_000, dailyCount: 4))
        #expect(policy.refundWindowDays["wechat_pay"] == 365)
        #expect(RequestRules.validate(policy: policy).isEmpty)
        #expect(try PaymentPolicy.decode(from: policy.encoded()) == policy)
    }

    @Test("a policy missing a section does not decode")
    func missingKey() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Self.json.utf8)) as? [String: Any])
        for key in ["enabled_currencies", "enabled_methods", "capabilities", "method_maximum", "risk_limits", "refund_window_days"] {
            var broken = object
            broken[key] = nil
            let data = try JSONSerialization.data(withJSONObject: broken)
            #expect(throws: DecodingError.self, "without \(key)") { try PaymentPolicy.decode(from: data) }
        }
    }

    static let brokenPolicies: [(String, @Sendable (inout PaymentPolicy) -> Void, String)] = [
        ("currency not ISO", { $0.enabledCurrencies.append("XXY") }, "enabled_currencies: 'XXY' is not an ISO 4217 currency"),
        ("currency twice", { $0.enabledCurrencies.append("CNY") }, "enabled_currencies: CNY is listed twice"),
        ("no currencies", { $0.enabledCurrencies = [] }, "enabled_currencies: is empty"),
        ("method unknown", { $0.enabledMethods.append("cheque") }, "enabled_methods: 'cheque' is not a payment method"),
        ("matrix method not enabled", { $0.capabilities["cash"] = ["cash_on_delivery": ["CNY"]] },
         "capabilities.cash: method cash is not in enabled_methods"),
        ("matrix channel unknown", { $0.capabilities["card"]?["pigeon"] = ["CNY"] }, "capabilities.card.pigeon: 'pigeon' is not a channel"),
        ("matrix currency not enabled", { $0.capabilities["card"]?["bank_card"]?.append("EUR") },
         "capabilities.card.bank_card: currency EUR is not in enabled_currencies"),
        ("matrix currency not ISO", { $0.capabilities["card"]?["bank_card"]?.append("ABC") },
         "capabilities.card.bank_card: 'ABC' is not an ISO 4217 currency"),
        ("matrix cell without a maximum", { $0.methodMaximum["card"]?["USD"] = nil }, "method_maximum.card.USD: missing"),
        ("enabled method without channels", { $0.capabilities["wallet"] = nil }, "capabilities.wallet: enabled method has no channel"),
        ("maximum not positive", { $0.methodMaximum["alipay"]?["CNY"] = 0 }, "method_maximum.alipay.CNY: must be positive"),
        ("maximum for an unknown method", { $0.methodMaximum["bitcoin"] = ["CNY": 1] }, "method_maximum.bitcoin: 'bitcoin' is not a payment method"),
        ("enabled currency without risk limits", { $0.riskLimits["USD"] = nil }, "risk_limits.USD: missing"),
        ("risk limits not positive", { $0.riskLimits["CNY"]?.dailyCount = 0 }, "risk_limits.CNY.daily_count: must be positive"),
        ("daily amount below one payment", { $0.riskLimits["CNY"]?.dailyAmount = 79_999 }, "risk_limits.CNY: daily_amount 79999 is below"),
        ("enabled method without refund window", { $0.refundWindowDays["alipay"] = nil }, "refund_window_days.alipay: missing"),
        ("negative refund window", { $0.refundWindowDays["card"] = -1 }, "refund_window_days.card: must be 0 to 36500"),
    ]

    @Test("validate names each inconsistency by its key path", arguments: brokenPolicies.indices)
    func validateFindsProblems(_ index: Int) {
        let (name, breakIt, expected) = Self.brokenPolicies[index]
        var policy = Self.policy
        breakIt(&policy)
        let problems = RequestRules.validate(policy: policy)
        #expect(problems.contains { $0.hasPrefix(expected) }, "\(name): \(problems)")
    }

    @Test("the test policy itself is consistent")
    func testPolicyValid() {
        #expect(RequestRules.validate(policy: Self.policy) == [])
    }

    /// The folder with Package.swift, found by walking up from this file.
    static func packageRoot() throws -> URL {
        var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder }
            folder.deleteLastPathComponent()
        }
        throw CocoaError(.fileNoSuchFile)
    }

    @Test("the shipped Config/payment-policy.json decodes and has no problems")
    func shippedPolicy() throws {
        let data = try Data(contentsOf: try Self.packageRoot().appendingPathComponent("Config/payment-policy.json"))
        let policy = try PaymentPolicy.decode(from: data)
        #expect(RequestRules.validate(policy: policy) == [])
        #expect(Set(policy.enabledMethods) == Set(PaymentMethod.allCases.map(\.rawValue)))
        #expect(policy.refundWindowDays == ["card": 180, "alipay": 365, "wechat_pay": 365, "online_banking": 90, "cash": 7, "wallet": 365])
        #expect(policy.allows(.wechatPay, on: .mobile, in: "CNY"))
        #expect(!policy.allows(.wallet, on: .bankCard, in: "CNY"))
    }

    @Test("the sample requests meet the shipped policy as Config/README.md says: all pass but ord-1006 (cash on bank_card)")
    func samplesPassShippedPolicy() throws {
        let root = try Self.packageRoot()
        let policy = try PaymentPolicy.decode(from: Data(contentsOf: root.appendingPathComponent("Config/payment-policy.json")))
        let lines = try String(contentsOf: root.appendingPathComponent("Config/sample-requests.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        var checked = 0
        for line in lines {
            guard case .success(let request) = try Wire.decode(PaymentRequestMessage.self, from: Data(line.utf8)).validated() else { continue }
            let reason = RequestRules.policyRejection(for: request, policy: policy)?.reason
            #expect(reason == (request.requestID == "ord-1006-try-1" ? .methodNotAllowed : nil), "\(request.requestID)")
            checked += 1
        }
        #expect(checked == 9)
    }
}
