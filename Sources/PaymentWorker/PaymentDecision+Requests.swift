import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// A new request: its shape, its id (a retry or a conflict), the rules, then the hold and the
/// authorization (or the capture at once, for wallet and credit payments).
extension PaymentDecision {
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
    mutating func answeredBefore(requestID: String?, fingerprint: String, payerID: String?,
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
    mutating func authorize(_ request: PaymentRequest, _ message: PaymentRequestMessage, fingerprint: String) throws {
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
            if request.settlement.settlementMode == .installments, let count = request.settlement.installments,
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
            if let rejection = try repaymentTargetRejection(request) { return try refuse(rejection) }
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
        if let target = request.repaysPaymentID {
            try PaymentTables.setRepaymentTarget(db, repaymentID: payment.paymentID, paymentID: target)
        }
        try emitEvent(for: payment, type: .authorized)
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
}
