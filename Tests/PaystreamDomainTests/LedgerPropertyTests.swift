import Foundation
import PaystreamDomain
import PaystreamTesting
import Testing

@Suite("Ledger properties")
struct LedgerPropertyTests {
    typealias F = LedgerFixtures

    static let operationsPerCase = 200

    enum Operation: String, CaseIterable {
        case topUp, payment, booking, placeHold, postHold, voidHold, expireHold, expireDue, reversal, conversion
        case unbalanced, resolveAgain
    }

    /// The accounts of one random book: payers' wallets and credit lines, clearing, merchants and
    /// fees, in four currencies with 0, 2 and 3 decimals.
    struct Book {
        var payers: [AccountID] = []
        var clearing: [String: AccountID] = [:]
        var merchants: [String: AccountID] = [:]
        var fees: [String: AccountID] = [:]
        var currencies: [Currency] = []

        init(random: inout SeededRandom, ledger: inout Ledger) throws {
            currencies = ["CNY", "USD", "JPY", "KWD"].map { Currency.named($0)! }
            for currency in currencies {
                let code = currency.code
                clearing[code] = AccountID("clearing:\(code)")
                merchants[code] = AccountID("merchant_payable:m-1:\(code)")
                fees[code] = AccountID("fee_revenue:\(code)")
                try ledger.open(Account(id: clearing[code]!, currency: currency, normalSide: .debit))
                try ledger.open(Account(id: merchants[code]!, currency: currency, normalSide: .credit))
                try ledger.open(Account(id: fees[code]!, currency: currency, normalSide: .credit))
                for payer in 0..<2 {
                    let wallet = AccountID("wallet:user-\(payer):\(code)")
                    try ledger.open(.wallet(wallet, currency: currency))
                    let line = AccountID("credit_line:user-\(payer):\(code)")
                    try ledger.open(.creditLine(line, limit: Money(minorUnits: Int64.random(in: 0...50_000, using: &random), currency: currency)))
                    payers += [wallet, line]
                }
            }
        }
    }

    @Test("long random sequences of operations leave a ledger with no violations")
    func randomOperations() async {
        // Seconds of computation: on a thread of its own, not one of the two the other tests share.
        await onOwnThread { runRandomOperations() }
    }

    private func runRandomOperations() {
        var succeeded: [Operation: Int] = [:]
        var refused: [Operation: Int] = [:]
        let failures = forAllCases("ledger operations") { random, _ in
            var ledger = Ledger()
            let book: Book
            do { book = try Book(random: &random, ledger: &ledger) } catch { return "opening accounts: \(error)" }
            var clock = F.now
            var postingNumber = 0
            for step in 0..<Self.operationsPerCase {
                clock = clock.addingTimeInterval(Double(Int.random(in: 1...120, using: &random)))
                postingNumber += 1
                let operation = Operation.allCases.randomElement(using: &random)!
                let before = ledger
                let outcome: Result<Void, any Error>
                do {
                    try Self.perform(operation, on: &ledger, book: book, id: PostingID("p\(postingNumber)"), at: clock, random: &random)
                    outcome = .success(())
                } catch {
                    outcome = .failure(error)
                }
                switch outcome {
                case .success:
                    if operation == .unbalanced || operation == .resolveAgain { return "step \(step): \(operation) was accepted" }
                    succeeded[operation, default: 0] += 1
                case .failure(let error):
                    guard error is LedgerError || error is Skip else { return "step \(step): \(operation) threw \(error)" }
                    if error is LedgerError { refused[operation, default: 0] += 1 }
                    guard ledger == before else { return "step \(step): refused \(operation) (\(error)) changed the ledger" }
                }
                if step % 50 == 49, let problem = Self.problems(in: ledger) { return "after step \(step): \(problem)" }
            }
            return Self.problems(in: ledger)
        }
        #expect(failures.isEmpty, "\(failures)")
        // Each kind of operation must both succeed and (where it can) be refused, or the property proves little.
        for operation in Operation.allCases where operation != .unbalanced && operation != .resolveAgain {
            #expect(succeeded[operation, default: 0] > 0, "\(operation) never succeeded")
        }
        for operation in [Operation.payment, .placeHold, .postHold, .reversal, .unbalanced, .resolveAgain] {
            #expect(refused[operation, default: 0] > 0, "\(operation) never refused")
        }
    }

    /// Nothing to do (no hold pending, no posting to reverse): not a refusal.
    struct Skip: Error {}

