import Foundation
import Synchronization

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

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        try WireJSONEncoder.encode(value, convertingKeys: !(value is any WireKeyed))
    }

    /// A string-to-string map as `encode` writes it (keys sorted by their bytes), without going
    /// through `Encodable`: a record's headers, kept beside each outbox row.
    public static func encodeStringMap(_ map: [String: String]) -> String {
        let keys = Array(map.keys)
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (position, index) in WireEncodingState.keyOrder(keys).enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            WireEncodingState.appendString(keys[index], to: &out)
            out.append(UInt8(ascii: ":"))
            WireEncodingState.appendString(map[keys[index]]!, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `strict`: a key twice in one object, or a field name not spelled as its canonical
    /// snake_case, is an error (for input from outside, where another reader of the same bytes
    /// could take the other duplicate, or not recognise `requestId` as `request_id`).
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, strict: Bool) throws -> T {
        try WireJSONDecoder.decode(type, from: data, convertingKeys: convertsKeys(type), strict: strict)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try WireJSONDecoder.decode(type, from: data, convertingKeys: convertsKeys(type))
    }

    /// Decodes a message whose `schema` field must be `expected`, parsing the bytes once.
    public static func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from data: Data) -> SchemaChecked<T> {
        decodeMessage(type, schema: expected, from: data, strict: false)
    }

    public static func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from data: Data,
                                                   strict: Bool) -> SchemaChecked<T> {
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

    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-24T10:00:00.000Z` (the millisecond is
    /// truncated, as `Date.ISO8601FormatStyle` does). A decision formats its batch's time many
    /// times: the last one formatted is kept.
    public static func timestamp(_ date: Date) -> String {
        if let last = lastTimestamp.withLock({ $0 }), last.date == date { return last.text }
        let text = format(date)
        lastTimestamp.withLock { $0 = (date, text) }
        return text
    }

    /// The form `timestamp` writes (`YYYY-MM-DDTHH:MM:SS.sssZ`), read without a format style;
    /// nil for anything else (the caller falls back to Foundation's parser).
    static func parseOwnTimestamp(_ text: String) -> Date? {
        let utf8 = text.utf8
        guard utf8.count == 24 else { return nil }
        return utf8.withContiguousStorageIfAvailable { bytes -> Date? in
            func number(_ from: Int, _ count: Int) -> Int64? {
                var value: Int64 = 0
                for index in from..<(from + count) {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
                  bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
                  bytes[23] == UInt8(ascii: "Z"),
                  let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                  let minute = number(14, 2), let second = number(17, 2), let millisecond = number(20, 3),
                  let date = LocalDate(year: Int(year), month: Int(month), day: Int(day)), hour < 24, minute < 60, second < 60
            else { return nil }
            let seconds = Int64(date.daysSinceEpoch) * 86_400 + hour * 3600 + minute * 60 + second
            // As Foundation computes it: seconds since 2001, then the fraction. Within weeks of
            // 2001-01-01 its result can differ in the last bit; there its parser decides.
            guard abs(seconds - 978_307_200) >= 1 << 23 else { return nil }
            return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(millisecond) / 1000)
        } ?? nil
    }

    private static let lastTimestamp = Mutex<(date: Date, text: String)?>(nil)

    /// Civil date and time from the Unix epoch in integer arithmetic (`LocalDate`'s day count).
    static func format(_ date: Date) -> String {
        // As Foundation's style does: whole seconds, then the fraction's milliseconds truncated.
        let interval = date.timeIntervalSince1970
        let wholeSeconds = interval.rounded(.down)
        let milliseconds = min(999, Int(((interval - wholeSeconds) * 1000).rounded(.down)))
        let seconds = Int64(wholeSeconds)
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let date = LocalDate(daysSinceEpoch: Int(days))
        let (year, month, day) = (Int64(date.year), Int64(date.month), Int64(date.day))
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(UInt8(ascii: "-"))
        digits(month, 2); bytes.append(UInt8(ascii: "-"))
        digits(day, 2); bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); bytes.append(UInt8(ascii: "."))
        digits(Int64(milliseconds), 3); bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads an RFC 3339 time with or without fractional seconds (`Z` or an offset); nil if it
    /// is not one.
    public static func parseTimestamp(_ text: String) -> Date? {
        if let date = parseOwnTimestamp(text) { return date }
        if let date = try? timestampStyle.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt).parse(text)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
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
