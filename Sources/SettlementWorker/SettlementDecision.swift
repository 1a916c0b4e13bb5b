import Foundation
import GRDB
import PaystreamDomain
import PaystreamLedger
import PaystreamRuntime

/// What one settlement request (or one timer run) decides, inside the batch transaction.
struct SettlementDecision {
    let stage: SettlementStage
    let context: StageContext

    var db: Database { context.db }

    /// FX conversions round half to even (docs/domain-rules.md).
    static let fxRounding = RoundingMode.halfEven
    /// The payout terms of a merchant whose reference data has none: T+1 business days, UTC.
    static let defaultCalendar = try! PayoutCalendar(delayDays: 1, timeZone: .gmt)

    // MARK: booking a capture

    /// Prices a captured payment from the merchant's current reference data, books it, and
    /// stores every number it used with the line.
    mutating func book(_ request: SettlementRequest) throws {
        if try SettlementTables.line(db, payer: request.payerId, payment: request.paymentId) != nil {
            return  // handed over again after the inbox forgot it: booked once already
        }
        let currency = try Self.currency(request.currency)
        guard let mode = request.settlement.settlementMode else {
            throw DeadLetter(code: "invalid_settlement_mode", message: "settlement mode '\(request.settlement.mode)' is not one of "
                + SettlementMode.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let merchant = stage.reference.merchant(request.merchantId) else {
            throw DeadLetter(code: "unknown_merchant", message: "merchant \(request.merchantId) is not on reference.merchants; "
                + "the capture is parked until it is (replay it from the dead-letter topic)")
        }
        let allowed = Set(merchant.suppliers ?? [])
        if let stranger = request.splits.first(where: { !allowed.contains($0.partyId) }) {
            throw DeadLetter(code: "split_party_not_allowed", message: "\(stranger.partyId) is not a supplier of merchant \(merchant.merchantId)")
        }
        let feeTerms = merchant.fee(for: request.method)
        let feePlan = try merchant.feePlan(for: request.method)
        let commissionPlan = try merchant.commissionPlan()
        let gross = Money(minorUnits: request.amount, currency: currency)
        let breakdown = try SettlementBreakdown(settling: gross, feePlan: feePlan, commissionPlan: commissionPlan,
                                                splitPlan: try SplitPlan(splits: request.splits))
        let settlementCurrency = try Self.currency(request.settlementCurrency ?? merchant.settlementCurrency)
        let calendar = try Self.calendar(of: merchant)
        let capturedAt = Wire.parseTimestamp(request.capturedAt) ?? context.now
        let financing = mode == .installments ? (merchant.installmentFinancing ?? "upfront") : nil

        // The suppliers' and the merchant's parts, in the settlement currency.
        let payees = breakdown.splits.map(\.amount) + [breakdown.merchantNet]
        var settled = payees.map(\.minorUnits)
        var conversion: FXConversion?
        var snapshot: FXSnapshot?
        if settlementCurrency.code != currency.code {
            guard let reference = stage.reference.fxRate(base: currency.code, quote: settlementCurrency.code),
                  let rate = reference.exchangeRate else {
                throw DeadLetter(code: "missing_fx_rate", message: "no usable \(currency.code)/\(settlementCurrency.code) rate on "
                    + "reference.fx-rates to settle payment \(request.paymentId) in \(settlementCurrency.code)")
            }
            let converting = try Money.sum(payees, currency: currency)
            let converted = try rate.convert(converting, rounding: Self.fxRounding)
            conversion = converted
            snapshot = FXSnapshot(base: currency.code, quote: settlementCurrency.code, rate: rate.decimalString, source: rate.source,
                                  asOf: Wire.timestamp(rate.asOf), rounding: Self.fxRounding.rawValue,
                                  sourceAmount: converting.minorUnits, convertedAmount: converted.converted.minorUnits)
            // One conversion of the whole, shared by the unconverted amounts (largest remainder).
            settled = converting.isZero ? payees.map { _ in 0 }
                : try converted.converted.allocated(byWeights: payees.map(\.minorUnits)).map(\.minorUnits)
        }

        let merchantNetSettled = settled.last ?? 0
        let sourceAccount = mode == .prepaid ? "clearing:\(request.method)" : "receivable:\(request.payerId)"
        let perInstallment = financing == "per_installment"
        let merchantAccount = perInstallment ? Self.merchantDeferred(merchant.merchantId, settlementCurrency)
            : Self.merchantPending(merchant.merchantId, settlementCurrency)

        var parts: [SettlementTables.Part] = [
            .init(position: 0, kind: .fee, party: "", account: Self.feeRevenue(currency).rawValue, booked: breakdown.fee.minorUnits,
                  reversed: 0, settledCurrency: currency.code, bookedSettled: breakdown.fee.minorUnits, reversedSettled: 0),
            .init(position: 1, kind: .commission, party: "", account: Self.commissionRevenue(currency).rawValue,
                  booked: breakdown.commission.minorUnits, reversed: 0, settledCurrency: currency.code,
                  bookedSettled: breakdown.commission.minorUnits, reversedSettled: 0),
        ]
        for (index, split) in breakdown.splits.enumerated() {
            parts.append(.init(position: parts.count, kind: .supplier, party: split.partyId,
                               account: Self.payeeAccount("available", .supplier, split.partyId, settlementCurrency).rawValue,
                               booked: split.amount.minorUnits,
                               reversed: 0, settledCurrency: settlementCurrency.code, bookedSettled: settled[index], reversedSettled: 0))
        }
        parts.append(.init(position: parts.count, kind: .merchant, party: merchant.merchantId,
                           account: Self.merchantAvailable(merchant.merchantId, settlementCurrency).rawValue,
                           booked: breakdown.merchantNet.minorUnits, reversed: 0, settledCurrency: settlementCurrency.code,
                           bookedSettled: merchantNetSettled, reversedSettled: 0))

        // Debit where the money comes from; credit each part where it is owed.
        let source = AccountID("\(sourceAccount):\(currency.code)")
        let baseEntries = [Entry(account: source, amount: gross),
                           Entry(account: Self.feeRevenue(currency), amount: try breakdown.fee.negated()),
                           Entry(account: Self.commissionRevenue(currency), amount: try breakdown.commission.negated())]
        var payeeEntries: [Entry] = []
        for part in parts where part.kind == .supplier || part.kind == .merchant {
            let account = part.kind == .merchant ? merchantAccount : Self.payeeAccount("pending", .supplier, part.party, settlementCurrency)
            payeeEntries.append(Entry(account: account, amount: Money(minorUnits: -part.bookedSettled, currency: settlementCurrency)))
        }
        let postingID = PostingID("booking:\(MessageID.part(request.payerId)):\(MessageID.part(request.paymentId))")
        try book(postingID, conversion: conversion, baseEntries: baseEntries, quoteEntries: payeeEntries)

        let pricing = SettlementPricing(feeBasisPoints: feePlan.basisPoints, feeFixed: feePlan.fixed,
                                        feeOnRefund: feeTerms.returnedOnRefund ? "return" : "keep",
                                        commissionBasisPoints: commissionPlan.basisPoints, commissionFixed: commissionPlan.fixed)
        var line = SettlementTables.Line(
            payerID: request.payerId, paymentID: request.paymentId, merchantID: merchant.merchantId, orderID: request.orderId,
            mode: mode.rawValue, method: request.method, currency: currency.code, gross: gross.minorUnits, reversed: 0, repaid: 0,
            settlementCurrency: settlementCurrency.code, sourceAccount: sourceAccount, pricing: pricing, fx: snapshot,
            payoutCalendar: calendar, installmentFinancing: financing, sequence: 1, sourceEventID: request.eventId,
            capturedAt: Wire.timestamp(capturedAt), bookedAt: context.timestamp)

        // Suppliers are paid on the capture's payout date in every mode; the merchant too, unless
        // its net waits for installments.
        let payoutDate = calendar.payoutDate(forCaptureAt: capturedAt)
        let availableAt = Self.start(of: payoutDate, in: calendar.timeZone)
        for part in parts where part.kind == .supplier {
            try SettlementTables.addRelease(db, payer: line.payerID, payment: line.paymentID, merchant: line.merchantID, role: "supplier",
                                            payee: part.party, currency: settlementCurrency.code, amount: part.bookedSettled,
                                            availableOn: payoutDate, availableAt: availableAt)
        }
        var availableOn: LocalDate?
        if !perInstallment {
            availableOn = payoutDate
            try SettlementTables.addRelease(db, payer: line.payerID, payment: line.paymentID, merchant: line.merchantID,
                                            currency: settlementCurrency.code, amount: merchantNetSettled, availableOn: payoutDate,
                                            availableAt: availableAt)
        }
        try SettlementTables.insert(db, line)
        try SettlementTables.insert(db, parts: parts, payer: line.payerID, payment: line.paymentID)

        try emit(for: line, type: "settlement.booked", eventID: MessageID.settlementBooked(payer: line.payerID, payment: line.paymentID),
                 amount: gross.minorUnits, parts: parts.map { ($0, $0.booked, $0.bookedSettled) },
                 sourceEventID: request.eventId, availableOn: availableOn?.description)

        if mode == .installments {
            let count = request.settlement.installments ?? 0
            let schedule = try InstallmentSchedule(principal: gross, count: count, startingAt: capturedAt, in: calendar.timeZone)
            // Per installment, the merchant's net is released in the installments' proportions.
            let shares = perInstallment && merchantNetSettled > 0
                ? try Money(minorUnits: merchantNetSettled, currency: settlementCurrency)
                    .allocated(byWeights: schedule.installments.map(\.principal.minorUnits)).map(\.minorUnits)
                : schedule.installments.map { _ in Int64(0) }
            let rows = schedule.installments.enumerated().map { index, installment in
                SettlementTables.InstallmentRow(
                    number: installment.number, dueDate: installment.dueDate.description,
                    dueAt: Wire.timestamp(Self.start(of: installment.dueDate, in: calendar.timeZone)),
                    overdueAt: Wire.timestamp(Self.start(of: installment.dueDate.adding(days: 1 + stage.settings.installmentGraceDays),
                                                         in: calendar.timeZone)),
                    amount: installment.amount.minorUnits, paid: 0, merchantShare: shares[index], status: "scheduled")
            }
            try SettlementTables.insert(db, installments: rows, payer: line.payerID, payment: line.paymentID)
            line.sequence += 1
            try SettlementTables.update(db, line)
            try emit(for: line, type: "installment.scheduled", amount: gross.minorUnits, sourceEventID: request.eventId,
                     installments: rows.map(\.info), outstanding: gross.minorUnits)
        }
    }

    // MARK: refunds

    /// Reverses `request.amount` of a booked payment: each part of the stored breakdown gives back
    /// its pro-rata share (`SettlementReversal`), converted parts at the original snapshot; the
    /// merchant's share comes from money not yet released, then pending, then available (which
    /// may go negative: the merchant owes it to the next payout).
    mutating func reverse(_ request: SettlementRequest) throws {
        let postingID = PostingID("refund:\(request.eventId)")
        guard var line = try bookedLine(for: request, as: "refund", postingID: postingID) else { return }
        let currency = try Self.currency(line.currency)
        let settlementCurrency = try Self.currency(line.settlementCurrency)
        var parts = try SettlementTables.parts(db, payer: line.payerID, payment: line.paymentID)
        let keepsFee = line.pricing?.feeOnRefund == "keep"
        let amount = Money(minorUnits: request.amount, currency: currency)
        let shares = try SettlementReversal.shares(of: amount, parts: parts.map {
            SettlementReversal.Part(booked: $0.booked, reversed: $0.reversed, reversible: !($0.kind == .fee && keepsFee),
                                    isMerchant: $0.kind == .merchant)
        }).map(\.minorUnits)
        var settledShares: [Int64] = []
        for (index, part) in parts.enumerated() {
            let settled = part.settledCurrency == line.currency && line.fx == nil ? shares[index]
                : try SettlementReversal.settledShare(booked: part.booked, bookedSettled: part.bookedSettled,
                                                      reversedBefore: part.reversed, reversedSettledBefore: part.reversedSettled,
                                                      share: shares[index])
            settledShares.append(settled)
            parts[index].reversed += shares[index]
            parts[index].reversedSettled += settled
        }

        // Where each payee's share is taken from: the merchant's deferred money first (the last
        // installments' shares), then the payee's money still pending for this payment (newest
        // first), then what is available to it — which may go below zero, carried into its next
        // batch as a negative line.
        var installments = try SettlementTables.installments(db, payer: line.payerID, payment: line.paymentID)
        var payeeEntries: [Int: [Entry]] = [:]
        for (index, part) in parts.enumerated() where part.kind == .supplier || part.kind == .merchant {
            var left = settledShares[index]
            var entries: [Entry] = []
            func take(_ amount: Int64, from account: AccountID) {
                guard amount != 0 else { return }
                entries.append(Entry(account: account, amount: Money(minorUnits: amount, currency: settlementCurrency)))
                left -= amount
            }
            let role: PayeeRole = part.kind == .merchant ? .merchant : .supplier
            if role == .merchant, line.installmentFinancing == "per_installment" {
                for row in installments.indices.reversed() where left > 0 && installments[row].status != "paid" {
                    let taken = min(left, installments[row].merchantShare)
                    installments[row].merchantShare -= taken
                    take(taken, from: Self.merchantDeferred(line.merchantID, settlementCurrency))
                }
            }
            for var release in try SettlementTables.pendingReleases(db, payer: line.payerID, payment: line.paymentID,
                                                                    role: role.rawValue, payee: part.party) where left > 0 {
                let taken = min(left, release.amount - release.reversed)
                release.reversed += taken
                try SettlementTables.setRelease(db, id: release.id, reversed: release.reversed, status: release.status)
                take(taken, from: Self.payeeAccount("pending", role, part.party, settlementCurrency))
            }
            if left != 0 && part.account.hasPrefix("\(role.rawValue)_available:") {
                // Already available: the batch that pays it nets the refund.
                let today = LocalDate(context.now, in: (line.payoutCalendar ?? Self.defaultCalendar).timeZone)
                try SettlementTables.insert(db, item: .init(
                    role: role.rawValue, payee: part.party, merchantID: line.merchantID, currency: settlementCurrency.code, kind: "refund",
                    amount: -left, payerID: line.payerID, paymentID: line.paymentID, reference: request.eventId,
                    availableOn: today.description, availableAt: context.timestamp))
            }
            // Legacy lines keep their money on the account they were booked to.
            take(left, from: AccountID(part.account))
            payeeEntries[index] = entries
        }

        // The payer owes less: unpaid installments are lowered from the last one.
        var unpaidLeft = amount.minorUnits
        for index in installments.indices.reversed() where unpaidLeft > 0 && installments[index].status != "paid" {
            let lowered = min(unpaidLeft, installments[index].amount - installments[index].paid)
            installments[index].amount -= lowered
            unpaidLeft -= lowered
            if installments[index].amount == installments[index].paid {
                installments[index].status = installments[index].amount == 0 ? "cancelled" : "paid"
            }
        }
        for row in installments { try SettlementTables.update(db, installment: row, payer: line.payerID, payment: line.paymentID) }

        let sourceName = line.sourceAccount.isEmpty ? "clearing:\(request.method)" : line.sourceAccount
        var baseEntries = [Entry(account: AccountID("\(sourceName):\(currency.code)"), amount: try amount.negated())]
        var quoteEntries: [Entry] = []
        for (index, part) in parts.enumerated() {
            switch part.kind {
            case .fee, .commission:
                baseEntries.append(Entry(account: AccountID(part.account), amount: Money(minorUnits: shares[index], currency: currency)))
            case .supplier, .merchant:
                quoteEntries += payeeEntries[index] ?? []
            }
        }
        var conversion: FXConversion?
        if let fx = line.fx {
            let rate = try Self.rate(fx)
            let reversedBase = zip(parts, shares).reduce(Int64(0)) { $0 + ($1.0.kind == .supplier || $1.0.kind == .merchant ? $1.1 : 0) }
            conversion = try rate.convert(Money(minorUnits: -reversedBase, currency: currency), rounding: Self.fxRounding)
        }
        try book(postingID, conversion: conversion, baseEntries: baseEntries, quoteEntries: quoteEntries)

        line.reversed += amount.minorUnits
        line.sequence += 1
        try SettlementTables.update(db, line)
        try SettlementTables.update(db, parts: parts, payer: line.payerID, payment: line.paymentID)
        try SettlementTables.recordReversal(db, eventID: request.eventId, payer: line.payerID, payment: line.paymentID,
                                            amount: amount.minorUnits, parts: parts.indices.map { (parts[$0], shares[$0], settledShares[$0]) },
                                            at: context.timestamp)
        try emit(for: line, type: "settlement.refunded", amount: amount.minorUnits,
                 parts: parts.indices.map { (parts[$0], shares[$0], settledShares[$0]) }, sourceEventID: request.eventId,
                 reversedTotal: line.reversed, outstanding: line.mode == "prepaid" ? nil : line.gross - line.reversed - line.repaid,
                 reference: request.sourceEventId)
    }

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
                            Entry(account: Self.merchantPending(line.merchantID, settlementCurrency), amount: try money.negated())]
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

    // MARK: ledger

    /// Books a posting in one currency, opening its accounts on first use.
    func book(_ id: PostingID, entries: [Entry]) throws {
        let entries = entries.filter { !$0.amount.isZero }
        guard !entries.isEmpty else { return }
        var ledger = try LedgerTables.load(db, accounts: entries.map(\.account), holds: [])
        let before = ledger
        for entry in entries where ledger.accounts[entry.account] == nil { try ledger.open(Self.account(entry.account, entry.amount.currency)) }
        try ledger.post(Posting(id: id, entries: entries, postedAt: context.now))
        try LedgerTables.save(db, from: before, to: ledger)
    }

    /// Books a posting: in one currency when `conversion` is nil (base and quote entries
    /// together), else across the conversion's two currencies through the FX accounts.
    func book(_ id: PostingID, conversion: FXConversion?, baseEntries: [Entry], quoteEntries: [Entry]) throws {
        guard let conversion else { return try book(id, entries: baseEntries + quoteEntries) }
        let base = conversion.source.currency, quote = conversion.converted.currency
        let baseEntries = baseEntries.filter { !$0.amount.isZero }, quoteEntries = quoteEntries.filter { !$0.amount.isZero }
        let named = (baseEntries + quoteEntries).map(\.account)
        var ledger = try LedgerTables.load(db, accounts: named + [.fxPosition(base), .fxPosition(quote), .fxRounding(quote)], holds: [])
        let before = ledger
        for entry in baseEntries + quoteEntries where ledger.accounts[entry.account] == nil {
            try ledger.open(Self.account(entry.account, entry.amount.currency))
        }
        try ledger.postConversion(conversion, id: id, baseEntries: baseEntries, quoteEntries: quoteEntries, postedAt: context.now)
        try LedgerTables.save(db, from: before, to: ledger)
    }

    static func isBooked(_ db: Database, _ id: PostingID) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM ledger_posting WHERE posting_id = ?"), arguments: [id.rawValue]) ?? false
    }

