import Foundation

/// SplitMix64: a small, fast, seeded generator, so every property run is reproducible.
/// A failing case prints its seed; rerun with `PAYSTREAM_PROPERTY_SEED=<seed>`.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How many random cases each property runs: `PAYSTREAM_PROPERTY_CASES`, default 1,000.
let propertyCases: Int = ProcessInfo.processInfo.environment["PAYSTREAM_PROPERTY_CASES"].flatMap(Int.init) ?? 1_000

/// The base seed: `PAYSTREAM_PROPERTY_SEED`, or a fixed default so CI runs are reproducible.
let propertyBaseSeed: UInt64 = ProcessInfo.processInfo.environment["PAYSTREAM_PROPERTY_SEED"].flatMap(UInt64.init) ?? 20_261_124

/// Runs `body` for `propertyCases` cases, each with its own seeded generator. `body` returns
/// nil when the property holds, or a description of the counterexample.
func forAllCases(_ name: String, cases: Int = propertyCases,
                 _ body: (inout SeededRandom, Int) throws -> String?) rethrows -> [String] {
    var failures: [String] = []
    for index in 0..<cases {
        let seed = propertyBaseSeed &+ UInt64(index) &* 0x9E37_79B9
        var random = SeededRandom(seed: seed)
        if let failure = try body(&random, index) {
            failures.append("\(name) failed for seed \(seed) (case \(index)): \(failure)")
            if failures.count >= 5 { break }
        }
    }
    return failures
}
