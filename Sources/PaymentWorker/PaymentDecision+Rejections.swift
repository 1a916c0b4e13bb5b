import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// A refused request: one `payment.rejected` event, nothing else changed.
extension PaymentDecision {
    mutating func reject(_ rejection: Rejection, _ message: PaymentRequestMessage, fingerprint: String,
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
            eventId: eventID, sequence: 0, occurredAt: now, type: PaymentEventType.rejected.rawValue,
            paymentId: payment, requestId: requestID ?? source?.requestId, orderId: source?.orderId, payerId: payerID,
            merchantId: source?.merchantId, amount: source?.amount, currency: source?.currency, method: source?.method,
            channel: source?.channel, status: PaymentStatus.rejected.rawValue, reason: rejection.reason.rawValue,
            message: rejection.message, metadata: source?.metadata)
        if try context.emitIfNew(event, topic: topics.paymentEvents, key: payerID, eventID: eventID) {
            PaystreamMetrics.rejected(stage: "payment-worker", reason: rejection.reason.rawValue)
        } else {
            try context.republish(eventIDs: [eventID])
        }
        if let requestID, let fingerprint, !conflict {
            try PaymentTables.logRequest(db, requestID: requestID, fingerprint: fingerprint, paymentID: payment,
                                         status: PaymentStatus.rejected.rawValue, eventIDs: [eventID], now: now)
        }
    }
}
