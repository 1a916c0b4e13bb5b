import ChannelSandbox
import Foundation
import Logging
import Notifier
import PaymentWorker
import PaystreamKafka
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting
import SettlementWorker

/// Each stage deciding and committing on temporary shards, without Kafka (`OfflineShards`, as the
/// worker decides a polled batch): card payment requests into the payment stage, its channel
/// requests into the sandbox, the answers back into the payment stage, then its payment events
/// into the notifier and its settlement requests into the settlement stage. Only the decide and
/// commit calls are timed; records are handed over in batches of `batch` per partition.
public struct OfflineStageBench: Sendable {
    let payments: Int
    let partitions: Int32
    let repeats: Int
    let batch: Int

    /// `batch`: records per partition handed over at once (500 is a burst's batch; a paced load
    /// polls a few records at a time).
    public init(payments: Int, partitions: Int32, repeats: Int, batch: Int = 500) {
        self.payments = payments
        self.partitions = partitions
        self.repeats = repeats
        self.batch = batch
    }

    public struct StageFigure: Sendable {
        public var stage: String
        public var records: Int
        /// Seconds of each run.
        public var seconds: [Double]
        public var recordsPerSecond: Double { records == 0 ? 0 : Double(records) / median(seconds) }
    }

    public func run() throws -> [StageFigure] {
        var figures: [String: StageFigure] = [:]
        for _ in 0..<repeats {
            for (stage, records, seconds) in try once() {
                figures[stage, default: StageFigure(stage: stage, records: records, seconds: [])].seconds.append(seconds)
            }
        }
        return ["payment-worker", "channel-sandbox", "settlement-worker", "notifier"].compactMap { figures[$0] }
    }

    private func once() throws -> [(String, Int, Double)] {
        let directory = try temporaryDirectory("paystream-bench-offline")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let topics = TopicNames()
        var logger = Logger(label: "bench.offline")
        logger.logLevel = .critical
        let clock = SystemClock()
        let payment = OfflineShards(stage: PaymentStage(topics: topics, policy: try shippedPaymentPolicy(), reference: TestReference.standard,
                                                                answers: TestAnswerKeys.payment),
                                    stateDirectory: directory, topics: topics, partitionCount: partitions, clock: clock, logger: logger)
        let sandbox = OfflineShards(stage: ChannelSandboxStage(topics: topics, stateDirectory: directory, answerKeys: TestAnswerKeys.keyring), stateDirectory: directory,
                                    topics: topics, partitionCount: partitions, clock: clock, logger: logger)
        let settlement = OfflineShards(stage: SettlementStage(topics: topics, settings: try SettlementStage.Settings(), reference: TestReference.standard,
                                                                      answers: TestAnswerKeys.settlement),
                                       stateDirectory: directory, topics: topics, partitionCount: partitions, clock: clock, logger: logger)
        let notifier = OfflineShards(stage: NotifierStage(topics: topics, templates: try shippedNotificationTemplates()), stateDirectory: directory, topics: topics,
                                     partitionCount: partitions, clock: clock, logger: logger)
        defer { payment.close(); sandbox.close(); settlement.close(); notifier.close() }

        var offsets: [String: [Int32: Int64]] = [:]
        func records(_ messages: [(topic: String, key: [UInt8]?, value: [UInt8], headers: [String: String])]) -> [ConsumedRecord] {
            messages.map { message in
                let partition = KeyPartitioner.partition(of: message.key ?? [], partitionCount: partitions)
                let offset = offsets[message.topic]?[partition] ?? 0
                offsets[message.topic, default: [:]][partition] = offset + 1
                return ConsumedRecord(topic: message.topic, partition: partition, offset: offset, key: message.key, value: message.value,
                                      headers: message.headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, value: Array($0.value.utf8)) },
                                      timestampMs: Int64(Date().timeIntervalSince1970 * 1000))
            }
        }
        var seconds: [String: Double] = [:]
        var counts: [String: Int] = [:]
        func decide<S: Stage>(_ shards: OfflineShards<S>, _ input: [ConsumedRecord]) throws {
            let byPartition = Dictionary(grouping: input, by: \.partition)
            let start = ContinuousClock.now
            try InstructionMarks.stage(shards.worker.stage.name) {
                for partition in byPartition.keys.sorted() {
                    let all = byPartition[partition]!
                    for first in stride(from: 0, to: all.count, by: batch) {
                        try shards.decide(Array(all[first..<min(all.count, first + batch)]), partition: partition)
                    }
                }
            }
            seconds[shards.worker.stage.name, default: 0] += BenchRun.seconds(ContinuousClock.now - start)
            counts[shards.worker.stage.name, default: 0] += input.count
        }
        func published<S: Stage>(_ shards: OfflineShards<S>) throws -> [OutboxMessage] { try shards.takeOutbox().map(\.message) }
        func on(_ topic: String, _ messages: [OutboxMessage]) -> [ConsumedRecord] {
            records(messages.filter { $0.topic == topic }.map { ($0.topic, $0.key, Array($0.value), $0.headers) })
        }

        // A worker opens (and migrates) a partition's shard when the partition is assigned, not
        // per record: the shards are open before anything is measured.
        for partition in 0..<partitions {
            _ = try payment.shard(partition)
            _ = try sandbox.shard(partition)
            _ = try settlement.shard(partition)
            _ = try notifier.shard(partition)
        }
        let requests = BenchLoad.payments(payments, label: "offline")
        try decide(payment, records(requests.map { (topics.paymentRequests, Array($0.key.utf8), $0.value, [:]) }))
        var fromPayment = try published(payment)
        let channelRequests = on(topics.channelRequests, fromPayment)
        try decide(sandbox, channelRequests)
        try decide(payment, on(topics.channelConfirmations, try published(sandbox)))
        // Everything the payment stage published: its events (authorized, captured) and the hand-offs.
        fromPayment += try published(payment)
        let handOffs = on(topics.settlementRequests, fromPayment)
        try decide(notifier, on(topics.paymentEvents, fromPayment))
        try decide(settlement, handOffs)
        guard channelRequests.count == payments, handOffs.count == payments else {
            throw BenchError("offline chain: \(payments) payments gave \(channelRequests.count) channel requests and \(handOffs.count) settlement requests")
        }
        return seconds.map { ($0.key, counts[$0.key] ?? 0, $0.value) }
    }
}

/// Each stage's decisions run inside a function of its own that is never inlined, so that an
/// instruction profile of the offline run (`Deploy/instructions.sh`, callgrind) can attribute
/// them by name: the inclusive count of `InstructionMarks.paymentWorker` is everything the
/// payment stage did to decide and commit its records.
enum InstructionMarks {
    static func stage(_ name: String, _ body: () throws -> Void) throws {
        switch name {
        case "payment-worker": try paymentWorker(body)
        case "channel-sandbox": try channelSandbox(body)
        case "settlement-worker": try settlementWorker(body)
        case "notifier": try notifier(body)
        default: try body()
        }
    }

    @inline(never) static func paymentWorker(_ body: () throws -> Void) throws { try body() }
    @inline(never) static func channelSandbox(_ body: () throws -> Void) throws { try body() }
    @inline(never) static func settlementWorker(_ body: () throws -> Void) throws { try body() }
    @inline(never) static func notifier(_ body: () throws -> Void) throws { try body() }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
