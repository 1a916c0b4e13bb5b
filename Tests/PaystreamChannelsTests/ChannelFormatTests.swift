import Foundation
import PaystreamChannels
import PaystreamDomain
import PaystreamTesting
import Testing

/// The small formats the channels use: Alipay's yuan amounts and GMT+8 times, WeChat Pay's
/// RFC 3339 times, form bodies, response envelopes.
@Suite("channel formats")
struct ChannelFormatTests {
    @Test("Alipay amounts are read exactly into fen and written back", arguments: [
        ("0.01", 1), ("199.99", 19_999), ("88.8", 8_880), ("100", 10_000), ("100000000.00", 10_000_000_000), ("1.230", 123),
    ] as [(String, Int64)])
    func alipayAmounts(_ text: String, _ fen: Int64) throws {
        #expect(try AlipayAmount.minorUnits(text) == fen)
        #expect(try AlipayAmount.minorUnits(AlipayAmount.text(fen)) == fen)
    }

    @Test("what is not an Alipay amount is refused, never rounded", arguments: [
        "", "0", "0.00", "-1.00", "+1.00", "1e3", "1,000.00", ".5", "5.", "0.001", "100000000.01", " 1.00", "1.00 CNY", "¥1.00", "NaN",
    ])
    func badAlipayAmounts(_ text: String) {
        #expect(throws: MoneyError.self) { try AlipayAmount.minorUnits(text) }
    }

