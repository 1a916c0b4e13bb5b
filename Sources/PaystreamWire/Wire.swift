import Foundation
import Synchronization
import PaystreamDomain

/// JSON coding for every Paystream message: snake_case keys, sorted output, ISO 8601 times.
public enum Wire {
    // The coders are `WireJSONEncoder` and `WireJSONDecoder`: Foundation's results, byte for
    // byte, with the options below, for a fraction of the CPU (the tests compare the two).
    // Output: sorted keys, unescaped slashes; keys converted to and from snake_case unless the
    // type is `WireKeyed` (its CodingKeys spell the wire names).

    private static func convertsKeys<T>(_ type: T.Type) -> Bool { !(type is any WireKeyed.Type) }

    /// Decodes with the keys as they are (no snake_case conversion): for JSON the stages keep
    /// in their own columns.
    public static func decodePlain<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try WireJSONDecoder.decode(type, from: data, convertingKeys: false)
    }

    /// Encodes with the keys as they are (no snake_case conversion): the same bytes as
    /// `JSONEncoder.sortedKeys`, for JSON the stages keep in their own columns.
    public static func encodePlain<T: Encodable>(_ value: T) throws -> Data {
        try WireJSONEncoder.encode(value, convertingKeys: false)
    }

    /// A `WireWritable` message writes itself (the same bytes as its `Encodable` form);
    /// anything else goes through `WireJSONEncoder`.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        if let writable = value as? any WireWritable { return Data(try WireObjectWriter.bytes(of: writable)) }
        return try WireJSONEncoder.encode(value, convertingKeys: !(value is any WireKeyed))
    }

    /// A string-to-string map as `encode` writes it (keys sorted by their bytes), without going
    /// through `Encodable`: a record's headers, kept beside each outbox row.
    public static func encodeStringMap(_ map: [String: String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        if map.count == 1, let (key, value) = map.first {
            // Most maps (an outbox row's headers: its event id) have one entry: nothing to order.
            out.reserveCapacity(key.utf8.count + value.utf8.count + 8)
            WireEncodingState.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            WireEncodingState.appendString(value, to: &out)
            out.append(UInt8(ascii: "}"))
            return String(decoding: out, as: UTF8.self)
        }
        let keys = Array(map.keys)
        for (position, index) in WireEncodingState.keyOrder(keys).enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            WireEncodingState.appendString(keys[index], to: &out)
            out.append(UInt8(ascii: ":"))
            WireEncodingState.appendString(map[keys[index]]!, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// An array of strings as `encode` writes it, without going through `Encodable` (a
    /// request's event ids, kept in the request log).
    public static func encodeStrings(_ strings: [String]) -> String {
        array(strings, reserving: strings.reduce(2) { $0 + $1.utf8.count + 3 }) { WireEncodingState.appendString($0, to: &$1) }
    }

    /// An array of messages that write themselves, as `encode` writes it (a payment's splits).
    public static func encodeArray(_ items: [some WireWritable]) throws -> String {
        try array(items, reserving: 0) { $1.append(contentsOf: try WireObjectWriter.bytes(of: $0)) }
    }

    /// `[`, the items as `write` writes each, comma separated, `]`.
    private static func array<T>(_ items: [T], reserving capacity: Int,
                                 _ write: (T, inout [UInt8]) throws -> Void) rethrows -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(capacity)
        for (position, item) in items.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            try write(item, &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `strict`: a key twice in one object, or a field name not spelled as its canonical
    /// snake_case, is an error (for input from outside, where another reader of the same bytes
    /// could take the other duplicate, or not recognise `requestId` as `request_id`).
    /// A `WireReadable` message reads itself when it can (the value `Decodable` gives); the
    /// bytes go through `WireJSONDecoder` when it cannot, which gives that value or the error.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, strict: Bool) throws -> T {
        if let readable = T.self as? any WireReadable.Type, let value = quickRead(readable, from: data, schema: nil, strict: strict) {
            return value as! T
        }
        return try WireJSONDecoder.decode(type, from: data, convertingKeys: convertsKeys(type), strict: strict)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decode(type, from: data, strict: false)
    }

    /// The value `type` reads from `data`, whose `schema` member must be `schema` when one is
    /// given; nil when the reader gives up (the caller decodes through `Decodable`).
    static func quickRead<R: WireReadable>(_ type: R.Type, from data: Data, schema: String?, strict: Bool) -> R? {
        data.withUnsafeBytes { buffer -> R? in
            guard let tape = try? WireJSONTape(buffer) else { return nil }
            if let schema {
                guard var root = try? WireFieldReader(tape: tape, index: 0, strict: strict),
                      (try? root.string("schema")) == schema else { return nil }
            }
            return try? WireFieldReader.value(R.self, tape: tape, at: 0, strict: strict)
        }
    }

    /// Decodes a message whose `schema` field must be `expected`, parsing the bytes once.
    public static func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from data: Data) -> SchemaChecked<T> {
        decodeMessage(type, schema: expected, from: data, strict: false)
    }

    public static func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from data: Data,
                                                   strict: Bool) -> SchemaChecked<T> {
        if let readable = T.self as? any WireReadable.Type, let value = quickRead(readable, from: data, schema: expected, strict: strict) {
            return .decoded(value as! T)
        }
        guard let parsed = try? WireJSONDecoder.decode(SchemaAndValue<T>.self, from: data, convertingKeys: convertsKeys(T.self),
                                                       strict: strict),
              let schema = parsed.schema else {
            return .notAnObjectWithSchema
        }
        guard schema == expected else { return .otherSchema(schema) }
        switch parsed.value {
        case .success(let value): return .decoded(value)
        case .failure(let error): return .invalid(error)
        }
    }

    /// The `schema` field of a JSON object, or nil if the bytes are not a JSON object with one.
    public static func schema(of data: Data) -> String? {
        guard let object = try? decodePlain([String: JSONValue].self, from: data) else { return nil }
        return object["schema"]?.stringValue
    }

    /// A decoding error as one line: the path of the field, then what was wrong with it.
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
             .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.isEmpty ? "" : "\(path): ")\(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-24T10:00:00.000Z` (`Timestamp.text`).
    public static func timestamp(_ date: Date) -> String { Timestamp.text(date) }

    /// Reads an RFC 3339 time with or without fractional seconds (`Timestamp.parse`).
    public static func parseTimestamp(_ text: String) -> Date? { Timestamp.parse(text) }
}

/// A message type whose `CodingKeys` spell its snake_case wire names, and whose nested values
/// need no key conversion either: `Wire` codes it without converting every key, which costs
/// about half of a message's decoding. The bytes are the same as with conversion (the schema
/// tests compare them).
public protocol WireKeyed {}

// A collection of such messages needs no key conversion either.
extension Array: WireKeyed where Element: WireKeyed {}
extension Optional: WireKeyed where Wrapped: WireKeyed {}
extension Dictionary: WireKeyed where Key == String, Value: WireKeyed {}

/// What `Wire.decodeMessage` found.
public enum SchemaChecked<T> {
    case decoded(T)
    /// Not JSON, not an object, or no string `schema` field.
    case notAnObjectWithSchema
    case otherSchema(String)
    /// The right schema, but a field is missing or wrong.
    case invalid(any Error)
}

/// The `schema` field and the whole value, from one parse of the bytes.
private struct SchemaAndValue<T: Decodable>: Decodable {
    let schema: String?
    let value: Result<T, any Error>

    private enum Key: String, CodingKey { case schema }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        schema = try? container.decode(String.self, forKey: .schema)
        value = Result { try T(from: decoder) }
    }
}
