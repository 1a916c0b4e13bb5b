import Foundation
import PaystreamRuntime
import PaystreamTesting
import Testing

/// The units in Deploy/systemd, checked offline (systemd cannot run as PID 1 here): each
/// daemon's template passes `systemd-analyze verify` without a word and scores an exposure of
/// 2.0 or less in `systemd-analyze security --offline=yes`; and Kafka secrets come from
/// credentials.
@Suite("systemd units")
struct SystemdUnitTests {
    static let daemons = ["payment-worker", "settlement-worker", "notifier", "reconciler", "channel-sandbox", "channel-gateway"]

    static func run(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
        try runTool("/usr/bin/systemd-analyze", arguments, directory: directory)
    }

    /// The unit files as installed, but starting the binaries this build made (verify checks
    /// that ExecStart= exists).
    static func units() throws -> String {
        let directory = try temporaryDirectory("units")
        let source = packageRoot.appendingPathComponent("Deploy/systemd")
        let bin = try productsDirectory().path
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            let text = try String(contentsOf: source.appendingPathComponent(name), encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/", with: bin + "/").write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test("every daemon has a template unit and the fleet a target; systemd-analyze verify has nothing to say about any")
    func verify() throws {
        let directory = try Self.units()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == (Self.daemons.map { "paystream-\($0)@.service" } + ["paystream.target"]).sorted())
        for name in names {
            let result = try Self.run(["verify", "./\(name)"], in: directory)
            #expect(result.status == 0 && result.output.isEmpty, "\(name): \(result.output)")
        }
    }

    @Test("each unit's exposure in systemd-analyze security --offline=yes is at most 2.0", arguments: daemons)
    func exposure(_ daemon: String) throws {
        let directory = try Self.units()
        let result = try Self.run(["security", "--offline=yes", "--threshold=20", "./paystream-\(daemon)@a.service"], in: directory)
        #expect(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 2.0, "\(line)")
    }

    @Test("Kafka secrets from systemd credentials: kafka_<property> files become librdkafka properties, the environment still wins")
    func kafkaCredentials() throws {
        let folder = try temporaryDirectory("credentials")
        try "s3cret\n".write(toFile: "\(folder)/kafka_sasl.password", atomically: true, encoding: .utf8)
        try "whsec_x\n".write(toFile: "\(folder)/webhook_e-1", atomically: true, encoding: .utf8)
        #expect(try kafkaProperties(fromCredentials: folder) == ["sasl.password": "s3cret"])
        #expect(try kafkaProperties(fromCredentials: nil).isEmpty)
        let options = try DaemonOptions.parse(["--brokers", "127.0.0.1:9"])
        let config = try DaemonConfiguration<EmptySettings>.resolve(
            daemon: "payment-worker", options: options, environment: ["CREDENTIALS_DIRECTORY": folder], stageDefaults: EmptySettings())
        #expect(config.kafkaProperties["sasl.password"] == "s3cret")
        let overridden = try DaemonConfiguration<EmptySettings>.resolve(
            daemon: "payment-worker", options: options,
            environment: ["CREDENTIALS_DIRECTORY": folder, "PAYSTREAM_KAFKA_SASL_PASSWORD": "from-env"], stageDefaults: EmptySettings())
        #expect(overridden.kafkaProperties["sasl.password"] == "from-env")
    }
    /// A unit's `Key=value` lines, in order.
    static func settings(_ daemon: String) throws -> [(key: String, value: String)] {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Deploy/systemd/paystream-\(daemon)@.service"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<equals]), String(line[line.index(after: equals)...]))
        }
    }

    @Test("each daemon its own identity: its own dynamic user, state folder and credential folders; network denied but for what it needs; memory and task limits", arguments: daemons)
    func identity(_ daemon: String) throws {
        let settings = try Self.settings(daemon)
        func values(_ key: String) -> [String] { settings.filter { $0.key == key }.map(\.value) }
        #expect(values("DynamicUser") == ["yes"])
        #expect(values("User") == ["paystream-\(daemon)"])
        #expect(values("StateDirectory") == ["paystream/\(daemon)"])
        #expect(values("ExecStart").first?.contains("--state-dir %S/paystream") == true)
        let credentials = values("LoadCredential")
        #expect(!credentials.isEmpty && credentials.allSatisfy { $0.contains(":/etc/paystream/\(daemon)/") }, "\(credentials)")
        #expect(credentials.contains("kafka:/etc/paystream/\(daemon)/kafka"))
        let deny = values("IPAddressDeny").joined(separator: " ").split(separator: " ").map(String.init)
        if daemon == "notifier" || daemon == "channel-gateway" {
            // Public addresses (webhook endpoints, channel APIs) only: every special range denied.
            for range in ["localhost", "link-local", "multicast", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"] {
                #expect(deny.contains(range), "\(daemon) does not deny \(range)")
            }
        } else {
            #expect(deny == ["any"], "\(daemon): \(deny)")
        }
        #expect(!values("MemoryMax").isEmpty && !values("TasksMax").isEmpty)
    }

    @Test("no two daemons share a user, a state folder or a credential folder")
    func separate() throws {
        var seen: [String: String] = [:]
        for daemon in Self.daemons {
            for (key, value) in try Self.settings(daemon) where ["User", "StateDirectory", "LoadCredential"].contains(key) {
                let thing = key == "LoadCredential" ? String(value.split(separator: ":", maxSplits: 1).last ?? "") : value
                if let other = seen["\(key)=\(thing)"] { Issue.record("\(daemon) and \(other) share \(key)=\(thing)") }
                seen["\(key)=\(thing)"] = daemon
            }
        }
    }
}


struct EmptySettings: Decodable, Sendable {}
