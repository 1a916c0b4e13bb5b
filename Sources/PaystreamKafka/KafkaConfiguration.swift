import Crdkafka

/// librdkafka properties for one client. Any property from librdkafka's CONFIGURATION.md passes
/// through unchanged (TLS, SASL, timeouts); the typed members cover what Paystream itself sets.
public struct KafkaConfiguration: Sendable {
    /// Raw librdkafka properties, applied last so operators can override anything.
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.properties = ["bootstrap.servers": bootstrapServers]
        self.properties.merge(properties) { _, new in new }
    }

    public var bootstrapServers: String { properties["bootstrap.servers"] ?? "" }

    /// Returns a copy with `defaults` set where the property is not set already.
    public func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        var copy = self
        copy.properties.merge(defaults) { existing, _ in existing }
        return copy
    }

    /// Returns a copy with `forced` set whatever the caller asked for (what correctness needs).
    public func forcing(_ forced: [String: String]) -> KafkaConfiguration {
        var copy = self
        copy.properties.merge(forced) { _, new in new }
        return copy
    }

    /// The properties that apply to a client of this role: one configuration can serve a whole
    /// daemon, and librdkafka warns about properties of the other role.
    func applicable(to role: Role) -> KafkaConfiguration {
        let other = role == .producer ? Self.consumerOnly : Self.producerOnly
        var copy = self
        copy.properties = properties.filter { key, _ in
            !other.contains(key) && !(role == .producer && (key.hasPrefix("fetch.") || key.hasPrefix("group.")))
        }
        return copy
    }

    enum Role { case producer, consumer }

    static let consumerOnly: Set<String> = [
        "session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy", "auto.offset.reset",
        "enable.auto.commit", "auto.commit.interval.ms", "enable.auto.offset.store", "max.poll.interval.ms",
        "isolation.level", "enable.partition.eof", "check.crcs", "queued.min.messages", "queued.max.messages.kbytes",
        "coordinator.query.interval.ms", "group.instance.id", "group.protocol", "group.remote.assignor",
    ]
    static let producerOnly: Set<String> = [
        "linger.ms", "queue.buffering.max.ms", "acks", "request.required.acks", "enable.idempotence",
        "message.timeout.ms", "delivery.timeout.ms", "batch.num.messages", "batch.size", "compression.codec",
        "compression.type", "queue.buffering.max.messages", "queue.buffering.max.kbytes", "retries",
        "message.send.max.retries", "partitioner", "enable.gapless.guarantee", "sticky.partitioning.linger.ms",
    ]

    /// Checks every property with librdkafka (names and values) for both client roles, without
    /// connecting, so a daemon can refuse a bad configuration before it starts.
    public func validate() throws {
        for role in [Role.producer, .consumer] {
            rd_kafka_conf_destroy(try RDKafkaClient.makeConf(applicable(to: role)))
        }
    }

    /// Property names whose values are never logged.
    static let secretKeys: Set<String> = ["sasl.password", "ssl.key.password", "ssl.keystore.password",
                                          "sasl.oauthbearer.client.secret", "ssl.key.pem"]
}
