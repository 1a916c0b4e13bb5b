import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamReference
import PaystreamRuntime
import PaystreamStore
import Synchronization

/// How many attempts are on their way, per endpoint and in all, across the process's shards:
/// a shard starts an attempt only when both are under their bounds, so a slow endpoint holds
/// its own slots and nobody else's.
final class WebhookSlots: Sendable {
    private struct State {
        var perEndpoint: [String: Int] = [:]
        var total = 0
    }
    private let state = Mutex(State())
    let perEndpoint: Int
    let total: Int

    init(perEndpoint: Int, total: Int) {
        self.perEndpoint = perEndpoint
        self.total = total
    }

    func take(_ endpoint: String) -> Bool {
        state.withLock { state in
            guard state.total < total, state.perEndpoint[endpoint, default: 0] < perEndpoint else { return false }
            state.total += 1
            state.perEndpoint[endpoint, default: 0] += 1
            return true
        }
    }

    func give(_ endpoint: String) {
        state.withLock { state in
            state.total -= 1
            state.perEndpoint[endpoint, default: 1] -= 1
            if state.perEndpoint[endpoint] == 0 { state.perEndpoint[endpoint] = nil }
        }
    }

    /// Endpoints at their bound (left out of the next look at the queue), or nil when the process
    /// is at its total bound (nothing can start).
    func full() -> Set<String>? {
        state.withLock { state in
            state.total >= total ? nil : Set(state.perEndpoint.filter { $0.value >= perEndpoint }.keys)
        }
    }
}

/// The deliveries of one shard on their way.
private final class InFlight: Sendable {
    let keys = Mutex(Set<WebhookDeliveryRow.Key>())
}

/// The notifier's webhook delivery, beside its consumer loop (`ShardCompanion`): on each owned
/// shard, take the deliveries that are due, send each (signed, `WebhookSender`) within the
/// bounds of `WebhookSlots`, and record the answer in the shard: 2xx → delivered; 410 → the
/// delivery and the endpoint are given up (the timer publishes both); anything else → the next
/// attempt on the retry schedule (`Retry-After` on 429 and 503 instead), or, after the last,
/// `failed`. A delivery is marked only after its answer, so one cut short by a crash or a
/// rebalance is sent again by the shard's next owner, under the same `webhook-id`.
public final class WebhookDelivery: ShardCompanion {
    public let settings: WebhookSettings
    let reference: (any ReferenceLookup)?
    let slots: WebhookSlots
    let credentialsFolder: String?
    /// Endpoints that answered 410 in this process, with when: nothing more is sent to them
    /// until reference data says otherwise (disabled, or re-enabled after that time).
    private let gone = Mutex([String: Date]())

    public init(settings: WebhookSettings, reference: (any ReferenceLookup)?,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.settings = settings
        self.reference = reference
        slots = WebhookSlots(perEndpoint: settings.maxInFlightPerEndpoint, total: settings.maxInFlight)
        credentialsFolder = settings.credentialsFolder(environment: environment)
    }

    public func run(shard: ShardStore, partition: Int32, clock: any PaystreamClock, logger: Logger) async {
        let inFlight = InFlight()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                do {
                    let now = clock.now()
                    if let full = slots.full() {
                        let taken = inFlight.keys.withLock { $0 }
                        let due = try await shard.read { db in
                            try WebhookTables.due(db, now: now, excluding: full, limit: 256)
                        }.filter { !taken.contains($0.key) }
                        // Changelog first: a delivery leaves once the transaction that queued it is in Kafka.
                        if !due.isEmpty { try await shard.waitUntilDurable() }
                        for row in due where slots.take(row.endpointID) {
                            inFlight.keys.withLock { _ = $0.insert(row.key) }
                            group.addTask { [self] in
                                await attempt(row, shard: shard, clock: clock, logger: logger)
                                slots.give(row.endpointID)
                                inFlight.keys.withLock { _ = $0.remove(row.key) }
                            }
                        }
                    }
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("cannot read the webhook queue; trying again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .milliseconds(settings.pollIntervalMs))
            }
        }
    }

