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

    /// RFC 3339 UTC time with milliseconds, e.g. `2026-11-24T10:00:00.000Z`.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(timestampStyle)
    }

    /// Reads an RFC 3339 time with or without fractional seconds (`Z` or an offset); nil if it
    /// is not one.
    public static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? timestampStyle.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt).parse(text)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
}
