import Foundation
import PaystreamDomain

/// JSON text as `Wire` writes it, shared by `WireJSONEncoder` and the hand-written message writers
/// (`WireObjectWriter`): strings escaped as Foundation escapes them, numbers as it writes them,
/// object keys in byte order, and whole `JSONValue`s.
extension WireEncodingState {
    /// As Foundation writes a floating-point number: its description without a trailing ".0".
    static func appendNumber(_ description: String, to out: inout [UInt8]) {
        if description.hasSuffix(".0") { out.append(contentsOf: description.utf8.dropLast(2)) }
        else { out.append(contentsOf: description.utf8) }
    }

    static func nonConforming(_ value: Any, path: [any CodingKey]) -> EncodingError {
        .invalidValue(value, .init(codingPath: path, debugDescription: "Unable to encode \(value) directly in JSON."))
    }

    /// Decimal digits, as `description` writes them, without making a string.
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// A `JSONValue` as JSON text: object members in byte order of their keys, numbers as
    /// Foundation writes them, a non-finite number refused (naming where it is, from `path`).
    /// The encoder and the hand-written message writers both write JSON values with it.
    static func appendJSON(_ value: JSONValue, path: [any CodingKey], to out: inout [UInt8]) throws {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): appendInteger(number, to: &out)
        case .number(let number):
            guard number.isFinite else { throw nonConforming(number, path: path) }
            appendNumber(number.description, to: &out)
        case .string(let text): appendString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try appendJSON(item, path: path + [WireIndexKey(intValue: index)], to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = Array(members.keys)
            for (position, index) in keyOrder(keys).enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                appendString(keys[index], to: &out)
                out.append(UInt8(ascii: ":"))
                try appendJSON(members[keys[index]]!, path: path + [WireStringKey(stringValue: keys[index])], to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// JSON string escaping as Foundation does it: quote, backslash, the control characters
    /// (\b \f \n \r \t by name, the others as \u00xx); slashes and everything else as they are.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The positions of `keys` in byte order, keys that are equal in the order they came (an
    /// insertion sort: objects have a few keys). Keys are compared by their first eight bytes as
    /// one number, and in full only when those are the same.
    static func keyOrder(_ keys: [String]) -> [Int] {
        var order = Array(keys.indices)
        guard keys.count > 1 else { return order }
        let heads = keys.map(head)
        for position in 1..<order.count {
            let moving = order[position]
            var slot = position
            while slot > 0 {
                let before = order[slot - 1]
                let precedes = heads[moving] != heads[before] ? heads[moving] < heads[before]
                    : keys[moving] != keys[before] && keyPrecedes(keys[moving], keys[before])
                guard precedes else { break }
                order[slot] = before
                slot -= 1
            }
            order[slot] = moving
        }
        return order
    }

    /// The first eight UTF-8 bytes of `key` as a big-endian number, zero-padded: keys whose heads
    /// differ sort as their heads do (a shorter key that is a prefix of a longer one has the
    /// smaller head, or the same one when the longer one goes on with zero bytes).
    static func head(_ key: String) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 56
        for byte in key.utf8 {
            value |= UInt64(byte) << shift
            if shift == 0 { break }
            shift -= 8
        }
        return value
    }

    /// Whether `a` sorts before `b` byte by byte (UTF-8), as Foundation sorts keys.
    static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }
}
