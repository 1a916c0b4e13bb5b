/// Topic names with the deployment's optional prefix (PRODUCT.md §3).
public struct TopicNames: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String = "") { self.prefix = prefix }

    public func named(_ base: String) -> String { prefix + base }

    public var paymentRequests: String { named("payments.requests") }
    public var channelRequests: String { named("channel.requests") }
    public var channelConfirmations: String { named("channel.confirmations") }
    public var paymentEvents: String { named("payments.events") }
    public var settlementRequests: String { named("settlement.requests") }
    public var settlementEvents: String { named("settlements.events") }
    public var payoutRequests: String { named("payouts.requests") }
    public var payoutConfirmations: String { named("payouts.confirmations") }
    public var notifications: String { named("notifications") }
    public var merchants: String { named("reference.merchants") }
    public var creditLines: String { named("reference.credit-lines") }
    public var fxRates: String { named("reference.fx-rates") }

    /// The dead-letter topic of an input topic.
    public func deadLetter(of topic: String) -> String { topic + ".dlq" }

    /// Topics a stage consumes, which each get a dead-letter topic.
    public var inputTopics: [String] {
        [paymentRequests, channelRequests, channelConfirmations, paymentEvents, settlementRequests,
         settlementEvents, payoutRequests, payoutConfirmations]
    }

    /// Every topic of the pipeline, the dead-letter topics included.
    public var all: [String] {
        inputTopics + [notifications] + inputTopics.map(deadLetter(of:))
    }

    /// Compacted reference-data topics (one value per key).
    public var reference: [String] { [merchants, creditLines, fxRates] }
}
