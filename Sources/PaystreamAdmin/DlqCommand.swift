import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

struct DlqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show and replay dead letters (<topic>.dlq).",
        discussion: """
            A dead letter's id is where it sits: <dlq topic>:<partition>:<offset>, e.g. \
            channel.confirmations.dlq:1:0. The topics are read from the beginning, without a consumer group. \
            A dead letter a stage published twice (after a crash) is shown once, under its first copy's id.
            """,
        subcommands: [List.self, Show.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every dead letter, one line each, then a count by error code.",
            discussion: """
                Columns: id, failed_at, error_code, source topic:partition:offset, original key, the start of \
                the error message. With --json, one JSON object per dead letter (the summary goes to standard \
                error). Reads every input topic's dead-letter topic and notifications.dlq, or those --topic names.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "A dead-letter topic, or the topic it serves (repeatable); all by default.")
        var topic: [String] = []

        @Option(help: "Only dead letters with this error_code (repeatable).")
        var code: [String] = []

        @Flag(help: "JSON lines instead of a table.")
        var json = false

        @Option(help: "Seconds to wait for the topics to be read to their end.")
        var timeout: Double = 30

        func run() async throws {
            let names = cluster.topics
            let (log, _, _) = try await reportingFailure("dlq list") {
                try await DeadLetterLog.read(cluster: cluster, timeout: .seconds(timeout)) {
                    try DeadLetterLog.topics(topic, names: names, existing: $0)
                }
            }
            let entries = log.entries.filter { code.isEmpty || code.contains($0.code) }
            if json {
                for entry in entries { print(String(decoding: try Wire.encode(ListedDeadLetter(entry)), as: UTF8.self)) }
                printError(DeadLetterLog.summary(entries, copies: log.copies.count))
                return
            }
            var rows = [["ID", "FAILED AT", "CODE", "SOURCE", "KEY", "MESSAGE"]]
            for entry in entries {
                let source = entry.letter.map { "\($0.sourceTopic):\($0.sourcePartition):\($0.sourceOffset)" } ?? "-"
                rows.append([entry.id.description, entry.letter?.failedAt ?? "-", entry.code, source,
                             entry.letter?.originalKey?.nonEmpty ?? "-", oneLine(entry.message, limit: 80)])
            }
            if !entries.isEmpty { print(table(rows)) }
            print(DeadLetterLog.summary(entries, copies: log.copies.count))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one dead letter in full, with its original value decoded.",
            discussion: "The original value is printed as text when it is UTF-8 (control characters escaped), otherwise as hex and base64.")

        @OptionGroup var cluster: ClusterOptions

        @Argument(help: "The dead letter's id, <dlq topic>:<partition>:<offset> (from `paystream dlq list`).")
        var id: String

        @Option(help: "Seconds to wait for the topic to be read to its end.")
        var timeout: Double = 30

        func run() async throws {
            guard let wanted = DeadLetterID(id) else {
                throw ValidationError("\(id) is not a dead letter id (<dlq topic>:<partition>:<offset>)")
            }
            let (log, _, counts) = try await reportingFailure("dlq show") {
                try await DeadLetterLog.read(cluster: cluster, timeout: .seconds(timeout)) { existing in
                    guard existing[wanted.topic] != nil else { throw DeadLetterError("no topic \(wanted.topic)") }
                    return [wanted.topic]
                }
            }
            guard let entry = log.entry(wanted) else {
                printError("paystream dlq show: no dead letter at \(wanted) (\(wanted.topic) holds \(log.entries.count))")
                throw ExitCode(1)
            }
            if entry.id != wanted { print("(\(wanted) is a republished copy of \(entry.id))") }
            print(Self.describe(entry, names: cluster.topics, partitionCounts: counts))
        }

        static func describe(_ entry: DeadLetterLog.Entry, names: TopicNames, partitionCounts: [String: Int32]) -> String {
            var lines = ["id:             \(entry.id)"]
            lines.append("event id:       \(entry.eventID ?? "-")")
            guard let letter = entry.letter else {
                lines.append("problem:        \(entry.problem ?? "")")
                lines.append("raw value:      \(entry.record.value.count) bytes")
                lines.append(contentsOf: render(Data(entry.record.value)))
                return lines.joined(separator: "\n")
            }
            lines.append("schema:         \(letter.schema)")
            lines.append("failed at:      \(letter.failedAt)")
            lines.append("error code:     \(letter.errorCode)")
            lines.append("error message:  \(letter.errorMessage)")
            lines.append("source:         \(letter.sourceTopic) partition \(letter.sourcePartition) offset \(letter.sourceOffset)")
            lines.append("original key:   \(letter.originalKey.map { $0.isEmpty ? "(empty)" : $0 } ?? "(none)")")
            if let value = entry.originalValue {
                lines.append("original value: \(value.count) bytes")
                lines.append(contentsOf: render(value))
            } else {
                lines.append("original value: original_value_base64 is not valid base64: \(letter.originalValueBase64)")
            }
            switch DeadLetterReplay.plan(entry, names: names, partitionCounts: partitionCounts, force: false) {
            case .success(let replay):
                lines.append("replay:         `paystream dlq replay \(entry.id)` publishes it to \(replay.message.topic)")
                lines.append(contentsOf: replay.notes.map { "                \($0)" })
            case .failure(let refusal):
                lines.append("replay:         \(refusal.reason)")
            }
            return lines.joined(separator: "\n")
        }

        /// UTF-8 text with control characters escaped, or hex and base64.
        static func render(_ value: Data) -> [String] {
            if let text = String(validating: value, as: UTF8.self) {
                let escaped = text.unicodeScalars.map { scalar -> String in
                    guard scalar.properties.generalCategory == .control, scalar != "\n", scalar != "\t" else { return String(scalar) }
                    return "\\u{\(String(scalar.value, radix: 16))}"
                }.joined()
                return ["  as UTF-8 text:"] + escaped.split(separator: "\n", omittingEmptySubsequences: false).map { "    \($0)" }
            }
            let hex = value.map { String(format: "%02x", $0) }
            var lines = ["  not UTF-8; hex:"]
            for start in stride(from: 0, to: hex.count, by: 32) {
                lines.append("    " + hex[start..<min(start + 32, hex.count)].joined(separator: " "))
            }
            lines.append("  base64: \(value.base64EncodedString())")
            return lines
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish dead letters' original key and bytes again to the topic they came from.",
            discussion: """
                Choose dead letters by id, or by --code and/or --topic (--topic alone needs --all). Each goes \
                to its source_topic with the header paystream-replay-of: <dead letter id>; the stage decides it \
                afresh and records replay:<id> in its inbox with the decision, so replaying the same dead letter \
                again has no second effect (for as long as the inbox keeps ids). If it fails again it becomes a \
                new dead letter.
                A dead letter from <topic>.repartition (a forwarded copy parked as misrouted) is replayed to \
                <topic>. A refused_by_broker dead letter (an outbox message the broker refused for good) is not \
                replayed without --force: the same bytes will most likely be refused again. Exits 1 if some \
                chosen dead letter was not replayed.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Argument(help: "Dead letter ids, <dlq topic>:<partition>:<offset>.")
        var ids: [String] = []

        @Option(help: "Replay the dead letters with this error_code.")
        var code: String?

        @Option(help: "Replay the dead letters on this dead-letter topic, or the topic it serves (repeatable).")
        var topic: [String] = []

        @Flag(help: "With --topic alone: every dead letter on it.")
        var all = false

        @Flag(help: "Replay refused_by_broker dead letters too.")
        var force = false

        @Flag(name: .customLong("dry-run"), help: "Print what would be replayed; publish nothing.")
        var dryRun = false

        @Option(help: "Seconds to wait for the topics to be read to their end.")
        var timeout: Double = 30

        func validate() throws {
            if !ids.isEmpty {
                guard code == nil && topic.isEmpty && !all else {
                    throw ValidationError("name dead letters by id, or choose them with --code/--topic, not both")
                }
                for id in ids where DeadLetterID(id) == nil {
                    throw ValidationError("\(id) is not a dead letter id (<dlq topic>:<partition>:<offset>)")
                }
            } else if code == nil {
                if topic.isEmpty { throw ValidationError("name dead letters by id, or choose them with --code or --topic T --all") }
                guard all else { throw ValidationError("--topic alone replays every dead letter on it: add --all (or narrow it with --code)") }
            }
        }

        func run() async throws {
            let names = cluster.topics
            let wanted = ids.compactMap(DeadLetterID.init)
            let (log, _, counts) = try await reportingFailure("dlq replay") {
                try await DeadLetterLog.read(cluster: cluster, timeout: .seconds(timeout)) { existing in
                    guard !wanted.isEmpty else { return try DeadLetterLog.topics(topic, names: names, existing: existing) }
                    let topics = Array(Set(wanted.map(\.topic))).sorted()
                    if let missing = topics.first(where: { existing[$0] == nil }) { throw DeadLetterError("no topic \(missing)") }
                    return topics
                }
            }
            var chosen: [DeadLetterLog.Entry] = []
            var failures = 0, unknown = 0
            if wanted.isEmpty {
                chosen = log.entries.filter { code == nil || $0.code == code }
            } else {
                for id in wanted {
                    guard let entry = log.entry(id) else {
                        printError("\(id): no such dead letter")
                        unknown += 1
                        continue
                    }
                    if entry.id != id { print("\(id) is a republished copy of \(entry.id): replaying it as \(entry.id)") }
                    if !chosen.contains(where: { $0.id == entry.id }) { chosen.append(entry) }
                }
            }
            var replays: [DeadLetterReplay] = []
            for entry in chosen {
                switch DeadLetterReplay.plan(entry, names: names, partitionCounts: counts, force: force) {
                case .success(let replay): replays.append(replay)
                case .failure(let refusal):
                    printError("\(refusal)")
                    failures += 1
                }
            }
            if dryRun {
                for replay in replays { print("would replay \(Self.describe(replay))") }
                print("would replay \(replays.count) of \(chosen.count + unknown) dead letter(s)")
                if failures + unknown > 0 { throw ExitCode(1) }
                return
            }
            var replayed = 0
            if !replays.isEmpty {
                let results = try await cluster.send(replays.map(\.message))
                for (replay, result) in zip(replays, results) {
                    switch result {
                    case .success(let report):
                        replayed += 1
                        print("replayed \(Self.describe(replay)) at partition \(report.partition) offset \(report.offset)")
                    case .failure(let error):
                        failures += 1
                        printError("\(replay.entry.id): not delivered: \(error)")
                    }
                }
            }
            print("replayed \(replayed) of \(chosen.count + unknown) dead letter(s)")
            if failures + unknown > 0 { throw ExitCode(1) }
        }

        static func describe(_ replay: DeadLetterReplay) -> String {
            let letter = replay.entry.letter!
            var text = "\(replay.entry.id) (\(letter.errorCode), from \(letter.sourceTopic):\(letter.sourcePartition):\(letter.sourceOffset)"
                + ", key \(letter.originalKey?.nonEmpty ?? "-")) → \(replay.message.topic)"
            for note in replay.notes { text += "\n    \(note)" }
            return text
        }
    }
}

