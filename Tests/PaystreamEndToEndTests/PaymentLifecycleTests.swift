import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamTesting
import Testing

/// The payment stage's scenario suite: every reason code, every request type, every channel
/// anomaly, expiry on a controlled clock, and idempotency across two instances. After each
/// scenario `finish()` runs the ledger invariant checker and the payment/hold check over every shard.
@Suite("payment-worker lifecycle scenarios")
struct PaymentLifecycleTests {
    typealias H = PaymentHarness

    @Test("every rejection reason code, each from a crafted request")
    func everyReasonCode() async throws {
        var policy = try shippedPaymentPolicy()
        policy.riskLimits["CNY"]?.transactionMaximum = 2_000_000
        let h = try await PaymentHarness(policy: policy)
        // A captured card payment for the refund and state rules.
        try await h.send(H.request("base", payer: "user-9", amount: 10_000))
        try await h.outcome(of: "base")
        try await h.confirm("pay-base", payer: "user-9", amount: 10_000)
        try await h.event("payment.captured", of: "pay-base")
        try await h.send(H.request("open", payer: "user-9", amount: 500))
        try await h.outcome(of: "open")

        let cases: [(String, (key: String, value: Data), String)] = [
            ("invalid_request", H.request("bad-amount", amount: -5), "amount must be greater than zero"),
            ("invalid_request", H.request("bad-split", splits: [["party_id": "supplier-1", "amount": 995]]), "after the merchant's fee"),
            ("invalid_request", H.request("stranger", splits: [["party_id": "stranger", "amount": 1]]), "not a supplier"),
            ("unsupported_currency", H.request("xxy", currency: "XXY"), "XXY"),
            ("unsupported_currency", H.request("sek", currency: "SEK"), "not enabled"),
            ("method_not_allowed", H.request("cash-card", method: "cash"), "not allowed on channel bank_card"),
            ("amount_limit", H.request("too-big", amount: 5_000_001), "above the card maximum"),
            ("merchant_inactive", H.request("suspended", merchant: "m-suspended"), "suspended"),
            ("merchant_inactive", H.request("unknown-m", merchant: "m-nobody"), "not known"),
            ("risk_limit", H.request("risky", amount: 2_000_001), "per-transaction maximum"),
            ("insufficient_funds", H.request("empty-wallet", payer: "user-2", method: "wallet", channel: "balance"), "wallet available balance"),
            ("credit_limit", H.request("no-line", payer: "user-3", settlement: ["mode": "postpaid"]), "no credit line"),
            ("credit_limit", H.request("over-line", payer: "credit-user", amount: 500_001, settlement: ["mode": "postpaid"]), "available credit"),
            ("credit_limit", H.request("plan-5", payer: "credit-user", settlement: ["mode": "installments", "installments": 5]), "installment plan of 5"),
            ("idempotency_conflict", H.request("base", payer: "user-9", amount: 10_001), "different content"),
            ("refund_exceeds_captured", H.request("refund-big", type: "refund", payer: "user-9", amount: 10_001, payment: "pay-base"), "exceeds"),
            ("invalid_state", H.request("refund-open", type: "refund", payer: "user-9", amount: 100, payment: "pay-open"), "only captured"),
            ("invalid_request", H.request("refund-ghost", type: "refund", payer: "user-9", payment: "pay-ghost"), "has no payment"),
            ("metadata_too_large", H.request("big-metadata", metadata: ["note": String(repeating: "x", count: 5_000)]), "bytes of JSON"),
        ]
        for (_, request, _) in cases { try await h.send(request) }
        try await h.waitFor { events, _ in events.filter { $0.type == "payment.rejected" }.count >= cases.count }

        // The refund window (card: 180 days) closes: a refund 181 days after capture is refused.
        h.clock.advance(by: 181 * 86_400)
        try await h.send(H.request("refund-late", type: "refund", payer: "user-9", amount: 100, payment: "pay-base"))
        let late = try await h.outcome(of: "refund-late")
        try await h.settle()
        try await h.finish()

        let rejections = h.events.filter { $0.type == "payment.rejected" }
        for (reason, request, words) in cases {
            let id = (try JSONSerialization.jsonObject(with: request.value) as! [String: Any])["request_id"] as! String
            let event = rejections.last { $0.requestId == id }
            #expect(event?.reason == reason, "\(id)")
            #expect(event?.message?.contains(words) == true, "\(id): \(event?.message ?? "no event")")
            #expect(event?.status == "rejected")
        }
        #expect(late.reason == "refund_window_closed")
        #expect(Set(rejections.compactMap(\.reason)) == Set(RejectionReason.allCases.map(\.rawValue)))
        // The conflicting retry changed nothing: the original payment is still captured, once.
        #expect(h.events(of: "pay-base").filter { $0.type == "payment.captured" }.count == 1)
        #expect(h.channelRequests.filter { $0.paymentId == "pay-base" }.map(\.requestType) == ["authorize"])
    }

