import Foundation
import GRDB
import PaystreamAdmin
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamLedger
import PaystreamReference
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import SettlementWorker
import Synchronization
import Testing

/// Reference data a test can change while the stage runs (to show that booked lines keep their terms).
final class ChangingReference: ReferenceLookup {
    private let data: Mutex<StaticReferenceData>

    init(_ data: StaticReferenceData) { self.data = Mutex(data) }

    func set(merchant: MerchantReference) { data.withLock { $0.merchants[merchant.merchantId] = merchant } }
    func set(rate: FXRateReference) { data.withLock { $0.fxRates[rate.pair] = rate } }
    func merchant(_ merchantID: String) -> MerchantReference? { data.withLock { $0.merchants[merchantID] } }
    func creditLine(payerID: String) -> CreditLineReference? { data.withLock { $0.creditLines[payerID] } }
    func fxRate(base: String, quote: String) -> FXRateReference? { data.withLock { $0.fxRates["\(base)/\(quote)"] } }
}

/// The settlement stage's decisions on the stage harness: pricing from reference data, the three
/// modes, refunds, FX, installments and the timer. After every scenario the merchant-side ledger's
/// invariants hold and every line's parts add up (`SettlementChecks`).
@Suite("settlement-worker: pricing, modes, refunds, FX and installments")
struct SettlementScenarioTests {
    /// Monday 2026-11-30 10:00 in Shanghai.
    static let start = Wire.parseTimestamp("2026-11-30T02:00:00.000Z")!

    static func merchant(_ id: String, fees: [String: MerchantReference.Fee] = ["card": .init(basisPoints: 60, fixed: 30)],
                         commission: Int64 = 100, currency: String = "CNY", suppliers: [String] = ["supplier-3"],
                         financing: String = "upfront", delay: Int = 1) -> MerchantReference {
        MerchantReference(merchantId: id, status: .active, settlementCurrency: currency, fees: fees, defaultFee: .init(basisPoints: 80),
                          commissionBasisPoints: commission,
                          payout: .init(delayDays: delay, cutoff: "22:00", timeZone: "Asia/Shanghai", businessDays: true),
                          suppliers: suppliers, installmentFinancing: financing)
    }

    static let usdCny = FXRateReference(base: "USD", quote: "CNY", rate: "7.1234", source: "test-feed", asOf: "2026-11-30T00:00:00Z")

    static func harness(_ reference: any ReferenceLookup, grace: Int = 3) throws -> StageHarness<SettlementStage> {
        try StageHarness(SettlementStage(topics: TopicNames(), settings: try .init(installmentGraceDays: grace), reference: reference, answers: TestAnswerKeys.settlement),
                         partitions: 1, clock: ManualClock(start))
    }

    static func capture(_ payment: String, _ amount: Int64, merchant: String = "m-7", currency: String = "CNY", method: String = "card",
                        mode: String = "prepaid", installments: Int? = nil, splits: [Split] = [],
                        settlementCurrency: String? = nil, payer: String = "user-1") -> (key: String?, value: Data) {
        (merchant, try! Wire.encode(SettlementRequest(
            eventId: MessageID.settlementCapture(payer: payer, payment: payment), type: "capture", paymentId: payment, orderId: "o-\(payment)",
            payerId: payer, merchantId: merchant, amount: amount, currency: currency, method: method,
            settlement: SettlementTerms(mode: mode, installments: installments), splits: splits, settlementCurrency: settlementCurrency,
            capturedAt: Wire.timestamp(start), sourceEventId: "pe:\(payer):\(payment):2")))
    }

    static func refund(_ payment: String, _ amount: Int64, id: String, merchant: String = "m-7", currency: String = "CNY",
                       payer: String = "user-1") -> (key: String?, value: Data) {
        (merchant, try! Wire.encode(SettlementRequest(
            eventId: MessageID.settlementRefund(payer: payer, payment: payment, refundRequest: id), type: "refund", paymentId: payment,
            orderId: nil, payerId: payer, merchantId: merchant, amount: amount, currency: currency, method: "card",
            settlement: SettlementTerms(mode: "prepaid"), splits: [], settlementCurrency: nil, capturedAt: Wire.timestamp(start),
            sourceEventId: "pe:\(payer):\(payment):\(id)")))
    }

    static func repayment(_ payment: String, _ amount: Int64, id: String, merchant: String = "m-7", method: String = "online_banking",
                          payer: String = "user-1") -> (key: String?, value: Data) {
        (merchant, try! Wire.encode(SettlementRequest(
            eventId: MessageID.settlementRepayment(payer: payer, payment: payment, repayment: id), type: "repayment", paymentId: payment,
            orderId: nil, payerId: payer, merchantId: merchant, amount: amount, currency: "CNY", method: method,
            settlement: SettlementTerms(mode: "postpaid"), splits: [], settlementCurrency: nil, capturedAt: Wire.timestamp(start),
            sourceEventId: "pe:\(payer):\(id):2", repaymentId: id)))
    }

    static func send(_ h: StageHarness<SettlementStage>, _ messages: (key: String?, value: Data)...) throws {
        try h.send(topic: h.topics.settlementRequests, messages)
    }

    static func balance(_ h: StageHarness<SettlementStage>, _ account: String) throws -> Int64? {
        try h.read { try LedgerTables.balance($0, of: AccountID(account))?.posted.minorUnits }.first ?? nil
    }

    static func events(_ h: StageHarness<SettlementStage>) -> [SettlementEvent] {
        h.decoded(SettlementEvent.self, on: h.topics.settlementEvents)
    }

