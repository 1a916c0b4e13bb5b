import PaystreamKafka
import PaystreamTesting
import Testing

/// CRC-32 (librdkafka's partitioner hash, the changelog's checksum) against its published check
/// value and a bit-at-a-time computation, at every length around the eight-byte steps and from
/// unaligned starts.
@Suite("CRC-32")
struct CRC32Tests {
    static func bitwise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test("CRC-32 of \"123456789\" is 0xCBF43926; random bytes of every length 0…70 and 5,000 agree with a bit-at-a-time CRC")
    func matchesReference() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        var random = SeededRandom(seed: 7)
        let pool = (0..<5_016).map { _ in UInt8.random(in: 0...255, using: &random) }
        for length in Array(0...70) + [5_000] {
            for start in [0, 1, 3, 7] {
                let bytes = Array(pool[start..<(start + length)])
                #expect(CRC32.checksum(bytes) == Self.bitwise(bytes), "length \(length) from \(start)")
            }
        }
    }
}
