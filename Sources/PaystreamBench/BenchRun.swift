import Foundation
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
#if canImport(Glibc)
import Glibc
#endif

/// The benchmark: a Tansu broker on a free loopback port, the four daemons as processes with the
/// `Config/` settings (the sandbox answering at once unless asked for the shipped one), card
/// payments published at once and at a paced rate, then the same through a pass-through relay
/// with as many hops, then each stage on temporary shards without Kafka.
public struct BenchRun: Sendable {
    public struct Options: Sendable {
        /// Payments published at once per throughput run.
        public var payments = 10_000
        /// Throughput runs (the median is reported).
        public var repeats = 3
        /// Payments per second in the latency run, and how long it publishes.
        public var rate = 1_000
        public var pacedSeconds = 10
        /// How long the idle measurement runs, seconds.
        public var idleSeconds = 5
        public var partitions: Int32 = 4
        /// Records per stage in the offline measurement (repeated `repeats` times).
        public var offlineRecords = 5_000
        /// Use `Config/channel-sandbox.yaml` as shipped (latencies, declines, duplicates) instead of
        /// a channel that answers at once and approves everything.
        public var shippedSandbox = false
        public var skipPipeline = false
        public var skipRelay = false
        public var skipOffline = false
        /// Skip stopping and restarting daemons (after the latency run) to time their restart.
        public var skipRestart = false
        /// How long a run waits without any payment completing before it counts the rest as lost.
        public var stallTimeout: Duration = .seconds(60)
        public var directory: String?
        public var progress: (@Sendable (String) -> Void)?

        public init() {}
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// The hops a payment takes from request to notification, which the relay repeats:
    /// payment-worker, channel-sandbox, payment-worker again, notifier.
    public static let hops = 4

    public func run() async throws -> BenchReport {
        var report = BenchReport(options: options)
        let say = options.progress ?? { _ in }
        let directory = try options.directory ?? temporaryDirectory("paystream-bench")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        report.directory = directory
        if !options.skipPipeline || !options.skipRelay {
            let pipeline = try await InProcessPipeline(partitions: options.partitions, reference: TestReference.updates, firstInLine: true)
            say("broker \(pipeline.broker.bootstrapServers) (pid \(pipeline.broker.process.processIdentifier)); files in \(directory)")
            do {
                let fleet = try DaemonFleet(directory: directory, brokers: pipeline.broker.bootstrapServers,
                                            stateDirectory: pipeline.stateDirectory, tag: "bench") {
                    try Self.configuration($0, directory: directory, shippedSandbox: options.shippedSandbox)
                }
                if !options.skipPipeline {
                    try await measurePipeline(pipeline, fleet: fleet, into: &report, say: say)
                }
                if !options.skipRelay {
                    try await measureRelay(pipeline, configuration: fleet.configPath(.notifier), directory: directory,
                                           into: &report, say: say)
                }
            } catch {
                await pipeline.stop()
                throw error
            }
            await pipeline.stop()
        }
        if !options.skipOffline {
            say("offline: \(options.offlineRecords) payments through each stage on temporary shards, \(options.repeats)×")
            report.offline = try OfflineStageBench(payments: options.offlineRecords, partitions: options.partitions,
                                                   repeats: options.repeats).run()
            report.wireCoding = try WireCodingBench(count: max(200, options.offlineRecords), repeats: max(3, options.repeats)).run()
        }
        return report
    }

    // MARK: - the fleet

