import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import Testing

/// What the runtime decides about each record — inbox, dead letters, forwarding checks, replay
/// marks — on the stage harness, which decides a batch with the worker's own code and no broker.
/// The loop around it (polling, retries, timers, publishing, rebalances) is `RuntimeTests`'.
@Suite("Worker runtime decisions, on the stage harness")
struct RuntimeDecisionTests {
    let harness: StageHarness<RecordingStage>

    init() throws {
        harness = try StageHarness(RecordingStage(input: "in", output: "out"), partitions: 2)
    }

    func send(_ values: [(key: String, value: String)]) throws {
        try harness.send(values.map { OutgoingMessage(topic: "in", key: $0.key, value: $0.value) })
    }

    func letters() throws -> [DeadLetterMessage] {
        try harness.published(on: "in.dlq").map { try Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
    }

    var outputKeys: [String?] { harness.published(on: "out").map(\.keyString) }

    @Test("the same input delivered twice has one effect and one output (inbox)")
    func duplicateInput() throws {
        try send([("a", #"{"id":"a","n":1}"#), ("a", #"{"id":"a","n":1}"#), ("b", #"{"id":"b","n":2}"#)])
        try send([("a", #"{"id":"a","n":1}"#)])  // again, in a later batch
        #expect(outputKeys.sorted { ($0 ?? "") < ($1 ?? "") } == ["a", "b"])
        #expect(try effects(in: harness.stateDirectory).map(\.id).sorted() == ["a", "b"])
    }

    @Test("garbage bytes become one dead letter with the source offset; the worker goes on")
    func garbageToDeadLetter() throws {
        let sent = try harness.send([OutgoingMessage(topic: "in", key: "k", value: "\u{1}not json at all"),
                                     OutgoingMessage(topic: "in", key: "k", value: #"{"id":"after","n":3}"#)])
        let records = harness.published(on: "in.dlq")
        #expect(records.count == 1)
        let letter = try #require(try letters().first)
        #expect(letter.schema == "dead-letter/v1")
        #expect(letter.errorCode == "undecodable")
        #expect(letter.sourceTopic == "in")
        #expect(letter.sourceOffset == sent[0].offset)
        #expect(letter.sourcePartition == sent[0].partition && records[0].partition == sent[0].partition)
        #expect(letter.originalKey == "k")
        #expect(letter.stage == harness.stage.name)
        #expect(records[0].header("event-id") == "dlq:\(harness.stage.name):in:\(sent[0].partition):\(sent[0].offset)")
        #expect(Data(base64Encoded: letter.originalValueBase64) == Data("\u{1}not json at all".utf8))
        #expect(records[0].keyString == "k")
        #expect(outputKeys == ["after"])
        #expect(try effects(in: harness.stateDirectory).map(\.id) == ["after"])
    }

    @Test("repartition topics: <topic>.repartition, or a stage's own <topic>.repartition.<stage>; both lead back to the topic and its dead letters")
    func repartitionNames() {
        let topics = TopicNames(prefix: "dev.")
        #expect(topics.repartition(of: topics.paymentEvents) == "dev.payments.events.repartition")
        #expect(topics.repartition(of: topics.paymentEvents, stage: "reconciler") == "dev.payments.events.repartition.reconciler")
        for name in ["dev.payments.events.repartition", "dev.payments.events.repartition.reconciler"] {
            #expect(topics.source(ofRepartition: name) == "dev.payments.events")
            #expect(topics.deadLetter(of: name) == "dev.payments.events.dlq")
        }
        #expect(topics.source(ofRepartition: "dev.payments.events") == nil)
        #expect(topics.source(ofRepartition: "dev.payments.events.repartition.a.b") == nil)
        #expect(topics.all.contains("dev.payments.events.repartition.reconciler") && topics.all.contains("dev.channel.statements.dlq"))
        // A stage keeps the default unless it says otherwise.
        #expect(harness.stage.repartitionTopics(in: TopicNames()) == ["in": "in.repartition"])
    }

    @Test("a record that breaks a table constraint is parked as a dead letter; nothing of it is stored")
    func constraintViolation() throws {
        try send([("k", #"{"id":"neg","n":-1}"#), ("k", #"{"id":"ok","n":1}"#)])
        #expect(try letters().map(\.errorCode) == ["constraint_violation"])
        #expect(try letters().first?.sourceOffset == 0)
        #expect(outputKeys == ["ok"])
        #expect(try effects(in: harness.stateDirectory).map(\.id) == ["ok"])
    }

    @Test("a record whose decision throws (a bug) is parked as stage_error by the record-by-record pass; the rest of its batch commits")
    func stageErrorParked() throws {
        try send([("k", #"{"id":"a","n":1}"#), ("k", #"{"id":"bug","n":3}"#), ("k", #"{"id":"b","n":2}"#)])
        let parked = try letters()
        #expect(parked.map(\.errorCode) == ["stage_error"])
        #expect(parked.first?.errorMessage.contains("an id that starts with bug") == true)
        #expect(parked.first?.sourceOffset == 1)
        #expect(outputKeys == ["a", "b"])
        #expect(try effects(in: harness.stateDirectory).map(\.id).sorted() == ["a", "b"])
    }

    @Test("a dead-lettered record leaves no inbox mark: a corrected record with its message id is decided")
    func deadLetterLeavesNoInboxMark() throws {
        try send([("k", #"{"id":"r","n":-1}"#), ("k", #"{"id":"r","n":1}"#)])
        #expect(try letters().map(\.errorCode) == ["constraint_violation"])
        #expect(outputKeys == ["r"])
        let stored = try effects(in: harness.stateDirectory)
        #expect(stored.map(\.id) == ["r"] && stored.map(\.n) == [1])
    }

    @Test("a record on a repartition topic without its origin, or on the wrong partition, is parked as misrouted on the input's dead-letter topic")
    func misroutedCopies() throws {
        let key = "k-1"
        let canonical = KeyPartitioner.partition(of: Array(key.utf8), partitionCount: 2)
        let origin = [KafkaHeader(key: "paystream-source-topic", string: "in"), KafkaHeader(key: "paystream-source-partition", string: "0"),
                      KafkaHeader(key: "paystream-source-offset", string: "99")]
        try harness.send([
            OutgoingMessage(topic: "in.repartition", key: key, value: #"{"id":"no-origin","n":1}"#, partition: canonical),
            OutgoingMessage(topic: "in.repartition", key: key, value: #"{"id":"wrong-partition","n":1}"#, headers: origin,
                            partition: 1 - canonical),
            OutgoingMessage(topic: "in.repartition", key: key, value: #"{"id":"good","n":1}"#, headers: origin, partition: canonical),
        ])
        let parked = try letters()
        #expect(parked.map(\.errorCode) == ["misrouted", "misrouted"])
        #expect(Set(parked.compactMap { Data(base64Encoded: $0.originalValueBase64).map { String(decoding: $0, as: UTF8.self) } })
                == [#"{"id":"no-origin","n":1}"#, #"{"id":"wrong-partition","n":1}"#])
        #expect(outputKeys == ["good"])
    }

    /// `paystream dlq replay` sets `paystream-replay-of: <dead letter id>` on what it publishes;
    /// the runtime marks `replay:<id>` in the inbox with the decision, so one dead letter replayed
    /// twice has one effect, even for an input without a message id, and even when it was forwarded.
    @Test("a record replayed twice under one dead letter id has one effect, also through the repartition topic; another id is another effect")
    func replayMarkDedups() throws {
        let key = "k"
        let canonical = KeyPartitioner.partition(of: Array(key.utf8), partitionCount: 2)
        let value = #"{"id":"anon-1","n":1}"#
        func replay(_ id: String, partition: Int32? = nil) -> OutgoingMessage {
            OutgoingMessage(topic: "in", key: key, value: value,
                            headers: [KafkaHeader(key: DeadLetter.replayOfHeader, string: id)], partition: partition)
        }
        // The same dead letter three times: on the key's partition, again there, and on the other
        // partition (forwarded, headers kept); then a second dead letter with the same bytes.
        try harness.send([replay("in.dlq:0:7"), replay("in.dlq:0:7"), replay("in.dlq:0:7", partition: 1 - canonical),
                          replay("in.dlq:1:3")])
        let consumed = try ShardStore.readOnly(path: ShardStore.path(stateDirectory: harness.stateDirectory, stage: "recorder",
                                                                     partition: canonical)) { db in
            let next = try RuntimeTables.nextOffsets(db)
            return (next["in"]?[canonical] ?? 0) + (next["in.repartition"]?[canonical] ?? 0)
        }
        #expect(consumed == 4, "the shard consumed 3 records on \(canonical) and 1 forwarded copy")
        let rows = try effects(in: harness.stateDirectory)
        #expect(rows.map(\.id) == ["anon-1", "anon-1"], "one effect per dead letter id: \(rows)")
        let marks = try ShardStore.readOnly(path: ShardStore.path(stateDirectory: harness.stateDirectory, stage: "recorder", partition: canonical)) { db in
            try ["replay:in.dlq:0:7", "replay:in.dlq:1:3"].map { try RuntimeTables.isProcessed(db, messageID: $0) }
        }
        #expect(marks == [true, true])
    }
}
