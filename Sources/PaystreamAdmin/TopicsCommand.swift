import ArgumentParser
import Foundation
import PaystreamKafka
import PaystreamRuntime

struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "Create or list the pipeline's topics.",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create every topic of the pipeline (inputs, dead-letter topics, notifications, stage changelogs, compacted reference data).",
            discussion: "Topics that exist already are left as they are. Input topics of one stage must share a partition count, so one count applies to all.")

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "Partitions per topic.")
        var partitions: Int32 = 4

        @Option(name: .customLong("replication-factor"), help: "Replicas per partition.")
        var replicationFactor: Int32 = 1

        func validate() throws {
            guard partitions > 0 else { throw ValidationError("--partitions must be positive") }
            guard replicationFactor > 0 else { throw ValidationError("--replication-factor must be positive") }
        }

        func run() async throws {
            let topics = cluster.topics
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            defer { admin.close() }
            let changelogs = Set(topics.changelogs + topics.snapshotTopics)
            // A changelog is a log of changes: never compacted, never expired (a restore reads it
            // from its start, or from a snapshot, whose chunks must stay as long as it is the newest).
            let wanted = topics.all.map {
                NewTopic(name: $0, partitions: partitions, replicationFactor: replicationFactor,
                         config: changelogs.contains($0) ? ["cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"] : [:])
            }
                + topics.reference.map {
                    NewTopic(name: $0, partitions: partitions, replicationFactor: replicationFactor,
                             config: ["cleanup.policy": "compact"])
                }
            let results = try await admin.createTopics(wanted, timeout: cluster.timeout)
            for topic in wanted {
                let outcome = results[topic.name] == .created ? "created" : "exists"
                print("\(outcome.padding(toLength: 8, withPad: " ", startingAt: 0)) \(topic.name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics with their partition counts.")

        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            defer { admin.close() }
            let counts = try await admin.topicPartitionCounts(timeout: cluster.timeout)
            for (name, partitions) in counts.sorted(by: { $0.key < $1.key }) {
                print("\(name)\t\(partitions)")
            }
        }
    }
}
