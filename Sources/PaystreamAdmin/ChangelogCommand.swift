import ArgumentParser
import ChannelSandbox
import Foundation
import Notifier
import PaymentWorker
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import ReconciliationWorker
import SettlementWorker

/// The shard schema of each stage that keeps shards, by its name.
public enum StageSchemas {
    public static func schema(of stage: String) throws -> StageSchema {
        switch stage {
        case "payment-worker": PaymentTables.schema
        case "settlement-worker": SettlementTables.schema
        case "notifier": StageSchema(WebhookTables.migrations)
        case "reconciler": ReconciliationTables.schema
        case "channel-sandbox": ChannelSandboxTables.schema
        default: throw ValidationError("unknown stage \(stage); one of \(TopicNames.stages.joined(separator: ", "))")
        }
    }
}

/// `paystream changelog status|rebuild`: what each stage's changelog holds per shard, how far
/// local shards are behind it, and a shard rebuilt from it alone (compared with a live one).
struct ChangelogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changelog", abstract: "See a stage's changelog per shard, or rebuild a shard from it.",
        subcommands: [Status.self, Rebuild.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per shard of a stage: records and bytes in its changelog, the last record and who wrote it, and how far the local shard file is behind.",
            discussion: "Reads every partition of <stage>.changelog to its end. With --state-dir, each local shard file's last record is compared with the log's.")

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The stage: payment-worker, settlement-worker, notifier, reconciler or channel-sandbox.")
        var stage: String

        @Option(name: .customLong("state-dir"), help: "A state directory whose shard files to compare with the log (default: $PAYSTREAM_STATE_DIR, if set).")
        var stateDirectory: String?

        func validate() throws { _ = try StageSchemas.schema(of: stage) }

        func run() async throws {
            let topic = cluster.topics.changelog(of: stage)
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            let counts = try await admin.topicPartitionCounts(timeout: cluster.timeout)
            admin.close()
            guard let partitions = counts[topic] else { throw ValidationError("changelog topic \(topic) does not exist") }
            let directory = stateDirectory ?? ProcessInfo.processInfo.environment["PAYSTREAM_STATE_DIR"]
            print("PARTITION  RECORDS  LAST_TXN  BYTES       END_OFFSET  EPOCH  FENCED  LOCAL_TXN  BEHIND")
            for partition in 0..<partitions {
                // The log as a restore reads it: records of the current claim count, a cut-off
                // owner's later ones are fenced.
                var records = 0, bytes = 0, fenced = 0
                var last: Int64 = 0
                var fence = ChangelogFence()
                let (_, end) = try await ChangelogReader(topic: topic, partition: partition, kafka: try cluster.kafka, logger: quietLogger())
                    .read(from: 0) { batch, _ in
                        for record in batch {
                            switch fence.admit(record) {
                            case .admitted:
                                records += 1
                                bytes += record.patchset.count
                                last = max(last, record.txn)
                            case .fenced: fenced += 1
                            case .claimed: break
                            }
                        }
                    }
                var local = "-", behind = "-"
                if let directory {
                    let path = ShardStore.path(stateDirectory: directory, stage: stage, partition: partition)
                    if FileManager.default.fileExists(atPath: path) {
                        let position = try ShardStore.readOnly(path: path) { try ChangelogTables.position($0) }
                        local = String(position.lastTxn)
                        behind = String(max(0, last - position.lastTxn))
                    }
                }
                print([String(partition).padding(9), String(records).padding(7), String(last).padding(8), String(bytes).padding(10),
                       String(end).padding(10), String(fence.current.epoch).padding(5), String(fenced).padding(6), local.padding(9),
                       behind].joined(separator: "  "))
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild one shard from its changelog into a folder, and optionally compare it with a shard file.",
            discussion: """
                Writes <into>/<stage>/p<partition>.sqlite from the records of <stage>.changelog alone (up to --through). \
                With --compare FILE, every table of the two is compared row by row; exit 1 if they differ.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The stage: payment-worker, settlement-worker, notifier, reconciler or channel-sandbox.")
        var stage: String

        @Option(help: "The shard (partition number).")
        var partition: Int32

        @Option(help: "The folder to rebuild into (a state directory of its own; the shard file must not exist yet).")
        var into: String

        @Option(help: "Apply records up to this number only.")
        var through: Int64?

        @Option(help: "A shard file to compare the rebuilt one with (e.g. a live shard, or a copy of a lost host's).")
        var compare: String?

        func validate() throws { _ = try StageSchemas.schema(of: stage) }

        func run() async throws {
            let path = ShardStore.path(stateDirectory: into, stage: stage, partition: partition)
            guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) exists already") }
            let started = ContinuousClock.now
            let (applied, last, _) = try await ChangelogReader(topic: cluster.topics.changelog(of: stage), partition: partition,
                                                               kafka: try cluster.kafka, logger: quietLogger())
                .rebuild(into: path, schema: try StageSchemas.schema(of: stage), through: through ?? .max)
            let elapsed = ContinuousClock.now - started
            print("rebuilt \(path): \(applied) records applied, through record \(last), in \(elapsed)")
            guard let compare else { return }
            let differences = try ShardDump.of(path: path).differences(from: ShardDump.of(path: compare))
            if differences.isEmpty {
                print("equal to \(compare), table by table")
            } else {
                print("differs from \(compare):")
                for line in differences { print("  \(line)") }
                throw ExitCode(1)
            }
        }
    }
}

private extension String {
    func padding(_ width: Int) -> String { padding(toLength: max(width, count), withPad: " ", startingAt: 0) }
}
