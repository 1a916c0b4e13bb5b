import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamRuntime

/// Refunds: the stored breakdown taken back pro rata, each payee's share from where its money is now.
extension SettlementDecision {
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
}