    @Test("a cancel after capture refunds everything still refundable, like a refund: ledger, channel, settlement; a second cancel is refused")
    func cancelAfterCapture() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("top-c", type: "topup", payer: "user-c", merchant: nil, amount: 50_000, method: "alipay", channel: "mobile"))
        try await h.outcome(of: "top-c")
        try await h.confirm("pay-top-c", payer: "user-c", amount: 50_000)
        try await h.event("payment.captured", of: "pay-top-c")
        try await h.send(H.request("buy-c", payer: "user-c", amount: 30_000, method: "wallet", channel: "balance"))
        try await h.event("payment.captured", of: "pay-buy-c")
        try await h.send(H.request("ref-c", type: "refund", payer: "user-c", amount: 10_000, payment: "pay-buy-c"))
        try await h.outcome(of: "ref-c")
        try await h.send(H.request("cancel-c", type: "cancel", payer: "user-c", merchant: nil, amount: nil, payment: "pay-buy-c"))
        let cancelled = try await h.outcome(of: "cancel-c")
        try await h.send(H.request("cancel-c2", type: "cancel", payer: "user-c", merchant: nil, amount: nil, payment: "pay-buy-c"))
        let again = try await h.outcome(of: "cancel-c2")
        try await h.waitForCounts(settlement: 3, channel: 1)
        try await h.settle()
        try await h.finish()

        #expect(cancelled.type == "payment.refunded" && cancelled.reason == "cancelled" && cancelled.refundAmount == 20_000)
        #expect(cancelled.refundedTotal == 30_000 && cancelled.requestId == "cancel-c")
        #expect(again.reason == "invalid_state")
        #expect(try h.balance("wallet:user-c:CNY")?.posted.minorUnits == 50_000)
        #expect(h.settlementRequests.map { "\($0.type):\($0.paymentId):\($0.amount)" }
                == ["capture:pay-buy-c:30000", "refund:pay-buy-c:10000", "refund:pay-buy-c:20000"])
    }

    @Test("wallet: a top-up through a channel funds it, a wallet payment captures at once, a partial refund credits it back")
    func wallet() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("top-1", type: "topup", payer: "user-w", merchant: nil, amount: 50_000, method: "alipay", channel: "mobile"))
        try await h.outcome(of: "top-1")
        try await h.waitFor { _, requests in !requests.isEmpty }
        #expect(h.channelRequests.last?.requestType == "authorize")
        try await h.confirm("pay-top-1", payer: "user-w", amount: 50_000)
        try await h.event("payment.captured", of: "pay-top-1")
        try await h.send(H.request("buy-1", payer: "user-w", amount: 30_000, method: "wallet", channel: "balance"))
        try await h.event("payment.captured", of: "pay-buy-1")
        try await h.send(H.request("buy-2", payer: "user-w", amount: 30_000, method: "wallet", channel: "balance"))
        let refused = try await h.outcome(of: "buy-2")
        try await h.send(H.request("ref-1", type: "refund", payer: "user-w", amount: 10_000, payment: "pay-buy-1"))
        let refund = try await h.outcome(of: "ref-1")
        try await h.waitForCounts(settlement: 2, channel: 1)
        try await h.settle()
        try await h.finish()

        #expect(refused.reason == "insufficient_funds")
        #expect(refused.message?.contains("¥200.00") == true)
        #expect(h.events(of: "pay-buy-1").map(\.type) == ["payment.authorized", "payment.captured", "payment.partially_refunded"])
        #expect(refund.refundAmount == 10_000 && refund.refundedTotal == 10_000 && refund.status == "partially_refunded")
        #expect(try h.balance("wallet:user-w:CNY")?.posted.minorUnits == 30_000)
        #expect(try h.balance("wallet:user-w:CNY")?.pending.minorUnits == 0)
        // Only the top-up went to a channel; the wallet payment went to settlement, the top-up did not.
        #expect(h.channelRequests.map(\.paymentId) == ["pay-top-1"])
        #expect(h.settlementRequests.map { "\($0.type):\($0.paymentId):\($0.amount)" }
                == ["capture:pay-buy-1:30000", "refund:pay-buy-1:10000"])
        #expect(h.settlementRequests.allSatisfy { $0.merchantId == "m-1" })
    }

    @Test("post-paid and installments reserve the credit line and hand the terms to settlement; a repayment restores it")
    func creditLine() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("post-1", payer: "credit-user", amount: 100_000, settlement: ["mode": "postpaid"]),
                         H.request("inst-1", payer: "credit-user", amount: 60_000, settlement: ["mode": "installments", "installments": 6]))
        try await h.event("payment.captured", of: "pay-post-1")
        try await h.event("payment.captured", of: "pay-inst-1")
        #expect(try h.balance("credit:credit-user:CNY")?.posted.minorUnits == -160_000)
        try await h.send(H.request("repay-big", type: "repayment", payer: "credit-user", merchant: nil, amount: 160_001))
        let tooMuch = try await h.outcome(of: "repay-big")
        try await h.send(H.request("repay-1", type: "repayment", payer: "credit-user", merchant: nil, amount: 50_000))
        try await h.outcome(of: "repay-1")
        try await h.confirm("pay-repay-1", payer: "credit-user", amount: 50_000)
        try await h.event("payment.captured", of: "pay-repay-1")
        // The line has 500,000 - 110,000 left: 390,001 is refused, 390,000 passes.
        try await h.send(H.request("post-over", payer: "credit-user", amount: 390_001, settlement: ["mode": "postpaid"]),
                         H.request("post-exact", payer: "credit-user", amount: 390_000, settlement: ["mode": "postpaid"]))
        let over = try await h.outcome(of: "post-over")
        let exact = try await h.outcome(of: "post-exact")
        try await h.event("payment.captured", of: "pay-post-exact")
        try await h.waitForCounts(settlement: 4, channel: 1)
        try await h.settle()
        try await h.finish()

        #expect(tooMuch.reason == "invalid_request" && tooMuch.message?.contains("outstanding") == true)
        #expect(over.reason == "credit_limit")
        #expect(exact.paymentId == "pay-post-exact" && exact.reason == nil)
        #expect(h.events(of: "pay-post-exact").map(\.type) == ["payment.authorized", "payment.captured"])
        #expect(try h.balance("credit:credit-user:CNY")?.posted.minorUnits == -500_000)
        let handoffs = Dictionary(uniqueKeysWithValues: h.settlementRequests.filter { $0.type == "capture" }.map { ($0.paymentId, $0) })
        #expect(handoffs["pay-post-1"]?.settlement == SettlementTerms(mode: "postpaid"))
        #expect(handoffs["pay-inst-1"]?.settlement == SettlementTerms(mode: "installments", installments: 6))
        // The repayment named no payment: it pays back the oldest outstanding one, and settlement
        // hears of it under that payment (keyed by its merchant), not as a payment of its own.
        let repayments = h.settlementRequests.filter { $0.type == "repayment" }
        #expect(repayments.map { "\($0.paymentId):\($0.amount):\($0.repaymentId ?? "")" } == ["pay-post-1:50000:pay-repay-1"])
        #expect(handoffs["pay-repay-1"] == nil)
        // Credit-funded payments never ask a channel; the repayment did.
        #expect(h.channelRequests.map(\.paymentId) == ["pay-repay-1"])
    }

    @Test("cash on delivery: authorized at order time, captured on collection, failed when the buyer refuses")
    func cashOnDelivery() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("cod-1", amount: 8_800, method: "cash", channel: "cash_on_delivery"),
                         H.request("cod-2", amount: 9_900, method: "cash", channel: "cash_on_delivery"))
        try await h.outcome(of: "cod-1")
        try await h.outcome(of: "cod-2")
        try await h.confirm("pay-cod-1", amount: 8_800)
        try await h.confirm("pay-cod-2", status: "declined", amount: 9_900, reason: "buyer_refused")
        try await h.event("payment.captured", of: "pay-cod-1")
        let refused = try await h.event("payment.failed", of: "pay-cod-2")
        try await h.waitForCounts(settlement: 1, channel: 2)
        try await h.settle()
        try await h.finish()

        #expect(h.channelRequests.map { "\($0.requestType):\($0.method):\($0.channel)" }
                == ["authorize:cash:cash_on_delivery", "authorize:cash:cash_on_delivery"])
        #expect(refused.reason == "buyer_refused")
        #expect(h.settlementRequests.map(\.paymentId) == ["pay-cod-1"])
    }

    @Test("card refunds (partial, then the rest) go to the channel and to settlement; cancel voids an authorization")
    func refundsAndCancel() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("card-1", amount: 10_000), H.request("card-2", amount: 2_000))
        try await h.outcome(of: "card-1")
        try await h.outcome(of: "card-2")
        try await h.confirm("pay-card-1", amount: 10_000)
        try await h.event("payment.captured", of: "pay-card-1")
        try await h.send(H.request("r-1", type: "refund", amount: 4_000, payment: "pay-card-1"))
        try await h.outcome(of: "r-1")
        try await h.send(H.request("r-2", type: "refund", amount: nil, payment: "pay-card-1"))  // everything left
        let full = try await h.outcome(of: "r-2")
        try await h.confirm("pay-card-1", type: "refund", instruction: "pay-card-1:refund:r-1", id: "c-r-1", reason: nil)
        try await h.confirm("pay-card-1", status: "declined", type: "refund", instruction: "pay-card-1:refund:r-2", id: "c-r-2",
                            reason: "account_closed")
        let failed = try await h.event("payment.refund_failed", of: "pay-card-1")
        try await h.send(H.request("cancel-2", type: "cancel", merchant: nil, amount: nil, payment: "pay-card-2"))
        try await h.event("payment.cancelled", of: "pay-card-2")
        try await h.send(H.request("cancel-2b", type: "cancel", merchant: nil, amount: nil, payment: "pay-card-2"))
        let again = try await h.outcome(of: "cancel-2b")
        try await h.waitForCounts(settlement: 3, channel: 5)
        try await h.settle()
        try await h.finish()

        #expect(h.events(of: "pay-card-1").map(\.type) == ["payment.authorized", "payment.captured", "payment.partially_refunded",
                                                          "payment.refunded", "payment.refund_failed"])
        #expect(h.events(of: "pay-card-1").map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(full.refundAmount == 6_000 && full.refundedTotal == 10_000 && full.status == "refunded")
        #expect(failed.reason == "account_closed" && failed.status == "refunded")
        let refunds = h.channelRequests.filter { $0.requestType == "refund" }
        #expect(refunds.map(\.amount) == [4_000, 6_000])
        #expect(refunds.allSatisfy { $0.targetRequestId == "pay-card-1:authorize" })
        #expect(h.settlementRequests.map { "\($0.type):\($0.amount)" } == ["capture:10000", "refund:4000", "refund:6000"])
        #expect(h.channelRequests.filter { $0.paymentId == "pay-card-2" }.map(\.requestType) == ["authorize", "cancel"])
        #expect(again.reason == "invalid_state")
        #expect(try h.balance("channel:card:CNY")?.pending.minorUnits == 0)
    }

    @Test("channel anomalies: another amount → conflicted, nothing captured; duplicates and unknown payments change nothing")
    func anomalies() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("mm-1", amount: 5_000), H.request("dup-1", amount: 1_000))
        try await h.outcome(of: "mm-1")
        try await h.outcome(of: "dup-1")
        try await h.confirm("pay-mm-1", amount: 4_999)
        let conflicted = try await h.event("payment.conflicted", of: "pay-mm-1")
        try await h.confirm("pay-dup-1", amount: 1_000, id: "same")
        try await h.confirm("pay-dup-1", amount: 1_000, id: "same")
        try await h.confirm("pay-dup-1", amount: 1_000, id: "other-answer")
        try await h.confirm("pay-ghost", amount: 1_000)
        try await h.waitForRecords { $0.contains { $0.topic.hasSuffix(".dlq") } }
        try await h.waitForCounts(settlement: 1)
        try await h.settle()
        try await h.finish()

        #expect(conflicted.status == "conflicted" && conflicted.reason == "amount_mismatch")
        #expect(conflicted.message?.contains("4999 CNY") == true)
        #expect(h.events(of: "pay-dup-1").map(\.type) == ["payment.authorized", "payment.captured"])
        #expect(h.settlementRequests.map(\.paymentId) == ["pay-dup-1"])
        #expect(h.deadLetters.map(\.errorCode) == ["unknown_payment"])
    }
}

