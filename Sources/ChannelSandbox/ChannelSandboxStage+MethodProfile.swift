import PaystreamDomain

extension ChannelSandboxStage {
    /// How the sandbox channel of one payment method behaves. Rates are shares 0…1; delays are
    /// milliseconds. See Config/README.md (channel-sandbox) for what each one does.
    public struct MethodProfile: Sendable, Hashable {
        /// Time from receiving an instruction to answering it.
        public var latency: LatencyDistribution
        /// Share of authorizations declined.
        public var declineRate: Double
        /// Why they are declined; nil takes the method's built-in reasons (`builtInDeclineReasons`).
        public var declineReasons: ReasonWeights?
        /// Share of authorizations decided but never answered (a later query gets the decision).
        public var noAnswerRate: Double
        /// Share of queries never answered.
        public var queryNoAnswerRate: Double
        /// Share of answers sent twice (same confirmation_id), the copy `duplicateDelayMs` later.
        public var duplicateRate: Double
        public var duplicateDelayMs: Int
        /// Share of answers held back `reorderDelayMs` beyond their latency, so that answers
        /// decided after them can overtake them.
        public var reorderRate: Double
        public var reorderDelayMs: Int
        /// Share of approved authorizations confirmed with another amount (1% less, at least one
        /// minor unit), which the payment-worker must treat as a conflict.
        public var amountMismatchRate: Double
        /// Share of refunds the channel refuses although they are within the captured amount.
        public var refundDeclineRate: Double
        public var refundDeclineReasons: ReasonWeights
        /// The channel's fee on each approved payment, shown in the statement.
        public var feePlan: FeePlan

        public init(latency: LatencyDistribution = .instant, declineRate: Double = 0, declineReasons: ReasonWeights? = nil,
                    noAnswerRate: Double = 0, queryNoAnswerRate: Double = 0, duplicateRate: Double = 0,
                    duplicateDelayMs: Int = 100, reorderRate: Double = 0, reorderDelayMs: Int = 500,
                    amountMismatchRate: Double = 0, refundDeclineRate: Double = 0,
                    refundDeclineReasons: ReasonWeights = ChannelSandboxStage.builtInRefundDeclineReasons, feePlan: FeePlan = .free) {
            self.latency = latency
            self.declineRate = declineRate
            self.declineReasons = declineReasons
            self.noAnswerRate = noAnswerRate
            self.queryNoAnswerRate = queryNoAnswerRate
            self.duplicateRate = duplicateRate
            self.duplicateDelayMs = duplicateDelayMs
            self.reorderRate = reorderRate
            self.reorderDelayMs = reorderDelayMs
            self.amountMismatchRate = amountMismatchRate
            self.refundDeclineRate = refundDeclineRate
            self.refundDeclineReasons = refundDeclineReasons
            self.feePlan = feePlan
        }
    }

    /// The payment methods that have a channel. `wallet` has none: wallet payments move money
    /// inside the platform's own ledger, so a wallet instruction reaching a channel is a bug.
    public static let channelMethods = ["card", "alipay", "wechat_pay", "online_banking", "cash"]

    /// Refund decline reasons used when neither the method's entry nor `default` sets them.
    public static let builtInRefundDeclineReasons = ReasonWeights.builtIn(["refund_rejected": 1])

    /// Decline reasons used when neither the method's entry nor `default` sets `decline_reasons`.
    public static func builtInDeclineReasons(for method: String) -> ReasonWeights {
        switch method {
        case "card": .builtIn(["insufficient_balance": 4, "do_not_honor": 3, "expired_card": 2, "suspected_fraud": 1])
        case "alipay", "wechat_pay": .builtIn(["insufficient_balance": 3, "risk_control_rejected": 1])
        case "online_banking": .builtIn(["insufficient_balance": 2, "account_frozen": 1])
        case "cash": .builtIn(["buyer_refused": 1])
        default: .builtIn(["do_not_honor": 1])
        }
    }
}
