import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamRuntime

/// Repayments of post-paid and installment payments, and the installments' due and overdue reports.
extension SettlementDecision {
    // MARK: repayments

    /// A payer's repayment of a post-paid or installment payment: the channel owes the money,
    /// the payer owes that much less. For installments it pays the oldest unpaid installment
    /// first; a paid installment releases its share of the merchant's net (`per_installment`).
    mutating func repay(_ request: SettlementRequest) throws {
        let postingID = PostingID("repayment:\(request.eventId)")
        guard var line = try bookedLine(for: request, as: "repayment", postingID: postingID) else { return }
        guard line.mode != SettlementMode.prepaid.rawValue else {
            throw DeadLetter(code: "not_credit_funded", message: "payment \(line.paymentID) is prepaid: there is nothing to repay")
        }
        let currency = try Self.currency(line.currency)
        let amount = Money(minorUnits: request.amount, currency: currency)
        let settlementCurrency = try Self.currency(line.settlementCurrency)
        var entries = [Entry(account: AccountID("clearing:\(request.method):\(currency.code)"), amount: amount),
                       Entry(account: AccountID("\(line.sourceAccount):\(currency.code)"), amount: try amount.negated())]

        var paidNow: [SettlementTables.InstallmentRow] = []
        var installments = try SettlementTables.installments(db, payer: line.payerID, payment: line.paymentID)
        var left = amount.minorUnits
        let calendar = line.payoutCalendar ?? Self.defaultCalendar
        for index in installments.indices where left > 0 && installments[index].status != "paid" && installments[index].status != "cancelled" {
            let paying = min(left, installments[index].amount - installments[index].paid)
            installments[index].paid += paying
            left -= paying
            guard installments[index].paid == installments[index].amount else { continue }
            installments[index].status = "paid"
            paidNow.append(installments[index])
            let share = installments[index].merchantShare
            if line.installmentFinancing == "per_installment", share > 0 {
                let money = Money(minorUnits: share, currency: settlementCurrency)
                entries += [Entry(account: Self.merchantDeferred(line.merchantID, settlementCurrency), amount: money),
                            Entry(account: Self.payeeAccount("pending", .merchant, line.merchantID, settlementCurrency), amount: try money.negated())]
                let date = calendar.payoutDate(forCaptureAt: context.now)
                try SettlementTables.addRelease(db, payer: line.payerID, payment: line.paymentID, merchant: line.merchantID,
                                                currency: settlementCurrency.code, amount: share, availableOn: date,
                                                availableAt: Self.start(of: date, in: calendar.timeZone))
            }
        }
        for row in installments { try SettlementTables.update(db, installment: row, payer: line.payerID, payment: line.paymentID) }
        try book(postingID, entries: entries)

        line.repaid += amount.minorUnits
        let outstanding = line.gross - line.reversed - line.repaid
        let reference = request.repaymentId ?? request.sourceEventId
        if paidNow.isEmpty {
            line.sequence += 1
            try SettlementTables.update(db, line)
            try emit(for: line, type: "settlement.repaid", amount: amount.minorUnits, sourceEventID: request.eventId,
                     outstanding: outstanding, reference: reference)
        }
        for row in paidNow {
            line.sequence += 1
            try SettlementTables.update(db, line)
            try emit(for: line, type: "installment.paid", amount: row.amount, sourceEventID: request.eventId, installment: row.info,
                     outstanding: outstanding, reference: reference)
        }
    }

    /// The booked line a refund or repayment acts on, in its currency; nil when its posting is
    /// booked already (handed over again after the inbox forgot it).
    func bookedLine(for request: SettlementRequest, as kind: String, postingID: PostingID) throws -> SettlementTables.Line? {
        if try Self.isBooked(db, postingID) { return nil }
        guard let line = try SettlementTables.line(db, payer: request.payerId, payment: request.paymentId) else {
            throw DeadLetter(code: "unknown_settlement", message: "\(kind) of payment \(request.paymentId) of payer \(request.payerId), "
                + "which settlement never booked")
        }
        guard request.currency == line.currency else {
            throw DeadLetter(code: "currency_mismatch", message: "\(kind) in \(request.currency) of a payment booked in \(line.currency)")
        }
        return line
    }

    /// `installment.due` for installments whose due date has come, `installment.overdue` for
    /// those still unpaid after the grace days.
    mutating func reportInstallments() throws {
        for (status, next, type) in [("scheduled", "due", "installment.due"), ("due", "overdue", "installment.overdue")] {
            for (payer, payment, var row) in try SettlementTables.timedInstallments(db, status: status, now: context.timestamp, limit: 1_000) {
                guard var line = try SettlementTables.line(db, payer: payer, payment: payment) else { continue }
                row.status = next
                try SettlementTables.update(db, installment: row, payer: payer, payment: payment)
                line.sequence += 1
                try SettlementTables.update(db, line)
                try emit(for: line, type: type, amount: row.amount - row.paid, sourceEventID: line.sourceEventID, installment: row.info,
                         outstanding: line.gross - line.reversed - line.repaid)
            }
        }
    }
}
