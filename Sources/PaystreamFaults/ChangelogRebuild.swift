import Foundation
import Logging
import PaystreamAdmin
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// Every shard of the fleet's stages rebuilt from the changelogs alone, into a state folder of
/// its own, and each compared with the freshest copy a host kept (the one with the most records
/// confirmed, then made): after a graceful stop of every daemon they must be equal, table by table.
enum ChangelogRebuild {
    static let stages = ["payment-worker", "settlement-worker", "notifier", "channel-sandbox"]

    /// The shards rebuilt, and what differs.
    static func all(brokers: String, topics: TopicNames, partitions: Int32, into folder: String,
                    hosts: [String]) async throws -> (Int, [String]) {
        var logger = Logger(label: "faults.rebuild")
        logger.logLevel = .critical
        var rebuilt = 0
        var problems: [String] = []
        for stage in stages {
            for partition in 0..<partitions {
                let path = ShardStore.path(stateDirectory: folder, stage: stage, partition: partition)
                let empty = try await ChangelogReader(topic: topics.changelog(of: stage), partition: partition,
                                                      kafka: KafkaConfiguration(bootstrapServers: brokers), logger: logger)
                    .rebuild(into: path, schema: try StageSchemas.schema(of: stage)).isEmpty
                if empty {
                    try? FileManager.default.removeItem(atPath: path)
                    continue
                }
                rebuilt += 1
                let copies = try hosts.map { ShardStore.path(stateDirectory: $0, stage: stage, partition: partition) }
                    .filter { FileManager.default.fileExists(atPath: $0) }
                    .map { ($0, try ShardStore.readOnly(path: $0) { try ChangelogTables.position($0) }) }
                guard let freshest = copies.max(by: { ($0.1.durableTxn, $0.1.lastTxn) < ($1.1.durableTxn, $1.1.lastTxn) }) else {
                    problems.append("\(stage) p\(partition): in the changelog, on no host")
                    continue
                }
                let differences = try ShardDump.of(path: path).differences(from: ShardDump.of(path: freshest.0))
                problems += differences.map { "\(stage) p\(partition) rebuilt from the changelog differs from \(freshest.0): \($0)" }
            }
        }
        return (rebuilt, problems)
    }
}
