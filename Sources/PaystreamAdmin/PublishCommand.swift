import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish JSON messages from a file (JSON lines or a JSON array) to a topic.",
        discussion: "Each message's key is taken from a field of the message: by default the key the contract names for the topic (payer_id for payments.requests, merchant_id for settlement.requests, …).")

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Topic name without the prefix.")
    var topic: String = "payments.requests"

    @Option(name: .customLong("key-field"), help: "Field whose value is the message key.")
    var keyField: String?

    @Argument(help: "File of messages; - for standard input.")
    var file: String

    /// Topics whose records must carry a connector's seal (`AnswerSeal`): this tool has no key,
    /// so what it published there would only be dead-lettered as `unsigned_answer`.
    static let sealedTopics: Set<String> = ["channel.confirmations", "payouts.confirmations"]

    func run() async throws {
        guard !Self.sealedTopics.contains(topic) else {
            throw ValidationError("\(topic) takes only answers sealed by a channel connector or the bank adapter "
                + "(docs/operations.md, \"Answer seals\"); paystream publish holds no answer key, so the workers would park them "
                + "as unsigned_answer. Replay a parked genuine answer with paystream dlq replay instead")
        }
        let field = keyField ?? Self.defaultKeyField[topic]
        guard let field else {
            throw ValidationError("no default key for topic \(topic); pass --key-field")
        }
        let messages = try readMessages(file)
        var outgoing: [OutgoingMessage] = []
        for (index, object) in messages.enumerated() {
            guard let key = object[field]?.stringValue else {
                throw ValidationError("message \(index + 1) has no string field \(field) to use as key")
            }
            outgoing.append(OutgoingMessage(topic: cluster.topics.named(topic), key: Array(key.utf8),
                                            value: Array(try Wire.encode(object))))
        }
        let results = try await cluster.send(outgoing)
        let failures = results.compactMap { if case .failure(let e) = $0 { e } else { nil } }
        print("published \(results.count - failures.count) of \(results.count) messages to \(cluster.topics.named(topic))")
        if let first = failures.first { throw first }
    }

    static let defaultKeyField: [String: String] = [
        "payments.requests": "payer_id", "channel.requests": "payer_id",
        "payments.events": "payer_id", "settlement.requests": "merchant_id", "payouts.requests": "merchant_id",
        "settlements.events": "merchant_id", "notifications": "recipient_id",
        "reference.merchants": "merchant_id", "reference.credit-lines": "payer_id", "channel.statements": "payment_id",
    ]
}

/// Reads a JSON array or JSON lines (blank lines and lines starting with # are skipped).
func readMessages(_ path: String) throws -> [[String: JSONValue]] {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        data = contents
    }
    let text = String(decoding: data, as: UTF8.self)
    if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("[") {
        do { return try JSONDecoder().decode([[String: JSONValue]].self, from: data) } catch {
            throw ValidationError("\(path): not a JSON array of objects: \(error)")
        }
    }
    var result: [[String: JSONValue]] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
        do { result.append(try JSONDecoder().decode([String: JSONValue].self, from: Data(trimmed.utf8))) } catch {
            throw ValidationError("\(path):\(number + 1): not a JSON object")
        }
    }
    return result
}
