import Foundation
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamStages

/// The whole pipeline in one process, for tests: a Tansu broker, every topic, and the four
/// stages as workers in one task group. `stop()` cancels the workers (each finishes its batch)
/// and stops the broker.
public final class InProcessPipeline: @unchecked Sendable {
    public let broker: TansuBroker
    public let stateDirectory: String
    public let topics: TopicNames
    private let lock = NSLock()
    private var tasks: [Task<Void, any Error>] = []

    public enum Component: String, CaseIterable, Sendable {
        case paymentWorker = "payment-worker", channelSandbox = "channel-sandbox"
        case settlementWorker = "settlement-worker", notifier
    }

    public init(partitions: Int32 = 4, topicPrefix: String = "") async throws {
        broker = try TansuBroker()
        stateDirectory = try temporaryDirectory("paystream-pipeline")
        topics = TopicNames(prefix: topicPrefix)
        let admin = try KafkaAdmin(configuration: kafka)
        defer { admin.close() }
        let wanted = topics.all.map { NewTopic(name: $0, partitions: partitions) }
        _ = try await admin.createTopics(wanted)
    }

    public var kafka: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties: fastKafkaProperties)
    }

    /// Starts the given components in-process; call it again to add more instances (they join
    /// the same consumer groups and share the state directory, as instances on one host do).
    /// Cancel the returned task to stop just these workers gracefully.
    /// - Parameter policy: the payment policy; the shipped `Config/payment-policy.json` if nil.
    /// - Parameter reference: the payment stage's reference data.
    /// - Parameter payment: the payment stage's settings (timeouts, retention).
    /// - Parameter sandbox: the channel sandbox's settings; the default answers at once and declines nothing.
    /// - Parameter clock: the time every worker sees (a `ManualClock` lets a test move it).
    @discardableResult
    public func start(_ components: [Component] = Component.allCases, policy: PaymentPolicy? = nil,
                      reference: any ReferenceLookup = TestReference.standard, payment: PaymentStage.Settings = .init(),
                      sandbox: ChannelSandboxStage.Settings = ChannelSandboxStage.Settings(),
                      clock: any PaystreamClock = SystemClock(), logLevel: Logger.Level = .warning) throws -> Task<Void, any Error> {
        let policy = try policy ?? shippedPaymentPolicy()
        let settlement = try SettlementStage.Settings()
        let kafka = self.kafka, topics = self.topics, directory = stateDirectory
        var settings = WorkerSettings()
        settings.maxBatchWait = .milliseconds(20)
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
                    case .paymentWorker: add(PaymentStage(topics: topics, policy: policy, reference: reference, settings: payment))
                    case .channelSandbox: add(ChannelSandboxStage(topics: topics, settings: sandbox, stateDirectory: directory))
                    case .settlementWorker: add(SettlementStage(topics: topics, settings: settlement))
                    case .notifier: add(NotifierStage(topics: topics))
                    }
                }
                try await group.waitForAll()
            }
        }
        lock.withLock { tasks.append(task) }
        return task
    }

    /// Publishes values to a topic, keyed as given, and waits for delivery.
    public func publish(topic: String, _ messages: [(key: String, value: Data)]) async throws {
        let producer = try KafkaProducer(configuration: kafka, logger: Logger(label: "test.publisher"))
        let results = await producer.send(messages.map {
            OutgoingMessage(topic: topic, key: Array($0.key.utf8), value: Array($0.value))
        })
        await producer.close()
        for result in results { _ = try result.get() }
    }

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

/// The payment policy shipped in `Config/payment-policy.json`.
public func shippedPaymentPolicy() throws -> PaymentPolicy {
    try PaymentStage.loadPolicy(PaymentStage.Settings(policyFile: packageRoot.appendingPathComponent("Config/payment-policy.json").path),
                                configFile: nil)
}
