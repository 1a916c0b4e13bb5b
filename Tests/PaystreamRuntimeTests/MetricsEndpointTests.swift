import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing

/// A daemon's HTTP listener against Tansu: `/metrics` in Prometheus' text format that Debian's
/// `promtool check metrics` accepts, with the runtime's counters moving and only fixed labels;
/// `/livez` and `/readyz`.
@Suite("metrics and health endpoint")
struct MetricsEndpointTests {
    /// curl's answer: status, content type, body.
    static func get(_ url: String) throws -> (status: Int, contentType: String, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-o", "-", "-w", "\n%{http_code} %{content_type}", url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let split = output.range(of: "\n", options: .backwards) else { return (0, "", output) }
        let tail = output[split.upperBound...].split(separator: " ", maxSplits: 1)
        return (Int(tail.first ?? "") ?? 0, tail.count > 1 ? String(tail[1]) : "", String(output[..<split.lowerBound]))
    }

    /// The value of one sample line, `name{labels} value`.
    static func value(_ text: String, _ sample: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("every metric the sources record has help text in the catalog (promtool refuses one without), and docs/operations.md names it")
    func catalogCoversSources() throws {
        let sources = packageRoot.appendingPathComponent("Sources")
        var recorded: Set<String> = []
        let files = FileManager.default.enumerator(atPath: sources.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        let pattern = try Regex(#"(Counter|Gauge|Recorder|Timer|Meter)\(label: "(paystream_[a-z_]+)""#)
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: pattern) { recorded.insert(String(match.output[2].substring!)) }
        }
        #expect(recorded.count >= 20, "\(recorded.sorted())")
        #expect(recorded.subtracting(PaystreamMetrics.catalog.keys).sorted() == [], "recorded without help text")
        let operations = try String(contentsOf: packageRoot.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let documented = recorded.filter { operations.contains("`\($0)`") }
        #expect(recorded.subtracting(documented).sorted() == [], "not in docs/operations.md")
    }

    @Test("/metrics passes promtool check metrics and counts what the worker did; /livez and /readyz answer 200 once joined; other paths 404")
    func endpoint() async throws {
        let setup = try await NotifierUnderTest.start("metrics")
        defer { setup.stop() }
        let daemon = setup.daemon, broker = setup.broker
        try await daemon.waitForLog("metrics listening", timeout: .seconds(30))
        let address = try #require(daemon.log.split(separator: " ").first { $0.hasPrefix("metrics.address=") }?
            .dropFirst("metrics.address=".count))
        let base = "http://\(address)"
        #expect(try Self.get(base + "/livez").status == 200)
        try await daemon.waitForLog("partitions assigned", timeout: .seconds(30))
        let ready = try Self.get(base + "/readyz")
        #expect(ready.status == 200 && ready.body == "ready\n", "\(ready)")
        #expect(try Self.get(base + "/nope").status == 404)

        // Two captures (two notifications each) and a record that cannot be read.
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers), logger: Logger(label: "test"))
        var messages = (1...2).map { n in
            OutgoingMessage(topic: "payments.events", key: Array("user-\(n)".utf8), value: Array(try! Wire.encode(PaymentEvent(
                eventId: "pe:user-\(n):pay-\(n):2", sequence: 2, occurredAt: "2026-11-30T10:00:00.000Z", type: "payment.captured",
                paymentId: "pay-\(n)", requestId: "r-\(n)", orderId: "ord-\(n)", payerId: "user-\(n)", merchantId: "m-1", amount: 100,
                currency: "CNY", method: "card", channel: "bank_card", status: "captured"))))
        }
        messages.append(OutgoingMessage(topic: "payments.events", key: Array("user-3".utf8), value: Array("not json".utf8)))
        for result in await producer.send(messages) { _ = try result.get() }
        await producer.close()

        var text = ""
        let deadline = ContinuousClock.now + .seconds(30)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            text = try Self.get(base + "/metrics").body
        } while (Self.value(text, #"paystream_records_produced_total{stage="notifier",topic="notifications"}"#) ?? 0) < 4
            && ContinuousClock.now < deadline
        let metrics = try Self.get(base + "/metrics")
        #expect(metrics.status == 200 && metrics.contentType.hasPrefix("text/plain; version=0.0.4"), "\(metrics.contentType)")
        text = metrics.body
        let lint = try runTool("/usr/bin/promtool", ["check", "metrics"], input: text)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool: \(lint.output)\n\(text)")
        #expect(Self.value(text, #"paystream_records_consumed_total{stage="notifier",topic="payments.events"}"#) == 3)
        #expect(Self.value(text, #"paystream_records_produced_total{stage="notifier",topic="notifications"}"#) == 4)
        #expect(Self.value(text, #"paystream_dead_letters_total{stage="notifier",code="undecodable"}"#) == 1)
        #expect(Self.value(text, #"paystream_rebalances_total{stage="notifier",kind="assigned"}"#) ?? 0 >= 1)
        #expect(Self.value(text, #"paystream_ready{stage="notifier"}"#) == 1)
        #expect(text.contains("# HELP paystream_decision_seconds ") && text.contains(#"paystream_decision_seconds_bucket{stage="notifier",le="#))
        #expect(text.contains(#"paystream_batch_records_count{stage="notifier"}"#))
        // Fixed labels only: no payer, merchant or payment id anywhere.
        #expect(!text.contains("user-") && !text.contains("m-1") && !text.contains("pay-"))
        #expect(await daemon.stop() == 0)
    }
}
