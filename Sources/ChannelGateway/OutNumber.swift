import Crypto
import Foundation

/// Our numbers at the channels (`out_trade_no`, `out_request_no`, `out_refund_no`): the prefix,
/// the shard's partition in three digits, then 24 characters of the SHA-256 of our
/// `channel_request_id` (120 bits, base 32 of digits and capitals). Letters and digits only, at
/// most 30 characters: legal on Alipay (64, `[A-Za-z0-9_]`) and WeChat Pay (32, `[A-Za-z0-9_-|*]`).
/// The same request always gets the same number (a retry after a crash is the same call), and a
/// notification names its shard: the partition is read back from the number.
public struct OutNumber: Sendable, Equatable, CustomStringConvertible {
    public let text: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public init(prefix: String, partition: Int32, channelRequestId: String) {
        precondition((0..<1000).contains(partition), "partition beyond 999")
        let digest = Array(SHA256.hash(data: Data(channelRequestId.utf8)))
        var bits = 0, value = 0
        var out = [UInt8]()
        for byte in digest where out.count < 24 {
            value = value << 8 | Int(byte)
            bits += 8
            while bits >= 5, out.count < 24 {
                bits -= 5
                out.append(Self.alphabet[(value >> bits) & 31])
            }
            value &= (1 << bits) - 1
        }
        let number = String(partition)
        text = prefix + String(repeating: "0", count: 3 - number.count) + number + String(decoding: out, as: UTF8.self)
    }

    /// The partition a number we made names, if `text` is one of ours (`prefix` and shape).
    public static func partition(of text: String, prefix: String) -> Int32? {
        let bytes = Array(text.utf8)
        guard text.hasPrefix(prefix), bytes.count == prefix.utf8.count + 27 else { return nil }
        let digits = bytes[prefix.utf8.count..<(prefix.utf8.count + 3)]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              bytes[(prefix.utf8.count + 3)...].allSatisfy({ alphabet.contains($0) }) else { return nil }
        return Int32(String(decoding: digits, as: UTF8.self))
    }

    public var description: String { text }
}
