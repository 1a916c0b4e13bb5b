import Foundation
import Logging
import Notifier
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Webhooks through the notifier daemon against Tansu and a receiver that verifies with PyPI's
/// `standardwebhooks`: a notifier killed mid-delivery; 410 through the reference topic;
/// `paystream webhooks test` and `replay` (which sends only what the notifier's shards recorded).
@Suite("notifier process: webhooks")
struct WebhookProcessTests {
    struct Setup {
        let broker: TansuBroker
        let directory: String
        let receiver: WebhookReceiver
        let credentials: String
        let environment: [String: String]

        func paystream(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await ReferenceCommandTests.paystream(arguments, broker: broker, directory: directory)
        }

        func notifier() throws -> DaemonProcess { try DaemonProcess("notifier", environment: environment, logDirectory: directory) }

        /// Registers endpoints of merchant m-1 (id → receiver path), each signed with secret A.
        func register(_ endpoints: [(id: String, path: String)]) async throws {
            var lines = ""
            for (id, path) in endpoints {
                try (WebhookDeliveryTests.secretA + "\n").write(toFile: "\(credentials)/webhook_\(id)", atomically: true, encoding: .utf8)
                lines += String(decoding: try Wire.encode(WebhookEndpointReference(
                    endpointId: id, ownerType: "merchant", ownerId: "m-1", url: receiver.url(path),
                    updatedAt: Wire.timestamp(Date()))), as: UTF8.self) + "\n"
            }
            try lines.write(toFile: "\(directory)/endpoints.jsonl", atomically: true, encoding: .utf8)
            let loaded = try await paystream(["reference", "load", "\(directory)/endpoints.jsonl"])
            #expect(loaded.status == 0, "\(loaded.output)")
        }

