import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// payment-worker: validates and authorizes payment requests, holds the payer's funds, instructs
/// the channel, and on the channel's answer captures or fails the payment; refunds, cancels,
/// top-ups and repayments; queries and expires authorizations the channel never answered.
/// Consumes `payments.requests` and `channel.confirmations` (both keyed by payer, so a payer's
/// payments, wallet and credit line live in one shard).
public struct PaymentStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// The payment policy (JSON, see Config/payment-policy.json). Required: without a
        /// policy the worker would have no limits, so it refuses to start. A relative path is
        /// resolved against the config file's folder.
        public var policyFile: String?
        /// When an unanswered authorization is queried, then expired.
        public var authorization: AuthorizationTimeouts
        /// How often the expiry timer looks for due authorizations.
        public var expiryCheckIntervalMs: Int
        /// How long a request id is remembered: a retry within it gets the original answer.
        public var idempotencyRetentionHours: Int

        /// The shortest idempotency window the stage accepts (PRODUCT.md: at least 7 days).
        public static let minimumRetentionHours = 168

        public init(policyFile: String? = nil, authorization: AuthorizationTimeouts = AuthorizationTimeouts(),
                    expiryCheckIntervalMs: Int = 1000, idempotencyRetentionHours: Int = 168) {
            self.policyFile = policyFile
            self.authorization = authorization
            self.expiryCheckIntervalMs = expiryCheckIntervalMs
            self.idempotencyRetentionHours = idempotencyRetentionHours
        }

        enum CodingKeys: String, CodingKey {
            case policyFile = "policy_file", authorization, expiryCheckIntervalMs = "expiry_check_interval_ms"
            case idempotencyRetentionHours = "idempotency_retention_hours"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            policyFile = try c.decodeIfPresent(String.self, forKey: .policyFile)
            authorization = try c.decodeIfPresent(AuthorizationTimeouts.self, forKey: .authorization) ?? AuthorizationTimeouts()
            expiryCheckIntervalMs = try c.decodeIfPresent(Int.self, forKey: .expiryCheckIntervalMs) ?? 1000
            idempotencyRetentionHours = try c.decodeIfPresent(Int.self, forKey: .idempotencyRetentionHours) ?? 168
            guard (10...3_600_000).contains(expiryCheckIntervalMs) else {
                throw DecodingError.dataCorruptedError(forKey: .expiryCheckIntervalMs, in: c,
                                                       debugDescription: "must be 10 to 3600000 milliseconds, not \(expiryCheckIntervalMs)")
            }
            guard (Self.minimumRetentionHours...87_600).contains(idempotencyRetentionHours) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .idempotencyRetentionHours, in: c,
                    debugDescription: "must be \(Self.minimumRetentionHours) (7 days) to 87600 hours, not \(idempotencyRetentionHours)")
            }
        }
    }

    /// Per method: how long an authorization waits for the channel before it is queried, and
    /// how long after the query before it expires.
    public struct AuthorizationTimeouts: Decodable, Sendable, Hashable {
        public struct Timeout: Decodable, Sendable, Hashable {
            public var queryAfterSeconds: Double
            public var expireAfterSeconds: Double

            public init(queryAfterSeconds: Double, expireAfterSeconds: Double) {
                self.queryAfterSeconds = queryAfterSeconds
                self.expireAfterSeconds = expireAfterSeconds
            }

            enum CodingKeys: String, CodingKey {
                case queryAfterSeconds = "query_after_seconds", expireAfterSeconds = "expire_after_seconds"
            }
        }

        public var `default`: Timeout
        public var methods: [String: Timeout]

        public init(default: Timeout = Timeout(queryAfterSeconds: 300, expireAfterSeconds: 300), methods: [String: Timeout] = [:]) {
            self.default = `default`
            self.methods = methods
        }

        public func timeout(for method: String) -> Timeout { methods[method] ?? `default` }

        enum CodingKeys: String, CodingKey {
            case queryAfterSeconds = "query_after_seconds", expireAfterSeconds = "expire_after_seconds", methods
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let base = Self().default
            `default` = Timeout(queryAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .queryAfterSeconds) ?? base.queryAfterSeconds,
                                expireAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .expireAfterSeconds) ?? base.expireAfterSeconds)
            methods = try c.decodeIfPresent([String: Timeout].self, forKey: .methods) ?? [:]
            for (name, timeout) in [("default", `default`)] + methods.sorted(by: { $0.key < $1.key }) {
                guard name == "default" || PaymentMethod(rawValue: name) != nil else {
                    throw DecodingError.dataCorruptedError(forKey: .methods, in: c,
                                                           debugDescription: "'\(name)' is not a payment method")
                }
                guard timeout.queryAfterSeconds > 0, timeout.expireAfterSeconds > 0,
                      timeout.queryAfterSeconds <= 31_536_000, timeout.expireAfterSeconds <= 31_536_000 else {
                    throw DecodingError.dataCorruptedError(forKey: .methods, in: c,
                                                           debugDescription: "\(name): timeouts must be above 0 and at most a year")
                }
            }
        }
    }

    public enum Input: Sendable {
        case request(PaymentRequestMessage)
        /// Right schema, wrong shape: rejected with `invalid_request`, not dead-lettered.
        case malformedRequest(requestID: String?, payerID: String?, message: String)
        case confirmation(ChannelConfirmation)
    }

    public let name = "payment-worker"
    public let topics: TopicNames
    public let policy: PaymentPolicy
    /// Merchants and credit lines (read in full from the reference topics).
    public let reference: any ReferenceLookup
    public let settings: Settings

    public init(topics: TopicNames, policy: PaymentPolicy, reference: any ReferenceLookup, settings: Settings = Settings()) {
        self.topics = topics
        self.policy = policy
        self.reference = reference
        self.settings = settings
    }

    /// Reads and checks the policy file the settings name.
    /// - Parameter configFile: the daemon's config file, whose folder relative paths start from.
    public static func loadPolicy(_ settings: Settings, configFile: String?) throws -> PaymentPolicy {
        guard let file = settings.policyFile, !file.isEmpty else {
            throw ConfigurationError("stage.policy_file is required (the payment policy, e.g. Config/payment-policy.json)")
        }
        let base = configFile.map { ($0 as NSString).deletingLastPathComponent } ?? FileManager.default.currentDirectoryPath
        let path = file.hasPrefix("/") ? file : (base as NSString).appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the payment policy \(path)")
        }
        let policy: PaymentPolicy
        do { policy = try PaymentPolicy.decode(from: data) } catch {
            throw ConfigurationError("payment policy \(path): \(Wire.describe(error))")
        }
        let problems = RequestRules.validate(policy: policy)
        guard problems.isEmpty else {
            throw ConfigurationError("payment policy \(path) is inconsistent: \(problems.joined(separator: "; "))")
        }
        return policy
    }

    public var inputTopics: [String] { [topics.paymentRequests, topics.channelConfirmations] }
    public var outputTopics: [String] { [topics.paymentEvents, topics.channelRequests, topics.settlementRequests] }
    public var keepsMoney: Bool { true }
    public var schema: StageSchema { PaymentTables.schema }
    public var tickInterval: Duration? { .milliseconds(settings.expiryCheckIntervalMs) }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.channelConfirmations {
            return .confirmation(try decodeMessage(ChannelConfirmation.self, schema: ChannelConfirmation.schemaName, from: record))
        }
        let data = Data(record.value)
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) else {
            throw .undecodable("value is not a JSON object")
        }
        let schema = object["schema"]?.stringValue
        guard schema == PaymentRequestMessage.schemaName else { throw .unknownSchema(schema) }
        do {
            return .request(try Wire.decode(PaymentRequestMessage.self, from: data))
        } catch {
            return .malformedRequest(requestID: object["request_id"]?.stringValue,
                                     payerID: object["payer_id"]?.stringValue ?? record.keyString,
                                     message: Wire.describe(error))
        }
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .request, .malformedRequest: nil  // idempotency by request_id, in PaymentTables
        case .confirmation(let c): "confirmation:\(c.confirmationId)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        var decision = Decision(stage: self, context: context, record: record)
        do {
            switch input {
            case .request(let message):
                try decision.request(message)
            case .malformedRequest(let requestID, let payerID, let message):
                try decision.malformed(requestID: requestID, payerID: payerID, message: message)
            case .confirmation(let confirmation):
                try decision.confirmation(confirmation)
            }
        } catch let error as LedgerError {
            // The stored ledger disagrees with the payment (a hold missing or already resolved):
            // the same input would fail every time, so it is parked for people to look at.
            throw DeadLetter(code: "ledger_inconsistent", message: "\(error)")
        } catch let error as PaymentTransitionError {
            throw DeadLetter(code: "invalid_transition", message: "\(error)")
        }
    }

    /// Queries and expires authorizations the channel has not answered, and forgets request ids
    /// past the idempotency window.
    public func tick(in context: StageContext) throws {
        let now = context.timestamp
        for paymentID in try PaymentTables.dueForCheck(context.db, now: now, limit: 1000) {
            var decision = Decision(stage: self, context: context, record: nil)
            do {
                try context.db.inSavepoint {
                    if let payment = try PaymentTables.payment(context.db, id: paymentID) { try decision.checkExpiry(payment) }
                    return .commit
                }
            } catch let error as DatabaseError where error.resultCode != .SQLITE_CONSTRAINT {
                throw error  // the database itself failed: the runtime retries the tick
            } catch {
                // This payment cannot be expired (a corrupt row, a ledger that disagrees): take it
                // off the timer so the others still expire, and say so.
                context.logger.error("authorization taken off the expiry timer", metadata: [
                    "payment.id": "\(paymentID)", "error": "\(error)"])
                try PaymentTables.stopChecking(context.db, paymentID: paymentID)
            }
        }
        let cutoff = Wire.timestamp(context.now.addingTimeInterval(-Double(settings.idempotencyRetentionHours) * 3600))
        _ = try PaymentTables.pruneRequestLog(context.db, before: cutoff)
    }
}

