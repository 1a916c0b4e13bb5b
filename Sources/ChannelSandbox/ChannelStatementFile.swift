import Foundation
import PaystreamChannels
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
    let directory: String
    let day: String
    let method: String
    let partition: Int32

    var path: String { "\(directory)/\(day)/\(method).p\(partition).csv" }

    /// The file's full text, in the sandbox's format (`StatementWriter.sandbox`, which
    /// `StatementReader.sandbox` reads).
    static func text(_ lines: [ChannelSandboxTables.StatementLine]) -> String {
        StatementWriter.sandbox(lines.map {
            SandboxStatementRow(day: $0.day, channelReference: $0.channelReference, paymentId: $0.paymentID, amount: $0.amount,
                                currency: $0.currency, fee: $0.fee, type: $0.type)
        })
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
