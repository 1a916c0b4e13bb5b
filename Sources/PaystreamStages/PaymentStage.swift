import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// payment-worker: validates and authorizes payment requests, instructs the channel, and on the
/// channel's answer captures or fails the payment. Consumes `payments.requests` and
/// `channel.confirmations` (both keyed by payer, so a payer's state lives in one shard).
public struct PaymentStage: Stage {
    public struct Settings: Decodable, Sendable {
        /// The payment policy (JSON, see Config/payment-policy.json). Required: without a
        /// policy the worker would have no limits, so it refuses to start. A relative path is
        /// resolved against the config file's folder.
        public var policyFile: String?

        public init(policyFile: String? = nil) { self.policyFile = policyFile }

        enum CodingKeys: String, CodingKey { case policyFile = "policy_file" }
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

    public init(topics: TopicNames, policy: PaymentPolicy, reference: any ReferenceLookup) {
        self.topics = topics
        self.policy = policy
        self.reference = reference
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
    public var schema: StageSchema { PaymentTables.schema }

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
        switch input {
        case .request(let message): try handleRequest(message, record: record, context: context)
        case .malformedRequest(let requestID, let payerID, let message):
            try reject(requestID: requestID, paymentID: nil, payerID: payerID, source: nil,
                       rejection: Rejection(.invalidRequest, message), record: record, context: context)
        case .confirmation(let confirmation): try handleConfirmation(confirmation, context: context)
        }
    }

    // MARK: requests

    private func handleRequest(_ message: PaymentRequestMessage, record: ConsumedRecord, context: StageContext) throws {
        let db = context.db
        let fingerprint = String(decoding: try Wire.encode(message), as: UTF8.self)
        if let requestID = message.requestId, let seen = try PaymentTables.requestLog(db, requestID: requestID) {
            if seen.fingerprint == fingerprint {
                // Same request again: the same outcome, i.e. its original events published again.
                try context.republish(eventIDs: try PaymentTables.eventIDs(db, answering: requestID, seen))
            } else {
                try reject(requestID: requestID, paymentID: seen.paymentID, payerID: message.payerId ?? record.keyString,
                           source: message,
                           rejection: Rejection(.idempotencyConflict, "request_id \(requestID) was used before with different content"),
                           record: record, context: context, conflict: true)
            }
            return
        }
        let request: PaymentRequest
        switch message.validated() {
        case .failure(let rejection):
            try reject(requestID: message.requestId, paymentID: message.paymentId, payerID: message.payerId ?? record.keyString,
                       source: message, rejection: rejection, record: record, context: context, fingerprint: fingerprint)
            return
        case .success(let valid):
            request = valid
        }
        if try PaymentTables.payment(db, id: request.paymentID) != nil {
            try reject(requestID: request.requestID, paymentID: request.paymentID, payerID: request.payerID, source: message,
                       rejection: Rejection(.invalidRequest, "payment_id \(request.paymentID) is already used by another request"),
                       record: record, context: context, fingerprint: fingerprint)
            return
        }
        // The payer's state lives in this shard (requests are keyed by payer), so its daily
        // totals are exact here without coordination.
        let day = String(context.timestamp.prefix(10))
        let today = try PaymentTables.dailyTotals(db, payerID: request.payerID, currency: request.amount.currency, day: day)
        if let rejection = RequestRules.policyRejection(for: request, policy: policy)
            ?? RequestRules.dailyLimits(request.amount, payerToday: today, policy: policy) {
            try reject(requestID: request.requestID, paymentID: request.paymentID, payerID: request.payerID, source: message,
                       rejection: rejection, record: record, context: context, fingerprint: fingerprint)
            return
        }
        try PaymentTables.addToDailyTotals(db, payerID: request.payerID, amount: request.amount, day: day)
        let payment = PaymentRecord(request: request, status: .authorized, sequence: 1, now: context.timestamp)
        try PaymentTables.insert(db, payment, fingerprint: fingerprint)
        try emitEvent(for: payment, type: "payment.authorized", context: context)
        let instruction = ChannelRequest(
            requestType: "authorize", channelRequestId: "\(payment.paymentID):authorize", paymentId: payment.paymentID,
            payerId: payment.payerID, merchantId: payment.merchantID, amount: payment.amount, currency: payment.currency,
            method: payment.method, channel: payment.channel, requestedAt: context.timestamp)
        try context.emit(instruction, topic: topics.channelRequests, key: payment.payerID,
                         eventID: "cr:\(instruction.channelRequestId)")
    }

