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
    func withDefaults(_ defaults: [String: String]) -> KafkaConfiguration {
        var copy = self
        copy.properties.merge(defaults) { existing, _ in existing }
        return copy
    }

    /// Returns a copy with `forced` set whatever the caller asked for (what correctness needs).
    func forcing(_ forced: [String: String]) -> KafkaConfiguration {
        var copy = self
        copy.properties.merge(forced) { _, new in new }
        return copy
    }

    /// Property names whose values are never logged.
    static let secretKeys: Set<String> = ["sasl.password", "ssl.key.password", "ssl.keystore.password",
                                          "sasl.oauthbearer.client.secret", "ssl.key.pem"]
}
