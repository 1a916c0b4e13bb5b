import Foundation
import PaystreamKafka
@testable import PaystreamRuntime
import Testing

@Suite("Answer seals")
struct AnswerSealTests {
    static let secret = Array(repeating: UInt8(7), count: 32)
    static let other = Array(repeating: UInt8(9), count: 32)

    static func record(topic: String = "channel.confirmations", key: String? = "user-1", value: String = #"{"status":"approved"}"#,
                       seal: String?) -> ConsumedRecord {
        ConsumedRecord(topic: topic, partition: 0, offset: 0, key: key.map { Array($0.utf8) }, value: Array(value.utf8),
                       headers: seal.map { [KafkaHeader(key: AnswerSeal.header, string: $0)] } ?? [])
    }

    @Test("a seal verifies for its topic, key and value only; unsigned, foreign, unknown and malformed seals are told apart")
    func sealAndCheck() throws {
        let keyring = AnswerKeyring(["card": [try AnswerKey(id: "k1", secret: Self.secret)]])
        let seal = try #require(keyring.seal(signer: "card", topic: "channel.confirmations", key: Array("user-1".utf8),
                                             value: Array(#"{"status":"approved"}"#.utf8)))
        #expect(seal.hasPrefix("v1 card k1 "))
        #expect(keyring.check(Self.record(seal: seal)) == .sealed(signer: "card"))
        #expect(keyring.check(Self.record(seal: nil)) == .unsigned)
        // Every part is covered: value, key, topic; a missing key differs from an empty one.
        for changed in [Self.record(value: #"{"status":"approved" }"#, seal: seal), Self.record(key: "user-2", seal: seal),
                        Self.record(topic: "payouts.confirmations", seal: seal), Self.record(key: nil, seal: seal),
                        Self.record(key: "", seal: seal)] {
            guard case .bad(let why) = keyring.check(changed) else { Issue.record("accepted \(changed)"); continue }
            #expect(why.contains("does not match"))
        }
        // The same signer and key id with another secret (a forger's key).
        let forger = AnswerKeyring(["card": [try AnswerKey(id: "k1", secret: Self.other)]])
        let forged = try #require(forger.seal(signer: "card", topic: "channel.confirmations", key: Array("user-1".utf8),
                                              value: Array(#"{"status":"approved"}"#.utf8)))
        #expect(forged != seal)
        guard case .bad = keyring.check(Self.record(seal: forged)) else { Issue.record("forged seal accepted"); return }
        for (text, words) in [("v1 alipay k1 AAAA", "signer 'alipay' has no key"), ("v1 card k9 AAAA", "no key 'k9'"),
                              ("v2 card k1 AAAA", "is not 'v1"), ("v1 card k1 not-base64!", "not 32 bytes"),
                              ("v1 card k1", "is not 'v1"), ("", "is not 'v1")] {
            guard case .bad(let why) = keyring.check(Self.record(seal: text)) else { Issue.record("accepted '\(text)'"); continue }
            #expect(why.contains(words), "\(text): \(why)")
        }
        // Two seal headers are refused, not picked from.
        var twice = Self.record(seal: seal)
        twice = ConsumedRecord(topic: twice.topic, partition: 0, offset: 0, key: twice.key, value: twice.value,
                               headers: twice.headers + twice.headers)
        #expect(keyring.check(twice) == .bad("the record carries 2 seal headers"))
        #expect(throws: DeadLetter(code: "unsigned_answer", message: "answer on channel.confirmations carries no paystream-answer-seal header")) {
            _ = try keyring.requireSeal(Self.record(seal: nil))
        }
        #expect(try keyring.requireSeal(Self.record(seal: seal)) == "card")
        #expect(try AnswerVerification.notChecked.signer(of: Self.record(seal: nil)) == nil)
    }

    @Test("rotation: the first key seals, every listed key verifies; a retired key stops verifying")
    func rotation() throws {
        let old = try AnswerKey(id: "2026-01", secret: Self.secret), new = try AnswerKey(id: "2026-12", secret: Self.other)
        let before = AnswerKeyring(["bank": [old]])
        let during = AnswerKeyring(["bank": [new, old]])
        let after = AnswerKeyring(["bank": [new]])
        let value = Array(#"{"status":"paid"}"#.utf8)
        let oldSeal = try #require(before.seal(signer: "bank", topic: "payouts.confirmations", key: nil, value: value))
        let newSeal = try #require(during.seal(signer: "bank", topic: "payouts.confirmations", key: nil, value: value))
        #expect(newSeal.hasPrefix("v1 bank 2026-12 "))
        for seal in [oldSeal, newSeal] {
            #expect(during.check(seal: seal, topic: "payouts.confirmations", key: nil, value: value) == .sealed(signer: "bank"))
        }
        #expect(after.check(seal: newSeal, topic: "payouts.confirmations", key: nil, value: value) == .sealed(signer: "bank"))
        #expect(after.check(seal: oldSeal, topic: "payouts.confirmations", key: nil, value: value)
                == .bad("signer 'bank' has no key '2026-01' here"))
    }

    @Test("key files: '<id> <base64>' lines, comments; short, doubled or malformed keys refused without showing the secret")
    func keyFiles() throws {
        let secret = Data(Self.secret).base64EncodedString(), short = Data(Self.secret.prefix(16)).base64EncodedString()
        let keys = try AnswerKeyring.parse("# rotated 2026-12\nk2 \(Data(Self.other).base64EncodedString())\n\nk1 \(secret)\n")
        #expect(keys.map(\.id) == ["k2", "k1"])
        #expect(AnswerKeyring.file(keys) == "k2 \(Data(Self.other).base64EncodedString())\nk1 \(secret)\n")
        // Printed or dumped, a key or a keyring shows ids only.
        var dumped = ""
        dump(AnswerKeyring(["card": keys]), to: &dumped)
        for text in ["\(keys)", String(describing: AnswerKeyring(["card": keys])), dumped] {
            #expect(text.contains("k2") && !text.contains(secret) && !text.contains("7, 7, 7") && !text.contains("9, 9, 9"), "\(text)")
        }
        let refusals: [(String, String)] = [
            ("k1 \(short)", "16 bytes; at least 32"), ("k1", "is not '<key id> <base64 secret>'"), ("k1 \(secret) extra", "line 1"),
            ("k1 \(secret)\nk1 \(secret)", "appears twice"), ("k1 %%%%", "line 1"),
        ]
        for (text, words) in refusals {
            #expect {
                _ = try AnswerKeyring.parse(text)
            } throws: { error in
                let description = "\(error)"
                return description.contains(words) && !description.contains(secret) && !description.contains(short)
            }
        }

        let folder = NSTemporaryDirectory() + "answer-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "k1 \(secret)\n".write(toFile: "\(folder)/answers_card", atomically: true, encoding: .utf8)
        try "k1 \(secret)\n".write(toFile: "\(folder)/answers_bank", atomically: true, encoding: .utf8)
        try "kafka secret".write(toFile: "\(folder)/kafka_sasl.password", atomically: true, encoding: .utf8)
        let environment = ["CREDENTIALS_DIRECTORY": folder]
        // A verifier takes only the signers it accepts.
        let payment = try #require(try AnswerSettings().keyring(environment: environment, purpose: "check", accept: { $0 != "bank" }))
        #expect(payment.signers == ["card"])
        #expect(try AnswerSettings(required: false).keyring(environment: environment, purpose: "check", accept: { _ in true }) == nil)
        #expect(throws: ConfigurationError.self) {
            _ = try AnswerSettings().keyring(environment: [:], purpose: "check", accept: { _ in true })
        }
        #expect(throws: ConfigurationError.self) {
            _ = try AnswerSettings().keyring(environment: environment, purpose: "check", accept: { $0 == "alipay" })
        }
        // A signer must hold a key for everything it answers.
        #expect {
            _ = try AnswerKeyring.signing(AnswerSettings(), signers: ["card", "alipay", "bank"], environment: environment, daemon: "test")
        } throws: { "\($0)".contains("no answer key for alipay") }
        let sandbox = try #require(try AnswerKeyring.signing(AnswerSettings(), signers: ["card", "bank"], environment: environment, daemon: "test"))
        #expect(sandbox.signers == ["bank", "card"])
    }
}
