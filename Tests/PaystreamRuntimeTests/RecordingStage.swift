import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore

/// A minimal stage for runtime tests: each input `{"id": "...", "n": 1}` inserts one row into
/// `effect` and emits one message on the output topic with event id `out:<id>`. A negative `n`
/// breaks the table's CHECK constraint; an id starting with `bug` makes `apply` throw an error that is no
/// business answer (a bug), every time; an id starting with `anon` gives no message id (no inbox dedup);
/// an id starting with `late` is refused (a dead letter) after its effect and output were written.
struct RecordingStage: Stage {
    struct Input: Sendable, Codable {
        let id: String
        let n: Int
        /// The output carries this many bytes of padding (tests make outputs too large with it).
        var padBytes: Int? = nil
    }

    struct Output: Codable {
        let id: String
        let n: Int
        var padding: String?
    }

    struct Bug: Error, CustomStringConvertible {
        var description: String { "an id that starts with bug" }
    }

    let name = "recorder"
    let input: String
    let output: String
    /// When set, `tick` emits one `tick:<partition>:<count>` message per owned shard, counting
    /// ticks in the shard's `tick_count` table.
    var tickInterval: Duration? = nil
    /// Stored with each effect, to tell instances apart.
    var label = ""

    var inputTopics: [String] { [input] }
    var outputTopics: [String] { [output] }

    var schema: StageSchema {
        StageSchema([("recorder-v1", { db in
            try db.execute(sql: "CREATE TABLE effect (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, n INTEGER NOT NULL CHECK (n >= 0), kafka_offset INTEGER NOT NULL, label TEXT NOT NULL)")
            try db.execute(sql: "CREATE TABLE tick_count (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), n INTEGER NOT NULL); INSERT INTO tick_count VALUES (1, 0)")
        })])
    }

    func decode(_ record: ConsumedRecord) throws(DeadLetter) -> Input {
        do { return try JSONDecoder().decode(Input.self, from: Data(record.value)) } catch {
            throw .undecodable("not a recorder input")
        }
    }

    func messageID(of input: Input) -> String? { input.id.hasPrefix("anon") ? nil : input.id }

    func apply(_ input: Input, record: ConsumedRecord, in context: StageContext) throws {
        if input.id.hasPrefix("bug") { throw Bug() }
        try context.db.execute(sql: "INSERT INTO effect (id, n, kafka_offset, label) VALUES (?, ?, ?, ?)",
                               arguments: [input.id, input.n, record.offset, label])
        try context.emit(Output(id: input.id, n: input.n, padding: input.padBytes.map { String(repeating: "x", count: $0) }),
                         topic: output, key: input.id, eventID: "out:\(input.id)")
        if input.id.hasPrefix("late") { throw DeadLetter(code: "refused_late", message: "refused after its output was queued") }
    }

    func tick(in context: StageContext) throws {
        try context.db.execute(sql: "UPDATE tick_count SET n = n + 1")
        let n = try Int.fetchOne(context.db, sql: "SELECT n FROM tick_count") ?? 0
        let id = "tick:\(context.partition):\(n)"
        try context.emit(Input(id: id, n: n), topic: output, key: id, eventID: id)
    }
}

/// Rows of `effect` over every shard file of the recorder under `stateDirectory`.
func effects(in stateDirectory: String) throws -> [(id: String, n: Int, label: String, shard: String)] {
    let dir = "\(stateDirectory)/recorder"
    guard FileManager.default.fileExists(atPath: dir) else { return [] }
    var result: [(String, Int, String, String)] = []
    for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".sqlite") {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)  // a worker may be writing this shard right now
        let queue = try DatabaseQueue(path: "\(dir)/\(file)", configuration: configuration)
        result += try queue.read { db in
            // A worker may have created the file and not yet migrated it.
            guard try db.tableExists("effect") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT id, n, label FROM effect").map {
                ($0["id"] as String, $0["n"] as Int, $0["label"] as String, file)
            }
        }
        try queue.close()
    }
    return result
}