    private func measurePipeline(_ pipeline: InProcessPipeline, fleet: DaemonFleet, into report: inout BenchReport,
                                 say: @escaping @Sendable (String) -> Void) async throws {
        let topics = pipeline.topics
        let brokers = pipeline.broker.bootstrapServers
        let started = ContinuousClock.now
        try await fleet.startAll(timeout: .seconds(90))
        say("fleet up in \(Self.seconds(ContinuousClock.now - started)) s")
        let waypoints = [topics.channelRequests, topics.channelConfirmations, topics.paymentEvents]
        let observer = BenchObserver(finalTopics: [topics.notifications], failureTopic: topics.paymentEvents, waypoints: waypoints)
        let reading = Task { try await BenchObserver.read(observer, brokers: brokers, topics: [topics.notifications] + waypoints) }
        defer { reading.cancel() }
        let publisher = try BenchPublisher(brokers: brokers, topic: topics.paymentRequests)
        let pids = { Dictionary(uniqueKeysWithValues: DaemonFleet.Daemon.allCases.compactMap { daemon in
            fleet.process(daemon).map { (daemon.rawValue, $0.pid) } }) }

        let warmUp = BenchLoad.payments(200, label: "warm")
        let broker = pipeline.broker.process.processIdentifier
        _ = try await burst(warmUp, publisher: publisher, observer: observer, pids: pids(), broker: broker)
        say("warmed up with \(warmUp.count) payments")
        if options.idleSeconds > 0 {
            report.pipelineIdle = try await idle(pids: pids(), broker: broker)
            say("pipeline idle: \(report.pipelineIdle!.idleLine)")
        }
        for run in 1...options.repeats {
            let result = try await burst(BenchLoad.payments(options.payments, label: "burst\(run)"), publisher: publisher,
                                         observer: observer, pids: pids(), broker: broker)
            report.pipelineBursts.append(result)
            say("pipeline burst \(run)/\(options.repeats): \(result.summary)")
        }
        // Every payment so far is notified (settlement may trail a little): what their state costs on the changelogs.
        report.changelogPayments = warmUp.count + options.repeats * options.payments
        report.changelogBytes = try await Self.changelogBytes(topics: topics, kafka: pipeline.kafka)
        say("changelogs: \(report.changelogBytes.values.reduce(0, +) >> 10) KiB for \(report.changelogPayments) payments")
        var paced = try await self.paced(BenchLoad.payments(options.rate * options.pacedSeconds, label: "paced"),
                                         publisher: publisher, observer: observer, pids: pids(), broker: broker)
        paced.hops = Self.hopMedians(paced, observer: observer, stops: [
            ("payment-worker (request → channel request)", topics.channelRequests),
            ("channel-sandbox (→ confirmation)", topics.channelConfirmations),
            ("payment-worker (→ payment.captured)", topics.paymentEvents),
        ], final: topics.notifications)
        report.pipelinePaced = paced
        say("pipeline paced at \(options.rate)/s: \(paced.summary)")
        if !options.skipRestart {
            // Each daemon whose output the bench watches; its input is waiting when it starts.
            for (daemon, input, output) in [(DaemonFleet.Daemon.paymentWorker, nil, topics.channelRequests),
                                            (.channelSandbox, topics.channelRequests, topics.channelConfirmations),
                                            (.notifier, topics.paymentEvents, topics.notifications)] as [(DaemonFleet.Daemon, String?, String)] {
                let result = try await restart(daemon, input: input, output: output, fleet: fleet, publisher: publisher,
                                               observer: observer, finalTopic: topics.notifications)
                report.restarts.append(result)
                say("restart \(result.summary)")
            }
        }
        await publisher.close()
        let statuses = await fleet.stopAll()
        report.exitStatuses = Dictionary(uniqueKeysWithValues: statuses.map { ($0.key.rawValue, Int($0.value)) })
        reading.cancel()
        _ = try? await reading.value
    }

    /// The patchset bytes on each stage's changelog (every partition read to its end).
    static func changelogBytes(topics: TopicNames, kafka: KafkaConfiguration) async throws -> [String: Int] {
        let reader = try KafkaPartitionReader(configuration: kafka, logger: Logger(label: "bench.changelog"))
        let counts = try await reader.topicPartitionCounts()
        await reader.close()
        var bytes: [String: Int] = [:]
        for stage in TopicNames.stages {
            let topic = topics.changelog(of: stage)
            for partition in 0..<(counts[topic] ?? 0) {
                try await ChangelogReader(topic: topic, partition: partition, kafka: kafka, logger: Logger(label: "bench.changelog"))
                    .read(from: 0) { records, _ in bytes[stage, default: 0] += records.reduce(0) { $0 + $1.patchset.count } }
            }
        }
        return bytes.filter { $0.value > 0 }
    }

