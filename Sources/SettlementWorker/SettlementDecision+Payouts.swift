import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamRuntime

/// Payout dates, batches and payouts: money becoming available, batches closing, the bank's answers,
/// queries and stuck reports.
extension SettlementDecision {
    // MARK: the timer

    /// Moves payee money whose payout date has come from pending to available, where it waits
    /// as a payee item for its batch.
    mutating func releaseDue() throws {
        for release in try SettlementTables.dueReleases(db, now: context.timestamp, limit: 1_000) {
            let amount = release.amount - release.reversed
            if amount > 0, let currency = Currency.named(release.currency) {
                let role = PayeeRole(rawValue: release.role) ?? .merchant
                let money = Money(minorUnits: amount, currency: currency)
                try book(PostingID("available:\(release.id)"), entries: [
                    Entry(account: Self.payeeAccount("pending", role, release.payee, currency), amount: money),
                    Entry(account: Self.payeeAccount("available", role, release.payee, currency), amount: try money.negated()),
                ])
                try SettlementTables.insert(db, item: .init(
                    role: role.rawValue, payee: release.payee, merchantID: release.merchantID, currency: currency.code, kind: "release",
                    amount: amount, payerID: release.payerID, paymentID: release.paymentID, reference: nil,
                    availableOn: release.availableOn, availableAt: release.availableAt))
            }
            try SettlementTables.setRelease(db, id: release.id, reversed: release.reversed, status: "available")
        }
    }

    /// Closes a batch for every payee with money that became available since its last batch:
    /// all its open lines (releases, refunds after release, failed or returned payouts, lines of
    /// held batches). A positive total at or above the currency's minimum is closed and paid out
    /// (`batch.closed`, `payout.sent`, a `pay` instruction on `payouts.requests`); otherwise the
    /// batch is held with its reason and its lines wait for the payee's next money.
    mutating func closeBatches() throws {
        let now = context.timestamp
        for group in try SettlementTables.groupsToBatch(db, now: now, limit: 1_000) {
            guard let currency = Currency.named(group.currency), let role = PayeeRole(rawValue: group.role) else { continue }
            let items = try SettlementTables.openItems(db, merchant: group.merchant, role: group.role, payee: group.payee,
                                                       currency: group.currency, now: now)
            guard !items.isEmpty else { continue }
            let total = items.reduce(Int64(0)) { $0 + $1.amount }
            let minimum = max(1, stage.settings.payoutMinimums[group.currency] ?? 1)
            let payoutDate = items.map(\.availableOn).max() ?? String(now.prefix(10))
            let money = Money(minorUnits: total, currency: currency)
            var reason: String?
            if total <= 0 {
                reason = total == 0 ? "nothing to pay: the lines net to zero"
                    : "negative balance \(money.formatted) carried until later money covers it"
            } else if total < minimum {
                reason = "below the minimum payout of \(Money(minorUnits: minimum, currency: currency).formatted)"
            }
            let batch = try SettlementTables.insertBatch(db, role: group.role, payee: group.payee, merchant: group.merchant,
                                                         currency: group.currency, payoutDate: payoutDate, amount: total,
                                                         status: reason == nil ? "closed" : "held", reason: reason, closedAt: now)
            try SettlementTables.assign(db, items: items.map(\.id), batch: batch, closed: reason == nil)
            let batchID = "b:\(MessageID.part(group.merchant)):\(batch)"
            let payoutID = reason == nil ? "po:\(MessageID.part(group.merchant)):\(batch)" : nil
            func event(_ type: String, sequence: Int, status: String, lines: [PayoutLine]? = nil) -> PayoutEvent {
                PayoutEvent(eventId: "\(batchID):\(sequence)", sequence: sequence, occurredAt: now, type: type, batchId: batchID,
                            payoutId: payoutID, payeeId: group.payee, payeeRole: group.role, merchantId: group.merchant, amount: total,
                            currency: group.currency, payoutDate: payoutDate, status: status, reason: reason, lines: lines)
            }
            let closed = event("batch.closed", sequence: 1, status: reason == nil ? "closed" : "held", lines: items.map(\.line))
            try context.emit(closed, topic: stage.topics.settlementEvents, key: group.merchant, eventID: closed.eventId)
            guard let payoutID else { continue }
            // The money leaves what the payee has available and is on its way.
            try book(PostingID("batch:\(batch)"), entries: [
                Entry(account: Self.payeeAccount("available", role, group.payee, currency), amount: money),
                Entry(account: Self.payeeAccount("payout", role, group.payee, currency), amount: try money.negated()),
            ])
            try SettlementTables.setPayout(db, batch: batch, payoutID: payoutID, sentAt: now,
                                           nextQueryAt: Wire.timestamp(context.now.addingTimeInterval(stage.settings.payoutQueryAfterSeconds)))
            let instruction = PayoutRequest(requestType: "pay", payoutId: payoutID, batchId: batchID, payeeId: group.payee,
                                            payeeRole: group.role, merchantId: group.merchant, amount: total, currency: group.currency,
                                            payoutDate: payoutDate, requestedAt: now)
            try context.emit(instruction, topic: stage.topics.payoutRequests, key: group.merchant, eventID: "pr:\(payoutID):pay:0")
            let sent = event("payout.sent", sequence: 2, status: "sent")
            try context.emit(sent, topic: stage.topics.settlementEvents, key: group.merchant, eventID: sent.eventId)
        }
    }