// MARK: - one decision

/// Everything one input decides, inside the batch transaction: the events it emits (remembered
/// with its request id), and the ledger it changes.
private struct Decision {
    let stage: PaymentStage
    let context: StageContext
    let record: ConsumedRecord?
    var emitted: [String] = []
    /// The refund or cancel request being decided: its events carry its request_id, so the order
    /// system can match them to what it asked.
    var followUpRequestID: String?

    init(stage: PaymentStage, context: StageContext, record: ConsumedRecord?) {
        self.stage = stage
        self.context = context
        self.record = record
    }

    var db: Database { context.db }
    var topics: TopicNames { stage.topics }
    var now: String { context.timestamp }

    // MARK: requests

    mutating func request(_ message: PaymentRequestMessage) throws {
        let fingerprint = String(decoding: try Wire.encode(message), as: UTF8.self)
        if let payer = message.payerId, let key = record?.keyString, payer != key {
            // A payer's wallet, credit line and daily totals live in the shard its key selects;
            // deciding in another shard would see none of them.
            return try reject(Rejection(.invalidRequest, "the record key '\(key)' is not the payer_id '\(payer)'; "
                                + "payments.requests are keyed by payer_id"),
                              requestID: message.requestId, paymentID: nil, payerID: payer, source: message)
        }
        if try answeredBefore(requestID: message.requestId, fingerprint: fingerprint, payerID: message.payerId, source: message) {
            return
        }
        switch message.requestType() {
        case .failure(let rejection):
            try reject(rejection, message, fingerprint: fingerprint)
        case .success(let type) where type.movesMoney:
            switch message.validated() {
            case .failure(let rejection): try reject(rejection, message, fingerprint: fingerprint)
            case .success(let request): try authorize(request, message, fingerprint: fingerprint)
            }
        case .success:
            switch message.validatedFollowUp() {
            case .failure(let rejection): try reject(rejection, message, fingerprint: fingerprint, followUp: true)
            case .success(let request): try followUp(request, message, fingerprint: fingerprint)
            }
        }
    }