    // MARK: - the relay

    private func measureRelay(_ pipeline: InProcessPipeline, configuration: String, directory: String,
                              into report: inout BenchReport, say: @escaping @Sendable (String) -> Void) async throws {
        let brokers = pipeline.broker.bootstrapServers
        let relayTopics = (0...Self.hops).map { "paystream-bench.relay.\($0)" }
        let admin = try KafkaAdmin(configuration: pipeline.kafka)
        _ = try await admin.createTopics(relayTopics.map { NewTopic(name: $0, partitions: options.partitions) })
        admin.close()
        var relays: [DaemonProcess] = []
        defer { for relay in relays { relay.signal(SIGKILL) } }
        for hop in 0..<Self.hops {
            relays.append(try DaemonProcess("paystream-bench", arguments: [
                "relay", "--from", relayTopics[hop], "--to", relayTopics[hop + 1], "--config", configuration,
            ], environment: ["PAYSTREAM_BROKERS": brokers], logDirectory: "\(directory)/logs"))
        }
        for relay in relays { try await relay.waitForLog("relay assigned", timeout: .seconds(60)) }
        let observer = BenchObserver(finalTopics: [relayTopics[Self.hops]], failureTopic: nil)
        let reading = Task { try await BenchObserver.read(observer, brokers: brokers, topics: [relayTopics[Self.hops]]) }
        defer { reading.cancel() }
        let publisher = try BenchPublisher(brokers: brokers, topic: relayTopics[0])
        let pids = Dictionary(uniqueKeysWithValues: relays.enumerated().map { ("relay hop \($0.offset + 1)", $0.element.pid) })
        let broker = pipeline.broker.process.processIdentifier
        _ = try await burst(BenchLoad.payments(200, label: "relay-warm"), publisher: publisher, observer: observer, pids: pids,
                            broker: broker)
        if options.idleSeconds > 0 {
            report.relayIdle = try await idle(pids: pids, broker: broker)
            say("relay idle: \(report.relayIdle!.idleLine)")
        }
        for run in 1...options.repeats {
            let result = try await burst(BenchLoad.payments(options.payments, label: "relay-burst\(run)"), publisher: publisher,
                                         observer: observer, pids: pids, broker: broker)
            report.relayBursts.append(result)
            say("relay burst \(run)/\(options.repeats): \(result.summary)")
        }
        let paced = try await self.paced(BenchLoad.payments(options.rate * options.pacedSeconds, label: "relay-paced"),
                                         publisher: publisher, observer: observer, pids: pids, broker: broker)
        report.relayPaced = paced
        say("relay paced at \(options.rate)/s: \(paced.summary)")
        await publisher.close()
        for relay in relays { await relay.stop(grace: .seconds(5)) }
        relays = []
        reading.cancel()
        _ = try? await reading.value
    }

    // MARK: - measurements

    /// CPU over `options.idleSeconds` with nothing published (after a second to settle).
    private func idle(pids: [String: Int32], broker: Int32?) async throws -> CPUUse {
        try await Task.sleep(for: .seconds(1))
        let measuring = CPUUse.start(pids: pids, broker: broker)
        try await Task.sleep(for: .seconds(options.idleSeconds))
        return measuring()
    }

    /// Publishes every payment at once and waits for each to complete (or for the stall timeout).
    private func burst(_ payments: [BenchLoad.Payment], publisher: BenchPublisher, observer: BenchObserver,
                       pids: [String: Int32], broker: Int32?) async throws -> BurstResult {
        observer.expect(payments.map(\.key))
        let measuring = CPUUse.start(pids: pids, broker: broker)
        let start = ContinuousClock.now
        try await publisher.publish(payments[...])
        let keys = payments.map(\.key)
        try await waitForCompletion(keys, observer: observer)
        let cpu = measuring()
        let arrivals = keys.compactMap(observer.arrival(of:))
        let last = arrivals.max() ?? start
        return BurstResult(payments: payments.count, completed: arrivals.count, failed: observer.failures(of: keys),
                           seconds: Self.seconds(last - start),
                           cpu: cpu)
    }

