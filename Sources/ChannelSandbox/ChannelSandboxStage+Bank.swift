import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime

extension ChannelSandboxStage {
    /// How the sandbox plays the settlement bank that pays payouts (`bank:` in the stage
    /// settings). Rates are shares 0…1; delays milliseconds. The defaults pay everything at once.
    public struct BankProfile: Sendable, Hashable {
        /// Time from a `pay` or `query` instruction to its answer.
        public var latency: LatencyDistribution = .instant
        /// Share of payouts the bank refuses, and why.
        public var failureRate: Double = 0
        public var failureReasons: ReasonWeights = .builtIn(["account_closed": 1, "invalid_account": 1, "limit_exceeded": 1])
        /// Share of payouts decided but never answered (a later query gets the decision).
        public var noAnswerRate: Double = 0
        /// Share of answers sent twice (same confirmation_id).
        public var duplicateRate: Double = 0
        /// Share of paid payouts the payee's bank sends back `returnAfterMs` after paying, and why.
        public var returnRate: Double = 0
        public var returnAfterMs: Int = 172_800_000
        public var returnReasons: ReasonWeights = .builtIn(["account_closed": 1, "beneficiary_refused": 1])

        public init() {}
    }

    /// The `bank:` entry as written: each key optional and checked.
    struct BankEntry: Decodable {
        var profile = BankProfile()

        enum CodingKeys: String, CodingKey, CaseIterable {
            case latencyMs = "latency_ms", failureRate = "failure_rate", failureReasons = "failure_reasons"
            case noAnswerRate = "no_answer_rate", duplicateRate = "duplicate_rate", returnRate = "return_rate"
            case returnAfterMs = "return_after_ms", returnReasons = "return_reasons"
        }