@Suite("payment-worker expiry and idempotency over time")
struct PaymentTimeTests {
    typealias H = PaymentHarness

    @Test("no answer: queried once after the first timeout, expired after the second with its hold released; a late success is reversed")
    func expiryAndLateCapture() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("slow-1", amount: 7_000), H.request("slow-2", amount: 3_000))
        try await h.outcome(of: "slow-1")
        try await h.outcome(of: "slow-2")
        // Nothing happens while the clock stands still, however long the test waits.
        try await h.settle()
        #expect(h.channelRequests.map(\.requestType) == ["authorize", "authorize"])
        h.clock.advance(by: 61)
        try await h.waitFor { _, requests in requests.filter { $0.requestType == "query" }.count == 2 }
        // The query about slow-2 is answered: captured before it could expire.
        try await h.confirm("pay-slow-2", amount: 3_000, type: "query")
        try await h.event("payment.captured", of: "pay-slow-2")
        try await h.settle()
        #expect(h.channelRequests.filter { $0.requestType == "query" }.count == 2)  // queried once, not every tick
        h.clock.advance(by: 61)
        let expired = try await h.event("payment.expired", of: "pay-slow-1")
        // The channel's success arrives after all: recorded and refunded automatically, never captured.
        try await h.confirm("pay-slow-1", amount: 7_000)
        let late = try await h.event("payment.late_capture", of: "pay-slow-1")
        try await h.confirm("pay-slow-1", amount: 7_000, id: "again")
        try await h.waitFor { _, requests in requests.contains { $0.requestType == "refund" } }
        try await h.waitForCounts(settlement: 1)
        try await h.settle()
        try await h.finish()

        #expect(expired.reason == "no_answer" && expired.sequence == 2)
        #expect(late.status == "expired" && late.reason == "late_capture" && late.sequence == 3)
        #expect(h.events(of: "pay-slow-1").map(\.type) == ["payment.authorized", "payment.expired", "payment.late_capture"])
        let reversal = try #require(h.channelRequests.first { $0.requestType == "refund" })
        #expect(reversal.paymentId == "pay-slow-1" && reversal.amount == 7_000 && reversal.reason == "late_capture_reversal")
        #expect(h.channelRequests.filter { $0.requestType == "refund" }.count == 1)
        #expect(h.settlementRequests.map(\.paymentId) == ["pay-slow-2"])
        #expect(try h.balance("channel:card:CNY")?.pending.minorUnits == 0)
        let queries = h.channelRequests.filter { $0.requestType == "query" }
        #expect(queries.allSatisfy { $0.targetRequestId == "\($0.paymentId):authorize" })
    }

    @Test("a late capture whose automatic reversal the channel refuses: an alert, the money owed on late_capture, the shard consistent")
    func lateCaptureReversalRefused() async throws {
        // Found by the fault run: the refused reversal lost its purpose and `paystream verify`
        // then counted it as a refund of the payment.
        let h = try await PaymentHarness()
        try await h.expireUnanswered("slow-3", amount: 4_000)
        try await h.confirm("pay-slow-3", amount: 4_000)
        try await h.event("payment.late_capture", of: "pay-slow-3")
        try await h.confirm("pay-slow-3", status: "declined", amount: 4_000, type: "refund",
                            instruction: "pay-slow-3:refund:late-capture", reason: "refund_rejected")
        let alert = try await h.event("payment.refund_failed", of: "pay-slow-3")
        try await h.settle()
        try await h.finish()  // the payment-side invariants, `paystream verify`'s check
        #expect(alert.status == "expired" && alert.reason == "refund_rejected" && alert.refundAmount == 4_000)
        #expect(try h.balance("late_capture:CNY")?.posted.minorUnits == 4_000)
    }

    @Test("a retry within the idempotency window gets the original events; after the window the request id is forgotten")
    func idempotencyRetention() async throws {
        let h = try await PaymentHarness()
        try await h.expireUnanswered("keep-1", amount: 1_500)
        h.clock.advance(by: 6 * 86_400 - 122)  // 6 days: still remembered
        try await h.send(H.request("keep-1", amount: 1_500))
        try await h.waitFor { events, _ in events.filter { $0.eventId == "pe:user-1:pay-keep-1:1" }.count == 2 }
        h.clock.advance(by: 2 * 86_400)  // 8 days: forgotten at the next timer run
        try await h.settle()
        try await h.send(H.request("keep-1", amount: 1_500))
        try await h.waitFor { events, _ in events.contains { $0.requestId == "keep-1" && $0.type == "payment.rejected" } }
        let forgotten = try #require(h.events.last { $0.requestId == "keep-1" })
        try await h.settle()
        try await h.finish()

        // Within the window: the same events again, nothing new; after it: a new decision,
        // which finds the payment id taken (the payment itself is never forgotten).
        #expect(h.events(of: "pay-keep-1").filter { $0.type == "payment.authorized" }.count == 2)
        #expect(h.events(of: "pay-keep-1").filter { $0.type == "payment.expired" }.count == 2)
        #expect(forgotten.type == "payment.rejected" && forgotten.eventId == "rj:user-1:keep-1")
        #expect(forgotten.message?.contains("already used") == true)
        #expect(h.channelRequests.filter { $0.requestType == "authorize" }.count == 1)
    }
}

