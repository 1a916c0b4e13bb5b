/// Decline reasons with relative weights (`{insufficient_balance: 5, expired_card: 1}` declines
/// five times as often for lack of funds). Reasons are kept sorted by name, so a draw picks the
/// same reason whatever order the configuration listed them in.
public struct ReasonWeights: Sendable, Hashable {
    public let entries: [(reason: String, weight: Double)]

    /// At least one reason; each a non-empty code of lowercase letters, digits and `_`, with a
    /// finite weight > 0.
    public init(_ weights: [String: Double]) throws(ReasonWeights.Invalid) {
        guard !weights.isEmpty else { throw Invalid("at least one reason is needed") }
        for (reason, weight) in weights {
            guard !reason.isEmpty, reason.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }) else {
                throw Invalid("reason '\(reason)' is not a code of lowercase letters, digits and _")
            }
            guard weight.isFinite, weight > 0 else { throw Invalid("weight of '\(reason)' must be a number > 0, is \(weight)") }
        }
        entries = weights.sorted { $0.key < $1.key }.map { (reason: $0.key, weight: $0.value) }
    }

    private init(unchecked entries: [(reason: String, weight: Double)]) {
        self.entries = entries.sorted { $0.reason < $1.reason }
    }

    /// Built-in reasons (literal codes of this module, so not checked again).
    static func builtIn(_ entries: KeyValuePairs<String, Double>) -> ReasonWeights {
        ReasonWeights(unchecked: entries.map { (reason: $0.key, weight: $0.value) })
    }

    public var reasons: [String] { entries.map(\.reason) }

    /// The reason a uniform draw in [0, 1) lands on.
    public func pick(_ u: Double) -> String {
        let total = entries.reduce(0) { $0 + $1.weight }
        var target = u * total
        for entry in entries {
            if target < entry.weight { return entry.reason }
            target -= entry.weight
        }
        return entries[entries.count - 1].reason
    }

    public static func == (lhs: ReasonWeights, rhs: ReasonWeights) -> Bool {
        lhs.entries.map(\.reason) == rhs.entries.map(\.reason) && lhs.entries.map(\.weight) == rhs.entries.map(\.weight)
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.reason)
            hasher.combine(entry.weight)
        }
    }

    /// Reasons that cannot be used.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
