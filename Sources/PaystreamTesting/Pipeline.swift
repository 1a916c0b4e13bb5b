import Foundation
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import ChannelSandbox
import Notifier
import PaymentWorker
import PaystreamReference
import ReconciliationWorker
import SettlementWorker

/// The whole pipeline in one process, for tests: a Tansu broker, every topic, and the four
/// stages as workers in one task group. `stop()` cancels the workers (each finishes its batch)
/// and stops the broker.
public final class InProcessPipeline: @unchecked Sendable {
    public let broker: TansuBroker
    public let stateDirectory: String
    public let topics: TopicNames
    /// The partition count of every topic.
    public let partitionCount: Int32
    private let lock = NSLock()
    private var tasks: [Task<Void, any Error>] = []
    /// The live reference data of each payment worker started, with the task that runs it.
    private var liveReferences: [(data: LiveReferenceData, task: Task<Void, any Error>)] = []
    /// The settlement workers' live reference data: waited for like the payment workers'.
    private var otherLiveReferences: [(data: LiveReferenceData, task: Task<Void, any Error>)] = []
    /// Where every reference record published through `publishReference` landed.
    private var publishedReference: [DeliveryReport] = []

    public enum Component: String, CaseIterable, Sendable {
        case paymentWorker = "payment-worker", channelSandbox = "channel-sandbox"
        case settlementWorker = "settlement-worker", notifier, reconciler

        /// What `start()` runs unless told otherwise: the pipeline without the reconciler, which
        /// only the tests of reconciliation need.
        public static let pipeline: [Component] = [.paymentWorker, .channelSandbox, .settlementWorker, .notifier]
    }

    /// Starts a broker, creates every topic (the reference topics compacted) and publishes
    /// `reference` to the reference topics, where the payment worker's live lookup reads it.
    /// - Parameter firstInLine: take the next free broker slot before other waiting tests.
    public init(partitions: Int32 = 4, topicPrefix: String = "",
                reference: [ReferenceUpdate] = TestReference.updates, firstInLine: Bool = false) async throws {
        broker = try await TansuBroker.start(first: firstInLine)
        partitionCount = partitions
        stateDirectory = try temporaryDirectory("paystream-pipeline")
        topics = TopicNames(prefix: topicPrefix)
        let admin = try KafkaAdmin(configuration: kafka)
        defer { admin.close() }
        let wanted = topics.all.map { NewTopic(name: $0, partitions: partitions) }
            + topics.reference.map { NewTopic(name: $0, partitions: partitions, config: ["cleanup.policy": "compact"]) }
        _ = try await admin.createTopics(wanted)
        if !reference.isEmpty { try await publishReference(reference) }
    }

