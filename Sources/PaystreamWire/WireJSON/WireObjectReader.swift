import Foundation
import PaystreamDomain

/// A message that reads itself from the parsed text: the value its `Decodable` form gives, read
/// field by field from the tape, without the containers and coding paths of `Decodable`. The
/// reader takes only what it is sure of — every member a field it knows, each once, each of the
/// type the field wants — and gives up on anything else (`WireReadMiss`); `Wire` then decodes
/// the same bytes through `Decodable`, which gives the same value, or the error, as before. The
/// stages' hot messages are these (`MessageReaders.swift`); the tests hold every one to its
/// `Decodable` value on random and on broken input.
public protocol WireReadable: Decodable, WireKeyed {
    static func read(_ fields: inout WireFieldReader) throws(WireReadMiss) -> Self
}

/// The reader gave up: the slow path decides.
public struct WireReadMiss: Error {}

/// The members of one JSON object on the tape, read by key.
public struct WireFieldReader {
    let tape: WireJSONTape
    let index: Int
    let strict: Bool
    /// The members read so far, by position (an object of more than 64 members is not read here).
    private var read: UInt64 = 0
    private let members: Int

    init(tape: WireJSONTape, index: Int, strict: Bool) throws(WireReadMiss) {
        let entry = tape.entries[index]
        guard entry.kind == .object, entry.count <= 64 else { throw WireReadMiss() }
        self.tape = tape
        self.index = index
        self.strict = strict
        members = entry.count
    }

    /// Reads `T` from the object at `index`: every member must have been read, once.
    static func value<T: WireReadable>(_ type: T.Type, tape: WireJSONTape, at index: Int, strict: Bool) throws(WireReadMiss) -> T {
        var fields = try WireFieldReader(tape: tape, index: index, strict: strict)
        let value = try T.read(&fields)
        guard fields.read == (fields.members == 64 ? UInt64.max : (1 << UInt64(fields.members)) - 1) else { throw WireReadMiss() }
        return value
    }

    /// The tape index of `key`'s value, nil if the object has no such member. A key twice is
    /// left to the slow path (its second member is never read).
    private mutating func valueIndex(_ key: StaticString) -> Int? {
        let keyBytes = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        let end = tape.entries[index].next
        var member = index + 1
        var position = 0
        while member < end {
            let entry = tape.entries[member]
            if !entry.escaped, entry.end - entry.start == keyBytes.count,
               memcmp(keyBytes.baseAddress!, tape.bytes.baseAddress! + entry.start, keyBytes.count) == 0 {
                read |= 1 << UInt64(position)
                return member + 1
            }
            member = tape.entries[member + 1].next
            position += 1
        }
        return nil
    }

    /// The value's index, nil when absent or null (`decodeIfPresent`).
    private mutating func presentIndex(_ key: StaticString) -> Int? {
        guard let value = valueIndex(key), tape.entries[value].kind != .null else { return nil }
        return value
    }

    private func string(at value: Int) throws(WireReadMiss) -> String {
        guard tape.entries[value].kind == .string else { throw WireReadMiss() }
        return tape.string(value)
    }

    private func integer<T: FixedWidthInteger>(at value: Int) throws(WireReadMiss) -> T {
        guard tape.entries[value].kind == .number, let number = tape.integer(value, as: T.self) else { throw WireReadMiss() }
        return number
    }

    // MARK: fields

    public mutating func string(_ key: StaticString) throws(WireReadMiss) -> String {
        guard let value = valueIndex(key) else { throw WireReadMiss() }
        return try string(at: value)
    }

    public mutating func stringIfPresent(_ key: StaticString) throws(WireReadMiss) -> String? {
        guard let value = presentIndex(key) else { return nil }
        return try string(at: value)
    }

    public mutating func integer<T: FixedWidthInteger>(_ key: StaticString, as type: T.Type = T.self) throws(WireReadMiss) -> T {
        guard let value = valueIndex(key) else { throw WireReadMiss() }
        return try integer(at: value)
    }

    public mutating func integerIfPresent<T: FixedWidthInteger>(_ key: StaticString, as type: T.Type = T.self) throws(WireReadMiss) -> T? {
        guard let value = presentIndex(key) else { return nil }
        return try integer(at: value) as T
    }

    public mutating func object<T: WireReadable>(_ key: StaticString, as type: T.Type = T.self) throws(WireReadMiss) -> T {
        guard let value = valueIndex(key) else { throw WireReadMiss() }
        return try Self.value(T.self, tape: tape, at: value, strict: strict)
    }

    public mutating func objectIfPresent<T: WireReadable>(_ key: StaticString, as type: T.Type = T.self) throws(WireReadMiss) -> T? {
        guard let value = presentIndex(key) else { return nil }
        return try Self.value(T.self, tape: tape, at: value, strict: strict)
    }

    public mutating func array<T: WireReadable>(_ key: StaticString, of type: T.Type = T.self) throws(WireReadMiss) -> [T] {
        guard let value = valueIndex(key) else { throw WireReadMiss() }
        return try array(at: value)
    }

    public mutating func arrayIfPresent<T: WireReadable>(_ key: StaticString, of type: T.Type = T.self) throws(WireReadMiss) -> [T]? {
        guard let value = presentIndex(key) else { return nil }
        return try array(at: value) as [T]
    }

    private func array<T: WireReadable>(at value: Int) throws(WireReadMiss) -> [T] {
        let entry = tape.entries[value]
        guard entry.kind == .array else { throw WireReadMiss() }
        var items: [T] = []
        items.reserveCapacity(entry.count)
        var item = value + 1
        while item < entry.next {
            items.append(try Self.value(T.self, tape: tape, at: item, strict: strict))
            item = tape.entries[item].next
        }
        return items
    }

    /// Any JSON, as `JSONValue.init(from:)` reads it.
    public mutating func jsonIfPresent(_ key: StaticString) throws(WireReadMiss) -> JSONValue? {
        guard let value = presentIndex(key) else { return nil }
        let state = WireDecodingState(tape: tape, convertingKeys: false, strict: strict)
        do { return try WireValueDecoder(state: state, index: value, codingPath: []).decodeValue(JSONValue.self, at: value, path: []) }
        catch { throw WireReadMiss() }
    }
}
