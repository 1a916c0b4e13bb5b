import Foundation
import Notifier
import PaystreamTesting
import Testing

/// Standard Webhooks signatures: the reference known answer, rotation, replay, bad secrets, and
/// a check by the Standard Webhooks Python library (independent of our signing code).
@Suite("webhook signatures (Standard Webhooks 1.0)")
struct WebhookSignatureTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let body = Data(#"{"test": 2432232314}"#.utf8)

    @Test("the reference known answer")
    func knownAnswer() throws {
        let secret = try WebhookSecret(Self.secret)
        #expect(WebhookSignature.sign(id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: secret)
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        #expect("\(secret)" == "whsec_…(24 bytes)")
    }

    @Test("rotation: two signatures, either secret verifies; another body, id or an old timestamp does not")
    func rotationAndReplay() throws {
        let old = try WebhookSecret(Self.secret)
        let new = try WebhookSecret("whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString())
        let header = WebhookSignature.header(id: Self.id, timestamp: Self.timestamp, body: Self.body, secrets: [old, new])
        #expect(header.split(separator: " ").count == 2 && header.hasPrefix("v1,g0hM9SsE"))
        let at = Date(timeIntervalSince1970: Double(Self.timestamp) + 10)
        for secret in [old, new] {
            #expect(WebhookSignature.verify(header: header, id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: secret, now: at))
        }
        #expect(!WebhookSignature.verify(header: header, id: Self.id, timestamp: Self.timestamp, body: Data(#"{"test":2432232314}"#.utf8),
                                         secret: old, now: at), "a re-serialised body must not verify")
        #expect(!WebhookSignature.verify(header: header, id: "msg_other", timestamp: Self.timestamp, body: Self.body, secret: old, now: at))
        #expect(!WebhookSignature.verify(header: header, id: Self.id, timestamp: Self.timestamp, body: Self.body, secret: old,
                                         now: Date(timeIntervalSince1970: Double(Self.timestamp) + 301)), "a replay after 5 minutes")
    }

    @Test("secrets: the prefix is required, the rest is base64 of 24–64 bytes", arguments: [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a signing secret starts with whsec_"),
        ("whsec_not base64!", "the part after whsec_ is not base64"),
        ("whsec_AAAA", "a signing key is 24 to 64 bytes, this one is 3"),
    ])
    func badSecrets(_ text: String, _ message: String) {
        #expect(throws: WebhookSecretError(message)) { try WebhookSecret(text) }
    }

    @Test("the Standard Webhooks Python library verifies what we sign, with either of two rotated secrets")
    func pythonVerifies() throws {
        let python = packageRoot.appendingPathComponent(".deps/venv/bin/python").path
        let new = "whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        let now = Int64(Date().timeIntervalSince1970)
        let body = Data(#"{"type":"payment.captured","amount":"¥199.99","nested":{"a":[1,2]}}"#.utf8)
        let header = WebhookSignature.header(id: "msg_1", timestamp: now, body: body,
                                             secrets: [try WebhookSecret(Self.secret), try WebhookSecret(new)])
        let script = """
            import sys
            from standardwebhooks.webhooks import Webhook
            body = sys.stdin.buffer.read()
            headers = {"webhook-id": "msg_1", "webhook-timestamp": sys.argv[1], "webhook-signature": sys.argv[2]}
            for secret in sys.argv[3:]:
                Webhook(secret).verify(body, headers)
            try:
                Webhook(sys.argv[3]).verify(body + b" ", headers)
                print("tampered body verified")
            except Exception:
                print("ok")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, "\(now)", header, Self.secret, new]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(body)
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0 && printed == "ok\n", "\(printed)")
    }
}