    /// A request that has the right schema but not the right shape: `invalid_request`, remembered
    /// under its request_id (with its raw bytes as the fingerprint) like any other answer.
    mutating func malformed(requestID: String?, payerID: String?, message: String) throws {
        let fingerprint = "raw:" + String(decoding: record?.value ?? [], as: UTF8.self)
        if try answeredBefore(requestID: requestID, fingerprint: fingerprint, payerID: payerID, source: nil) { return }
        try reject(Rejection(.invalidRequest, message), requestID: requestID, paymentID: nil, payerID: payerID, source: nil,
                   fingerprint: fingerprint)
    }

    /// Answers a request id seen within the idempotency window: the same content gets its
    /// original events again, other content `idempotency_conflict`. False for a new request id.
    private mutating func answeredBefore(requestID: String?, fingerprint: String, payerID: String?,
                                         source: PaymentRequestMessage?) throws -> Bool {
        guard let requestID, let seen = try PaymentTables.requestLog(db, requestID: requestID) else { return false }
        if seen.fingerprint == fingerprint {
            try context.republish(eventIDs: try PaymentTables.eventIDs(db, answering: requestID, seen))
        } else {
            try reject(Rejection(.idempotencyConflict, "request_id \(requestID) was used before with different content"),
                       requestID: requestID, paymentID: seen.paymentID, payerID: payerID ?? record?.keyString,
                       source: source, conflict: true)
        }
        return true
    }