extension PaymentTimeTests {
    @Test("a refund's request_id stays taken after the idempotency window: reused, it is refused, never booked twice")
    func refundIDAfterWindow() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("buy-r", amount: 5_000))
        try await h.outcome(of: "buy-r")
        try await h.confirm("pay-buy-r", amount: 5_000)
        try await h.event("payment.captured", of: "pay-buy-r")
        try await h.send(H.request("rf-old", type: "refund", amount: 1_000, payment: "pay-buy-r"))
        try await h.outcome(of: "rf-old")
        h.clock.advance(by: 8 * 86_400)
        try await h.settle()
        try await h.send(H.request("rf-old", type: "refund", amount: 1_000, payment: "pay-buy-r"))
        try await h.waitFor { events, _ in events.contains { $0.requestId == "rf-old" && $0.type == "payment.rejected" } }
        try await h.settle()
        try await h.finish()

        let answers = h.events.filter { $0.requestId == "rf-old" }
        #expect(answers.map(\.type) == ["payment.partially_refunded", "payment.rejected"])
        #expect(answers.last?.message?.contains("made before") == true)
        #expect(h.settlementRequests.filter { $0.type == "refund" }.count == 1)
        #expect(h.deadLetters.isEmpty)
    }
}

@Suite("paystream verify")
struct VerifyCommandTests {
    @Test("verify passes the shards a scenario left, and names a balance someone changed by hand (exit 1)")
    func verify() async throws {
        let h = try await PaymentHarness()
        try await h.send(PaymentHarness.request("v-1", amount: 4_200))
        try await h.outcome(of: "v-1")
        try await h.confirm("pay-v-1", amount: 4_200)
        try await h.event("payment.captured", of: "pay-v-1")
        try await h.finish()
        let directory = h.stateDirectory
        let logs = try temporaryDirectory()
        let good = try DaemonProcess("paystream", arguments: ["verify", "--state-dir", directory], logDirectory: logs)
        #expect(await good.waitForExit(timeout: .seconds(20)) == 0)
        #expect(good.log.contains("problem(s)") && good.log.contains(": ok"), "\(good.log)")

        var shard: DatabaseQueue?
        for path in ShardInspection.shardPaths(stateDirectory: directory, stage: "payment-worker") {
            let queue = try DatabaseQueue(path: path)
            if try await queue.read({ try Int.fetchOne($0, sql: "SELECT count(*) FROM payment") ?? 0 }) > 0 { shard = queue }
        }
        try await #require(shard).write {
            try $0.execute(sql: "UPDATE ledger_account SET posted = posted + 1 WHERE account_id = 'settlement:CNY'")
        }
        let bad = try DaemonProcess("paystream", arguments: ["verify", "--state-dir", directory], logDirectory: logs)
        #expect(await bad.waitForExit(timeout: .seconds(20)) == 1)
        #expect(bad.log.contains("settlement:CNY records posted 4201"), "\(bad.log)")
    }
}

