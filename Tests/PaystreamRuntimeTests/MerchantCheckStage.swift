import Foundation
import GRDB
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamReference
import PaystreamStore
import Synchronization

/// A stage that decides with reference data: each input `{"id": "...", "merchant": "m-1"}`
/// stores the merchant's status as the stage saw it ("unknown" when the merchant is not there)
/// in `decision`, and emits `{"id": ..., "status": ...}` on the output topic.
struct MerchantCheckStage: Stage {
    struct Input: Sendable, Codable {
        let id: String
        let merchant: String
    }

    struct Output: Sendable, Codable {
        let id: String
        let status: String
    }

    let name = "merchant-check"
    let input: String
    let output: String
    let reference: LiveReferenceData
    /// The feed the runtime fills; `reference` itself unless a test wraps it.
    let feed: any ReferenceFeed
    /// Stored with each decision, to tell instances apart.
    var label = ""

    init(input: String = "in", output: String = "out", reference: LiveReferenceData, feed: (any ReferenceFeed)? = nil,
         label: String = "") {
        self.input = input
        self.output = output
        self.reference = reference
        self.feed = feed ?? reference
        self.label = label
    }

    var inputTopics: [String] { [input] }
    var outputTopics: [String] { [output] }
    var referenceFeed: (any ReferenceFeed)? { feed }

    var schema: StageSchema {
        StageSchema([("merchant-check-v1", { db in
            try db.execute(sql: "CREATE TABLE decision (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, merchant TEXT NOT NULL, status TEXT NOT NULL, label TEXT NOT NULL)")
        })])
    }

    func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        do { return try JSONDecoder().decode(Input.self, from: Data(record.value)) } catch {
            throw .undecodable("not a merchant-check input")
        }
    }

    func messageID(of input: Input) -> String? { input.id }

    func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        let status = reference.merchant(input.merchant)?.status.rawValue ?? "unknown"
        try context.db.execute(sql: "INSERT INTO decision (id, merchant, status, label) VALUES (?, ?, ?, ?)",
                               arguments: [input.id, input.merchant, status, label])
        try context.emit(Output(id: input.id, status: status), topic: output, key: input.id, eventID: "out:\(input.id)")
    }
}

/// Counts what the runtime hands to a feed, then passes it on.
final class CountingFeed: ReferenceFeed {
    let inner: LiveReferenceData
    private let count = Mutex(0)

    init(_ inner: LiveReferenceData) { self.inner = inner }

    var referenceTopics: [String] { inner.referenceTopics }
    var applied: Int { count.withLock { $0 } }

    func apply(_ entry: ReferenceEntry) throws(ReferenceRejection) {
        count.withLock { $0 += 1 }
        try inner.apply(entry)
    }
}

/// Rows of `decision` over every shard of the stage under `stateDirectory`.
func decisions(in stateDirectory: String) throws -> [(id: String, status: String, label: String, shard: String)] {
    let dir = "\(stateDirectory)/merchant-check"
    guard FileManager.default.fileExists(atPath: dir) else { return [] }
    var result: [(String, String, String, String)] = []
    for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasPrefix("p") && file.hasSuffix(".sqlite") {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: "\(dir)/\(file)", configuration: configuration)
        result += try queue.read { db in
            guard try db.tableExists("decision") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT id, status, label FROM decision").map {
                ($0["id"] as String, $0["status"] as String, $0["label"] as String, file)
            }
        }
        try queue.close()
    }
    return result
}

/// The rows of the stage's reference.sqlite: (topic, key) → (value, offset).
func storedReference(in stateDirectory: String) throws -> [String: (value: String?, offset: Int64)] {
    var configuration = Configuration()
    configuration.readonly = true
    configuration.busyMode = .timeout(10)
    let queue = try DatabaseQueue(path: ReferenceStore.path(stateDirectory: stateDirectory, stage: "merchant-check"),
                                  configuration: configuration)
    defer { try? queue.close() }
    return try queue.read { db in
        var rows: [String: (String?, Int64)] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT topic, key, value, offset FROM reference_value") {
            let value: Data? = row["value"]
            rows["\(row["topic"] as String)/\(row["key"] as String)"] = (value.map { String(decoding: $0, as: UTF8.self) }, row["offset"])
        }
        return rows
    }
}

/// Log events kept in memory, for tests that check what a worker logged.
final class LogCapture: Sendable {
    struct Event: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let events = Mutex<[Event]>([])

    var all: [Event] { events.withLock { $0 } }

    func logger(label: String = "test.worker", level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ event: Event) { events.withLock { $0.append(event) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var fields = metadata
            if let extra = event.metadata { fields.merge(extra) { _, new in new } }
            capture.append(Event(level: event.level, message: event.message.description,
                                 metadata: fields.mapValues(\.description)))
        }
    }
}
