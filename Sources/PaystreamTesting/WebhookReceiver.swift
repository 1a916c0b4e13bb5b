import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `Deploy/webhook-receiver.py` on a free loopback port: it verifies every delivery with PyPI's
/// `standardwebhooks` (not our signing code) and logs each. Stopped by its PID on `stop` or
/// release.
public final class WebhookReceiver: @unchecked Sendable {
    /// One request as the receiver logged it.
    public struct Delivery: Decodable, Sendable, Equatable {
        public let path: String
        public let webhookId: String
        public let timestamp: String?
        public let verified: Bool
        public let type: String?
        /// The answer it gave (a number, or "client gone").
        public let status: Int?
        /// How many times this webhook-id reached this path, this one included.
        public let delivery: Int
        public let receivedAt: Double
        /// A `hold` request's first line, logged when it arrived (its answer is logged later).
        public let held: Bool

        enum CodingKeys: String, CodingKey {
            case path, webhookId = "webhook_id", timestamp, verified, type, status, delivery, receivedAt = "received_at", held
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decode(String.self, forKey: .path)
            webhookId = try c.decode(String.self, forKey: .webhookId)
            timestamp = try c.decodeIfPresent(String.self, forKey: .timestamp)
            verified = try c.decode(Bool.self, forKey: .verified)
            type = try c.decodeIfPresent(String.self, forKey: .type)
            status = try? c.decodeIfPresent(Int.self, forKey: .status)
            delivery = try c.decode(Int.self, forKey: .delivery)
            receivedAt = try c.decode(Double.self, forKey: .receivedAt)
            held = try c.decodeIfPresent(Bool.self, forKey: .held) ?? false
        }
    }

    public let process = Process()
    public let port: Int
    public let logPath: String

    /// - Parameter secrets: name → `whsec_…`; a request to `/NAME/…` is verified with NAME's.
    public init(secrets: [String: String], directory: String) async throws {
        logPath = "\(directory)/webhook-receiver-\(UUID().uuidString.prefix(8)).jsonl"
        let portFile = logPath + ".port"
        process.executableURL = packageRoot.appendingPathComponent(".deps/venv/bin/python")
        process.arguments = [packageRoot.appendingPathComponent("Deploy/webhook-receiver.py").path, "--log", logPath,
                             "--port-file", portFile] + secrets.sorted { $0.key < $1.key }.flatMap { ["--secret", "\($0.key)=\($0.value)"] }
        let output = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = output
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                self.port = port
                return
            }
            guard process.isRunning, ContinuousClock.now < deadline else {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                throw TestSupportError("the webhook receiver did not start (is standardwebhooks in .deps/venv? run Deploy/setup.sh)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit { stop() }

    /// The URL of a path on this receiver, e.g. `url("a/ok")`.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)/\(path)" }

    /// Every request so far, in the order answered.
    public var deliveries: [Delivery] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Delivery.self, from: Data($0.utf8)) }
    }

    /// Answered requests to `path` (a held request's arrival line left out).
    public func deliveries(to path: String) -> [Delivery] { deliveries.filter { $0.path == "/" + path && !$0.held } }

    /// Requests to `path` that arrived, answered or not.
    public func arrivals(at path: String) -> [Delivery] {
        deliveries.filter { $0.path == "/" + path && ($0.held || !$0.path.hasSuffix("/hold")) }
    }

    /// Lets every held request (`/NAME/hold`), and every later one, be answered.
    public func release() {
        FileManager.default.createFile(atPath: logPath + ".release", contents: Data())
    }

    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
