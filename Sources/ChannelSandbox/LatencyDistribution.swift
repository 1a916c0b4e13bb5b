import Foundation

/// How long a sandbox channel takes to answer, in whole milliseconds.
///
/// A log-normal distribution fitted to two quantiles, then clamped:
/// the median is `p50` and the 99th percentile is `p99`, so with z the standard normal variable
/// `latency = p50 · exp(σ·z)` where `σ = ln(p99 / p50) / 2.3263…` (2.3263 is the standard normal's
/// 99th percentile). The result is rounded to the millisecond and held within `minimum…maximum`.
/// Log-normal because real channel latencies are: most answers near the median, a long tail to
/// the right, never negative. `p50 = 0` means "answer at once" (every draw is 0).
public struct LatencyDistribution: Sendable, Hashable {
    public let minimum: Int
    public let p50: Int
    public let p99: Int
    public let maximum: Int

    /// Requires `0 ≤ minimum ≤ p50 ≤ p99 ≤ maximum`.
    public init(minimum: Int = 0, p50: Int, p99: Int, maximum: Int) throws(LatencyDistribution.Invalid) {
        guard minimum >= 0 else { throw Invalid("min \(minimum) is negative") }
        guard minimum <= p50 else { throw Invalid("min \(minimum) is above p50 \(p50)") }
        guard p50 <= p99 else { throw Invalid("p50 \(p50) is above p99 \(p99)") }
        guard p99 <= maximum else { throw Invalid("p99 \(p99) is above max \(maximum)") }
        self.minimum = minimum
        self.p50 = p50
        self.p99 = p99
        self.maximum = maximum
    }

    private init(unchecked milliseconds: Int) {
        minimum = milliseconds
        p50 = milliseconds
        p99 = milliseconds
        maximum = milliseconds
    }

    /// Every answer at once.
    public static let instant = LatencyDistribution(unchecked: 0)

    /// Every answer after exactly `milliseconds` (≥ 0).
    public static func constant(_ milliseconds: Int) throws(LatencyDistribution.Invalid) -> LatencyDistribution {
        guard milliseconds >= 0 else { throw Invalid("latency \(milliseconds) is negative") }
        return LatencyDistribution(unchecked: milliseconds)
    }

    /// The 99th percentile of the standard normal distribution.
    static let z99 = 2.326_347_874_040_840_8

    /// The latency for two independent uniform draws in [0, 1) (Box–Muller gives z from them).
    public func milliseconds(_ u1: Double, _ u2: Double) -> Int {
        guard p50 > 0 else { return minimum }
        guard p99 > p50 else { return p50 }
        let sigma = log(Double(p99) / Double(p50)) / Self.z99
        // 1 − u1 is in (0, 1], so the logarithm is finite.
        let z = (-2 * log(1 - u1)).squareRoot() * cos(2 * Double.pi * u2)
        let value = Double(p50) * exp(sigma * z)
        guard value.isFinite else { return maximum }
        return Swift.min(Swift.max(Int(value.rounded(.toNearestOrAwayFromZero).clamped(to: 0...1e12)), minimum), maximum)
    }

    /// A latency setting that cannot hold.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

extension Double {
    func clamped(to range: ClosedRange<Double>) -> Double { Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }
}
