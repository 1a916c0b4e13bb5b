import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// channel-sandbox: plays the payment channels (card network, Alipay, WeChat Pay, online banking,
/// cash-on-delivery courier) for development, tests and demos. It answers `authorize`, `query`,
/// `refund` and `cancel` instructions on `channel.confirmations`, keyed like the request, and
/// behaves per method as `Settings` says: latency, declines with weighted reasons, answers never
/// sent, answers sent twice, answers held back so later ones overtake them, amount mismatches.
/// Every draw comes from `SandboxDraws` (seed, channel_request_id, purpose), so a seed replays
/// the same decisions. Approved payments and refunds go into daily statement files.
///
/// An instruction is decided when it arrives (in `apply`); its answer is sent at once when its
/// delay is 0, otherwise stored in `pending_answer` and sent by `tick` once due on the worker's
/// clock. See Config/README.md (channel-sandbox) for the exact rules.
public struct ChannelSandboxStage: Stage {
    public let name = "channel-sandbox"
    public let topics: TopicNames
    public let settings: Settings
    /// Where statement files are written; nil for none.
    public let statementDirectory: String?
    let draws: SandboxDraws
    /// The keys answers are sealed with: per method answered, and `bank`; nil: unsealed (development).
    public let answerKeys: AnswerKeyring?

    /// At most this many due answers per shard per tick, to keep each tick's transaction short.
    static let answersPerTick = 2000

    /// - Parameter stateDirectory: the daemon's state directory; a relative `statement_dir` starts there.
    public init(topics: TopicNames, settings: Settings = Settings(), stateDirectory: String, answerKeys: AnswerKeyring?) {
        self.topics = topics
        self.settings = settings
        self.answerKeys = answerKeys
        draws = SandboxDraws(seed: settings.seed)
        let directory = settings.statementDirectory
        if directory.isEmpty {
            statementDirectory = nil
        } else if directory.hasPrefix("/") {
            statementDirectory = directory
        } else {
            statementDirectory = "\(stateDirectory)/\(directory)"
        }
    }

    /// Whose answers the sandbox gives, so whose keys it needs: every method that goes to a
    /// channel (a wallet payment does not) but those skipped, and the bank.
    public static func signers(_ settings: Settings) -> [String] {
        PaymentMethod.allCases.map(\.rawValue).filter { $0 != PaymentMethod.wallet.rawValue && !settings.skipMethods.contains($0) }
            + [AnswerSeal.bank]
    }

    public var inputTopics: [String] { [topics.channelRequests, topics.payoutRequests] }
    public var outputTopics: [String] { [topics.channelConfirmations, topics.payoutConfirmations] }
    public var schema: StageSchema { ChannelSandboxTables.schema }
    public var tickInterval: Duration? { settings.tickInterval }

