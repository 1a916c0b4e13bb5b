import ChannelGateway
import ChannelSandbox
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

/// The channel gateway through the pipeline with a real broker: card payments through the
/// sandbox, Alipay and WeChat Pay payments through the gateway and the simulators — captured,
/// refunded, cancelled; a notification sent five times makes one confirmation; forged
/// notifications are refused with 4xx and counted; a create that times out is resolved by a query.
@Suite("End to end: the channel gateway with the Alipay and WeChat Pay simulators")
struct ChannelGatewayTests {
    /// The simulators and the gateway (stage and callback listener) beside an in-process pipeline.
    final class Edge: @unchecked Sendable {
        let keys: String
        let alipay: ChannelSimulator
        let weChat: ChannelSimulator
        var servers: [HTTPListener] = []
        var tasks: [Task<Void, any Error>] = []
        let callbackAddress: String

        init(pipeline: InProcessPipeline, alipayBehaviour: SimulatorBehaviour, weChatBehaviour: SimulatorBehaviour) async throws {
            keys = try temporaryDirectory("gateway-keys")
            try SimulatorKeys.generate(into: keys)
            let logger = Logger(label: "simulator")
            alipay = ChannelSimulator(kind: .alipay, behaviour: alipayBehaviour,
                                      identity: try SimulatorKeys.identity(.alipay, folder: keys, merchantId: "2021000000000001"), logger: logger)
            weChat = ChannelSimulator(kind: .weChatPay, behaviour: weChatBehaviour,
                                      identity: try SimulatorKeys.identity(.weChatPay, folder: keys, merchantId: "1900000001"), logger: logger)
            let alipay = self.alipay, weChat = self.weChat
            let alipayServer = try await HTTPListener.start(listen: "127.0.0.1:0") { await alipay.handle($0) }
            let weChatServer = try await HTTPListener.start(listen: "127.0.0.1:0") { await weChat.handle($0) }
            servers = [alipayServer, weChatServer]
            callbackAddress = "127.0.0.1:\(try freeLoopbackPort())"

            var settings = GatewaySettings()
            settings.listen = callbackAddress
            settings.credentialsDirectory = keys
            settings.callTimeoutMs = 1_000
            settings.retryDelaysMs = [200, 400, 800]
            settings.pollAfterMs = 1_000
            settings.tickIntervalMs = 20
            var alipaySettings = GatewaySettings.AlipaySettings()
            alipaySettings.gatewayURL = "http://\(alipayServer.address)/gateway.do"
            alipaySettings.appId = "2021000000000001"
            alipaySettings.notifyURL = "http://\(callbackAddress)/alipay/notify"
            settings.alipay = alipaySettings
            var weChatSettings = GatewaySettings.WeChatPaySettings()
            weChatSettings.baseURL = "http://\(weChatServer.address)"
            weChatSettings.mchid = "1900000001"
            weChatSettings.appid = "wx0000000000000001"
            weChatSettings.notifyURL = "http://\(callbackAddress)/wechatpay/notify"
            weChatSettings.merchantSerial = SimulatorKeys.weChatMerchantSerial
            weChatSettings.publicKeyId = SimulatorKeys.weChatPublicKeyID
            settings.weChatPay = weChatSettings

            let connectors = try GatewayCredentials.connectors(settings, environment: [:])
            let stage = ChannelGatewayStage(topics: pipeline.topics, settings: settings, connectors: connectors,
                                            answerKeys: TestAnswerKeys.keyring)
            var workerSettings = WorkerSettings()
            workerSettings.maxBatchWait = .milliseconds(20)
            var workerLogger = Logger(label: "channel-gateway")
            workerLogger.logLevel = .warning
            let worker = StageWorker(stage: stage, kafka: pipeline.kafka, groupID: "paystream.channel-gateway",
                                     stateDirectory: pipeline.stateDirectory, topics: pipeline.topics, settings: workerSettings,
                                     clock: SystemClock(), logger: workerLogger)
            let service = try CallbackService(settings: settings, connectors: connectors, kafka: pipeline.kafka, topics: pipeline.topics,
                                              logger: workerLogger)
            tasks = [Task { try await worker.run() }, Task { try await service.run() }]
            try await waitUntil("the callback listener", timeout: .seconds(20)) {
                (try? runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(self.callbackAddress)/nope"]).output) == "404"
            }
        }

        func stop() async {
            alipay.stop()
            weChat.stop()
            for task in tasks { task.cancel() }
            for task in tasks { _ = try? await task.value }
            for server in servers { await server.stop() }
            try? FileManager.default.removeItem(atPath: keys)
        }

        func post(_ path: String, headers: [String: String], body: Data) throws -> (status: Int, body: String) {
            var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "--data-binary", "@-", "http://\(callbackAddress)\(path)"]
            for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
            let (_, output) = try runTool("/usr/bin/curl", arguments, input: String(decoding: body, as: UTF8.self))
            let parts = output.split(separator: "\n", omittingEmptySubsequences: false)
            return (Int(parts.last ?? "") ?? 0, parts.dropLast().joined(separator: "\n"))
        }
    }

