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

/// `paystream changelog status|claims|snapshots|rebuild`: what each stage's changelog holds per
/// shard, how far local shards are behind it, who claimed each shard when, the snapshots, and a
/// shard rebuilt from the log (compared with a live one).
struct ChangelogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changelog", abstract: "See a stage's changelog, claims and snapshots per shard, or rebuild a shard from them.",
        subcommands: [Status.self, Claims.self, Snapshots.self, Truncate.self, Rebuild.self])

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
            let snapshotCounts = counts[cluster.topics.snapshots(of: stage)]
            print("PARTITION  RECORDS  LAST_TXN  BYTES       END_OFFSET  EPOCH  FENCED  SNAPSHOT_TXN  SNAPSHOT_AGE  LOCAL_TXN  BEHIND")
            for partition in 0..<partitions {
                // The log as a restore reads it: records of the current claim count, a cut-off
                // owner's later ones are fenced.
                var records = 0, bytes = 0, fenced = 0
                var last: Int64 = 0
                var fence = ChangelogFence()
                let (_, end, _) = try await ChangelogReader(topic: topic, partition: partition, kafka: try cluster.kafka, logger: quietLogger())
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
                var snapshotTxn = "-", snapshotAge = "-"
                if let snapshotCounts, snapshotCounts > partition,
                   let newest = try await SnapshotStore(topic: cluster.topics.snapshots(of: stage), partition: partition,
                                                        kafka: try cluster.kafka, logger: quietLogger()).catalog()?.newest {
                    snapshotTxn = String(newest.manifest.txn)
                    snapshotAge = ageText(Date().timeIntervalSince(newest.manifest.createdAt))
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
                       String(end).padding(10), String(fence.current.epoch).padding(5), String(fenced).padding(6),
                       snapshotTxn.padding(12), snapshotAge.padding(12), local.padding(9), behind].joined(separator: "  "))
            }
        }
    }

    struct Claims: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A shard's epoch history: every claim in its changelog, in log order, and what the log took from each owner.",
            discussion: """
                Reads <stage>.changelog[partition] to its end through the fence, as every restore does. Per claim: its epoch \
                and owner (instance and group member), the last record the owner held when it claimed, whether it took over \
                (a claim not newer than the current one is ignored), the records written under it that count, and the \
                records fenced while it held the partition (a cut-off old owner still writing).
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The stage: payment-worker, settlement-worker, notifier, reconciler or channel-sandbox.")
        var stage: String

        @Option(help: "The shard (partition number).")
        var partition: Int32

        func validate() throws { _ = try StageSchemas.schema(of: stage) }

        func run() async throws {
            var history = ClaimHistory()
            try await ChangelogReader(topic: cluster.topics.changelog(of: stage), partition: partition, kafka: try cluster.kafka,
                                      logger: quietLogger())
                .read(from: 0) { batch, _ in for record in batch { history.add(record) } }
            print("EPOCH  AT_TXN   VERDICT    RECORDS  FENCED  OWNER")
            for claim in history.claims {
                print([String(claim.epoch).padding(5), String(claim.atTxn).padding(7), (claim.tookOver ? "took over" : "ignored").padding(9),
                       String(claim.records).padding(7), String(claim.fenced).padding(6), claim.owner.isEmpty ? "-" : claim.owner]
                    .joined(separator: "  "))
            }
            if history.claims.isEmpty { print("(no claims: records \(history.unclaimedRecords) written before any)") }
        }
    }

    struct Snapshots: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The snapshots of a stage's shards on <stage>.snapshots: what each covers, its size and age, and which a restore would use.",
            discussion: """
                Reads the headers of <stage>.snapshots (no chunk values). NEXT marks the snapshot a restore of a missing \
                file tries first; a partial one (chunks missing before its manifest) is never used. A snapshot's bytes are \
                checked against its SHA-256 only when a restore fetches it.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The stage: payment-worker, settlement-worker, notifier, reconciler or channel-sandbox.")
        var stage: String

        @Option(help: "One shard only (partition number).")
        var partition: Int32?

        func validate() throws { _ = try StageSchemas.schema(of: stage) }

        func run() async throws {
            let topic = cluster.topics.snapshots(of: stage)
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            let counts = try await admin.topicPartitionCounts(timeout: cluster.timeout)
            admin.close()
            guard let partitions = counts[topic] else { throw ValidationError("snapshot topic \(topic) does not exist") }
            print("PARTITION  TXN       LOG_OFFSET  EPOCH  BYTES       CHUNKS  AGE         STATE    ID")
            for p in 0..<partitions where partition.map({ $0 == p }) ?? true {
                guard let catalog = try await SnapshotStore(topic: topic, partition: p, kafka: try cluster.kafka, logger: quietLogger())
                    .catalog() else { continue }
                let next = catalog.newest?.manifest.id
                for entry in catalog.entries.sorted(by: { $0.manifest.txn > $1.manifest.txn }) {
                    let m = entry.manifest
                    let state = !entry.isComplete ? "partial" : m.id == next ? "NEXT" : "usable"
                    print([String(p).padding(9), String(m.txn).padding(8), String(m.logNextOffset).padding(10), String(m.epoch).padding(5),
                           String(m.size).padding(10), String(m.chunks).padding(6), ageText(Date().timeIntervalSince(m.createdAt)).padding(10),
                           state.padding(7), m.id].joined(separator: "  "))
                }
                if !catalog.unreadable.isEmpty {
                    print("partition \(p): \(catalog.unreadable.count) message(s) that are not snapshots, e.g. at offset \(catalog.unreadable[0].offset): \(catalog.unreadable[0].reason)")
                }
            }
        }
    }

    struct Truncate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show (or, on real Kafka, do) how far each shard's changelog may be truncated below its snapshots.",
            discussion: """
                Per shard: the offset below which <stage>.changelog may go while the --keep newest complete snapshots \
                can still be restored from (each needs the log from its offset on). Without --execute nothing is \
                changed. With --execute and --real-kafka, Kafka's DeleteRecords moves each partition's start there. \
                Never on Tansu, the test broker: it does not implement DeleteRecords and its broker panics on it \
                (hence the second flag). A shard file that then stands before its log's start is set aside as \
                .behind by its next restore, which starts from a snapshot.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "The stage: payment-worker, settlement-worker, notifier, reconciler or channel-sandbox.")
        var stage: String

        @Option(help: "One shard only (partition number).")
        var partition: Int32?

        @Option(help: "Complete snapshots that must stay restorable (at least 1; 2 leaves a spare should the newest be refused).")
        var keep = 2

        @Flag(help: "Delete the records (needs --real-kafka).")
        var execute = false

        @Flag(name: .customLong("real-kafka"), help: "Confirms the brokers are Kafka, not Tansu (which panics on DeleteRecords).")
        var realKafka = false

        func validate() throws {
            _ = try StageSchemas.schema(of: stage)
            guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
            if execute && !realKafka {
                throw ValidationError("--execute deletes records with DeleteRecords, which Tansu does not implement (its broker panics on it): add --real-kafka if the brokers are Kafka")
            }
        }

        func run() async throws {
            let topic = cluster.topics.snapshots(of: stage), changelog = cluster.topics.changelog(of: stage)
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            defer { admin.close() }
            let counts = try await admin.topicPartitionCounts(timeout: cluster.timeout)
            guard let partitions = counts[topic] else { throw ValidationError("snapshot topic \(topic) does not exist") }
            var cuts: [TopicPartition: Int64] = [:]
            print("PARTITION  SNAPSHOTS  KEEP_FROM_TXN  TRUNCATE_BELOW")
            for p in 0..<partitions where partition.map({ $0 == p }) ?? true {
                let catalog = try await SnapshotStore(topic: topic, partition: p, kafka: try cluster.kafka, logger: quietLogger()).catalog()
                    ?? SnapshotCatalog()
                let offset = catalog.truncationOffset(keeping: keep)
                let kept = catalog.usable.prefix(keep)
                print([String(p).padding(9), String(catalog.usable.count).padding(9),
                       (offset == nil ? "-" : String(kept.map(\.manifest.txn).min()!)).padding(13),
                       offset.map(String.init) ?? "- (fewer than \(keep) complete snapshots: keep everything)"].joined(separator: "  "))
                if let offset { cuts[TopicPartition(changelog, p)] = offset }
            }
            guard execute else {
                print("nothing deleted (dry run); --execute --real-kafka deletes the records below these offsets")
                return
            }
            guard !cuts.isEmpty else { return }
            let starts = try await admin.deleteRecords(before: cuts, timeout: cluster.timeout)
            for (tp, start) in starts.sorted(by: { $0.key < $1.key }) { print("\(tp): the log now starts at \(start)") }
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

        @Flag(name: .customLong("from-snapshot"), help: "Start from the newest good snapshot and apply the log after it, as a restore does (not with --through).")
        var fromSnapshot = false

        func validate() throws {
            _ = try StageSchemas.schema(of: stage)
            if fromSnapshot && through != nil { throw ValidationError("--from-snapshot rebuilds to the end of the log; drop --through") }
        }

        func run() async throws {
            let path = ShardStore.path(stateDirectory: into, stage: stage, partition: partition)
            guard !FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path) exists already") }
            let started = ContinuousClock.now
            if fromSnapshot {
                var restorer = ShardRestorer(path: path, partition: partition, topic: cluster.topics.changelog(of: stage),
                                             schema: try StageSchemas.schema(of: stage), kafka: try cluster.kafka, synchronous: .full,
                                             logger: quietLogger())
                restorer.snapshots = cluster.topics.snapshots(of: stage)
                let summary = try await restorer.run()
                let from = summary.snapshot.map { "snapshot \($0.id) (record \($0.txn)) and " } ?? "no snapshot (none usable), "
                print("rebuilt \(path): from \(from)\(summary.records) records of the log after it, through record \(summary.lastTxn), in \(ContinuousClock.now - started)")
            } else {
                let (applied, last, _) = try await ChangelogReader(topic: cluster.topics.changelog(of: stage), partition: partition,
                                                                   kafka: try cluster.kafka, logger: quietLogger())
                    .rebuild(into: path, schema: try StageSchemas.schema(of: stage), through: through ?? .max)
                print("rebuilt \(path): \(applied) records applied, through record \(last), in \(ContinuousClock.now - started)")
            }
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

/// `3d4h`, `2h5m`, `40s`.
func ageText(_ seconds: Double) -> String {
    let s = max(0, Int(seconds))
    if s >= 86_400 { return "\(s / 86_400)d\(s % 86_400 / 3600)h" }
    if s >= 3600 { return "\(s / 3600)h\(s % 3600 / 60)m" }
    if s >= 60 { return "\(s / 60)m\(s % 60)s" }
    return "\(s)s"
}

private extension String {
    func padding(_ width: Int) -> String { padding(toLength: max(width, count), withPad: " ", startingAt: 0) }
}
