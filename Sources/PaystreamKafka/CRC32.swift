/// CRC-32 (IEEE 802.3, as zlib, Kafka's v0/v1 messages and librdkafka's `rd_crc32` compute
/// it): the hash of librdkafka's default partitioner (`consistent_random`) and the checksum of
/// every changelog record. Eight bytes a step ("slicing by 8": eight tables, each byte's
/// contribution looked up at once): a changelog record is checksummed whole when it is
/// published and when it is read back, about 10 KB a payment over the stages, which a byte at a
/// time cost about 10 instructions a byte.
public enum CRC32 {
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

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
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