    public enum Input: Sendable {
        case channel(ChannelRequest)
        /// An instruction to the settlement bank.
        case payout(PayoutRequest)
    }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.payoutRequests {
            return .payout(try decodeMessage(PayoutRequest.self, schema: PayoutRequest.schemaName, from: record))
        }
        return .channel(try decodeMessage(ChannelRequest.self, schema: ChannelRequest.schemaName, from: record))
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .channel(let request): "channel-request:\(request.channelRequestId)"
        // A query is asked again on purpose: each has its own time.
        case .payout(let request): "payout-request:\(request.payoutId):\(request.requestType):\(request.requestedAt)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        switch input {
        case .channel(let request): try apply(request, record: record, in: context)
        case .payout(let request): try payout(request, key: record.keyString ?? request.merchantId, context: context)
        }
    }

    func apply(_ request: ChannelRequest, record: ConsumedRecord, in context: StageContext) throws {
        // Answered by the channel gateway.
        if settings.skipMethods.contains(request.method) { return }
        guard let type = ChannelRequestType(rawValue: request.requestType) else {
            throw DeadLetter(code: "unsupported_request", message: "request_type '\(request.requestType)' is not one of \(ChannelRequestType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard Self.channelMethods.contains(request.method) else {
            throw DeadLetter(code: "unsupported_method", message: request.method == "wallet"
                             ? "wallet payments are booked inside the platform and never reach a channel"
                             : "no channel for method '\(request.method)'")
        }
        guard request.amount > 0 else { throw DeadLetter(code: "invalid_request", message: "amount must be positive") }
        if type != .authorize, request.targetRequestId?.isEmpty ?? true {
            throw DeadLetter(code: "invalid_request", message: "a \(type.rawValue) instruction needs target_request_id")
        }
        let key = record.keyString ?? request.payerId
        switch type {
        case .authorize: try authorize(request, key: key, context: context)
        case .query: try query(request, key: key, context: context)
        case .refund: try refund(request, key: key, context: context)
        case .cancel: try cancel(request, key: key, context: context)
        }
    }

    /// Sends the answers that are due, then rewrites the statement files whose lines changed at
    /// least `statement_interval_ms` ago (so a busy day's file is not rewritten on every tick).
    public func tick(in context: StageContext) throws {
        let now = Self.milliseconds(context.now)
        for pending in try ChannelSandboxTables.due(context.db, at: now, limit: Self.answersPerTick) {
            try ChannelSandboxTables.delete(context.db, pending: pending.sequence)
            try deliver(pending, context: context)
        }
        for due in try ChannelSandboxTables.takeDueBankAnswers(context.db, at: now, limit: Self.answersPerTick) {
            try deliverBank(due.answer, key: due.key, kind: due.kind, context: context)
        }
        guard let statementDirectory else { return }
        let interval = settings.statementInterval.components
        let intervalMs = interval.seconds * 1000 + interval.attoseconds / 1_000_000_000_000_000
        for (day, method) in try ChannelSandboxTables.staleStatements(context.db, before: now - intervalMs) {
            let lines = try ChannelSandboxTables.statementLines(context.db, day: day, method: method)
            try ChannelStatementFile(directory: statementDirectory, day: day, method: method, partition: context.partition)
                .write(lines)
            try ChannelSandboxTables.markWritten(context.db, day: day, method: method)
        }
    }

    // MARK: - instructions

    private func authorize(_ request: ChannelRequest, key: String, context: StageContext) throws {
        let id = request.channelRequestId
        // Decided before and forgotten by the inbox since (retention): the first decision stands.
        guard try ChannelSandboxTables.authorization(context.db, id: id) == nil else { return }
        let profile = settings.profile(for: request.method)
        var decision = ChannelAnswer.approved
        var reason: String?
        var amount = request.amount
        if Currency.named(request.currency) == nil {
            decision = .declined
            reason = "unsupported_currency"
        } else if draws.happens(.decline, rate: profile.declineRate, id) {
            decision = .declined
            let reasons = profile.declineReasons ?? Self.builtInDeclineReasons(for: request.method)
            reason = reasons.pick(draws.uniform(.declineReason, id))
        } else if draws.happens(.amountMismatch, rate: profile.amountMismatchRate, id) {
            amount = Self.mismatched(request.amount)
        }
        let reference = reference(method: request.method, id)
        try ChannelSandboxTables.insert(context.db, ChannelSandboxTables.Authorization(
            channelRequestID: id, paymentID: request.paymentId, method: request.method, currency: request.currency,
            requestedAmount: request.amount, decision: decision, confirmedAmount: amount, reason: reason,
            channelReference: reference, completion: .pending, refunded: 0), decidedAt: context.timestamp)
        let answer = confirmation(request, .authorize, decision, amount: amount, reference: reference, reason: reason,
                                  message: reason.map { "declined by the \(request.method) sandbox: \($0)" })
        try schedule(answer, method: request.method, key: key,
                     withheld: draws.happens(.noAnswer, rate: profile.noAnswerRate, id), context: context)
    }

    /// What became of an authorization: its decision as decided (also when its answer is still
    /// pending or was withheld), `declined`/`cancelled` when a cancel voided it before its
    /// answer, `unknown` when the channel never saw it.
    private func query(_ request: ChannelRequest, key: String, context: StageContext) throws {
        let target = request.targetRequestId ?? ""
        let answer: ChannelConfirmation
        if let authorization = try ChannelSandboxTables.authorization(context.db, id: target) {
            if authorization.completion == .cancelled {
                answer = confirmation(request, .query, .declined, amount: authorization.requestedAmount,
                                      currency: authorization.currency, reference: authorization.channelReference,
                                      reason: "cancelled", message: "authorization \(target) was cancelled before it completed")
            } else if authorization.decision == .approved {
                answer = confirmation(request, .query, .approved, amount: authorization.confirmedAmount,
                                      currency: authorization.currency, reference: authorization.channelReference)
            } else {
                answer = confirmation(request, .query, .declined, amount: authorization.requestedAmount,
                                      currency: authorization.currency, reference: authorization.channelReference,
                                      reason: authorization.reason,
                                      message: authorization.reason.map { "declined by the \(authorization.method) sandbox: \($0)" })
            }
        } else {
            answer = confirmation(request, .query, .unknown, amount: request.amount, reference: nil,
                                  message: "the channel has no authorization \(target)")
        }
        let profile = settings.profile(for: request.method)
        try schedule(answer, method: request.method, key: key,
                     withheld: draws.happens(.queryNoAnswer, rate: profile.queryNoAnswerRate, request.channelRequestId),
                     context: context)
    }

    /// Approves with its own channel reference unless the authorization took no money, the
    /// currency differs, the refunds would exceed what was taken, or the refund decline rate hits.
    private func refund(_ request: ChannelRequest, key: String, context: StageContext) throws {
        let id = request.channelRequestId
        let target = request.targetRequestId ?? ""
        let profile = settings.profile(for: request.method)
        var reason: String?
        let authorization = try ChannelSandboxTables.authorization(context.db, id: target)
        if let authorization, authorization.decision == .approved,
           authorization.completion == .sent || authorization.completion == .withheld {
            if request.currency != authorization.currency {
                reason = "currency_mismatch"
            } else if request.amount > authorization.confirmedAmount - authorization.refunded {
                reason = "exceeds_captured"
            } else if draws.happens(.refundDecline, rate: profile.refundDeclineRate, id) {
                reason = profile.refundDeclineReasons.pick(draws.uniform(.refundDeclineReason, id))
            }
        } else {
            reason = "not_captured"
        }
        if reason == nil { try ChannelSandboxTables.addRefund(context.db, id: target, amount: request.amount) }
        let answer = confirmation(request, .refund, reason == nil ? .approved : .declined, amount: request.amount,
                                  reference: reference(method: request.method, id), reason: reason,
                                  message: reason.map { "refund declined by the \(request.method) sandbox: \($0)" })
        try schedule(answer, method: request.method, key: key, withheld: false, context: context)
    }

    /// Voids an authorization whose answer is still pending (that answer is never sent);
    /// refuses (`already_captured`) once an approval has completed; approves otherwise (declined,
    /// already cancelled, or never seen: there is nothing to void).
    private func cancel(_ request: ChannelRequest, key: String, context: StageContext) throws {
        let target = request.targetRequestId ?? ""
        let authorization = try ChannelSandboxTables.authorization(context.db, id: target)
        var reason: String?
        if let authorization {
            switch authorization.completion {
            case .pending:
                _ = try ChannelSandboxTables.dropFirstAnswer(context.db, to: target)
                try ChannelSandboxTables.complete(context.db, id: target, as: .cancelled)
            case .sent, .withheld:
                if authorization.decision == .approved { reason = "already_captured" }
            case .cancelled:
                break
            }
        }
        let answer = confirmation(request, .cancel, reason == nil ? .approved : .declined, amount: request.amount,
                                  reference: authorization?.channelReference, reason: reason,
                                  message: reason.map { _ in "authorization \(target) was already approved; refund it instead" })
        try schedule(answer, method: request.method, key: key, withheld: false, context: context)
    }

    // MARK: - answers

    private func confirmation(_ request: ChannelRequest, _ type: ChannelRequestType, _ status: ChannelAnswer, amount: Int64,
                              currency: String? = nil, reference: String?, reason: String? = nil,
                              message: String? = nil) -> ChannelConfirmation {
        ChannelConfirmation(
            confirmationId: "cc-\(request.channelRequestId)", channelRequestId: request.channelRequestId,
            paymentId: request.paymentId, status: status.rawValue, amount: amount, currency: currency ?? request.currency,
            channelReference: reference, reason: reason, message: message, confirmedAt: "", requestType: type.rawValue)
    }

    /// Sends the answer now if its delay is 0, else stores it until due. The delay is the
    /// method's latency draw, plus `reorder_delay_ms` for answers picked for reordering.
    private func schedule(_ answer: ChannelConfirmation, method: String, key: String, withheld: Bool,
                          context: StageContext) throws {
        let id = answer.channelRequestId
        let profile = settings.profile(for: method)
        var delay = profile.latency.milliseconds(draws.uniform(.latency, id), draws.uniform(.latencyAngle, id))
        if !withheld && draws.happens(.reorder, rate: profile.reorderRate, id) { delay += profile.reorderDelayMs }
        let pending = ChannelSandboxTables.PendingAnswer(copy: 1, dueAt: Self.milliseconds(context.now) + Int64(delay),
                                                         withheld: withheld, method: method, key: key, confirmation: answer)
        if delay == 0 {
            try deliver(pending, context: context)
        } else {
            try ChannelSandboxTables.insert(context.db, pending)
        }
    }

    /// An answer's moment: the first copy is stamped, sent (unless withheld), completes its
    /// authorization, adds its statement line and maybe schedules its repetition; the second
    /// copy is sent as stored, byte for byte the first.
    private func deliver(_ pending: ChannelSandboxTables.PendingAnswer, context: StageContext) throws {
        var answer = pending.confirmation
        let id = answer.channelRequestId
        guard pending.copy == 1 else {
            try context.emit(answer, topic: topics.channelConfirmations, key: pending.key, eventID: "cc:\(id):repeat",
                             sealedBy: pending.method, keys: answerKeys)
            return
        }
        answer.confirmedAt = Self.timestamp(Self.milliseconds(context.now))
        if !pending.withheld {
            try context.emit(answer, topic: topics.channelConfirmations, key: pending.key, eventID: "cc:\(id)",
                             sealedBy: pending.method, keys: answerKeys)
        }
        let type = ChannelRequestType(rawValue: answer.requestType ?? "authorize") ?? .authorize
        if type == .authorize {
            try ChannelSandboxTables.complete(context.db, id: id, as: pending.withheld ? .withheld : .sent)
        }
        if answer.status == ChannelAnswer.approved.rawValue, type == .authorize || type == .refund,
           statementDirectory != nil, let reference = answer.channelReference {
            try addStatementLine(answer, type: type, reference: reference, method: pending.method, context: context)
        }
        let profile = settings.profile(for: pending.method)
        guard !pending.withheld, draws.happens(.duplicate, rate: profile.duplicateRate, id) else { return }
        if profile.duplicateDelayMs == 0 {
            try context.emit(answer, topic: topics.channelConfirmations, key: pending.key, eventID: "cc:\(id):repeat",
                             sealedBy: pending.method, keys: answerKeys)
        } else {
            try ChannelSandboxTables.insert(context.db, ChannelSandboxTables.PendingAnswer(
                copy: 2, dueAt: Self.milliseconds(context.now) + Int64(profile.duplicateDelayMs), withheld: false,
                method: pending.method, key: pending.key, confirmation: answer))
        }
    }

    /// Payments carry the method's fee on the confirmed amount; refunds carry none (the channel
    /// keeps its fee). The date is the UTC day of the answer.
    private func addStatementLine(_ answer: ChannelConfirmation, type: ChannelRequestType, reference: String, method: String,
                                  context: StageContext) throws {
        var fee: Int64 = 0
        if type == .authorize, let currency = Currency.named(answer.currency) {
            fee = try settings.profile(for: method).feePlan.fee(for: Money(minorUnits: answer.amount, currency: currency)).minorUnits
        }
        let line = ChannelSandboxTables.StatementLine(
            day: String(answer.confirmedAt.prefix(10)), method: method, channelReference: reference,
            paymentID: answer.paymentId, amount: answer.amount, currency: answer.currency, fee: fee,
            type: type == .authorize ? "payment" : "refund")
        try ChannelSandboxTables.addStatementLine(context.db, line, for: answer.channelRequestId, answeredAt: answer.confirmedAt,
                                                  now: Self.milliseconds(context.now))
    }

    // MARK: - values

    /// `sbx-<method>-<16 hex digits>`.
    private func reference(method: String, _ id: String) -> String {
        let hex = String(draws.hash(.reference, id), radix: 16)
        return "sbx-\(method)-\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }

    /// 1% less than requested, at least one minor unit less; one more for an amount of 1.
    static func mismatched(_ amount: Int64) -> Int64 {
        amount > 1 ? amount - max(1, amount / 100) : amount + 1
    }

    /// The sandbox counts time in whole milliseconds since 1970: due times, and the
    /// `confirmed_at` of answers, which is stamped from the same count (`timestamp(_:)`), so an
    /// answer never shows a time before its due time. Rounded to the nearest: a `Date` is a
    /// binary fraction, and a clock moved by exactly the latency may read a hair below it.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// `Wire.timestamp` of a millisecond count. It formats the middle of the millisecond, since
    /// formatting truncates and the exact boundary may be stored as a hair below it.
    static func timestamp(_ milliseconds: Int64) -> String {
        Wire.timestamp(Date(timeIntervalSince1970: (Double(milliseconds) + 0.5) / 1000))
    }
}
