import Crypto
import Foundation

/// How a simulated channel behaves: the payer, and the channel's own misbehaviour. Every draw is
/// a hash of (seed, trade number, purpose), so a seed replays the same run.
public struct SimulatorBehaviour: Sendable, Codable, Equatable {
    public var seed: UInt64 = 1
    /// The payer pays this long after the trade is created.
    public var payDelayMs: Int = 200
    /// Share of trades the payer never pays (they stay unpaid until closed).
    public var unpaidRate: Double = 0
    /// Share of trades whose payment fails (WeChat Pay `PAYERROR`; Alipay closes them).
    public var payFailRate: Double = 0
    /// Share of calls answered only after `hangMs` (past the caller's timeout), the call itself
    /// done as asked: the caller must not take the silence for a refusal.
    public var timeoutRate: Double = 0
    public var hangMs: Int = 15_000
    /// Share of calls answered `SYSTEM_ERROR` (Alipay `ACQ.SYSTEM_ERROR`, WeChat Pay 500) without
    /// doing anything.
    public var systemErrorRate: Double = 0
    /// Extra copies of each notification, sent right after the first (same id).
    public var duplicateNotifies: Int = 0
    /// The first notification waits this long after the payment.
    public var notifyDelayMs: Int = 0
    /// Share of trades still paid when the close arrives (the payer was quicker): the close is
    /// refused as a paid trade's.
    public var payBeforeCloseRate: Double = 0
    /// Retry delays scale: the channels' real schedules (minutes to hours) times this.
    public var timeScale: Double = 1
    /// WeChat Pay refunds finish this long after they are accepted.
    public var refundDelayMs: Int = 100
    /// Deterministic cases for tests and demos, by amount (minor units): trades the payer never
    /// pays, trades whose first create hangs past the caller's timeout (the trade is made), and
    /// trades whose notifications are lost (only a query finds what became of them).
    public var unpaidAmounts: [Int64] = []
    public var hangAmounts: [Int64] = []
    public var unnotifiedAmounts: [Int64] = []
    /// The channel's fee on a payment, in basis points (half up), as its bill shows it.
    public var feeBasisPoints: Int64 = 60

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, payDelayMs = "pay_delay_ms", unpaidRate = "unpaid_rate", payFailRate = "pay_fail_rate"
        case timeoutRate = "timeout_rate", hangMs = "hang_ms", systemErrorRate = "system_error_rate"
        case duplicateNotifies = "duplicate_notifies", notifyDelayMs = "notify_delay_ms", payBeforeCloseRate = "pay_before_close_rate"
        case timeScale = "time_scale", refundDelayMs = "refund_delay_ms", unpaidAmounts = "unpaid_amounts", hangAmounts = "hang_amounts"
        case unnotifiedAmounts = "unnotified_amounts", feeBasisPoints = "fee_basis_points"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SimulatorBehaviour()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        payDelayMs = try c.decodeIfPresent(Int.self, forKey: .payDelayMs) ?? d.payDelayMs
        unpaidRate = try c.decodeIfPresent(Double.self, forKey: .unpaidRate) ?? d.unpaidRate
        payFailRate = try c.decodeIfPresent(Double.self, forKey: .payFailRate) ?? d.payFailRate
        timeoutRate = try c.decodeIfPresent(Double.self, forKey: .timeoutRate) ?? d.timeoutRate
        hangMs = try c.decodeIfPresent(Int.self, forKey: .hangMs) ?? d.hangMs
        systemErrorRate = try c.decodeIfPresent(Double.self, forKey: .systemErrorRate) ?? d.systemErrorRate
        duplicateNotifies = try c.decodeIfPresent(Int.self, forKey: .duplicateNotifies) ?? d.duplicateNotifies
        notifyDelayMs = try c.decodeIfPresent(Int.self, forKey: .notifyDelayMs) ?? d.notifyDelayMs
        payBeforeCloseRate = try c.decodeIfPresent(Double.self, forKey: .payBeforeCloseRate) ?? d.payBeforeCloseRate
        timeScale = try c.decodeIfPresent(Double.self, forKey: .timeScale) ?? d.timeScale
        refundDelayMs = try c.decodeIfPresent(Int.self, forKey: .refundDelayMs) ?? d.refundDelayMs
        unpaidAmounts = try c.decodeIfPresent([Int64].self, forKey: .unpaidAmounts) ?? d.unpaidAmounts
        hangAmounts = try c.decodeIfPresent([Int64].self, forKey: .hangAmounts) ?? d.hangAmounts
        unnotifiedAmounts = try c.decodeIfPresent([Int64].self, forKey: .unnotifiedAmounts) ?? d.unnotifiedAmounts
        feeBasisPoints = try c.decodeIfPresent(Int64.self, forKey: .feeBasisPoints) ?? d.feeBasisPoints
        guard (0...10_000).contains(feeBasisPoints) else {
            throw DecodingError.dataCorruptedError(forKey: .feeBasisPoints, in: c, debugDescription: "0 to 10000")
        }
        for (key, rate) in [(CodingKeys.unpaidRate, unpaidRate), (.payFailRate, payFailRate), (.timeoutRate, timeoutRate),
                            (.systemErrorRate, systemErrorRate), (.payBeforeCloseRate, payBeforeCloseRate)] where !(0...1).contains(rate) {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "a rate is between 0 and 1")
        }
        guard timeScale > 0, payDelayMs >= 0, hangMs >= 0, duplicateNotifies >= 0, notifyDelayMs >= 0, refundDelayMs >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .timeScale, in: c, debugDescription: "delays are 0 or more, time_scale above 0")
        }
    }

    enum Draw: String { case unpaid, payFail, timeout, systemError, payBeforeClose }

    /// Whether the event `draw` happens for `id` (its `n`-th call, for per-call draws).
    func happens(_ draw: Draw, rate: Double, _ id: String, _ n: Int = 0) -> Bool {
        guard rate > 0 else { return false }
        let digest = SHA256.hash(data: Data("\(seed)|\(draw.rawValue)|\(id)|\(n)".utf8))
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(value >> 11) / Double(UInt64(1) << 53) < rate
    }
}
