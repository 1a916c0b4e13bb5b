import Foundation

/// JSON coding for every Paystream message: snake_case keys, sorted output, ISO 8601 times.
public enum Wire {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: data)
    }

    /// The `schema` field of a JSON object, or nil if the bytes are not a JSON object with one.
    public static func schema(of data: Data) -> String? {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) else { return nil }
        return object["schema"]?.stringValue
    }

    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-24T10:00:00.000Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(timestampStyle)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}
