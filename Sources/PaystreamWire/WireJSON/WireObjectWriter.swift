import Foundation
import PaystreamDomain

/// A message that writes its own JSON: the bytes `WireJSONEncoder` gives for its `Encodable`
/// form (sorted keys, no key conversion), written straight into one buffer, without the
/// containers, coding paths and key sort of `Encodable`. The stages' hot messages are these
/// (`MessageWriters.swift`); `Wire.encode` takes this path for them, and the tests hold every one
/// to its `Encodable` bytes on random values.
public protocol WireWritable: Encodable, WireKeyed {
    /// Writes the members, in the byte order of their keys; each member as `Encodable` writes it
    /// (an optional its synthesized `encodeIfPresent` leaves out is left out, one written as
    /// null is written as null).
    func write(to object: inout WireObjectWriter) throws
}

/// One JSON object being written. Keys are plain snake_case (nothing to escape) and must come
/// in byte order, which debug builds check.
public struct WireObjectWriter {
    fileprivate var out: [UInt8]
    private var members = 0
    #if DEBUG
    private var lastKey: [UInt8] = []
    #endif

    fileprivate init(out: [UInt8]) {
        self.out = out
    }

    /// The JSON text of `value`.
    static func bytes(of value: some WireWritable) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        try write(value, into: &out)
        return out
    }

    private static func write(_ value: some WireWritable, into out: inout [UInt8]) throws {
        var object = WireObjectWriter(out: [])
        swap(&object.out, &out)
        defer { swap(&object.out, &out) }
        object.out.append(UInt8(ascii: "{"))
        try value.write(to: &object)
        object.out.append(UInt8(ascii: "}"))
    }

    private mutating func key(_ key: StaticString) {
        let bytes = UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        #if DEBUG
        assert(bytes.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_")
                   || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }, "key \(key) is not plain snake_case")
        assert(members == 0 || lastKey.lexicographicallyPrecedes(bytes), "key \(key) is out of order")
        lastKey = Array(bytes)
        #endif
        if members > 0 { out.append(UInt8(ascii: ",")) }
        members += 1
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: bytes)
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    private mutating func null() {
        out.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
    }

    // MARK: members

    public mutating func string(_ key: StaticString, _ value: String) {
        self.key(key)
        WireEncodingState.appendString(value, to: &out)
    }

    /// Null when nil (`encode`).
    public mutating func string(_ key: StaticString, _ value: String?) {
        guard let value else { self.key(key); return null() }
        string(key, value)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func stringIfPresent(_ key: StaticString, _ value: String?) {
        if let value { string(key, value) }
    }

    public mutating func integer(_ key: StaticString, _ value: some FixedWidthInteger) {
        self.key(key)
        Self.appendInteger(Int64(value), to: &out)
    }

    /// Null when nil (`encode`).
    public mutating func integer<T: FixedWidthInteger>(_ key: StaticString, _ value: T?) {
        guard let value else { self.key(key); return null() }
        integer(key, value)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func integerIfPresent<T: FixedWidthInteger>(_ key: StaticString, _ value: T?) {
        if let value { integer(key, value) }
    }

    public mutating func object(_ key: StaticString, _ value: some WireWritable) throws {
        self.key(key)
        try Self.write(value, into: &out)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func objectIfPresent(_ key: StaticString, _ value: (some WireWritable)?) throws {
        if let value { try object(key, value) }
    }

    public mutating func array(_ key: StaticString, _ values: [some WireWritable]) throws {
        self.key(key)
        out.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            try Self.write(value, into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func arrayIfPresent<T: WireWritable>(_ key: StaticString, _ values: [T]?) throws {
        if let values { try array(key, values) }
    }

    public mutating func json(_ key: StaticString, _ value: JSONValue) throws {
        self.key(key)
        try Self.appendJSON(value, to: &out)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func jsonIfPresent(_ key: StaticString, _ value: JSONValue?) throws {
        if let value { try json(key, value) }
    }

    // MARK: scalars

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

    /// As `WireJSONEncoder` writes a `JSONValue`: object members in byte order of their keys,
    /// numbers as Foundation writes them, non-finite numbers refused.
    static func appendJSON(_ value: JSONValue, to out: inout [UInt8]) throws {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): appendInteger(number, to: &out)
        case .number(let number):
            guard number.isFinite else {
                throw EncodingError.invalidValue(number, .init(codingPath: [], debugDescription: "Unable to encode \(number) directly in JSON."))
            }
            let description = number.description
            if description.hasSuffix(".0") { out.append(contentsOf: description.utf8.dropLast(2)) }
            else { out.append(contentsOf: description.utf8) }
        case .string(let text): WireEncodingState.appendString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try appendJSON(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = Array(members.keys)
            for (position, index) in WireEncodingState.keyOrder(keys).enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                WireEncodingState.appendString(keys[index], to: &out)
                out.append(UInt8(ascii: ":"))
                try appendJSON(members[keys[index]]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
