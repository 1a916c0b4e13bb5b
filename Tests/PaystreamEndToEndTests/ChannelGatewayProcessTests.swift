import ChannelSimulator
import Foundation
import Logging
import PaystreamChannels
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// channel-gateway as a process: SIGKILLed while a notification it received waits for the broker
/// (so it never answered it), it loses nothing — the channel sends the notification again and the
/// restarted gateway makes the one confirmation.
@Suite("channel-gateway as a process")
struct ChannelGatewayProcessTests {
    static func config(callbacks: String, keys: String, alipay: String) -> String {
        """
        batch:
          max_wait_ms: 20
        metrics:
          listen: ""
        kafka:
        \(fastKafkaProperties.sorted { $0.key < $1.key }.map { "  \"\($0.key)\": \"\($0.value)\"" }.joined(separator: "\n"))
        stage:
          listen: "\(callbacks)"
          credentials_directory: "\(keys)"
          call_timeout_ms: 2000
          retry_delays_ms: [200, 400]
          poll_after_ms: 600000
          tick_interval_ms: 20
          alipay:
            gateway_url: http://\(alipay)/gateway.do
            app_id: "2021000000000001"
            notify_url: http://\(callbacks)/alipay/notify
        """
    }

    @Test("SIGKILLed between receiving a notification and answering it: the channel's resend brings it again, one confirmation")
    func killedMidNotification() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let topics = TopicNames()
        try broker.createTopics(topics.all, partitions: 2)
        let directory = try temporaryDirectory("gateway-process")
        let keys = "\(directory)/keys"
        try SimulatorKeys.generate(into: keys)
        try TestAnswerKeys.write(into: keys)  // answers_<method>, beside the channel keys
        var behaviour = SimulatorBehaviour()
        behaviour.payDelayMs = 1_500
        behaviour.timeScale = 0.002  // Alipay's resends after 0.5 s, 1.2 s, 1.2 s, 7 s …
        let simulator = ChannelSimulator(kind: .alipay, behaviour: behaviour,
                                         identity: try SimulatorKeys.identity(.alipay, folder: keys, merchantId: "2021000000000001"),
                                         logger: Logger(label: "simulator"))
        let server = try await HTTPListener.start(listen: "127.0.0.1:0") { await simulator.handle($0) }
        defer { simulator.stop() }
        let callbacks = "127.0.0.1:\(try freeLoopbackPort())"
        let configPath = "\(directory)/channel-gateway.yaml"
        try Self.config(callbacks: callbacks, keys: keys, alipay: server.address).write(toFile: configPath, atomically: true, encoding: .utf8)
        func start() throws -> DaemonProcess {
            try DaemonProcess("channel-gateway", arguments: ["--config", configPath, "--instance-id", "gateway-test"],
                              environment: ["PAYSTREAM_BROKERS": broker.bootstrapServers, "PAYSTREAM_STATE_DIR": "\(directory)/state"],
                              logDirectory: directory)
        }
        var gateway = try start()
        try await gateway.waitForLog("partitions assigned", timeout: .seconds(60))

        let request = ChannelRequest(requestType: "authorize", channelRequestId: "pay-77:authorize", paymentId: "pay-77", payerId: "user-77",
                                     merchantId: "m-1", amount: 1_234, currency: "CNY", method: "alipay", channel: "mobile",
                                     requestedAt: "2026-12-06T10:00:00.000Z")
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers), logger: Logger(label: "test"))
        _ = try await producer.send(OutgoingMessage(topic: topics.channelRequests, key: Array("user-77".utf8), value: Array(try Wire.encode(request))))
        await producer.close()
        try await ChannelGatewayTests.waitUntil("the trade made at the simulator", timeout: .seconds(30)) { simulator.stats.tradesCreated == 1 }

        // The broker frozen: the gateway can take the notification but not write it, so it
        // cannot answer it. Killed then, it never does.
        kill(broker.process.processIdentifier, SIGSTOP)
        var frozen = true
        defer { if frozen { kill(broker.process.processIdentifier, SIGCONT) } }
        try await ChannelGatewayTests.waitUntil("the notification at the gateway", timeout: .seconds(30)) { simulator.stats.notifiesSent >= 1 }
        try await Task.sleep(for: .milliseconds(300))
        gateway.signal(SIGKILL)
        _ = await gateway.waitForExit(timeout: .seconds(10))
        #expect(simulator.stats.notifiesAccepted == 0, "the notification was not answered")
        kill(broker.process.processIdentifier, SIGCONT)
        frozen = false

        gateway = try start()
        try await gateway.waitForLog("partitions assigned", timeout: .seconds(60))
        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: [topics.channelConfirmations, topics.channelNotifications])
        var records = try await reader.read(timeout: .seconds(60)) { records in records.contains { $0.topic == topics.channelConfirmations } }
        records += try await reader.readFor(.milliseconds(1_500))
        await reader.close()
        let exit = await gateway.stop()
        await server.stop()

        let confirmations = records.filter { $0.topic == topics.channelConfirmations }.compactMap { try? Wire.decode(ChannelConfirmation.self, from: Data($0.value)) }
        #expect(confirmations.count == 1, "\(confirmations)")
        #expect(confirmations.first?.status == "approved" && confirmations.first?.amount == 1_234
                && confirmations.first?.channelRequestId == "pay-77:authorize" && confirmations.first?.confirmationId == "cc-pay-77:authorize")
        #expect(simulator.stats.notifiesAccepted >= 1 && simulator.stats.notifiesRefused >= 1, "\(simulator.stats)")
        #expect(exit == 0, "\(gateway.log.suffix(2000))")
        // No key material and no buyer id in the log.
        let log = gateway.log
        #expect(!log.contains("PRIVATE KEY") && !log.contains("2088"), "\(log.suffix(2000))")
    }
}