    /// A payment, top-up or repayment: every rule, then the hold, then the channel instruction
    /// (or, for wallet and credit funding, the capture at once).
    private mutating func authorize(_ request: PaymentRequest, _ message: PaymentRequestMessage, fingerprint: String) throws {
        func refuse(_ rejection: Rejection) throws { try reject(rejection, message, fingerprint: fingerprint) }
        if try PaymentTables.payment(db, id: request.paymentID) != nil {
            return try refuse(Rejection(.invalidRequest, "payment_id \(request.paymentID) is already used by another request"))
        }
        // The payer's state lives in this shard (requests are keyed by payer), so its daily
        // totals, wallet and credit line are exact here without coordination.
        let day = String(now.prefix(10))
        let today = try PaymentTables.dailyTotals(db, payerID: request.payerID, currency: request.amount.currency, day: day)
        if let rejection = RequestRules.policyRejection(for: request, policy: stage.policy)
            ?? RequestRules.dailyLimits(request.amount, payerToday: today, policy: stage.policy) {
            return try refuse(rejection)
        }
        if request.type == .payment, let rejection = RequestRules.merchantTerms(
            for: request, merchant: request.merchantID.flatMap(stage.reference.merchant),
            hasRate: { stage.reference.fxRate(base: $0, quote: $1) != nil }) {
            return try refuse(rejection)
        }
        let funding: Funding = request.method == .wallet ? .wallet : request.drawsOnCredit ? .credit : .channel
        let currency = request.amount.currency
        let timeout = stage.settings.authorization.timeout(for: request.method.rawValue)
        let firstCheck = funding == .channel ? Wire.timestamp(context.now.addingTimeInterval(timeout.queryAfterSeconds)) : nil
        var payment = PaymentRecord(request: request, funding: funding, now: now, nextCheckAt: firstCheck)

        // The accounts this payment moves money between, and their current state.
        var ledgerAccounts = [payment.sourceAccountID, beneficiaryID(of: payment, currency)]
        var definitions: [Account] = []
        // Read once, so that every check of this request sees the same line.
        let creditTerms = stage.reference.creditLine(payerID: request.payerID)
        if funding == .credit || request.type == .repayment {
            guard let limit = creditTerms?.limit(in: currency) else {
                return try refuse(Rejection(.creditLimit, "payer \(request.payerID) has no credit line in \(currency.code)"))
            }
            let line = try creditLine(payerID: request.payerID, limit: limit)
            if request.settlement.mode == "installments", let count = request.settlement.installments,
               !(creditTerms?.installmentPlans ?? []).contains(count) {
                return try refuse(Rejection(.creditLimit, "an installment plan of \(count) is not offered to payer \(request.payerID)"))
            }
            definitions.append(line)
            ledgerAccounts.append(line.id)
        }
        let before = try LedgerTables.load(db, accounts: ledgerAccounts, holds: [], definitions: definitions)
        var ledger = before
        try open(source: payment, beneficiary: beneficiary(of: payment, currency), definitions: definitions, in: &ledger)

        if request.type == .repayment {
            let usage = max(0, -(ledger.balance(of: PaymentRecord.creditLine(request.payerID, currency))?.posted.minorUnits ?? 0))
            let pending = try PaymentTables.pendingRepayments(db, payerID: request.payerID, currency: currency.code)
            let outstanding = Money(minorUnits: max(0, usage - pending), currency: currency)
            guard request.amount <= outstanding else {
                return try refuse(Rejection(.invalidRequest, "repayment of \(request.amount.formatted) is above the "
                    + "\(outstanding.formatted) outstanding on the credit line"))
            }
        }

        let expires = funding == .channel
            ? context.now.addingTimeInterval(timeout.queryAfterSeconds + timeout.expireAfterSeconds) : nil
        if funding != .channel, let balance = ledger.balance(of: payment.sourceAccountID) {
            let rejection = funding == .wallet
                ? RequestRules.walletFunds(request.amount, balance: balance.posted, activeHolds: balance.pending)
                : RequestRules.creditAvailable(request.amount, limit: creditTerms?.limit(in: currency) ?? .zero(currency),
                                               used: Money(minorUnits: -balance.posted.minorUnits, currency: currency),
                                               held: balance.pending)
            if let rejection { return try refuse(rejection) }
        }
        // The rules above passed, so the hold is within the account's floor.
        try ledger.placeHold(Hold(id: payment.holdID, account: payment.sourceAccountID, amount: request.amount, expiresAt: expires))

        try PaymentTables.addToDailyTotals(db, payerID: request.payerID, amount: request.amount, day: day)
        try PaymentTables.insert(db, payment)
        try emitEvent(for: payment, type: "payment.authorized")
        switch funding {
        case .channel:
            try instruct(.authorize, payment, amount: payment.amount)
        case .wallet, .credit:
            // No channel to ask: the platform holds the money itself, so it is taken at once.
            let state = try payment.state().apply(.channelApproved(amount: payment.amount, currency: payment.currency))
            try capture(&payment, state: state, ledger: &ledger)
        }
        try LedgerTables.save(db, from: before, to: ledger)
        try PaymentTables.logRequest(db, requestID: request.requestID, fingerprint: fingerprint, paymentID: payment.paymentID,
                                     status: "accepted", eventIDs: emitted, now: now)
    }

    /// A refund or cancel of a payment in this shard.
    private mutating func followUp(_ request: FollowUpRequest, _ message: PaymentRequestMessage, fingerprint: String) throws {
        func refuse(_ rejection: Rejection) throws { try reject(rejection, message, fingerprint: fingerprint, followUp: true) }
        followUpRequestID = request.requestID
        guard var payment = try PaymentTables.payment(db, id: request.paymentID), payment.payerID == request.payerID else {
            return try refuse(Rejection(.invalidRequest, "payer \(request.payerID) has no payment \(request.paymentID)"))
        }
        if let merchant = request.merchantID, merchant != payment.merchantID {
            return try refuse(Rejection(.invalidRequest, "payment \(payment.paymentID) is not a payment to merchant \(merchant)"))
        }
        let state = try payment.state()
        var ledger = try LedgerTables.load(db, accounts: [payment.sourceAccountID, PaymentRecord.settlementAccount(state.currency).id],
                                           holds: [payment.holdID])
        let before = ledger
        switch request.action {
        case .cancel:
            let next: PaymentState
            do { next = try state.apply(.cancelled) } catch { return try refuse(error.rejection) }
            try ledger.voidHold(payment.holdID)
            payment.adopt(next, now: now)
            try PaymentTables.update(db, payment)
            try emitEvent(for: payment, type: "payment.cancelled", reason: "cancelled", message: "cancelled by request \(request.requestID)")
            if payment.funding == .channel { try instruct(.cancel, payment, amount: payment.amount) }

        case .refund(let amount, let code):
            guard payment.type == .payment else {
                return try refuse(Rejection(.invalidRequest, "a \(payment.type.rawValue) cannot be refunded"))
            }
            // Refunds are named by their request_id for good, beyond the idempotency window.
            if try PaymentTables.refund(db, id: request.requestID) != nil {
                return try refuse(Rejection(.invalidRequest, "refund \(request.requestID) was made before; a new refund needs a new request_id"))
            }
            guard [.captured, .partiallyRefunded, .refunded].contains(state.status) else {
                return try refuse(Rejection(.invalidState, "payment \(payment.paymentID) is \(state.status.rawValue); only captured payments are refunded"))
            }
            if let code, code != payment.currency {
                return try refuse(Rejection(.invalidRequest, "a refund in \(code) of a payment in \(payment.currency)"))
            }
            let refund = amount.map { Money(minorUnits: $0, currency: state.currency) } ?? state.refundable
            if let method = PaymentMethod(rawValue: payment.method),
               let rejection = RequestRules.refundWindow(method: method, capturedAt: Wire.parseTimestamp(payment.capturedAt ?? payment.updatedAt) ?? context.now,
                                                         now: context.now, policy: stage.policy) {
                return try refuse(rejection)
            }
            let next: PaymentState
            do { next = try state.apply(.refunded(refund)) } catch { return try refuse(error.rejection) }
            // Refunds go back where the money came from: the wallet, the credit line, or the channel.
            let settlement = PaymentRecord.settlementAccount(state.currency)
            if ledger.accounts[settlement.id] == nil { try ledger.open(settlement) }
            if let source = payment.sourceAccount, ledger.accounts[source.id] == nil { try ledger.open(source) }
            try ledger.post(try Posting.transfer(PostingID("refund:\(request.requestID)"), debit: settlement.id,
                                                 credit: payment.sourceAccountID, amount: refund, postedAt: context.now))
            payment.adopt(next, now: now)
            try PaymentTables.update(db, payment)
            try PaymentTables.insertRefund(db, .init(refundID: request.requestID, paymentID: payment.paymentID,
                                                     amount: refund.minorUnits, currency: payment.currency,
                                                     status: payment.funding == .channel ? "requested" : "completed"), now: now)
            let eventID = try emitEvent(for: payment, type: "payment.\(next.status.rawValue)", refund: refund.minorUnits)
            if payment.funding == .channel {
                try instruct(.refund, payment, amount: refund.minorUnits, suffix: request.requestID)
            }
            if let merchant = payment.merchantID {
                let handoff = settlementRequest(for: payment, type: "refund", amount: refund.minorUnits,
                                                eventID: MessageID.settlementRefund(payer: payment.payerID, payment: payment.paymentID,
                                                                                      refundRequest: request.requestID),
                                                sourceEventID: eventID, merchant: merchant)
                try context.emit(handoff, topic: topics.settlementRequests, key: merchant, eventID: handoff.eventId)
            }
        }
        try LedgerTables.save(db, from: before, to: ledger)
        try PaymentTables.logRequest(db, requestID: request.requestID, fingerprint: fingerprint, paymentID: payment.paymentID,
                                     status: "accepted", eventIDs: emitted, now: now)
    }

