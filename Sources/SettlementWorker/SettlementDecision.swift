import Foundation
import GRDB
import PaystreamDomain
import PaystreamWire
import PaystreamLedger
import PaystreamRuntime

/// What one settlement request (or one timer run) decides, inside the batch transaction: the
/// booking of a capture here; refunds, repayments and installments, and payouts in extensions.
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
            : Self.payeeAccount("pending", .merchant, merchant.merchantId, settlementCurrency)

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
                           account: Self.payeeAccount("available", .merchant, merchant.merchantId, settlementCurrency).rawValue,
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
            capturedAt: Wire.timestamp(capturedAt), bookedAt: context.timestamp, payerLocale: request.payerLocale)

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
        try Bool.fetchOne(db.hotStatement("SELECT 1 FROM ledger_posting WHERE posting_id = ?"), arguments: [id.rawValue]) ?? false
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
    static func merchantDeferred(_ merchant: String, _ currency: Currency) -> AccountID { payeeAccount("deferred", .merchant, merchant, currency) }

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
            reference: reference, payerLocale: line.payerLocale)
        try context.emit(event, topic: stage.topics.settlementEvents, key: line.merchantID, eventID: event.eventId)
    }
}
