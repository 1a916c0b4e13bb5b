import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka

/// The benchmark's requests: card payments in CNY to the test merchants, each from a payer of its
/// own (so no payer's risk limits interfere) and keyed by that payer, as upstream publishes them.
/// The key identifies the payment in every topic the bench watches (the notifier and the payment
/// events are keyed by payer too).
struct BenchLoad {
    struct Payment {
        let key: String
        let value: [UInt8]
    }

    static func payments(_ count: Int, label: String) -> [Payment] {
        (0..<count).map { index in
            let payer = "bench-\(label)-\(index)"
            let body: [String: Any] = [
                "schema": PaymentRequestMessage.schemaName, "type": "payment", "request_id": "rq-\(payer)",
                "payment_id": "pm-\(payer)", "order_id": "ord-\(payer)", "payer_id": payer,
                "merchant_id": "m-\(index % 10)", "amount": 1000 + Int64(index % 50_000), "currency": "CNY",
                "method": "card", "channel": "bank_card", "created_at": "2026-11-30T00:00:00Z",
            ]
            let value = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            return Payment(key: payer, value: Array(value))
        }
    }
}

/// Watches the topics where a payment ends (the notification of its capture, or its
/// `payment.failed` event; for the relay, the last relay topic) and notes when each key first
/// arrived there.
final class BenchObserver: @unchecked Sendable {
    private let lock = NSLock()
    private var arrivals: [String: ContinuousClock.Instant] = [:]
    private var failed: Set<String> = []
    /// The keys a run waits for, and how many of them have arrived.
    private var expected: Set<String> = []
    private var expectedArrived = 0
    private let finalTopics: Set<String>
    private let failureTopic: String?
    /// Topics on the way (for where the time goes): when each key first appeared on each; on the
    /// failure topic (the payment events), only the capture counts.
    private let waypoints: [String]
    private var passed: [String: [String: ContinuousClock.Instant]] = [:]
    /// The record timestamp (producer's time, ms since the epoch) of each key's first record on
    /// each waypoint and final topic: when the stage wrote it, whenever the bench read it.
    private var stamps: [String: [String: Int64]] = [:]

    init(finalTopics: [String], failureTopic: String?, waypoints: [String] = []) {
        self.finalTopics = Set(finalTopics)
        self.failureTopic = failureTopic
        self.waypoints = waypoints
    }

    /// The timestamps of `key`'s first records on each waypoint and final topic.
    func stamps(of key: String) -> [String: Int64] { lock.withLock { stamps[key] ?? [:] } }

    /// When `key` first appeared on each waypoint topic.
    func waypoints(of key: String) -> [String: ContinuousClock.Instant] { lock.withLock { passed[key] ?? [:] } }

    /// The keys the next run waits for (`arrivedCount` counts them without a scan).
    func expect(_ keys: [String]) {
        lock.withLock {
            expected = Set(keys)
            expectedArrived = keys.reduce(0) { $0 + (arrivals[$1] == nil ? 0 : 1) }
        }
    }

    var arrivedCount: Int { lock.withLock { expectedArrived } }

    func observe(_ records: [ConsumedRecord], at instant: ContinuousClock.Instant) {
        lock.withLock {
            for record in records {
                guard let key = record.keyString else { continue }
                let isWaypoint = waypoints.contains(record.topic)
                    && (record.topic != failureTopic || Self.contains(record.value, Self.capturedMarker))
                if isWaypoint, passed[key]?[record.topic] == nil {
                    passed[key, default: [:]][record.topic] = instant
                }
                if isWaypoint || finalTopics.contains(record.topic), stamps[key]?[record.topic] == nil, let ms = record.timestampMs {
                    stamps[key, default: [:]][record.topic] = ms
                }
                if finalTopics.contains(record.topic) {
                    arrive(key, at: instant)
                } else if record.topic == failureTopic, Self.isFailure(record.value) {
                    failed.insert(key)
                    arrive(key, at: instant)
                }
            }
        }
    }

    private func arrive(_ key: String, at instant: ContinuousClock.Instant) {
        guard arrivals[key] == nil else { return }
        arrivals[key] = instant
        if expected.contains(key) { expectedArrived += 1 }
    }

    private static let failedMarker = Array(#""type":"payment.failed""#.utf8)
    private static let capturedMarker = Array(#""type":"payment.captured""#.utf8)

    private static func isFailure(_ value: [UInt8]) -> Bool { contains(value, failedMarker) }

    private static func contains(_ value: [UInt8], _ marker: [UInt8]) -> Bool {
        guard value.count >= marker.count else { return false }
        for start in 0...(value.count - marker.count) where value[start] == marker[0] {
            if value[start..<(start + marker.count)].elementsEqual(marker) { return true }
        }
        return false
    }

    func arrival(of key: String) -> ContinuousClock.Instant? { lock.withLock { arrivals[key] } }
    func failures(of keys: [String]) -> Int { lock.withLock { keys.reduce(0) { $0 + (failed.contains($1) ? 1 : 0) } } }

    /// Reads `topics` from their beginning into the observer until cancelled.
    static func read(_ observer: BenchObserver, brokers: String, topics: [String]) async throws {
        let reader = try await TopicReader(bootstrapServers: brokers, topics: topics)
        while !Task.isCancelled {
            guard let records = try? await reader.next(maxWait: .milliseconds(20)) else { break }
            if !records.isEmpty { observer.observe(records, at: .now) }
        }
        await reader.close()
    }
}
