import ArgumentParser
import Foundation
import Logging
import Notifier
import PaystreamBench
import PaystreamRuntime
import PaystreamStore
import PaystreamTesting

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paystream-bench",
        abstract: "Measure the pipeline: throughput, latency and CPU end to end, beside a pass-through relay, and each stage without Kafka.",
        subcommands: [Run.self, Relay.self], defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the benchmark and print its figures (the default).",
            discussion: """
                Starts a Tansu broker on a free loopback port and the four daemons as processes with the \
                Config/ settings (the channel sandbox answering at once and approving everything, unless \
                --shipped-sandbox). Publishes --payments card payments at once, --repeats times, and reports \
                the median payments/s from first request to last notification, the payments lost, and the \
                CPU seconds per payment of each daemon; then --rate payments/s for --paced-seconds and the \
                p50/p95/p99 latency from request to notification; then stops payment-worker, channel-sandbox and \
                notifier in turn (SIGTERM) with input waiting and times each from its start again to its first \
                record out. Then the same through a pass-through \
                relay of as many hops, built on PaystreamKafka with the same settings, and the ratios. Then \
                each stage deciding and committing on temporary shards without Kafka, in records/s. Exits 1 \
                if a payment was lost.
                """)

        @Option(help: "Payments published at once per throughput run.")
        var payments = 10_000

        @Option(help: "Throughput runs (and offline runs); the median is reported.")
        var repeats = 3

        @Option(help: "Payments per second in the latency run.")
        var rate = 1_000

        @Option(name: .customLong("paced-seconds"), help: "How long the latency run publishes.")
        var pacedSeconds = 10

        @Option(name: .customLong("idle-seconds"), help: "How long the CPU with nothing published is measured (after the warm-up; 0 skips it). Default 5; 1 with --smoke.")
        var idleSeconds: Int?

        @Option(help: "Partitions per topic.")
        var partitions: Int32 = 4

        @Option(name: .customLong("offline-payments"), help: "Payments through each stage in the offline measurement.")
        var offlinePayments = 5_000

        @Flag(name: .customLong("shipped-sandbox"), help: "Use Config/channel-sandbox.yaml's stage settings as shipped (latencies, declines, duplicates).")
        var shippedSandbox = false

        @Flag(name: .customLong("smoke"), help: "A quick form: 300 payments, 1 run, 2 s paced at 200/s, 1 s idle (unless --idle-seconds), 300 offline.")
        var smoke = false

        @Flag(name: .customLong("no-pipeline"), help: "Skip the daemons.")
        var noPipeline = false

        @Flag(name: .customLong("no-relay"), help: "Skip the pass-through relay.")
        var noRelay = false

        @Flag(name: .customLong("no-offline"), help: "Skip the offline stage measurement.")
        var noOffline = false

        @Flag(name: .customLong("no-restart"), help: "Skip timing the restart of payment-worker, channel-sandbox and notifier.")
        var noRestart = false

        @Option(help: "Directory for configurations and logs (default: a new temporary directory).")
        var directory: String?

        func validate() throws {
            if payments < 1 || repeats < 1 || rate < 1 || pacedSeconds < 1 || offlinePayments < 1 {
                throw ValidationError("--payments, --repeats, --rate, --paced-seconds and --offline-payments must be at least 1")
            }
            if let idleSeconds, idleSeconds < 0 { throw ValidationError("--idle-seconds must not be negative") }
            if partitions < 1 { throw ValidationError("--partitions must be at least 1") }
        }

        func run() async throws {
            // Stopped by a signal: the broker and the daemons it started go too.
            ChildProcesses.stopOnTermination()
            // The offline stage run opens shards in this process: SQLite as a daemon has it.
            SQLiteProcess.prepare()
            var options = BenchRun.Options()
            options.payments = smoke ? 300 : payments
            options.repeats = smoke ? 1 : repeats
            options.rate = smoke ? 200 : rate
            options.pacedSeconds = smoke ? 2 : pacedSeconds
            options.offlineRecords = smoke ? 300 : offlinePayments
            options.idleSeconds = idleSeconds ?? (smoke ? 1 : 5)
            options.partitions = partitions
            options.shippedSandbox = shippedSandbox
            options.skipPipeline = noPipeline
            options.skipRelay = noRelay
            options.skipOffline = noOffline
            options.skipRestart = noRestart
            options.directory = directory
            options.progress = { line in FileHandle.standardError.write(Data("[bench] \(line)\n".utf8)) }
            let report = try await BenchRun(options).run()
            print(report)
            if !report.problems.isEmpty { throw ExitCode(1) }
        }
    }

    struct Relay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One hop of the pass-through relay (started by the benchmark).",
            discussion: "Copies every record of --from to the same partition of --to, bytes untouched, committing after delivery. "
                + "Kafka settings and batch sizes come from --config, a daemon configuration file.")

        @Option(help: "Topic to read.")
        var from: String

        @Option(help: "Topic to write.")
        var to: String

        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            let configuration = try DaemonConfiguration<NotifierStage.Settings>.resolve(
                daemon: "relay", options: daemon, environment: ProcessInfo.processInfo.environment, stageDefaults: .init())
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
            let relay = PassThroughRelay(from: from, to: to, kafka: configuration.kafka,
                                         maxRecords: configuration.worker.maxBatchRecords, maxWait: configuration.worker.maxBatchWait)
            try await relay.run(logger: Logger(label: "relay"))
        }
    }
}
