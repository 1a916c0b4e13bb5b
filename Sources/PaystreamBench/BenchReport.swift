import Foundation

/// One throughput run: payments published at once, first request → last completion.
public struct BurstResult: Sendable {
    public var payments: Int
    public var completed: Int
    /// Completed with `payment.failed` (a declined authorization) instead of a notification.
    public var failed: Int
    public var seconds: Double
    /// CPU used during the run: each measured process, the broker, the bench.
    public var cpu: CPUUse

    /// CPU seconds each measured process used during the run.
    public var cpuSeconds: [String: Double] { cpu.processes }
    public var lost: Int { payments - completed }
    public var perSecond: Double { seconds > 0 ? Double(completed) / seconds : 0 }
    /// The broker's CPU per payment (per message for the relay), µs.
    public var brokerMicrosecondsPerPayment: Double? { cpu.broker.map { payments == 0 ? 0 : $0 / Double(payments) * 1e6 } }
    public var cpuMicrosecondsPerPayment: Double { payments == 0 ? 0 : cpuSeconds.values.reduce(0, +) / Double(payments) * 1e6 }

    var summary: String {
        "\(completed)/\(payments) in \(format(seconds, 2)) s = \(format(perSecond, 0))/s, lost \(lost), "
            + "CPU \(format(cpuMicrosecondsPerPayment, 0)) µs per payment"
    }
}

/// The latency run: payments published at a paced rate, each request → its completion.
public struct PacedResult: Sendable {
    public var payments: Int
    public var completed: Int
    public var failed: Int
    /// The rate the publisher achieved.
    public var rate: Double
    /// Sorted, in milliseconds.
    public var latenciesMs: [Double]
    /// When each key was handed to the producer, in ms since the epoch (as record timestamps).
    var published: [(String, Int64)] = []
    /// Median milliseconds of each stretch of the way (the pipeline only).
    public var hops: [(String, Double)] = []
    /// CPU used from the first payment published to the last completed.
    public var cpu = CPUUse()

    /// What the measured processes and the broker spent per payment at this rate, µs.
    var cpuLine: String {
        let processes = payments == 0 ? 0 : cpu.processes.values.reduce(0, +) / Double(payments) * 1e6
        let broker = cpu.broker.map { ", broker \(format($0 / Double(max(payments, 1)) * 1e6, 0)) µs" } ?? ""
        return "\(format(processes, 0)) µs per payment\(broker); the machine's cores \(format(cpu.busyShare * 100, 0))% busy "
            + "(all of it, the bench's publisher and reader too)"
    }

    public var lost: Int { payments - completed }
    public func percentile(_ p: Double) -> Double {
        guard !latenciesMs.isEmpty else { return .nan }
        return latenciesMs[min(latenciesMs.count - 1, Int((p / 100 * Double(latenciesMs.count)).rounded(.up)) - 1)]
    }

    var summary: String {
        "\(completed)/\(payments) at \(format(rate, 0))/s: p50 \(format(percentile(50), 1)) ms, p95 \(format(percentile(95), 1)) ms, "
            + "p99 \(format(percentile(99), 1)) ms, lost \(lost)"
    }
}

/// A daemon stopped with SIGTERM while its input waits, then started again: from the start of
/// the process to its partitions assigned (its log) and to its first output on the next topic.
public struct RestartResult: Sendable {
    public var daemon: String
    public var assignedSeconds: Double?
    public var firstOutputSeconds: Double?
    public var payments: Int
    public var completed: Int
    public var stopStatus: Int32?

    public var lost: Int { payments - completed }

    var summary: String {
        "\(daemon): partitions assigned after \(assignedSeconds.map { format($0, 2) } ?? "-") s, first record out after "
            + "\(firstOutputSeconds.map { format($0, 2) } ?? "-") s, \(completed)/\(payments) completed"
    }
}

