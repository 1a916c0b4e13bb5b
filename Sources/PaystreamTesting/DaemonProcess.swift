import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One of the package's executables started as a child process, its output in a log file.
/// Tests stop it by its PID (`signal`, `stop`); a value released while running is killed.
public final class DaemonProcess: @unchecked Sendable {
    public let name: String
    public let process = Process()
    public let logPath: String
    /// When the process was started, and when it ended (set from Foundation's termination
    /// handler, so a busy test executor does not delay it).
    public let startedAt: ContinuousClock.Instant
    private let ended = EndTime()

    /// Set once by the termination handler; its own object, so the handler does not keep the
    /// `DaemonProcess` alive (its deinit kills a process still running).
    private final class EndTime: @unchecked Sendable {
        private let lock = NSLock()
        private var instant: ContinuousClock.Instant?

        func set(_ now: ContinuousClock.Instant) {
            lock.lock()
            defer { lock.unlock() }
            instant = instant ?? now
        }

        var value: ContinuousClock.Instant? {
            lock.lock()
            defer { lock.unlock() }
            return instant
        }
    }

    public init(_ executable: String, arguments: [String] = [], environment: [String: String] = [:],
                logDirectory: String) throws {
        name = executable
        logPath = "\(logDirectory)/\(executable)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = try productsDirectory().appendingPathComponent(executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        // The answer keys (`TestAnswerKeys`), where systemd's LoadCredential=answers:… would put
        // them: into the test's own credentials folder, else a folder holding only them.
        if let folder = environment["CREDENTIALS_DIRECTORY"], !folder.isEmpty {
            try TestAnswerKeys.write(into: folder)
        } else {
            environment["CREDENTIALS_DIRECTORY"] = TestAnswerKeys.folder
        }
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        startedAt = ContinuousClock.now
        process.terminationHandler = { [ended] process in
            ended.set(ContinuousClock.now)
            ChildProcesses.ended(process.processIdentifier)
        }
        try process.run()
        ChildProcesses.started(process.processIdentifier)
    }

    /// How long the process ran, once it has ended.
    public var runningTime: Duration? { ended.value.map { $0 - startedAt } }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to exit (and its termination handler to have run, so that
    /// `runningTime` is known); returns its status, or nil if it still runs after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning || ended.value == nil {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Waits until the log contains `text`.
    public func waitForLog(_ text: String, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !log.contains(text) {
            guard process.isRunning else { throw TestSupportError("\(name) exited before logging '\(text)':\n\(log)") }
            guard ContinuousClock.now < deadline else { throw TestSupportError("\(name) did not log '\(text)' in time:\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM, then SIGKILL if still running after `grace`. Returns the exit status.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Int32 {
        signal(SIGTERM)
        if let status = await waitForExit(timeout: grace) { return status }
        signal(SIGKILL)
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// The directory the package's executables are built into (next to the test bundle).
public func productsDirectory() throws -> URL {
    var candidates: [URL] = []
    if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    candidates.append(packageRoot.appendingPathComponent(".build/debug"))
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("payment-worker").path) {
        return candidate
    }
    throw TestSupportError("cannot find the built executables near \(candidates.map(\.path))")
}

/// A fresh directory under the system's temporary directory.
public func temporaryDirectory(_ label: String = "paystream-test") throws -> String {
    let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// librdkafka settings for tests against Tansu: a fast first group join and short fetch waits.
/// Tansu makes every fetch wait its full `fetch.wait.max.ms`, so an idle consumer fetches
/// 1000 / that many times a second: at 25 ms the suite's consumers leave the two cores enough
/// room (at 10 ms the whole suite took 162 s instead of 140 s).
public let fastKafkaProperties: [String: String] = [
    "session.timeout.ms": "2000",
    "heartbeat.interval.ms": "300",
    "fetch.wait.max.ms": "25",
    "topic.metadata.refresh.interval.ms": "1000",
]
