import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One part of a channel's daily statement: `<directory>/<YYYY-MM-DD>/<method>.p<partition>.csv`.
///
/// A shard (partition) belongs to one instance at a time, so each part has one writer and
/// instances never write the same file. A channel's statement for a day is the union of that
/// day's `<method>.p*.csv` parts (each part starts with the header line).
struct ChannelStatementFile {
    static let header = "date,channel_reference,payment_id,amount,currency,fee,type"

    let directory: String
    let day: String
    let method: String
    let partition: Int32

    var path: String { "\(directory)/\(day)/\(method).p\(partition).csv" }

    /// The file's full text: the header, then one line per entry, each ending in a newline.
    static func text(_ lines: [ChannelSandboxTables.StatementLine]) -> String {
        var text = header + "\n"
        for line in lines {
            text += [line.day, line.channelReference, line.paymentID, String(line.amount), line.currency, String(line.fee),
                     line.type].map(csvField).joined(separator: ",") + "\n"
        }
        return text
    }

    /// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Replaces the file atomically: readers see the old text or the new, never a part.
    func write(_ lines: [ChannelSandboxTables.StatementLine]) throws {
        let folder = "\(directory)/\(day)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = "\(folder)/.\(method).p\(partition).csv.tmp"
        try Data(Self.text(lines).utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            let error = String(cString: strerror(errno))
            throw StatementWriteError(description: "cannot rename \(temporary) to \(path): \(error)")
        }
    }
}

struct StatementWriteError: Error, CustomStringConvertible {
    let description: String
}