        /// Publishes a capture per number, for merchant m-1, keyed by payer as the payment stage does.
        func capture(_ numbers: ClosedRange<Int>) async throws {
            let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers), logger: Logger(label: "test"))
            let messages = numbers.map { n in
                let event = WebhookDeliveryTests.captured(n)
                return OutgoingMessage(topic: TopicNames().paymentEvents, key: Array(event.key!.utf8), value: Array(event.value))
            }
            for result in await producer.send(messages) { _ = try result.get() }
            await producer.close()
        }
    }

    static func setUp(schedule: [Double]) async throws -> Setup {
        let broker = try await TansuBroker.start()
        let directory = try temporaryDirectory("webhook-process")
        let receiver = try await WebhookReceiver(secrets: ["a": WebhookDeliveryTests.secretA], directory: directory)
        let credentials = "\(directory)/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        let config = "\(directory)/notifier.yaml"
        try """
            stage:
              default_locale: en
              templates_file: \(packageRoot.appendingPathComponent("Config/notification-templates.yaml").path)
              webhooks:
                retry_schedule_seconds: [\(schedule.map { "\($0)" }.joined(separator: ", "))]
                timeout_ms: 60000
                poll_interval_ms: 50
                allow: ["127.0.0.0/8"]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // A session of 6 s, not the 2 s most process tests use: on a starved machine (a full
        // suite on two cores) the broker can stall for seconds, and each session that expires
        // takes the partitions away (shards closed and restored, deliveries cancelled); with the
        // broker stopped 3 s in every 4, a 2 s session lost the group five times in a minute
        // and no delivery finished. (Tansu's first join waits about half the session.)
        let environment = ["PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": "\(directory)/state",
                           "PAYSTREAM_CONFIG": config, "CREDENTIALS_DIRECTORY": credentials,
                           "PAYSTREAM_KAFKA_SESSION_TIMEOUT_MS": "6000", "PAYSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "1000"]
        let setup = Setup(broker: broker, directory: directory, receiver: receiver, credentials: credentials, environment: environment)
        let created = try await setup.paystream(["topics", "create", "--partitions", "2"])
        #expect(created.status == 0, "\(created.output)")
        return setup
    }

    static func waitFor(_ what: String, timeout: Duration = .seconds(60), _ done: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try !done() {
            guard ContinuousClock.now < deadline else { throw TestSupportError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("a notifier killed mid-delivery resumes from its shard's queue: every notification delivered at least once, each under one webhook-id")
    func killedMidDelivery() async throws {
        let setup = try await Self.setUp(schedule: [0, 0.5, 0.5])
        defer { setup.receiver.stop(); setup.broker.stop() }
        let receiver = setup.receiver
        try await setup.register([("e-hold", "a/hold")])
        var notifier = try setup.notifier()
        try await notifier.waitForLog("partitions assigned", timeout: .seconds(30))
        try await setup.capture(1...6)
        // Deliveries are on their way (held by the receiver, up to four at once): kill it there.
        try await Self.waitFor("a delivery in flight") { receiver.arrivals(at: "a/hold").count >= 1 }
        // The endpoint holds them, the stage goes on: all twelve notifications are published.
        let reader = try await TopicReader(bootstrapServers: setup.broker.bootstrapServers, topics: ["notifications"])
        let notes = try await reader.read(timeout: .seconds(30)) { $0.count >= 12 }
        await reader.close()
        #expect(notes.count == 12 && receiver.deliveries(to: "a/hold").isEmpty)
        notifier.signal(SIGKILL)
        _ = await notifier.waitForExit(timeout: .seconds(10))
        let cut = Set(receiver.arrivals(at: "a/hold").map(\.webhookId))
        receiver.release()
        notifier = try setup.notifier()
        defer { notifier.signal(SIGKILL) }
        let expected = Set((1...6).map { "nt:pe:user-\($0):pay-\($0):2:merchant:m-1" })
        // (A held request is answered on release even though its sender is gone: the cut ones
        // count as delivered only once the new notifier has sent them again.)
        try await Self.waitFor("every notification delivered, the cut ones again") {
            Set(receiver.deliveries(to: "a/hold").filter { $0.status == 200 }.map(\.webhookId)) == expected
                && cut.allSatisfy { id in receiver.arrivals(at: "a/hold").filter { $0.webhookId == id }.count >= 2 }
        }
        #expect(await notifier.stop() == 0)
        let arrivals = receiver.arrivals(at: "a/hold")
        #expect(!cut.isEmpty && cut.isSubset(of: expected))
        #expect(Set(arrivals.map(\.webhookId)) == expected, "only the notifications' own ids")
        // Each cut delivery came again, under its id: at least twice in all.
        for id in cut { #expect(arrivals.filter { $0.webhookId == id }.count >= 2, "\(id)") }
        #expect(receiver.deliveries.allSatisfy { $0.verified })
    }

    @Test("410 disables the endpoint on the reference topic and tells its owner; webhooks test signs a test delivery; replay re-sends dead letters under their ids")
    func goneTestAndReplay() async throws {
        let setup = try await Self.setUp(schedule: [0])
        defer { setup.receiver.stop(); setup.broker.stop() }
        let receiver = setup.receiver
        try await setup.register([("e-gone", "a/gone"), ("e-fail", "a/fail")])
        let notifier = try setup.notifier()
        defer { notifier.signal(SIGKILL) }
        try await notifier.waitForLog("partitions assigned", timeout: .seconds(30))
        try await setup.capture(1...2)

        let reader = try await TopicReader(bootstrapServers: setup.broker.bootstrapServers,
                                           topics: ["notifications.webhooks.dlq", "reference.webhook-endpoints", "notifications"])
        let records = try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == "notifications.webhooks.dlq" }.count >= 4
                && records.contains { $0.topic == "notifications" && String(decoding: $0.value, as: UTF8.self).contains("webhook.endpoint_disabled") }
                && records.contains { $0.topic == "reference.webhook-endpoints" && String(decoding: $0.value, as: UTF8.self).contains("410") }
        }
        await reader.close()
        let letters = records.filter { $0.topic == "notifications.webhooks.dlq" }.compactMap { try? Wire.decode(WebhookDeadLetter.self, from: Data($0.value)) }
        #expect(letters.filter { $0.endpointId == "e-fail" }.allSatisfy { $0.reason == "attempts_exhausted" && $0.attempts.map(\.status) == [500] })
        #expect(Set(letters.filter { $0.endpointId == "e-gone" }.map(\.reason)).isSubset(of: ["endpoint_gone", "endpoint_disabled"]))
        let endpoints = records.filter { $0.topic == "reference.webhook-endpoints" }.compactMap { try? Wire.decode(WebhookEndpointReference.self, from: Data($0.value)) }
        #expect(endpoints.last { $0.endpointId == "e-gone" }?.enabled == false)
        #expect(receiver.deliveries(to: "a/gone").count >= 1 && receiver.deliveries.allSatisfy { $0.verified })

        // webhooks test: a signed webhook.test, verified by the receiver; exit 1 when not 2xx.
        let repointed = try await setup.paystream(["webhooks", "test", "e-fail", "--credentials-directory", setup.credentials, "--allow", "127.0.0.0/8"])
        #expect(repointed.status == 1 && repointed.output.contains("HTTP 500"), "\(repointed.output)")
        try await setup.register([("e-fail", "a/ok")])
        let tested = try await setup.paystream(["webhooks", "test", "e-fail", "--credentials-directory", setup.credentials, "--allow", "127.0.0.0/8"])
        #expect(tested.status == 0 && tested.output.contains("HTTP 200"), "\(tested.output)")
        #expect(receiver.deliveries(to: "a/ok").last.map { $0.type == "webhook.test" && $0.verified } == true)

        // Someone who can write to the topic: one of e-fail's letters written again with another
        // body (the same event id: it replaces the original there), and a letter of a delivery
        // the notifier never made. Replay sends what the notifier's shard recorded, or nothing.
        let original = try #require(letters.first { $0.endpointId == "e-fail" })
        var tampered = original
        tampered.body = original.body.replacingOccurrences(of: "payment.captured", with: "payment.refunded")
        var forged = original
        forged.eventId = "wdl:forged"
        forged.webhookId = "nt:forged"
        forged.body = tampered.body
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: setup.broker.bootstrapServers), logger: Logger(label: "test"))
        for letter in [tampered, forged] {
            _ = try await producer.send(OutgoingMessage(topic: "notifications.webhooks.dlq", key: Array(letter.endpointId.utf8),
                                                        value: Array(try Wire.encode(letter))))
        }
        await producer.close()
        let state = try #require(setup.environment["PAYSTREAM_STATE_DIR"])

        // replay: e-fail's letters go again under their ids (now to a/ok) with the bodies the
        // notifier recorded; e-gone's are skipped, its endpoint being disabled, and the forged one,
        // which no shard recorded (exit 1 says so).
        let dry = try await setup.paystream(["webhooks", "replay", "--dry-run", "--endpoint", "e-fail", "--credentials-directory", setup.credentials, "--allow", "127.0.0.0/8",
                                             "--state-dir", state])
        #expect(dry.output.contains("3 of 5 dead-lettered deliveries chosen") && dry.output.contains("nt:forged → e-fail")
                && dry.output.contains("no notifier shard"), "\(dry.output)")
        let replayed = try await setup.paystream(["webhooks", "replay", "--credentials-directory", setup.credentials, "--allow", "127.0.0.0/8", "--state-dir", state])
        #expect(replayed.status == 1 && replayed.output.contains("2 delivered, 0 failed, 3 skipped"), "\(replayed.output)")
        #expect(replayed.output.contains("\(original.webhookId) → e-fail") && replayed.output.contains("differs from what the notifier recorded"),
                "\(replayed.output)")
        let failIDs = Set(letters.filter { $0.endpointId == "e-fail" }.map(\.webhookId))
        #expect(Set(receiver.deliveries(to: "a/ok").filter { $0.type == "payment.captured" && $0.status == 200 }.map(\.webhookId)) == failIDs)
        #expect(!receiver.deliveries.contains { $0.type == "payment.refunded" || $0.webhookId == "nt:forged" })
        #expect(receiver.deliveries.allSatisfy { $0.verified })
    }
}