    static func waitUntil(_ what: String, timeout: Duration, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw TestSupportError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func request(_ id: String, payer: String, amount: Int, method: String, type: String = "payment", payment: String? = nil)
        -> (key: String, value: Data) {
        var body: [String: Any] = ["schema": "payment-request/v1", "type": type, "request_id": id, "payer_id": payer, "merchant_id": "m-1",
                                   "amount": amount, "currency": "CNY", "method": method,
                                   "channel": method == "card" ? "bank_card" : "mobile"]
        body["payment_id"] = payment
        return (payer, try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
    }

    @Test("card via the sandbox, Alipay and WeChat Pay via the gateway: captured, refunded, cancelled; five copies of a notification make one confirmation; a create that timed out is resolved by a query; forged notifications refused and counted")
    func throughThePipeline() async throws {
        PaystreamMetrics.bootstrap()
        let started = Date()
        let pipeline = try await InProcessPipeline(partitions: 2)
        let topics = pipeline.topics
        var alipayBehaviour = SimulatorBehaviour()
        alipayBehaviour.payDelayMs = 100
        alipayBehaviour.duplicateNotifies = 4
        alipayBehaviour.unpaidAmounts = [4_404]
        alipayBehaviour.hangAmounts = [3_303]
        alipayBehaviour.unnotifiedAmounts = [3_303]
        alipayBehaviour.hangMs = 3_000
        var weChatBehaviour = SimulatorBehaviour()
        weChatBehaviour.payDelayMs = 100
        weChatBehaviour.refundDelayMs = 100
        let edge = try await Edge(pipeline: pipeline, alipayBehaviour: alipayBehaviour, weChatBehaviour: weChatBehaviour)
        var sandbox = ChannelSandboxStage.Settings()
        sandbox.skipMethods = ["alipay", "wechat_pay"]
        try pipeline.start([.paymentWorker, .channelSandbox], sandbox: sandbox)

        let reader = try await pipeline.reader([topics.paymentEvents, topics.channelConfirmations, topics.channelNotifications]
                                               + topics.inputTopics.map(topics.deadLetter(of:)))
        try await pipeline.publish(topic: topics.paymentRequests, [
            Self.request("r-card", payer: "user-1", amount: 1_000, method: "card"),
            Self.request("r-ali", payer: "user-2", amount: 8_888, method: "alipay"),
            Self.request("r-wx", payer: "user-3", amount: 6_600, method: "wechat_pay"),
            Self.request("r-ali-unpaid", payer: "user-4", amount: 4_404, method: "alipay"),
            Self.request("r-ali-hang", payer: "user-5", amount: 3_303, method: "alipay"),
        ])
        var records: [ConsumedRecord] = []
        func events() -> [PaymentEvent] {
            records.filter { $0.topic == topics.paymentEvents }.compactMap { try? Wire.decode(PaymentEvent.self, from: Data($0.value)) }
        }
        func has(_ type: String, _ request: String) -> Bool { events().contains { $0.type == type && $0.requestId == request } }
        records += try await reader.read(timeout: .seconds(60)) { batch in
            records += batch
            defer { records.removeLast(batch.count) }
            return ["r-card", "r-ali", "r-wx", "r-ali-hang"].allSatisfy { has("payment.captured", $0) } && has("payment.authorized", "r-ali-unpaid")
        }

        // Refund part of the Alipay payment, all of the WeChat Pay one; cancel the unpaid one.
        func paymentID(_ request: String) -> String { events().first { $0.requestId == request }!.paymentId }
        try await pipeline.publish(topic: topics.paymentRequests, [
            Self.request("r-ali-refund", payer: "user-2", amount: 1_000, method: "alipay", type: "refund", payment: paymentID("r-ali")),
            Self.request("r-wx-refund", payer: "user-3", amount: 6_600, method: "wechat_pay", type: "refund", payment: paymentID("r-wx")),
            Self.request("r-ali-cancel", payer: "user-4", amount: 4_404, method: "alipay", type: "cancel", payment: paymentID("r-ali-unpaid")),
        ])
        records += try await reader.read(timeout: .seconds(60)) { batch in
            records += batch
            defer { records.removeLast(batch.count) }
            let confirmations = records.filter { $0.topic == topics.channelConfirmations }
                .compactMap { try? Wire.decode(ChannelConfirmation.self, from: Data($0.value)) }
            return has("payment.partially_refunded", "r-ali-refund") && has("payment.refunded", "r-wx-refund")
                && has("payment.cancelled", "r-ali-cancel") && confirmations.contains { $0.requestType == "cancel" }
        }

        // Forged notifications: another key (Alipay), an old timestamp and a SIGNTEST probe (WeChat Pay).
        let forger = RSASigningKey.generate()
        var fields = ["notify_id": "forged-1", "notify_time": "2026-12-06 10:00:00", "app_id": "2021000000000001",
                      "out_trade_no": "PS000AAAAAAAAAAAAAAAAAAAAAAAA", "trade_no": "2026000000000000000000000009",
                      "trade_status": "TRADE_SUCCESS", "total_amount": "99.99"]
        fields["sign"] = forger.sign(AlipaySignature.notifyContent(fields))
        fields["sign_type"] = "RSA2"
        let forged = try edge.post("/alipay/notify", headers: ["content-type": "application/x-www-form-urlencoded"],
                                   body: Data(FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8))
        #expect(forged.status == 400 && forged.body != "success")
        let channelKey = try RSASigningKey(text: String(contentsOfFile: edge.keys + "/wechatpay-private-key", encoding: .utf8))
        let signer = WeChatPaySigner(key: channelKey, serial: SimulatorKeys.weChatPublicKeyID)
        let body = Data(#"{"id":"EV-forged","create_time":"2026-12-06T10:00:00+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","associated_data":"transaction","nonce":"abcdefghijkl"}}"#.utf8)
        let old = try edge.post("/wechatpay/notify", headers: signer.headers(body: body, timestamp: Int64(Date().timeIntervalSince1970) - 600), body: body)
        #expect(old.status == 400 && old.body.contains(#""code":"FAIL""#))
        var probe = signer.headers(body: body, timestamp: Int64(Date().timeIntervalSince1970))
        probe["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + probe["Wechatpay-Signature"]!
        #expect(try edge.post("/wechatpay/notify", headers: probe, body: body).status == 400)
        // Records on channel.notifications that the listener did not write: garbage, and a
        // notification whose signature fails in the shard (a broker writer cannot forge one).
        let forgedRecord = ChannelNotificationRecord(channel: "alipay", notificationId: "forged-2", receivedAt: "2026-12-06T10:00:00.000Z",
                                                     headers: [:], body: Data(FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8))
        try await pipeline.publish(topic: topics.channelNotifications, [("x", Data("not json".utf8)), ("x", try Wire.encode(forgedRecord))])
        let metrics = PaystreamMetrics.exposition()
        for (channel, result) in [("alipay", "bad_signature"), ("wechat_pay", "stale_timestamp"), ("wechat_pay", "signature_probe")] {
            #expect(metrics.contains(#"paystream_channel_notifications_total{channel="\#(channel)",result="\#(result)"}"#), "\(channel) \(result)")
        }

        // The simulators' bills of the day (China Standard Time) name the gateway's numbers; its
        // shards map every one back to its payment.
        var billLines: [StatementLine] = []
        for day in Set([started, Date()].map { String(ChinaTime.format($0).prefix(10)) }).sorted() {
        for (path, address) in [("alipay", edge.servers[0].address), ("wechat_pay", edge.servers[1].address)] {
            let (status, output) = try runTool("/usr/bin/curl", ["-sf", "-o", "\(edge.keys)/\(path).csv", "-w", "%{http_code}",
                                                                 "http://\(address)/_sim/bill?date=\(day)"])
            #expect(status == 0 && output == "200")
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(edge.keys)/\(path).csv"))
            billLines += path == "alipay" ? try StatementReader.alipay(data) : try StatementReader.wechatPay(String(decoding: data, as: UTF8.self))
        }
        }
        let numbers = Set(billLines.map(\.paymentId))
        let mapped = try GatewayNumbers.paymentIDs(of: numbers, stateDirectory: pipeline.stateDirectory, prefix: "PS")
        #expect(numbers.allSatisfy { GatewayNumbers.isOurs($0, prefix: "PS") } && mapped.count == numbers.count, "\(numbers) \(mapped)")
        #expect(Set(mapped.values) == Set(["r-ali", "r-wx", "r-ali-hang"].map(paymentID)), "\(mapped)")
        #expect(billLines.filter { $0.type == "refund" }.count == 2 && billLines.filter { $0.type == "payment" }.count == 3)

        records += try await reader.read(timeout: .seconds(30)) { batch in batch.filter { $0.topic.hasSuffix(".dlq") }.count >= 2 }
        records += try await reader.readFor(.milliseconds(1_000))
        await reader.close()
        let alipayStats = edge.alipay.stats, weChatStats = edge.weChat.stats
        await edge.stop()
        await pipeline.stop()

        let confirmations = records.filter { $0.topic == topics.channelConfirmations }
            .compactMap { try? Wire.decode(ChannelConfirmation.self, from: Data($0.value)) }
        // Five copies of the Alipay notification reached the gateway; one confirmation left it.
        #expect(alipayStats.notifiesAccepted >= 5, "\(alipayStats)")
        let aliAuthorize = confirmations.filter { $0.paymentId == paymentID("r-ali") && $0.requestType == "authorize" }
        #expect(aliAuthorize.count == 1 && aliAuthorize.first?.status == "approved" && aliAuthorize.first?.amount == 8_888, "\(aliAuthorize)")
        #expect(aliAuthorize.first?.channelReference?.count == 28)
        // The create that hung (and whose notification was lost): found by query, captured, never declined.
        #expect(alipayStats.hangs == 1 && (alipayStats.calls["alipay.trade.query"] ?? 0) >= 1, "\(alipayStats)")
        #expect(!events().contains { $0.requestId == "r-ali-hang" && $0.type == "payment.failed" })
        // The unpaid trade was closed at Alipay when cancelled.
        #expect(alipayStats.tradesClosed == 1, "\(alipayStats)")
        #expect(alipayStats.refunds == 1 && weChatStats.refunds == 1)
        #expect(alipayStats.badSignatures == 0 && weChatStats.badSignatures == 0)
        // Dead letters: only the two records put on channel.notifications by hand.
        let letters = records.filter { $0.topic.hasSuffix(".dlq") }.compactMap { try? Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }
        #expect(letters.map(\.errorCode).sorted() == ["forged_notification", "undecodable"], "\(letters.map { "\($0.errorCode): \($0.errorMessage)" })")
        #expect(letters.allSatisfy { $0.sourceTopic == topics.channelNotifications })
        #expect(!events().contains { $0.type == "payment.failed" || $0.type == "payment.conflicted" || $0.type == "payment.late_capture" })
        // Every notification the listener wrote was decided; the card one never reached the gateway.
        #expect(!confirmations.contains { $0.paymentId == paymentID("r-card") && $0.channelReference?.hasPrefix("PS") == true })
    }
}