    /// What the channel owes (`clearing:`) and what payers owe (`receivable:`) are assets,
    /// debit-normal; everything owed to merchants and suppliers and what the platform earns is
    /// credit-normal. No account here has a floor: a merchant may owe (a refund after payout).
    static func account(_ id: AccountID, _ currency: Currency) -> Account {
        let debit = id.rawValue.hasPrefix("clearing:") || id.rawValue.hasPrefix("receivable:") || id.rawValue.hasPrefix("bank:")
        return Account(id: id, currency: currency, normalSide: debit ? .debit : .credit)
    }

    /// Who a payout pays.
    enum PayeeRole: String {
        case merchant, supplier
    }

    /// `<role>_<stage>:<payee>:<CCY>`: the payee's money `pending` its payout date, `available`
    /// for a batch, or in a `payout` on its way.
    static func payeeAccount(_ stage: String, _ role: PayeeRole, _ payee: String, _ currency: Currency) -> AccountID {
        AccountID("\(role.rawValue)_\(stage):\(payee):\(currency.code)")
    }

    /// The platform's settlement bank account: payouts leave it, returned ones come back.
    static func bank(_ currency: Currency) -> AccountID { AccountID("bank:\(currency.code)") }

    static func feeRevenue(_ currency: Currency) -> AccountID { AccountID("fee_revenue:\(currency.code)") }
    static func commissionRevenue(_ currency: Currency) -> AccountID { AccountID("commission_revenue:\(currency.code)") }
    static func merchantPending(_ merchant: String, _ currency: Currency) -> AccountID { AccountID("merchant_pending:\(merchant):\(currency.code)") }
    static func merchantDeferred(_ merchant: String, _ currency: Currency) -> AccountID { AccountID("merchant_deferred:\(merchant):\(currency.code)") }
    static func merchantAvailable(_ merchant: String, _ currency: Currency) -> AccountID {
        AccountID("merchant_available:\(merchant):\(currency.code)")
    }

