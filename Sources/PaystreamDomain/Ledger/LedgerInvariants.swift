extension Ledger {
    /// Every violation of the ledger's invariants, empty when the ledger is sound. Balances,
    /// pending totals and the FX rounding carry are recomputed from postings and holds rather
    /// than trusted. The order is stable: postings in booking order, then holds, accounts and
    /// currencies sorted by id.
    public func checkInvariants() -> [LedgerViolation] {
        var violations: [LedgerViolation] = []
        var postingsByID: [PostingID: Posting] = [:]
        var raw: [AccountID: Int128] = [:]
        var carry: [String: Int128] = [:]

        for posting in postings {
            if postingsByID[posting.id] == nil { postingsByID[posting.id] = posting }
            else { violations.append(.duplicatePosting(posting.id)) }
            for entry in posting.entries {
                raw[entry.account, default: 0] += Int128(entry.amount.minorUnits)
                if let account = accounts[entry.account] {
                    if account.currency.code != entry.amount.currency.code {
                        violations.append(.currencyMismatch(entry.account, posting: posting.id,
                                                            expected: account.currency.code, found: entry.amount.currency.code))
                    }
                } else {
                    violations.append(.unknownAccount(entry.account, posting: posting.id))
                }
            }
            let imbalances = posting.imbalances
            for (code, imbalance) in imbalances.sorted(by: { $0.key < $1.key }) where imbalance != 0 {
                violations.append(.unbalancedPosting(posting.id, currency: code, imbalance: clamped(imbalance)))
            }
            if imbalances.count > 1 && posting.conversions.isEmpty { violations.append(.missingExchangeRate(posting.id)) }
            for (code, change) in posting.carryChanges { carry[code, default: 0] += change }
        }

        var pending: [AccountID: Int128] = [:]
        for hold in holds.values.sorted(by: { $0.id < $1.id }) {
            if !hold.amount.isPositive { violations.append(.invalidHoldAmount(hold.id)) }
            let account = accounts[hold.account]
            if let account {
                if account.currency.code != hold.amount.currency.code {
                    violations.append(.holdCurrencyMismatch(hold.id, expected: account.currency.code, found: hold.amount.currency.code))
                }
            } else {
                violations.append(.holdOnUnknownAccount(hold.id, hold.account))
            }
            if hold.resolutions.count > 1 { violations.append(.holdResolvedTwice(hold.id, resolutions: hold.resolutions.count)) }
            if hold.isPending { pending[hold.account, default: 0] += Int128(hold.amount.minorUnits) }
            for case .posted(let amount, let postingID) in hold.resolutions {
                if amount.minorUnits > hold.amount.minorUnits {
                    violations.append(.postedMoreThanHeld(hold.id, held: hold.amount.minorUnits, posted: amount.minorUnits))
                }
                let taken = postingsByID[postingID].map { posting in
                    -(account?.normal(posting.net(on: hold.account)) ?? 0)
                }
                if taken != Int128(amount.minorUnits) {
                    violations.append(.holdPostingMismatch(hold.id, posting: postingID))
                }
            }
        }

        for (id, account) in accounts.sorted(by: { $0.key < $1.key }) {
            let posted = account.normal(raw[id] ?? 0)
            let held = pending[id] ?? 0
            let recorded = balances[id] ?? .zero(account.currency)
            if Int128(recorded.posted.minorUnits) != posted {
                violations.append(.postedBalanceMismatch(id, recorded: recorded.posted.minorUnits, expected: clamped(posted)))
            }
            if Int128(recorded.pending.minorUnits) != held {
                violations.append(.pendingMismatch(id, recorded: recorded.pending.minorUnits, expected: clamped(held)))
            }
            if let floor = account.floor, posted - held < Int128(floor.minorUnits) {
                violations.append(.belowFloor(id, available: clamped(posted - held), floor: floor.minorUnits))
            }
        }

        for code in Set(carry.keys).union(fxRoundingCarry.keys).sorted() {
            let expected = carry[code] ?? 0
            let recorded = fxRoundingCarry[code] ?? 0
            if Int128(recorded) != expected {
                violations.append(.roundingCarryMismatch(currency: code, recorded: recorded, expected: clamped(expected)))
            }
            if expected.magnitude >= UInt128(FXResidual.carryDenominator) {
                violations.append(.roundingCarryOutOfRange(currency: code, carry: clamped(expected)))
            }
        }
        return violations
    }
}
