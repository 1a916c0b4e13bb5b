import ChannelSimulator
import Foundation
import Logging
import PaystreamChannels
import PaystreamRuntime
import PaystreamTesting
import Synchronization
import Testing

/// The connectors against the simulators over loopback HTTP (no broker): every call of each
/// channel, notifications verified as they arrive, and the misbehaviour that must never become a
/// decline (a timeout, SYSTEM_ERROR). What the connectors sign and what the simulators send is
/// also checked by the channels' Python SDKs.
@Suite("channel connectors against the simulators")
struct ConnectorSimulatorTests {
    /// Records every request a connector sends (for the Python checks) and passes it on.
    final class RecordingTransport: ChannelTransport {
        struct Sent: Sendable { let method: String; let url: String; let headers: [(String, String)]; let body: Data }
        let sent = Mutex([Sent]())
        let inner = HTTPChannelTransport()
        func send(method: String, url: String, headers: [(String, String)], body: Data, timeout: Duration) async -> Result<ChannelHTTPResponse, ChannelTransportError> {
            sent.withLock { $0.append(Sent(method: method, url: url, headers: headers, body: body)) }
            return await inner.send(method: method, url: url, headers: headers, body: body, timeout: timeout)
        }
    }

    /// A merchant's notify endpoint: checks each notification with the connector and answers as
    /// it says; keeps what it received.
    final class Receiver: Sendable {
        let received = Mutex([(callback: ChannelCallback, event: ChannelEvent?)]())
        func events() -> [ChannelEvent] { received.withLock { $0.compactMap(\.event) } }
        func callbacks() -> [ChannelCallback] { received.withLock { $0.map(\.callback) } }
    }

    struct Rig {
        let folder: String
        let simulator: ChannelSimulator
        let server: HTTPListener
        let receiver: Receiver
        let receiverServer: HTTPListener
        let transport: RecordingTransport

