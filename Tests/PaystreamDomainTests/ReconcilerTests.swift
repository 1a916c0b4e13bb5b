import Foundation
import PaystreamDomain
import PaystreamWire
import Testing

@Suite("Reconciliation: statement lines against what the payment stage recorded")
struct ReconcilerTests {
    static let noon = Wire.parseTimestamp("2026-11-24T12:00:00Z")!

    static func line(_ payment: String, _ amount: Int64, type: String = "payment", fee: Int64 = 0, id: String? = nil,
                     refund: String? = nil, day: String = "2026-11-24") -> StatementLine {
        StatementLine(lineId: id ?? "s:\(payment):\(type):\(refund ?? "")", source: "sandbox", method: "card", day: day, channelReference: "r-\(payment)",
                      paymentId: payment, type: type, amount: amount, currency: "CNY", fee: fee, refundReference: refund)
    }

    static func movement(_ payment: String, _ amount: Int64, type: String = "payment", status: String = "captured", fee: Int64? = nil,
                         refund: String? = nil, at: Date = noon) -> ExpectedMovement {
        ExpectedMovement(paymentId: payment, type: type, amount: amount, currency: "CNY", status: status, refundReference: refund,
                         expectedFee: fee, at: at)
    }

    @Test("every state: matched, amount, fee and status mismatches, duplicates, missing and extra past the window, pending inside it")
    func everyState() {
        let expected = [
            Self.movement("p-ok", 1_000, fee: 6), Self.movement("p-amount", 1_000), Self.movement("p-fee", 1_000, fee: 6),
            Self.movement("p-failed", 1_000, status: "failed"), Self.movement("p-dup", 500), Self.movement("p-missing", 700),
            Self.movement("p-ok", 300, type: "refund", status: "partially_refunded", refund: "rf-1"),
            Self.movement("p-today", 900, at: Self.noon.addingTimeInterval(2 * 86_400)),
        ]
        let lines = [
            Self.line("p-ok", 1_000, fee: 6), Self.line("p-amount", 990), Self.line("p-fee", 1_000, fee: 7), Self.line("p-failed", 1_000),
            Self.line("p-dup", 500), Self.line("p-dup", 500, id: "other-id"), Self.line("p-dup", 500),
            Self.line("p-ok", 300, type: "refund", refund: "rf-1"), Self.line("p-extra", 400), Self.line("p-new", 400, day: "2026-11-26"),
        ]
        let now = Self.noon.addingTimeInterval(2 * 86_400 + 3_600)  // 2026-11-26 13:00
        let results = Reconciler.reconcile(expected: expected, lines: lines, now: now, window: 86_400)
        let summary = results.map { "\($0.state.rawValue) \($0.paymentId) \($0.type)" }
        #expect(summary == [
            "matched p-ok payment", "amount_mismatch p-amount payment", "fee_mismatch p-fee payment", "status_mismatch p-failed payment",
            "matched p-dup payment", "duplicate p-dup payment", "duplicate p-dup payment", "matched p-ok refund",
            "extra_in_channel p-extra payment", "pending p-new payment", "missing_in_channel p-missing payment", "pending p-today payment",
        ])
        #expect(Set(results.map(\.state)) == Set(ReconciliationState.allCases))
    }

    @Test("loading the same lines again changes nothing: each line id counts once")
    func reload() {
        let expected = [Self.movement("p-1", 1_000)]
        let once = Reconciler.reconcile(expected: expected, lines: [Self.line("p-1", 1_000)], now: Self.noon, window: 60)
        let twice = Reconciler.reconcile(expected: expected, lines: [Self.line("p-1", 1_000), Self.line("p-1", 1_000)], now: Self.noon, window: 60)
        #expect(once.map(\.state) == [.matched])
        #expect(twice.map(\.state) == [.matched, .duplicate])
    }

    @Test("refunds match by their reference, else by amount")
    func refunds() {
        let expected = [Self.movement("p-1", 100, type: "refund", refund: "a"), Self.movement("p-1", 200, type: "refund", refund: "b")]
        let results = Reconciler.reconcile(expected: expected, lines: [Self.line("p-1", 200, type: "refund"), Self.line("p-1", 100, type: "refund", refund: "a")],
                                           now: Self.noon, window: 60)
        #expect(results.map { "\($0.state.rawValue) \($0.expected?.refundReference ?? "-")" } == ["matched b", "matched a"])
    }
}