    // MARK: helpers

    static func currency(_ code: String) throws -> Currency {
        guard let currency = Currency.named(code) else {
            throw DeadLetter(code: "unknown_currency", message: "currency '\(code)' is not ISO 4217")
        }
        return currency
    }

    static func calendar(of merchant: MerchantReference) throws -> PayoutCalendar {
        guard let payout = merchant.payout else { return defaultCalendar }
        guard let zone = TimeZone(identifier: payout.timeZone) else {
            throw DeadLetter(code: "invalid_merchant", message: "merchant \(merchant.merchantId): time zone '\(payout.timeZone)' is unknown")
        }
        return try PayoutCalendar(delayDays: payout.delayDays, dayCount: payout.businessDays == false ? .calendar : .business,
                                  cutoff: TimeOfDay(payout.cutoff), timeZone: zone,
                                  holidays: Set((payout.holidays ?? []).compactMap(LocalDate.init)))
    }

    static func rate(_ fx: FXSnapshot) throws -> ExchangeRate {
        guard let base = Currency.named(fx.base), let quote = Currency.named(fx.quote), let asOf = Wire.parseTimestamp(fx.asOf) else {
            throw DeadLetter(code: "corrupt_state", message: "stored FX snapshot \(fx.base)/\(fx.quote) cannot be read")
        }
        do { return try ExchangeRate(base: base, quote: quote, rate: fx.rate, source: fx.source, asOf: asOf) } catch {
            throw DeadLetter(code: "corrupt_state", message: "stored FX snapshot: \(error)")
        }
    }