        func stop() async {
            simulator.stop()
            await server.stop()
            await receiverServer.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    static func rig(_ kind: ChannelKind, behaviour: SimulatorBehaviour, connector makeConnector: @escaping @Sendable (String, String, String, RecordingTransport) throws -> any ChannelConnector)
        async throws -> (Rig, any ChannelConnector) {
        let folder = NSTemporaryDirectory() + "sim-\(UUID().uuidString)"
        try SimulatorKeys.generate(into: folder)
        let merchantId = kind == .alipay ? "2021000000000001" : "1900000001"
        let simulator = ChannelSimulator(kind: kind, behaviour: behaviour,
                                         identity: try SimulatorKeys.identity(kind, folder: folder, merchantId: merchantId),
                                         logger: Logger(label: "simulator"))
        let server = try await HTTPListener.start(listen: "127.0.0.1:0") { await simulator.handle($0) }
        let transport = RecordingTransport()
        let receiver = Receiver()
        let holder = Mutex<(any ChannelConnector)?>(nil)
        let receiverServer = try await HTTPListener.start(listen: "127.0.0.1:0") { request in
            guard let connector = holder.withLock({ $0 }) else { return .text(503, "not ready") }
            let callback = ChannelCallback(headers: request.headers, body: request.body)
            do {
                let event = try connector.check(callback, now: Date())
                receiver.received.withLock { $0.append((callback, event)) }
                let reply = connector.reply(accepted: true, message: "")
                return HTTPResponse(status: reply.status, headers: reply.contentType.map { [("content-type", $0)] } ?? [], body: reply.body)
            } catch {
                receiver.received.withLock { $0.append((callback, nil)) }
                let reply = connector.reply(accepted: false, message: "\(error)")
                return HTTPResponse(status: reply.status, body: reply.body)
            }
        }
        let connector = try makeConnector(folder, "http://\(server.address)", "http://\(receiverServer.address)/notify", transport)
        holder.withLock { $0 = connector }
        return (Rig(folder: folder, simulator: simulator, server: server, receiver: receiver, receiverServer: receiverServer, transport: transport),
                connector)
    }

    static func read(_ folder: String, _ name: String) throws -> String {
        try String(contentsOfFile: (folder as NSString).appendingPathComponent(name), encoding: .utf8)
    }

    static func alipay(timeout: Duration = .seconds(30)) -> @Sendable (String, String, String, RecordingTransport) throws -> any ChannelConnector {
        { folder, base, notify, transport in
            AlipayConnector(configuration: AlipayConfiguration(
                gatewayURL: base + "/gateway.do", appId: "2021000000000001", notifyURL: notify,
                appKey: try RSASigningKey(text: read(folder, "alipay-app-private-key")),
                alipayKey: try RSAVerifyingKey(text: read(folder, "alipay-public-key")), timeout: timeout), transport: transport)
        }
    }

    static func weChat(timeout: Duration = .seconds(30)) -> @Sendable (String, String, String, RecordingTransport) throws -> any ChannelConnector {
        { folder, base, notify, transport in
            WeChatPayConnector(configuration: WeChatPayConfiguration(
                baseURL: base, mchid: "1900000001", appid: "wx0000000000000001", notifyURL: notify,
                merchantSerial: SimulatorKeys.weChatMerchantSerial,
                merchantKey: try RSASigningKey(text: read(folder, "wechatpay-merchant-private-key")),
                verifier: WeChatPayVerifier(keys: [SimulatorKeys.weChatPublicKeyID: try RSAVerifyingKey(text: read(folder, "wechatpay-public-key"))]),
                cipher: try WeChatPayCipher(apiV3Key: read(folder, "wechatpay-apiv3-key").trimmingCharacters(in: .whitespacesAndNewlines)),
                timeout: timeout), transport: transport)
        }
    }

    static func until(_ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func order(_ outNo: String, _ amount: Int64 = 8_888) -> ChannelOrder {
        ChannelOrder(outNo: outNo, amount: amount, currency: "CNY", subject: "订单 \(outNo)")
    }

    @Test("Alipay: precreate, the payer pays, the notification verifies; query, refund (once, by out_request_no), refund query, close of a paid trade; python-alipay-sdk verifies the notification and every request")
    func alipayFlow() async throws {
        var behaviour = SimulatorBehaviour()
        behaviour.payDelayMs = 50
        let (rig, connector) = try await Self.rig(.alipay, behaviour: behaviour, connector: Self.alipay())
        defer { Task { await rig.stop() } }
        let trade = Self.order("PS001AAAAAAAAAAAAAAAAAAAAAAAA")
        #expect(await connector.create(trade) == .accepted)
        // The same out_trade_no again: the same trade (already paid, if the payer was quick).
        let again = await connector.create(trade)
        #expect(again == .accepted || again == .alreadyPaid, "\(again)")
        try await Self.until("the payment notification") { !rig.receiver.events().isEmpty }
        let event = try #require(rig.receiver.events().first)
        guard case .paid(let amount, let reference, let at) = event.outcome else { Issue.record("\(event)"); return }
        #expect(amount == 8_888 && reference.count == 28 && at != nil && event.outTradeNo == trade.outNo)
        #expect(await connector.query(trade) == .paid(amount: 8_888, reference: reference, at: at))
        #expect(await connector.close(trade) == .alreadyPaid)
        let refund = ChannelOrder(outNo: "PS001RBBBBBBBBBBBBBBBBBBBBBBB", amount: 1_000, currency: "CNY", subject: "", paymentOutNo: trade.outNo,
                                  paymentAmount: 8_888)
        #expect(await connector.refund(refund) == .refunded(amount: 1_000, reference: reference, at: nil))
        #expect(await connector.refund(refund) == .refundPending, "a repeat moves no money (fund_change N)")
        #expect(await connector.queryRefund(refund) == .refunded(amount: 1_000, reference: reference, at: nil))
        #expect(rig.simulator.stats.refunds == 1)
        var unknownRefund = refund
        unknownRefund.outNo = "PS001RCCCCCCCCCCCCCCCCCCCCCCC"
        #expect(await connector.queryRefund(unknownRefund) == .notFound)
        #expect(await connector.query(Self.order("PS001ZZZZZZZZZZZZZZZZZZZZZZZZ")) == .notFound)
        var tooMuch = refund
        tooMuch.outNo = "PS001RDDDDDDDDDDDDDDDDDDDDDDD"
        tooMuch.amount = 8_000
        #expect(await connector.refund(tooMuch) == .refused(code: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", message: "Business Failed"))
        #expect(rig.simulator.stats.badSignatures == 0)

        // python-alipay-sdk verifies the notification the simulator sent (V1: sign_type left out)
        // and the signature of every request the connector made (V2: sign_type in), with the
        // app's and Alipay's public keys.
        let notification = try #require(rig.receiver.callbacks().first)
        let requests = rig.transport.sent.withLock { $0 }.map { sent -> [String: String] in
            ["query": String(sent.url.split(separator: "?", maxSplits: 1).last ?? ""), "body": String(decoding: sent.body, as: UTF8.self)]
        }
        let input = try JSONEncoder().encode([
            "notify": String(decoding: notification.body, as: UTF8.self),
            "requests": String(decoding: try JSONEncoder().encode(requests), as: UTF8.self),
            "app_private": try Self.read(rig.folder, "alipay-app-private-key"),
            "app_public": try Self.read(rig.folder, "alipay-app-public-key"),
            "alipay_public": try Self.read(rig.folder, "alipay-public-key"),
        ])
        let (status, output) = try runPython("""
            import json, sys
            from urllib.parse import parse_qsl
            from alipay import AliPay
            x = json.load(sys.stdin)
            # As the merchant: Alipay's key verifies notifications.
            merchant = AliPay(appid="2021000000000001", app_private_key_string=x["app_private"], alipay_public_key_string=x["alipay_public"])
            fields = dict(parse_qsl(x["notify"], keep_blank_values=True))
            sign = fields.pop("sign")
            notify_ok = merchant.verify(dict(fields), sign)
            # As Alipay: the app's key verifies requests (every parameter but sign, sign_type in).
            gateway = AliPay(appid="2021000000000001", app_private_key_string=x["app_private"], alipay_public_key_string=x["app_public"])
            checked = 0
            for r in json.loads(x["requests"]):
                params = dict(parse_qsl(r["query"], keep_blank_values=True))
                params.update(dict(parse_qsl(r["body"], keep_blank_values=True)))
                sign = params.pop("sign")
                message = "&".join("{}={}".format(k, v) for k, v in sorted(params.items()) if v != "")
                assert gateway._verify(message, sign), params["method"]
                checked += 1
            print(json.dumps({"notify": notify_ok, "status": fields["trade_status"], "requests": checked}))
            """, input: String(decoding: input, as: UTF8.self))
        #expect(status == 0 && output.contains(#""notify": true"#) && output.contains(#""status": "TRADE_SUCCESS""#), "\(output)")
        #expect(output.contains(#""requests": \#(requests.count)"#) && requests.count >= 7, "\(output)")
    }

    @Test("Alipay: an unpaid trade is closed and reads closed; a timeout and SYSTEM_ERROR are unknown, and the trade a timed-out call made is found by query")
    func alipayFailures() async throws {
        var behaviour = SimulatorBehaviour()
        behaviour.unpaidRate = 1
        behaviour.timeoutRate = 0
        let (rig, connector) = try await Self.rig(.alipay, behaviour: behaviour, connector: Self.alipay())
        defer { Task { await rig.stop() } }
        let unpaid = Self.order("PS002AAAAAAAAAAAAAAAAAAAAAAAA")
        let created = await connector.create(unpaid)
        #expect(created == .accepted, "\(created)")
        #expect(await connector.query(unpaid) == .awaitingPayment)
        #expect(await connector.close(unpaid) == .closed(reason: "closed"))
        #expect(await connector.query(unpaid) == .closed(reason: "TRADE_CLOSED"))
        await rig.stop()

        behaviour.timeoutRate = 1
        behaviour.hangMs = 1_500
        let (hanging, slow) = try await Self.rig(.alipay, behaviour: behaviour, connector: Self.alipay(timeout: .milliseconds(300)))
        defer { Task { await hanging.stop() } }
        let timedOut = Self.order("PS002BBBBBBBBBBBBBBBBBBBBBBBB")
        guard case .unknown = await slow.create(timedOut) else { Issue.record("a timeout must be unknown"); return }
        // Asked with a patient connector (a busy machine must not turn the query into a timeout too).
        let patient = try Self.alipay()(hanging.folder, "http://\(hanging.server.address)", "http://\(hanging.receiverServer.address)/notify",
                                        RecordingTransport())
        #expect(await patient.query(timedOut) == .awaitingPayment, "the call was done; only its answer was lost")
        await hanging.stop()

        behaviour.timeoutRate = 0
        behaviour.systemErrorRate = 1
        let (failing, erring) = try await Self.rig(.alipay, behaviour: behaviour, connector: Self.alipay())
        defer { Task { await failing.stop() } }
        guard case .unknown(let why) = await erring.create(Self.order("PS002CCCCCCCCCCCCCCCCCCCCCCCC")) else {
            Issue.record("SYSTEM_ERROR must be unknown"); return
        }
        #expect(why.contains("ACQ.SYSTEM_ERROR"))
    }

    @Test("Alipay: a notification signed with another key is refused; only the 7 bytes `success` take one")
    func alipayForgery() async throws {
        let (rig, connector) = try await Self.rig(.alipay, behaviour: SimulatorBehaviour(), connector: Self.alipay())
        defer { Task { await rig.stop() } }
        let forger = RSASigningKey.generate()
        var fields = ["notify_id": "n-1", "notify_time": "2026-12-06 10:00:00", "app_id": "2021000000000001", "out_trade_no": "PS003AAAAAAAAAAAAAAAAAAAAAAAA",
                      "trade_no": "2026000000000000000000000001", "trade_status": "TRADE_SUCCESS", "total_amount": "88.88"]
        fields["sign"] = forger.sign(AlipaySignature.notifyContent(fields))
        fields["sign_type"] = "RSA2"
        let body = Data(FormEncoding.encode(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8)
        #expect(throws: CallbackRefusal.self) { try connector.check(ChannelCallback(headers: [:], body: body), now: Date()) }
        #expect(connector.reply(accepted: false, message: "x").body != Data("success".utf8))
        #expect(connector.reply(accepted: true, message: "").body == Data("success".utf8))
    }

    @Test("WeChat Pay: Native order, the payer pays, the callback verifies and decrypts; query, close of a paid order, refund PROCESSING then its REFUND.SUCCESS callback")
    func weChatFlow() async throws {
        var behaviour = SimulatorBehaviour()
        behaviour.payDelayMs = 50
        let (rig, connector) = try await Self.rig(.weChatPay, behaviour: behaviour, connector: Self.weChat())
        defer { Task { await rig.stop() } }
        let trade = Self.order("PS004AAAAAAAAAAAAAAAAAAAAAAAA")
        #expect(await connector.create(trade) == .accepted)
        try await Self.until("the payment callback") { !rig.receiver.events().isEmpty }
        let event = try #require(rig.receiver.events().first)
        guard case .paid(let amount, let reference, _) = event.outcome else { Issue.record("\(event)"); return }
        #expect(amount == 8_888 && event.notificationId.hasPrefix("EV-"))
        guard case .paid(8_888, reference, _) = await connector.query(trade) else { Issue.record("query must say paid"); return }
        #expect(await connector.close(trade) == .alreadyPaid)
        let refund = ChannelOrder(outNo: "PS004RBBBBBBBBBBBBBBBBBBBBBBB", amount: 1_000, currency: "CNY", subject: "", paymentOutNo: trade.outNo,
                                  paymentAmount: 8_888)
        #expect(await connector.refund(refund) == .refundPending)
        try await Self.until("the refund callback") { rig.receiver.events().contains { $0.outRefundNo == refund.outNo } }
        guard case .refunded(1_000, _, _) = await connector.queryRefund(refund) else { Issue.record("refund query must say refunded"); return }
        #expect(await connector.query(Self.order("PS004ZZZZZZZZZZZZZZZZZZZZZZZZ")) == .notFound)
        #expect(rig.simulator.stats.badSignatures == 0)

        // wechatpayv3 verifies and decrypts what the simulator sent, and checks the signature
        // of every request the connector made with the merchant's public key.
        let callback = try #require(rig.receiver.callbacks().first)
        let requests = rig.transport.sent.withLock { $0 }.map { sent -> [String: String] in
            let target = String(sent.url.dropFirst("http://".count).drop { $0 != "/" })
            return ["method": sent.method, "target": target, "authorization": sent.headers.first { $0.0 == "authorization" }?.1 ?? "",
                    "body": String(decoding: sent.body, as: UTF8.self)]
        }
        let input = try JSONEncoder().encode([
            "headers": try JSONEncoder().encode(callback.headers).base64EncodedString(),
            "body": callback.body.base64EncodedString(),
            "requests": try JSONEncoder().encode(requests).base64EncodedString(),
            "merchant_private": try Self.read(rig.folder, "wechatpay-merchant-private-key"),
            "merchant_public": try Self.read(rig.folder, "wechatpay-merchant-public-key"),
            "wechat_public": try Self.read(rig.folder, "wechatpay-public-key"),
            "apiv3": try Self.read(rig.folder, "wechatpay-apiv3-key").trimmingCharacters(in: .whitespacesAndNewlines),
        ])
        let (status, output) = try runPython("""
            import base64, json, sys
            from wechatpayv3 import WeChatPay, WeChatPayType
            from wechatpayv3.utils import load_public_key
            from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
            from cryptography.hazmat.primitives.hashes import SHA256
            x = json.load(sys.stdin)
            headers = json.loads(base64.b64decode(x["headers"]))
            wx = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid="1900000001", private_key=x["merchant_private"],
                           cert_serial_no="\(SimulatorKeys.weChatMerchantSerial)", appid="wx0000000000000001", apiv3_key=x["apiv3"],
                           public_key=x["wechat_public"], public_key_id="\(SimulatorKeys.weChatPublicKeyID)")
            # wechatpayv3 matches header names as WeChat Pay spells them.
            spelled = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in headers.items()}
            result = wx.callback(spelled, base64.b64decode(x["body"]).decode())
            merchant = load_public_key(x["merchant_public"])
            checked = 0
            for r in json.loads(base64.b64decode(x["requests"])):
                fields = dict(part.split("=", 1) for part in r["authorization"].split(" ", 1)[1].split(","))
                fields = {k: v.strip('"') for k, v in fields.items()}
                message = "%s\\n%s\\n%s\\n%s\\n%s\\n" % (r["method"], r["target"], fields["timestamp"], fields["nonce_str"], r["body"])
                merchant.verify(base64.b64decode(fields["signature"]), message.encode(), PKCS1v15(), SHA256())
                checked += 1
            print(json.dumps({"event": result["event_type"], "total": result["resource"]["amount"]["total"], "requests": checked}))
            """, input: String(decoding: input, as: UTF8.self))
        #expect(status == 0, "\(output)")
        if status != 0 { print(output) }
        #expect(output.contains(#""event": "TRANSACTION.SUCCESS""#) && output.contains(#""total": 8888"#), "\(output)")
        #expect(output.contains(#""requests": \#(requests.count)"#) && requests.count >= 6, "\(output)")
    }

    @Test("WeChat Pay: a timeout and a 500 SYSTEM_ERROR are unknown; an unpaid order closes; forged callbacks (another key, SIGNTEST probe, old timestamp) are refused with the FAIL JSON")
    func weChatFailures() async throws {
        var behaviour = SimulatorBehaviour()
        behaviour.unpaidRate = 1
        let (rig, connector) = try await Self.rig(.weChatPay, behaviour: behaviour, connector: Self.weChat())
        defer { Task { await rig.stop() } }
        let unpaid = Self.order("PS005AAAAAAAAAAAAAAAAAAAAAAAA")
        let created = await connector.create(unpaid)
        #expect(created == .accepted, "\(created)")
        #expect(await connector.query(unpaid) == .awaitingPayment)
        #expect(await connector.close(unpaid) == .closed(reason: "CLOSED"))
        #expect(await connector.query(unpaid) == .closed(reason: "CLOSED"))

        let forger = WeChatPaySigner(key: RSASigningKey.generate(), serial: SimulatorKeys.weChatPublicKeyID)
        let body = Data(#"{"id":"EV-1","create_time":"2026-12-06T10:00:00+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAA","associated_data":"transaction","nonce":"abcdefghijkl"}}"#.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        #expect(throws: CallbackRefusal("bad_signature", WeChatPayVerificationError.badSignature.description)) {
            try connector.check(ChannelCallback(headers: Dictionary(uniqueKeysWithValues: forger.headers(body: body, timestamp: now).map { ($0.key.lowercased(), $0.value) }), body: body), now: Date())
        }
        let channelKey = try RSASigningKey(text: Self.read(rig.folder, "wechatpay-private-key"))
        let genuine = WeChatPaySigner(key: channelKey, serial: SimulatorKeys.weChatPublicKeyID)
        var old = genuine.headers(body: body, timestamp: now - 301)
        #expect(throws: CallbackRefusal("stale_timestamp", WeChatPayVerificationError.staleTimestamp.description)) {
            try connector.check(ChannelCallback(headers: old, body: body), now: Date())
        }
        old = genuine.headers(body: body, timestamp: now)
        old["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + old["Wechatpay-Signature"]!
        #expect(throws: CallbackRefusal("signature_probe", WeChatPayVerificationError.signatureProbe.description)) {
            try connector.check(ChannelCallback(headers: old, body: body), now: Date())
        }
        let refusal = connector.reply(accepted: false, message: "bad signature")
        #expect(refusal.status == 400 && String(decoding: refusal.body, as: UTF8.self) == #"{"code":"FAIL","message":"bad signature"}"#)
        #expect(connector.reply(accepted: true, message: "").status == 204)
        await rig.stop()

        behaviour.unpaidRate = 0
        behaviour.timeoutRate = 1
        behaviour.hangMs = 1_500
        let (hanging, slow) = try await Self.rig(.weChatPay, behaviour: behaviour, connector: Self.weChat(timeout: .milliseconds(300)))
        defer { Task { await hanging.stop() } }
        let timedOut = Self.order("PS005BBBBBBBBBBBBBBBBBBBBBBBB")
        guard case .unknown = await slow.create(timedOut) else { Issue.record("a timeout must be unknown"); return }
        let patient = try Self.weChat()(hanging.folder, "http://\(hanging.server.address)", "http://\(hanging.receiverServer.address)/notify",
                                        RecordingTransport())
        try await Self.until("the payment the timed-out call started") { await patient.query(timedOut) != .awaitingPayment }
        let found = await patient.query(timedOut)
        guard case .paid = found else { Issue.record("the order a timed-out call made is paid and found by query, not \(found)"); return }
        await hanging.stop()

        behaviour.timeoutRate = 0
        behaviour.systemErrorRate = 1
        let (failing, erring) = try await Self.rig(.weChatPay, behaviour: behaviour, connector: Self.weChat())
        defer { Task { await failing.stop() } }
        guard case .unknown = await erring.create(Self.order("PS005CCCCCCCCCCCCCCCCCCCCCCCC")) else { Issue.record("SYSTEM_ERROR must be unknown"); return }
    }
}

/// A channel that sends its reply's headers and stalls mid-body: the call is a timeout within
/// its own deadline (unknown, asked again later), not a call that never ends.
@Suite("channel transport deadlines")
struct ChannelTransportDeadlineTests {
    @Test("a reply whose body stalls ends the call at its timeout")
    func stalledBody() async throws {
        let server = try StallingServer()
        defer { server.stop() }
        let started = ContinuousClock.now
        let result = await HTTPChannelTransport().send(method: "POST", url: server.url + "/gateway.do", headers: [], body: Data("x".utf8),
                                                       timeout: .milliseconds(800))
        let took = ContinuousClock.now - started
        guard case .failure(let error) = result else { Issue.record("a stalled body must not be an answer"); return }
        #expect(error.description.contains("timeout"), "\(error)")
        // The peer stalls for 300 s: ending well before that is the deadline's doing. (Not a tighter
        // bound: on a 2-core CI machine, tests that wait for child processes can keep the timer
        // task from running for many seconds; CI saw 15 s.)
        #expect(took < .seconds(90), "\(took)")
    }
}
