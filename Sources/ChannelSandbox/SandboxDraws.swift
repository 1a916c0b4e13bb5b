/// The sandbox's dice. Every draw is a pure function of (seed, channel_request_id, purpose), so a
/// decision never depends on arrival order, batching, redelivery or the clock: the same seed gives
/// the same decisions on every run, and a redelivered or replayed request is decided the same way.
///
/// The hash is 64-bit FNV-1a over `purpose`, a 0x1F separator and the request id, started from
/// the FNV offset basis xor the seed, then passed through the SplitMix64 finaliser so that every
/// output bit depends on every input bit (FNV alone leaves the low bits weak for short inputs).
public struct SandboxDraws: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// What a draw decides. The raw values are part of the reproducibility contract: changing one
    /// changes every decision of that kind.
    public enum Purpose: String, Sendable, CaseIterable {
        case decline, declineReason = "decline_reason", latency, latencyAngle = "latency_angle"
        case noAnswer = "no_answer", queryNoAnswer = "query_no_answer", duplicate, reorder
        case amountMismatch = "amount_mismatch", refundDecline = "refund_decline"
        case refundDeclineReason = "refund_decline_reason", reference
        case payoutFailure = "payout_failure", payoutFailureReason = "payout_failure_reason", payoutNoAnswer = "payout_no_answer"
        case payoutDuplicate = "payout_duplicate", payoutReturn = "payout_return", payoutReturnReason = "payout_return_reason"
        case payoutLatency = "payout_latency"
    }

    public func hash(_ purpose: Purpose, _ requestID: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        for byte in purpose.rawValue.utf8 { add(byte) }
        add(0x1F)
        for byte in requestID.utf8 { add(byte) }
        // SplitMix64 finaliser.
        var z = hash
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1) with 53 bits of resolution.
    public func uniform(_ purpose: Purpose, _ requestID: String) -> Double {
        Double(hash(purpose, requestID) >> 11) / 9_007_199_254_740_992  // 2^53
    }

    /// True with probability `rate` (never for 0, always for 1).
    public func happens(_ purpose: Purpose, rate: Double, _ requestID: String) -> Bool {
        rate > 0 && uniform(purpose, requestID) < rate
    }
}
