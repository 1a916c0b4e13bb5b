import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// The timer's part: query an unanswered authorization once, then expire it.
extension PaymentDecision {
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
        try emitEvent(for: payment, type: .expired, reason: "no_answer",
                      message: "the channel did not answer the authorization or the query; the hold was released")
        try LedgerTables.save(db, from: before, to: ledger)
    }
}