/// What `paystream-bench` prints.
public struct BenchReport: Sendable, CustomStringConvertible {
    public var options: BenchRun.Options
    public var directory = ""
    public var pipelineBursts: [BurstResult] = []
    public var pipelinePaced: PacedResult?
    public var relayBursts: [BurstResult] = []
    public var relayPaced: PacedResult?
    /// CPU over a stretch with nothing published, after the warm-up (what the polling costs).
    public var pipelineIdle: CPUUse?
    public var relayIdle: CPUUse?
    public var offline: [OfflineStageBench.StageFigure] = []
    var wireCoding: [WireCodingBench.Figure] = []
    public var exitStatuses: [String: Int] = [:]
    public var restarts: [RestartResult] = []
    /// Changelog patchset bytes per stage after the bursts, and the payments they hold (the
    /// warm-up's and the bursts'; schema records and idle watermark writes are counted too).
    public var changelogBytes: [String: Int] = [:]
    public var changelogPayments = 0

    init(options: BenchRun.Options) { self.options = options }

    /// Payments lost anywhere (must be 0), and daemons that did not stop cleanly.
    public var problems: [String] {
        var problems: [String] = []
        for (name, runs) in [("pipeline", pipelineBursts), ("relay", relayBursts)] {
            for (index, run) in runs.enumerated() where run.lost > 0 { problems.append("\(name) burst \(index + 1): \(run.lost) lost") }
        }
        if let paced = pipelinePaced, paced.lost > 0 { problems.append("pipeline paced: \(paced.lost) lost") }
        if let paced = relayPaced, paced.lost > 0 { problems.append("relay paced: \(paced.lost) lost") }
        for restart in restarts {
            if restart.lost > 0 { problems.append("restart of \(restart.daemon): \(restart.lost) lost") }
            if let status = restart.stopStatus, status != 0 { problems.append("\(restart.daemon) exited \(status) on SIGTERM before its restart") }
        }
        for (daemon, status) in exitStatuses.sorted(by: { $0.key < $1.key }) where status != 0 {
            problems.append("\(daemon) exited \(status) on SIGTERM")
        }
        return problems
    }

    static func medianBurst(_ runs: [BurstResult]) -> BurstResult? {
        runs.sorted { $0.perSecond < $1.perSecond }.dropFirst(runs.count / 2).first
    }

