import Foundation

/// How the notifier delivers webhooks (`stage.webhooks` in the config file).
public struct WebhookSettings: Decodable, Sendable, Equatable {
    /// The folder of the signing secrets, one file per endpoint, `webhook_<endpoint_id>`, holding
    /// one `whsec_…` secret per line (two while rotating). Empty: `$CREDENTIALS_DIRECTORY`,
    /// where systemd's `LoadCredential=` puts them.
    public var credentialsDirectory: String = ""
    /// How long one attempt may take, connection to last byte.
    public var timeoutMs: Int = 15_000
    /// The delay before each attempt: the first after the notification is made (0 = at once),
    /// each later one after the previous attempt failed. The delivery is dead-lettered after the
    /// last.
    public var retrySchedule: [Double] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
    /// Attempts to one endpoint at the same time, per notifier process.
    public var maxInFlightPerEndpoint: Int = 4
    /// Attempts at the same time, per notifier process.
    public var maxInFlight: Int = 64
    /// How often each shard's queue is looked at for deliveries that are due.
    public var pollIntervalMs: Int = 200
    /// The longest `Retry-After` (429, 503) honoured; a longer one waits this long.
    public var maxRetryAfterSeconds: Double = 36_000
    /// How long a finished delivery (delivered, or dead-lettered) stays in the shard's queue,
    /// where a redelivered notification finds it and queues nothing again. Like the inbox's
    /// retention, it must exceed the longest time a duplicate can arrive late.
    public var retentionHours: Double = 168
    /// Address ranges (CIDR) webhooks may reach although they are not public, over http as well
    /// as https. Empty: https to public addresses only (`WebhookAddressPolicy`).
    public var allow: [IPRange] = []

    public init() {}

    /// The policy every attempt is checked against.
    public var addressPolicy: WebhookAddressPolicy { WebhookAddressPolicy(allow: allow) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case credentialsDirectory = "credentials_directory", timeoutMs = "timeout_ms", retrySchedule = "retry_schedule_seconds"
        case maxInFlightPerEndpoint = "max_in_flight_per_endpoint", maxInFlight = "max_in_flight", pollIntervalMs = "poll_interval_ms"
        case maxRetryAfterSeconds = "max_retry_after_seconds", retentionHours = "retention_hours", allow
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = WebhookSettings()
        credentialsDirectory = try c.decodeIfPresent(String.self, forKey: .credentialsDirectory) ?? defaults.credentialsDirectory
        timeoutMs = try c.decodeIfPresent(Int.self, forKey: .timeoutMs) ?? defaults.timeoutMs
        retrySchedule = try c.decodeIfPresent([Double].self, forKey: .retrySchedule) ?? defaults.retrySchedule
        maxInFlightPerEndpoint = try c.decodeIfPresent(Int.self, forKey: .maxInFlightPerEndpoint) ?? defaults.maxInFlightPerEndpoint
        maxInFlight = try c.decodeIfPresent(Int.self, forKey: .maxInFlight) ?? defaults.maxInFlight
        pollIntervalMs = try c.decodeIfPresent(Int.self, forKey: .pollIntervalMs) ?? defaults.pollIntervalMs
        maxRetryAfterSeconds = try c.decodeIfPresent(Double.self, forKey: .maxRetryAfterSeconds) ?? defaults.maxRetryAfterSeconds
        retentionHours = try c.decodeIfPresent(Double.self, forKey: .retentionHours) ?? defaults.retentionHours
        let ranges = try c.decodeIfPresent([String].self, forKey: .allow) ?? []
        func refuse(_ key: CodingKeys, _ why: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why)
        }
        guard timeoutMs > 0 else { throw refuse(.timeoutMs, "must be above 0") }
        guard !retrySchedule.isEmpty, retrySchedule.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw refuse(.retrySchedule, "needs at least one delay, each 0 or more seconds")
        }
        guard maxInFlightPerEndpoint > 0 else { throw refuse(.maxInFlightPerEndpoint, "must be above 0") }
        guard maxInFlight >= maxInFlightPerEndpoint else { throw refuse(.maxInFlight, "must be at least max_in_flight_per_endpoint") }
        guard maxInFlight <= 200 else { throw refuse(.maxInFlight, "must be 200 or less") }
        allow = try ranges.map { text in
            guard let range = IPRange(text) else {
                throw refuse(.allow, "'\(text)' is not an address range (CIDR, e.g. 10.1.2.0/24 or fd00::/8)")
            }
            return range
        }
        guard pollIntervalMs > 0 else { throw refuse(.pollIntervalMs, "must be above 0") }
        guard maxRetryAfterSeconds >= 0 else { throw refuse(.maxRetryAfterSeconds, "must be 0 or more") }
        guard retentionHours >= 1 else { throw refuse(.retentionHours, "must be 1 or more") }
    }

    /// The credentials folder in effect: the setting, else `$CREDENTIALS_DIRECTORY`; nil when
    /// neither is set (no delivery can be signed, so none is sent).
    public func credentialsFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if !credentialsDirectory.isEmpty { return credentialsDirectory }
        return environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// Reads an endpoint's signing secrets from `<folder>/webhook_<endpoint_id>` at each attempt, so
/// that a rotation (a second line, then the old line removed) needs no restart. A secret is never
/// logged or published; errors name the file, not its content.
public enum WebhookCredentials {
    public static func fileName(endpointID: String) -> String { "webhook_\(endpointID)" }

    public static func secrets(endpointID: String, folder: String?) throws(WebhookSecretError) -> [WebhookSecret] {
        guard let folder else {
            throw WebhookSecretError("no credentials directory (stage.webhooks.credentials_directory or $CREDENTIALS_DIRECTORY)")
        }
        let path = (folder as NSString).appendingPathComponent(fileName(endpointID: endpointID))
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw WebhookSecretError("no signing secret: cannot read \(path)")
        }
        var secrets: [WebhookSecret] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do { secrets.append(try WebhookSecret(trimmed)) } catch {
                throw WebhookSecretError("\(path) line \(index + 1): \(error.description)")
            }
        }
        guard !secrets.isEmpty else { throw WebhookSecretError("no signing secret in \(path)") }
        return secrets
    }
}
