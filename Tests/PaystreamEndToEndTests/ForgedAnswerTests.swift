import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamTesting
import SettlementWorker
import Testing

/// Issue 26, point 2: write access to the answer topics is not enough to move money. Every
/// forged answer below is dead-lettered with its own code before any decision, and the genuine
/// answer that follows is decided as usual.
@Suite("Forged channel and bank answers")
struct ForgedAnswerTests {
    typealias H = PaymentHarness

    /// A channel answer as JSON.
    static func answer(_ payment: String, amount: Int64 = 1000, instruction: String? = nil, id: String) throws -> Data {
        try Wire.encode(ChannelConfirmation(
            confirmationId: id, channelRequestId: instruction ?? "\(payment):authorize", paymentId: payment, status: "approved",
            amount: amount, currency: "CNY", channelReference: "ref-\(payment)", confirmedAt: "2026-11-24T10:00:01.000Z"))
    }

    /// A keyring of the forger's own: the right signer names and key id, other secrets.
    static let forger = AnswerKeyring(Dictionary(uniqueKeysWithValues: TestAnswerKeys.signers.map { ($0, [AnswerKey.random(id: "test-1")]) }))

    static func seal(_ keyring: AnswerKeyring, signer: String, topic: String, key: String, value: Data) -> [KafkaHeader] {
        [KafkaHeader(key: AnswerSeal.header, string: keyring.seal(signer: signer, topic: topic, key: Array(key.utf8), value: Array(value))!)]
    }

