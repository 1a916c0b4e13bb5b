import Crdkafka
import Foundation
import Logging

/// A topic to create.
public struct NewTopic: Sendable, Hashable {
    public let name: String
    public let partitions: Int32
    public let replicationFactor: Int32
    /// Topic-level configuration, e.g. `cleanup.policy=compact` for reference data.
    public let config: [String: String]

    public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

public enum TopicCreation: Sendable, Equatable {
    case created
    case alreadyExists
}

/// Topic administration and reachability checks.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    public init(configuration: KafkaConfiguration) throws {
        self.client = try RDKafkaClient(kind: .producer, configuration: configuration.applicable(to: .producer), events: 0, label: "admin")
    }

    /// Creates the topics; a topic that exists already is reported, not an error.
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(30)) async throws -> [String: TopicCreation] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await client.blocking { [client] in
            var errstr = [CChar](repeating: 0, count: 512)
            var newTopics: [OpaquePointer?] = []
            defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
            for topic in topics {
                guard let t = rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, &errstr, errstr.count) else {
                    throw KafkaError.configuration("topic \(topic.name): \(String(errorBuffer: errstr))")
                }
                newTopics.append(t)
                for (key, value) in topic.config { rd_kafka_NewTopic_set_config(t, key, value) }
            }
            let queue = rd_kafka_queue_new(client.handle)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
            rd_kafka_CreateTopics(client.handle, &newTopics, newTopics.count, options, queue)
            guard let event = rd_kafka_queue_poll(queue, ms + 1000) else {
                throw KafkaError.timedOut("CreateTopics got no answer within \(ms) ms")
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "CreateTopics") }
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError.configuration("CreateTopics: unexpected event")
            }
            var count = 0
            let results = rd_kafka_CreateTopics_result_topics(result, &count)!
            var outcome: [String: TopicCreation] = [:]
            for i in 0..<count {
                let r = results[i]
                let name = String(cString: rd_kafka_topic_result_name(r))
                let e = rd_kafka_topic_result_error(r)
                switch e {
                case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[name] = .created
                case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[name] = .alreadyExists
                default:
                    let text = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
                    throw KafkaError(rdError: e, context: "create topic \(name) \(text)")
                }
            }
            return outcome
        }
    }

    /// Deletes every record below `offsets` in each partition (Kafka's DeleteRecords: the log's
    /// start moves up) and returns each partition's new start. Real Kafka only: Tansu does not
    /// implement DeleteRecords and its broker panics on it, so nothing calls this against it.
    public func deleteRecords(before offsets: [TopicPartition: Int64], timeout: Duration = .seconds(30)) async throws -> [TopicPartition: Int64] {
        let ms = Int32(timeout.components.seconds * 1000)
        return try await client.blocking { [client] in
            var errstr = [CChar](repeating: 0, count: 512)
            let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (tp, offset) in offsets { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition)!.pointee.offset = offset }
            var request: OpaquePointer? = rd_kafka_DeleteRecords_new(list)
            defer { rd_kafka_DeleteRecords_destroy(request) }
            let queue = rd_kafka_queue_new(client.handle)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_DELETERECORDS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
            rd_kafka_DeleteRecords(client.handle, &request, 1, options, queue)
            guard let event = rd_kafka_queue_poll(queue, ms + 1000) else {
                throw KafkaError.timedOut("DeleteRecords got no answer within \(ms) ms")
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: err, context: "DeleteRecords") }
            guard let result = rd_kafka_event_DeleteRecords_result(event), let answered = rd_kafka_DeleteRecords_result_offsets(result) else {
                throw KafkaError.configuration("DeleteRecords: unexpected event")
            }
            var starts: [TopicPartition: Int64] = [:]
            for i in 0..<Int(answered.pointee.cnt) {
                let element = answered.pointee.elems[i]
                let tp = TopicPartition(String(cString: element.topic), element.partition)
                guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(rdError: element.err, context: "DeleteRecords \(tp)") }
                starts[tp] = element.offset
            }
            return starts
        }
    }

    /// Topic names and partition counts. Fails if no broker answers within `timeout`.
    public func topicPartitionCounts(timeout: Duration = .seconds(10)) async throws -> [String: Int32] {
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await client.blocking { [client] in try client.metadata(timeoutMs: ms) }
    }

    public func close() {
        client.destroy()
    }
}
