import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// settlement-worker: books captured money for merchants and suppliers on the merchant-side
/// ledger. Each capture is priced from the merchant's reference data at the moment it is booked
/// (fee plan for the method, commission, allowed suppliers, settlement currency, FX rate, payout
/// calendar) and those terms are stored with the payment, so later reference changes never touch
/// it; refunds reverse the stored breakdown pro rata; post-paid and installment payments are
/// funded by the platform and repaid by the payer; the timer makes merchant money available on
/// its payout date and reports installments due and overdue. docs/settlement.md has the rules.
public struct SettlementStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// Days after its due date an unpaid installment is reported overdue (0: the day after).
        public var installmentGraceDays: Int
        /// How often the timer runs (payout dates, batches, installments), in milliseconds.
        public var timerIntervalMs: Int
        /// Per currency, the smallest payout in minor units: a batch below it is held and its
        /// lines wait for the payee's next money. A currency missing here pays any positive amount.
        public var payoutMinimums: [String: Int64]
        /// A payout the bank has not answered is queried this long after it was sent, then again
        /// after twice as long each time, up to `payoutQueryMaxIntervalSeconds`.
        public var payoutQueryAfterSeconds: Double
        public var payoutQueryMaxIntervalSeconds: Double
        /// A payout still unanswered this long after it was sent is reported `payout.stuck`.
        public var payoutStuckAfterSeconds: Double
        /// The bank adapter's answer key (`AnswerSeal`, signer `bank`): where it is, and whether
        /// payout answers must be sealed.
        public var answers = AnswerSettings()
        /// What merchants and FX rates on the reference topics may say (`ReferenceBounds`).
        public var referenceBounds = ReferenceBounds()

        public init(installmentGraceDays: Int = 3, timerIntervalMs: Int = 1_000, payoutMinimums: [String: Int64] = [:],
                    payoutQueryAfterSeconds: Double = 600, payoutQueryMaxIntervalSeconds: Double = 21_600,
                    payoutStuckAfterSeconds: Double = 259_200) throws {
            guard payoutQueryAfterSeconds > 0, payoutQueryMaxIntervalSeconds >= payoutQueryAfterSeconds, payoutStuckAfterSeconds > 0 else {
                throw ConfigurationError("stage.payout_query_after_seconds must be positive, payout_query_max_interval_seconds at least "
                    + "that, and payout_stuck_after_seconds positive")
            }
            self.payoutQueryAfterSeconds = payoutQueryAfterSeconds
            self.payoutQueryMaxIntervalSeconds = payoutQueryMaxIntervalSeconds
            self.payoutStuckAfterSeconds = payoutStuckAfterSeconds
            for (code, minimum) in payoutMinimums.sorted(by: { $0.key < $1.key }) {
                guard Currency.named(code) != nil else { throw ConfigurationError("stage.payout_minimums: '\(code)' is not an ISO 4217 currency") }
                guard minimum >= 0 else { throw ConfigurationError("stage.payout_minimums.\(code) must not be negative, not \(minimum)") }
            }
            self.payoutMinimums = payoutMinimums
            guard (0...365).contains(installmentGraceDays) else {
                throw ConfigurationError("stage.installment_grace_days must be within 0…365, not \(installmentGraceDays)")
            }
            guard timerIntervalMs >= 10 else { throw ConfigurationError("stage.timer_interval_ms must be at least 10, not \(timerIntervalMs)") }
            self.installmentGraceDays = installmentGraceDays
            self.timerIntervalMs = timerIntervalMs
        }

        enum CodingKeys: String, CodingKey {
            case installmentGraceDays = "installment_grace_days", timerIntervalMs = "timer_interval_ms", payoutMinimums = "payout_minimums"
            case payoutQueryAfterSeconds = "payout_query_after_seconds", payoutQueryMaxIntervalSeconds = "payout_query_max_interval_seconds"
            case payoutStuckAfterSeconds = "payout_stuck_after_seconds", answers, referenceBounds = "reference_bounds"
            case feeBasisPoints = "fee_basis_points", feeFixed = "fee_fixed"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            for key in [CodingKeys.feeBasisPoints, .feeFixed] where c.contains(key) {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription:
                    "stage.\(key.rawValue) is gone: fees come from each merchant's fee plan on reference.merchants")
            }
            do {
                try self.init(installmentGraceDays: try c.decodeIfPresent(Int.self, forKey: .installmentGraceDays) ?? 3,
                              timerIntervalMs: try c.decodeIfPresent(Int.self, forKey: .timerIntervalMs) ?? 1_000,
                              payoutMinimums: try c.decodeIfPresent([String: Int64].self, forKey: .payoutMinimums) ?? [:],
                              payoutQueryAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .payoutQueryAfterSeconds) ?? 600,
                              payoutQueryMaxIntervalSeconds: try c.decodeIfPresent(Double.self, forKey: .payoutQueryMaxIntervalSeconds) ?? 21_600,
                              payoutStuckAfterSeconds: try c.decodeIfPresent(Double.self, forKey: .payoutStuckAfterSeconds) ?? 259_200)
                answers = try c.decodeIfPresent(AnswerSettings.self, forKey: .answers) ?? AnswerSettings()
                referenceBounds = try c.decodeIfPresent(ReferenceBounds.self, forKey: .referenceBounds) ?? ReferenceBounds()
            } catch let error as ConfigurationError {
                throw DecodingError.dataCorruptedError(forKey: .installmentGraceDays, in: c, debugDescription: error.description)
            }
        }
    }

    public let name = "settlement-worker"
    public let topics: TopicNames
    public let settings: Settings
    /// Merchants and FX rates (read in full from the reference topics).
    public let reference: any ReferenceLookup
    /// The bank's answer key: a payout answer must carry the bank's seal before it is decided on.
    public let answers: AnswerVerification

    public init(topics: TopicNames, settings: Settings, reference: any ReferenceLookup, answers: AnswerVerification) {
        self.topics = topics
        self.settings = settings
        self.answers = answers
        self.reference = reference
    }

    public var inputTopics: [String] { [topics.settlementRequests, topics.payoutConfirmations] }
    public var outputTopics: [String] { [topics.settlementEvents, topics.payoutRequests] }
    public var keepsMoney: Bool { true }
    public var schema: StageSchema { SettlementTables.schema }
    public var tickInterval: Duration? { .milliseconds(settings.timerIntervalMs) }
    /// A live lookup (`LiveReferenceData`) is kept current from the reference topics by the
    /// worker; fixed data (`StaticReferenceData`, for tests) needs no feed.
    public var referenceFeed: (any ReferenceFeed)? { reference as? any ReferenceFeed }

    public enum Input: Sendable {
        case request(SettlementRequest)
        case confirmation(PayoutConfirmation)
    }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.payoutConfirmations {
            // The seal first (the keyring holds only the bank's keys): nothing of an unproven answer is read.
            _ = try answers.signer(of: record)
            return .confirmation(try decodeMessage(PayoutConfirmation.self, schema: PayoutConfirmation.schemaName, from: record))
        }
        return .request(try decodeMessage(SettlementRequest.self, schema: SettlementRequest.schemaName, from: record))
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .request(let request): "settlement-request:\(request.eventId)"
        case .confirmation(let confirmation): "payout-confirmation:\(confirmation.confirmationId)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        var decision = SettlementDecision(stage: self, context: context)
        do {
            let request: SettlementRequest
            switch input {
            case .confirmation(let confirmation): return try decision.answer(confirmation)
            case .request(let settlementRequest): request = settlementRequest
            }
            guard request.amount > 0 else { throw DeadLetter(code: "invalid_amount", message: "amount must be positive, not \(request.amount)") }
            switch request.requestType {
            case .capture?: try decision.book(request)
            case .refund?: try decision.reverse(request)
            case .repayment?: try decision.repay(request)
            case nil:
                throw DeadLetter(code: "not_supported", message: "settlement request type '\(request.type)' is not one of "
                    + SettlementRequestType.allCases.map(\.rawValue).joined(separator: ", "))
            }
        } catch let error as SettlementError {
            throw DeadLetter(code: error.code, message: error.description)
        } catch let error as MoneyError {
            throw DeadLetter(code: error.code, message: error.description)
        } catch let error as LedgerError {
            // The stored ledger refuses the booking (a floor, an account in another currency): the
            // same input would fail every time, so it is parked for people to look at.
            throw DeadLetter(code: "ledger_refused", message: "\(error)")
        }
    }

    /// Makes payee money available on its payout date and closes its batches, and reports
    /// installments that fall due and those past their grace days.
    public func tick(in context: StageContext) throws {
        var decision = SettlementDecision(stage: self, context: context)
        try decision.releaseDue()
        try decision.closeBatches()
        try decision.followPayouts()
        try decision.reportInstallments()
    }
}