    /// What stops a delivery before it is sent: its endpoint deleted, disabled, or gone (410).
    func refusal(of row: WebhookDeliveryRow) -> (WebhookEndpointReference?, String?) {
        guard let endpoint = reference?.webhookEndpoint(row.endpointID) else { return (nil, "endpoint_deleted") }
        if !endpoint.enabled { return (endpoint, "endpoint_disabled") }
        if let since = gone.withLock({ $0[row.endpointID] }) {
            // Re-enabled by the operator after the 410: deliver again.
            if let updated = endpoint.updatedAt.flatMap(Wire.parseTimestamp), updated > since {
                gone.withLock { $0[row.endpointID] = nil }
            } else {
                return (endpoint, "endpoint_disabled")
            }
        }
        return (endpoint, nil)
    }

    func attempt(_ row: WebhookDeliveryRow, shard: ShardStore, clock: any PaystreamClock, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "webhook.id"] = "\(row.webhookID)"
        logger[metadataKey: "webhook.endpoint"] = "\(row.endpointID)"
        let (endpoint, refused) = refusal(of: row)
        let number = row.attempts + 1
        let attempt: WebhookAttemptRecord?
        let state: String
        var next: Date?
        if let refused {
            // Not sent: the dead letter says why.
            attempt = WebhookAttemptRecord(attempt: number, at: Wire.timestamp(clock.now()), status: nil, error: refused, durationMs: 0)
            state = "endpoint_disabled"
        } else if let endpoint {
            let answer: WebhookAnswer
            do {
                let secrets = try WebhookCredentials.secrets(endpointID: row.endpointID, folder: credentialsFolder)
                answer = await WebhookSender.send(url: endpoint.url, webhookID: row.webhookID, body: row.body, secrets: secrets,
                                                  timestamp: Date(), timeout: .milliseconds(settings.timeoutMs),
                                                  policy: settings.addressPolicy)
            } catch {
                answer = WebhookAnswer(status: nil, error: error.description, duration: .zero)
            }
            if Task.isCancelled && answer.status == nil {
                // Cut short by a revocation or shutdown: not an attempt; the next owner sends it.
                return
            }
            let now = clock.now()
            let ms = Int(answer.duration.components.seconds * 1000 + answer.duration.components.attoseconds / 1_000_000_000_000_000)
            attempt = WebhookAttemptRecord(attempt: number, at: Wire.timestamp(now), status: answer.status, error: answer.error,
                                     durationMs: ms, retryAfterSeconds: answer.retryAfter)
            if answer.isDelivered {
                state = "delivered"
                logger.debug("webhook delivered", metadata: ["http.status": "\(answer.status ?? 0)", "webhook.attempt": "\(number)"])
            } else if answer.isGone {
                state = "endpoint_disabled"
                gone.withLock { $0[row.endpointID] = now }
                logger.warning("webhook endpoint answered 410 Gone; disabling it", metadata: ["webhook.attempt": "\(number)"])
            } else if number < settings.retrySchedule.count {
                state = "pending"
                var delay = settings.retrySchedule[number]
                if let retryAfter = answer.retryAfter { delay = min(retryAfter, settings.maxRetryAfterSeconds) }
                next = now.addingTimeInterval(delay)
                logger.info("webhook attempt failed; will retry", metadata: [
                    "http.status": "\(answer.status.map(String.init) ?? "-")", "error": "\(answer.error ?? "-")",
                    "webhook.attempt": "\(number)", "webhook.retry_in_s": "\(delay)"])
            } else {
                state = "failed"
                logger.warning("webhook failed on every attempt; dead-lettered", metadata: [
                    "http.status": "\(answer.status.map(String.init) ?? "-")", "error": "\(answer.error ?? "-")",
                    "webhook.attempt": "\(number)"])
            }
        } else {
            return
        }
        PaystreamMetrics.webhookDelivery(outcome: state == "delivered" ? "delivered" : state == "pending" ? "retry"
                                         : state == "failed" ? "failed" : refused == nil ? "gone" : "disabled")
        let now = clock.now()
        let nextAttempt = next
        do {
            try await shard.write { db in
                try WebhookTables.record(db, row.key, attempt: attempt, state: state, nextAttemptAt: nextAttempt, now: now)
            }
        } catch {
            // Not recorded: the delivery stays due and is attempted again (same webhook-id).
            logger.error("cannot record a webhook attempt; it will be sent again", metadata: ["error": "\(error)"])
        }
    }
}
