import Foundation
import Logging
import PaystreamDomain
import PaystreamWire

/// Structured log lines on standard error: logfmt (`ts=… level=info msg="ready" stage=…`) or one
/// JSON object per line. Metadata keys are dotted (`payment.id`, `kafka.partition`). Every value
/// (the message included) goes through `LogSanitizer`: inputs reach log lines (a request id, a
/// dead letter's reason), so nothing in a line may forge another line, run unbounded, or carry a
/// card number.
public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable { case logfmt, json }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let line = Self.line(format: format, time: Wire.timestamp(Date()), level: "\(event.level)", label: label,
                             message: event.message.description, fields: fields.mapValues(\.description))
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// One line, without its newline.
    static func line(format: Format, time: String, level: String, label: String, message: String, fields: [String: String]) -> String {
        switch format {
        case .logfmt:
            var line = "ts=\(time) level=\(level) logger=\(quoted(label)) msg=\(quoted(LogSanitizer.clean(message)))"
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                line += " \(LogSanitizer.clean(key, limit: 64))=\(quoted(LogSanitizer.clean(value)))"
            }
            return line
        case .json:
            var object: [String: String] = ["ts": time, "level": level, "logger": label, "msg": LogSanitizer.clean(message)]
            for (key, value) in fields { object[LogSanitizer.clean(key, limit: 64)] = LogSanitizer.clean(value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// logfmt quoting: a value with a space, quote, `=` or backslash is quoted; control
    /// characters never reach here (`LogSanitizer` escaped them).
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" }
        if plain { return value }
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return "\"\(escaped)\""
    }
}

/// What every value in a log line goes through: cut to `limit` characters (the rest counted),
/// runs of 13–19 digits that pass the Luhn check (card numbers; Alipay's 16-digit buyer ids
/// half the time) shown as their first 6 and last 4 digits (a run the cut ends shows only its
/// first 6), and every control character — C0, DEL, C1, the Unicode line and paragraph
/// separators — written as an escape (`\n`, `\r`, `\t`, else `\u{…}`), so that no value can end
/// a line or forge one.
public enum LogSanitizer {
    public static let defaultLimit = 512

    public static func clean(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        var count = 0
        var digits = ""
        func flushDigits(cut: Bool = false) {
            guard !digits.isEmpty else { return }
            if cut && digits.count > 6 {
                // A run the limit cuts may be the start of a card number: only its first 6 digits show.
                out += digits.prefix(6) + String(repeating: "*", count: digits.count - 6)
            } else if (13...19).contains(digits.count), luhnValid(digits) {
                out += digits.prefix(6) + String(repeating: "*", count: digits.count - 10) + digits.suffix(4)
            } else {
                out += digits
            }
            digits = ""
        }
        var cut = false
        for scalar in text.unicodeScalars {
            guard count < limit else { cut = true; break }
            count += 1
            if scalar.value >= 0x30 && scalar.value <= 0x39 {
                digits.unicodeScalars.append(scalar)
                continue
            }
            flushDigits()
            switch scalar.value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        flushDigits(cut: cut)
        let total = text.unicodeScalars.count
        if total > limit { out += "…(\(total - limit) more)" }
        return out
    }

    static func luhnValid(_ digits: String) -> Bool {
        var sum = 0
        for (index, scalar) in digits.unicodeScalars.reversed().enumerated() {
            var digit = Int(scalar.value - 0x30)
            if index % 2 == 1 {
                digit *= 2
                if digit > 9 { digit -= 9 }
            }
            sum += digit
        }
        return sum % 10 == 0
    }
}