    // MARK: channel answers

    mutating func confirmation(_ confirmation: ChannelConfirmation) throws {
        guard var payment = try PaymentTables.payment(db, id: confirmation.paymentId) else {
            throw DeadLetter(code: "unknown_payment", message: "confirmation for unknown payment \(confirmation.paymentId)")
        }
        guard let answer = ChannelAnswer(rawValue: confirmation.status) else {
            throw DeadLetter(code: "invalid_confirmation", message: "confirmation status '\(confirmation.status)' is not one of "
                + ChannelAnswer.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let type: ChannelRequestType
        switch confirmation.requestType {
        case nil: type = .authorize  // answers from before the field existed
        case let name?:
            guard let known = ChannelRequestType(rawValue: name) else {
                throw DeadLetter(code: "invalid_confirmation", message: "request_type '\(name)' is not one of "
                    + ChannelRequestType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            type = known
        }
        guard confirmation.amount > 0, let reported = Currency.named(confirmation.currency) else {
            throw DeadLetter(code: "invalid_confirmation", message: "confirmation amount \(confirmation.amount) "
                + "\(confirmation.currency) is not a positive amount in an ISO 4217 currency")
        }
        switch type {
        case .cancel:
            return  // the payment was cancelled when asked; a late approval is handled as a late capture
        case .refund:
            return try refundAnswer(confirmation, answer: answer, payment: &payment)
        case .authorize, .query:
            break
        }
        let state = try payment.state()
        switch (answer, state.status) {
        case (.unknown, _):
            return  // the channel never saw the authorization: the expiry timer decides
        case (.approved, .authorized):
            var ledger = try LedgerTables.load(db, accounts: [payment.sourceAccountID, PaymentRecord.settlementAccount(state.currency).id,
                                                              beneficiaryID(of: payment, state.currency)],
                                               holds: [payment.holdID])
            let before = ledger
            let next = try state.apply(.channelApproved(amount: confirmation.amount, currency: confirmation.currency))
            payment.channelReference = confirmation.channelReference
            if next.status == .captured {
                try open(source: payment, beneficiary: beneficiary(of: payment, state.currency), definitions: [], in: &ledger)
                try capture(&payment, state: next, ledger: &ledger)
            } else {
                // The channel took another amount or currency: nothing is captured; people decide.
                try ledger.voidHold(payment.holdID)
                payment.adopt(next, now: now)
                try PaymentTables.update(db, payment)
                try emitEvent(for: payment, type: "payment.conflicted", reason: "amount_mismatch",
                              message: "channel confirmed \(confirmation.amount) \(confirmation.currency), requested "
                                + "\(payment.amount) \(payment.currency); nothing captured, needs review")
            }
            try LedgerTables.save(db, from: before, to: ledger)
        case (.declined, .authorized):
            var ledger = try LedgerTables.load(db, accounts: [payment.sourceAccountID], holds: [payment.holdID])
            let before = ledger
            try ledger.voidHold(payment.holdID)
            payment.channelReference = confirmation.channelReference
            payment.adopt(try state.apply(.channelDeclined(reason: confirmation.reason ?? "declined")), now: now)
            try PaymentTables.update(db, payment)
            try emitEvent(for: payment, type: "payment.failed", reason: confirmation.reason ?? "declined",
                          message: confirmation.message ?? "declined by the channel")
            try LedgerTables.save(db, from: before, to: ledger)
        case (.approved, .expired), (.approved, .cancelled):
            guard state.lateCapture == nil else { return }  // the same late answer again
            try lateCapture(confirmation, taken: Money(minorUnits: confirmation.amount, currency: reported),
                            state: state, payment: &payment)
        default:
            // A repeated or late answer for a payment already decided: no second effect.
            return
        }
    }

    /// The channel took money for a payment that had expired or been cancelled: record it, and
    /// give it back at once with an automatic refund to the channel.
    private mutating func lateCapture(_ confirmation: ChannelConfirmation, taken: Money, state: PaymentState,
                                      payment: inout PaymentRecord) throws {
        let next = try state.apply(.channelApproved(amount: confirmation.amount, currency: confirmation.currency))
        payment.adopt(next, now: now)
        payment.channelReference = confirmation.channelReference ?? payment.channelReference
        try PaymentTables.update(db, payment)
        // Booked in and straight out again: the channel position nets to zero once the reversal
        // is sent. Should the channel refuse the reversal, the money shows on `late_capture`.
        let channel = PaymentRecord.channelAccount(method: payment.method, currency: taken.currency)
        let suspense = PaymentRecord.lateCaptureAccount(taken.currency)
        let before = try LedgerTables.load(db, accounts: [channel.id, suspense.id], holds: [])
        var ledger = before
        if ledger.accounts[channel.id] == nil { try ledger.open(channel) }
        if ledger.accounts[suspense.id] == nil { try ledger.open(suspense) }
        try ledger.post(try Posting.transfer(PostingID("late_capture:\(payment.paymentID)"), debit: channel.id, credit: suspense.id,
                                             amount: taken, postedAt: context.now))
        try ledger.post(try Posting.transfer(PostingID("late_capture_reversal:\(payment.paymentID)"), debit: suspense.id,
                                             credit: channel.id, amount: taken, postedAt: context.now))
        try LedgerTables.save(db, from: before, to: ledger)
        let refundID = "late-capture"
        try PaymentTables.insertRefund(db, .init(refundID: PaymentRecord.lateCaptureRefundID(payment.paymentID), paymentID: payment.paymentID,
                                                 amount: taken.minorUnits, currency: taken.currency.code,
                                                 status: "requested", reason: "late_capture_reversal"), now: now)
        try emitEvent(for: payment, type: "payment.late_capture", reason: "late_capture",
                      message: "the channel took \(confirmation.amount) \(confirmation.currency) after the payment was "
                        + "\(payment.status.rawValue); an automatic refund was sent")
        try instruct(.refund, payment, amount: confirmation.amount, currency: confirmation.currency, suffix: refundID,
                     reason: "late_capture_reversal")
    }

    private mutating func refundAnswer(_ confirmation: ChannelConfirmation, answer: ChannelAnswer, payment: inout PaymentRecord) throws {
        let prefix = "\(payment.paymentID):refund:"
        guard confirmation.channelRequestId.hasPrefix(prefix) else {
            throw DeadLetter(code: "unknown_refund", message: "refund answer for unknown instruction \(confirmation.channelRequestId)")
        }
        let suffix = String(confirmation.channelRequestId.dropFirst(prefix.count))
        let refundID = suffix == "late-capture" ? PaymentRecord.lateCaptureRefundID(payment.paymentID) : suffix
        guard var refund = try PaymentTables.refund(db, id: refundID) else {
            throw DeadLetter(code: "unknown_refund", message: "refund answer for unknown refund \(refundID)")
        }
        guard refund.status == "requested" else { return }  // answered before
        switch answer {
        case .approved:
            refund.status = "completed"
            refund.channelReference = confirmation.channelReference
            try PaymentTables.updateRefund(db, refund, now: now)
        case .declined, .unknown:
            // The money did not go back: the payment keeps its refunded state (the refund was
            // granted), and people must resolve it with the channel — this event is the alert.
            refund.status = "failed"
            refund.reason = confirmation.reason ?? answer.rawValue
            try PaymentTables.updateRefund(db, refund, now: now)
            // The channel kept the money: take it back onto the channel position and owe it to
            // the payer until someone settles it by hand.
            if let currency = Currency.named(refund.currency) {
                let money = Money(minorUnits: refund.amount, currency: currency)
                let channel = PaymentRecord.channelAccount(method: payment.method, currency: currency)
                let owed = suffix == "late-capture" ? PaymentRecord.lateCaptureAccount(currency)
                    : PaymentRecord.refundsOwedAccount(currency)
                let before = try LedgerTables.load(db, accounts: [channel.id, owed.id], holds: [])
                var ledger = before
                for account in [channel, owed] where ledger.accounts[account.id] == nil { try ledger.open(account) }
                try ledger.post(try Posting.transfer(PostingID("refund_failed:\(refundID)"), debit: channel.id, credit: owed.id,
                                                     amount: money, postedAt: context.now))
                try LedgerTables.save(db, from: before, to: ledger)
            }
            payment.sequence += 1
            payment.updatedAt = now
            try PaymentTables.update(db, payment)
            followUpRequestID = suffix == "late-capture" ? nil : refundID
            try emitEvent(for: payment, type: "payment.refund_failed", reason: confirmation.reason ?? "refund_\(answer.rawValue)",
                          message: "the channel did not refund \(refund.amount) \(refund.currency) (\(refundID)): "
                            + (confirmation.message ?? "no reason given") + "; needs review",
                          refund: refund.amount)
        }
    }

    // MARK: expiry

    mutating func checkExpiry(_ original: PaymentRecord) throws {
        var payment = original
        guard payment.status == .authorized, payment.funding == .channel else {
            payment.nextCheckAt = nil
            return try PaymentTables.update(db, payment)
        }
        let timeout = stage.settings.authorization.timeout(for: payment.method)
        if payment.queriedAt == nil {
            // No answer yet: ask once what became of it, then give it the second timeout.
            try instruct(.query, payment, amount: payment.amount)
            payment.queriedAt = now
            payment.nextCheckAt = Wire.timestamp(context.now.addingTimeInterval(timeout.expireAfterSeconds))
            try PaymentTables.update(db, payment)
            return
        }
        var ledger = try LedgerTables.load(db, accounts: [payment.sourceAccountID], holds: [payment.holdID])
        let before = ledger
        if let expiresAt = ledger.holds[payment.holdID]?.expiresAt, expiresAt > context.now {
            // The hold's own expiry (set from the timeouts at authorization) is later than
            // this check, e.g. the query went out late: look again then.
            payment.nextCheckAt = Wire.timestamp(expiresAt)
            return try PaymentTables.update(db, payment)
        }
        try ledger.expireHold(payment.holdID, at: context.now)
        payment.adopt(try payment.state().apply(.expired), now: now)
        try PaymentTables.update(db, payment)
        try emitEvent(for: payment, type: "payment.expired", reason: "no_answer",
                      message: "the channel did not answer the authorization or the query; the hold was released")
        try LedgerTables.save(db, from: before, to: ledger)
    }

    // MARK: shared steps

    /// Takes the held money: posts the hold to the beneficiary, records the capture, and hands
    /// a payment to settlement.
    private mutating func capture(_ payment: inout PaymentRecord, state: PaymentState, ledger: inout Ledger) throws {
        let amount = state.captured
        let target = beneficiaryID(of: payment, amount.currency)
        try ledger.postHold(payment.holdID, posting: try Posting.transfer(
            PostingID("capture:\(payment.paymentID)"), debit: payment.sourceAccountID, credit: target, amount: amount,
            postedAt: context.now))
        payment.adopt(state, now: now)
        payment.capturedAt = now
        try PaymentTables.update(db, payment)
        let eventID = try emitEvent(for: payment, type: "payment.captured")
        if payment.type == .payment, let merchant = payment.merchantID {
            let handoff = settlementRequest(for: payment, type: "capture", amount: payment.amount,
                                            eventID: MessageID.settlementCapture(payer: payment.payerID, payment: payment.paymentID),
                                            sourceEventID: eventID, merchant: merchant)
            try context.emit(handoff, topic: topics.settlementRequests, key: merchant, eventID: handoff.eventId)
        }
    }

    private func settlementRequest(for payment: PaymentRecord, type: String, amount: Int64, eventID: String,
                                   sourceEventID: String, merchant: String) -> SettlementRequest {
        SettlementRequest(
            eventId: eventID, type: type, paymentId: payment.paymentID, orderId: payment.orderID, payerId: payment.payerID,
            merchantId: merchant, amount: amount, currency: payment.currency, method: payment.method,
            settlement: SettlementTerms(mode: payment.settlementMode, installments: payment.installments),
            splits: type == "capture" ? payment.splits : [], settlementCurrency: payment.settlementCurrency,
            capturedAt: payment.capturedAt ?? now, sourceEventId: sourceEventID)
    }

    /// Where captured money goes: settlement for a payment, the wallet for a top-up, the credit
    /// line for a repayment.
    /// The account to open for it when it does not exist yet; nil for a repayment, whose credit
    /// line exists (there is usage to repay) and whose floor follows the reference limit.
    private func beneficiary(of payment: PaymentRecord, _ currency: Currency) -> Account? {
        switch payment.type {
        case .topup: .wallet(PaymentRecord.wallet(payment.payerID, currency), currency: currency)
        case .repayment: nil
        default: PaymentRecord.settlementAccount(currency)
        }
    }

    private func beneficiaryID(of payment: PaymentRecord, _ currency: Currency) -> AccountID {
        payment.type == .repayment ? PaymentRecord.creditLine(payment.payerID, currency)
            : beneficiary(of: payment, currency)?.id ?? PaymentRecord.settlementAccount(currency).id
    }

    /// The payer's credit line account in the limit's currency with its floor at minus the
    /// limit — or at its available balance, if a lowered limit is already below what is used.
    private func creditLine(payerID: String, limit: Money) throws -> Account {
        let id = PaymentRecord.creditLine(payerID, limit.currency)
        let available = try LedgerTables.balance(db, of: id)?.available.minorUnits ?? 0
        return Account(id: id, currency: limit.currency, normalSide: .credit, floor: min(-limit.minorUnits, available))
    }

    /// Opens the accounts a payment books to (a no-op for accounts already open).
    private func open(source payment: PaymentRecord, beneficiary: Account?, definitions: [Account], in ledger: inout Ledger) throws {
        for account in definitions where ledger.accounts[account.id] == nil { try ledger.open(account) }
        if let source = payment.sourceAccount, ledger.accounts[source.id] == nil { try ledger.open(source) }
        if let beneficiary, ledger.accounts[beneficiary.id] == nil { try ledger.open(beneficiary) }
    }

    /// Sends an instruction to the payment's channel, keyed by payer like everything here.
    private func instruct(_ type: ChannelRequestType, _ payment: PaymentRecord, amount: Int64, currency: String? = nil,
                          suffix: String? = nil, reason: String? = nil) throws {
        let id = "\(payment.paymentID):\(type.rawValue)" + (suffix.map { ":\($0)" } ?? "")
        let instruction = ChannelRequest(
            requestType: type.rawValue, channelRequestId: id, paymentId: payment.paymentID, payerId: payment.payerID,
            merchantId: payment.merchantID ?? "", amount: amount, currency: currency ?? payment.currency, method: payment.method,
            channel: payment.channel, requestedAt: now,
            targetRequestId: type == .authorize ? nil : "\(payment.paymentID):authorize", reason: reason)
        try context.emit(instruction, topic: topics.channelRequests, key: payment.payerID, eventID: "cr:\(id)")
    }

    @discardableResult
    private mutating func emitEvent(for payment: PaymentRecord, type: String, reason: String? = nil, message: String? = nil,
                                    refund: Int64? = nil) throws -> String {
        let eventID = MessageID.paymentEvent(payer: payment.payerID, payment: payment.paymentID, sequence: payment.sequence)
        let event = PaymentEvent(
            eventId: eventID, sequence: payment.sequence, occurredAt: now, type: type,
            paymentId: payment.paymentID, requestId: followUpRequestID ?? payment.requestID, orderId: payment.orderID,
            payerId: payment.payerID, merchantId: payment.merchantID, amount: payment.amount, currency: payment.currency,
            method: payment.method, channel: payment.channel, status: payment.status.rawValue, reason: reason,
            message: message, channelReference: payment.channelReference, refundAmount: refund,
            refundedTotal: refund == nil ? nil : payment.refunded, metadata: payment.metadata)
        try context.emit(event, topic: topics.paymentEvents, key: payment.payerID, eventID: eventID)
        emitted.append(eventID)
        return eventID
    }

    // MARK: rejections

    private mutating func reject(_ rejection: Rejection, _ message: PaymentRequestMessage, fingerprint: String,
                                 followUp: Bool = false) throws {
        let paymentID = followUp ? message.paymentId : (message.paymentId ?? message.requestId.map { "pay-\($0)" })
        try reject(rejection, requestID: message.requestId, paymentID: paymentID, payerID: message.payerId ?? record?.keyString,
                   source: message, fingerprint: fingerprint)
    }

    /// Publishes `payment.rejected` and, given the request's fingerprint, remembers the request
    /// id so that a retry gets the same answer.
    ///
    /// The event id belongs to the request (`rj:<payer_id>:<request_id>`), never to a payment: a rejection
    /// changes no payment, so its `sequence` is 0, and a payment later made under the same
    /// payment_id still starts at 1. An identical retry of a request without a request_id
    /// publishes the same event again.
    mutating func reject(_ rejection: Rejection, requestID: String?, paymentID: String?, payerID: String?,
                         source: PaymentRequestMessage?, fingerprint: String? = nil, conflict: Bool = false) throws {
        let fallback = record.map { "unidentified-\($0.partition)-\($0.offset)" } ?? "unidentified"
        let payment = paymentID ?? requestID.map { "pay-\($0)" } ?? fallback
        let eventID: String
        switch (requestID, conflict, record) {
        case (let id?, false, _): eventID = MessageID.rejection(payer: payerID, request: id)
        case (let id?, true, let record?): eventID = MessageID.rejection(payer: payerID, request: id) + ":conflict:\(record.partition):\(record.offset)"
        case (let id?, true, nil): eventID = MessageID.rejection(payer: payerID, request: id) + ":conflict"
        case (nil, _, let record?): eventID = "rj:\(record.topic):\(record.partition):\(record.offset)"
        case (nil, _, nil): eventID = "rj:\(fallback)"
        }
        let event = PaymentEvent(
            eventId: eventID, sequence: 0, occurredAt: now, type: "payment.rejected",
            paymentId: payment, requestId: requestID ?? source?.requestId, orderId: source?.orderId, payerId: payerID,
            merchantId: source?.merchantId, amount: source?.amount, currency: source?.currency, method: source?.method,
            channel: source?.channel, status: PaymentStatus.rejected.rawValue, reason: rejection.reason.rawValue,
            message: rejection.message, metadata: source?.metadata)
        if !(try context.emit(event, topic: topics.paymentEvents, key: payerID, eventID: eventID)) {
            try context.republish(eventIDs: [eventID])
        }
        if let requestID, let fingerprint, !conflict {
            try PaymentTables.logRequest(db, requestID: requestID, fingerprint: fingerprint, paymentID: payment,
                                         status: PaymentStatus.rejected.rawValue, eventIDs: [eventID], now: now)
        }
    }
}