    // MARK: payouts

    /// The bank's answer about a payout. A payout only moves forward (`PayoutStatus.next`): a
    /// duplicate, late or out-of-order answer changes nothing. Paid money leaves for the bank;
    /// failed or returned money goes back to the payee as a line of its next batch, available on
    /// the next business day; `unknown` (the bank never received it) sends the instruction again.
    mutating func answer(_ confirmation: PayoutConfirmation) throws {
        guard var payout = try SettlementTables.payout(db, id: confirmation.payoutId) else {
            throw DeadLetter(code: "unknown_payout", message: "answer for unknown payout \(confirmation.payoutId)")
        }
        guard confirmation.amount == payout.amount, confirmation.currency == payout.currency else {
            throw DeadLetter(code: "payout_mismatch", message: "the bank answered \(confirmation.amount) \(confirmation.currency) for payout "
                + "\(payout.payoutID) of \(payout.amount) \(payout.currency); nothing changed, needs review")
        }
        if confirmation.status == "unknown" {
            guard payout.status == .sent else { return }
            payout.queries += 1
            try SettlementTables.update(db, payout: payout)
            try instruct(payout, "pay", attempt: payout.queries)
            return
        }
        guard let answer = PayoutStatus(rawValue: confirmation.status), answer != .sent else {
            throw DeadLetter(code: "invalid_confirmation", message: "payout answer status '\(confirmation.status)' is not one of paid, failed, "
                + "returned, unknown")
        }
        guard payout.status.next(on: answer) != nil else {
            context.logger.info("payout answer changes nothing", metadata: [
                "payout.id": "\(payout.payoutID)", "payout.status": "\(payout.status.rawValue)", "answer": "\(answer.rawValue)"])
            return
        }
        guard let currency = Currency.named(payout.currency), let role = PayeeRole(rawValue: payout.role) else {
            throw DeadLetter(code: "corrupt_state", message: "payout \(payout.payoutID) in \(payout.currency) to a \(payout.role)")
        }
        let money = Money(minorUnits: payout.amount, currency: currency)
        payout.bankReference = confirmation.bankReference ?? payout.bankReference
        payout.nextQueryAt = nil
        if payout.status == .sent && (answer == .paid || answer == .returned) {
            // Paid: the payee's money leaves for the bank.
            try book(PostingID("payout_paid:\(payout.batch)"), entries: [
                Entry(account: Self.payeeAccount("payout", role, payout.payee, currency), amount: money),
                Entry(account: Self.bank(currency), amount: try money.negated()),
            ])
            payout.status = .paid
            try emit(&payout, "payout.confirmed")
        }
        if answer == .failed || answer == .returned {
            // Back to the payee: from the payout on its way (failed) or from the bank (returned).
            try book(PostingID("payout_\(answer.rawValue):\(payout.batch)"), entries: [
                Entry(account: answer == .failed ? Self.payeeAccount("payout", role, payout.payee, currency) : Self.bank(currency), amount: money),
                Entry(account: Self.payeeAccount("available", role, payout.payee, currency), amount: try money.negated()),
            ])
            let calendar = try stage.reference.merchant(payout.merchantID).map(Self.calendar(of:)) ?? Self.defaultCalendar
            var day = LocalDate(context.now, in: calendar.timeZone).adding(days: 1)
            while calendar.dayCount == .business && !calendar.isBusinessDay(day) { day = day.adding(days: 1) }
            try SettlementTables.insert(db, item: .init(
                role: payout.role, payee: payout.payee, merchantID: payout.merchantID, currency: payout.currency, kind: "payout_\(answer.rawValue)",
                amount: payout.amount, payerID: nil, paymentID: nil, reference: payout.payoutID, availableOn: day.description,
                availableAt: Wire.timestamp(Self.start(of: day, in: calendar.timeZone))))
            payout.status = answer
            payout.reason = confirmation.reason ?? answer.rawValue
            try emit(&payout, answer == .failed ? "payout.failed" : "payout.returned")
        }
        try SettlementTables.update(db, payout: payout)
    }