    public var kafka: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties)
    }

    /// Starts the given components in-process; call it again to add more instances (they join
    /// the same consumer groups and share the state directory, as instances on one host do).
    /// Cancel the returned task to stop just these workers gracefully.
    /// - Parameter policy: the payment policy; the shipped `Config/payment-policy.json` if nil.
    /// - Parameter reference: the payment stage's reference data; nil (the default) for the live
    ///   reference topics, which the worker reads to their end before it takes input. `init`
    ///   seeds them (`TestReference` by default); `publishReference` changes them.
    /// - Parameter payment: the payment stage's settings (timeouts, retention).
    /// - Parameter sandbox: the channel sandbox's settings; the default answers at once and declines nothing.
    /// - Parameter reconciler: the reconciler's settings, when `.reconciler` is among the components.
    /// - Parameter clock: the time every worker sees (a `ManualClock` lets a test move it).
    @discardableResult
    public func start(_ components: [Component] = Component.pipeline, policy: PaymentPolicy? = nil,
                      reference: (any ReferenceLookup)? = nil, payment: PaymentStage.Settings = .init(),
                      sandbox: ChannelSandboxStage.Settings = ChannelSandboxStage.Settings(),
                      reconciler: ReconciliationStage.Settings? = nil,
                      clock: any PaystreamClock = SystemClock(), logLevel: Logger.Level = .warning) throws -> Task<Void, any Error> {
        let policy = try policy ?? shippedPaymentPolicy()
        let settlement = try SettlementStage.Settings()
        let kafka = self.kafka, topics = self.topics, directory = stateDirectory
        var settings = WorkerSettings()
        settings.maxBatchWait = .milliseconds(20)
        var live: LiveReferenceData?
        let paymentReference: any ReferenceLookup
        if let reference {
            paymentReference = reference
        } else {
            let data = LiveReferenceData(topics: topics)
            live = data
            paymentReference = data
        }
        let settlementLive = reference == nil ? LiveReferenceData(topics: topics) : nil
        let notifierLive = reference == nil ? LiveReferenceData(topics: topics, kinds: NotifierStage.referenceKinds) : nil
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                func add<S: Stage>(_ stage: S) {
                    var logger = Logger(label: stage.name)
                    logger.logLevel = logLevel
                    let worker = StageWorker(stage: stage, kafka: kafka, groupID: "paystream.\(stage.name)",
                                             stateDirectory: directory, topics: topics, settings: settings, clock: clock,
                                             logger: logger)
                    group.addTask { try await worker.run() }
                }
                for component in components {
                    switch component {
                    case .paymentWorker:
                        add(PaymentStage(topics: topics, policy: policy, reference: paymentReference, settings: payment,
                                         answers: TestAnswerKeys.payment))
                    case .channelSandbox: add(ChannelSandboxStage(topics: topics, settings: sandbox, stateDirectory: directory,
                                                                  answerKeys: TestAnswerKeys.keyring))
                    case .settlementWorker:
                        // Each worker keeps its own copy of live reference data, as each daemon does.
                        add(SettlementStage(topics: topics, settings: settlement, reference: reference ?? settlementLive!,
                                            answers: TestAnswerKeys.settlement))
                    case .notifier:
                        add(NotifierStage(topics: topics, templates: try shippedNotificationTemplates(), reference: reference ?? notifierLive!))
                    case .reconciler: add(ReconciliationStage(topics: topics, settings: try reconciler ?? .init()))
                    }
                }
                try await group.waitForAll()
            }
        }
        lock.withLock {
            tasks.append(task)
            if let live, components.contains(.paymentWorker) { liveReferences.append((live, task)) }
            if let settlementLive, components.contains(.settlementWorker) { otherLiveReferences.append((settlementLive, task)) }
            if let notifierLive, components.contains(.notifier) { otherLiveReferences.append((notifierLive, task)) }
        }
        return task
    }

    /// Publishes values to a topic, keyed as given, partitioned as `partitioning` says, and
    /// waits for delivery.
    @discardableResult
    /// - Parameter sealedBy: a test playing a channel or the bank: each record sealed with that
    ///   signer's test key (`TestAnswerKeys`), as the sandbox or gateway would.
    public func publish(topic: String, _ messages: [(key: String, value: Data)],
                        partitioning: UpstreamPartitioning = .murmur2, sealedBy signer: String? = nil) async throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: kafka, logger: Logger(label: "test.publisher"),
                                         partitioner: partitioning.librdkafkaPartitioner)
        let results = await producer.send(messages.map { message in
            OutgoingMessage(topic: topic, key: Array(message.key.utf8), value: Array(message.value),
                            headers: signer.map { TestAnswerKeys.headers(signer: $0, topic: topic, key: message.key, value: message.value) } ?? [],
                            partition: partitioning.partition(of: message.key, partitionCount: partitionCount))
        })
        await producer.close()
        return try results.map { try $0.get() }
    }

    /// Publishes reference data (a tombstone for a deletion) and waits for delivery; then, if
    /// workers with live reference data run, until each has read every reference record
    /// published through this pipeline so far. (Workers started later read everything before
    /// they take input, so publishing before `start` needs no wait.)
    @discardableResult
    public func publishReference(_ updates: [ReferenceUpdate], timeout: Duration = .seconds(30)) async throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: kafka, logger: Logger(label: "test.publisher"))
        let results = await producer.send(try updates.map { try $0.message(in: topics) })
        await producer.close()
        let reports = try results.map { try $0.get() }
        let all = lock.withLock {
            publishedReference += reports
            return publishedReference
        }
        try await waitForReference(all, timeout: timeout)
        return reports
    }

    /// Waits until every running worker with live reference data has read these records
    /// (workers whose task was cancelled are not waited for).
    public func waitForReference(_ reports: [DeliveryReport], timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        let live = lock.withLock { (liveReferences + otherLiveReferences).filter { !$0.task.isCancelled }.map(\.data) }
        while !live.allSatisfy({ data in reports.allSatisfy { data.hasRead(topic: $0.topic, partition: $0.partition, offset: $0.offset) } }) {
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("the workers did not read the reference records within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The live reference data of the payment workers started so far (one per `start`).
    public var liveReferenceData: [LiveReferenceData] { lock.withLock { liveReferences.map(\.data) } }

    public func reader(_ topicNames: [String]) async throws -> TopicReader {
        try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: topicNames)
    }

    /// Stops the in-process workers (graceful: each finishes its batch), then the broker.
    public func stop() async {
        let running = lock.withLock { tasks }
        for task in running { task.cancel() }
        for task in running { _ = try? await task.value }
        broker.stop()
    }
}

/// How an upstream producer in a test chooses partitions: the pipeline must work with each.
public enum UpstreamPartitioning: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The Java client's default (librdkafka `murmur2_random`): keys on their canonical partition.
    case murmur2
    /// librdkafka's own default (`consistent_random`, CRC32), and so confluent-kafka's and kcat's.
    case librdkafkaDefault = "librdkafka-default"
    /// A partition the producer picks for each key by a rule of its own (the sum of the key's
    /// bytes modulo the partition count).
    case explicit

    public var description: String { rawValue }

    var librdkafkaPartitioner: String { self == .librdkafkaDefault ? "consistent_random" : "murmur2_random" }

    /// The partition the producer names for `key`; nil to let the partitioner choose.
    public func partition(of key: String, partitionCount: Int32) -> Int32? {
        guard self == .explicit else { return nil }
        return Int32(key.utf8.reduce(0) { $0 + Int($1) } % Int(partitionCount))
    }
}

/// A clock a test sets and moves; starts at the real time.
public final class ManualClock: PaystreamClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date()) { current = start }

    public func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    public func advance(by seconds: TimeInterval) {
        lock.lock()
        current = current.addingTimeInterval(seconds)
        lock.unlock()
    }
}

/// The notification texts shipped in `Config/notification-templates.yaml`.
public func shippedNotificationTemplates() throws -> NotificationTemplates {
    try NotificationTemplates.load(path: packageRoot.appendingPathComponent("Config/notification-templates.yaml").path)
}

/// The payment policy shipped in `Config/payment-policy.json`.
public func shippedPaymentPolicy() throws -> PaymentPolicy {
    try PaymentStage.loadPolicy(PaymentStage.Settings(policyFile: packageRoot.appendingPathComponent("Config/payment-policy.json").path),
                                configFile: nil)
}
