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

    public mutating func integer(_ key: StaticString, _ value: Int64) {
        self.key(key)
        WireEncodingState.appendInteger(value, to: &out)
    }

    public mutating func integer(_ key: StaticString, _ value: Int) { integer(key, Int64(value)) }

    /// Null when nil (`encode`).
    public mutating func integer(_ key: StaticString, _ value: Int64?) {
        guard let value else { self.key(key); return null() }
        integer(key, value)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func integerIfPresent(_ key: StaticString, _ value: Int64?) {
        if let value { integer(key, value) }
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func integerIfPresent(_ key: StaticString, _ value: Int?) {
        if let value { integer(key, Int64(value)) }
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
        try WireEncodingState.appendJSON(value, path: [], to: &out)
    }

    /// Left out when nil (`encodeIfPresent`).
    public mutating func jsonIfPresent(_ key: StaticString, _ value: JSONValue?) throws {
        if let value { try json(key, value) }
    }
}
