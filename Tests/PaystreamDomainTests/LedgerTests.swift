import Foundation
import PaystreamDomain
import Testing

@Suite("Ledger postings and holds")
struct LedgerTests {
    typealias F = LedgerFixtures

    // MARK: Postings

    @Test("a posting moves each account on its normal side and the books still sum to zero")
    func balancedPosting() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        #expect(ledger.balance(of: F.wallet)?.posted == F.cny(10_000))   // credit-normal: the credit raised it
        #expect(ledger.balance(of: F.clearing)?.posted == F.cny(10_000)) // debit-normal: the debit raised it
        try ledger.post(.transfer("pay:1", debit: F.wallet, credit: F.merchant, amount: F.cny(2_500), postedAt: F.now))
        #expect(ledger.balance(of: F.wallet)?.posted == F.cny(7_500))
        #expect(ledger.balance(of: F.merchant)?.posted == F.cny(2_500))
        #expect(try ledger.trialBalance(F.cny) == F.cny(0))
        #expect(ledger.contains("pay:1"))
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("a multi-leg posting balances per currency", arguments: [
        // clearing debit, merchant credit, fee credit
        (Int64(10_000), Int64(9_940), Int64(60), true),
        (10_000, 9_940, 61, false),
        (10_000, 10_000, 0, false),  // a zero fee leg is refused rather than booked
    ])
    func multiLeg(clearing: Int64, merchant: Int64, fee: Int64, accepted: Bool) throws {
        var ledger = try F.ledger()
        try ledger.open(Account(id: "fee_revenue:CNY", currency: F.cny, normalSide: .credit))
        let posting = try Posting(id: "booking:1", entries: [
            .debit(F.clearing, F.cny(clearing)), .credit(F.merchant, F.cny(merchant)), .credit("fee_revenue:CNY", F.cny(fee)),
        ], postedAt: F.now)
        let before = ledger
        if accepted {
            try ledger.post(posting)
            #expect(ledger.balance(of: "fee_revenue:CNY")?.posted == F.cny(fee))
        } else {
            #expect(throws: LedgerError.self) { try ledger.post(posting) }
            #expect(ledger == before)
        }
    }

    @Test("refused postings leave the ledger unchanged", arguments: [
        ("unbalanced", LedgerError.unbalanced("p", currency: "CNY", imbalance: 1)),
        ("one currency short", .unbalanced("p", currency: "USD", imbalance: -1)),
        ("no rate", .missingExchangeRate("p")),
        ("empty", .emptyPosting("p")),
        ("zero leg", .zeroEntry("p", LedgerFixtures.merchant)),
        ("unknown account", .unknownAccount("nowhere")),
        ("wrong currency", .currencyMismatch(LedgerFixtures.merchant, expected: "CNY", found: "USD")),
        ("duplicate id", .duplicatePosting("topup:1")),
    ])
    func refused(name: String, expected: LedgerError) throws {
        var ledger = try F.ledger()
        let rate = try F.rate(F.cny, F.usd, "0.14")
        let conversion = try rate.convert(F.cny(100), rounding: .halfEven)
        let entries: [Entry] = switch name {
        case "unbalanced": [.debit(F.clearing, F.cny(101)), try .credit(F.merchant, F.cny(100))]
        case "one currency short": [.debit(F.clearing, F.cny(100)), try .credit(F.merchant, F.cny(100)),
                                    .debit(F.clearingUSD, F.usd(14)), try .credit(F.merchantUSD, F.usd(15))]
        case "no rate": [.debit(F.clearing, F.cny(100)), try .credit(F.merchant, F.cny(100)),
                         .debit(F.clearingUSD, F.usd(14)), try .credit(F.merchantUSD, F.usd(14))]
        case "empty": []
        case "zero leg": [.debit(F.clearing, F.cny(100)), try .credit(F.merchant, F.cny(100)), .debit(F.merchant, F.cny(0))]
        case "unknown account": [.debit(F.clearing, F.cny(100)), try .credit("nowhere", F.cny(100))]
        case "wrong currency": [.debit(F.clearingUSD, F.usd(100)), try .credit(F.merchant, F.usd(100))]
        default: [.debit(F.clearing, F.cny(1)), try .credit(F.merchant, F.cny(1))]
        }
        let id: PostingID = name == "duplicate id" ? "topup:1" : "p"
        let posting = Posting(id: id, entries: entries, conversions: name == "one currency short" ? [conversion] : [], postedAt: F.now)
        let before = ledger
        #expect(throws: expected) { try ledger.post(posting) }
        #expect(ledger == before)
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("a reversal restores every balance")
    func reversal() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        let before = ledger.balances
        let payment = try Posting.transfer("pay:1", debit: F.wallet, credit: F.merchant, amount: F.cny(4_000), postedAt: F.now)
        try ledger.post(payment)
        try ledger.reverse("pay:1", as: "refund:1", postedAt: F.later(60))
        #expect(ledger.balances == before)
        #expect(ledger.postings.last?.entries == [try .credit(F.wallet, F.cny(4_000)), .debit(F.merchant, F.cny(4_000))])
        #expect(throws: LedgerError.unknownPosting("pay:9")) { try ledger.reverse("pay:9", as: "refund:2", postedAt: F.now) }
        #expect(ledger.postings.count == 3)
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("opening an account twice is harmless; opening it with other terms is refused")
    func openTwice() throws {
        var ledger = try F.ledger()
        let before = ledger
        try ledger.open(.wallet(F.wallet, currency: F.cny))
        #expect(ledger == before)
        #expect(throws: LedgerError.duplicateAccount(F.wallet)) {
            try ledger.open(.creditLine(F.wallet, limit: F.cny(100)))
        }
    }

