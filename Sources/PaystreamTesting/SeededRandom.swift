/// A seeded generator (splitmix64): the same seed gives the same hostile records, the same
/// fault-run load, kill schedule and faults.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed ^ 0x5EED_FA17_5EED_FA17 }

    /// Starts from `state` as it is (`FuzzInput` keeps its own seeding, so a seed names the same
    /// records as before).
    init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// One of `choices`, drawn by relative weight.
    public mutating func weighted<T>(_ choices: [(T, Int)]) -> T {
        var ticket = Int.random(in: 0..<choices.reduce(0) { $0 + $1.1 }, using: &self)
        for (choice, weight) in choices {
            if ticket < weight { return choice }
            ticket -= weight
        }
        return choices[choices.count - 1].0
    }
}
