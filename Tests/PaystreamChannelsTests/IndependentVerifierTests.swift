import Foundation
import PaystreamChannels
import PaystreamTesting
import Testing

/// Our channel signatures checked by the channels' SDKs on PyPI, independently of our code:
/// python-alipay-sdk for Alipay, wechatpayv3 for WeChat Pay. PKCS#1 v1.5 is deterministic, so
/// where both sides sign the same bytes the signatures must be equal byte for byte.
@Suite("channel signatures: checked by the channels' Python SDKs")
struct IndependentVerifierTests {
    struct Exchange: Codable {
        var privateKey: String
        var publicKey: String
        var values: [String: String]
    }

    static func run(_ script: String, _ exchange: Exchange) throws -> [String: String] {
        let input = String(decoding: try JSONEncoder().encode(exchange), as: UTF8.self)
        let (status, output) = try runPython(script, input: input)
        guard status == 0, let line = output.split(separator: "\n").last,
              let result = try? JSONDecoder().decode([String: String].self, from: Data(line.utf8)) else {
            throw TestFailure("python exited \(status): \(output)")
        }
        return result
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static let key = RSASigningKey.generate()

    static let alipayPrelude = """
        import json, sys
        from urllib.parse import parse_qsl
        from alipay import AliPay
        x = json.load(sys.stdin)
        # The same key plays both parts: the merchant's (signing requests) and Alipay's (signing
        # notifications and responses).
        ali = AliPay(appid="2021000000000001", app_notify_url=None, app_private_key_string=x["privateKey"],
                     alipay_public_key_string=x["publicKey"], sign_type="RSA2")
        v = x["values"]

        """

    @Test("Alipay: python-alipay-sdk signs our request content to the same bytes, accepts our signed response node and our notify; we accept its notify")
    func alipay() throws {
        let call = AlipayCall(method: .refund, appId: "2021000000000001",
                              bizContent: #"{"out_trade_no":"PS001A2B","refund_amount":"88.88","out_request_no":"PS001R_1","reason":"退款 & =%"}"#,
                              notifyURL: "https://pay.example.com/alipay/notify?x=1&y=2", at: Date(timeIntervalSince1970: 1_765_000_000),
                              key: Self.key)
        #expect(call.parameters["timestamp"] == "2025-12-06 13:46:40", "GMT+8")
        let node = Data(#"{"code":"10000","msg":"Success","trade_no":"2025120622001400000000000001","out_trade_no":"PS001A2B","trade_status":"TRADE_SUCCESS","total_amount":"88.88","subject":"订单 \"1\""}"#.utf8)
        let response = AlipayResponseEnvelope.signed(method: AlipayMethod.query.rawValue, node: node, key: Self.key)
        var ourNotify: [String: String] = [
            "notify_id": "2025120600222135440012345678", "notify_time": "2025-12-06 13:47:01", "notify_type": "trade_status_sync",
            "app_id": "2021000000000001", "out_trade_no": "PS001A2B", "trade_no": "2025120622001400000000000001",
            "trade_status": "TRADE_SUCCESS", "total_amount": "88.88", "subject": "订单 #1 & more", "charset": "utf-8", "version": "1.0",
        ]
        ourNotify["sign"] = Self.key.sign(AlipaySignature.notifyContent(ourNotify))
        ourNotify["sign_type"] = "RSA2"

        var values = call.parameters
        values["__response"] = String(decoding: response, as: UTF8.self)
        values["__notify"] = FormEncoding.encode(ourNotify.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let result = try Self.run(Self.alipayPrelude + """
            response = v.pop("__response"); notify = v.pop("__notify")
            ours = v.pop("sign")
            theirs = ali._sign("&".join("{}={}".format(k, val) for k, val in ali._ordered_data(dict(v))))
            node = ali._verify_and_return_sync_response(response, "alipay_trade_query_response")
            fields = dict(parse_qsl(notify, keep_blank_values=True))
            sig = fields.pop("sign")
            notify_ok = ali.verify(dict(fields), sig)
            fields["subject"] = fields["subject"] + "!"
            tampered_ok = ali.verify(dict(fields), sig)
            # Alipay's side: a notification as Alipay signs it (sign_type left out of the signature).
            theirs_notify = {"notify_id": "n-77", "notify_time": "2025-12-06 13:48:00", "app_id": "2021000000000001",
                             "out_trade_no": "PS001A2B", "trade_no": "2025120622001400000000000001", "trade_status": "TRADE_CLOSED",
                             "total_amount": "88.88", "gmt_close": "2025-12-06 13:48:00", "buyer_logon_id": "a+b@例子.cn"}
            signed = ali.sign_data(dict(theirs_notify)) + "&sign_type=RSA2"
            print(json.dumps({"same": str(ours == theirs), "node_status": node["trade_status"], "notify_ok": str(notify_ok),
                              "tampered_ok": str(tampered_ok), "their_notify": signed}))
            """, Exchange(privateKey: Self.key.pemRepresentation, publicKey: Self.key.publicKey.pemRepresentation, values: values))
        #expect(result["same"] == "True", "our RSA2 request signature equals python-alipay-sdk's byte for byte")
        #expect(result["node_status"] == "TRADE_SUCCESS")
        #expect(result["notify_ok"] == "True" && result["tampered_ok"] == "False")

        // What the SDK signed as Alipay, read and verified by us; tampering is refused.
        let fields = try FormEncoding.decode(Data(try #require(result["their_notify"]).utf8))
        #expect(AlipaySignature.verifyNotify(fields, with: Self.key.publicKey))
        #expect(fields["buyer_logon_id"] == "a+b@例子.cn")
        let notify = try AlipayNotify(fields: fields)
        #expect(notify.tradeStatus == .tradeClosed && notify.notifyId == "n-77")
        var tampered = fields
        tampered["total_amount"] = "8.88"
        #expect(!AlipaySignature.verifyNotify(tampered, with: Self.key.publicKey))
        var withoutType = fields
        withoutType["sign_type"] = nil
        #expect(!AlipaySignature.verifyNotify(withoutType, with: Self.key.publicKey), "only RSA2 is accepted")
        // Our side reads the response node back the same way.
        let verified = try AlipayResponseEnvelope(response).verifiedNode(method: AlipayMethod.query.rawValue, key: Self.key.publicKey)
        #expect(verified == node)
        #expect(throws: AlipayResponseError.badSignature) {
            try AlipayResponseEnvelope(response).verifiedNode(method: AlipayMethod.query.rawValue, key: RSASigningKey.generate().publicKey)
        }
        // Braces and quotes inside strings do not end the node (the Java SDK's quote-aware match;
        // python-alipay-sdk's plain brace count would cut this one short, so it is ours alone).
        let tricky = Data(#"{"code":"10000","note":"a } and a \" in a string {","list":[{"a":"]"}]}"#.utf8)
        let trickyResponse = AlipayResponseEnvelope.signed(method: AlipayMethod.query.rawValue, node: tricky, key: Self.key)
        #expect(try AlipayResponseEnvelope(trickyResponse).verifiedNode(method: AlipayMethod.query.rawValue, key: Self.key.publicKey) == tricky)
    }

    @Test("WeChat Pay: wechatpayv3 makes the same request signature, and verifies and decrypts a callback we sign and encrypt")
    func weChatPay() throws {
        let apiV3Key = "0123456789abcdefghijABCDEFGHIJ01"
        let body = Data(#"{"mchid":"1900000001","out_trade_no":"PS001A2B","description":"订单 #1","amount":{"total":8888,"currency":"CNY"}}"#.utf8)
        let nonce = ChannelNonce.make()
        let authorization = WeChatPaySignature.authorization(mchid: "1900000001", serialNo: "5F1C72E2", method: "POST",
                                                             pathAndQuery: "/v3/pay/transactions/native", body: body,
                                                             timestamp: 1_765_000_000, nonce: nonce, key: Self.key)
        let parsed = try #require(WeChatPayAuthorization(header: authorization))
        #expect(parsed.nonce == nonce && parsed.timestamp == 1_765_000_000 && parsed.serialNo == "5F1C72E2")

        let transaction = WeChatPayTransaction(mchid: "1900000001", appid: "wx0000000000000001", outTradeNo: "PS001A2B",
                                               transactionId: "4200000000202512060000000001", tradeState: "SUCCESS",
                                               successTime: "2025-12-06T13:47:01+08:00", attach: "p-1",
                                               payer: .init(openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"), amount: .init(total: 8888, payerTotal: 8888, currency: "CNY"))
        let cipher = try WeChatPayCipher(apiV3Key: apiV3Key)
        let resourceNonce = ChannelNonce.make(length: 12)
        let callback = WeChatPayNotification(
            id: "EV-2025120613470100001", createTime: "2025-12-06T13:47:02+08:00", eventType: "TRANSACTION.SUCCESS", summary: "支付成功",
            resource: .init(originalType: "transaction", ciphertext: try cipher.encrypt(try JSONEncoder().encode(transaction), nonce: resourceNonce,
                                                                                        associatedData: "transaction"),
                            associatedData: "transaction", nonce: resourceNonce))
        let callbackBody = try JSONEncoder().encode(callback)
        let now = Int64(Date().timeIntervalSince1970)
        let headers = WeChatPaySigner(key: Self.key, serial: "PUB_KEY_ID_0112345678").headers(body: callbackBody, timestamp: now)
        // And we accept it ourselves.
        try WeChatPayVerifier(keys: ["PUB_KEY_ID_0112345678": Self.key.publicKey]).verify(headers: headers, body: callbackBody, now: Date())

        var values = headers
        values["__body"] = String(decoding: body, as: UTF8.self)
        values["__callback"] = String(decoding: callbackBody, as: UTF8.self)
        values["__authorization"] = authorization
        values["__nonce"] = nonce
        values["__apiv3"] = apiV3Key
        let result = try Self.run("""
            import json, sys
            from wechatpayv3 import WeChatPay, WeChatPayType
            from wechatpayv3.utils import rsa_sign, load_private_key
            x = json.load(sys.stdin); v = x["values"]
            key = load_private_key(x["privateKey"])
            message = "POST\\n/v3/pay/transactions/native\\n1765000000\\n%s\\n%s\\n" % (v["__nonce"], v["__body"])
            theirs = rsa_sign(key, message)
            ours = v["__authorization"].split('signature="')[1].split('"')[0]
            wx = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid="1900000001", private_key=x["privateKey"], cert_serial_no="5F1C72E2",
                           appid="wx0000000000000001", apiv3_key=v["__apiv3"], public_key=x["publicKey"], public_key_id="PUB_KEY_ID_0112345678")
            headers = {k: val for k, val in v.items() if not k.startswith("__")}
            result = wx.callback(headers, v["__callback"])
            tampered = wx.callback(headers, v["__callback"].replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESZ"))
            print(json.dumps({"same": str(ours == theirs), "event": result["event_type"], "trade_state": result["resource"]["trade_state"],
                              "total": str(result["resource"]["amount"]["total"]), "tampered": str(tampered)}))
            """, Exchange(privateKey: Self.key.pemRepresentation, publicKey: Self.key.publicKey.pemRepresentation, values: values))
        #expect(result["same"] == "True", "our APIv3 request signature equals wechatpayv3's byte for byte")
        #expect(result["event"] == "TRANSACTION.SUCCESS" && result["trade_state"] == "SUCCESS" && result["total"] == "8888")
        #expect(result["tampered"] == "None", "a changed body is refused by wechatpayv3 too")
    }
}
