import Foundation
import PaystreamTesting
#if canImport(Glibc)
import Glibc
#endif

/// The four daemons of a fault run as child processes, one instance each, with configurations
/// written for the run: the sandbox misbehaving, short authorization timeouts, FULL synchronous.
/// Kills and restarts them, and notices a daemon that exits on its own.
final class FaultFleet: @unchecked Sendable {
    enum Daemon: String, CaseIterable, Sendable {
        case paymentWorker = "payment-worker", channelSandbox = "channel-sandbox"
        case settlementWorker = "settlement-worker", notifier
    }

    let directory: String
    private let environment: [String: String]
    private let lock = NSLock()
    private var running: [Daemon: DaemonProcess] = [:]
    private(set) var kills: [Daemon: Int] = [:]
    var totalKills: Int { lock.withLock { kills.values.reduce(0, +) } }
    private(set) var unexpectedExits: [String] = []
    private var starts = 0

    init(directory: String, brokers: String, stateDirectory: String, seed: UInt64, sessionTimeoutMs: Int = 6000) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: "\(directory)/config", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/logs", withIntermediateDirectories: true)
        environment = ["PAYSTREAM_BROKERS": brokers, "PAYSTREAM_STATE_DIR": stateDirectory]
        for daemon in Daemon.allCases {
            try Self.configuration(daemon, seed: seed, sessionTimeoutMs: sessionTimeoutMs).write(toFile: configPath(daemon), atomically: true, encoding: .utf8)
        }
    }

    private func configPath(_ daemon: Daemon) -> String { "\(directory)/config/\(daemon.rawValue).yaml" }

    static func configuration(_ daemon: Daemon, seed: UInt64, sessionTimeoutMs: Int) -> String {
        // Small batches and quick polls keep records in flight when a kill lands; a killed
        // member's partitions move once its session times out.
        var text = """
            log:
              level: info
            batch:
              max_records: 200
              max_wait_ms: 20
            kafka:
              "fetch.wait.max.ms": "10"
              "session.timeout.ms": "\(sessionTimeoutMs)"
              "heartbeat.interval.ms": "\(max(100, sessionTimeoutMs / 12))"

            """
        switch daemon {
        case .paymentWorker:
            // Unanswered authorizations are queried after 2 s and expire 3 s later, so that
            // expiry, queries and late captures happen within the run.
            text += """
                stage:
                  policy_file: \(packageRoot.appendingPathComponent("Config/payment-policy.json").path)
                  authorization:
                    query_after_seconds: 2
                    expire_after_seconds: 3
                    methods:
                      cash: { query_after_seconds: 2, expire_after_seconds: 3 }
                  expiry_check_interval_ms: 200

                """
        case .channelSandbox:
            // Every anomaly the sandbox has. Answers held back 6 s arrive after their payment was
            // queried, and some after it expired (late captures).
            text += """
                stage:
                  seed: \(seed % 1_000_000_000)
                  tick_interval_ms: 20
                  methods:
                    default:
                      latency_ms: {min: 5, p50: 30, p99: 200, max: 400}
                      decline_rate: 0.05
                      no_answer_rate: 0.05
                      query_no_answer_rate: 0.3
                      duplicate_rate: 0.05
                      duplicate_delay_ms: 100
                      reorder_rate: 0.03
                      reorder_delay_ms: 6000
                      amount_mismatch_rate: 0.02
                      refund_decline_rate: 0.05

                """
        case .settlementWorker, .notifier:
            break
        }
        return text
    }

    /// Starts every daemon and waits until each has been assigned its partitions.
    func startAll(timeout: Duration) async throws {
        for daemon in Daemon.allCases { try start(daemon) }
        for daemon in Daemon.allCases {
            guard let process = lock.withLock({ running[daemon] }) else { continue }
            try await process.waitForLog("partitions assigned", timeout: timeout)
        }
    }

    @discardableResult
    func start(_ daemon: Daemon) throws -> DaemonProcess {
        let instance = lock.withLock { () -> Int in
            starts += 1
            return starts
        }
        let process = try DaemonProcess(daemon.rawValue, environment: environment.merging([
            "PAYSTREAM_CONFIG": configPath(daemon), "PAYSTREAM_INSTANCE_ID": "\(daemon.rawValue)-faults-\(instance)",
        ]) { $1 }, logDirectory: "\(directory)/logs")
        lock.withLock { running[daemon] = process }
        return process
    }

    /// SIGKILL, wait for the exit, then start a new process after `pause`.
    func kill(_ daemon: Daemon, restartAfter pause: Duration) async throws {
        guard let process = lock.withLock({ running[daemon] }) else { return }
        process.signal(SIGKILL)
        _ = await process.waitForExit(timeout: .seconds(30))
        lock.withLock {
            kills[daemon, default: 0] += 1
            running[daemon] = nil
        }
        try await Task.sleep(for: pause)
        try start(daemon)
    }

    /// Restarts any daemon that exited although nobody killed it (as systemd would), and records it.
    func reviveExited() throws {
        let exited = lock.withLock { running.filter { !$0.value.isRunning } }
        for (daemon, process) in exited {
            let tail = process.log.split(separator: "\n").suffix(3).joined(separator: "\n    ")
            lock.withLock {
                unexpectedExits.append("\(daemon.rawValue) (pid \(process.pid)) exited on its own with status "
                                       + "\(process.process.terminationStatus); log \(process.logPath):\n    \(tail)")
            }
            try start(daemon)
        }
    }

    /// SIGTERM to every daemon; the exit status of each (graceful stop is 0).
    func stopAll() async -> [Daemon: Int32] {
        let all = lock.withLock { running }
        var statuses: [Daemon: Int32] = [:]
        for process in all.values { process.signal(SIGTERM) }
        for (daemon, process) in all { statuses[daemon] = await process.stop(grace: .seconds(30)) }
        lock.withLock { running = [:] }
        return statuses
    }

    /// Kills whatever still runs (after an error).
    func killAll() {
        let all = lock.withLock { running }
        for process in all.values { process.signal(SIGKILL) }
        lock.withLock { running = [:] }
    }
}
