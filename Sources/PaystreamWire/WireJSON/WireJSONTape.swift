import Foundation
import PaystreamDomain

/// A JSON text parsed once into a flat list of values ("tape"), for `WireJSONDecoder`.
///
/// Every value is one `Entry`: its kind, where its bytes are, and for an array or object the
/// index just past its last descendant, so that a container's members are found by skipping.
/// An object's members are stored key, value, key, value. Strings are checked for valid UTF-8
/// and escapes once here; numbers are checked against JSON's grammar. Whatever is not one JSON
/// value (with white space around it) is refused, as Foundation's parser refuses it.
struct WireJSONTape {
    enum Kind: UInt8 { case null, bool, number, string, array, object }

    struct Entry {
        var kind: Kind
        /// For a string: it holds an escape (it must be unescaped, not just copied).
        var escaped: Bool
        /// For a bool: its value.
        var flag: Bool
        /// The value's bytes: a string without its quotes, a number's digits, a container from
        /// its opening to its closing bracket.
        var start: Int
        var end: Int
        /// The index after this value and everything in it.
        var next: Int
        /// Members of an array, or key-value pairs of an object.
        var count: Int
    }

    struct Malformed: Error {}

    let bytes: UnsafeRawBufferPointer
    private(set) var entries: [Entry] = []
    private var position = 0

    /// Nesting deeper than this is refused (as Foundation refuses very deep input) rather than
    /// taken on the stack.
    static let maxDepth = 512

    init(_ bytes: UnsafeRawBufferPointer) throws(Malformed) {
        self.bytes = bytes
        entries.reserveCapacity(64)
        skipWhitespace()
        try parseValue(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw Malformed() }
    }

    // MARK: reading values

    func string(_ index: Int) -> String {
        let entry = entries[index]
        let slice = UnsafeRawBufferPointer(rebasing: bytes[entry.start..<entry.end])
        guard entry.escaped else { return String(decoding: slice, as: UTF8.self) }
        return Self.unescape(slice)
    }

    /// Whether the string at `index` is exactly `text` (without making a String of it).
    func stringEquals(_ index: Int, _ text: String) -> Bool {
        let entry = entries[index]
        if entry.escaped { return string(index) == text }
        // Most keys a container asks about are not this one: their lengths already differ.
        guard text.utf8.count == entry.end - entry.start else { return false }
        var text = text
        return text.withUTF8 { utf8 in
            utf8.isEmpty || memcmp(utf8.baseAddress!, bytes.baseAddress! + entry.start, utf8.count) == 0
        }
    }