    static func payoutEvents(_ h: StageHarness<SettlementStage>) -> [PayoutEvent] {
        h.published(on: h.topics.settlementEvents).filter { Wire.schema(of: Data($0.value)) == PayoutEvent.schemaName }
            .compactMap { try? Wire.decode(PayoutEvent.self, from: Data($0.value)) }
    }

    @Test("a capture is priced from the merchant's fee plan for its method, commission and suppliers; the terms are frozen on the line")
    func pricingFromReference() throws {
        let reference = ChangingReference(StaticReferenceData(merchants: [Self.merchant("m-7")]))
        let h = try Self.harness(reference)
        try Self.send(h, Self.capture("p-1", 10_000, splits: [Split(partyId: "supplier-3", amount: 2_000)]))
        // Fee 60 bp + 30 fixed = 90 (half up), commission 100 bp of the gross = 100, split 2,000, net 7,810.
        let booked = try #require(Self.events(h).first)
        #expect(booked.type == "settlement.booked")
        #expect([booked.fee, booked.commission, booked.net] == [90, 100, 7_810])
        #expect(booked.splits == [Split(partyId: "supplier-3", amount: 2_000)])
        #expect(booked.pricing == SettlementPricing(feeBasisPoints: 60, feeFixed: 30, feeOnRefund: "return", commissionBasisPoints: 100,
                                                    commissionFixed: 0))
        #expect(booked.netSettled == 7_810 && booked.settlementCurrency == "CNY" && booked.fx == nil)
        #expect(booked.availableOn == "2026-12-01")  // T+1 business day, before the 22:00 cut-off
        #expect(try Self.balance(h, "clearing:card:CNY") == 10_000)
        #expect(try Self.balance(h, "fee_revenue:CNY") == 90)
        #expect(try Self.balance(h, "commission_revenue:CNY") == 100)
        #expect(try Self.balance(h, "supplier_pending:supplier-3:CNY") == 2_000)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 7_810)

        // The merchant's plan changes; the booked payment's refund still uses what it was booked with.
        reference.set(merchant: Self.merchant("m-7", fees: ["card": .init(basisPoints: 500)], commission: 900))
        try Self.send(h, Self.refund("p-1", 5_000, id: "r-1"))
        let refunded = try #require(Self.events(h).last)
        #expect(refunded.type == "settlement.refunded")
        #expect([refunded.amount, refunded.fee, refunded.commission, refunded.net] == [5_000, 45, 50, 3_905])
        #expect(refunded.splits == [Split(partyId: "supplier-3", amount: 1_000)])
        #expect(refunded.reversedTotal == 5_000 && refunded.sequence == 2)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 3_905)
        try SettlementChecks.assertSound(h)
    }

    @Test("the payer's locale from the capture's request is kept with the line and carried on its installment events")
    func payerLocaleCarried() throws {
        let h = try Self.harness(ChangingReference(StaticReferenceData(merchants: [Self.merchant("m-7")])))
        let message = Self.capture("p-en", 9_000, mode: "installments", installments: 3)
        var request = try Wire.decode(SettlementRequest.self, from: message.value)
        request.payerLocale = "en"
        try Self.send(h, (message.key, try Wire.encode(request)))
        try Self.send(h, Self.capture("p-none", 9_000, mode: "installments", installments: 3))
        try h.advance(by: 40 * 86_400)
        let events = try Self.events(h)
        let english = events.filter { $0.paymentId == "p-en" }
        #expect(Set(english.map(\.type)).isSuperset(of: ["settlement.booked", "installment.scheduled", "installment.due"]))
        #expect(english.allSatisfy { $0.payerLocale == "en" })
        #expect(events.filter { $0.paymentId == "p-none" }.allSatisfy { $0.payerLocale == nil })
    }

    @Test("a fee the plan keeps on refunds is not reversed: a full refund takes it from the merchant, whose balance may go below zero")
    func feeKept() throws {
        let merchant = Self.merchant("m-7", fees: ["card": .init(basisPoints: 60, fixed: 30, onRefund: "keep")])
        let h = try Self.harness(StaticReferenceData(merchants: [merchant]))
        try Self.send(h, Self.capture("p-1", 10_000, splits: [Split(partyId: "supplier-3", amount: 2_000)]),
                      Self.refund("p-1", 10_000, id: "r-1"))
        let refunded = try #require(Self.events(h).last)
        #expect([refunded.fee, refunded.commission, refunded.net] == [0, 100, 7_900])
        #expect(try Self.balance(h, "fee_revenue:CNY") == 90)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 0)
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == -90)  // the merchant owes the kept fee
        #expect(try Self.balance(h, "clearing:card:CNY") == 0)
        try SettlementChecks.assertSound(h)
    }

    @Test("FX: the merchant's and suppliers' parts are converted once at the snapshot; refunds give back the converted parts pro rata, exactly in full")
    func fx() throws {
        let merchant = Self.merchant("m-9", fees: ["card": .init(basisPoints: 80)], commission: 150, suppliers: [])
        let h = try Self.harness(StaticReferenceData(merchants: [merchant], fxRates: [Self.usdCny]))
        try Self.send(h, Self.capture("p-1", 1_000, merchant: "m-9", currency: "USD"))
        // $10.00: fee 8, commission 15, net $9.77 → ¥69.595618 → 6,960 (half even).
        let booked = try #require(Self.events(h).first)
        #expect([booked.fee, booked.commission, booked.net, booked.netSettled] == [8, 15, 977, 6_960])
        #expect(booked.fx == FXSnapshot(base: "USD", quote: "CNY", rate: "7.1234", source: "test-feed", asOf: "2026-11-30T00:00:00.000Z",
                                        rounding: "half_even", sourceAmount: 977, convertedAmount: 6_960))
        #expect(try Self.balance(h, "merchant_pending:m-9:CNY") == 6_960)
        #expect(try Self.balance(h, "clearing:card:USD") == 1_000)

        try Self.send(h, Self.refund("p-1", 333, id: "r-1", merchant: "m-9", currency: "USD"))
        let first = try #require(Self.events(h).last)
        // 333 of 1,000 by the parts' weights: fee 2.664, commission 4.995, net 325.341 → 3, 5, 325.
        #expect([first.fee, first.commission, first.net] == [3, 5, 325])
        #expect(first.netSettled == 2_315)  // half up of 6,960 × 325 / 977
        try Self.send(h, Self.refund("p-1", 667, id: "r-2", merchant: "m-9", currency: "USD"))
        let second = try #require(Self.events(h).last)
        #expect([second.fee, second.commission, second.net, second.netSettled] == [5, 10, 652, 4_645])
        #expect(try Self.balance(h, "merchant_pending:m-9:CNY") == 0)
        #expect(try Self.balance(h, "fee_revenue:USD") == 0)
        #expect(try Self.balance(h, "clearing:card:USD") == 0)
        let conversions = try h.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM ledger_conversion") ?? 0 }.first
        #expect(conversions == 3)  // the booking and both reversals carry the snapshot
        try SettlementChecks.assertSound(h)
    }

    @Test("post-paid: the platform funds the merchant from a receivable on the payer; repayments settle it, refunds lower it")
    func postpaid() throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7", fees: ["alipay": .init(basisPoints: 55)])]))
        try Self.send(h, Self.capture("p-1", 10_000, method: "alipay", mode: "postpaid"))
        #expect(try Self.balance(h, "receivable:user-1:CNY") == 10_000)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 9_845)
        try Self.send(h, Self.repayment("p-1", 4_000, id: "rp-1"))
        let repaid = try #require(Self.events(h).last)
        #expect(repaid.type == "settlement.repaid" && repaid.outstanding == 6_000 && repaid.reference == "rp-1")
        #expect(try Self.balance(h, "clearing:online_banking:CNY") == 4_000)
        try Self.send(h, Self.refund("p-1", 2_000, id: "r-1"))
        #expect(Self.events(h).last?.outstanding == 4_000)
        #expect(try Self.balance(h, "receivable:user-1:CNY") == 4_000)
        try SettlementChecks.assertSound(h)
    }

    @Test("installments, upfront: the schedule is published, the timer reports due and overdue, repayments pay the oldest installment first")
    func installmentsUpfront() throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7")]))
        try Self.send(h, Self.capture("p-1", 10_000, mode: "installments", installments: 6))
        let scheduled = try #require(Self.events(h).last)
        #expect(scheduled.type == "installment.scheduled" && scheduled.installmentFinancing == "upfront")
        #expect(scheduled.installments?.map(\.amount) == [1_667, 1_667, 1_667, 1_667, 1_666, 1_666])
        #expect(scheduled.installments?.map(\.dueDate) == ["2026-12-30", "2027-01-30", "2027-02-28", "2027-03-30", "2027-04-30", "2027-05-30"])
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 10_000 - 90 - 100)  // all of the net now
        #expect(try Self.balance(h, "receivable:user-1:CNY") == 10_000)

        // 2026-12-30 00:00 in Shanghai is 2026-12-29T16:00Z.
        try h.advance(by: Wire.parseTimestamp("2026-12-29T16:00:00.000Z")!.timeIntervalSince(Self.start))
        #expect(Self.events(h).filter { $0.type == "installment.due" }.map { $0.installment?.number } == [1])
        try h.advance(by: 3 * 86_400)
        #expect(Self.events(h).filter { $0.type == "installment.overdue" }.isEmpty)  // within the 3 grace days
        try h.advance(by: 86_400)
        let overdue = Self.events(h).filter { $0.type == "installment.overdue" }
        #expect(overdue.map { $0.installment?.number } == [1] && overdue.first?.amount == 1_667)

        try Self.send(h, Self.repayment("p-1", 2_000, id: "rp-1"))
        let paid = Self.events(h).filter { $0.type == "installment.paid" }
        #expect(paid.map { $0.installment?.number } == [1] && paid.first?.outstanding == 8_000)
        let rows = try h.read { try Row.fetchAll($0, sql: "SELECT number, paid, status FROM installment ORDER BY number") }.flatMap { $0 }
        #expect(rows.prefix(2).map { "\($0["number"] as Int) \($0["paid"] as Int64) \($0["status"] as String)" } == ["1 1667 paid", "2 333 scheduled"])
        try SettlementChecks.assertSound(h)
    }

    @Test("installments, per installment: the net waits as deferred and each paid installment releases its share; a refund takes deferred money first")
    func installmentsPerInstallment() throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-9", fees: ["card": .init(basisPoints: 80)], commission: 150,
                                                                              financing: "per_installment")]))
        try Self.send(h, Self.capture("p-1", 9_000, merchant: "m-9", mode: "installments", installments: 3))
        // Fee 72, commission 135, net 8,793 in three shares of 2,931.
        #expect(try Self.balance(h, "merchant_deferred:m-9:CNY") == 8_793)
        #expect(Self.events(h).first?.availableOn == nil)
        #expect(Self.events(h).last?.installments?.map { $0.merchantShare } == [2_931, 2_931, 2_931])
        try Self.send(h, Self.repayment("p-1", 3_000, id: "rp-1", merchant: "m-9"))
        #expect(try Self.balance(h, "merchant_deferred:m-9:CNY") == 5_862)
        #expect(try Self.balance(h, "merchant_pending:m-9:CNY") == 2_931)

        try Self.send(h, Self.refund("p-1", 4_500, id: "r-1", merchant: "m-9"))
        let refunded = try #require(Self.events(h).last)
        #expect(refunded.net == 4_396 || refunded.net == 4_397)
        #expect(try Self.balance(h, "merchant_deferred:m-9:CNY") == 5_862 - (refunded.netSettled ?? 0))
        #expect(try Self.balance(h, "merchant_pending:m-9:CNY") == 2_931)
        // The payer owes 4,500 less, taken from the last installments.
        let rows = try h.read { try Row.fetchAll($0, sql: "SELECT amount, status FROM installment ORDER BY number") }.flatMap { $0 }
        #expect(rows.map { "\($0["amount"] as Int64) \($0["status"] as String)" } == ["3000 paid", "1500 scheduled", "0 cancelled"])
        try SettlementChecks.assertSound(h)
    }

    @Test("on its payout date, in the payee's time zone and not before, available money is batched and paid out; a later refund is carried")
    func availability() throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7")]))
        try Self.send(h, Self.capture("p-1", 10_000, splits: [Split(partyId: "supplier-3", amount: 2_000)]))
        // Available on Tuesday 2026-12-01 in Shanghai, which starts at 2026-11-30T16:00Z.
        try h.advance(by: 14 * 3_600 - 1)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 7_810)
        #expect(Self.payoutEvents(h).isEmpty)
        try h.advance(by: 1)
        #expect(try Self.balance(h, "merchant_pending:m-7:CNY") == 0)
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == 0)
        #expect(try Self.balance(h, "merchant_payout:m-7:CNY") == 7_810)
        #expect(try Self.balance(h, "supplier_payout:supplier-3:CNY") == 2_000)
        let events = Self.payoutEvents(h)
        #expect(events.map { "\($0.type) \($0.payeeRole) \($0.payeeId) \($0.amount)" } == [
            "batch.closed merchant m-7 7810", "payout.sent merchant m-7 7810",
            "batch.closed supplier supplier-3 2000", "payout.sent supplier supplier-3 2000",
        ])
        let closed = try #require(events.first)
        #expect(closed.status == "closed" && closed.payoutDate == "2026-12-01" && closed.payoutId != nil)
        #expect(closed.lines == [PayoutLine(kind: "release", amount: 7_810, paymentId: "p-1", payerId: "user-1", reference: nil,
                                            availableOn: "2026-12-01")])
        let instructions = h.decoded(PayoutRequest.self, on: h.topics.payoutRequests)
        #expect(instructions.map { "\($0.requestType) \($0.payoutId) \($0.payeeId) \($0.amount) \($0.currency)" }
                == ["pay \(closed.payoutId ?? "") m-7 7810 CNY", "pay \(events[2].payoutId ?? "") supplier-3 2000 CNY"])
        #expect(h.published(on: h.topics.payoutRequests).allSatisfy { $0.keyString == "m-7" })

        // A refund after the payout: the merchant owes its share, a negative line for its next batch.
        try Self.send(h, Self.refund("p-1", 1_000, id: "r-1"))
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == -781)
        #expect(try Self.balance(h, "supplier_available:supplier-3:CNY") == -200)
        try SettlementChecks.assertSound(h)
    }

    @Test("the cut-off: a capture at 21:59:59 is paid the next business day, at 22:00:00 the one after; Friday's on Monday; a holiday is skipped")
    func cutoffWeekendsHolidays() throws {
        let holidays = MerchantReference(merchantId: "m-h", status: .active, settlementCurrency: "CNY", defaultFee: .init(basisPoints: 0),
                                         payout: .init(delayDays: 1, cutoff: "22:00", timeZone: "Asia/Shanghai", businessDays: true,
                                                       holidays: ["2026-12-01"]))
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7"), holidays]))
        func capture(_ id: String, at time: String, merchant: String = "m-7") -> (key: String?, value: Data) {
            var request = try! Wire.decode(SettlementRequest.self, from: Self.capture(id, 1_000, merchant: merchant).value)
            request.capturedAt = time
            return (merchant, try! Wire.encode(request))
        }
        try Self.send(h, capture("before", at: "2026-11-30T13:59:59.000Z"), capture("at", at: "2026-11-30T14:00:00.000Z"),
                      capture("friday", at: "2026-12-04T03:00:00.000Z"), capture("holiday", at: "2026-11-30T03:00:00.000Z", merchant: "m-h"))
        let dates = Dictionary(uniqueKeysWithValues: Self.events(h).map { ($0.paymentId, $0.availableOn ?? "") })
        #expect(dates == ["before": "2026-12-01", "at": "2026-12-02", "friday": "2026-12-07", "holiday": "2026-12-02"])
        try SettlementChecks.assertSound(h)
    }

    @Test("DST: a New York payee's money is batched at its local midnight, 05:00Z before the clocks change and 04:00Z after")
    func daylightSaving() throws {
        let merchant = MerchantReference(merchantId: "m-ny", status: .active, settlementCurrency: "USD", defaultFee: .init(basisPoints: 0),
                                         payout: .init(delayDays: 1, cutoff: "17:00", timeZone: "America/New_York", businessDays: false))
        let start = Wire.parseTimestamp("2027-03-13T15:00:00.000Z")!  // Saturday 10:00 in New York; DST starts Sunday 02:00
        let h = try StageHarness(SettlementStage(topics: TopicNames(), settings: try .init(), reference: StaticReferenceData(merchants: [merchant]), answers: TestAnswerKeys.settlement),
                                 partitions: 1, clock: ManualClock(start))
        var request = try Wire.decode(SettlementRequest.self, from: Self.capture("p-1", 1_000, merchant: "m-ny", currency: "USD").value)
        request.capturedAt = Wire.timestamp(start)
        try h.send(topic: h.topics.settlementRequests, [("m-ny", try Wire.encode(request))])
        // Sunday 2027-03-14 00:00 in New York (still EST) is 05:00Z.
        try h.advance(by: Wire.parseTimestamp("2027-03-14T04:59:59.000Z")!.timeIntervalSince(start))
        #expect(Self.payoutEvents(h).isEmpty)
        try h.advance(by: 1)
        #expect(Self.payoutEvents(h).map(\.payoutDate) == ["2027-03-14", "2027-03-14"])
        // Monday 00:00 EDT is 04:00Z: money captured Sunday is batched then.
        request.paymentId = "p-2"
        request.eventId = MessageID.settlementCapture(payer: "user-1", payment: "p-2")
        request.capturedAt = "2027-03-14T16:00:00.000Z"
        try h.send(topic: h.topics.settlementRequests, [("m-ny", try Wire.encode(request))])
        try h.advance(by: Wire.parseTimestamp("2027-03-15T03:59:59.000Z")!.timeIntervalSince(h.clock.now()))
        #expect(Self.payoutEvents(h).count == 2)
        try h.advance(by: 1)
        #expect(Self.payoutEvents(h).map(\.payoutDate).last == "2027-03-15")
        try SettlementChecks.assertSound(h)
    }

    @Test("a negative balance is carried across batches until later money covers it; a batch below the minimum waits for more")
    func carryAndMinimum() throws {
        let h = try StageHarness(SettlementStage(topics: TopicNames(), settings: try .init(payoutMinimums: ["CNY": 2_000]),
                                                 reference: StaticReferenceData(merchants: [Self.merchant("m-7", suppliers: [])]), answers: TestAnswerKeys.settlement),
                                 partitions: 1, clock: ManualClock(Self.start))
        func day(_ n: Int) -> Date { Self.start.addingTimeInterval(Double(n) * 86_400) }
        func capture(_ id: String, _ amount: Int64, on n: Int) throws {
            var request = try Wire.decode(SettlementRequest.self, from: Self.capture(id, amount).value)
            request.capturedAt = Wire.timestamp(day(n))
            try h.send(topic: h.topics.settlementRequests, [("m-7", try Wire.encode(request))])
        }
        // Monday: 10,000 captured, paid out Tuesday (9,810 net).
        try capture("p-1", 10_000, on: 0)
        try h.advance(by: 86_400)
        // Tuesday: refunded in full after the payout: −9,810 for the merchant; 1,000 captured (954 net).
        try Self.send(h, Self.refund("p-1", 10_000, id: "r-1"))
        try capture("p-2", 1_000, on: 1)
        try h.advance(by: 86_400)  // Wednesday's batch: 954 − 9,810 = −8,856, carried
        try capture("p-3", 10_000, on: 2)
        try h.advance(by: 86_400)  // Thursday's: −8,856 + 9,810 = 954, below the 2,000 minimum
        try capture("p-4", 2_000, on: 3)
        try h.advance(by: 86_400)  // Friday's: 954 + 1,938 = 2,892, paid
        let batches = Self.payoutEvents(h).filter { $0.type == "batch.closed" }
        #expect(batches.map { "\($0.status) \($0.amount)" } == ["closed 9810", "held -8856", "held 954", "closed 2892"])
        #expect(batches[1].reason?.contains("negative balance") == true && batches[2].reason?.contains("below the minimum") == true)
        #expect(batches[3].lines?.map(\.amount) == [-9_810, 954, 9_810, 1_938])
        #expect(batches[3].lines?.reduce(0) { $0 + $1.amount } == 2_892)
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == 0)
        #expect(try Self.balance(h, "merchant_payout:m-7:CNY") == 9_810 + 2_892)
        try SettlementChecks.assertSound(h)
    }

    @Test("the payout report itemizes every payout to the minor unit: each payment and refund with its breakdown; the lines sum to the payout")
    func payoutReport() throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7")]))
        try Self.send(h, Self.capture("p-1", 10_000, splits: [Split(partyId: "supplier-3", amount: 2_000)]))
        try h.advance(by: 14 * 3_600)  // Tuesday: paid out
        try Self.send(h, Self.refund("p-1", 1_000, id: "r-1"), Self.capture("p-2", 5_000))
        try h.advance(by: 86_400)  // Wednesday: p-2 less the refund's share
        let report = try PayoutReport.gather(stateDirectory: h.stateDirectory, payee: "m-7")
        #expect(report.payouts.map(\.amount) == [7_810, 4_890 - 781])
        #expect(report.payouts.allSatisfy { $0.linesAddUp })
        let second = try #require(report.payouts.last)
        #expect(second.lines.map { "\($0.type) \($0.paymentId ?? "") \($0.amount)" } == ["refund p-1 -781", "payment p-2 4890"])
        let refund = second.lines[0]
        #expect([refund.gross, refund.fee, refund.commission, refund.net] == [1_000, 9, 10, 781])
        #expect(refund.splits == [Split(partyId: "supplier-3", amount: 200)])
        let payment = second.lines[1]
        #expect([payment.gross, payment.fee, payment.commission, payment.net] == [5_000, 60, 50, 4_890])
        // Captured Monday like p-1, so available on Tuesday; booked after Tuesday's batch, it is in Wednesday's.
        #expect(payment.orderId == "o-p-2" && payment.availableOn == "2026-12-01")
        #expect(report.csv.split(separator: "\n").count == 1 + 3)
        #expect(report.table.contains("total") && report.json.contains("\"payout_id\""))
        try SettlementChecks.assertSound(h)
    }

    /// A harness with `m-7`'s 10,000 capture paid out on Tuesday: (harness, payout id).
    static func paidOutHarness(_ settings: SettlementStage.Settings? = nil) throws -> (StageHarness<SettlementStage>, String) {
        let h = try StageHarness(SettlementStage(topics: TopicNames(), settings: try settings ?? .init(),
                                                 reference: StaticReferenceData(merchants: [Self.merchant("m-7")]), answers: TestAnswerKeys.settlement),
                                 partitions: 1, clock: ManualClock(Self.start))
        try Self.send(h, Self.capture("p-1", 10_000))
        try h.advance(by: 14 * 3_600)
        let payout = try #require(Self.payoutEvents(h).first?.payoutId)
        return (h, payout)
    }

    /// The bank's answer, sealed with the bank's test key unless `sealedBy` is nil (a forger
    /// without it), with any further `headers`.
    static func bank(_ h: StageHarness<SettlementStage>, _ payout: String, _ status: String, id: String, amount: Int64 = 9_810,
                     reason: String? = nil, type: String = "pay", sealedBy signer: String? = AnswerSeal.bank,
                     headers: [KafkaHeader] = []) throws {
        try h.send(topic: h.topics.payoutConfirmations, [("m-7", try Wire.encode(PayoutConfirmation(
            confirmationId: id, payoutId: payout, status: status, amount: amount, currency: "CNY", reason: reason,
            bankReference: "bank-1", requestType: type, confirmedAt: Wire.timestamp(h.clock.now()))))], headers: headers, sealedBy: signer)
    }

    @Test("a payout paid: the money leaves for the bank; a duplicate, a late failure and a repeated answer change nothing")
    func payoutPaid() throws {
        let (h, payout) = try Self.paidOutHarness()
        try Self.bank(h, payout, "paid", id: "c-1")
        try Self.bank(h, payout, "paid", id: "c-1")  // the same answer again: the inbox drops it
        try Self.bank(h, payout, "paid", id: "c-2")  // another copy
        try Self.bank(h, payout, "failed", id: "c-3", reason: "account_closed")  // late and contradicting: never moves back
        #expect(Self.payoutEvents(h).map(\.type) == ["batch.closed", "payout.sent", "payout.confirmed"])
        #expect(try Self.balance(h, "merchant_payout:m-7:CNY") == 0)
        #expect(try Self.balance(h, "bank:CNY") == -9_810)
        #expect(h.deadLetters.isEmpty)
        try SettlementChecks.assertSound(h)
    }

    @Test("a payout failed goes back to the payee and into its next batch, on the next business day; a returned one too, after being paid")
    func payoutFailedAndReturned() throws {
        let (h, payout) = try Self.paidOutHarness()
        try Self.bank(h, payout, "failed", id: "c-1", reason: "invalid_account")
        let failed = try #require(Self.payoutEvents(h).last)
        #expect(failed.type == "payout.failed" && failed.reason == "invalid_account" && failed.status == "failed")
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == 9_810)
        #expect(try Self.balance(h, "merchant_payout:m-7:CNY") == 0)
        try h.advance(by: 3_600)
        #expect(Self.payoutEvents(h).count == 3)  // not before the next business day
        try h.advance(by: 86_400)  // Wednesday starts in Shanghai: the money goes out again
        let retry = Self.payoutEvents(h).filter { $0.type == "batch.closed" }.last
        #expect(retry?.lines?.map { "\($0.kind) \($0.amount) \($0.reference ?? "")" } == ["payout_failed 9810 \(payout)"])
        let second = try #require(retry?.payoutId)
        try Self.bank(h, second, "paid", id: "c-2")
        try Self.bank(h, second, "returned", id: "c-3", reason: "account_closed", type: "return")
        #expect(Self.payoutEvents(h).suffix(2).map(\.type) == ["payout.confirmed", "payout.returned"])
        #expect(try Self.balance(h, "bank:CNY") == 0)
        #expect(try Self.balance(h, "merchant_available:m-7:CNY") == 9_810)
        try SettlementChecks.assertSound(h)
    }

    @Test("an unanswered payout is queried with backoff, re-sent when the bank never got it, and reported stuck once")
    func payoutStuck() throws {
        let (h, payout) = try Self.paidOutHarness(try .init(payoutQueryAfterSeconds: 60, payoutQueryMaxIntervalSeconds: 240,
                                                            payoutStuckAfterSeconds: 900))
        func instructions() -> [String] { h.decoded(PayoutRequest.self, on: h.topics.payoutRequests).map(\.requestType) }
        for _ in 0..<16 { try h.advance(by: 60) }  // 16 minutes
        // Queries at 1, 3 (1 + 2), 7 (+4), 11 and 15 minutes (+4, the maximum): five of them.
        #expect(instructions() == ["pay", "query", "query", "query", "query", "query"])
        let stuck = Self.payoutEvents(h).filter { $0.type == "payout.stuck" }
        #expect(stuck.count == 1 && stuck.first?.status == "stuck" && stuck.first?.reason?.contains("needs a person") == true)
        try Self.bank(h, payout, "unknown", id: "q-1", type: "query")
        #expect(instructions().last == "pay")  // the bank never received it: sent again, same payout id
        try Self.bank(h, payout, "paid", id: "c-1")  // still answerable
        #expect(Self.payoutEvents(h).last?.type == "payout.confirmed")
        try SettlementChecks.assertSound(h)
    }

    @Test("answers the stage cannot use are parked: an unknown payout, another amount, an unknown status")
    func payoutAnswersParked() throws {
        let (h, payout) = try Self.paidOutHarness()
        try Self.bank(h, "po:nobody:1", "paid", id: "c-1")
        try Self.bank(h, payout, "paid", id: "c-2", amount: 9_000)
        try Self.bank(h, payout, "bounced", id: "c-3")
        #expect(h.deadLetters.map(\.errorCode) == ["unknown_payout", "payout_mismatch", "invalid_confirmation"])
        #expect(try Self.balance(h, "merchant_payout:m-7:CNY") == 9_810)
        try SettlementChecks.assertSound(h)
    }

    @Test("requests settlement cannot price or reverse are parked with a reason, and nothing of them is booked", arguments: [
        ("unknown merchant", "unknown_merchant"), ("no FX rate", "missing_fx_rate"), ("supplier not allowed", "split_party_not_allowed"),
        ("refund of nothing booked", "unknown_settlement"), ("refund above what is left", "reversal_exceeds_booking"),
        ("repayment of a prepaid payment", "not_credit_funded"),
    ])
    func parked(_ scenario: String, _ code: String) throws {
        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7"), Self.merchant("m-9", currency: "EUR")]))
        try Self.send(h, Self.capture("p-0", 5_000))
        let request: (key: String?, value: Data) = switch scenario {
        case "unknown merchant": Self.capture("p-1", 100, merchant: "m-404")
        case "no FX rate": Self.capture("p-1", 100, merchant: "m-9")
        case "supplier not allowed": Self.capture("p-1", 100, splits: [Split(partyId: "supplier-9", amount: 10)])
        case "refund of nothing booked": Self.refund("p-1", 100, id: "r-1")
        case "refund above what is left": Self.refund("p-0", 5_001, id: "r-1")
        default: Self.repayment("p-0", 100, id: "rp-1")
        }
        let postings = try h.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM ledger_posting") ?? 0 }
        try Self.send(h, request)
        #expect(h.deadLetters.map(\.errorCode) == [code])
        #expect(try h.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM ledger_posting") ?? 0 } == postings)
        try SettlementChecks.assertSound(h)
    }

    @Test("the hledger export: amounts at each currency's exponent, and the check catches a stored balance its postings do not give")
    func hledgerExport() throws {
        let jpy = Currency.named("JPY")!, kwd = Currency.named("KWD")!, cny = Currency.named("CNY")!
        #expect(HledgerJournal.amount(Money(minorUnits: -1_234_567, currency: kwd)) == "-1234.567 KWD")
        #expect(HledgerJournal.amount(Money(minorUnits: 500, currency: jpy)) == "500 JPY")
        #expect(HledgerJournal.amount(Money(minorUnits: 5, currency: cny)) == "0.05 CNY")
        #expect(HledgerJournal.name("payer", AccountID("wallet:user 42;x:CNY")) == "payer:wallet:user%2042%3Bx:CNY")

        let h = try Self.harness(StaticReferenceData(merchants: [Self.merchant("m-7", currency: "JPY")],
                                                     fxRates: [FXRateReference(base: "CNY", quote: "JPY", rate: "21.437", source: "t",
                                                                               asOf: "2026-11-30T00:00:00Z")]))
        try Self.send(h, Self.capture("p-1", 10_001), Self.refund("p-1", 3_333, id: "r-1"))
        let ledger = try #require(try h.read { try LedgerTables.loadAll($0) }.first)
        #expect(try HledgerCheck.problems([.init(name: "merchant", ledgers: [ledger])]).isEmpty)
        let (text, summary) = HledgerJournal.render([.init(name: "merchant", ledgers: [ledger])])
        #expect(text.contains("commodity 1,000. JPY") && text.contains("commodity 1,000.00 CNY"))
        #expect(text.contains("posting:booking:user-1:p-1, side:merchant") && text.contains("; rate CNY/JPY 21.437 from t"))
        #expect(summary.transactions == 2)

        // A balance the postings do not give: hledger's totals differ, and the check says where.
        var balances = ledger.balances
        let pending = AccountID("merchant_pending:m-7:JPY")
        balances[pending] = LedgerBalance(posted: Money(minorUnits: 1, currency: jpy), pending: .zero(jpy))
        let corrupt = Ledger(restoring: Array(ledger.accounts.values), postings: ledger.postings, holds: [], balances: balances,
                             fxRoundingCarry: ledger.fxRoundingCarry)
        let problems = try HledgerCheck.problems([.init(name: "merchant", ledgers: [corrupt])])
        #expect(problems.count == 1 && problems.first?.hasPrefix("merchant:merchant_pending:m-7:JPY: hledger says") == true, "\(problems)")
    }

    @Test("any sequence of captures and refunds, in any mode and currency, keeps every part within its booking and the ledger balanced")
    func randomSequences() async throws {
        let cases = max(10, propertyCasesEndToEnd)
        for index in 0..<cases {
            // A case is ~0.1 s of SQLite work: let the suites that wait on brokers and processes run between cases.
            await Task.yield()
            var random = SeededRandom(seed: 7_000 + UInt64(index))
            let keep = random.chance(0.3)
            let merchant = Self.merchant("m-7", fees: ["card": .init(basisPoints: Int64.random(in: 0...500, using: &random),
                                                                     fixed: Int64.random(in: 0...300, using: &random),
                                                                     onRefund: keep ? "keep" : "return")],
                                         commission: Int64.random(in: 0...1_000, using: &random),
                                         currency: random.chance(0.5) ? "CNY" : "JPY", suppliers: ["s-1", "s-2"])
            let rates = [FXRateReference(base: "CNY", quote: "JPY", rate: "21.437", source: "t", asOf: "2026-11-30T00:00:00Z")]
            let h = try Self.harness(StaticReferenceData(merchants: [merchant], fxRates: rates))
            var refundable: [String: Int64] = [:]
            var refunds = 0
            for step in 0..<12 {
                if refundable.isEmpty || random.chance(0.35) {
                    let amount = Int64.random(in: 1...2_000_000, using: &random)
                    var splits: [Split] = []
                    if random.chance(0.5) { splits.append(Split(partyId: "s-1", amount: Int64.random(in: 1...max(1, amount / 3), using: &random))) }
                    if random.chance(0.3) { splits.append(Split(partyId: "s-2", amount: Int64.random(in: 1...max(1, amount / 4), using: &random))) }
                    let mode = ["prepaid", "postpaid", "installments"][Int.random(in: 0...2, using: &random)]
                    let parked = h.deadLetters.count
                    try Self.send(h, Self.capture("p-\(step)", amount, mode: mode, installments: mode == "installments" ? 3 : nil, splits: splits))
                    if h.deadLetters.count == parked { refundable["p-\(step)"] = amount }
                } else {
                    let payment = refundable.keys.sorted()[Int.random(in: 0..<refundable.count, using: &random)]
                    let left = refundable[payment]!
                    let amount = random.chance(0.3) ? left : Int64.random(in: 1...left, using: &random)
                    refunds += 1
                    try Self.send(h, Self.refund(payment, amount, id: "r-\(refunds)"))
                    refundable[payment] = left - amount == 0 ? nil : left - amount
                }
                if random.chance(0.2) { try h.advance(by: 86_400) }
            }
            // Splits above what fee and commission leave are refused (parked), never booked in part.
            #expect(h.deadLetters.allSatisfy { $0.errorCode == "splits_exceed_net" }, "case \(index): \(h.deadLetters.map(\.errorMessage))")
            try SettlementChecks.assertSound(h, context: "case \(index)", hledger: index % 10 == 0)
        }
    }
}

