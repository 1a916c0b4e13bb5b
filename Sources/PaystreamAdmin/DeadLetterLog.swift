import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

/// The dead letters on some dead-letter topics, read from the beginning to their end.
///
/// A stage may publish a dead letter twice (after a crash between its commit and the delivery
/// report): both copies carry the same `event-id` header. Only the first copy is an entry; a
/// later copy's id leads to it (`copies`), so that a dead letter replays under one id, and its
/// replay mark dedups, whichever copy an operator names.
struct DeadLetterLog {
    /// One record of a dead-letter topic.
    struct Entry {
        let id: DeadLetterID
        let record: ConsumedRecord
        /// nil when the record is not a `dead-letter/v1` message (see `problem`).
        let letter: DeadLetterMessage?
        let problem: String?

        /// The stage's id of the dead letter: `dlq:<topic>:<partition>:<offset>` of the record it
        /// parks, or `dlq:outbox:<event id>` for a message the broker refused.
        var eventID: String? { record.header("event-id") }
        var code: String { letter?.errorCode ?? "not_a_dead_letter" }
        var message: String { letter?.errorMessage ?? problem ?? "" }
        /// The original bytes; nil if the record is no dead letter or its base64 is broken.
        var originalValue: Data? { letter.flatMap { Data(base64Encoded: $0.originalValueBase64) } }
    }

    /// Every dead letter (first copies), ordered by topic, partition and offset.
    var entries: [Entry] = []
    /// A later copy of a dead letter → the id of its first copy.
    var copies: [DeadLetterID: DeadLetterID] = [:]

    init(records: [ConsumedRecord]) {
        var first: [String: DeadLetterID] = [:]
        for record in records.sorted(by: { DeadLetterID(of: $0) < DeadLetterID(of: $1) }) {
            let id = DeadLetterID(of: record)
            if let eventID = record.header("event-id") {
                if let original = first["\(record.topic) \(eventID)"] {
                    copies[id] = original
                    continue
                }
                first["\(record.topic) \(eventID)"] = id
            }
            do {
                let letter = try Wire.decode(DeadLetterMessage.self, from: Data(record.value))
                guard letter.schema == DeadLetterMessage.schemaName else {
                    entries.append(Entry(id: id, record: record, letter: nil, problem: "schema '\(letter.schema)', not \(DeadLetterMessage.schemaName)"))
                    continue
                }
                entries.append(Entry(id: id, record: record, letter: letter, problem: nil))
            } catch {
                entries.append(Entry(id: id, record: record, letter: nil,
                                     problem: "not a \(DeadLetterMessage.schemaName) message: \(Wire.describe(error))"))
            }
        }
    }

    /// The dead letter at `id`, or at the first copy of the one at `id`.
    func entry(_ id: DeadLetterID) -> Entry? {
        let wanted = copies[id] ?? id
        return entries.first { $0.id == wanted }
    }

    /// Counts by error code, most frequent first, e.g. `2 dead letter(s): 1 undecodable, 1 unknown_payment`.
    static func summary(_ entries: [Entry], copies: Int = 0) -> String {
        var counts: [String: Int] = [:]
        for entry in entries { counts[entry.code, default: 0] += 1 }
        let parts = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) \($0.key)" }
        var line = "\(entries.count) dead letter(s)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))
        if copies > 0 { line += " (\(copies) republished copies not shown)" }
        return line
    }

    // MARK: reading

    /// The dead-letter topics `requested` names (a dead-letter topic or the topic it serves, with
    /// or without the prefix), or by default every one of the pipeline's that exists: each input
    /// topic's, `notifications.dlq`, and any other `.dlq` topic under the prefix.
    static func topics(_ requested: [String], names: TopicNames, existing: [String: Int32]) throws -> [String] {
        guard !requested.isEmpty else {
            let known = (names.inputTopics + [names.notifications]).map(names.deadLetter(of:))
            // The webhook dead-letter topic holds given-up deliveries, not records:
            // `paystream webhooks replay` reads it.
            let others = existing.keys.filter { $0.hasPrefix(names.prefix) && names.isDeadLetterTopic($0) && $0 != names.webhookDeadLetters }
            return Array(Set(known + others)).filter { existing[$0] != nil }.sorted()
        }
        var result: [String] = []
        for name in requested {
            var topic = name.hasPrefix(names.prefix) ? name : names.named(name)
            if !names.isDeadLetterTopic(topic) { topic = names.deadLetter(of: topic) }
            guard existing[topic] != nil else { throw ValidationError("--topic \(name): no topic \(topic)") }
            if !result.contains(topic) { result.append(topic) }
        }
        return result
    }

    /// Reads the topics `pick` chooses, once the cluster's topics and partition counts are known,
    /// from the beginning to their end with a group-less reader.
    static func read(cluster: ClusterOptions, timeout: Duration, pick: ([String: Int32]) throws -> [String])
        async throws -> (log: DeadLetterLog, topics: [String], partitionCounts: [String: Int32]) {
        let (records, topics, existing) = try await readToEnd(cluster: cluster, timeout: timeout) { existing in
            let topics = try pick(existing)
            guard !topics.isEmpty else {
                throw DeadLetterError("no dead-letter topics exist; create the pipeline's topics with `paystream topics create`")
            }
            return topics
        }
        return (DeadLetterLog(records: records), topics, existing)
    }
}

/// Reads the topics `pick` chooses (once the cluster's topics and partition counts are known)
/// from the beginning to their end with a group-less reader.
func readToEnd(cluster: ClusterOptions, timeout: Duration, pick: ([String: Int32]) throws -> [String])
    async throws -> (records: [ConsumedRecord], topics: [String], partitionCounts: [String: Int32]) {
    let reader = try KafkaPartitionReader(configuration: try cluster.kafka, logger: quietLogger())
    var records: [ConsumedRecord] = []
    let topics: [String]
    let existing: [String: Int32]
    do {
        do {
            existing = try await reader.topicPartitionCounts(timeout: cluster.timeout)
        } catch {
            throw DeadLetterError("no Kafka broker reachable within \(cluster.timeout): \(error)")
        }
        topics = try pick(existing)
        try await reader.assignAll(topics, timeout: cluster.timeout)
        let deadline = ContinuousClock.now + timeout
        while !reader.isCaughtUp {
            guard ContinuousClock.now < deadline else {
                throw DeadLetterError("not read to the end within \(timeout): \(reader.partitionsBehind.map(\.description).joined(separator: ", "))")
            }
            records += try await reader.poll(maxRecords: 1000, maxWait: .milliseconds(100)).records
        }
    } catch {
        await reader.close()
        throw error
    }
    await reader.close()
    return (records, topics, existing)
}

/// A failure the CLI reports in one line and exits 1 for.
struct DeadLetterError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