    /// Queries payouts the bank has not answered (backing off: each wait twice the last, up to
    /// the maximum), and reports those unanswered past `payout_stuck_after_seconds` once as
    /// `payout.stuck` for a person to act on; the payout stays `sent` and may still be answered.
    mutating func followPayouts() throws {
        let settings = stage.settings
        for var payout in try SettlementTables.payoutsToQuery(db, now: context.timestamp, limit: 1_000) {
            payout.queries += 1
            let wait = min(settings.payoutQueryAfterSeconds * pow(2, Double(payout.queries)), settings.payoutQueryMaxIntervalSeconds)
            payout.nextQueryAt = Wire.timestamp(context.now.addingTimeInterval(wait))
            try SettlementTables.update(db, payout: payout)
            try instruct(payout, "query", attempt: payout.queries)
        }
        let stuckBefore = Wire.timestamp(context.now.addingTimeInterval(-settings.payoutStuckAfterSeconds))
        for var payout in try SettlementTables.stuckPayouts(db, sentBefore: stuckBefore, limit: 1_000) {
            payout.stuckReported = true
            payout.reason = "no answer from the bank since \(payout.sentAt) after \(payout.queries) queries; needs a person"
            try emit(&payout, "payout.stuck", status: "stuck")
            try SettlementTables.update(db, payout: payout)
        }
    }

    /// An instruction about `payout` on `payouts.requests`, keyed by its merchant; each attempt
    /// has its own event id, so a re-sent instruction is published again.
    func instruct(_ payout: SettlementTables.Payout, _ type: String, attempt: Int) throws {
        let instruction = PayoutRequest(requestType: type, payoutId: payout.payoutID, batchId: payout.batchID, payeeId: payout.payee,
                                        payeeRole: payout.role, merchantId: payout.merchantID, amount: payout.amount, currency: payout.currency,
                                        payoutDate: payout.payoutDate, requestedAt: context.timestamp)
        try context.emit(instruction, topic: stage.topics.payoutRequests, key: payout.merchantID,
                         eventID: "pr:\(payout.payoutID):\(type):\(attempt)")
    }

    /// The payout's next event (its batch's next sequence).
    func emit(_ payout: inout SettlementTables.Payout, _ type: String, status: String? = nil) throws {
        payout.sequence += 1
        let event = PayoutEvent(eventId: "\(payout.batchID):\(payout.sequence)", sequence: payout.sequence, occurredAt: context.timestamp,
                                type: type, batchId: payout.batchID, payoutId: payout.payoutID, payeeId: payout.payee, payeeRole: payout.role,
                                merchantId: payout.merchantID, amount: payout.amount, currency: payout.currency,
                                payoutDate: payout.payoutDate, status: status ?? payout.status.rawValue, reason: payout.reason)
        try context.emit(event, topic: stage.topics.settlementEvents, key: payout.merchantID, eventID: event.eventId)
    }
}