@Suite("payment-worker: inputs it must not trust")
struct PaymentDefenceTests {
    typealias H = PaymentHarness

    @Test("a request keyed by someone else than its payer, a malformed request and its corrected retry, odd channel answers")
    func untrustedInputs() async throws {
        let h = try await PaymentHarness()
        // Keyed "user-2", payer "user-1": refused, nothing decided in the wrong shard.
        var misrouted = H.request("wrong-key", payer: "user-1")
        misrouted.key = "user-2"
        try await h.send(misrouted)
        // A malformed request (amount is a string), then the "corrected" one under the same id.
        let malformed = (key: "user-1", value: Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"fix-1","payer_id":"user-1","merchant_id":"m-1","amount":"ten","currency":"CNY","method":"card","channel":"bank_card"}"#.utf8))
        try await h.send(malformed)
        try await h.outcome(of: "fix-1")
        try await h.send(malformed)
        try await h.send(H.request("fix-1"))
        try await h.send(H.request("ok-1", amount: 2_000))
        try await h.outcome(of: "ok-1")
        // Answers with an unknown request_type or a non-positive amount are parked, not applied.
        try await h.confirm("pay-ok-1", amount: 2_000, type: "chargeback", id: "odd-type")
        try await h.confirm("pay-ok-1", amount: 0, id: "zero")
        try await h.waitForRecords { $0.filter { $0.topic.hasSuffix(".dlq") }.count >= 2 }
        try await h.confirm("pay-ok-1", amount: 2_000)
        try await h.event("payment.captured", of: "pay-ok-1")
        try await h.waitFor { events, _ in events.filter { $0.requestId == "fix-1" }.count >= 3 }
        try await h.settle()
        try await h.finish()

        let wrong = try #require(h.events.first { $0.requestId == "wrong-key" })
        #expect(wrong.reason == "invalid_request" && wrong.message?.contains("not the payer_id") == true)
        #expect(h.events(of: "pay-wrong-key").map(\.type) == ["payment.rejected"])
        let fixes = h.events.filter { $0.requestId == "fix-1" }
        #expect(fixes.map { $0.reason ?? "-" } == ["invalid_request", "invalid_request", "idempotency_conflict"])
        #expect(fixes[0].eventId == fixes[1].eventId)  // the identical retry got the same event
        #expect(fixes.allSatisfy { $0.sequence == 0 })
        #expect(Set(h.deadLetters.map(\.errorCode)) == ["invalid_confirmation"])
        #expect(h.events(of: "pay-ok-1").map(\.type) == ["payment.authorized", "payment.captured"])
    }

