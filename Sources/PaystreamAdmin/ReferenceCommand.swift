import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamReference

struct ReferenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reference",
        abstract: "Publish or show the reference data: merchants, credit lines, FX rates.",
        subcommands: [Load.self, Show.self])

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish reference data from a JSON Lines file to the compacted reference topics.",
            discussion: """
                Each line is one merchant/v1, credit-line/v1 or fx-rate/v1 message (docs/schemas). Its schema \
                decides the topic and the key: reference.merchants keyed by merchant_id, reference.credit-lines \
                by payer_id, reference.fx-rates by BASE/QUOTE. Blank lines and lines starting with # are skipped.
                A deletion is the schema, the key fields and "deleted": true, e.g. \
                {"schema":"merchant/v1","merchant_id":"m-9","deleted":true} or \
                {"schema":"fx-rate/v1","base":"USD","quote":"CNY","deleted":true}; it is published as a tombstone.
                Every line is checked first: if any is bad, each bad line is printed with its number and the \
                reason, nothing is published, and the exit status is 2. Otherwise the records are published in \
                file order (a later line for the same key wins) and the command waits for their delivery \
                (exit 1 if some fail or a reference topic is missing).
                """)

        @OptionGroup var cluster: ClusterOptions

        @Argument(help: "JSON Lines file of reference messages; - for standard input.")
        var file: String

        func run() async throws {
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: file) else {
                    printError("paystream reference load: cannot read \(file)")
                    throw ExitCode(2)
                }
                text = String(decoding: data, as: UTF8.self)
            }
            let parsed = ReferenceLines.parse(text)
            guard parsed.errors.isEmpty else {
                for error in parsed.errors { printError("\(file):\(error.line): \(error.reason)") }
                printError("paystream reference load: \(parsed.errors.count) bad line(s) in \(file); nothing published")
                throw ExitCode(2)
            }
            guard !parsed.updates.isEmpty else {
                print("\(file) holds no reference messages; nothing published")
                return
            }
            let topics = cluster.topics
            let wanted = Array(Set(parsed.updates.map { $0.update.kind.topic(in: topics) })).sorted()
            let admin = try KafkaAdmin(configuration: try cluster.kafka)
            let counts: [String: Int32]
            do {
                counts = try await admin.topicPartitionCounts(timeout: cluster.timeout)
                admin.close()
            } catch {
                admin.close()
                printError("paystream reference load: no Kafka broker reachable within \(cluster.timeout): \(error)")
                throw ExitCode(1)
            }
            let missing = wanted.filter { counts[$0] == nil }
            guard missing.isEmpty else {
                printError("paystream reference load: topic(s) \(missing.joined(separator: ", ")) do not exist; create them with `paystream topics create`; nothing published")
                throw ExitCode(1)
            }

            let messages = try parsed.updates.map { try $0.update.message(in: topics) }
            let results = try await cluster.send(messages)
            var failures = 0
            for (result, entry) in zip(results, parsed.updates) {
                if case .failure(let error) = result {
                    failures += 1
                    printError("\(file):\(entry.line): not delivered: \(error)")
                }
            }
            for kind in ReferenceKind.allCases {
                let lines = parsed.updates.filter { $0.update.kind == kind }
                guard !lines.isEmpty else { continue }
                let deletions = lines.filter(\.update.isDeletion).count
                print("\(kind.topic(in: topics)): \(lines.count - deletions) value(s), \(deletions) deletion(s)")
            }
            print("published \(results.count - failures) of \(results.count) reference records")
            if failures > 0 { throw ExitCode(1) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read the reference topics in full and print the current value of every key.",
            discussion: """
                Prints JSON Lines that `paystream reference load` accepts, grouped by topic with a # comment \
                line each. A key's current value is its last record that a worker would accept (invalid \
                records are skipped, as the workers skip them; their count is printed); a tombstone deletes it.
                """)

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "merchants, credit-lines, fx-rates or webhook-endpoints (repeatable); all by default.")
        var topic: [String] = []

        @Option(help: "Seconds to wait for the topics to be read to their end.")
        var timeout: Double = 30

        func run() async throws {
            let names = cluster.topics
            var kinds: [ReferenceKind] = []
            for name in topic {
                // "merchants", "reference.merchants" or the full name with the prefix.
                guard let kind = ReferenceKind.allCases.first(where: { kind in
                    let base = kind.topic(in: TopicNames())
                    return name == base || name == kind.topic(in: names) || "reference.\(name)" == base
                }) else {
                    throw ValidationError("--topic \(name): expected merchants, credit-lines, fx-rates or webhook-endpoints")
                }
                if !kinds.contains(kind) { kinds.append(kind) }
            }
            if kinds.isEmpty { kinds = ReferenceKind.allCases }
            let topics = kinds.map { $0.topic(in: names) }

            let reader = try KafkaPartitionReader(configuration: try cluster.kafka, logger: quietLogger())
            var current: [String: [String: Data]] = [:]
            var skipped = 0
            do {
                try await reader.assignAll(topics, timeout: cluster.timeout)
                let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
                while !reader.isCaughtUp {
                    guard ContinuousClock.now < deadline else {
                        throw ValidationError("not read to the end within \(timeout) s: \(reader.partitionsBehind.map(\.description).joined(separator: ", "))")
                    }
                    for record in try await reader.poll(maxRecords: 1000, maxWait: .milliseconds(100)).records {
                        guard let key = record.keyString, let kind = ReferenceKind(topic: record.topic, in: names) else {
                            skipped += 1
                            continue
                        }
                        if record.value.isEmpty {
                            current[record.topic, default: [:]][key] = nil
                        } else if let update = try? ReferenceUpdate.decode(Data(record.value), kind: kind, key: key),
                                  let value = try update.value() {
                            current[record.topic, default: [:]][key] = value
                        } else {
                            skipped += 1
                        }
                    }
                }
            } catch {
                await reader.close()
                throw error
            }
            await reader.close()
            for topic in topics {
                let values = current[topic] ?? [:]
                print("# \(topic): \(values.count) key(s)")
                for key in values.keys.sorted() { print(String(decoding: values[key]!, as: UTF8.self)) }
            }
            if skipped > 0 { print("# \(skipped) invalid record(s) skipped") }
        }
    }
}

/// The lines of a reference load file, checked: each good line's change, each bad line's reason.
enum ReferenceLines {
    struct Parsed {
        var updates: [(line: Int, update: ReferenceUpdate)] = []
        var errors: [(line: Int, reason: String)] = []
    }

    static func parse(_ text: String) -> Parsed {
        var parsed = Parsed()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do {
                parsed.updates.append((index + 1, try ReferenceUpdate.parse(Data(trimmed.utf8))))
            } catch {
                parsed.errors.append((index + 1, error.reason))
            }
        }
        return parsed
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