    /// Publishes the payments at `options.rate` per second, noting when each was handed to the
    /// producer, then waits for each to complete.
    private func paced(_ payments: [BenchLoad.Payment], publisher: BenchPublisher, observer: BenchObserver,
                       pids: [String: Int32], broker: Int32?) async throws -> PacedResult {
        observer.expect(payments.map(\.key))
        let measuring = CPUUse.start(pids: pids, broker: broker)
        var publishedAt = [ContinuousClock.Instant](repeating: .now, count: payments.count)
        var publishedMs = [Int64](repeating: 0, count: payments.count)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var sent = 0
            while sent < payments.count {
                let elapsed = Self.seconds(ContinuousClock.now - start)
                let due = min(payments.count, Int(elapsed * Double(options.rate)) + 1)
                if due > sent {
                    let now = ContinuousClock.now
                    let nowMs = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
                    for index in sent..<due {
                        publishedAt[index] = now
                        publishedMs[index] = nowMs
                    }
                    let slice = payments[sent..<due]
                    group.addTask { try await publisher.publish(slice) }
                    sent = due
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            try await group.waitForAll()
        }
        let publishSeconds = Self.seconds(ContinuousClock.now - start)
        let keys = payments.map(\.key)
        try await waitForCompletion(keys, observer: observer)
        let cpu = measuring()
        var latencies: [Double] = []
        for (index, key) in keys.enumerated() {
            if let arrival = observer.arrival(of: key) { latencies.append(Self.seconds(arrival - publishedAt[index]) * 1000) }
        }
        latencies.sort()
        return PacedResult(payments: payments.count, completed: latencies.count, failed: observer.failures(of: keys),
                           rate: Double(payments.count) / publishSeconds, latenciesMs: latencies,
                           published: zip(keys, publishedMs).map { ($0, $1) }, cpu: cpu)
    }

    /// Stops `daemon` (SIGTERM), publishes a few payments and waits until they are on its input
    /// topic, starts it again and times it to its partitions assigned and to the first of those
    /// payments on its output topic; then waits for all of them to complete.
    private func restart(_ daemon: DaemonFleet.Daemon, input: String?, output: String, fleet: DaemonFleet,
                         publisher: BenchPublisher, observer: BenchObserver, finalTopic: String) async throws -> RestartResult {
        let status = await fleet.stop(daemon)
        let payments = BenchLoad.payments(20, label: "restart-\(daemon.rawValue)")
        let keys = payments.map(\.key)
        observer.expect(keys)
        try await publisher.publish(payments[...])
        let waitedFrom = ContinuousClock.now
        if let input {
            while !keys.allSatisfy({ observer.waypoints(of: $0)[input] != nil }), ContinuousClock.now - waitedFrom < options.stallTimeout {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let start = ContinuousClock.now
        let process = try fleet.start(daemon)
        let assigned = Task { () -> ContinuousClock.Instant? in
            try? await process.waitForLog("partitions assigned", timeout: .seconds(60))
            return .now
        }
        func firstOut() -> ContinuousClock.Instant? {
            keys.compactMap { output == finalTopic ? observer.arrival(of: $0) : observer.waypoints(of: $0)[output] }.min()
        }
        while firstOut() == nil, ContinuousClock.now - start < options.stallTimeout {
            try await Task.sleep(for: .milliseconds(2))
        }
        let first = firstOut()
        try await waitForCompletion(keys, observer: observer)
        let assignedAt = await assigned.value
        return RestartResult(daemon: daemon.rawValue, assignedSeconds: assignedAt.map { Self.seconds($0 - start) },
                             firstOutputSeconds: first.map { Self.seconds($0 - start) }, payments: keys.count,
                             completed: keys.compactMap(observer.arrival(of:)).count, stopStatus: status)
    }

    /// The median time of each stretch of the way: publication → first stop → … → completion,
    /// by the timestamps the stages' producers put on the records (the bench's reader sees
    /// several topics in one poll, which would make a short stretch look like none).
    static func hopMedians(_ paced: PacedResult, observer: BenchObserver, stops: [(String, String)],
                           final: String) -> [(String, Double)] {
        var stretches = [[Double]](repeating: [], count: stops.count + 1)
        for (key, published) in paced.published {
            let stamps = observer.stamps(of: key)
            let times = [published] + stops.map { stamps[$0.1] } + [stamps[final]]
            guard times.allSatisfy({ $0 != nil }) else { continue }
            for index in 0..<(times.count - 1) { stretches[index].append(Double(times[index + 1]! - times[index]!)) }
        }
        let names = stops.map(\.0) + ["notifier (→ notification)"]
        return zip(names, stretches).map { ($0, median($1)) }
    }

    private func waitForCompletion(_ keys: [String], observer: BenchObserver) async throws {
        var done = observer.arrivedCount
        var lastProgress = ContinuousClock.now
        while done < keys.count {
            try await Task.sleep(for: .milliseconds(10))
            let now = observer.arrivedCount
            if now > done {
                done = now
                lastProgress = .now
            } else if ContinuousClock.now - lastProgress > options.stallTimeout {
                return
            }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: - configuration

    /// `Config/<daemon>.yaml` as shipped, with the files it names copied beside it; the sandbox's
    /// `stage:` section replaced by a channel that answers at once and approves everything,
    /// unless `shippedSandbox`. With nothing ever held back, its timer runs every 100 ms (it only
    /// delivers held-back answers) and its statement files are rewritten once a minute: the
    /// figures are the pipeline's, not the simulated bank's.
    static func configuration(_ daemon: DaemonFleet.Daemon, directory: String, shippedSandbox: Bool) throws -> String {
        let config = packageRoot.appendingPathComponent("Config")
        let policy = "\(directory)/config/payment-policy.json"
        if !FileManager.default.fileExists(atPath: policy) {
            try FileManager.default.copyItem(atPath: config.appendingPathComponent("payment-policy.json").path, toPath: policy)
        }
        let templates = "\(directory)/config/notification-templates.yaml"
        if !FileManager.default.fileExists(atPath: templates) {
            try FileManager.default.copyItem(atPath: config.appendingPathComponent("notification-templates.yaml").path, toPath: templates)
        }
        var text = try String(contentsOf: config.appendingPathComponent("\(daemon.rawValue).yaml"), encoding: .utf8)
        if daemon == .channelSandbox && !shippedSandbox {
            guard let stage = text.range(of: "\nstage:") else { throw BenchError("no stage: section in Config/channel-sandbox.yaml") }
            text = String(text[..<stage.lowerBound]) + """

                stage:
                  seed: 1
                  tick_interval_ms: 100
                  statement_dir: channel-statements
                  statement_interval_ms: 60000
                  methods:
                    default:
                      latency_ms: 0

                """
        }
        return text
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The bench's upstream producer: murmur2 (the Java client's default), lingering a little so
/// that a burst goes out in large batches.
final class BenchPublisher: Sendable {
    private let producer: KafkaProducer
    private let topic: String

    init(brokers: String, topic: String) throws {
        var logger = Logger(label: "bench.publisher")
        logger.logLevel = .error
        producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: brokers, properties: ["linger.ms": "5"]),
                                     logger: logger)
        self.topic = topic
    }

    func publish(_ payments: ArraySlice<BenchLoad.Payment>) async throws {
        let results = await producer.send(payments.map { OutgoingMessage(topic: topic, key: Array($0.key.utf8), value: $0.value) })
        for result in results { _ = try result.get() }
    }

    func close() async { await producer.close() }
}