    @Test("an approval unsealed, sealed with another key, sealed by another method, tampered with or naming another instruction captures nothing")
    func forgedApprovals() async throws {
        let h = try await H()
        let topics = h.topics, channel = topics.channelConfirmations
        try await h.send(H.request("f-1"))
        #expect(try await h.outcome(of: "f-1").type == "payment.authorized")

        func send(_ value: Data, key: String = "user-1", headers: [KafkaHeader]) throws {
            try h.harness.send(topic: channel, [(key: Optional(key), value: value)], partitioning: h.upstream, headers: headers)
        }
        // 1. No seal at all (anyone with write access to channel.confirmations).
        try send(try Self.answer("pay-f-1", id: "forged-1"), headers: [])
        // 2. A seal by the right signer and key id, made with the forger's own secret.
        let forged = try Self.answer("pay-f-1", id: "forged-2")
        try send(forged, headers: Self.seal(Self.forger, signer: "card", topic: channel, key: "user-1", value: forged))
        // 3. A genuine seal, by the Alipay connector's key: it cannot answer for a card payment.
        let alipay = try Self.answer("pay-f-1", id: "forged-3")
        try send(alipay, headers: Self.seal(TestAnswerKeys.keyring, signer: "alipay", topic: channel, key: "user-1", value: alipay))
        // 4. A genuine seal over another value (the amount raised after sealing).
        let sealed = try Self.answer("pay-f-1", id: "forged-4")
        let header = Self.seal(TestAnswerKeys.keyring, signer: "card", topic: channel, key: "user-1", value: sealed)
        try send(try Self.answer("pay-f-1", amount: 900_000, id: "forged-4"), headers: header)
        // 5. A genuine seal moved to another topic's record: the topic is in the MAC.
        let elsewhere = try Self.answer("pay-f-1", id: "forged-5")
        try send(elsewhere, headers: Self.seal(TestAnswerKeys.keyring, signer: "card", topic: topics.paymentRequests, key: "user-1", value: elsewhere))
        // 6. Sealed, but naming an instruction this shard never sent.
        try await h.confirm("pay-f-1", instruction: "pay-other:authorize", id: "forged-6")
        // 7. Two seal headers (one good): refused, not picked from.
        let doubled = try Self.answer("pay-f-1", id: "forged-7")
        try send(doubled, headers: Self.seal(TestAnswerKeys.keyring, signer: "card", topic: channel, key: "user-1", value: doubled)
                    + Self.seal(Self.forger, signer: "card", topic: channel, key: "user-1", value: doubled))

        try await h.settle()
        #expect(h.events(of: "pay-f-1").map(\.type) == ["payment.authorized"])
        #expect(h.settlementRequests.isEmpty)
        #expect(h.deadLetters.map(\.errorCode) == ["unsigned_answer", "bad_answer_seal", "bad_answer_seal", "bad_answer_seal",
                                                   "bad_answer_seal", "unknown_instruction", "bad_answer_seal"])
        #expect(h.deadLetters[2].errorMessage.contains("sealed by 'alipay'"))
        // A dead letter keeps the seal it came with (so a genuine answer parked early replays sealed).
        #expect(h.deadLetters[0].answerSeal == nil && h.deadLetters[2].answerSeal?.hasPrefix("v1 alipay test-1 ") == true)

        // The channel's genuine answer still captures, once.
        try await h.confirm("pay-f-1", id: "genuine")
        #expect(try await h.event("payment.captured", of: "pay-f-1").amount == 1000)
        try await h.settle()
        try await h.finish()
        #expect(h.settlementRequests.map(\.paymentId) == ["pay-f-1"])
    }

    @Test("a late capture for more than the payment asked is parked, not booked and refunded as said")
    func lateCaptureOverAmount() async throws {
        let h = try await H()
        try await h.expireUnanswered("late-1", amount: 4_000)
        try await h.confirm("pay-late-1", amount: 4_000_000, id: "late-over")
        try await h.settle()
        #expect(h.deadLetters.map(\.errorCode) == ["answer_exceeds_instruction"])
        #expect(!h.events(of: "pay-late-1").contains { $0.type == "payment.late_capture" })
        #expect(!h.channelRequests.contains { $0.requestType == "refund" })
        // The amount it asked for is taken back at once, as before.
        try await h.confirm("pay-late-1", amount: 4_000, id: "late-right")
        try await h.event("payment.late_capture", of: "pay-late-1")
        try await h.settle()
        try await h.finish()
        #expect(h.channelRequests.filter { $0.requestType == "refund" }.map(\.amount) == [4_000])
    }

    @Test("a bank answer unsealed or sealed with another key puts no paid-out money back")
    func forgedBankAnswers() throws {
        let (h, payout) = try SettlementScenarioTests.paidOutHarness()
        try SettlementScenarioTests.bank(h, payout, "paid", id: "c-1")
        let before = try SettlementScenarioTests.balance(h, "merchant_available:m-7:CNY")
        // A "returned" would put the money back to available: the payee paid twice.
        try SettlementScenarioTests.bank(h, payout, "returned", id: "forged-1", type: "return", sealedBy: nil)
        let value = try Wire.encode(PayoutConfirmation(
            confirmationId: "forged-2", payoutId: payout, status: "returned", amount: 9_810, currency: "CNY", reason: nil,
            bankReference: "bank-1", requestType: "return", confirmedAt: Wire.timestamp(h.clock.now())))
        try h.send(topic: h.topics.payoutConfirmations, [("m-7", value)],
                   headers: Self.seal(Self.forger, signer: AnswerSeal.bank, topic: h.topics.payoutConfirmations, key: "m-7", value: value))
        // The card connector's genuine key is not the bank's.
        try h.send(topic: h.topics.payoutConfirmations, [("m-7", value)],
                   headers: Self.seal(TestAnswerKeys.keyring, signer: "card", topic: h.topics.payoutConfirmations, key: "m-7", value: value))
        #expect(h.deadLetters.map(\.errorCode) == ["unsigned_answer", "bad_answer_seal", "bad_answer_seal"])
        #expect(try SettlementScenarioTests.balance(h, "merchant_available:m-7:CNY") == before)
        #expect(SettlementScenarioTests.payoutEvents(h).map(\.type) == ["batch.closed", "payout.sent", "payout.confirmed"])
        try SettlementChecks.assertSound(h)
    }

    @Test("the shipped configurations require sealed answers and bound reference data; the daemon refuses to start without keys")
    func shippedSettings() throws {
        func options(_ daemon: String) throws -> DaemonOptions {
            try DaemonOptions.parse(["--config", packageRoot.appendingPathComponent("Config/\(daemon).yaml").path, "--brokers", "127.0.0.1:9"])
        }
        let payment = try DaemonConfiguration<PaymentStage.Settings>.resolve(daemon: "payment-worker", options: try options("payment-worker"),
                                                                            environment: [:], stageDefaults: PaymentStage.Settings()).stage
        #expect(payment.answers == AnswerSettings(credentialsDirectory: "", required: true))
        #expect(payment.referenceBounds == ReferenceBounds(maxFeeBasisPoints: 1_000, maxFixedFee: ["CNY": 1_000], maxCommissionBasisPoints: 3_000,
                                                           maxCreditLimit: ["CNY": 50_000_000], maxFxChangeBasisPoints: 2_000))
        let settlement = try DaemonConfiguration<SettlementStage.Settings>.resolve(
            daemon: "settlement-worker", options: try options("settlement-worker"), environment: [:], stageDefaults: try SettlementStage.Settings()).stage
        #expect(settlement.answers.required && settlement.referenceBounds == payment.referenceBounds)
        // No credentials folder: a clear refusal, not a worker that accepts anything.
        #expect {
            _ = try AnswerVerification.from(payment.answers, purpose: "check the channels' answers", accept: PaymentStage.acceptsSigner,
                                            environment: [:], daemon: "payment-worker")
        } throws: { "\($0)".contains("no answer keys to check the channels' answers") }
        // The test keys' folder has every signer: the payment-worker takes all but the bank's.
        guard case .required(let keyring) = try AnswerVerification.from(payment.answers, purpose: "check", accept: PaymentStage.acceptsSigner,
                                                                         environment: ["CREDENTIALS_DIRECTORY": TestAnswerKeys.folder],
                                                                         daemon: "payment-worker") else {
            Issue.record("answers not checked")
            return
        }
        #expect(!keyring.signers.contains(AnswerSeal.bank) && keyring.signers.contains("card"))
    }

    @Test("paystream publish refuses the answer topics: it holds no key, so what it wrote would only be parked")
    func publishRefusesAnswerTopics() async throws {
        let directory = try temporaryDirectory("publish-answers")
        let file = "\(directory)/answers.jsonl"
        try #"{"payer_id":"user-1","status":"approved"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        for topic in ["channel.confirmations", "payouts.confirmations"] {
            let tool = try DaemonProcess("paystream", arguments: ["publish", "--topic", topic, "--brokers", "127.0.0.1:9", file],
                                         logDirectory: directory)
            #expect(await tool.waitForExit(timeout: .seconds(60)) == 64, "\(tool.log)")
            #expect(tool.log.contains("paystream publish holds no answer key"), "\(tool.log)")
        }
    }
}