    /// Publishes `payment.rejected` and, given the request's fingerprint, remembers the request
    /// id so that a retry gets the same answer.
    ///
    /// The event id belongs to the request (`rj:<request_id>`), never to the payment's own
    /// sequence. When the payment exists already (an idempotency conflict, a reused payment_id),
    /// the rejection leaves it unchanged and says so with `sequence` 0; the rejection of a new
    /// payment is its first and only event, `sequence` 1. An identical retry of a request that
    /// could not be remembered (no request_id, malformed) publishes the same event again.
    private func reject(requestID: String?, paymentID: String?, payerID: String?,
                        source: PaymentRequestMessage?, rejection: Rejection, record: ConsumedRecord,
                        context: StageContext, fingerprint: String? = nil, conflict: Bool = false) throws {
        let payment = paymentID ?? requestID.map { "pay-\($0)" } ?? "unidentified-\(record.partition)-\(record.offset)"
        let exists = try PaymentTables.payment(context.db, id: payment) != nil
        let eventID: String
        switch (requestID, conflict) {
        case (let id?, false): eventID = "rj:\(id)"
        case (let id?, true): eventID = "rj:\(id):conflict:\(record.partition):\(record.offset)"
        case (nil, _): eventID = "rj:\(record.topic):\(record.partition):\(record.offset)"
        }
        let event = PaymentEvent(
            eventId: eventID, sequence: exists ? 0 : 1, occurredAt: context.timestamp, type: "payment.rejected",
            paymentId: payment, requestId: requestID ?? source?.requestId, orderId: source?.orderId, payerId: payerID,
            merchantId: source?.merchantId, amount: source?.amount, currency: source?.currency, method: source?.method,
            channel: source?.channel, status: PaymentStatus.rejected.rawValue, reason: rejection.reason.rawValue,
            message: rejection.message, metadata: source?.metadata)
        if !(try context.emit(event, topic: topics.paymentEvents, key: payerID, eventID: eventID)) {
            try context.republish(eventIDs: [eventID])
        }
        if let requestID, let fingerprint, !conflict {
            try PaymentTables.logRequest(context.db, requestID: requestID, fingerprint: fingerprint, paymentID: payment,
                                         status: .rejected, now: context.timestamp)
        }
    }

    // MARK: confirmations

    private func handleConfirmation(_ confirmation: ChannelConfirmation, context: StageContext) throws {
        let db = context.db
        guard var payment = try PaymentTables.payment(db, id: confirmation.paymentId) else {
            throw DeadLetter(code: "unknown_payment", message: "confirmation for unknown payment \(confirmation.paymentId)")
        }
        guard payment.status == .authorized else {
            // A repeated or late answer for a payment already decided: no second effect.
            return
        }
        payment.sequence += 1
        payment.updatedAt = context.timestamp
        payment.channelReference = confirmation.channelReference
        switch confirmation.status {
        case "approved" where confirmation.amount == payment.amount && confirmation.currency == payment.currency:
            payment.status = .captured
            try PaymentTables.update(db, payment)
            let eventID = try emitEvent(for: payment, type: "payment.captured", context: context)
            let handoff = SettlementRequest(
                eventId: "sr:\(payment.paymentID):capture", type: "capture", paymentId: payment.paymentID,
                orderId: payment.orderID, payerId: payment.payerID, merchantId: payment.merchantID, amount: payment.amount,
                currency: payment.currency, method: payment.method,
                settlement: SettlementTerms(mode: payment.settlementMode, installments: payment.installments),
                splits: payment.splits, settlementCurrency: payment.settlementCurrency, capturedAt: context.timestamp,
                sourceEventId: eventID)
            try context.emit(handoff, topic: topics.settlementRequests, key: payment.merchantID, eventID: handoff.eventId)
        case "approved":
            payment.status = .conflicted
            try PaymentTables.update(db, payment)
            try emitEvent(for: payment, type: "payment.conflicted", context: context, reason: "amount_mismatch",
                          message: "channel confirmed \(confirmation.amount) \(confirmation.currency), requested \(payment.amount) \(payment.currency)")
        case "declined":
            payment.status = .failed
            try PaymentTables.update(db, payment)
            try emitEvent(for: payment, type: "payment.failed", context: context,
                          reason: confirmation.reason ?? "declined", message: confirmation.message ?? "declined by the channel")
        default:
            throw DeadLetter(code: "invalid_confirmation", message: "confirmation status '\(confirmation.status)' is not approved or declined")
        }
    }

    @discardableResult
    private func emitEvent(for payment: PaymentRecord, type: String, context: StageContext,
                           reason: String? = nil, message: String? = nil) throws -> String {
        let eventID = "pe:\(payment.paymentID):\(payment.sequence)"
        let event = PaymentEvent(
            eventId: eventID, sequence: payment.sequence, occurredAt: context.timestamp, type: type,
            paymentId: payment.paymentID, requestId: payment.requestID, orderId: payment.orderID, payerId: payment.payerID,
            merchantId: payment.merchantID, amount: payment.amount, currency: payment.currency, method: payment.method,
            channel: payment.channel, status: payment.status.rawValue, reason: reason, message: message,
            channelReference: payment.channelReference, metadata: payment.metadata)
        try context.emit(event, topic: topics.paymentEvents, key: payment.payerID, eventID: eventID)
        return eventID
    }
}
