import Foundation
import PaystreamKafka
import PaystreamStore

/// A shard's changelog record on Kafka: `<stage>.changelog`, partition = shard, one message per
/// chunk of at most `maxChunkBytes` of the patchset (a record is never cut by the broker's
/// message limit). Headers say what each chunk is:
///
/// | header | value |
/// |---|---|
/// | `changelog-kind` | `txn` (a transaction's patchset), `schema` (migrations run at open) or `claim` (an owner takes the partition) |
/// | `changelog-txn` | the record's number in the shard, 1, 2, … without gaps |
/// | `changelog-chunk` | `i/n`, 1-based |
/// | `changelog-crc32` | CRC-32 of the whole patchset, hex |
/// | `changelog-outbox-before` | the outbox sequence before the transaction |
/// | `changelog-sequences` | the AUTOINCREMENT counters after it, `table=n,…` |
/// | `changelog-migrations` | a `schema` record's migrations, comma separated, in order |
/// | `changelog-instance` | the instance that wrote it (for operators) |
/// | `changelog-epoch`, `changelog-owner` | the claim it was written under (`ChangelogFence`); absent before any claim |
public enum ChangelogWire {
    public static let maxChunkBytes = 512 * 1024

    public static func messages(for record: ChangelogRecord, topic: String, partition: Int32, instance: String,
                                maxChunkBytes: Int = maxChunkBytes) -> [OutgoingMessage] {
        let bytes = [UInt8](record.patchset)
        let count = max(1, (bytes.count + maxChunkBytes - 1) / maxChunkBytes)
        let crc = String(bytes.withUnsafeBytes { CRC32.checksum($0) }, radix: 16)
        let key = Array("p\(partition)".utf8)
        return (0..<count).map { index in
            let chunk = Array(bytes[min(index * maxChunkBytes, bytes.count)..<min((index + 1) * maxChunkBytes, bytes.count)])
            var headers = [
                KafkaHeader(key: "changelog-kind", string: record.kind.rawValue),
                KafkaHeader(key: "changelog-txn", string: String(record.txn)),
                KafkaHeader(key: "changelog-chunk", string: "\(index + 1)/\(count)"),
                KafkaHeader(key: "changelog-crc32", string: crc),
                KafkaHeader(key: "changelog-outbox-before", string: String(record.outboxBefore)),
                KafkaHeader(key: "changelog-instance", string: instance),
            ]
            if !record.sequences.isEmpty {
                headers.append(KafkaHeader(key: "changelog-sequences", string: ChangelogTables.encodeSequences(record.sequences)))
            }
            if !record.migrations.isEmpty {
                headers.append(KafkaHeader(key: "changelog-migrations", string: record.migrations.joined(separator: ",")))
            }
            if record.epoch > 0 {
                headers.append(KafkaHeader(key: "changelog-epoch", string: String(record.epoch)))
                headers.append(KafkaHeader(key: "changelog-owner", string: record.owner))
            }
            return OutgoingMessage(topic: topic, key: key, value: chunk, headers: headers, partition: partition)
        }
    }
}

extension ChangelogWire {
    /// What a chunk's headers say: its record without the patchset, and which chunk it is.
    public static func chunk(of message: ConsumedRecord) throws -> (record: ChangelogRecord, index: Int, count: Int) {
        guard let kindText = message.header("changelog-kind"), let kind = ChangelogRecord.Kind(rawValue: kindText),
              let txn = message.header("changelog-txn").flatMap(Int64.init),
              let chunk = message.header("changelog-chunk")?.split(separator: "/"), chunk.count == 2,
              let index = Int(chunk[0]), let count = Int(chunk[1]), index >= 1, index <= count
        else {
            throw ChangelogError("\(message.topic)[\(message.partition)]@\(message.offset) is not a changelog record (headers missing)")
        }
        let record = ChangelogRecord(
            kind: kind, txn: txn, outboxBefore: message.header("changelog-outbox-before").flatMap(Int64.init) ?? 0,
            sequences: ChangelogTables.decodeSequences(message.header("changelog-sequences") ?? ""),
            migrations: (message.header("changelog-migrations") ?? "").split(separator: ",").map(String.init),
            epoch: message.header("changelog-epoch").flatMap(Int64.init) ?? 0, owner: message.header("changelog-owner") ?? "")
        return (record, index, count)
    }
}

/// Puts a changelog partition's chunks back into records, in log order. A record whose chunks
/// are interrupted (its writer died mid-record, or sent it again from its first chunk) is
/// dropped; a whole record is checked against its CRC. Records come out as they complete, with
/// the offset after their last chunk.
public struct ChangelogAssembler: Sendable {
    /// The record whose chunks are arriving, as its first chunk's headers say, with that chunk's
    /// checksum header and offset, and the bytes so far.
    private var current: (record: ChangelogRecord, count: Int, crc: String?, firstOffset: Int64, chunks: [UInt8])?
    /// Chunks that did not fit a record (logged by the caller when it cares).
    public private(set) var dropped = 0

    public init() {}

    public mutating func add(_ message: ConsumedRecord) throws -> (record: ChangelogRecord, nextOffset: Int64)? {
        let header = try ChangelogWire.chunk(of: message)
        let (txn, index, count) = (header.record.txn, header.index, header.count)
        if index == 1 {
            if current != nil { dropped += 1 }
            current = (header.record, count, message.header("changelog-crc32"), message.offset, message.value)
        } else if var open = current, open.record.txn == txn, open.count == count {
            open.chunks.append(contentsOf: message.value)
            current = open
        } else {
            dropped += 1
            current = nil
            return nil
        }
        guard index == count, var done = current else { return nil }
        current = nil
        guard String(CRC32.checksum(done.chunks), radix: 16) == done.crc else {
            throw ChangelogError("changelog record \(txn) at \(message.topic)[\(message.partition)]@\(done.firstOffset) fails its checksum")
        }
        done.record.patchset = Data(done.chunks)
        return (done.record, message.offset + 1)
    }
}
