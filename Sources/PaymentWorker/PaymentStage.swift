import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
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
    public enum Input: Sendable {
        case request(PaymentRequestMessage)
        /// Right schema, wrong shape: rejected with `invalid_request`, not dead-lettered.
        case malformedRequest(requestID: String?, payerID: String?, message: String)
        /// A channel's answer, with the signer whose seal it carries (nil when answers are not checked).
        case confirmation(ChannelConfirmation, signer: String?)
    }

    public let name = "payment-worker"
    public let topics: TopicNames
    public let policy: PaymentPolicy
    /// Merchants and credit lines (read in full from the reference topics).
    public let reference: any ReferenceLookup
    public let settings: Settings
    /// The channels' answer keys: an answer must carry the seal of its payment's method
    /// (`AnswerSeal`) before it is decided on.
    public let answers: AnswerVerification

    public init(topics: TopicNames, policy: PaymentPolicy, reference: any ReferenceLookup, settings: Settings = Settings(),
                answers: AnswerVerification) {
        self.topics = topics
        self.policy = policy
        self.reference = reference
        self.settings = settings
        self.answers = answers
    }

    /// The signers a payment-worker accepts on `channel.confirmations`: every payment method's
    /// connector, never the bank.
    public static func acceptsSigner(_ signer: String) -> Bool { signer != AnswerSeal.bank }

    public var inputTopics: [String] { [topics.paymentRequests, topics.channelConfirmations] }
    public var outputTopics: [String] { [topics.paymentEvents, topics.channelRequests, topics.settlementRequests] }
    public var keepsMoney: Bool { true }
    public var schema: StageSchema { PaymentTables.schema }
    public var tickInterval: Duration? { .milliseconds(settings.expiryCheckIntervalMs) }

    public func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        if record.topic == topics.channelConfirmations {
            // The seal first: nothing of an unproven answer is read.
            let signer = try answers.signer(of: record)
            return .confirmation(try decodeMessage(ChannelConfirmation.self, schema: ChannelConfirmation.schemaName, from: record),
                                 signer: signer)
        }
        let data = Data(record.value)
        // One parse for a good request; the rare bad one is looked at again for its answer.
        // Strict: a duplicate key or a non-canonical spelling (`requestId`) is refused, since
        // the upstream's own reader (or the next one) might read the same bytes differently.
        if case .decoded(let message) = Wire.decodeMessage(PaymentRequestMessage.self, schema: PaymentRequestMessage.schemaName, from: data,
                                                           strict: true) {
            try Self.checkStorable(requestID: message.requestId)
            return .request(message)
        }
        guard let object = try? Wire.decode([String: JSONValue].self, from: data) else {
            throw .undecodable("value is not a JSON object")
        }
        let schema = object["schema"]?.stringValue
        guard schema == PaymentRequestMessage.schemaName else { throw .unknownSchema(schema) }
        try Self.checkStorable(requestID: object["request_id"]?.stringValue)
        do {
            return .request(try Wire.decode(PaymentRequestMessage.self, from: data, strict: true))
        } catch {
            return .malformedRequest(requestID: object["request_id"]?.stringValue,
                                     payerID: object["payer_id"]?.stringValue ?? record.keyString,
                                     message: Wire.describe(error))
        }
    }

    /// A request is answered and remembered under its request_id (the request log, the
    /// rejection's event id), as SQLite text, which ends at a NUL: an id with one would be read
    /// as another request's (a retry, a conflict) and would take that id from the request that
    /// really has it. Such a record is parked (`invalid_request_id`) instead of answered; other
    /// control characters are stored whole and rejected as `invalid_request` by the rules.
    static func checkStorable(requestID: String?) throws(DeadLetter) {
        guard let requestID, requestID.utf8.contains(0) else { return }
        throw DeadLetter(code: "invalid_request_id",
                         message: "request_id contains a NUL character; it cannot be stored or answered under its own id")
    }

    public func messageID(of input: Input) -> String? {
        switch input {
        case .request, .malformedRequest: nil  // idempotency by request_id, in PaymentTables
        case .confirmation(let c, _): "confirmation:\(c.confirmationId)"
        }
    }

    public func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        var decision = PaymentDecision(stage: self, context: context, record: record)
        do {
            switch input {
            case .request(let message):
                try decision.request(message)
            case .malformedRequest(let requestID, let payerID, let message):
                try decision.malformed(requestID: requestID, payerID: payerID, message: message)
            case .confirmation(let confirmation, let signer):
                try decision.confirmation(confirmation, signer: signer)
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
            var decision = PaymentDecision(stage: self, context: context, record: nil)
            do {
                try context.inSavepoint {
                    if let payment = try PaymentTables.payment(context.db, id: paymentID) { try decision.checkExpiry(payment) }
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