    /// The first moment of `date` on the wall clock of `zone`.
    static func start(of date: LocalDate, in zone: TimeZone) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let components = DateComponents(year: date.year, month: date.month, day: date.day)
        return calendar.date(from: components).map { calendar.startOfDay(for: $0) } ?? Date(timeIntervalSince1970: 0)
    }

    // MARK: events

    /// Emits a settlement event of `line` (its current sequence), keyed by merchant. `parts`
    /// gives the amounts to show per part: booked ones, or a refund's shares.
    func emit(for line: SettlementTables.Line, type: String, eventID: String? = nil, amount: Int64,
              parts: [(SettlementTables.Part, Int64, Int64)] = [], sourceEventID: String, availableOn: String? = nil,
              installments: [InstallmentInfo]? = nil, installment: InstallmentInfo? = nil, reversedTotal: Int64? = nil,
              outstanding: Int64? = nil, reference: String? = nil) throws {
        func sum(_ kind: SettlementTables.PartKind, settled: Bool = false) -> Int64 {
            parts.filter { $0.0.kind == kind }.reduce(0) { $0 + (settled ? $1.2 : $1.1) }
        }
        let suppliers = parts.filter { $0.0.kind == .supplier }
        let event = SettlementEvent(
            eventId: eventID ?? MessageID.settlementEvent(payer: line.payerID, payment: line.paymentID, sequence: line.sequence),
            sequence: line.sequence, occurredAt: context.timestamp, type: type, paymentId: line.paymentID, orderId: line.orderID,
            payerId: line.payerID, merchantId: line.merchantID, amount: amount, currency: line.currency, fee: sum(.fee),
            commission: sum(.commission), net: sum(.merchant), splits: suppliers.map { Split(partyId: $0.0.party, amount: $0.1) },
            settlementMode: line.mode, sourceEventId: sourceEventID, pricing: parts.isEmpty ? nil : line.pricing,
            settlementCurrency: line.settlementCurrency, netSettled: parts.isEmpty ? nil : sum(.merchant, settled: true),
            splitsSettled: parts.isEmpty ? nil : suppliers.map { Split(partyId: $0.0.party, amount: $0.2) },
            fx: parts.isEmpty ? nil : line.fx, availableOn: availableOn, installmentFinancing: line.installmentFinancing,
            installments: installments, installment: installment, reversedTotal: reversedTotal, outstanding: outstanding,
            reference: reference)
        try context.emit(event, topic: stage.topics.settlementEvents, key: line.merchantID, eventID: event.eventId)
    }
}
