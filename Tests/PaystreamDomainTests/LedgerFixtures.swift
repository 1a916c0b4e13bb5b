import Foundation
import PaystreamDomain

/// Currencies, accounts and dates the ledger and FX tests share.
enum LedgerFixtures {
    static let cny = Currency.named("CNY")!
    static let usd = Currency.named("USD")!
    static let jpy = Currency.named("JPY")!
    static let kwd = Currency.named("KWD")!
    static let clf = Currency.named("CLF")!

    static let now = Date(timeIntervalSince1970: 1_795_514_400)  // 2026-11-24T10:00:00Z
    static func later(_ seconds: TimeInterval) -> Date { now.addingTimeInterval(seconds) }

    static func cny(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: cny) }
    static func usd(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: usd) }

    static let wallet: AccountID = "wallet:user-42:CNY"
    static let creditLine: AccountID = "credit_line:user-42:CNY"
    static let clearing: AccountID = "clearing:alipay:CNY"
    static let merchant: AccountID = "merchant_payable:m-7:CNY"
    static let merchantUSD: AccountID = "merchant_payable:m-7:USD"
    static let clearingUSD: AccountID = "clearing:card:USD"

    /// A ledger with a wallet, a credit line of ¥500.00, clearing and merchant accounts in CNY
    /// and USD, and the wallet topped up with `walletBalance`.
    static func ledger(walletBalance: Int64 = 10_000, creditLimit: Int64 = 50_000) throws -> Ledger {
        var ledger = Ledger()
        try ledger.open(.wallet(wallet, currency: cny))
        try ledger.open(.creditLine(creditLine, limit: cny(creditLimit)))
        try ledger.open(Account(id: clearing, currency: cny, normalSide: .debit))
        try ledger.open(Account(id: merchant, currency: cny, normalSide: .credit))
        try ledger.open(Account(id: clearingUSD, currency: usd, normalSide: .debit))
        try ledger.open(Account(id: merchantUSD, currency: usd, normalSide: .credit))
        if walletBalance > 0 {
            try ledger.post(.transfer("topup:1", debit: clearing, credit: wallet, amount: cny(walletBalance), postedAt: now))
        }
        return ledger
    }

    static func rate(_ base: Currency, _ quote: Currency, _ text: String) throws -> ExchangeRate {
        try ExchangeRate(base: base, quote: quote, rate: text, source: "test", asOf: now)
    }

    /// The parts of `ledger`, for restoring a deliberately corrupted copy.
    static func restored(_ ledger: Ledger, accounts: [Account]? = nil, postings: [Posting]? = nil, holds: [Hold]? = nil,
                         balances: [AccountID: LedgerBalance]? = nil, carry: [String: Int64]? = nil) -> Ledger {
        Ledger(restoring: accounts ?? ledger.accounts.values.sorted { $0.id < $1.id },
               postings: postings ?? ledger.postings,
               holds: holds ?? ledger.holds.values.sorted { $0.id < $1.id },
               balances: balances ?? ledger.balances,
               fxRoundingCarry: carry ?? ledger.fxRoundingCarry)
    }
}