    // MARK: Floors

    @Test("a wallet cannot be overdrawn, by a posting or a hold", arguments: [
        // balance, pending hold, amount taken, accepted
        (Int64(10_000), Int64(0), Int64(10_000), true),
        (10_000, 0, 10_001, false),
        (10_000, 6_000, 4_000, true),
        (10_000, 6_000, 4_001, false),
        (0, 0, 1, false),
    ])
    func overdraft(balance: Int64, pending: Int64, amount: Int64, accepted: Bool) throws {
        for viaHold in [false, true] {
            var ledger = try F.ledger(walletBalance: balance)
            if pending > 0 { try ledger.placeHold(Hold(id: "auth:0", account: F.wallet, amount: F.cny(pending))) }
            let before = ledger
            let attempt = { (ledger: inout Ledger) throws(LedgerError) in
                if viaHold {
                    try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(amount)))
                } else {
                    try ledger.post(Posting(id: "pay:1", entries: [.debit(F.wallet, F.cny(amount)),
                                                                    .debit(F.merchant, F.cny(-amount))], postedAt: F.now))
                }
            }
            if accepted {
                try attempt(&ledger)
                #expect(ledger.headroom(of: F.wallet) == F.cny(balance - pending - amount))
            } else {
                let available = balance - pending - amount
                #expect(throws: LedgerError.belowFloor(F.wallet, available: available, floor: 0)) { try attempt(&ledger) }
                #expect(ledger == before)
            }
        }
    }

    @Test("money coming into an account is never refused by its floor")
    func inflowAlwaysAllowed() throws {
        var ledger = try F.ledger(walletBalance: 0)
        try ledger.post(.transfer("topup:2", debit: F.clearing, credit: F.wallet, amount: F.cny(1), postedAt: F.now))
        #expect(ledger.headroom(of: F.wallet) == F.cny(1))
    }

    @Test("a credit line is drawn down to its limit and no further; repayment restores it")
    func creditLine() throws {
        var ledger = try F.ledger(creditLimit: 50_000)
        #expect(ledger.headroom(of: F.creditLine) == F.cny(50_000))
        try ledger.placeHold(Hold(id: "auth:1", account: F.creditLine, amount: F.cny(30_000)))
        #expect(ledger.headroom(of: F.creditLine) == F.cny(20_000))
        #expect(ledger.balance(of: F.creditLine)?.posted == F.cny(0))
        try ledger.post(.transfer("pay:2", debit: F.creditLine, credit: F.merchant, amount: F.cny(20_000), postedAt: F.now))
        #expect(ledger.balance(of: F.creditLine)?.posted == F.cny(-20_000))  // usage 200.00
        #expect(throws: LedgerError.belowFloor(F.creditLine, available: -50_001, floor: -50_000)) {
            try ledger.placeHold(Hold(id: "auth:2", account: F.creditLine, amount: F.cny(1)))
        }
        try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.creditLine, credit: F.merchant,
                                                         amount: F.cny(30_000), postedAt: F.now))
        #expect(ledger.headroom(of: F.creditLine) == F.cny(0))
        try ledger.post(.transfer("repay:1", debit: F.clearing, credit: F.creditLine, amount: F.cny(12_000), postedAt: F.now))
        #expect(ledger.headroom(of: F.creditLine) == F.cny(12_000))
        #expect(ledger.checkInvariants().isEmpty)
    }

    // MARK: Holds

    @Test("a hold lowers available, not posted")
    func holdLowersAvailable() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000), expiresAt: F.later(600)))
        let balance = try #require(ledger.balance(of: F.wallet))
        #expect(balance.posted == F.cny(10_000))
        #expect(balance.pending == F.cny(3_000))
        #expect(balance.available == F.cny(7_000))
        #expect(ledger.holds["auth:1"]?.isPending == true)
    }

    @Test("posting a hold in full or in part moves what was posted and releases the rest", arguments: [
        // held, posted
        (Int64(3_000), Int64(3_000)), (3_000, 1_200), (3_000, 1), (10_000, 10_000),
    ])
    func postHold(held: Int64, posted: Int64) throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(held)))
        try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.wallet, credit: F.merchant,
                                                         amount: F.cny(posted), postedAt: F.now))
        let balance = try #require(ledger.balance(of: F.wallet))
        #expect(balance.posted == F.cny(10_000 - posted))
        #expect(balance.pending == F.cny(0))
        #expect(ledger.balance(of: F.merchant)?.posted == F.cny(posted))
        #expect(ledger.holds["auth:1"]?.resolution == .posted(F.cny(posted), posting: "capture:1"))
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("posting more than was held, or nothing from the held account, is refused")
    func postHoldRefused() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000)))
        let before = ledger
        #expect(throws: LedgerError.postedMoreThanHeld("auth:1", held: 3_000, posted: 3_001)) {
            try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.wallet, credit: F.merchant,
                                                             amount: F.cny(3_001), postedAt: F.now))
        }
        #expect(throws: LedgerError.holdNotInPosting("auth:1", "capture:1")) {
            try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.clearing, credit: F.merchant,
                                                             amount: F.cny(100), postedAt: F.now))
        }
        // Into the wallet is the wrong way for a hold on it.
        #expect(throws: LedgerError.holdNotInPosting("auth:1", "capture:1")) {
            try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.merchant, credit: F.wallet,
                                                             amount: F.cny(100), postedAt: F.now))
        }
        #expect(throws: LedgerError.unknownHold("auth:9")) {
            try ledger.postHold("auth:9", posting: .transfer("capture:1", debit: F.wallet, credit: F.merchant,
                                                             amount: F.cny(100), postedAt: F.now))
        }
        #expect(ledger == before)
    }

    @Test("a hold's own reservation does not block its capture")
    func captureUsesOwnReservation() throws {
        var ledger = try F.ledger(walletBalance: 5_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(5_000)))
        #expect(ledger.headroom(of: F.wallet) == F.cny(0))
        try ledger.postHold("auth:1", posting: .transfer("capture:1", debit: F.wallet, credit: F.merchant,
                                                         amount: F.cny(5_000), postedAt: F.now))
        #expect(ledger.balance(of: F.wallet)?.posted == F.cny(0))
    }

    @Test("voiding releases the whole hold")
    func void() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000)))
        try ledger.voidHold("auth:1")
        #expect(ledger.balance(of: F.wallet) == LedgerBalance(posted: F.cny(10_000), pending: F.cny(0)))
        #expect(ledger.holds["auth:1"]?.resolution == .voided)
        #expect(ledger.postings.count == 1)
    }

    @Test("a hold expires at its expiry, not before, and never without one")
    func expire() throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000), expiresAt: F.later(600)))
        try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.cny(1_000), expiresAt: F.later(1_200)))
        try ledger.placeHold(Hold(id: "auth:3", account: F.wallet, amount: F.cny(500)))
        #expect(throws: LedgerError.holdNotExpired("auth:1")) { try ledger.expireHold("auth:1", at: F.later(599)) }
        #expect(throws: LedgerError.holdNotExpired("auth:3")) { try ledger.expireHold("auth:3", at: F.later(99_999)) }
        try ledger.expireHold("auth:1", at: F.later(600))
        #expect(ledger.balance(of: F.wallet)?.pending == F.cny(1_500))
        #expect(ledger.expireHolds(asOf: F.later(1_199)) == [])
        #expect(ledger.expireHolds(asOf: F.later(5_000)) == ["auth:2"])
        #expect(ledger.holds["auth:2"]?.resolution == .expired)
        #expect(ledger.balance(of: F.wallet)?.pending == F.cny(500))
        #expect(ledger.checkInvariants().isEmpty)
    }

    enum Resolution: String, CaseIterable, Sendable { case post, void, expire }

    @Test("a hold resolves at most once", arguments: Resolution.allCases, Resolution.allCases)
    func resolveTwice(first: Resolution, second: Resolution) throws {
        var ledger = try F.ledger(walletBalance: 10_000)
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(3_000), expiresAt: F.later(60)))
        func resolve(_ resolution: Resolution, _ n: Int) throws(LedgerError) {
            switch resolution {
            case .post:
                let posting = Posting(id: PostingID("capture:\(n)"), entries: [
                    .debit(F.wallet, F.cny(1_000)), .debit(F.merchant, F.cny(-1_000)),
                ], postedAt: F.now)
                try ledger.postHold("auth:1", posting: posting)
            case .void: try ledger.voidHold("auth:1")
            case .expire: try ledger.expireHold("auth:1", at: F.later(60))
            }
        }
        try resolve(first, 1)
        let resolved = try #require(ledger.holds["auth:1"]?.resolution)
        let before = ledger
        #expect(throws: LedgerError.holdAlreadyResolved("auth:1", resolved)) { try resolve(second, 2) }
        #expect(ledger == before)
        #expect(ledger.expireHolds(asOf: F.later(3_600)) == [])
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("holds must be positive, unique, on an open account in its currency")
    func invalidHolds() throws {
        var ledger = try F.ledger()
        try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(1)))
        let before = ledger
        #expect(throws: LedgerError.duplicateHold("auth:1")) { try ledger.placeHold(Hold(id: "auth:1", account: F.wallet, amount: F.cny(1))) }
        #expect(throws: LedgerError.invalidHold("auth:2")) { try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.cny(0))) }
        #expect(throws: LedgerError.invalidHold("auth:2")) { try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.cny(-5))) }
        #expect(throws: LedgerError.invalidHold("auth:2")) {
            try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.cny(5), resolutions: [.voided]))
        }
        #expect(throws: LedgerError.unknownAccount("nowhere")) { try ledger.placeHold(Hold(id: "auth:2", account: "nowhere", amount: F.cny(1))) }
        #expect(throws: LedgerError.currencyMismatch(F.wallet, expected: "CNY", found: "USD")) {
            try ledger.placeHold(Hold(id: "auth:2", account: F.wallet, amount: F.usd(1)))
        }
        #expect(ledger == before)
    }

    @Test("amounts that would overflow are refused, not trapped")
    func overflow() throws {
        var ledger = Ledger()
        try ledger.open(Account(id: "a", currency: F.cny, normalSide: .debit))
        try ledger.open(Account(id: "b", currency: F.cny, normalSide: .credit))
        try ledger.post(.transfer("p1", debit: "a", credit: "b", amount: F.cny(.max), postedAt: F.now))
        #expect(throws: LedgerError.money(.overflow)) {
            try ledger.post(.transfer("p2", debit: "a", credit: "b", amount: F.cny(1), postedAt: F.now))
        }
        #expect(throws: MoneyError.overflow) { try Posting.transfer("p3", debit: "a", credit: "b", amount: F.cny(.min), postedAt: F.now) }
        #expect(ledger.checkInvariants().isEmpty)
    }
}
