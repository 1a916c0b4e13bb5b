import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore

/// The channel's answers: approvals and declines, amount mismatches, late captures, refund answers.
extension PaymentDecision {
    mutating func confirmation(_ confirmation: ChannelConfirmation, signer: String?) throws {
        guard var payment = try PaymentTables.payment(db, id: confirmation.paymentId) else {
            throw DeadLetter(code: "unknown_payment", message: "confirmation for unknown payment \(confirmation.paymentId)")
        }
        if let signer, signer != payment.method {
            // A connector's key answers for its own method only: the card connector's key cannot
            // capture an Alipay payment.
            throw DeadLetter(code: "bad_answer_seal", message: "answer sealed by '\(signer)' for payment \(payment.paymentID), "
                + "a \(payment.method) payment")
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
        // The answer must name the instruction this shard sent for it (`instruct` names them
        // `<payment>:<type>[:<refund>]`).
        if type != .refund, confirmation.channelRequestId != "\(payment.paymentID):\(type.rawValue)" {
            throw DeadLetter(code: "unknown_instruction", message: "\(type.rawValue) answer names instruction "
                + "\(confirmation.channelRequestId), not one sent for payment \(payment.paymentID)")
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
                try emitEvent(for: payment, type: .conflicted, reason: "amount_mismatch",
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
            try emitEvent(for: payment, type: .failed, reason: confirmation.reason ?? "declined",
                          message: confirmation.message ?? "declined by the channel")
            try LedgerTables.save(db, from: before, to: ledger)
        case (.approved, .expired), (.approved, .cancelled):
            guard state.lateCapture == nil else { return }  // the same late answer again
            // The channel cannot have taken more than it was asked for: an answer that says so is
            // parked for people rather than booked (and refunded) as said.
            guard confirmation.amount <= payment.amount, confirmation.currency == payment.currency else {
                throw DeadLetter(code: "answer_exceeds_instruction", message: "late capture of \(confirmation.amount) "
                    + "\(confirmation.currency) for payment \(payment.paymentID) of \(payment.amount) \(payment.currency)")
            }
            try lateCapture(confirmation, taken: Money(minorUnits: confirmation.amount, currency: reported),
                            state: state, payment: &payment)
        default:
            // A repeated or late answer for a payment already decided: no second effect.
            return
        }
    }

    /// The channel took money for a payment that had expired or been cancelled: record it, and
    /// give it back at once with an automatic refund to the channel.
    mutating func lateCapture(_ confirmation: ChannelConfirmation, taken: Money, state: PaymentState,
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
                                                 status: .requested, reason: "late_capture_reversal"), now: now)
        try emitEvent(for: payment, type: .lateCapture, reason: "late_capture",
                      message: "the channel took \(confirmation.amount) \(confirmation.currency) after the payment was "
                        + "\(payment.status.rawValue); an automatic refund was sent")
        try instruct(.refund, payment, amount: confirmation.amount, currency: confirmation.currency, suffix: refundID,
                     reason: "late_capture_reversal")
    }

    mutating func refundAnswer(_ confirmation: ChannelConfirmation, answer: ChannelAnswer, payment: inout PaymentRecord) throws {
        let prefix = "\(payment.paymentID):refund:"
        guard confirmation.channelRequestId.hasPrefix(prefix) else {
            throw DeadLetter(code: "unknown_refund", message: "refund answer for unknown instruction \(confirmation.channelRequestId)")
        }
        let suffix = String(confirmation.channelRequestId.dropFirst(prefix.count))
        let refundID = suffix == "late-capture" ? PaymentRecord.lateCaptureRefundID(payment.paymentID) : suffix
        guard var refund = try PaymentTables.refund(db, id: refundID) else {
            throw DeadLetter(code: "unknown_refund", message: "refund answer for unknown refund \(refundID)")
        }
        guard refund.paymentID == payment.paymentID else {
            throw DeadLetter(code: "unknown_instruction", message: "refund \(refundID) is not a refund of payment \(payment.paymentID)")
        }
        guard refund.status == .requested else { return }  // answered before
        if answer == .approved, confirmation.amount > refund.amount || confirmation.currency != refund.currency {
            throw DeadLetter(code: "answer_exceeds_instruction", message: "refund answer of \(confirmation.amount) \(confirmation.currency) "
                + "for refund \(refundID) of \(refund.amount) \(refund.currency)")
        }
        switch answer {
        case .approved:
            refund.status = .completed
            refund.channelReference = confirmation.channelReference
            try PaymentTables.updateRefund(db, refund, now: now)
        case .declined, .unknown:
            // The money did not go back: the payment keeps its refunded state (the refund was
            // granted), and people must resolve it with the channel — this event is the alert.
            refund.status = .failed
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
            try emitEvent(for: payment, type: .refundFailed, reason: confirmation.reason ?? "refund_\(answer.rawValue)",
                          message: "the channel did not refund \(refund.amount) \(refund.currency) (\(refundID)): "
                            + (confirmation.message ?? "no reason given") + "; needs review",
                          refund: refund.amount)
        }
    }
}
