import Foundation

/// A double-entry ledger: accounts, the postings booked to them, and two-phase holds.
///
/// A value type with mutating operations, so a stage can load it, apply a decision inside its
/// store transaction and persist it. Every operation either applies completely or throws and
/// leaves the ledger as it was. Floors are enforced on every posting and hold, counting pending
/// holds; `checkInvariants()` re-derives everything from postings and holds and reports every
/// violation it finds.
public struct Ledger: Sendable, Hashable {
    public private(set) var accounts: [AccountID: Account]
    /// In booking order.
    public private(set) var postings: [Posting]
    public private(set) var holds: [HoldID: Hold]
    /// Kept up to date by every operation so that reads need not replay postings.
    public private(set) var balances: [AccountID: LedgerBalance]
    /// Per quote currency code, the FX residual not yet booked to `fx_rounding`, in 10⁻¹⁸ of a minor
    /// unit; always less than one minor unit either way.
    public private(set) var fxRoundingCarry: [String: Int64]
    private var postingIDs: Set<PostingID>

    public init() {
        accounts = [:]
        postings = []
        holds = [:]
        balances = [:]
        fxRoundingCarry = [:]
        postingIDs = []
    }

    /// Restores a ledger from storage exactly as given, checking nothing, so that `paystream
    /// verify` (and tests) can load a ledger that may be corrupt and run `checkInvariants()`.
    /// Of repeated account or hold ids the first is kept.
    public init(restoring accounts: [Account], postings: [Posting], holds: [Hold],
                balances: [AccountID: LedgerBalance], fxRoundingCarry: [String: Int64] = [:]) {
        self.accounts = Dictionary(accounts.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.postings = postings
        self.holds = Dictionary(holds.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.balances = balances
        self.fxRoundingCarry = fxRoundingCarry
        postingIDs = Set(postings.map(\.id))
    }

    // MARK: Reading

    public func balance(of id: AccountID) -> LedgerBalance? {
        guard let account = accounts[id] else { return nil }
        return balances[id] ?? .zero(account.currency)
    }

    /// How much more can be held or posted away before the floor: for a wallet, balance minus
    /// holds; for a credit line, the available credit. Nil for an account without a floor.
    public func headroom(of id: AccountID) -> Money? {
        guard let account = accounts[id], let floor = account.floor, let balance = balance(of: id) else { return nil }
        return Money(minorUnits: clamped(Int128(balance.available.minorUnits) - Int128(floor.minorUnits)),
                     currency: account.currency)
    }

    /// Debits minus credits over every account in `currency`: zero in a sound ledger.
    public func trialBalance(_ currency: Currency) throws(MoneyError) -> Money {
        var total: Int128 = 0
        for (id, account) in accounts where account.currency.code == currency.code {
            total += account.normal(Int128(balances[id]?.posted.minorUnits ?? 0))
        }
        guard let sum = Int64(exactly: total) else { throw .overflow }
        return Money(minorUnits: sum, currency: currency)
    }

    /// Whether a posting with this id is booked: a redelivered request finds its posting here.
    public func contains(_ posting: PostingID) -> Bool { postingIDs.contains(posting) }

    // MARK: Accounts

    /// Opens `account`. Opening an identical account again does nothing, so a stage may open
    /// the accounts a request needs every time it sees one.
    public mutating func open(_ account: Account) throws(LedgerError) {
        if let existing = accounts[account.id] {
            guard existing == account else { throw .duplicateAccount(account.id) }
            return
        }
        accounts[account.id] = account
        balances[account.id] = .zero(account.currency)
    }

    /// Removes an account nothing has booked to: undoes an `open` when the operation that
    /// needed the account is refused.
    mutating func close(_ id: AccountID) {
        accounts[id] = nil
        balances[id] = nil
    }

    // MARK: Postings

    /// Books `posting` if it balances per currency, names open accounts in their currencies,
    /// carries a rate snapshot when it spans currencies, and takes no account below its floor.
    public mutating func post(_ posting: Posting) throws(LedgerError) {
        let effect = try effect(of: posting, releasing: nil)
        apply(posting, effect)
    }

    /// Books the reversal of posting `original` (a refund, a correction) as posting `id`: every
    /// entry mirrored on the other side. For a conversion, its residual is given back to the carry
    /// at the carry's current value, so the split between `fx:QUOTE` and `fx_rounding:QUOTE` may
    /// differ from the original's by a minor unit; every other leg mirrors exactly.
    public mutating func reverse(_ original: PostingID, as id: PostingID, postedAt: Date) throws(LedgerError) {
        guard let posting = postings.last(where: { $0.id == original }) else { throw .unknownPosting(original) }
        let reversal: Posting
        do throws(MoneyError) {
            reversal = try settlingRoundingCarry(of: posting.reversal(id: id, postedAt: postedAt))
        } catch {
            throw .money(error)
        }
        try post(reversal)
    }

    // MARK: Holds

    /// Reserves `hold.amount` on its account: available drops, posted does not. Refused when
    /// available would fall below the account's floor.
    public mutating func placeHold(_ hold: Hold) throws(LedgerError) {
        guard holds[hold.id] == nil else { throw .duplicateHold(hold.id) }
        guard hold.isPending, hold.amount.isPositive else { throw .invalidHold(hold.id) }
        guard let account = accounts[hold.account] else { throw .unknownAccount(hold.account) }
        guard hold.amount.currency.code == account.currency.code else {
            throw .currencyMismatch(hold.account, expected: account.currency.code, found: hold.amount.currency.code)
        }
        let balance = balances[hold.account] ?? .zero(account.currency)
        let (pending, overflow) = balance.pending.minorUnits.addingReportingOverflow(hold.amount.minorUnits)
        guard !overflow else { throw .money(.overflow) }
        if let floor = account.floor {
            let available = Int128(balance.posted.minorUnits) - Int128(pending)
            guard available >= Int128(floor.minorUnits) else {
                throw .belowFloor(hold.account, available: clamped(available), floor: floor.minorUnits)
            }
        }
        holds[hold.id] = hold
        balances[hold.account] = LedgerBalance(posted: balance.posted, pending: Money(minorUnits: pending, currency: account.currency))
    }

    /// Captures hold `id` with `posting`, which must take between one minor unit and the held
    /// amount from the held account (a debit on a credit-normal account); whatever it does not
    /// take is released. The hold's reservation no longer counts when the floor is checked.
    public mutating func postHold(_ id: HoldID, posting: Posting) throws(LedgerError) {
        let hold = try pendingHold(id)
        guard let account = accounts[hold.account] else { throw .unknownAccount(hold.account) }
        let taken = -account.normal(posting.net(on: hold.account))
        guard taken > 0 else { throw .holdNotInPosting(id, posting.id) }
        guard taken <= Int128(hold.amount.minorUnits) else {
            throw .postedMoreThanHeld(id, held: hold.amount.minorUnits, posted: clamped(taken))
        }
        let effect = try effect(of: posting, releasing: hold)
        apply(posting, effect)
        release(hold, as: .posted(Money(minorUnits: Int64(taken), currency: hold.amount.currency), posting: posting.id))
    }

    /// Cancels hold `id`, releasing all of it.
    public mutating func voidHold(_ id: HoldID) throws(LedgerError) {
        release(try pendingHold(id), as: .voided)
    }

    /// Ends hold `id` at its expiry, releasing all of it. Refused before `expiresAt`, and for a
    /// hold without one.
    public mutating func expireHold(_ id: HoldID, at now: Date) throws(LedgerError) {
        let hold = try pendingHold(id)
        guard let expiresAt = hold.expiresAt, expiresAt <= now else { throw .holdNotExpired(id) }
        release(hold, as: .expired)
    }

    /// Expires every pending hold whose expiry is at or before `now`; returns their ids, sorted.
    @discardableResult
    public mutating func expireHolds(asOf now: Date) -> [HoldID] {
        let due = holds.values.filter { $0.isPending && ($0.expiresAt.map { $0 <= now } ?? false) }.map(\.id).sorted()
        for id in due {
            if let hold = holds[id] { release(hold, as: .expired) }
        }
        return due
    }

    // MARK: Internals

    /// What booking a posting changes, worked out before anything is changed so that a refusal
    /// leaves the ledger untouched.
    struct PostingEffect {
        var posted: [AccountID: Int64] = [:]
        var carry: [String: Int64] = [:]
    }

    /// Validates `posting` and returns its effect. `hold` is the hold it captures, whose
    /// reservation is released by the same step and so does not count against the floor.
    func effect(of posting: Posting, releasing hold: Hold?) throws(LedgerError) -> PostingEffect {
        guard !postingIDs.contains(posting.id) else { throw .duplicatePosting(posting.id) }
        guard !posting.entries.isEmpty else { throw .emptyPosting(posting.id) }
        var net: [AccountID: Int128] = [:]
        for entry in posting.entries {
            guard let account = accounts[entry.account] else { throw .unknownAccount(entry.account) }
            guard entry.amount.currency.code == account.currency.code else {
                throw .currencyMismatch(entry.account, expected: account.currency.code, found: entry.amount.currency.code)
            }
            guard !entry.amount.isZero else { throw .zeroEntry(posting.id, entry.account) }
            net[entry.account, default: 0] += Int128(entry.amount.minorUnits)
        }
        let imbalances = posting.imbalances
        for (code, imbalance) in imbalances.sorted(by: { $0.key < $1.key }) where imbalance != 0 {
            throw .unbalanced(posting.id, currency: code, imbalance: clamped(imbalance))
        }
        guard imbalances.count == 1 || !posting.conversions.isEmpty else { throw .missingExchangeRate(posting.id) }

        var effect = PostingEffect()
        for (id, raw) in net.sorted(by: { $0.key < $1.key }) {
            guard let account = accounts[id] else { throw .unknownAccount(id) }
            let balance = balances[id] ?? .zero(account.currency)
            let change = account.normal(raw)
            let posted = Int128(balance.posted.minorUnits) + change
            guard let newPosted = Int64(exactly: posted) else { throw .money(.overflow) }
            // Only a movement toward the floor is refused: money coming in is always welcome.
            if change < 0, let floor = account.floor {
                var pending = Int128(balance.pending.minorUnits)
                if let hold, hold.account == id { pending -= Int128(hold.amount.minorUnits) }
                let available = posted - pending
                guard available >= Int128(floor.minorUnits) else {
                    throw .belowFloor(id, available: clamped(available), floor: floor.minorUnits)
                }
            }
            effect.posted[id] = newPosted
        }
        for (code, change) in posting.carryChanges.sorted(by: { $0.key < $1.key }) {
            let carry = Int128(fxRoundingCarry[code] ?? 0) + change
            guard carry.magnitude < UInt128(FXResidual.carryDenominator) else {
                throw .roundingCarryOutOfRange(posting.id, currency: code)
            }
            effect.carry[code] = Int64(carry)
        }
        return effect
    }

    private mutating func apply(_ posting: Posting, _ effect: PostingEffect) {
        for (id, posted) in effect.posted {
            guard let account = accounts[id] else { continue }
            let pending = balances[id]?.pending ?? .zero(account.currency)
            balances[id] = LedgerBalance(posted: Money(minorUnits: posted, currency: account.currency), pending: pending)
        }
        for (code, carry) in effect.carry { fxRoundingCarry[code] = carry }
        postings.append(posting)
        postingIDs.insert(posting.id)
    }

    private func pendingHold(_ id: HoldID) throws(LedgerError) -> Hold {
        guard let hold = holds[id] else { throw .unknownHold(id) }
        if let resolution = hold.resolution { throw .holdAlreadyResolved(id, resolution) }
        return hold
    }

    /// Records `resolution` and gives the hold's reservation back to available.
    private mutating func release(_ hold: Hold, as resolution: HoldResolution) {
        var resolved = hold
        resolved.resolutions.append(resolution)
        holds[hold.id] = resolved
        if let balance = balances[hold.account] {
            let pending = clamped(Int128(balance.pending.minorUnits) - Int128(hold.amount.minorUnits))
            balances[hold.account] = LedgerBalance(posted: balance.posted, pending: Money(minorUnits: pending, currency: balance.pending.currency))
        }
    }
}
