import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The four daemons as child processes, one instance each, with configurations written for the
/// run (the fault run's and the benchmark's). Kills and restarts them, and notices a daemon that
/// exits on its own.
public final class DaemonFleet: @unchecked Sendable {
    public enum Daemon: String, CaseIterable, Sendable {
        case paymentWorker = "payment-worker", channelSandbox = "channel-sandbox"
        case settlementWorker = "settlement-worker", notifier
        case channelGateway = "channel-gateway"

        /// The four daemons every fleet runs; the channel gateway is added when asked for.
        public static let standard: [Daemon] = [.paymentWorker, .channelSandbox, .settlementWorker, .notifier]
    }

    /// The daemons this fleet runs.
    public let daemons: [Daemon]

    public let directory: String
    private let environment: [String: String]
    private let lock = NSLock()
    private var running: [Daemon: DaemonProcess] = [:]
    public private(set) var kills: [Daemon: Int] = [:]
    public var totalKills: Int { lock.withLock { kills.values.reduce(0, +) } }
    public private(set) var unexpectedExits: [String] = []
    private var starts = 0
    private let tag: String

    /// Writes each daemon's configuration to `<directory>/config/<daemon>.yaml` (relative paths
    /// in it resolve from there); the logs go to `<directory>/logs`.
    /// - Parameter tag: part of each instance id (`<daemon>-<tag>-<n>`).
    /// - Parameter credentials: files for `$CREDENTIALS_DIRECTORY` (name → content), as systemd's
    ///   `LoadCredential=` would give them; none: no credentials folder.
    public init(directory: String, brokers: String, stateDirectory: String, tag: String, credentials: [String: String] = [:],
                daemons: [Daemon] = Daemon.standard, configuration: (Daemon) throws -> String) throws {
        self.directory = directory
        self.daemons = daemons
        self.tag = tag
        try FileManager.default.createDirectory(atPath: "\(directory)/config", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/logs", withIntermediateDirectories: true)
        var environment = ["PAYSTREAM_BROKERS": brokers, "PAYSTREAM_STATE_DIR": stateDirectory]
        if !credentials.isEmpty {
            let folder = "\(directory)/credentials"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (name, content) in credentials { try content.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
            environment["CREDENTIALS_DIRECTORY"] = folder
        }
        self.environment = environment
        for daemon in daemons {
            try configuration(daemon).write(toFile: configPath(daemon), atomically: true, encoding: .utf8)
        }
    }

    public func configPath(_ daemon: Daemon) -> String { "\(directory)/config/\(daemon.rawValue).yaml" }

    /// Starts every daemon and waits until each has been assigned its partitions.
    public func startAll(timeout: Duration) async throws {
        for daemon in daemons { try start(daemon) }
        for daemon in daemons {
            guard let process = lock.withLock({ running[daemon] }) else { continue }
            try await process.waitForLog("partitions assigned", timeout: timeout)
        }
    }

    @discardableResult
    public func start(_ daemon: Daemon) throws -> DaemonProcess {
        let instance = lock.withLock { () -> Int in
            starts += 1
            return starts
        }
        let process = try DaemonProcess(daemon.rawValue, environment: environment.merging([
            "PAYSTREAM_CONFIG": configPath(daemon), "PAYSTREAM_INSTANCE_ID": "\(daemon.rawValue)-\(tag)-\(instance)",
        ]) { $1 }, logDirectory: "\(directory)/logs")
        lock.withLock { running[daemon] = process }
        return process
    }

    /// The running process of `daemon`, if any.
    public func process(_ daemon: Daemon) -> DaemonProcess? { lock.withLock { running[daemon] } }

    /// SIGKILL, wait for the exit, then start a new process after `pause`.
    public func kill(_ daemon: Daemon, restartAfter pause: Duration) async throws {
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
    public func reviveExited() throws {
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

    /// SIGTERM to one daemon and wait for it to exit; its exit status (nil if it was not running).
    public func stop(_ daemon: Daemon, grace: Duration = .seconds(30)) async -> Int32? {
        guard let process = lock.withLock({ running.removeValue(forKey: daemon) }) else { return nil }
        return await process.stop(grace: grace)
    }

    /// SIGTERM to every daemon; the exit status of each (graceful stop is 0).
    public func stopAll() async -> [Daemon: Int32] {
        let all = lock.withLock { running }
        var statuses: [Daemon: Int32] = [:]
        for process in all.values { process.signal(SIGTERM) }
        for (daemon, process) in all { statuses[daemon] = await process.stop(grace: .seconds(30)) }
        lock.withLock { running = [:] }
        return statuses
    }

    /// Kills whatever still runs (after an error).
    public func killAll() {
        let all = lock.withLock { running }
        for process in all.values { process.signal(SIGKILL) }
        lock.withLock { running = [:] }
    }
}
