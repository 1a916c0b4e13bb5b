import Foundation
import PaystreamDomain
import Testing

@Suite("Ledger invariant checker")
struct LedgerInvariantTests {
    typealias F = LedgerFixtures

    /// A sound ledger with a captured hold, a voided one, a pending one and an FX conversion.
    static func sound() throws -> Ledger {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000)))
        try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.wallet, credit: F.merchant,
                                                         amount: F.cny(2_000), postedAt: F.now))
        try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.cny(1_000)))
        try ledger.voidHold("auth:2")
        try ledger.placeHold(Hold(id: "auth:3", account: F.wallet, amount: F.cny(500), expiresAt: F.later(600)))
        let conversion = try F.rate(F.cny, F.usd, "0.1403").convert(F.cny(1_234), rounding: .halfEven)
        try ledger.postConversion(conversion, id: "fx:1", debit: F.clearing, credit: F.merchantUSD, postedAt: F.now)
        return ledger
    }

    @Test("a sound ledger has no violations, and restoring it changes nothing")
    func soundLedger() throws {
        let ledger = try Self.sound()
        #expect(ledger.checkInvariants() == [])
        #expect(F.restored(ledger) == ledger)
    }

    @Test("the checker catches a deliberately unbalanced posting")
    func unbalancedPosting() throws {
        let ledger = try Self.sound()
        // Forced in past `post`, which would refuse it: ¥1.00 debited, ¥0.99 credited.
        let forced = Posting(id: "forced:1", entries: [.debit(F.clearing, F.cny(100)), .debit(F.merchant, F.cny(-99))],
                             postedAt: F.now)
        var balances = ledger.balances
        balances[F.clearing] = LedgerBalance(posted: try ledger.balances[F.clearing]!.posted.adding(F.cny(100)), pending: F.cny(0))
        balances[F.merchant] = LedgerBalance(posted: try ledger.balances[F.merchant]!.posted.adding(F.cny(99)), pending: F.cny(0))
        let corrupt = F.restored(ledger, postings: ledger.postings + [forced], balances: balances)
        #expect(corrupt.checkInvariants() == [.unbalancedPosting("forced:1", currency: "CNY", imbalance: 1)])
        #expect(try corrupt.trialBalance(F.cny) == F.cny(1))
    }

    @Test("the checker reports every violation, not just the first")
    func everyViolation() throws {
        let ledger = try Self.sound()
        let forced = [
            Posting(id: "forced:1", entries: [.debit(F.clearing, F.cny(5))], postedAt: F.now),
            Posting(id: "forced:2", entries: [.debit(F.clearingUSD, F.usd(7))], postedAt: F.now),
        ]
        let corrupt = F.restored(ledger, postings: ledger.postings + forced)
        let violations = corrupt.checkInvariants()
        #expect(violations == [
            .unbalancedPosting("forced:1", currency: "CNY", imbalance: 5),
            .unbalancedPosting("forced:2", currency: "USD", imbalance: 7),
            .postedBalanceMismatch(F.clearing, recorded: ledger.balances[F.clearing]!.posted.minorUnits,
                                   expected: ledger.balances[F.clearing]!.posted.minorUnits + 5),
            .postedBalanceMismatch(F.clearingUSD, recorded: 0, expected: 7),
        ])
    }

    /// One corruption of the sound ledger per violation kind, and the violation it must produce.
    static let corruptions: [(String, @Sendable (Ledger) throws -> (Ledger, LedgerViolation))] = [
        ("unbalanced_posting", { ledger in
            let p = Posting(id: "bad", entries: [.debit(F.merchant, F.cny(-1))], postedAt: F.now)
            var balances = ledger.balances
            balances[F.merchant] = LedgerBalance(posted: try balances[F.merchant]!.posted.adding(F.cny(1)), pending: F.cny(0))
            return (F.restored(ledger, postings: ledger.postings + [p], balances: balances),
                    .unbalancedPosting("bad", currency: "CNY", imbalance: -1))
        }),
        ("missing_exchange_rate", { ledger in
            let p = Posting(id: "bad", entries: ledger.postings.first { $0.id == "fx:1" }!.entries, postedAt: F.now)
            let postings = ledger.postings.map { $0.id == "fx:1" ? p : $0 }
            // The residual leaves with the conversion, so the restored carry is cleared too.
            return (F.restored(ledger, postings: postings, carry: [:]), .missingExchangeRate("bad"))
        }),
        ("duplicate_posting", { ledger in
            let p = ledger.postings[0]
            let zeroed = Posting(id: p.id, entries: [.debit(F.clearing, F.cny(1)), .debit(F.merchant, F.cny(-1))], postedAt: F.now)
            let clearing = ledger.balances[F.clearing]!, merchant = ledger.balances[F.merchant]!
            var balances = ledger.balances
            balances[F.clearing] = LedgerBalance(posted: try clearing.posted.adding(F.cny(1)), pending: clearing.pending)
            balances[F.merchant] = LedgerBalance(posted: try merchant.posted.adding(F.cny(1)), pending: merchant.pending)
            return (F.restored(ledger, postings: ledger.postings + [zeroed], balances: balances), .duplicatePosting(p.id))
        }),
        ("unknown_account", { ledger in
            let p = Posting(id: "bad", entries: [.debit(F.clearing, F.cny(1)), .debit("ghost", F.cny(-1))], postedAt: F.now)
            let clearing = ledger.balances[F.clearing]!
            var balances = ledger.balances
            balances[F.clearing] = LedgerBalance(posted: try clearing.posted.adding(F.cny(1)), pending: clearing.pending)
            return (F.restored(ledger, postings: ledger.postings + [p], balances: balances), .unknownAccount("ghost", posting: "bad"))
        }),
        ("currency_mismatch", { ledger in
            let p = Posting(id: "bad", entries: [.debit(F.clearing, F.usd(1)), .debit(F.clearingUSD, F.usd(-1))], postedAt: F.now)
            let clearing = ledger.balances[F.clearing]!
            var balances = ledger.balances
            balances[F.clearing] = LedgerBalance(posted: try clearing.posted.adding(F.cny(1)), pending: clearing.pending)
            balances[F.clearingUSD] = LedgerBalance(posted: F.usd(-1), pending: F.usd(0))
            return (F.restored(ledger, postings: ledger.postings + [p], balances: balances),
                    .currencyMismatch(F.clearing, posting: "bad", expected: "CNY", found: "USD"))
        }),
        ("below_floor", { ledger in
            // Balances kept in step, so only the floor breaks: 8,000 posted − 8,001 − 500 pending.
            let p = Posting(id: "bad", entries: [.debit(F.wallet, F.cny(8_001)), .debit(F.merchant, F.cny(-8_001))], postedAt: F.now)
            let wallet = ledger.balances[F.wallet]!, merchant = ledger.balances[F.merchant]!
            var balances = ledger.balances
            balances[F.wallet] = LedgerBalance(posted: try wallet.posted.subtracting(F.cny(8_001)), pending: wallet.pending)
            balances[F.merchant] = LedgerBalance(posted: try merchant.posted.adding(F.cny(8_001)), pending: merchant.pending)
            return (F.restored(ledger, postings: ledger.postings + [p], balances: balances),
                    .belowFloor(F.wallet, available: -501, floor: 0))
        }),
        ("hold_resolved_twice", { ledger in
            var holds = ledger.holds.values.sorted { $0.id < $1.id }
            holds[1] = Hold(id: "auth:2", account: F.wallet, amount: F.cny(1_000), resolutions: [.voided, .expired])
            return (F.restored(ledger, holds: holds), .holdResolvedTwice("auth:2", resolutions: 2))
        }),
        ("posted_more_than_held", { ledger in
            // Capture ¥20.00 against a ¥15.00 hold: the posting agrees with the resolution, the hold does not.
            var holds = ledger.holds.values.sorted { $0.id < $1.id }
            holds[0] = Hold(id: "auth:1", account: F.wallet, amount: F.cny(1_500), resolutions: [.posted(F.cny(2_000), posting: "capture:1")])
            return (F.restored(ledger, holds: holds), .postedMoreThanHeld("auth:1", held: 1_500, posted: 2_000))
        }),
        ("hold_posting_mismatch", { ledger in
            var holds = ledger.holds.values.sorted { $0.id < $1.id }
            holds[0] = Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000), resolutions: [.posted(F.cny(2_500), posting: "capture:1")])
            return (F.restored(ledger, holds: holds), .holdPostingMismatch("auth:1", posting: "capture:1"))
        }),
        ("hold_unknown_account", { ledger in
            let holds = ledger.holds.values.sorted { $0.id < $1.id } + [Hold(id: "auth:9", account: "ghost", amount: F.cny(1), resolutions: [.voided])]
            return (F.restored(ledger, holds: holds), .holdOnUnknownAccount("auth:9", "ghost"))
        }),
        ("hold_currency_mismatch", { ledger in
            let holds = ledger.holds.values.sorted { $0.id < $1.id } + [Hold(id: "auth:9", account: F.wallet, amount: F.usd(1), resolutions: [.voided])]
            return (F.restored(ledger, holds: holds), .holdCurrencyMismatch("auth:9", expected: "CNY", found: "USD"))
        }),
        ("invalid_hold_amount", { ledger in
            let holds = ledger.holds.values.sorted { $0.id < $1.id } + [Hold(id: "auth:9", account: F.wallet, amount: F.cny(-1), resolutions: [.voided])]
            return (F.restored(ledger, holds: holds), .invalidHoldAmount("auth:9"))
        }),
        ("posted_balance_mismatch", { ledger in
            var balances = ledger.balances
            balances[F.merchant] = LedgerBalance(posted: F.cny(1_999), pending: F.cny(0))
            return (F.restored(ledger, balances: balances), .postedBalanceMismatch(F.merchant, recorded: 1_999, expected: 2_000))
        }),
        ("pending_mismatch", { ledger in
            var balances = ledger.balances
            balances[F.wallet] = LedgerBalance(posted: ledger.balances[F.wallet]!.posted, pending: F.cny(0))
            return (F.restored(ledger, balances: balances), .pendingMismatch(F.wallet, recorded: 0, expected: 500))
        }),
        ("rounding_carry_mismatch", { ledger in
            let carry = ledger.fxRoundingCarry["USD"]!
            return (F.restored(ledger, carry: ["USD": carry + 1]),
                    .roundingCarryMismatch(currency: "USD", recorded: carry + 1, expected: carry))
        }),
        ("rounding_carry_out_of_range", { ledger in
            // Seven more copies of a 0.1302-unit residual, never booked: the carry reaches 1.0416 units.
            let conversion = ledger.postings.first { $0.id == "fx:1" }!.conversions[0]
            let extra = Posting(id: "bad", entries: [.debit(F.clearingUSD, F.usd(1)), .debit(F.merchantUSD, F.usd(-1))],
                                conversions: Array(repeating: conversion, count: 7), postedAt: F.now)
            var balances = ledger.balances
            balances[F.clearingUSD] = LedgerBalance(posted: F.usd(1), pending: F.usd(0))
            balances[F.merchantUSD] = LedgerBalance(posted: try ledger.balances[F.merchantUSD]!.posted.adding(F.usd(1)), pending: F.usd(0))
            let expected = ledger.fxRoundingCarry["USD"]! + 7 * conversion.residual.numerator * (1_000_000_000_000_000_000 / conversion.residual.denominator)
            return (F.restored(ledger, postings: ledger.postings + [extra], balances: balances, carry: ["USD": expected]),
                    .roundingCarryOutOfRange(currency: "USD", carry: expected))
        }),
    ]

    @Test("each kind of violation is caught, with its stable code", arguments: corruptions.indices)
    func eachViolation(index: Int) throws {
        let (code, corrupt) = Self.corruptions[index]
        let (ledger, expected) = try corrupt(try Self.sound())
        let violations = ledger.checkInvariants()
        #expect(violations == [expected], "\(code)")
        #expect(expected.code == code)
        #expect(!expected.description.isEmpty)
    }

    @Test("every violation kind has its own code")
    func distinctCodes() {
        #expect(Set(Self.corruptions.map(\.0)).count == Self.corruptions.count)
    }
}
