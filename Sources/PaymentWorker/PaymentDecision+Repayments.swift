import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime

/// Repayments of post-paid and installment payments, handed to settlement so that the
/// merchant-side receivable follows the payer's credit line.
extension PaymentDecision {
    /// Checks the payment a repayment names: the payer's own post-paid or installment payment in
    /// the repayment's currency, with at least the repayment's amount still owed.
    func repaymentTargetRejection(_ request: PaymentRequest) throws -> Rejection? {
        guard let target = request.repaysPaymentID else { return nil }
        guard let payment = try PaymentTables.payment(db, id: target), payment.payerID == request.payerID else {
            return Rejection(.invalidRequest, "payer \(request.payerID) has no payment \(target) to repay")
        }
        guard payment.type == .payment, payment.funding == .credit else {
            return Rejection(.invalidRequest, "payment \(target) is not post-paid or in installments; there is nothing to repay")
        }
        guard payment.currency == request.amount.currency.code else {
            return Rejection(.invalidRequest, "a repayment in \(request.amount.currency.code) of payment \(target) in \(payment.currency)")
        }
        let owed = try PaymentTables.outstandingCredit(db, payerID: request.payerID, currency: payment.currency, only: target)
            .first?.outstanding ?? 0
        guard request.amount.minorUnits <= owed else {
            return Rejection(.invalidRequest, "repayment of \(request.amount.formatted) is above the "
                + "\(Money(minorUnits: owed, currency: request.amount.currency).formatted) outstanding on payment \(target)")
        }
        return nil
    }

    /// Shares a captured repayment among the payments it pays back — the one it names, else the
    /// payer's oldest outstanding ones in its currency — and hands each part to settlement,
    /// keyed by that payment's merchant. What no payment owes stays on the credit line.
    mutating func handOffRepayment(_ repayment: PaymentRecord, sourceEventID: String) throws {
        let named = try PaymentTables.repaymentTarget(db, repaymentID: repayment.paymentID)
        var left = repayment.captured
        for owed in try PaymentTables.outstandingCredit(db, payerID: repayment.payerID, currency: repayment.currency, only: named)
        where left > 0 {
            let part = min(left, owed.outstanding)
            left -= part
            let payment = owed.payment
            guard let merchant = payment.merchantID else { continue }
            try PaymentTables.allocateRepayment(db, repaymentID: repayment.paymentID, paymentID: payment.paymentID, amount: part)
            let handoff = SettlementRequest(
                eventId: MessageID.settlementRepayment(payer: repayment.payerID, payment: payment.paymentID, repayment: repayment.paymentID),
                type: SettlementRequestType.repayment.rawValue, paymentId: payment.paymentID, orderId: payment.orderID,
                payerId: repayment.payerID, merchantId: merchant, amount: part, currency: repayment.currency, method: repayment.method,
                settlement: SettlementTerms(mode: payment.settlementMode, installments: payment.installments), splits: [],
                settlementCurrency: payment.settlementCurrency, capturedAt: repayment.capturedAt ?? now, sourceEventId: sourceEventID,
                repaymentId: repayment.paymentID)
            try context.emit(handoff, topic: topics.settlementRequests, key: merchant, eventID: handoff.eventId)
        }
        if left > 0 {
            context.logger.notice("repayment larger than what its payments owe; the rest stays on the credit line", metadata: [
                "payment.id": "\(repayment.paymentID)", "unallocated": "\(left)"])
        }
    }
}
