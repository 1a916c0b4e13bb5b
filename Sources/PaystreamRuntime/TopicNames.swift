/// Topic names with the deployment's optional prefix (PRODUCT.md §3).
public struct TopicNames: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String = "") { self.prefix = prefix }

    public func named(_ base: String) -> String { prefix + base }

    public var paymentRequests: String { named("payments.requests") }
    public var channelRequests: String { named("channel.requests") }
    public var channelConfirmations: String { named("channel.confirmations") }
    /// Notifications Alipay and WeChat Pay sent the channel gateway, raw and signed
    /// (`channel-notification/v1`), at the partition of the shard whose order they name.
    public var channelNotifications: String { named("channel.notifications") }
    public var paymentEvents: String { named("payments.events") }
    public var settlementRequests: String { named("settlement.requests") }
    public var settlementEvents: String { named("settlements.events") }
    public var payoutRequests: String { named("payouts.requests") }
    public var payoutConfirmations: String { named("payouts.confirmations") }
    public var notifications: String { named("notifications") }
    /// Channel statement lines (`statement-line/v1`, keyed by payment id), published by
    /// `paystream statements load`, read by the reconciler.
    public var channelStatements: String { named("channel.statements") }
    /// What reconciliation found (`reconciliation-result/v1`, keyed by payment id).
    public var reconciliationResults: String { named("reconciliation.results") }
    public var merchants: String { named("reference.merchants") }
    public var creditLines: String { named("reference.credit-lines") }
    public var fxRates: String { named("reference.fx-rates") }
    /// Merchants' and suppliers' webhook endpoints (`webhook-endpoint/v1`), read by the notifier.
    public var webhookEndpoints: String { named("reference.webhook-endpoints") }
    /// Webhook deliveries that failed on every attempt, or whose endpoint was disabled
    /// (`webhook-dead-letter/v1`, keyed by endpoint id); `paystream webhooks replay` re-sends them.
    public var webhookDeadLetters: String { named("notifications.webhooks.dlq") }

    /// The dead-letter topic of a topic: records of an input topic that cannot be decided, and
    /// messages for a topic that the broker refuses for good. A repartition topic's records are
    /// its input topic's, and so are its dead letters.
    public func deadLetter(of topic: String) -> String { (source(ofRepartition: topic) ?? topic) + ".dlq" }

    /// The repartition topic of an input topic: a record that arrived off its key's canonical
    /// partition is forwarded there, to that partition, before it is decided. It is ours; the
    /// input topic stays its producers'.
    public func repartition(of topic: String) -> String { topic + Self.repartitionSuffix }

    /// A stage's own repartition topic of an input topic, `<topic>.repartition.<stage>`: for a
    /// stage that shards the topic by something else than its key (a field of the body), so
    /// that its forwarded copies never reach the groups that read the topic by key.
    public func repartition(of topic: String, stage: String) -> String { topic + Self.repartitionSuffix + "." + stage }

    /// The input topic a repartition topic serves (either form); nil for any other topic.
    public func source(ofRepartition topic: String) -> String? {
        if topic.hasSuffix(Self.repartitionSuffix) { return String(topic.dropLast(Self.repartitionSuffix.count)) }
        guard let infix = topic.range(of: Self.repartitionSuffix + ".", options: .backwards),
              !topic[infix.upperBound...].isEmpty, !topic[infix.upperBound...].contains(".") else { return nil }
        return String(topic[..<infix.lowerBound])
    }

    static let repartitionSuffix = ".repartition"

    public func isDeadLetterTopic(_ topic: String) -> Bool { topic.hasSuffix(".dlq") }

    /// Topics a stage consumes, which each get a dead-letter topic.
    public var inputTopics: [String] {
        [paymentRequests, channelRequests, channelConfirmations, paymentEvents, settlementRequests,
         settlementEvents, payoutRequests, payoutConfirmations, channelStatements, channelNotifications]
    }

    /// The repartition topics of stages that shard a topic other groups read by key: the
    /// reconciler shards payment events (the notifier's, by payer) by payment id.
    public var stageRepartitionTopics: [String] { [repartition(of: paymentEvents, stage: "reconciler")] }

    /// The stages that keep shards, each with a changelog topic.
    public static let stages = ["payment-worker", "settlement-worker", "notifier", "reconciler", "channel-sandbox", "channel-gateway"]

    /// A stage's changelog: every shard transaction, partition = shard (`<stage>.changelog`).
    public func changelog(of stage: String) -> String { named(stage + ".changelog") }

    /// Every stage's changelog topic (never compacted: records are changes, not values per key).
    public var changelogs: [String] { Self.stages.map(changelog(of:)) }

    /// A stage's snapshots: consistent copies of its shards in chunks with a manifest,
    /// partition = shard (`<stage>.snapshots`); a restore starts from the newest and reads the
    /// changelog after it.
    public func snapshots(of stage: String) -> String { named(stage + ".snapshots") }

    public var snapshotTopics: [String] { Self.stages.map(snapshots(of:)) }

    /// Every topic of the pipeline: inputs, notifications and reconciliation results, the
    /// dead-letter topic of each, the repartition topics of the inputs, the changelogs and the
    /// snapshot topics.
    public var all: [String] {
        let written = inputTopics + [notifications, reconciliationResults]
        return written + written.map(deadLetter(of:)) + inputTopics.map(repartition(of:)) + stageRepartitionTopics
            + [webhookDeadLetters] + changelogs + snapshotTopics
    }

    /// Compacted reference-data topics (one value per key).
    public var reference: [String] { [merchants, creditLines, fxRates, webhookEndpoints] }
}
