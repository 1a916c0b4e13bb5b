import Foundation
import Logging
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaystreamReference
import PaystreamTesting
import Testing

@Suite("payment-worker process with reference topics")
struct ReferenceDaemonTests {
    @Test("missing reference topics: exit 1 naming them; with them: catches up, logs the summary, ready, SIGTERM exits 0; a merchant outside the bounds is refused and counted")
    func referenceTopicsAtStart() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let logs = try temporaryDirectory()
        try broker.createTopics(TopicNames().all, partitions: 2)
        let config = "\(logs)/payment-worker.yaml"
        try """
            stage:
              policy_file: \(packageRoot.appendingPathComponent("Config/payment-policy.json").path)
            reference:
              catch_up_timeout_ms: 20000
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": logs, "PAYSTREAM_CONFIG": config,
                           "PAYSTREAM_KAFKA_SESSION_TIMEOUT_MS": "2000", "PAYSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
                           "PAYSTREAM_KAFKA_FETCH_WAIT_MAX_MS": "10"]
        let early = try DaemonProcess("payment-worker", environment: environment, logDirectory: logs)
        #expect(await early.waitForExit(timeout: .seconds(20)) == 1)
        #expect(early.log.contains("reference topic(s) reference.merchants, reference.credit-lines, reference.fx-rates do not exist"),
                "\(early.log)")

        try broker.createTopics(TopicNames().reference, partitions: 3)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers),
                                         logger: Logger(label: "test"))
        let results = await producer.send(try [
            ReferenceUpdate.merchant(TestReference.merchant("m-1")),
            .merchant(TestReference.merchant("m-2")),
            .creditLine(TestReference.creditLines[0]),
            // 90 % commission: above the default bound (3000 basis points), as a forged or mistyped update would be.
            .merchant(MerchantReference(merchantId: "m-greedy", status: .active, settlementCurrency: "CNY", commissionBasisPoints: 9_000)),
        ].map { try $0.message(in: TopicNames()) })
        await producer.close()
        for result in results { _ = try result.get() }

        let daemon = try DaemonProcess("payment-worker", environment: environment, logDirectory: logs)
        try await daemon.waitForLog("msg=ready", timeout: .seconds(30))
        let log = daemon.log
        #expect(log.contains(#"msg="reference data caught up""#))
        #expect(log.contains(#"reference.keys="reference.merchants=2,reference.credit-lines=1,reference.fx-rates=0""#))
        let caughtUp = try #require(log.range(of: "reference data caught up"))
        let ready = try #require(log.range(of: "msg=ready"))
        #expect(caughtUp.lowerBound < ready.lowerBound)
        #expect(FileManager.default.fileExists(atPath: "\(logs)/payment-worker/reference.sqlite"))
        #expect(log.contains("commission_basis_points 9000 is above the configured maximum 3000"), "\(log)")
        let address = try #require(log.split(separator: " ").first { $0.hasPrefix("metrics.address=") }?.dropFirst("metrics.address=".count))
        let metrics = try MetricsEndpointTests.get("http://\(address.trimmingCharacters(in: .whitespacesAndNewlines))/metrics").body
        #expect(metrics.contains(#"paystream_reference_refused_total{topic="reference.merchants"} 1"#), "\(metrics)")
        #expect(await daemon.stop() == 0)
    }
}
