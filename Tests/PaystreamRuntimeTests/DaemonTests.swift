import Foundation
import PaystreamRuntime
import SettlementWorker
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    typealias Config = DaemonConfiguration<SettlementStage.Settings>

    func resolve(_ arguments: [String], env: [String: String] = [:]) throws -> Config {
        try Config.resolve(daemon: "settlement-worker", options: try DaemonOptions.parse(arguments), environment: env,
                           stageDefaults: try SettlementStage.Settings())
    }

    @Test("flags win over the environment, the environment over the file")
    func precedence() throws {
        let directory = try temporaryDirectory()
        let file = "\(directory)/c.yaml"
        try """
        brokers: file:1
        state_dir: /from/file
        topic_prefix: "file."
        batch: { max_records: 7, max_wait_ms: 3 }
        sqlite: { synchronous: NORMAL, allow_unsafe_synchronous: true }
        outbox: { delivery_failure_timeout_ms: 5000 }
        snapshot: { every_mb: 16, every_hours: 0.5 }
        standby: { partitions: [0, 2] }
        kafka: { "fetch.wait.max.ms": 10, "client.id": file-client }
        stage: { installment_grace_days: 5, timer_interval_ms: 250, payout_minimums: { CNY: 500 } }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["PAYSTREAM_CONFIG": file, "PAYSTREAM_BROKERS": "env:2", "PAYSTREAM_STATE_DIR": "/from/env",
                   "PAYSTREAM_KAFKA_SASL_PASSWORD": "secret"]
        let config = try resolve(["--brokers", "flag:3"], env: env)
        #expect(config.brokers == "flag:3")
        #expect(config.stateDirectory == "/from/env")
        #expect(config.topicPrefix == "file.")
        #expect(config.topics.paymentRequests == "file.payments.requests")
        #expect(config.worker.maxBatchRecords == 7)
        #expect(config.worker.maxBatchWait == .milliseconds(3))
        #expect(config.worker.synchronous == .normal)
        #expect(config.worker.allowUnsafeSynchronous)
        #expect(config.worker.deliveryFailureTimeout == .seconds(5))
        #expect(config.worker.snapshotEveryBytes == 16 << 20 && config.worker.snapshotEvery == .seconds(1800))
        #expect(config.worker.standby == .partitions([0, 2]))
        #expect(config.kafkaProperties["fetch.wait.max.ms"] == "10")
        #expect(config.kafkaProperties["sasl.password"] == "secret")
        #expect(config.kafka.properties["client.id"] == "file-client")
        #expect(config.stage.installmentGraceDays == 5)
        #expect(config.stage.timerIntervalMs == 250)
        #expect(config.stage.payoutMinimums == ["CNY": 500])
        #expect(config.groupID == "file.paystream.settlement-worker")
    }

    @Test("bad configuration is refused with a message naming the problem", arguments: [
        (["--brokers", "h:1", "--log-level", "loud"], [:], "log level 'loud'"),
        ([], [:], "no brokers"),
        (["--brokers", "localhost"], [:], "not HOST:PORT"),
        (["--brokers", "h:1", "--log-format", "xml"], [:], "log format 'xml'"),
        (["--brokers", "h:1"], ["PAYSTREAM_SQLITE_SYNCHRONOUS": "sometimes"], "sqlite.synchronous"),
        (["--brokers", "h:1", "--config", "/nonexistent/paystream.yaml"], [:], "cannot read config file"),
    ] as [([String], [String: String], String)])
    func refused(arguments: [String], env: [String: String], expected: String) {
        do {
            _ = try resolve(arguments, env: env)
            Issue.record("accepted \(arguments)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test("unknown keys and bad values in the file are refused", arguments: [
        ("bacth: { max_records: 5 }", "unknown key(s) bacth"),
        ("batch: { max_records: -1 }", "batch.max_records must be positive"),
        ("stage: { installment_grace_days: 400 }", "installment_grace_days"),
        ("stage: { payout_minimums: { XXY: 1 } }", "'XXY' is not an ISO 4217 currency"),
        ("stage: { fee_basis_points: 60 }", "fees come from each merchant's fee plan"),
        ("batch: [1, 2]", "batch"),
        ("- just a list", "expected a mapping"),
    ])
    func refusedFile(text: String, expected: String) throws {
        let file = "\(try temporaryDirectory())/c.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        do {
            _ = try resolve(["--brokers", "h:1", "--config", file])
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }
}

@Suite("Daemon processes")
struct DaemonProcessTests {
    @Test("bad configuration: exit 2 with a clear message")
    func badConfiguration() async throws {
        let logs = try temporaryDirectory()
        let daemon = try DaemonProcess("payment-worker", arguments: ["--brokers", "nohost"], environment: ["PAYSTREAM_BROKERS": ""],
                                       logDirectory: logs)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) == 2)
        #expect(daemon.log.contains("payment-worker: configuration error: broker 'nohost' is not HOST:PORT"))
    }

    @Test("payment-worker without a payment policy refuses to start (exit 2); with an inconsistent one too")
    func paymentPolicyRequired() async throws {
        let logs = try temporaryDirectory()
        let missing = try DaemonProcess("payment-worker", arguments: ["--brokers", "127.0.0.1:9"], logDirectory: logs)
        #expect(await missing.waitForExit(timeout: .seconds(30)) == 2)
        #expect(missing.log.contains("stage.policy_file is required"))

        try #"{"enabled_currencies":["CNY","ZZZ"],"enabled_methods":["card"],"capabilities":{},"method_maximum":{},"risk_limits":{},"refund_window_days":{}}"#
            .write(toFile: "\(logs)/policy.json", atomically: true, encoding: .utf8)
        try "stage:\n  policy_file: policy.json\n".write(toFile: "\(logs)/pw.yaml", atomically: true, encoding: .utf8)
        let inconsistent = try DaemonProcess("payment-worker", arguments: ["--brokers", "127.0.0.1:9", "--config", "\(logs)/pw.yaml"],
                                             logDirectory: logs)
        #expect(await inconsistent.waitForExit(timeout: .seconds(30)) == 2)
        #expect(inconsistent.log.contains("payment policy \(logs)/policy.json is inconsistent"))
        #expect(inconsistent.log.contains("ZZZ"))
    }

    @Test("notifier: no templates file, or one with a template using a variable its event lacks, stops it at start (exit 2) naming the entry")
    func notifierTemplatesChecked() async throws {
        let logs = try temporaryDirectory()
        let missing = try DaemonProcess("notifier", arguments: ["--brokers", "127.0.0.1:9"], logDirectory: logs)
        #expect(await missing.waitForExit(timeout: .seconds(30)) == 2)
        #expect(missing.log.contains("stage.templates_file is required"), "\(missing.log)")

        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("Config/notification-templates.yaml"), encoding: .utf8)
        let broken = shipped.replacingOccurrences(of: "Payout {{payout_id}} of {{amount}} was paid\"}\n  supplier",
                                                  with: "Payout {{payout_id}} of {{amount}} was paid to {{iban}}\"}\n  supplier")
        #expect(broken != shipped)
        try broken.write(toFile: "\(logs)/templates.yaml", atomically: true, encoding: .utf8)
        try "stage:\n  templates_file: templates.yaml\n".write(toFile: "\(logs)/nt.yaml", atomically: true, encoding: .utf8)
        let bad = try DaemonProcess("notifier", arguments: ["--brokers", "127.0.0.1:9", "--config", "\(logs)/nt.yaml"], logDirectory: logs)
        #expect(await bad.waitForExit(timeout: .seconds(30)) == 2)
        #expect(bad.log.contains("notification templates \(logs)/templates.yaml: payout.confirmed.merchant.en.body: {{iban}} is not a variable"),
                "\(bad.log)")
    }

    @Test("payment-worker settings: an idempotency window under 7 days, or longer than the outbox keeps events, and bad timeouts are refused (exit 2)",
          arguments: [
              ("stage: { idempotency_retention_hours: 24 }", "must be 168 (7 days)"),
              ("inbox: { retention_hours: 168 }\nstage: { idempotency_retention_hours: 200 }", "must not exceed inbox.retention_hours"),
              ("stage: { authorization: { query_after_seconds: 0 } }", "timeouts must be above 0"),
              ("stage: { authorization: { methods: { cheque: { query_after_seconds: 5, expire_after_seconds: 5 } } } }", "'cheque' is not a payment method"),
              ("stage: { expiry_check_interval_ms: 1 }", "must be 10 to 3600000"),
          ])
    func paymentSettingsChecked(_ yaml: String, _ words: String) async throws {
        let logs = try temporaryDirectory()
        let policy = packageRoot.appendingPathComponent("Config/payment-policy.json").path
        let file = yaml.contains("stage: {") ? yaml.replacingOccurrences(of: "stage: {", with: "stage: { policy_file: \(policy),") : yaml
        try file.write(toFile: "\(logs)/pw.yaml", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess("payment-worker", arguments: ["--brokers", "127.0.0.1:9", "--config", "\(logs)/pw.yaml"],
                                       logDirectory: logs)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) == 2)
        #expect(daemon.log.contains(words), "\(daemon.log)")
    }

    @Test("a librdkafka property librdkafka refuses: exit 2 naming it, without printing secrets")
    func badKafkaProperty() async throws {
        let logs = try temporaryDirectory()
        let daemon = try DaemonProcess("channel-sandbox", arguments: ["--brokers", "127.0.0.1:9"],
                                       environment: ["PAYSTREAM_KAFKA_NOT_A_PROPERTY": "1",
                                                     "PAYSTREAM_KAFKA_SASL_PASSWORD": "hunter2"],
                                       logDirectory: logs)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) == 2)
        #expect(daemon.log.contains("Kafka property not.a.property=1"))
        #expect(!daemon.log.contains("hunter2"))
    }

    @Test("a money stage refuses sqlite.synchronous below FULL (exit 2); allowed by name, it starts with a warning")
    func moneyStagesNeedFullSynchronous() async throws {
        let logs = try temporaryDirectory()
        let port = try freeLoopbackPort()
        let base = ["PAYSTREAM_SQLITE_SYNCHRONOUS": "NORMAL", "PAYSTREAM_STATE_DIR": logs]
        let refused = try DaemonProcess("settlement-worker", arguments: ["--brokers", "127.0.0.1:\(port)"],
                                        environment: base, logDirectory: logs)
        #expect(await refused.waitForExit(timeout: .seconds(30)) == 2)
        #expect(refused.log.contains("settlement-worker keeps money: sqlite.synchronous must be FULL"), "\(refused.log)")
        #expect(refused.log.contains("sqlite.allow_unsafe_synchronous"))

        let allowed = try DaemonProcess("settlement-worker", arguments: ["--brokers", "127.0.0.1:\(port)", "--connect-timeout", "1"],
                                        environment: base.merging(["PAYSTREAM_SQLITE_ALLOW_UNSAFE_SYNCHRONOUS": "true"]) { $1 },
                                        logDirectory: logs)
        #expect(await allowed.waitForExit(timeout: .seconds(20)) == 1)  // past the check, then no broker
        #expect(allowed.log.contains("UNSAFE: sqlite.synchronous below FULL"), "\(allowed.log)")

        // A stage without money may run with NORMAL.
        let sandbox = try DaemonProcess("channel-sandbox", arguments: ["--brokers", "127.0.0.1:\(port)", "--connect-timeout", "1"],
                                        environment: base, logDirectory: logs)
        #expect(await sandbox.waitForExit(timeout: .seconds(20)) == 1)
        #expect(!sandbox.log.contains("UNSAFE"))
    }

    @Test("a worker whose group session expired (process stopped) logs the partitions it lost at warning, then goes on")
    func lostMembershipLogged() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        try broker.createTopics(TopicNames().all, partitions: 2)
        let logs = try temporaryDirectory()
        let environment = ["PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": logs,
                           "PAYSTREAM_KAFKA_SESSION_TIMEOUT_MS": "2000", "PAYSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "300"]
        let daemon = try DaemonProcess("channel-sandbox", environment: environment, logDirectory: logs)
        try await daemon.waitForLog("partitions assigned", timeout: .seconds(30))
        daemon.signal(SIGSTOP)  // no heartbeats: the group expires the member
        try await Task.sleep(for: .seconds(6))
        daemon.signal(SIGCONT)
        try await daemon.waitForLog("group membership lost", timeout: .seconds(30))
        let line = daemon.log.split(separator: "\n").first { $0.contains("group membership lost") }.map(String.init) ?? ""
        #expect(line.contains("level=warning") && line.contains(#"kafka.partitions="[0, 1]""#), "\(line)")
        #expect(await daemon.stop() == 0)
    }

    @Test("no broker within the connect timeout: exit 1 with a clear message")
    func unreachableBroker() async throws {
        let logs = try temporaryDirectory()
        let port = try freeLoopbackPort()
        let daemon = try DaemonProcess("settlement-worker",
                                       arguments: ["--brokers", "127.0.0.1:\(port)", "--connect-timeout", "1",
                                                   "--state-dir", logs],
                                       logDirectory: logs)
        #expect(await daemon.waitForExit(timeout: .seconds(60)) == 1)
        // The process's own running time: the test's executor may be busy with other suites.
        let ran = try #require(daemon.runningTime)
        #expect(ran < .seconds(15), "\(ran)")
        #expect(daemon.log.contains("no Kafka broker reachable at 127.0.0.1:\(port)"))
    }

    @Test("missing input topics, then missing output topics: exit 1 naming them; with every topic: ready, then SIGTERM exits 0")
    func readyAndGracefulStop() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let logs = try temporaryDirectory()
        let config = "\(logs)/notifier.yaml"
        try "stage:\n  templates_file: \(packageRoot.appendingPathComponent("Config/notification-templates.yaml").path)\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": logs, "PAYSTREAM_CONFIG": config,
                           "PAYSTREAM_KAFKA_SESSION_TIMEOUT_MS": "2000", "PAYSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "300"]
        let early = try DaemonProcess("notifier", environment: environment, logDirectory: logs)
        #expect(await early.waitForExit(timeout: .seconds(20)) == 1)
        #expect(early.log.contains("input topic(s) payments.events, settlements.events, payments.events.repartition, settlements.events.repartition do not exist"),
                "\(early.log)")

        try broker.createTopics(["payments.events", "settlements.events", "payments.events.repartition",
                                 "settlements.events.repartition"], partitions: 2)
        // The notifier reads merchants' locales from the reference topics.
        let noReference = try DaemonProcess("notifier", environment: environment, logDirectory: logs)
        #expect(await noReference.waitForExit(timeout: .seconds(20)) == 1)
        #expect(noReference.log.contains("reference topic(s) reference.merchants, reference.webhook-endpoints do not exist"),
                "\(noReference.log)")
        try broker.createTopics(["reference.merchants", "reference.webhook-endpoints"], partitions: 1)
        let noOutputs = try DaemonProcess("notifier", environment: environment, logDirectory: logs)
        #expect(await noOutputs.waitForExit(timeout: .seconds(20)) == 1)
        #expect(noOutputs.log.contains("output topic(s) notifications, notifications.webhooks.dlq, payments.events.dlq, settlements.events.dlq, notifications.dlq, notifier.changelog do not exist"),
                "\(noOutputs.log)")

        try broker.createTopics(["notifications", "notifications.webhooks.dlq", "payments.events.dlq", "settlements.events.dlq",
                                 "notifications.dlq", "notifier.changelog"], partitions: 2)
        let daemon = try DaemonProcess("notifier", arguments: ["--log-format", "json"], environment: environment,
                                       logDirectory: logs)
        try await daemon.waitForLog("\"msg\":\"ready\"", timeout: .seconds(20))
        try await daemon.waitForLog("partitions assigned", timeout: .seconds(20))
        #expect(await daemon.stop() == 0)
        #expect(daemon.log.contains("\"msg\":\"stopped\""))
    }
}
