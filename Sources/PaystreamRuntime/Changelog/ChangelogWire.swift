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

/// CRC-32 (IEEE 802.3, as zlib and Kafka's v0/v1 messages), eight bytes a step ("slicing by
/// 8": eight tables, each byte's contribution looked up at once): every changelog record is
/// checksummed whole when it is published and when it is read back, about 10 KB a payment over
/// the stages, which a byte at a time cost about 10 instructions a byte.
enum CRC32 {
    /// Table k holds the CRC of a byte followed by k zero bytes; table 0 is the classic one.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
            tables[index] = value
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            var at = 0
            let count = bytes.count
            while count - at >= 8 {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc, high = UInt32(truncatingIfNeeded: word >> 32)
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                at += 8
            }
            while at < count {
                crc = table[Int((crc ^ UInt32(bytes[at])) & 0xFF)] ^ (crc >> 8)
                at += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
