import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// A refund or a cancel of an existing payment of the payer.
extension PaymentDecision {
    /// A refund or cancel of a payment in this shard.
    mutating func followUp(_ request: FollowUpRequest, _ message: PaymentRequestMessage, fingerprint: String) throws {
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
        case .cancel where state.status == .captured || state.status == .partiallyRefunded:
            // The order is cancelled after the payer paid: everything still refundable goes back,
            // exactly as a refund of it would (the window, the ledger, the channel, settlement).
            guard payment.type == .payment else {
                return try refuse(Rejection(.invalidState, "a captured \(payment.type.rawValue) cannot be cancelled"))
            }
            if let rejection = try refundRejection(payment, state: state, requestID: request.requestID) { return try refuse(rejection) }
            try grantRefund(&payment, state: state, amount: state.refundable, requestID: request.requestID, ledger: &ledger,
                            reason: "cancelled", message: "cancelled after capture by request \(request.requestID): "
                                + "\(state.refundable.formatted) refunded")

        case .cancel:
            let next: PaymentState
            do { next = try state.apply(.cancelled) } catch { return try refuse(error.rejection) }
            try ledger.voidHold(payment.holdID)
            payment.adopt(next, now: now)
            try PaymentTables.update(db, payment)
            try emitEvent(for: payment, type: .cancelled, reason: "cancelled", message: "cancelled by request \(request.requestID)")
            if payment.funding == .channel { try instruct(.cancel, payment, amount: payment.amount) }

        case .refund(let amount, let code):
            if let rejection = try refundRejection(payment, state: state, requestID: request.requestID) { return try refuse(rejection) }
            if let code, code != payment.currency {
                return try refuse(Rejection(.invalidRequest, "a refund in \(code) of a payment in \(payment.currency)"))
            }
            let refund = amount.map { Money(minorUnits: $0, currency: state.currency) } ?? state.refundable
            do { _ = try state.apply(.refunded(refund)) } catch { return try refuse(error.rejection) }
            try grantRefund(&payment, state: state, amount: refund, requestID: request.requestID, ledger: &ledger)
        }
        try LedgerTables.save(db, from: before, to: ledger)
        try PaymentTables.logRequest(db, requestID: request.requestID, fingerprint: fingerprint, paymentID: payment.paymentID,
                                     status: "accepted", eventIDs: emitted, now: now)
    }

    /// Why `payment` cannot be refunded now: not a payment, a refund id used before, not
    /// captured, or its method's refund window closed. nil when it can.
    func refundRejection(_ payment: PaymentRecord, state: PaymentState, requestID: String) throws -> Rejection? {
        guard payment.type == .payment else { return Rejection(.invalidRequest, "a \(payment.type.rawValue) cannot be refunded") }
        // Refunds are named by their request_id for good, beyond the idempotency window.
        if try PaymentTables.refund(db, id: requestID) != nil {
            return Rejection(.invalidRequest, "refund \(requestID) was made before; a new refund needs a new request_id")
        }
        guard [.captured, .partiallyRefunded, .refunded].contains(state.status) else {
            return Rejection(.invalidState, "payment \(payment.paymentID) is \(state.status.rawValue); only captured payments are refunded")
        }
        if let method = PaymentMethod(rawValue: payment.method) {
            return RequestRules.refundWindow(method: method, capturedAt: Wire.parseTimestamp(payment.capturedAt ?? payment.updatedAt) ?? context.now,
                                             now: context.now, policy: stage.policy)
        }
        return nil
    }

    /// Gives `amount` of a captured payment back: posted back to where the money came from (the
    /// wallet, the credit line, or the channel), the refund recorded under `requestID`, the event,
    /// the channel's refund instruction, and the hand-off to settlement.
    mutating func grantRefund(_ payment: inout PaymentRecord, state: PaymentState, amount refund: Money, requestID: String,
                              ledger: inout Ledger, reason: String? = nil, message: String? = nil) throws {
        let next = try state.apply(.refunded(refund))
        let settlement = PaymentRecord.settlementAccount(state.currency)
        if ledger.accounts[settlement.id] == nil { try ledger.open(settlement) }
        if let source = payment.sourceAccount, ledger.accounts[source.id] == nil { try ledger.open(source) }
        try ledger.post(try Posting.transfer(PostingID("refund:\(requestID)"), debit: settlement.id,
                                             credit: payment.sourceAccountID, amount: refund, postedAt: context.now))
        payment.adopt(next, now: now)
        try PaymentTables.update(db, payment)
        try PaymentTables.insertRefund(db, .init(refundID: requestID, paymentID: payment.paymentID,
                                                 amount: refund.minorUnits, currency: payment.currency,
                                                 status: payment.funding == .channel ? .requested : .completed), now: now)
        let eventID = try emitEvent(for: payment, type: PaymentEventType(reaching: next.status), reason: reason, message: message,
                                    refund: refund.minorUnits)
        if payment.funding == .channel {
            try instruct(.refund, payment, amount: refund.minorUnits, suffix: requestID)
        }
        if let merchant = payment.merchantID {
            let handoff = settlementRequest(for: payment, type: .refund, amount: refund.minorUnits,
                                            eventID: MessageID.settlementRefund(payer: payment.payerID, payment: payment.paymentID,
                                                                                  refundRequest: requestID),
                                            sourceEventID: eventID, merchant: merchant)
            try context.emit(handoff, topic: topics.settlementRequests, key: merchant, eventID: handoff.eventId)
        }
    }
}
