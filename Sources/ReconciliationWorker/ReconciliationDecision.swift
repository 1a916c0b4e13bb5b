import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamRuntime

/// One decision of the reconciler: records an input, then re-reconciles the payment it is about
/// (`Reconciler.reconcile` over everything the shard holds for it) and publishes each item whose
/// result changed.
struct ReconciliationDecision {
    let stage: ReconciliationStage
    let context: StageContext

    init(stage: ReconciliationStage, context: StageContext) {
        self.stage = stage
        self.context = context
    }

    var db: Database { context.db }

    /// Events that change nothing the channel sees are skipped: a rejected request never
    /// reached a channel (and names a payment id that may be another payer's).
    mutating func record(_ event: PaymentEvent) throws {
        guard event.eventType != .rejected, let currency = event.currency, let amount = event.amount else { return }
        var payment = try ReconciliationTables.payment(db, event.paymentId)
            ?? .init(paymentId: event.paymentId, payerId: event.payerId, merchantId: event.merchantId, method: event.method,
                     channelReference: nil, amount: amount, currency: currency, status: event.status, sequence: -1, at: event.occurredAt)
        if let payer = payment.payerId, let other = event.payerId, payer != other {
            context.logger.warning("payment id used by two payers; reconciled as the first's", metadata: [
                "payment_id": "\(event.paymentId)", "payer_id": "\(payer)", "other_payer_id": "\(other)"])
            return
        }
        var changed = false
        if event.sequence > payment.sequence {
            payment.sequence = event.sequence
            payment.status = event.status
            payment.method = event.method ?? payment.method
            payment.channelReference = event.channelReference ?? payment.channelReference
            if event.eventType == .captured {
                payment.amount = amount
                payment.currency = currency
                payment.at = event.occurredAt
            }
            try ReconciliationTables.save(db, payment)
            changed = true
        }
        if event.eventType == .partiallyRefunded || event.eventType == .refunded, let refund = event.refundAmount {
            let id = "refund:\(event.paymentId):\(event.requestId ?? event.eventId)"
            changed = try ReconciliationTables.addRefund(db, movementId: id, paymentId: event.paymentId, amount: refund,
                                                         currency: currency, at: event.occurredAt) || changed
        }
        if changed { try reconcile(event.paymentId) }
    }

    mutating func record(_ line: StatementLine) throws {
        guard try ReconciliationTables.addLine(db, line, at: context.timestamp) else { return }
        try reconcile(line.paymentId)
    }

    /// Re-decides the payments whose pending items have reached the end of their window.
    mutating func decideDue() throws {
        for paymentId in try ReconciliationTables.due(db, before: context.timestamp, limit: 500) {
            try reconcile(paymentId)
        }
    }

    /// What the shard knows of the payment as the domain's expected movements. A payment paid
    /// without a channel (no channel reference: the wallet, a credit line) is no channel
    /// movement, nor are its refunds; one that failed, expired or was cancelled is kept (status
    /// only), so that a line the channel shows for it is a status mismatch.
    func expected(_ payment: ReconciliationTables.PaymentRow?) throws -> [ExpectedMovement] {
        guard let payment else { return [] }
        let paymentId = payment.paymentId
        if payment.channelReference == nil && Reconciler.paidStatuses.contains(payment.status) { return [] }
        var fee: Int64?
        if let method = payment.method, let plan = stage.settings.channelFees[method], let currency = Currency.named(payment.currency) {
            fee = try? plan.fee(for: Money(minorUnits: payment.amount, currency: currency)).minorUnits
        }
        var movements = [ExpectedMovement(paymentId: paymentId, type: "payment", amount: payment.amount, currency: payment.currency,
                                          status: payment.status, expectedFee: fee, at: Self.date(payment.at))]
        for refund in try ReconciliationTables.refunds(db, paymentId: paymentId) {
            movements.append(ExpectedMovement(id: refund.id, paymentId: paymentId, type: "refund", amount: refund.amount,
                                              currency: refund.currency, status: payment.status, at: Self.date(refund.at)))
        }
        return movements
    }

    mutating func reconcile(_ paymentId: String) throws {
        let window = stage.settings.timingWindowSeconds
        let payment = try ReconciliationTables.payment(db, paymentId)
        let method = payment?.method
        let results = Reconciler.reconcile(expected: try expected(payment), lines: try ReconciliationTables.lines(db, paymentId: paymentId),
                                           now: context.now, window: window)
        var stored = try ReconciliationTables.items(db, paymentId: paymentId)
        var current = Set<String>()
        for result in results {
            let itemId = result.itemId
            current.insert(itemId)
            let signature = [result.state.rawValue, result.line?.lineId ?? "", result.detail].joined(separator: "|")
            let previous = stored[itemId]
            guard previous?.signature != signature else { continue }
            let revision = (previous?.revision ?? 0) + 1
            let message = ReconciliationResultMessage(
                eventId: "rc:\(itemId):\(revision)", itemId: itemId, revision: revision, occurredAt: context.timestamp,
                state: result.state.rawValue, paymentId: paymentId, type: result.type, day: result.day,
                method: method ?? result.line?.method, expected: result.expected.map(ReconciliationResultMessage.Expected.init),
                line: result.line, detail: result.detail)
            try ReconciliationTables.saveItem(db, message, signature: signature)
            stored[itemId] = .init(state: message.state, revision: revision, signature: signature)
            try context.emit(message, topic: stage.topics.reconciliationResults, key: paymentId, eventID: message.eventId)
        }
        for (itemId, item) in stored where !current.contains(itemId) && item.state != ReconciliationTables.replaced {
            try ReconciliationTables.markReplaced(db, itemId: itemId, at: context.timestamp)
        }
        let due = results.compactMap { Reconciler.decidedAt($0, window: window) }.min()
        try ReconciliationTables.setDue(db, paymentId: paymentId, at: due.map(Wire.timestamp))
    }

    static func date(_ timestamp: String) -> Date { Wire.parseTimestamp(timestamp) ?? Date(timeIntervalSince1970: 0) }
}