/// The property cases of tests that run the stage on SQLite: a tenth of `PAYSTREAM_PROPERTY_CASES`.
let propertyCasesEndToEnd = (ProcessInfo.processInfo.environment["PAYSTREAM_PROPERTY_CASES"].flatMap(Int.init) ?? 1_000) / 10

/// What every settlement scenario leaves true.
enum SettlementChecks {
    /// The settlement shard's audit, and (`hledger`) its export through hledger.
    static func assertSound(_ h: StageHarness<SettlementStage>, context: String = "", hledger: Bool = true,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        for problems in try h.read({ try SettlementAudit.problems($0) }) {
            #expect(problems.isEmpty, "\(context) \(problems)", sourceLocation: sourceLocation)
        }
        // Every shard rebuilt from its changelog alone equals the shard.
        #expect(try h.changelogRestoreDifferences() == [], "\(context)", sourceLocation: sourceLocation)
        if hledger {
            let problems = try HledgerCheck.problems([.init(name: "merchant", ledgers: try h.read { try LedgerTables.loadAll($0) })])
            #expect(problems.isEmpty, "\(context) \(problems)", sourceLocation: sourceLocation)
        }
    }
}

/// Runs Debian's hledger on an export: `hledger check -s ordereddates` must accept it, and
/// `hledger bal` must give every account the ledger's own balance, to the minor unit.
enum HledgerCheck {
    static func problems(_ sides: [HledgerJournal.Side]) throws -> [String] {
        let (text, _) = HledgerJournal.render(sides)
        let file = "\(try temporaryDirectory("paystream-hledger"))/export.journal"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        var problems: [String] = []
        let check = try run(["-f", file, "check", "-s", "ordereddates"])
        if check.status != 0 { problems.append("hledger check -s ordereddates exited \(check.status): \(check.output)") }
        let balances = try run(["-f", file, "bal", "-l", "-N", "-O", "csv"])
        guard balances.status == 0 else { return problems + ["hledger bal exited \(balances.status): \(balances.output)"] }
        var reported: [String: Int64] = [:]
        for line in balances.output.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",", maxSplits: 1).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            guard fields.count == 2, let minor = Int64(fields[1].split(separator: " ")[0].replacingOccurrences(of: ".", with: "")) else {
                problems.append("hledger bal printed '\(line)'")
                continue
            }
            reported[fields[0]] = minor
        }
        var expected: [String: Int64] = [:]
        for side in sides {
            for ledger in side.ledgers {
                for (id, account) in ledger.accounts {
                    // hledger shows debits minus credits: a credit-normal balance is negative.
                    let posted = ledger.balance(of: id)?.posted.minorUnits ?? 0
                    expected[HledgerJournal.name(side.name, id), default: 0] += account.normalSide == .debit ? posted : -posted
                }
            }
        }
        for account in Set(expected.keys).union(reported.keys).sorted() where (expected[account] ?? 0) != (reported[account] ?? 0) {
            problems.append("\(account): hledger says \(reported[account] ?? 0), the ledger \(expected[account] ?? 0)")
        }
        return problems
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["hledger"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