    @Test("a refund the channel refuses is owed to the payer on the ledger; a row the timer cannot expire is taken off it, the rest expire")
    func refusedRefundAndPoisonedTimer() async throws {
        let h = try await PaymentHarness()
        try await h.send(H.request("cap-1", amount: 9_000))
        try await h.outcome(of: "cap-1")
        try await h.confirm("pay-cap-1", amount: 9_000)
        try await h.event("payment.captured", of: "pay-cap-1")
        try await h.send(H.request("rf-1", type: "refund", amount: 3_000, payment: "pay-cap-1"))
        try await h.outcome(of: "rf-1")
        try await h.confirm("pay-cap-1", status: "declined", amount: 3_000, type: "refund", instruction: "pay-cap-1:refund:rf-1",
                            id: "rf-1-no", reason: "account_closed")
        try await h.event("payment.refund_failed", of: "pay-cap-1")

        try await h.send(H.request("stuck-1", amount: 100), H.request("stuck-2", amount: 200))
        try await h.outcome(of: "stuck-1")
        try await h.outcome(of: "stuck-2")
        // Someone breaks stuck-1's row by hand.
        for path in ShardInspection.shardPaths(stateDirectory: h.stateDirectory, stage: "payment-worker") {
            try await DatabaseQueue(path: path).write {
                try $0.execute(sql: "UPDATE payment SET funding = 'bogus' WHERE payment_id = 'pay-stuck-1'")
            }
        }
        h.clock.advance(by: 61)
        try await h.waitFor { _, requests in requests.contains { $0.requestType == "query" && $0.paymentId == "pay-stuck-2" } }
        h.clock.advance(by: 61)
        try await h.event("payment.expired", of: "pay-stuck-2")
        try await h.settle()
        h.stop()

        #expect(try h.balance("refunds_owed:CNY")?.posted.minorUnits == 3_000)
        #expect(try h.balance("channel:card:CNY")?.posted.minorUnits == -9_000)  // the channel still holds all 9,000
        #expect(h.events(of: "pay-stuck-1").map(\.type) == ["payment.authorized"])
        let stored = try ShardInspection.read(stateDirectory: h.stateDirectory, stage: "payment-worker") {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM payment WHERE payment_id = 'pay-stuck-1' AND next_check_at IS NULL") ?? 0
        }
        #expect(stored.reduce(0, +) == 1, "the broken row is off the timer")
    }
}
