import Foundation

/// Looks through log files for what must never be logged: card numbers (runs of 13–19 digits
/// starting with 2–6 that pass the Luhn check), the configured secrets, raw control characters
/// (every one is escaped by the log writer) and lines forged by input (`FuzzInput.forgedLine`).
public enum LogScan {
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let what: String
        public var description: String { "\(file):\(line): \(what)" }
    }

    public static func luhnValid(_ digits: some Collection<Character>) -> Bool {
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            guard var digit = character.wholeNumberValue else { return false }
            if index % 2 == 1 {
                digit *= 2
                if digit > 9 { digit -= 9 }
            }
            sum += digit
        }
        return sum % 10 == 0
    }

    /// The card-number-like runs in `text`.
    public static func cardNumbers(in text: Substring) -> [String] {
        var found: [String] = []
        var run = ""
        func close() {
            if (13...19).contains(run.count), let first = run.first, ("2"..."6").contains(first), luhnValid(run) { found.append(run) }
            run = ""
        }
        for character in text {
            if character.isASCII && character.isNumber { run.append(character) } else { close() }
        }
        close()
        return found
    }

    /// Every finding in the files of `directory`. A secret is reported without its value.
    public static func scan(directory: String, secrets: [String]) throws -> [Finding] {
        var findings: [Finding] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() {
            let path = "\(directory)/\(name)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for number in cardNumbers(in: line) {
                    findings.append(Finding(file: name, line: index + 1, what: "a card number (\(number.prefix(6))…\(number.suffix(4)))"))
                }
                for (position, secret) in secrets.enumerated() where !secret.isEmpty && line.contains(secret) {
                    findings.append(Finding(file: name, line: index + 1, what: "configured secret #\(position + 1)"))
                }
                if let control = line.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value)
                                                                    || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
                    findings.append(Finding(file: name, line: index + 1, what: "a raw control character (U+\(String(format: "%04X", control.value)))"))
                }
                if line.hasPrefix("FORGED-LINE") {
                    findings.append(Finding(file: name, line: index + 1, what: "a line forged by input"))
                }
            }
        }
        return findings
    }
}