        init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            func rate(_ key: CodingKeys, _ value: inout Double) throws {
                guard let read = try c.decodeIfPresent(Double.self, forKey: key) else { return }
                guard read.isFinite, (0...1).contains(read) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "must be a share between 0 and 1, is \(read)")
                }
                value = read
            }
            func reasons(_ key: CodingKeys, _ value: inout ReasonWeights) throws {
                guard let weights = try c.decodeIfPresent([String: Double].self, forKey: key) else { return }
                do { value = try ReasonWeights(weights) } catch {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(error) (a map of reason code → weight)")
                }
            }
            if let latency = try decodeLatency(c, key: .latencyMs) { profile.latency = latency }
            try rate(.failureRate, &profile.failureRate)
            try reasons(.failureReasons, &profile.failureReasons)
            try rate(.noAnswerRate, &profile.noAnswerRate)
            try rate(.duplicateRate, &profile.duplicateRate)
            try rate(.returnRate, &profile.returnRate)
            try reasons(.returnReasons, &profile.returnReasons)
            if let ms = try c.decodeIfPresent(Int.self, forKey: .returnAfterMs) {
                guard ms >= 0 else { throw DecodingError.dataCorruptedError(forKey: .returnAfterMs, in: c, debugDescription: "must be ≥ 0 ms, is \(ms)") }
                profile.returnAfterMs = ms
            }
        }
    }

    // MARK: - payouts

    /// A `pay` instruction is decided once (paid or failed, answered or not, returned later or
    /// not) from the draws of its payout id; a repeated one is answered as decided. A `query`
    /// gets the decision, or `unknown` for a payout the bank never received.
    func payout(_ request: PayoutRequest, key: String, context: StageContext) throws {
        guard request.amount > 0, Currency.named(request.currency) != nil else {
            throw DeadLetter(code: "invalid_request", message: "a payout of \(request.amount) \(request.currency)")
        }
        let bank = settings.bank
        let id = request.payoutId
        switch request.requestType {
        case "pay":
            let decided = try ChannelSandboxTables.bankPayout(context.db, id: id)
            let decision = decided ?? ChannelSandboxTables.BankPayout(
                payoutID: id, amount: request.amount, currency: request.currency,
                failed: draws.happens(.payoutFailure, rate: bank.failureRate, id),
                reason: bank.failureReasons.pick(draws.uniform(.payoutFailureReason, id)),
                reference: "bank-" + String(draws.hash(.reference, id) % 0xFFFF_FFFF_FFFF, radix: 16))
            if decided == nil { try ChannelSandboxTables.insert(context.db, bankPayout: decision, at: context.timestamp) }
            // A repeated instruction is answered even when the first answer was withheld.
            let withheld = decided == nil && draws.happens(.payoutNoAnswer, rate: bank.noAnswerRate, id)
            let answer = bankAnswer(decision, status: decision.failed ? "failed" : "paid", type: "pay",
                                    id: "bc-\(id):pay" + (decided == nil ? "" : ":again"))
            let delay = bank.latency.milliseconds(draws.uniform(.payoutLatency, id), draws.uniform(.latencyAngle, id))
            if !withheld { try scheduleBank(answer, key: key, kind: decided == nil ? "answer" : "again", after: delay, context: context) }
            if decided == nil, !withheld, draws.happens(.payoutDuplicate, rate: bank.duplicateRate, id) {
                try scheduleBank(answer, key: key, kind: "repeat", after: delay, context: context)
            }
            if decided == nil, !decision.failed, draws.happens(.payoutReturn, rate: bank.returnRate, id) {
                var returned = bankAnswer(decision, status: "returned", type: "return", id: "bc-\(id):return")
                returned.reason = bank.returnReasons.pick(draws.uniform(.payoutReturnReason, id))
                try scheduleBank(returned, key: key, kind: "return", after: delay + bank.returnAfterMs, context: context)
            }
        case "query":
            let answer: PayoutConfirmation
            if let decided = try ChannelSandboxTables.bankPayout(context.db, id: id) {
                answer = bankAnswer(decided, status: decided.failed ? "failed" : "paid", type: "query", id: "bc-\(id):query:\(request.requestedAt)")
            } else {
                answer = PayoutConfirmation(confirmationId: "bc-\(id):query:\(request.requestedAt)", payoutId: id, status: "unknown",
                                            amount: request.amount, currency: request.currency, requestType: "query", confirmedAt: "")
            }
            try scheduleBank(answer, key: key, kind: "query:\(request.requestedAt)",
                             after: bank.latency.milliseconds(draws.uniform(.payoutLatency, answer.confirmationId),
                                                              draws.uniform(.latencyAngle, answer.confirmationId)), context: context)
        default:
            throw DeadLetter(code: "unsupported_request", message: "payout request_type '\(request.requestType)' is not pay or query")
        }
    }

    private func bankAnswer(_ payout: ChannelSandboxTables.BankPayout, status: String, type: String, id: String) -> PayoutConfirmation {
        PayoutConfirmation(confirmationId: id, payoutId: payout.payoutID, status: status, amount: payout.amount, currency: payout.currency,
                           reason: status == "failed" ? payout.reason : nil, bankReference: payout.reference, requestType: type,
                           confirmedAt: "")
    }

    /// Sends the answer now when its delay is 0, else keeps it until due.
    private func scheduleBank(_ answer: PayoutConfirmation, key: String, kind: String, after delay: Int, context: StageContext) throws {
        let due = Self.milliseconds(context.now) + Int64(delay)
        if delay == 0 {
            try deliverBank(answer, key: key, kind: kind, context: context)
        } else {
            try ChannelSandboxTables.insert(context.db, bankAnswer: answer, key: key, kind: kind, dueAt: due)
        }
    }

    func deliverBank(_ answer: PayoutConfirmation, key: String, kind: String, context: StageContext) throws {
        var answer = answer
        answer.confirmedAt = Self.timestamp(Self.milliseconds(context.now))
        try context.emit(answer, topic: topics.payoutConfirmations, key: key, eventID: "bc:\(answer.payoutId):\(kind)",
                         sealedBy: AnswerSeal.bank, keys: answerKeys)
    }
}

/// `latency_ms: 30` (always 30 ms) or `latency_ms: {min, p50, p99, max}` (p50 and p99 required;
/// min defaults to 0, max to 2 × p99).
func decodeLatency<K: CodingKey>(_ c: KeyedDecodingContainer<K>, key: K) throws -> LatencyDistribution? {
    guard c.contains(key) else { return nil }
    do {
        if let constant = try? c.decode(Int.self, forKey: key) { return try LatencyDistribution.constant(constant) }
        let q = try c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)
        for unknown in q.allKeys where !["min", "p50", "p99", "max"].contains(unknown.stringValue) {
            throw DecodingError.dataCorrupted(.init(codingPath: q.codingPath + [unknown],
                                                    debugDescription: "unknown key; latency_ms takes min, p50, p99 and max"))
        }
        let p50 = try q.decode(Int.self, forKey: AnyCodingKey("p50"))
        let p99 = try q.decode(Int.self, forKey: AnyCodingKey("p99"))
        let min = try q.decodeIfPresent(Int.self, forKey: AnyCodingKey("min")) ?? 0
        let max = try q.decodeIfPresent(Int.self, forKey: AnyCodingKey("max")) ?? p99.multipliedReportingOverflow(by: 2).partialValue
        return try LatencyDistribution(minimum: min, p50: p50, p99: p99, maximum: max)
    } catch let error as LatencyDistribution.Invalid {
        throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(error) (need 0 ≤ min ≤ p50 ≤ p99 ≤ max, in ms)")
    }
}
