/// A broken ledger invariant, as `Ledger.checkInvariants()` reports it. Each case has a stable
/// `code` (for `paystream verify` and alerts) and a message for people.
public enum LedgerViolation: Sendable, Hashable, CustomStringConvertible {
    /// Debits minus credits in `currency` is `imbalance`, not zero (saturated at Int64's bounds).
    case unbalancedPosting(PostingID, currency: String, imbalance: Int64)
    case missingExchangeRate(PostingID)
    case duplicatePosting(PostingID)
    case unknownAccount(AccountID, posting: PostingID)
    case currencyMismatch(AccountID, posting: PostingID, expected: String, found: String)
    /// Available (posted minus pending, recomputed from postings and holds) is below the floor.
    case belowFloor(AccountID, available: Int64, floor: Int64)
    case holdResolvedTwice(HoldID, resolutions: Int)
    case postedMoreThanHeld(HoldID, held: Int64, posted: Int64)
    /// A posted resolution names a posting that is missing or takes another amount from the account.
    case holdPostingMismatch(HoldID, posting: PostingID)
    case holdOnUnknownAccount(HoldID, AccountID)
    case holdCurrencyMismatch(HoldID, expected: String, found: String)
    case invalidHoldAmount(HoldID)
    /// The kept posted balance differs from the sum of the account's entries.
    case postedBalanceMismatch(AccountID, recorded: Int64, expected: Int64)
    /// The kept pending total differs from the sum of the account's unresolved holds.
    case pendingMismatch(AccountID, recorded: Int64, expected: Int64)
    /// The kept FX rounding carry differs from the residuals not yet booked to `fx_rounding`.
    case roundingCarryMismatch(currency: String, recorded: Int64, expected: Int64)
    /// A whole minor unit or more of FX residual is left unbooked.
    case roundingCarryOutOfRange(currency: String, carry: Int64)

    public var code: String {
        switch self {
        case .unbalancedPosting: "unbalanced_posting"
        case .missingExchangeRate: "missing_exchange_rate"
        case .duplicatePosting: "duplicate_posting"
        case .unknownAccount: "unknown_account"
        case .currencyMismatch: "currency_mismatch"
        case .belowFloor: "below_floor"
        case .holdResolvedTwice: "hold_resolved_twice"
        case .postedMoreThanHeld: "posted_more_than_held"
        case .holdPostingMismatch: "hold_posting_mismatch"
        case .holdOnUnknownAccount: "hold_unknown_account"
        case .holdCurrencyMismatch: "hold_currency_mismatch"
        case .invalidHoldAmount: "invalid_hold_amount"
        case .postedBalanceMismatch: "posted_balance_mismatch"
        case .pendingMismatch: "pending_mismatch"
        case .roundingCarryMismatch: "rounding_carry_mismatch"
        case .roundingCarryOutOfRange: "rounding_carry_out_of_range"
        }
    }

    public var description: String {
        switch self {
        case .unbalancedPosting(let id, let currency, let imbalance):
            "posting \(id) does not balance in \(currency): debits exceed credits by \(imbalance)"
        case .missingExchangeRate(let id): "posting \(id) spans currencies without a rate snapshot"
        case .duplicatePosting(let id): "posting \(id) is booked more than once"
        case .unknownAccount(let account, let id): "posting \(id) books to unknown account \(account)"
        case .currencyMismatch(let account, let id, let expected, let found):
            "posting \(id) books \(found) to \(account), which is in \(expected)"
        case .belowFloor(let account, let available, let floor): "account \(account) has \(available) available, below its floor \(floor)"
        case .holdResolvedTwice(let id, let count): "hold \(id) is resolved \(count) times"
        case .postedMoreThanHeld(let id, let held, let posted): "hold \(id) reserved \(held) but posted \(posted)"
        case .holdPostingMismatch(let id, let posting): "hold \(id) names posting \(posting), which does not take the posted amount"
        case .holdOnUnknownAccount(let id, let account): "hold \(id) is on unknown account \(account)"
        case .holdCurrencyMismatch(let id, let expected, let found): "hold \(id) reserves \(found) on an account in \(expected)"
        case .invalidHoldAmount(let id): "hold \(id) reserves a zero or negative amount"
        case .postedBalanceMismatch(let account, let recorded, let expected):
            "account \(account) records posted \(recorded) but its entries sum to \(expected)"
        case .pendingMismatch(let account, let recorded, let expected):
            "account \(account) records pending \(recorded) but its open holds sum to \(expected)"
        case .roundingCarryMismatch(let currency, let recorded, let expected):
            "\(currency) FX rounding carry is \(recorded) but unbooked residuals sum to \(expected) (10⁻¹⁸ minor units)"
        case .roundingCarryOutOfRange(let currency, let carry):
            "\(currency) FX rounding carry \(carry) (10⁻¹⁸ minor units) is a whole minor unit or more"
        }
    }
}
