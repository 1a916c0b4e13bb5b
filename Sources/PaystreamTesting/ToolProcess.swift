import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to its end (standard output and error together, `input` on standard input) and
/// returns its exit status and output: for the system tools the tests check with
/// (systemd-analyze, promtool, bash scripts).
public func runTool(_ executable: String, _ arguments: [String], input: String? = nil,
                    directory: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = input.map { _ in Pipe() }
    if let stdin { process.standardInput = stdin }
    try process.run()
    if let stdin, let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, printed)
}

/// A broker with the pipeline's topics (2 partitions) and a notifier process configured with the
/// shipped templates, for tests of what every daemon does (notify, metrics, health).
public struct NotifierUnderTest: Sendable {
    public let broker: TansuBroker
    public let directory: String
    public let daemon: DaemonProcess

    public static func start(_ label: String, environment: [String: String] = [:]) async throws -> NotifierUnderTest {
        let broker = try await TansuBroker.start()
        do {
            let directory = try temporaryDirectory(label)
            let created = try DaemonProcess("paystream", arguments: ["topics", "create", "--partitions", "2"],
                                            environment: ["PAYSTREAM_BROKERS": broker.bootstrapServers], logDirectory: directory)
            guard await created.waitForExit(timeout: .seconds(60)) == 0 else { throw TestSupportError("topics create failed:\n\(created.log)") }
            let config = "\(directory)/notifier.yaml"
            try "stage:\n  templates_file: \(packageRoot.appendingPathComponent("Config/notification-templates.yaml").path)\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try DaemonProcess("notifier", environment: [
                "PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": directory, "PAYSTREAM_CONFIG": config,
                "PAYSTREAM_KAFKA_SESSION_TIMEOUT_MS": "2000", "PAYSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
            ].merging(environment) { $1 }, logDirectory: directory)
            return NotifierUnderTest(broker: broker, directory: directory, daemon: daemon)
        } catch {
            broker.stop()
            throw error
        }
    }

    /// Kills the notifier if it still runs, and stops the broker.
    public func stop() {
        daemon.signal(SIGKILL)
        broker.stop()
    }
}

/// Runs a Python script with the project's virtual environment (`.deps/venv`, where
/// Deploy/setup.sh installs the independent verifiers: standardwebhooks, wechatpayv3,
/// python-alipay-sdk), `input` on standard input.
public func runPython(_ script: String, input: String, arguments: [String] = []) throws -> (status: Int32, output: String) {
    try runTool(packageRoot.appendingPathComponent(".deps/venv/bin/python").path, ["-c", script] + arguments, input: input)
}
