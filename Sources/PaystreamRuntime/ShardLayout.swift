import Foundation
import PaystreamKafka
import PaystreamStore

/// A shard that does not fit the topics as they are, or a shard that should exist and does not.
/// The worker stops on it and the daemon exits 1: state is never looked up in the wrong shard,
/// and never silently rebuilt from nothing.
public struct ShardLayoutError: Error, CustomStringConvertible {
    public let description: String
}

extension ShardRouting {
    /// How shards are keyed, as recorded in each shard.
    static let rule = "murmur2(shard key) mod partition count"

    func identity(stage: String, partition: Int32) -> ShardIdentity {
        ShardIdentity(stage: stage, partition: partition, partitionCount: partitionCount, routing: Self.rule)
    }

    /// Checks every existing shard file of `stage` (read-only) against the current partition count.
    func checkShardFiles(stateDirectory: String, stage: String) throws {
        for path in ShardStore.paths(stateDirectory: stateDirectory, stage: stage) {
            guard let recorded = try ShardStore.readOnly(path: path, RuntimeTables.identity) else { continue }
            try check(recorded, path: path, stage: stage)
        }
    }

    func check(_ recorded: ShardIdentity, path: String, stage: String) throws {
        guard recorded.partitionCount == partitionCount, recorded.stage == stage, recorded.routing == Self.rule else {
            throw ShardLayoutError(description: """
                shard \(path) holds \(recorded), but the input topics of \(stage) have \(partitionCount) partitions now: \
                a key's state lives in the shard of murmur2(key) mod the partition count, so it would be looked for in the \
                wrong shard. Give the topics \(recorded.partitionCount) partitions again (Kafka cannot remove partitions: \
                recreate them), or start this stage on a new state_dir and input topics; the worker does not run on these shards
                """)
        }
    }
}
