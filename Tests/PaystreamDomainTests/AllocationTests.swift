import PaystreamDomain
import Testing

@Suite("Allocation")
struct AllocationTests {
    static let cny = Currency.named("CNY")!

    static func money(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: cny) }

    // amount, weights, parts
    static let weightCases: [(Int64, [Int64], [Int64])] = [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (100, [1, 2], [33, 67]),
        (101, [50, 30, 20], [51, 30, 20]),
        (5, [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]),
        (10, [0, 1, 1], [0, 5, 5]),
        (1, [0, 1, 1], [0, 1, 0]),
        (0, [1, 2], [0, 0]),
        (19999, [3, 3, 3], [6667, 6666, 6666]),
        (19999, [1], [19999]),
        (2, [1, 1, 1], [1, 1, 0]),
        (-2, [1, 1, 1], [-1, -1, 0]),
        (100, [Int64.max - 1, 1], [100, 0]),
        (Int64.max, [1, 1], [4_611_686_018_427_387_904, 4_611_686_018_427_387_903]),
        (Int64.min, [1, 1], [-4_611_686_018_427_387_904, -4_611_686_018_427_387_904]),
        (Int64.min, [1, 2], [-3_074_457_345_618_258_603, -6_148_914_691_236_517_205]),
        (Int64.max, [Int64.max / 2, Int64.max / 2], [4_611_686_018_427_387_904, 4_611_686_018_427_387_903]),
    ]

    @Test("weights: largest remainder, ties to the earlier part", arguments: weightCases)
    func weights(amount: Int64, weights: [Int64], expected: [Int64]) throws {
        #expect(try Self.money(amount).allocated(byWeights: weights) == expected.map(Self.money))
    }

    @Test("weights that cannot allocate", arguments: [
        ([Int64](), MoneyError.invalidAllocation("no weights")),
        ([1, -1, 2], .invalidAllocation("weight -1 is negative")),
        ([0, 0], .invalidAllocation("the weights sum to zero")),
        ([Int64.max, 1], .overflow),
    ])
    func invalidWeights(weights: [Int64], error: MoneyError) {
        #expect(throws: error) { try Self.money(100).allocated(byWeights: weights) }
    }

    // amount, count, parts
    static let equalCases: [(Int64, Int, [Int64])] = [
        (100, 3, [34, 33, 33]), (-7, 2, [-4, -3]), (2, 5, [1, 1, 0, 0, 0]), (0, 2, [0, 0]), (9, 3, [3, 3, 3]),
        (Int64.min, 3, [-3_074_457_345_618_258_603, -3_074_457_345_618_258_603, -3_074_457_345_618_258_602]),
    ]

    @Test("equal parts, larger ones first", arguments: equalCases)
    func equalParts(amount: Int64, count: Int, expected: [Int64]) throws {
        #expect(try Self.money(amount).allocated(into: count) == expected.map(Self.money))
    }

    @Test("a part count must be positive", arguments: [0, -1, Int.min])
    func invalidCount(count: Int) {
        #expect(throws: MoneyError.self) { try Self.money(100).allocated(into: count) }
    }

    @Test("fixed parts, the remainder to a named party")
    func fixed() throws {
        let parts = [AllocationPart(party: "supplier-3", amount: Self.money(5000)),
                     AllocationPart(party: "supplier-4", amount: Self.money(1))]
        #expect(try Self.money(19999).allocated(fixed: parts, remainderTo: "m-7")
            == parts + [AllocationPart(party: "m-7", amount: Self.money(14998))])
        #expect(try Self.money(5001).allocated(fixed: parts, remainderTo: "m-7").last?.amount == Self.money(0))
        #expect(try Self.money(100).allocated(fixed: [], remainderTo: "m-7")
            == [AllocationPart(party: "m-7", amount: Self.money(100))])
        #expect(try Self.money(0).allocated(fixed: [AllocationPart(party: "s", amount: Self.money(0))], remainderTo: "m")
            == [AllocationPart(party: "s", amount: Self.money(0)), AllocationPart(party: "m", amount: Self.money(0))])
        // Negative wholes allocate symmetrically: every part carries the whole's sign.
        let refund = [AllocationPart(party: "supplier-3", amount: Self.money(-3000))]
        #expect(try Self.money(-10000).allocated(fixed: refund, remainderTo: "m-7")
            == refund + [AllocationPart(party: "m-7", amount: Self.money(-7000))])
    }

    // whole, fixed parts
    static let invalidFixedCases: [(Int64, [Int64])] = [
        (5000, [5001]), (5000, [3000, 2001]), (5000, [-1]), (-5000, [1]), (-5000, [-5001]), (0, [1]),
        (Int64.max, [Int64.max, 1]), (Int64.min, [Int64.min, -1]),
    ]

    @Test("fixed parts that cannot allocate", arguments: invalidFixedCases)
    func invalidFixed(amount: Int64, parts: [Int64]) {
        let fixed = parts.enumerated().map { AllocationPart(party: "s\($0.offset)", amount: Self.money($0.element)) }
        let error = #expect(throws: MoneyError.self) { try Self.money(amount).allocated(fixed: fixed, remainderTo: "m") }
        guard case .invalidAllocation? = error else {
            Issue.record("\(amount) with \(parts) gave \(String(describing: error))")
            return
        }
    }

    @Test("fixed parts in another currency are refused")
    func fixedMismatch() throws {
        let usd = try #require(Currency.named("USD"))
        let parts = [AllocationPart(party: "s", amount: Money(minorUnits: 1, currency: usd))]
        #expect(throws: MoneyError.currencyMismatch("CNY", "USD")) {
            try Self.money(100).allocated(fixed: parts, remainderTo: "m")
        }
    }

    // MARK: Properties

    /// An amount from one of three ranges, so small amounts (many zero parts, many ties) and
    /// amounts near the 64-bit edges both come up.
    static func randomAmount(_ random: inout SeededRandom) -> Int64 {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: Int64.random(in: -20...20, using: &random)
        case 1: Int64.random(in: -1_000_000...1_000_000, using: &random)
        case 2: [Int64.min, Int64.min + 1, Int64.max, Int64.max - 1].randomElement(using: &random)!
        default: Int64.random(in: .min ... .max, using: &random)
        }
    }

    /// 1…12 weights, small or huge, with at least one positive and a sum that fits in 64 bits.
    static func randomWeights(_ random: inout SeededRandom) -> [Int64] {
        let count = Int.random(in: 1...12, using: &random)
        let ceiling: Int64 = Bool.random(using: &random) ? 10 : Int64.max / Int64(count)
        var weights = (0..<count).map { _ in Int64.random(in: 0...ceiling, using: &random) }
        if weights.allSatisfy({ $0 == 0 }) { weights[Int.random(in: 0..<count, using: &random)] = 1 }
        return weights
    }

    /// The largest remainder rule written again with 128-bit integers, as an oracle.
    static func oracle(_ amount: Int64, _ weights: [Int64]) -> [Int64] {
        let total = Int128(weights.reduce(0, +))
        let exact = weights.map { Int128(amount) * Int128($0) }
        var parts = exact.map { $0 / total }  // Int128 division truncates toward zero
        let dropped = exact.map { ($0 % total).magnitude }
        let leftover = Int128(amount) - parts.reduce(0, +)
        let order = parts.indices.sorted { dropped[$0] != dropped[$1] ? dropped[$0] > dropped[$1] : $0 < $1 }
        for index in order.prefix(Int(leftover.magnitude)) { parts[index] += leftover < 0 ? -1 : 1 }
        return parts.map { Int64($0) }
    }

    @Test("weights: parts sum to the whole, stay within one unit of their exact share, and are deterministic")
    func weightsProperties() {
        let failures = forAllCases("allocation by weights") { random, _ in
            let amount = Self.randomAmount(&random)
            let weights = Self.randomWeights(&random)
            guard let parts = try? Self.money(amount).allocated(byWeights: weights).map(\.minorUnits) else {
                return "\(amount) by \(weights) threw"
            }
            let total = Int128(weights.reduce(0, +))
            guard parts.count == weights.count else { return "\(amount) by \(weights) gave \(parts.count) parts" }
            guard parts.reduce(Int128(0), { $0 + Int128($1) }) == Int128(amount) else {
                return "\(amount) by \(weights) → \(parts) does not sum to the whole"
            }
            for (part, weight) in zip(parts, weights) {
                // |part − amount × weight / total| < 1, kept in integers.
                guard (Int128(part) * total - Int128(amount) * Int128(weight)).magnitude < total.magnitude else {
                    return "\(amount) by \(weights) → \(parts): part \(part) is a unit or more from its share"
                }
                guard part == 0 || (part < 0) == (amount < 0) else { return "\(amount) by \(weights) → \(parts): sign" }
                guard weight != 0 || part == 0 else { return "\(amount) by \(weights) → \(parts): zero weight got \(part)" }
            }
            guard parts == Self.oracle(amount, weights) else {
                return "\(amount) by \(weights) → \(parts), largest remainder gives \(Self.oracle(amount, weights))"
            }
            guard (try? Self.money(amount).allocated(byWeights: weights).map(\.minorUnits)) == parts else {
                return "\(amount) by \(weights) is not deterministic"
            }
            if amount != .min {
                guard (try? Self.money(-amount).allocated(byWeights: weights).map(\.minorUnits)) == parts.map({ -$0 }) else {
                    return "\(amount) by \(weights): allocating the negation is not the negated parts"
                }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("equal parts are the same as equal weights")
    func equalPartsProperty() {
        let failures = forAllCases("allocation into equal parts") { random, _ in
            let amount = Self.randomAmount(&random)
            let count = Int.random(in: 1...40, using: &random)
            let even = try? Self.money(amount).allocated(into: count)
            let weighted = try? Self.money(amount).allocated(byWeights: Array(repeating: 1, count: count))
            guard let even, even == weighted else {
                return "\(amount) into \(count): \(String(describing: even)) vs \(String(describing: weighted))"
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("fixed parts keep their amounts and the remainder makes up the whole")
    func fixedProperty() {
        let failures = forAllCases("allocation with fixed parts") { random, _ in
            let amount = Self.randomAmount(&random)
            // Fixed parts that fit: an allocation of some share of the whole.
            let used = Int64.random(in: 0...1_000, using: &random)
            let budget = (try? RoundingMode.down.multiplyDivide(amount, used, by: 1_000)) ?? 0
            guard let split = try? Self.money(budget).allocated(byWeights: Self.randomWeights(&random)) else {
                return "could not build fixed parts"
            }
            let fixed = split.enumerated().map { AllocationPart(party: "s\($0.offset)", amount: $0.element) }
            guard let result = try? Self.money(amount).allocated(fixed: fixed, remainderTo: "m") else {
                return "\(amount) with fixed \(split.map(\.minorUnits)) threw"
            }
            guard Array(result.dropLast()) == fixed, result.last?.party == "m" else { return "fixed parts changed" }
            let sum = result.reduce(Int128(0)) { $0 + Int128($1.amount.minorUnits) }
            guard sum == Int128(amount) else { return "\(amount) with fixed \(split.map(\.minorUnits)) sums to \(sum)" }
            let rest = result.last!.amount.minorUnits
            guard rest == 0 || (rest < 0) == (amount < 0) else { return "remainder \(rest) has the wrong sign for \(amount)" }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