    @Test("China Standard Time: Alipay's timestamps are GMT+8")
    func chinaTime() throws {
        let date = Date(timeIntervalSince1970: 1_765_000_000) // 2025-12-06T05:46:40Z
        #expect(ChinaTime.format(date) == "2025-12-06 13:46:40")
        #expect(ChinaTime.parse("2025-12-06 13:46:40") == date)
        #expect(ChinaTime.format(Date(timeIntervalSince1970: 1_709_222_399)) == "2024-02-29 23:59:59", "a leap day")
        #expect(ChinaTime.parse("2024-02-29 08:00:00") == Date(timeIntervalSince1970: 1_709_164_800))
        for bad in ["2025-02-30 10:00:00", "2025-12-06T13:46:40", "2025-12-06 24:00:00", "2025-12-06 13:46:40 ", "2025-1-06 13:46:40"] {
            #expect(ChinaTime.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("RFC 3339 with offsets, as WeChat Pay writes its times")
    func rfc3339() {
        let date = Date(timeIntervalSince1970: 1_765_000_000)
        #expect(RFC3339Time.formatChina(date) == "2025-12-06T13:46:40+08:00")
        #expect(RFC3339Time.parse("2025-12-06T13:46:40+08:00") == date)
        #expect(RFC3339Time.parse("2025-12-06T05:46:40Z") == date)
        #expect(RFC3339Time.parse("2025-12-06T05:46:40.250Z") == date)
        #expect(RFC3339Time.parse("2025-12-05T23:46:40-06:00") == date)
        for bad in ["2025-12-06 13:46:40+08:00", "2025-12-06T13:46:40", "2025-12-06T13:46:40+8:00", "2025-12-06T13:46:40.Z"] {
            #expect(RFC3339Time.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("form bodies: escapes and + are decoded; a field twice, a bad escape or bytes that are not UTF-8 refuse the whole body")
    func forms() throws {
        let fields = try FormEncoding.decode(Data("a=1&b=x+y%26z&c=%E4%B8%AD&d=".utf8))
        #expect(fields == ["a": "1", "b": "x y&z", "c": "中", "d": ""])
        #expect(try FormEncoding.decode(Data(FormEncoding.encode([("k", "a b&c=d+中~")]).utf8)) == ["k": "a b&c=d+中~"])
        for bad in ["a=1&a=2", "a", "a=%G1", "a=%E4", "=1", "a=%"] {
            #expect(throws: FormEncodingError.self, "\(bad)") { try FormEncoding.decode(Data(bad.utf8)) }
        }
    }

    @Test("an Alipay response: the method's node by its raw bytes; error_response, a missing sign, a member twice or trailing bytes are not answers")
    func alipayEnvelope() throws {
        let key = RSASigningKey.generate()
        let node = Data(#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}"#.utf8)
        let raw = AlipayResponseEnvelope.signed(method: "alipay.trade.query", node: node, key: key)
        let verified = try AlipayResponseEnvelope(raw).verifiedNode(method: "alipay.trade.query", key: key.publicKey)
        #expect(try JSONDecoder().decode(AlipayTradeResponse.self, from: verified).subCode == "ACQ.TRADE_NOT_EXIST")
        #expect(throws: AlipayResponseError.malformed("no alipay_trade_refund_response member")) {
            try AlipayResponseEnvelope(raw).verifiedNode(method: "alipay.trade.refund", key: key.publicKey)
        }
        let error = Data(#"{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"},"sign":""}"#.utf8)
        #expect(throws: AlipayResponseError.gatewayError(code: "20000", subCode: "isp.unknow-error")) {
            try AlipayResponseEnvelope(error).verifiedNode(method: "alipay.trade.query", key: key.publicKey)
        }
        let unsigned = Data(#"{"alipay_trade_query_response":{"code":"10000","trade_status":"TRADE_SUCCESS"}}"#.utf8)
        #expect(throws: AlipayResponseError.badSignature) {
            try AlipayResponseEnvelope(unsigned).verifiedNode(method: "alipay.trade.query", key: key.publicKey)
        }
        for bad in [#"{"a":1,"a":2}"#, #"{"a":1} x"#, #"{"a":"#, #"["a"]"#, #"{"a":{"b":"}"}"#] {
            #expect(throws: AlipayResponseError.self, "\(bad)") { try AlipayResponseEnvelope(Data(bad.utf8)) }
        }
    }
}

/// The bills the simulators serve read back through the statement readers, line for line.
@Suite("channel bills written as the channels write them")
struct StatementWriterTests {
    static let entries = [
        BillEntry(kind: .payment, at: Date(timeIntervalSince1970: 1_765_000_000), tradeNo: "2025120622001400000000000001",
                  outTradeNo: "PS002AAAAAAAAAAAAAAAAAAAAAAAA", amount: 8_888, fee: 53, subject: "订单, one"),
        BillEntry(kind: .refund, at: Date(timeIntervalSince1970: 1_765_003_600), tradeNo: "2025120622001400000000000001",
                  outTradeNo: "PS002AAAAAAAAAAAAAAAAAAAAAAAA", amount: 1_000, fee: 0, subject: "订单, one", refundId: "50300000000000000000000001",
                  outRefundNo: "PS002RRRRRRRRRRRRRRRRRRRRRRRR"),
    ]

    @Test("Alipay's business detail (GBK): the payment and its refund, amounts in fen, the fee, the China day")
    func alipay() throws {
        let lines = try StatementReader.alipay(StatementWriter.alipayBusinessDetail(Self.entries, day: "2025-12-06", account: "2088"))
        #expect(lines.map(\.type) == ["payment", "refund"])
        #expect(lines.map(\.amount) == [8_888, 1_000] && lines.map(\.fee) == [53, 0])
        #expect(lines.allSatisfy { $0.paymentId == "PS002AAAAAAAAAAAAAAAAAAAAAAAA" && $0.channelReference == "2025120622001400000000000001" })
        #expect(lines[1].refundReference == "PS002RRRRRRRRRRRRRRRRRRRRRRRR" && lines[0].day == "2025-12-06")
    }

    @Test("WeChat Pay's trade bill: rows with backticks, the summary counts them and totals the refunds")
    func weChat() throws {
        let lines = try StatementReader.wechatPay(StatementWriter.weChatTradeBill(Self.entries, appid: "wx1", mchid: "1900000001"))
        #expect(lines.map(\.type) == ["payment", "refund"])
        #expect(lines.map(\.amount) == [8_888, 1_000] && lines.map(\.fee) == [53, 0])
        #expect(lines[1].refundReference == "50300000000000000000000001" && lines.allSatisfy { $0.source == "wechat_pay" })
        #expect(try StatementReader.wechatPay(StatementWriter.weChatTradeBill([], appid: "wx1", mchid: "1")).isEmpty)
    }
}

/// WeChat Pay platform certificates: the serial as WeChat Pay writes it, the key they carry, and
/// the gateway choosing a certificate by the serial a message names.
@Suite("platform certificates")
struct PlatformCertificateTests {
    static func certificate(serial: String, in folder: String) throws -> (certificate: String, key: String) {
        let (status, output) = try runTool("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(folder)/key.pem", "-out", "\(folder)/cert.pem",
            "-days", "2", "-subj", "/CN=Tenpay.com Root CA", "-set_serial", "0x\(serial)",
        ])
        guard status == 0 else { throw ChannelKeyError("openssl: \(output)") }
        return (try String(contentsOfFile: "\(folder)/cert.pem", encoding: .utf8), try String(contentsOfFile: "\(folder)/key.pem", encoding: .utf8))
    }

    @Test("the serial is uppercase hex without the DER sign byte; the certificate's key verifies what its private key signed")
    func serialAndKey() throws {
        let folder = try temporaryDirectory("certificates")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for serial in ["D7CE59D1F522D701", "5F1C72E2A1"] {
            let (pem, keyText) = try Self.certificate(serial: serial, in: folder)
            let certificate = try RSACertificate(pem: pem)
            #expect(certificate.serial == serial)
            #expect(certificate.notValidAfter > Date())
            let key = try RSASigningKey(text: keyText)
            #expect(certificate.key.isValid(signature: key.sign("message"), for: "message"))
            #expect(try RSAVerifyingKey(text: pem).isValid(signature: key.sign("message"), for: "message"), "a certificate is a verifying key too")
        }
        #expect(throws: ChannelKeyError.self) { try RSACertificate(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----") }
    }
}

extension StatementWriterTests {
    @Test("the sandbox's CSV reads back, quoting included")
    func sandbox() throws {
        let rows = [SandboxStatementRow(day: "2026-12-06", channelReference: "sbx-card-1", paymentId: "pay,\"odd\"", amount: 500, currency: "USD",
                                        fee: 3, type: "payment")]
        let lines = try StatementReader.sandbox(StatementWriter.sandbox(rows), method: "card")
        #expect(lines.count == 1 && lines[0].paymentId == "pay,\"odd\"" && lines[0].amount == 500 && lines[0].fee == 3)
    }
}