/// One line of `paystream dlq list --json`.
struct ListedDeadLetter: Encodable {
    let id: String
    let eventId: String?
    let failedAt: String?
    let errorCode: String
    let errorMessage: String
    let sourceTopic: String?
    let sourcePartition: Int32?
    let sourceOffset: Int64?
    let originalKey: String?
    let originalValueBytes: Int?

    init(_ entry: DeadLetterLog.Entry) {
        id = entry.id.description
        eventId = entry.eventID
        failedAt = entry.letter?.failedAt
        errorCode = entry.code
        errorMessage = entry.message
        sourceTopic = entry.letter?.sourceTopic
        sourcePartition = entry.letter?.sourcePartition
        sourceOffset = entry.letter?.sourceOffset
        originalKey = entry.letter?.originalKey
        originalValueBytes = entry.originalValue?.count
    }
}

/// Runs `body`; a `DeadLetterError` is printed as `paystream <command>: <message>` and exits 1.
func reportingFailure<T>(_ command: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as DeadLetterError {
        printError("paystream \(command): \(error)")
        throw ExitCode(1)
    }
}

/// The text on one line, cut to `limit` characters.
func oneLine(_ text: String, limit: Int) -> String {
    let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    return flat.count > limit ? String(flat.prefix(limit - 1)) + "…" : flat
}

/// Rows as columns padded to their widest cell, two spaces apart.
func table(_ rows: [[String]]) -> String {
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { $0 == row.count - 1 ? $1 : $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}