    public var description: String {
        var lines: [String] = []
        let o = options
        lines.append("paystream-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                     + "\(ProcessInfo.processInfo.physicalMemory >> 30) GiB, \(o.partitions) partitions per topic, "
                     + (o.shippedSandbox ? "sandbox as shipped" : "sandbox answering at once"))
        if let burst = Self.medianBurst(pipelineBursts) {
            lines.append("")
            lines.append("end to end (request → notification, \(BenchRun.hops) hops), \(o.payments) payments at once, median of \(pipelineBursts.count):")
            lines.append("  throughput      \(format(burst.perSecond, 0)) payments/s (runs: \(pipelineBursts.map { format($0.perSecond, 0) }.joined(separator: ", "))), lost \(pipelineBursts.map(\.lost).reduce(0, +))")
            if burst.failed > 0 { lines.append("  declined        \(burst.failed) (completed by payment.failed)") }
            lines.append("  CPU per payment \(format(burst.cpuMicrosecondsPerPayment, 0)) µs summed over the daemons:")
            for (name, seconds) in burst.cpuSeconds.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(format(seconds / Double(burst.payments) * 1e6, 0)) µs")
            }
            if let broker = burst.brokerMicrosecondsPerPayment {
                lines.append("  broker (Tansu)  \(format(broker, 0)) µs per payment (not in the sum); the machine's cores "
                             + "\(format(burst.cpu.busyShare * 100, 0))% busy")
            }
        }
        if let idle = pipelineIdle { lines.append("  idle            \(idle.idleLine)") }
        if let paced = pipelinePaced {
            lines.append("  latency         \(paced.summary)")
            lines.append("  CPU at that rate \(paced.cpuLine)")
            if !paced.hops.isEmpty {
                lines.append("  where the time goes (median ms per stretch, by the records' timestamps):")
                for (name, ms) in paced.hops { lines.append("    \(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(format(ms, 1))") }
            }
        }
        if changelogPayments > 0 {
            let total = changelogBytes.values.reduce(0, +)
            lines.append("  changelog       \(format(Double(total) / Double(changelogPayments), 0)) bytes per payment over every stage's "
                         + "(\(total >> 10) KiB for \(changelogPayments) payments):")
            for (stage, bytes) in changelogBytes.sorted(by: { $0.key < $1.key }) {
                lines.append("    \(stage.padding(toLength: 18, withPad: " ", startingAt: 0)) \(format(Double(bytes) / Double(changelogPayments), 0)) bytes")
            }
        }
        if !restarts.isEmpty {
            lines.append("  restart (SIGTERM, input waiting, start again; from the start of the process):")
            for restart in restarts { lines.append("    \(restart.summary)") }
        }
        if let burst = Self.medianBurst(relayBursts) {
            lines.append("")
            lines.append("pass-through relay (PaystreamKafka, \(BenchRun.hops) hops, no decoding, no SQLite), same broker and settings:")
            lines.append("  throughput      \(format(burst.perSecond, 0)) messages/s (runs: \(relayBursts.map { format($0.perSecond, 0) }.joined(separator: ", "))), lost \(relayBursts.map(\.lost).reduce(0, +))")
            lines.append("  CPU per message \(format(burst.cpuMicrosecondsPerPayment, 0)) µs summed over the hops"
                         + (burst.brokerMicrosecondsPerPayment.map { ", broker \(format($0, 0)) µs" } ?? ""))
            if let idle = relayIdle { lines.append("  idle            \(idle.idleLine)") }
            if let paced = relayPaced {
                lines.append("  latency         \(paced.summary)")
                lines.append("  CPU at that rate \(paced.cpuLine)")
            }
            if let pipeline = Self.medianBurst(pipelineBursts), pipeline.perSecond > 0 {
                lines.append("")
                lines.append("ratio relay / pipeline:")
                lines.append("  throughput      \(format(burst.perSecond / pipeline.perSecond, 1))×")
                if burst.cpuMicrosecondsPerPayment > 0 {
                    lines.append("  CPU             \(format(pipeline.cpuMicrosecondsPerPayment / burst.cpuMicrosecondsPerPayment, 1))× (pipeline / relay)")
                }
                if let relayPaced, let pipelinePaced {
                    lines.append("  p99 latency     \(format(pipelinePaced.percentile(99) / relayPaced.percentile(99), 2))× (pipeline / relay)")
                }
            }
        }
        if !offline.isEmpty {
            lines.append("")
            lines.append("decide + commit on temporary shards, no Kafka (\(o.offlineRecords) payments, batches of 500, median of \(o.repeats)):")
            for figure in offline {
                lines.append("  \(figure.stage.padding(toLength: 18, withPad: " ", startingAt: 0)) \(format(figure.recordsPerSecond, 0)) records/s (\(figure.records) records)")
            }
        }
        if !wireCoding.isEmpty {
            lines.append("")
            lines.append("JSON coding per message (Wire's coders / Foundation's with the same options):")
            for figure in wireCoding {
                lines.append("  \(figure.what.padding(toLength: 36, withPad: " ", startingAt: 0)) \(format(figure.wireMicroseconds, 1)) µs / "
                             + "\(format(figure.foundationMicroseconds, 1)) µs")
            }
        }
        lines.append("")
        lines.append(problems.isEmpty ? "no payment lost" : "PROBLEMS:\n  " + problems.joined(separator: "\n  "))
        lines.append("files: \(directory)")
        return lines.joined(separator: "\n")
    }
}

func format(_ value: Double, _ decimals: Int) -> String {
    value.isNaN ? "n/a" : String(format: "%.\(decimals)f", value)
}
