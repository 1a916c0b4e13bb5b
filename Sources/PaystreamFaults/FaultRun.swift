import ChannelSimulator
import Foundation
import Logging
import PaystreamChannels
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
#if canImport(Glibc)
import Glibc
#endif

/// A whole-pipeline fault and fuzz run: a Tansu broker, the four daemons as processes on two
/// "hosts" (each with a state folder of its own), mixed load from a seed in rounds, a SIGKILL and
/// restart of a random daemon after each round (every daemon at least once, the hosts in turn),
/// one host lost halfway (every daemon of it killed and its state folder deleted), a zombie two
/// thirds of the way (host A's payment-worker SIGSTOPped past its session timeout while load
/// runs, then SIGCONTed: it goes on with the batch in hand before it notices), the broker frozen
/// once if asked, hostile records on every input topic; shards snapshotted every MiB of
/// changelog (100 KiB), host B keeping standby copies of what it does not own; then the end checks
/// (`FaultReport`), on shards rebuilt from the changelogs alone.
public struct FaultRun: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64 = 1
        /// Requests published (duplicates included; hostile records come on top).
        public var requests = 600
        public var kills = 10
        /// How long the broker is frozen (SIGSTOP … SIGCONT) once, a tenth of the rounds after host B is lost; 0 for never.
        public var freezeSeconds = 0
        public var partitions: Int32 = 4
        /// Hostile records, spread over the input topics; nil for requests / 20.
        public var fuzz: Int?
        /// How long to wait, after the last round, for every request's outcome.
        public var settleTimeout: Duration = .seconds(300)
        /// Where configurations and logs go; a fresh temporary directory if nil.
        public var directory: String?
        /// The daemons' consumer-group session timeout: how long a killed daemon's partitions
        /// wait before they move (the local run's 6 s by default).
        public var sessionTimeoutMs = 6000
        /// Hosts the daemons run on (1 or 2); with 2, the second is lost once halfway.
        public var hosts = 2
        /// With 2 hosts: host A's payment-worker is frozen (SIGSTOP) past its session timeout
        /// once, two thirds of the way, and then goes on.
        public var zombie = true
        /// Alipay and WeChat Pay payments through channel-gateway (one per host, killed like the
        /// others) and the channel simulators, which misbehave (timeouts, SYSTEM_ERROR, duplicate
        /// notifications, unpaid trades, payments that beat the close); false: the sandbox answers
        /// every method.
        public var channelGateway = false
        /// Progress lines (rounds, waiting); nil for none.
        public var progress: (@Sendable (String) -> Void)?

        public init() {}
    }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    public func run() async throws -> FaultReport {
        let started = ContinuousClock.now
        let say = options.progress ?? { _ in }
        var random = SeededRandom(seed: options.seed ^ 0xFA17)
        let load = FaultLoad(seed: options.seed, count: options.requests)
        let directory = try options.directory ?? temporaryDirectory("paystream-faults")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pipeline = try await InProcessPipeline(partitions: options.partitions, reference: load.reference, firstInLine: true)
        let topics = pipeline.topics
        let brokerPID = pipeline.broker.process.processIdentifier
        say("broker \(pipeline.broker.bootstrapServers) (pid \(brokerPID)), state \(pipeline.stateDirectory), logs \(directory)/logs")
        // Secrets as systemd would hand them over; no log may ever carry one (scanned at the end).
        var secrets = ["kafka_sasl.password": "faults-\(UUID().uuidString)",
                       "webhook_e-faults": "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()]
        // Scanned for in the logs besides the secrets: a line of each channel key.
        var keyLines: [String] = []
        // The answer keys (`AnswerSeal`): each daemon's credentials hold them; their secrets must
        // never reach a log.
        for (name, text) in TestAnswerKeys.files {
            secrets[name] = text
            keyLines += text.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        }
        var daemons = DaemonFleet.Daemon.standard
        var simulators: [(simulator: ChannelSimulator, server: HTTPListener)] = []
        var edges: [FaultConfiguration.Edge?] = [nil, nil]
        if options.channelGateway {
            let keys = "\(directory)/channel-keys"
            try SimulatorKeys.generate(into: keys)
            for name in SimulatorKeys.gatewayFiles {
                let text = try String(contentsOfFile: "\(keys)/\(name)", encoding: .utf8)
                secrets["channels_\(name)"] = text
                keyLines += text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.prefix(1).map(String.init)
            }
            var behaviour = SimulatorBehaviour()
            behaviour.seed = options.seed
            behaviour.payDelayMs = 150
            behaviour.unpaidRate = 0.03
            behaviour.timeoutRate = 0.03
            behaviour.hangMs = 1_500
            behaviour.systemErrorRate = 0.03
            behaviour.duplicateNotifies = 1
            behaviour.payBeforeCloseRate = 0.2
            behaviour.timeScale = 0.002
            var logger = Logger(label: "faults.simulator")
            logger.logLevel = .warning
            for (kind, merchant) in [(ChannelKind.alipay, "2021000000000001"), (.weChatPay, "1900000001")] {
                let simulator = ChannelSimulator(kind: kind, behaviour: behaviour,
                                                 identity: try SimulatorKeys.identity(kind, folder: keys, merchantId: merchant), logger: logger)
                simulators.append((simulator, try await HTTPListener.start(listen: "127.0.0.1:0") { await simulator.handle($0) }))
            }
            edges = try (0..<2).map { _ in
                FaultConfiguration.Edge(listen: "127.0.0.1:\(try freeLoopbackPort())", alipay: simulators[0].server.address,
                                        weChat: simulators[1].server.address)
            }
            daemons.append(.channelGateway)
        }
        let fleet = try DaemonFleet(directory: directory, brokers: pipeline.broker.bootstrapServers,
                                   stateDirectory: pipeline.stateDirectory, tag: "faults", credentials: secrets, daemons: daemons) { [options, edges] in
            FaultConfiguration.text($0, seed: options.seed, sessionTimeoutMs: options.sessionTimeoutMs, edge: edges[0])
        }
        // A second host: its own state folder and logs, the same configuration and groups.
        let hostB = "\(directory)/host-b", stateB = "\(directory)/host-b/state"
        let fleets = try [fleet] + (options.hosts > 1 ? [
            DaemonFleet(directory: hostB, brokers: pipeline.broker.bootstrapServers, stateDirectory: stateB, tag: "faults-b",
                        credentials: secrets, daemons: daemons) { [options, edges] in
                FaultConfiguration.text($0, seed: options.seed, sessionTimeoutMs: options.sessionTimeoutMs, standby: true, edge: edges[1])
            },
        ] : [])
        var hostsLost = 0
        var zombies = 0
        func totalKills() -> Int { fleets.reduce(0) { $0 + $1.totalKills } }
        let observer = FaultObserver(topics: topics)
        let reading = Task { await Self.read(observer: observer, brokers: pipeline.broker.bootstrapServers, topics: topics) }
        do {
            for host in fleets { try await host.startAll(timeout: .seconds(90)) }
            say("fleet up on \(fleets.count) host(s): \(daemons.map(\.rawValue).joined(separator: ", "))"
                + (options.channelGateway ? "; Alipay simulator \(simulators[0].server.address), WeChat Pay simulator \(simulators[1].server.address)" : ""))

            // Rounds: publish a slice, let it flow for a moment, kill a daemon, restart it.
            let rounds = max(options.kills, 10)
            var victims = daemons.shuffled(using: &random)
            while victims.count < options.kills { victims.append(daemons.randomElement(using: &random)!) }
            var fuzz = FuzzInput(seed: options.seed)
            // The fleet here runs no reconciler: nothing would answer hostile statement lines; and
            // only channel-gateway reads channel.notifications.
            let fuzzTopics = topics.inputTopics.filter {
                $0 != topics.payoutRequests && $0 != topics.channelStatements && (options.channelGateway || $0 != topics.channelNotifications)
            }
            let fuzzCount = options.fuzz ?? max(fuzzTopics.count, options.requests / 20)
            var hostile: [(record: FuzzInput.Record, at: DeliveryReport)] = []
            var reports: [Int: DeliveryReport] = [:]
            var frozen = Duration.zero
            for round in 0..<rounds {
                // A zombie: host A's payment-worker frozen past its session timeout while this
                // round's load is published; host B's takes its partitions; then it runs on,
                // not told yet.
                var zombie: (process: DaemonProcess, until: ContinuousClock.Instant)?
                if fleets.count > 1 && options.zombie && round == 2 * rounds / 3, let victim = fleets[0].process(.paymentWorker) {
                    let pause = Duration.milliseconds(options.sessionTimeoutMs * 5 / 2)
                    say("round \(round + 1): host A's payment-worker frozen (SIGSTOP) for \(pause) while load runs, then let go on")
                    victim.signal(SIGSTOP)
                    zombie = (victim, .now + pause)
                }
                let slice = load.requests[(round * load.requests.count / rounds)..<((round + 1) * load.requests.count / rounds)]
                for partitioning in UpstreamPartitioning.allCases {
                    let part = slice.filter { $0.partitioning == partitioning }
                    guard !part.isEmpty else { continue }
                    let delivered = try await pipeline.publish(topic: topics.paymentRequests, part.map { ($0.payer, $0.value) },
                                                               partitioning: partitioning)
                    for (request, report) in zip(part, delivered) { reports[request.index] = report }
                }
                if round == rounds / 3 {
                    for (i, topic) in fuzzTopics.enumerated() {
                        let count = fuzzCount / fuzzTopics.count + (i < fuzzCount % fuzzTopics.count ? 1 : 0)
                        var records = fuzz.records(for: topic, topics: topics, count: count)
                        // Always some card numbers where none belongs, for the log scan.
                        if topic == topics.paymentRequests {
                            records += fuzz.records(for: topic, topics: topics, count: 3, kind: "card number")
                            for kind in ["duplicate key", "non-canonical key", "oversized metadata"] {
                                records += fuzz.records(for: topic, topics: topics, count: 1, kind: kind)
                            }
                        }
                        // On every topic: card numbers and control characters in every field a
                        // log line may quote (the log scan looks for them and for forged lines),
                        // and a record over input.max_record_bytes.
                        records += fuzz.records(for: topic, topics: topics, count: 2, kind: "log injection")
                        records += fuzz.records(for: topic, topics: topics, count: 1, kind: "oversized record")
                        let delivered = try await pipeline.publish(topic: topic, records.map { ($0.key, $0.value) },
                                                                   partitioning: .librdkafkaDefault)
                        hostile += zip(records, delivered).map { ($0, $1) }
                    }
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 500...3000, using: &random)))
                if let (victim, until) = zombie {
                    try await Task.sleep(until: until)
                    victim.signal(SIGCONT)
                    zombies += 1
                }
                for host in fleets { try host.reviveExited() }
                if fleets.count > 1 && round == rounds / 2 {
                    // Host B is lost, disk and all; it comes back empty and its partitions are
                    // restored from the changelogs (by A meanwhile, by B once it owns them again).
                    say("round \(round + 1): host B lost: every daemon killed, \(stateB) deleted")
                    fleets[1].killAll()
                    try FileManager.default.removeItem(atPath: stateB)
                    hostsLost += 1
                    try await Task.sleep(for: .seconds(2))
                    for daemon in daemons { try fleets[1].start(daemon) }
                }
                // (Not in the round host B is lost: its daemons, started again, would find no broker
                // within their connect timeout and exit, as they should.)
                if options.freezeSeconds > 0 && round == rounds / 2 + max(1, rounds / 10) {
                    say("round \(round + 1): broker frozen for \(options.freezeSeconds) s")
                    let freezeStart = ContinuousClock.now
                    kill(brokerPID, SIGSTOP)
                    try? await Task.sleep(for: .seconds(options.freezeSeconds))
                    kill(brokerPID, SIGCONT)
                    frozen = ContinuousClock.now - freezeStart
                }
                // The kills are spread evenly over the rounds.
                while totalKills() < (round + 1) * options.kills / rounds {
                    let victim = victims[totalKills()]
                    try await fleets[totalKills() % fleets.count].kill(victim, restartAfter: .milliseconds(Int.random(in: 100...1500, using: &random)))
                }
                if round % max(1, rounds / 10) == 0 || round == rounds - 1 {
                    say("round \(round + 1)/\(rounds): \(reports.count) requests and \(hostile.count) hostile records published, "
                        + "\(totalKills()) kills, \(observer.recordsRead) records read")
                }
            }

            // Settle: every request answered, every capture booked and notified.
            var checks = FaultChecks(load: load, reports: reports, hostile: hostile, observer: observer, topics: topics)
            if options.channelGateway { checks.readers[topics.channelRequests] = 2 }
            let deadline = ContinuousClock.now + options.settleTimeout
            var lastSaid = ContinuousClock.now
            while !checks.settled(), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
                for host in fleets { try host.reviveExited() }
                if ContinuousClock.now - lastSaid > .seconds(10) {
                    say("waiting: \(checks.pendingDescription())")
                    lastSaid = ContinuousClock.now
                }
            }
            // Late duplicates and repeated answers have a moment to show up, then a graceful stop.
            try await Task.sleep(for: .seconds(3))
            var statuses: [(String, DaemonFleet.Daemon, Int32)] = []
            for (index, host) in fleets.enumerated() {
                statuses += await host.stopAll().map { (index == 0 ? "A" : "B", $0.key, $0.value) }
            }
            try await Task.sleep(for: .seconds(1))
            reading.cancel()
            await reading.value
            var channels: String?
            if options.channelGateway {
                channels = simulators.map { simulator, _ in
                    let stats = simulator.stats
                    return "\(simulator.kind.rawValue): \(stats.tradesCreated) trades, \(stats.tradesPaid) paid, \(stats.tradesClosed) closed, "
                        + "\(stats.refunds) refunds; notifications \(stats.notifiesSent) sent, \(stats.notifiesAccepted) taken; "
                        + "\(stats.hangs) hung and \(stats.systemErrors) SYSTEM_ERROR calls; \(stats.badSignatures) bad request signatures"
                }.joined(separator: "; ")
                for (simulator, server) in simulators {
                    simulator.stop()
                    await server.stop()
                }
            }
            // The checks read the shards as the changelogs have them: rebuilt from the log alone,
            // each equal to the freshest file a host kept of it.
            let rebuilt = "\(directory)/rebuilt"
            let (rebuiltShards, rebuildProblems) = try await ChangelogRebuild.all(
                brokers: pipeline.broker.bootstrapServers, topics: topics, partitions: options.partitions, into: rebuilt,
                hosts: fleets.count > 1 ? [pipeline.stateDirectory, stateB] : [pipeline.stateDirectory])
            var report = try checks.report(stateDirectory: rebuilt, statuses: statuses, fleets: fleets)
            report.problems += rebuildProblems
            report.hosts = fleets.count
            report.hostsLost = hostsLost
            report.zombies = zombies
            report.channels = channels
            if options.channelGateway, simulators.contains(where: { $0.simulator.stats.badSignatures > 0 || $0.simulator.stats.tradesPaid == 0 }) {
                report.problems.append("a channel simulator saw bad request signatures or no paid trade: \(channels ?? "")")
            }
            // Shards a cut-off instance let go when it read a newer claim (kept for inspection).
            for state in fleets.count > 1 ? [pipeline.stateDirectory, stateB] : [pipeline.stateDirectory] {
                for stage in TopicNames.stages {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(state)/\(stage)")) ?? []
                    report.fencedShards += names.filter { $0.contains(".sqlite.fenced-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.count
                }
            }
            report.shardsRebuilt = rebuiltShards
            // No card number and no secret in any daemon's log.
            let logFolders = ["\(directory)/logs"] + (fleets.count > 1 ? ["\(hostB)/logs"] : [])
            for folder in logFolders {
                // What the logs say the fleet did with snapshots, standby copies and claims.
                for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
                    let text = (try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)) ?? ""
                    for (line, key) in [("shard started from a snapshot", "restores from a snapshot"), ("standby copy ready", "standby copies made"),
                                        ("snapshot published", "snapshots published"), ("partition claimed by another instance", "shards fenced"),
                                        ("group membership lost", "memberships lost")] {
                        let count = text.components(separatedBy: line).count - 1
                        if count > 0 { report.changelogEvents[key, default: 0] += count }
                    }
                }
                let findings = try LogScan.scan(directory: folder, secrets: Array(secrets.values) + keyLines)
                report.problems += findings.map { "log carries \($0)" }
                report.logsScanned += try FileManager.default.contentsOfDirectory(atPath: folder).count
            }
            report.seed = options.seed
            report.partitions = options.partitions
            report.frozen = frozen
            report.duration = ContinuousClock.now - started
            report.directory = directory
            await pipeline.stop()
            return report
        } catch {
            for (simulator, server) in simulators {
                simulator.stop()
                await server.stop()
            }
            kill(brokerPID, SIGCONT)
            for host in fleets { host.killAll() }
            reading.cancel()
            await reading.value
            await pipeline.stop()
            throw error
        }
    }

    /// Reads the watched topics from the beginning into `observer` until cancelled; a reader
    /// that fails (the broker frozen or gone) is replaced and reads everything again, which the
    /// observer counts once.
    static func read(observer: FaultObserver, brokers: String, topics: TopicNames) async {
        var logger = Logger(label: "faults.reader")
        logger.logLevel = .critical
        while !Task.isCancelled {
            do {
                let reader = try await TopicReader(bootstrapServers: brokers, topics: FaultObserver.watchedTopics(topics), logger: logger)
                while !Task.isCancelled {
                    observer.observe(try await reader.readFor(.milliseconds(200)))
                }
                // One more pass after cancellation: what was published just before.
                observer.observe(try await reader.readFor(.milliseconds(500)))
                await reader.close()
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
