import Foundation

// Helpers for the stages' `stage:` settings: strict key checks and files named relative to the
// config file.

/// A coding key for any string, to list and check the keys a mapping really has.
public struct AnyCodingKey: CodingKey {
    public let stringValue: String
    public var intValue: Int? { nil }
    public init(_ string: String) { stringValue = string }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

/// Throws for the first key of the decoder's mapping that is not in `known` (sorted, so the
/// message is stable), naming its path; `hints` add advice for keys that moved.
public func rejectUnknownKeys(_ decoder: any Decoder, known: [String], hints: [String: String] = [:]) throws {
    let c = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !known.contains(key.stringValue) {
        let hint = hints[key.stringValue].map { "; \($0)" } ?? ""
        throw DecodingError.dataCorrupted(.init(
            codingPath: c.codingPath + [key],
            debugDescription: "unknown key\(hint); known: \(known.sorted().joined(separator: ", "))"))
    }
}

/// A file a setting names: an absolute path as it is, a relative one from the config file's
/// folder (the working directory when there is no config file).
public func configRelativePath(_ file: String, configFile: String?) -> String {
    if file.hasPrefix("/") { return file }
    let base = configFile.map { ($0 as NSString).deletingLastPathComponent } ?? FileManager.default.currentDirectoryPath
    return (base as NSString).appendingPathComponent(file)
}
