import Foundation
import PaystreamKafka
import PaystreamStore

/// A shard snapshot on Kafka: `<stage>.snapshots`, partition = shard, the copy's bytes in chunk
/// messages followed by one manifest message (the manifest last, so it only ever follows whole
/// chunks). Headers say what each message is:
///
/// | header | value |
/// |---|---|
/// | `snapshot-kind` | `chunk` or `manifest` |
/// | `snapshot-id` | the snapshot's id (`SnapshotManifest.id`) |
/// | `snapshot-chunk` | a chunk's `i/n`, 1-based |
/// | `snapshot-manifest` | the manifest, JSON (`SnapshotManifest`); the manifest message has no value |
///
/// Everything but the chunks' bytes is in headers, so the catalog of a partition is read without
/// copying values.
public enum SnapshotWire {
    public static func chunk(_ bytes: [UInt8], index: Int, of count: Int, id: String, topic: String, partition: Int32) -> OutgoingMessage {
        OutgoingMessage(topic: topic, key: Array("p\(partition)".utf8), value: bytes, headers: [
            KafkaHeader(key: "snapshot-kind", string: "chunk"),
            KafkaHeader(key: "snapshot-id", string: id),
            KafkaHeader(key: "snapshot-chunk", string: "\(index)/\(count)"),
        ], partition: partition)
    }

    public static func manifest(_ manifest: SnapshotManifest, topic: String) -> OutgoingMessage {
        OutgoingMessage(topic: topic, key: Array("p\(manifest.partition)".utf8), value: [], headers: [
            KafkaHeader(key: "snapshot-kind", string: "manifest"),
            KafkaHeader(key: "snapshot-id", string: manifest.id),
            KafkaHeader(key: "snapshot-manifest", string: manifest.encoded()),
        ], partition: manifest.partition)
    }
}

/// The snapshots one partition of `<stage>.snapshots` holds, from its messages' headers, in log
/// order: each manifest with the offsets of its chunks as they came before it. A manifest whose
/// chunks are not all there before it (a writer that died or was cut off mid-way and sent them
/// again later, a log that lost them) is partial and never used.
public struct SnapshotCatalog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var manifest: SnapshotManifest
        /// The manifest message's offset.
        public var offset: Int64
        /// The chunks' offsets by index (0-based); nil for a chunk that never came before the manifest.
        public var chunkOffsets: [Int64?]
        public var isComplete: Bool { !chunkOffsets.contains(nil) }
    }

    /// Every manifest read, in log order.
    public private(set) var entries: [Entry] = []
    /// Messages that were neither a chunk nor a readable manifest (offset and why).
    public private(set) var unreadable: [(offset: Int64, reason: String)] = []
    /// Chunk offsets seen so far, by snapshot id and 1-based index (the last copy of each wins).
    private var chunks: [String: [Int: Int64]] = [:]

    public init() {}

    public mutating func add(_ message: ConsumedRecord) {
        guard let id = message.header("snapshot-id") else {
            unreadable.append((message.offset, "no snapshot-id header"))
            return
        }
        switch message.header("snapshot-kind") {
        case "chunk":
            guard let parts = message.header("snapshot-chunk")?.split(separator: "/"), parts.count == 2,
                  let index = Int(parts[0]), let count = Int(parts[1]), index >= 1, index <= count else {
                unreadable.append((message.offset, "chunk without a valid snapshot-chunk header"))
                return
            }
            chunks[id, default: [:]][index] = message.offset
        case "manifest":
            guard let text = message.header("snapshot-manifest"), let manifest = try? SnapshotManifest.decode(text), manifest.id == id,
                  manifest.chunks >= 1 else {
                unreadable.append((message.offset, "manifest that cannot be read"))
                return
            }
            let seen = chunks[id] ?? [:]
            entries.append(Entry(manifest: manifest, offset: message.offset, chunkOffsets: (1...manifest.chunks).map { seen[$0] }))
            chunks[id] = nil
        default:
            unreadable.append((message.offset, "unknown snapshot-kind"))
        }
    }

    /// The complete snapshots, newest first (by the record they cover, then by log order):
    /// the order a restore tries them in.
    public var usable: [Entry] {
        entries.enumerated().filter { $0.element.isComplete }
            .sorted { ($0.element.manifest.txn, $0.offset) > ($1.element.manifest.txn, $1.offset) }
            .map(\.element)
    }

    /// The newest complete snapshot.
    public var newest: Entry? { usable.first }

    /// Where the changelog may be truncated so that the `keep` newest complete snapshots can
    /// still be restored from (each needs the log from its offset on): the offset of the
    /// `keep`-th newest; nil when there are fewer.
    public func truncationOffset(keeping keep: Int) -> Int64? {
        let kept = usable.prefix(max(1, keep))
        guard kept.count == max(1, keep) else { return nil }
        return kept.map(\.manifest.logNextOffset).min()
    }
}