    func numberText(_ index: Int) -> Substring {
        let entry = entries[index]
        return Substring(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[entry.start..<entry.end]), as: UTF8.self))
    }

    /// The number at `index` as an integer of type T; nil if it has a fraction or does not fit.
    /// A number written with a fraction or an exponent is read as Foundation reads it: through
    /// a Double, which must be a whole number that fits; beyond 2^53 the digits themselves.
    func integer<T: FixedWidthInteger>(_ index: Int, as type: T.Type) -> T? {
        let entry = entries[index]
        var i = entry.start
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value: T = 0
        while i < entry.end {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return slowInteger(index, as: T.self) }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(T(digit)) : times10.addingReportingOverflow(T(digit))
            if o1 || o2 { return nil }
            value = next
            i += 1
        }
        return value
    }

    private func slowInteger<T: FixedWidthInteger>(_ index: Int, as type: T.Type) -> T? {
        let text = numberText(index)
        guard let double = Double(text), let value = T(exactly: double) else { return nil }
        if double.magnitude < 9_007_199_254_740_992 { return value }
        // Past 2^53 a Double skips integers: the decimal digits decide (a fraction is cut off).
        guard let decimal = Decimal(string: String(text), locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        let digits = decimal.description.prefix { $0 != "." }
        return T(digits)
    }

    func double(_ index: Int) -> Double? { Double(numberText(index)) }

    // MARK: parsing

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func append(_ kind: Kind, start: Int, end: Int) -> Int {
        entries.append(Entry(kind: kind, escaped: false, flag: false, start: start, end: end, next: entries.count + 1, count: 0))
        return entries.count - 1
    }

    private mutating func parseValue(depth: Int) throws(Malformed) {
        guard position < bytes.count, depth < Self.maxDepth else { throw Malformed() }
        switch bytes[position] {
        case UInt8(ascii: "{"): try parseContainer(.object, close: UInt8(ascii: "}"), depth: depth)
        case UInt8(ascii: "["): try parseContainer(.array, close: UInt8(ascii: "]"), depth: depth)
        case UInt8(ascii: "\""): try parseString()
        case UInt8(ascii: "t"): try literal("true", .bool, flag: true)
        case UInt8(ascii: "f"): try literal("false", .bool, flag: false)
        case UInt8(ascii: "n"): try literal("null", .null, flag: false)
        default: try parseNumber()
        }
    }

    private mutating func literal(_ word: StaticString, _ kind: Kind, flag: Bool) throws(Malformed) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
              memcmp(bytes.baseAddress! + position, word.utf8Start, count) == 0 else { throw Malformed() }
        let index = append(kind, start: position, end: position + count)
        entries[index].flag = flag
        position += count
    }

    private mutating func parseContainer(_ kind: Kind, close: UInt8, depth: Int) throws(Malformed) {
        let index = append(kind, start: position, end: position)
        position += 1
        skipWhitespace()
        var count = 0
        if position < bytes.count && bytes[position] == close {
            position += 1
        } else {
            while true {
                if kind == .object {
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Malformed() }
                    try parseString()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Malformed() }
                    position += 1
                    skipWhitespace()
                }
                try parseValue(depth: depth + 1)
                count += 1
                skipWhitespace()
                guard position < bytes.count else { throw Malformed() }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                    // Foundation reads a comma before the closing bracket as if it were not there.
                    if position < bytes.count && bytes[position] == close {
                        position += 1
                        break
                    }
                    continue
                }
                guard bytes[position] == close else { throw Malformed() }
                position += 1
                break
            }
        }
        entries[index].end = position
        entries[index].next = entries.count
        entries[index].count = count
    }

    private mutating func parseString() throws(Malformed) {
        position += 1  // the opening quote
        let start = position
        var escaped = false
        var ascii = true
        while true {
            guard position < bytes.count else { throw Malformed() }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw Malformed() }
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 1
                guard position < bytes.count else { throw Malformed() }
                switch bytes[position] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    guard position + 4 < bytes.count else { throw Malformed() }
                    for offset in 1...4 where Self.hexValue(bytes[position + offset]) == nil { throw Malformed() }
                    position += 4
                default:
                    throw Malformed()
                }
            }
            position += 1
        }
        let end = position
        position += 1  // the closing quote
        if !ascii {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            guard String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) != nil else { throw Malformed() }
        }
        let index = append(.string, start: start, end: end)
        entries[index].escaped = escaped
        if escaped && !Self.escapesAreValid(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) { throw Malformed() }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func parseNumber() throws(Malformed) {
        let start = position
        func digits() -> Int {
            let from = position
            while position < bytes.count, bytes[position] &- UInt8(ascii: "0") < 10 { position += 1 }
            return position - from
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { throw Malformed() }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() > 0 else { throw Malformed() }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw Malformed() }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw Malformed() }
        }
        _ = append(.number, start: start, end: position)
    }

    // MARK: escapes

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Surrogates must come in pairs, as Foundation requires.
    private static func escapesAreValid(_ slice: UnsafeRawBufferPointer) -> Bool {
        unescapeScalars(slice) { _ in } != nil
    }

    static func unescape(_ slice: UnsafeRawBufferPointer) -> String {
        var result = ""
        result.reserveCapacity(slice.count)
        _ = unescapeScalars(slice) { result.unicodeScalars.append($0) }
        return result
    }

    /// Calls `emit` with every scalar of an escaped string's body; nil if an escape is invalid.
    private static func unescapeScalars(_ slice: UnsafeRawBufferPointer, _ emit: (Unicode.Scalar) -> Void) -> Void? {
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= slice.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                guard let digit = hexValue(slice[at + offset]) else { return nil }
                value = value << 4 | digit
            }
            return value
        }
        while i < slice.count {
            let byte = slice[i]
            if byte != UInt8(ascii: "\\") {
                // A run of plain bytes (already checked to be UTF-8): decode it as a whole.
                var j = i
                while j < slice.count && slice[j] != UInt8(ascii: "\\") { j += 1 }
                for scalar in String(decoding: UnsafeRawBufferPointer(rebasing: slice[i..<j]), as: UTF8.self).unicodeScalars {
                    emit(scalar)
                }
                i = j
                continue
            }
            let code = slice[i + 1]
            i += 2
            switch code {
            case UInt8(ascii: "b"): emit("\u{8}")
            case UInt8(ascii: "f"): emit("\u{c}")
            case UInt8(ascii: "n"): emit("\n")
            case UInt8(ascii: "r"): emit("\r")
            case UInt8(ascii: "t"): emit("\t")
            case UInt8(ascii: "u"):
                guard let unit = hex4(i) else { return nil }
                i += 4
                if unit >= 0xD800 && unit < 0xDC00 {
                    guard i + 1 < slice.count, slice[i] == UInt8(ascii: "\\"), slice[i + 1] == UInt8(ascii: "u"),
                          let low = hex4(i + 2), low >= 0xDC00 && low < 0xE000 else { return nil }
                    i += 6
                    emit(Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!)
                } else {
                    guard let scalar = Unicode.Scalar(unit) else { return nil }
                    emit(scalar)
                }
            default: emit(Unicode.Scalar(code))
            }
        }
        return ()
    }
}
