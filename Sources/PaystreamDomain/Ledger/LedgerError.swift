/// Why the ledger refused an operation; a refused operation leaves the ledger unchanged. Each case
/// has a stable `code` and a message for people.
public enum LedgerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another account with this id but different terms is already open.
    case duplicateAccount(AccountID)
    case unknownAccount(AccountID)
    case currencyMismatch(AccountID, expected: String, found: String)
    case emptyPosting(PostingID)
    /// Every entry must move money; a zero leg is a bug upstream.
    case zeroEntry(PostingID, AccountID)
    /// Debits minus credits in `currency` is `imbalance`, not zero.
    case unbalanced(PostingID, currency: String, imbalance: Int64)
    /// Entries in several currencies but no conversion recording the rate.
    case missingExchangeRate(PostingID)
    case duplicatePosting(PostingID)
    case unknownPosting(PostingID)
    /// The account would end with `available` below its `floor` (pending holds counted).
    case belowFloor(AccountID, available: Int64, floor: Int64)
    /// The posting books more FX rounding than its conversions left unbooked.
    case roundingCarryOutOfRange(PostingID, currency: String)
    case duplicateHold(HoldID)
    case unknownHold(HoldID)
    /// A hold must reserve a positive amount and start unresolved.
    case invalidHold(HoldID)
    case holdAlreadyResolved(HoldID, HoldResolution)
    case postedMoreThanHeld(HoldID, held: Int64, posted: Int64)
    /// The posting that should capture the hold does not take money from the held account.
    case holdNotInPosting(HoldID, PostingID)
    /// The hold has no expiry, or it is not reached yet.
    case holdNotExpired(HoldID)
    case money(MoneyError)

    public var code: String {
        switch self {
        case .duplicateAccount: "duplicate_account"
        case .unknownAccount: "unknown_account"
        case .currencyMismatch: "currency_mismatch"
        case .emptyPosting: "empty_posting"
        case .zeroEntry: "zero_entry"
        case .unbalanced: "unbalanced_posting"
        case .missingExchangeRate: "missing_exchange_rate"
        case .duplicatePosting: "duplicate_posting"
        case .unknownPosting: "unknown_posting"
        case .belowFloor: "below_floor"
        case .roundingCarryOutOfRange: "rounding_carry_out_of_range"
        case .duplicateHold: "duplicate_hold"
        case .unknownHold: "unknown_hold"
        case .invalidHold: "invalid_hold"
        case .holdAlreadyResolved: "hold_already_resolved"
        case .postedMoreThanHeld: "posted_more_than_held"
        case .holdNotInPosting: "hold_not_in_posting"
        case .holdNotExpired: "hold_not_expired"
        case .money(let error): error.code
        }
    }

    public var description: String {
        switch self {
        case .duplicateAccount(let id): "account \(id) is already open with other terms"
        case .unknownAccount(let id): "no account \(id)"
        case .currencyMismatch(let id, let expected, let found): "account \(id) is in \(expected), not \(found)"
        case .emptyPosting(let id): "posting \(id) has no entries"
        case .zeroEntry(let id, let account): "posting \(id) has a zero entry on \(account)"
        case .unbalanced(let id, let currency, let imbalance):
            "posting \(id) does not balance in \(currency): debits exceed credits by \(imbalance)"
        case .missingExchangeRate(let id): "posting \(id) spans currencies without a rate snapshot"
        case .duplicatePosting(let id): "posting \(id) is already booked"
        case .unknownPosting(let id): "no posting \(id)"
        case .belowFloor(let id, let available, let floor): "account \(id) would have \(available) available, below its floor \(floor)"
        case .roundingCarryOutOfRange(let id, let currency):
            "posting \(id) books more \(currency) FX rounding than its conversions leave"
        case .duplicateHold(let id): "hold \(id) already exists"
        case .unknownHold(let id): "no hold \(id)"
        case .invalidHold(let id): "hold \(id) must reserve a positive amount and start pending"
        case .holdAlreadyResolved(let id, let resolution): "hold \(id) is already resolved (\(resolution))"
        case .postedMoreThanHeld(let id, let held, let posted): "hold \(id) reserves \(held), cannot post \(posted)"
        case .holdNotInPosting(let id, let posting): "posting \(posting) takes nothing from the account of hold \(id)"
        case .holdNotExpired(let id): "hold \(id) has not reached its expiry"
        case .money(let error): error.description
        }
    }
}