    static func perform(_ operation: Operation, on ledger: inout Ledger, book: Book, id: PostingID, at now: Date,
                        random: inout SeededRandom) throws {
        let currency = book.currencies.randomElement(using: &random)!
        let code = currency.code
        func amount(_ range: ClosedRange<Int64> = 1...20_000) -> Money {
            // Now and then a large amount, to run into floors.
            let value = Int.random(in: 0..<10, using: &random) == 0 ? Int64.random(in: 20_000...200_000, using: &random)
                                                                   : Int64.random(in: range, using: &random)
            return Money(minorUnits: value, currency: currency)
        }
        let payer = book.payers.filter { ledger.accounts[$0]?.currency == currency }.randomElement(using: &random)!
        let pendingHolds = ledger.holds.values.filter(\.isPending).sorted { $0.id < $1.id }
        switch operation {
        case .topUp:
            try ledger.post(.transfer(id, debit: book.clearing[code]!, credit: payer, amount: amount(), postedAt: now))
        case .payment:
            try ledger.post(.transfer(id, debit: payer, credit: book.merchants[code]!, amount: amount(), postedAt: now))
        case .booking:
            let gross = amount()
            let fee = Money(minorUnits: Int64.random(in: 1...max(1, gross.minorUnits / 10), using: &random), currency: currency)
            guard fee < gross else { throw Skip() }
            try ledger.post(Posting(id: id, entries: [
                .debit(book.clearing[code]!, gross), .credit(book.merchants[code]!, try gross.subtracting(fee)),
                .credit(book.fees[code]!, fee),
            ], postedAt: now))
        case .placeHold:
            let expiry = Bool.random(using: &random) ? now.addingTimeInterval(Double(Int.random(in: 60...3_600, using: &random))) : nil
            try ledger.placeHold(Hold(id: HoldID("h-\(id)"), account: payer, amount: amount(), expiresAt: expiry))
        case .postHold:
            guard let hold = pendingHolds.randomElement(using: &random) else { throw Skip() }
            let held = hold.amount.minorUnits
            // In full, in part, or now and then more than was held.
            let taken = switch Int.random(in: 0..<8, using: &random) {
            case 0: held + 1
            case 1, 2: held
            default: Int64.random(in: 1...held, using: &random)
            }
            let merchant = book.merchants[hold.amount.currency.code]!
            try ledger.postHold(hold.id, posting: .transfer(id, debit: hold.account, credit: merchant,
                                                            amount: Money(minorUnits: taken, currency: hold.amount.currency), postedAt: now))
        case .voidHold:
            guard let hold = pendingHolds.randomElement(using: &random) else { throw Skip() }
            try ledger.voidHold(hold.id)
        case .expireHold:
            guard let hold = pendingHolds.randomElement(using: &random) else { throw Skip() }
            try ledger.expireHold(hold.id, at: now)
        case .expireDue:
            ledger.expireHolds(asOf: now)
        case .reversal:
            // A refund or correction of any earlier posting, conversions included.
            guard let original = ledger.postings.randomElement(using: &random) else { throw Skip() }
            try ledger.reverse(original.id, as: id, postedAt: now)
        case .conversion:
            let quote = book.currencies.filter { $0 != currency }.randomElement(using: &random)!
            let rate = try ExchangeRate(base: currency, quote: quote, value: Int64.random(in: 1...50_000_000, using: &random),
                                        scale: Int.random(in: 0...8, using: &random), source: "test", asOf: now)
            let source = Bool.random(using: &random) ? payer : book.clearing[code]!
            let conversion = try rate.convert(amount(), rounding: RoundingMode.allCases.randomElement(using: &random)!)
            try ledger.postConversion(conversion, id: id, debit: source, credit: book.merchants[quote.code]!, postedAt: now)
        case .unbalanced:
            let value = amount()
            let off = Money(minorUnits: value.minorUnits + Int64.random(in: 1...3, using: &random), currency: currency)
            try ledger.post(Posting(id: id, entries: [.debit(book.clearing[code]!, off), .credit(book.merchants[code]!, value)],
                                    postedAt: now))
        case .resolveAgain:
            guard let hold = ledger.holds.values.filter({ !$0.isPending }).sorted(by: { $0.id < $1.id }).randomElement(using: &random)
            else { throw Skip() }
            switch Int.random(in: 0..<3, using: &random) {
            case 0: try ledger.voidHold(hold.id)
            case 1: try ledger.expireHold(hold.id, at: now.addingTimeInterval(1_000_000))
            default:
                try ledger.postHold(hold.id, posting: .transfer(id, debit: hold.account, credit: book.merchants[hold.amount.currency.code]!,
                                                                amount: Money(minorUnits: 1, currency: hold.amount.currency), postedAt: now))
            }
        }
    }

    /// What is wrong with `ledger`, checked by the invariant checker and again independently:
    /// every posting balances per currency, balances and pending totals match a replay, no account
    /// is below its floor, and every currency's accounts sum to zero.
    static func problems(in ledger: Ledger) -> String? {
        let violations = ledger.checkInvariants()
        guard violations.isEmpty else { return "violations: \(violations.map(\.description))" }
        var replayed: [AccountID: Int64] = [:]
        for posting in ledger.postings {
            guard posting.isBalanced else { return "posting \(posting.id) does not balance" }
            for entry in posting.entries { replayed[entry.account, default: 0] += entry.amount.minorUnits }
        }
        var pending: [AccountID: Int64] = [:]
        for hold in ledger.holds.values where hold.isPending { pending[hold.account, default: 0] += hold.amount.minorUnits }
        var totals: [String: Int64] = [:]
        for (id, account) in ledger.accounts {
            let raw = replayed[id] ?? 0
            guard let balance = ledger.balance(of: id) else { return "no balance for \(id)" }
            let posted = account.normalSide == .debit ? raw : -raw
            guard balance.posted.minorUnits == posted else { return "\(id) posted \(balance.posted.minorUnits), replay \(posted)" }
            guard balance.pending.minorUnits == pending[id] ?? 0 else { return "\(id) pending \(balance.pending.minorUnits)" }
            if let floor = account.floor, balance.available < floor { return "\(id) below its floor: \(balance)" }
            if let headroom = ledger.headroom(of: id), headroom.isNegative { return "\(id) headroom \(headroom)" }
            totals[account.currency.code, default: 0] += raw
        }
        if let (code, total) = totals.first(where: { $0.value != 0 }) { return "\(code) accounts sum to \(total)" }
        for code in Set(ledger.accounts.values.map(\.currency.code)) {
            guard (try? ledger.trialBalance(Currency.named(code)!))?.isZero == true else { return "\(code) trial balance is not zero" }
        }
        for (code, carry) in ledger.fxRoundingCarry where carry.magnitude >= 1_000_000_000_000_000_000 {
            return "\(code) carry \(carry) is a whole unit"
        }
        return nil
    }
}
