import Foundation
import Logging
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import ChannelSandbox
import PaystreamTesting
import Testing

/// channel-sandbox alone against Tansu: the test publishes crafted `channel-request/v1` records on
/// `channel.requests` and checks what comes back on `channel.confirmations` and in the statement
/// files. Tests that need time to pass drive the worker's clock by hand, so "not before it is
/// due" is exact and nothing depends on how fast the machine is.
@Suite("channel-sandbox", .serialized)
struct ChannelSandboxTests {
    typealias Settings = ChannelSandboxStage.Settings
    typealias Profile = ChannelSandboxStage.MethodProfile

    // MARK: - settings and draws (no broker)

    @Test("the shipped Config/channel-sandbox.yaml decodes; method entries inherit from default and override it")
    func shippedSettings() throws {
        let config = try Self.resolve(path: packageRoot.appendingPathComponent("Config/channel-sandbox.yaml").path)
        let settings = config.stage
        #expect(settings.seed == 1)
        #expect(settings.tickInterval == .milliseconds(20))
        #expect(settings.statementDirectory == "channel-statements")
        #expect(settings.statementInterval == .seconds(1))
        #expect(config.worker.maxBatchWait == .milliseconds(20))
        let card = settings.profile(for: "card"), alipay = settings.profile(for: "alipay"), cash = settings.profile(for: "cash")
        #expect(card.latency == (try LatencyDistribution(minimum: 10, p50: 40, p99: 150, maximum: 300)))
        #expect(card.feePlan.basisPoints == 55)
        #expect(card.declineRate == 0.02)  // from default
        #expect(card.declineReasons?.reasons == ["do_not_honor", "expired_card", "insufficient_balance", "suspected_fraud"])
        #expect(alipay.latency == settings.defaultProfile.latency)
        #expect(alipay.feePlan.basisPoints == 60)
        #expect(cash.declineReasons?.reasons == ["buyer_refused"])
        #expect(cash.declineRate == 0.05)
        #expect(cash.feePlan.fixed == 500)
        #expect(settings.defaultProfile.duplicateRate == 0.02)
        #expect(settings.defaultProfile.noAnswerRate == 0)
        #expect(settings.profiles["wallet"] == nil)
        // Without a stage section: instant, no declines, no misbehaviour.
        let defaults = Settings()
        #expect(defaults.profile(for: "card") == Profile())
        #expect(Profile().latency == .instant && Profile().declineRate == 0 && Profile().duplicateRate == 0)
    }

    @Test("bad stage values are configuration errors naming the key", arguments: [
        ("methods:\n    card:\n      decline_rate: 1.5", "stage.methods.card.decline_rate: must be a share between 0 and 1"),
        ("methods:\n    card:\n      latence_ms: 30", "stage.methods.card.latence_ms: unknown key"),
        ("methods:\n    wallet:\n      decline_rate: 0.1", "stage.methods.wallet: wallet payments never reach a channel"),
        ("methods:\n    paypal: {}", "stage.methods.paypal: unknown method"),
        ("methods:\n    default:\n      latency_ms: {p50: 90, p99: 40}", "stage.methods.default.latency_ms: p50 90 is above p99 40"),
        ("methods:\n    cash:\n      decline_reasons: {}", "stage.methods.cash.decline_reasons: at least one reason is needed"),
        ("methods:\n    cash:\n      decline_reasons: {buyer_refused: 0}", "weight of 'buyer_refused' must be a number > 0"),
        ("methods:\n    card:\n      fee_basis_points: 10001", "stage.methods.card.fee_basis_points: must be 0…10000"),
        ("methods:\n    card:\n      reorder_delay_ms: -1", "stage.methods.card.reorder_delay_ms: must be ≥ 0 ms"),
        ("decline_rate: 0.1", "stage.decline_rate: unknown key; per-method settings moved under methods:"),
        ("tick_interval_ms: 0", "stage.tick_interval_ms: must be > 0 ms"),
        ("statement_interval_ms: -5", "stage.statement_interval_ms: must be ≥ 0 ms"),
    ])
    func badSettings(yaml: String, message: String) throws {
        let directory = try temporaryDirectory("sandbox-config")
        let path = "\(directory)/sandbox.yaml"
        try "stage:\n  \(yaml)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try Self.resolve(path: path) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "no error")")
    }

    @Test("latency draws follow the fitted log-normal: median near p50, 99th percentile near p99, all within min…max")
    func latencyDistribution() throws {
        let distribution = try LatencyDistribution(minimum: 5, p50: 40, p99: 200, maximum: 400)
        let draws = SandboxDraws(seed: 42)
        let samples = (0..<20_000).map { i -> Int in
            let id = "pay-\(i):authorize"
            return distribution.milliseconds(draws.uniform(.latency, id), draws.uniform(.latencyAngle, id))
        }.sorted()
        #expect(samples.first! >= 5 && samples.last! <= 400)
        #expect((36...44).contains(samples[samples.count / 2]), "median \(samples[samples.count / 2])")
        #expect((175...225).contains(samples[samples.count * 99 / 100]), "p99 \(samples[samples.count * 99 / 100])")
        #expect(try LatencyDistribution.constant(30).milliseconds(0.3, 0.9) == 30)
        #expect(LatencyDistribution.instant.milliseconds(0.99, 0.5) == 0)
        // Draws depend on the seed, the request and the purpose only.
        #expect(draws.uniform(.decline, "a") == SandboxDraws(seed: 42).uniform(.decline, "a"))
        #expect(draws.uniform(.decline, "a") != SandboxDraws(seed: 43).uniform(.decline, "a"))
        #expect(draws.uniform(.decline, "a") != draws.uniform(.duplicate, "a"))
    }

    // MARK: - authorizations

    @Test("decline share within tolerance of the rate; reasons only from the configured set (cash: buyer_refused); one answer per request, keyed and partitioned like it")
    func declines() async throws {
        let cardProfile = Profile(declineRate: 0.3,
                                  declineReasons: try ReasonWeights(["insufficient_balance": 2, "do_not_honor": 1, "expired_card": 1]))
        let settings = Settings(seed: 5, profiles: ["card": cardProfile, "cash": Profile(declineRate: 0.3)])
        let harness = try await Harness(settings: settings, partitions: 3)
        var requests = (0..<200).map { Self.authorize("pay-d\($0)", method: "card", payer: "payer-\($0 % 7)") }
        requests += (0..<100).map { Self.authorize("pay-c\($0)", method: "cash", payer: "payer-\($0 % 5)") }
        try await harness.publish(requests)
        try await harness.waitForAnswers(to: requests.map(\.channelRequestId))
        try await harness.settle()
        let answers = harness.answers
        let requestRecords = harness.records.filter { $0.topic == harness.topics.channelRequests }
        await harness.stop()

        #expect(answers.count == 300)
        #expect(Set(answers.map(\.0.channelRequestId)).count == 300)
        let card = answers.filter { $0.0.paymentId.hasPrefix("pay-d") }.map(\.0)
        let cash = answers.filter { $0.0.paymentId.hasPrefix("pay-c") }.map(\.0)
        let cardDeclined = card.filter { $0.status == "declined" }
        let cashDeclined = cash.filter { $0.status == "declined" }
        // 0.3 ± about 3 standard deviations.
        #expect((40...80).contains(cardDeclined.count), "\(cardDeclined.count) of 200 card declined")
        #expect((16...44).contains(cashDeclined.count), "\(cashDeclined.count) of 100 cash declined")
        #expect(Set(cardDeclined.compactMap(\.reason)) == ["insufficient_balance", "do_not_honor", "expired_card"])
        #expect(cardDeclined.allSatisfy { $0.reason != nil && $0.message != nil })
        #expect(Set(cashDeclined.map(\.reason)) == ["buyer_refused"])
        for answer in card + cash where answer.status == "approved" {
            #expect(answer.reason == nil && answer.amount == 1000 && answer.currency == "CNY")
        }
        #expect((card + cash).allSatisfy { $0.requestType == "authorize" && $0.confirmationId == "cc-\($0.channelRequestId)" })
        #expect(card.allSatisfy { $0.channelReference?.hasPrefix("sbx-card-") == true && $0.channelReference?.count == 25 })
        // Keyed and partitioned like the request.
        for (answer, record) in answers {
            let request = requestRecords.first { Self.requestID($0) == answer.channelRequestId }
            #expect(record.keyString == request?.keyString)
            #expect(record.partition == request?.partition)
        }
    }

    @Test("no answer: the decision is kept and a query gets it; an unanswered query; a query about an unseen authorization is unknown")
    func noAnswerAndQueries() async throws {
        let settings = Settings(profiles: [
            "card": Profile(noAnswerRate: 1),
            "alipay": Profile(declineRate: 1, declineReasons: try ReasonWeights(["risk_control_rejected": 1]), noAnswerRate: 1),
            "wechat_pay": Profile(noAnswerRate: 1, queryNoAnswerRate: 1),
        ])
        let harness = try await Harness(settings: settings)
        let first = [Self.authorize("pay-a", method: "card"), Self.authorize("pay-b", method: "alipay"),
                     Self.authorize("pay-c", method: "wechat_pay"), Self.authorize("pay-s1", method: "online_banking")]
        try await harness.publish(first)
        try await harness.waitForAnswers(to: ["pay-s1:authorize"])
        try await harness.settle()
        #expect(harness.answers.map(\.0.channelRequestId) == ["pay-s1:authorize"])

        let queries = [Self.follow("query", "pay-a", method: "card"), Self.follow("query", "pay-b", method: "alipay"),
                       Self.follow("query", "pay-c", method: "wechat_pay"), Self.follow("query", "pay-never", method: "card"),
                       Self.authorize("pay-s2", method: "online_banking")]
        try await harness.publish(queries)
        try await harness.waitForAnswers(to: ["pay-a:query:1", "pay-b:query:1", "pay-never:query:1", "pay-s2:authorize"])
        try await harness.settle()
        let answers = harness.answers.map(\.0)
        var statement: String?
        try await eventually {
            statement = try harness.statementFile(day: Self.today(answers), method: "card")
            return statement?.contains(",pay-a,") == true
        }
        await harness.stop()

        #expect(answers.map(\.channelRequestId).sorted() ==
                ["pay-a:query:1", "pay-b:query:1", "pay-never:query:1", "pay-s1:authorize", "pay-s2:authorize"])
        let a = try #require(answers.first { $0.channelRequestId == "pay-a:query:1" })
        #expect(a.status == "approved" && a.requestType == "query" && a.amount == 1000 && a.paymentId == "pay-a")
        #expect(a.confirmationId == "cc-pay-a:query:1")
        let reference = try #require(a.channelReference)
        #expect(reference.hasPrefix("sbx-card-"))
        // The unanswered approval still took the money: it is in the card statement, same reference.
        #expect(statement?.contains("\(reference),pay-a,1000,CNY,0,payment") == true)
        let b = try #require(answers.first { $0.channelRequestId == "pay-b:query:1" })
        #expect(b.status == "declined" && b.reason == "risk_control_rejected" && b.requestType == "query")
        let never = try #require(answers.first { $0.channelRequestId == "pay-never:query:1" })
        #expect(never.status == "unknown" && never.channelReference == nil && never.requestType == "query")
    }

    @Test("duplicates: two records with one confirmation_id, byte for byte, the copy later; a redelivered request is answered once")
    func duplicates() async throws {
        let settings = Settings(profiles: [
            "card": Profile(latency: try .constant(30), duplicateRate: 1, duplicateDelayMs: 100),
            "online_banking": Profile(duplicateRate: 1, duplicateDelayMs: 0),
        ])
        let harness = try await Harness(settings: settings)
        let requests = [Self.authorize("pay-1", method: "card"), Self.authorize("pay-2", method: "card"),
                        Self.authorize("pay-3", method: "online_banking"), Self.authorize("pay-4", method: "alipay"),
                        Self.authorize("pay-4", method: "alipay")]  // redelivered: same channel_request_id
        try await harness.publish(requests)
        try await harness.waitForAnswers(to: ["pay-1:authorize", "pay-2:authorize", "pay-3:authorize", "pay-4:authorize"]) {
            $0.count >= 7
        }
        try await harness.settle()
        let answers = harness.answers
        await harness.stop()

        #expect(answers.count == 7)
        for payment in ["pay-1", "pay-2", "pay-3"] {
            let copies = answers.filter { $0.0.paymentId == payment }.sorted { $0.1.offset < $1.1.offset }
            try #require(copies.count == 2)
            #expect(copies[0].0.confirmationId == copies[1].0.confirmationId)
            #expect(copies[0].1.value == copies[1].1.value)
            #expect(copies[0].1.header("event-id") == "cc:\(payment):authorize")
            #expect(copies[1].1.header("event-id") == "cc:\(payment):authorize:repeat")
        }
        #expect(answers.filter { $0.0.paymentId == "pay-4" }.count == 1)
    }

    @Test("out of order: an answer held back is overtaken by the answer to a later request, and is sent once its hold-back is over")
    func outOfOrder() async throws {
        let clock = ManualClock(Self.date("2026-11-24T10:00:00.000Z"))
        let settings = Settings(profiles: ["card": Profile(reorderRate: 1, reorderDelayMs: 800)])
        let harness = try await Harness(settings: settings, clock: clock)
        try await harness.publish([Self.authorize("pay-early", method: "card"), Self.authorize("pay-late", method: "alipay")])
        try await harness.waitForAnswers(to: ["pay-late:authorize"])
        try await harness.settle()
        #expect(harness.answers.map(\.0.paymentId) == ["pay-late"])
        clock.advance(by: 0.799)
        try await harness.settle()
        #expect(harness.answers.count == 1)
        clock.advance(by: 0.001)
        try await harness.waitForAnswers(to: ["pay-early:authorize"])
        let answers = harness.answers
        await harness.stop()

        let early = try #require(answers.first { $0.0.paymentId == "pay-early" })
        let late = try #require(answers.first { $0.0.paymentId == "pay-late" })
        #expect(early.1.partition == late.1.partition)
        #expect(late.1.offset < early.1.offset)
        #expect(late.0.confirmedAt == "2026-11-24T10:00:00.000Z")
        #expect(early.0.confirmedAt == "2026-11-24T10:00:00.800Z")
    }

    @Test("latency: no answer before it is due on the worker's clock; each answer at or after its drawn latency")
    func latency() async throws {
        let clock = ManualClock(Self.date("2026-11-24T10:00:00.000Z"))
        let distribution = try LatencyDistribution(minimum: 100, p50: 300, p99: 900, maximum: 1000)
        let settings = Settings(seed: 9, profiles: ["cash": Profile(latency: try .constant(1000)),
                                                    "alipay": Profile(latency: distribution)])
        let harness = try await Harness(settings: settings, clock: clock)
        let spread = (0..<10).map { Self.authorize("pay-l\($0)", method: "alipay") }
        try await harness.publish([Self.authorize("pay-slow", method: "cash")] + spread + [Self.authorize("pay-now", method: "card")])
        try await harness.waitForAnswers(to: ["pay-now:authorize"])
        try await harness.settle()
        #expect(harness.answers.map(\.0.paymentId) == ["pay-now"])
        for _ in 0..<9 {
            clock.advance(by: 0.1)
            try await harness.settle(.milliseconds(150))
        }
        clock.advance(by: 0.099)
        try await harness.settle()
        #expect(!harness.answers.contains { $0.0.paymentId == "pay-slow" })
        clock.advance(by: 0.001)
        try await harness.waitForAnswers(to: ["pay-slow:authorize"] + spread.map(\.channelRequestId))
        let answers = harness.answers.map(\.0)
        await harness.stop()

        #expect(answers.first { $0.paymentId == "pay-slow" }?.confirmedAt == "2026-11-24T10:00:01.000Z")
        // In milliseconds after the start: each answer at or after its own draw.
        let start = Self.milliseconds("2026-11-24T10:00:00.000Z")
        let draws = SandboxDraws(seed: 9)
        var latencies: Set<Int> = []
        for request in spread {
            let id = request.channelRequestId
            let latency = distribution.milliseconds(draws.uniform(.latency, id), draws.uniform(.latencyAngle, id))
            latencies.insert(latency)
            let answer = try #require(answers.first { $0.channelRequestId == id })
            let answered = Self.milliseconds(answer.confirmedAt) - start
            #expect(answered >= Int64(latency), "\(id) answered after \(answered) ms, drawn latency \(latency) ms")
            #expect(answered <= 1000)
        }
        #expect(latencies.count > 5)  // the draws really differ
    }

    @Test("same seed → the same decisions, whatever the arrival order; another seed → other decisions")
    func deterministic() async throws {
        let profile = Profile(declineRate: 0.3, noAnswerRate: 0.15, amountMismatchRate: 0.2)
        let requests = (0..<60).map { Self.authorize("pay-r\($0)", method: "card") }
        func run(seed: UInt64, reversed: Bool) async throws -> [String: String] {
            let harness = try await Harness(settings: Settings(seed: seed, profiles: ["card": profile]))
            try await harness.publish(reversed ? requests.reversed() : requests)
            try await harness.publish([Self.authorize("pay-end", method: "alipay")])
            try await harness.waitForAnswers(to: ["pay-end:authorize"])
            try await harness.settle()
            let answers = harness.answers.map(\.0)
            await harness.stop()
            var decisions = Dictionary(uniqueKeysWithValues: requests.map { ($0.channelRequestId, "no answer") })
            for a in answers where a.paymentId != "pay-end" {
                decisions[a.channelRequestId] = "\(a.status) \(a.reason ?? "-") \(a.amount) \(a.channelReference ?? "-")"
            }
            return decisions
        }
        let first = try await run(seed: 7, reversed: false)
        let again = try await run(seed: 7, reversed: true)
        let other = try await run(seed: 8, reversed: false)
        #expect(first == again)
        #expect(first != other)
        // Each kind of decision occurred, so the comparison covered them.
        let kinds = Set(first.values.map { $0.split(separator: " ").first.map(String.init) ?? "" })
        #expect(kinds == ["approved", "declined", "no"])
        #expect(first.values.contains { $0.hasPrefix("approved - 990 ") })
    }

    // MARK: - refunds and cancels

    @Test("refunds: approved with their own reference up to the captured amount, declined beyond it, for an uncaptured payment, and at the refund decline rate")
    func refunds() async throws {
        let settings = Settings(profiles: [
            "alipay": Profile(refundDeclineRate: 1, refundDeclineReasons: try ReasonWeights(["merchant_balance_low": 1])),
        ])
        let harness = try await Harness(settings: settings)
        let requests = [
            Self.authorize("pay-f", method: "card", amount: 1000),
            Self.follow("refund", "pay-f", method: "card", amount: 600, number: 1),
            Self.follow("refund", "pay-f", method: "card", amount: 500, number: 2),
            Self.follow("refund", "pay-f", method: "card", amount: 400, number: 3),
            Self.follow("refund", "pay-f", method: "card", amount: 1, number: 4),
            Self.follow("refund", "pay-f", method: "card", amount: 1, currency: "USD", number: 5),
            Self.follow("refund", "pay-nothing", method: "card", amount: 100, number: 1),
            Self.authorize("pay-g", method: "alipay", amount: 1000),
            Self.follow("refund", "pay-g", method: "alipay", amount: 100, number: 1),
        ]
        try await harness.publish(requests)
        try await harness.waitForAnswers(to: requests.map(\.channelRequestId))
        try await harness.settle()
        let answers = Dictionary(uniqueKeysWithValues: harness.answers.map { ($0.0.channelRequestId, $0.0) })
        await harness.stop()

        let authorization = try #require(answers["pay-f:authorize"])
        func outcome(_ id: String) -> String { answers[id].map { "\($0.status) \($0.reason ?? "-")" } ?? "none" }
        #expect(outcome("pay-f:refund:1") == "approved -")
        #expect(outcome("pay-f:refund:2") == "declined exceeds_captured")
        #expect(outcome("pay-f:refund:3") == "approved -")
        #expect(outcome("pay-f:refund:4") == "declined exceeds_captured")
        #expect(outcome("pay-f:refund:5") == "declined currency_mismatch")
        #expect(outcome("pay-nothing:refund:1") == "declined not_captured")
        #expect(outcome("pay-g:refund:1") == "declined merchant_balance_low")
        let refund = try #require(answers["pay-f:refund:1"])
        #expect(refund.requestType == "refund" && refund.amount == 600)
        #expect(refund.channelReference != nil && refund.channelReference != authorization.channelReference)
        #expect(refund.channelReference?.hasPrefix("sbx-card-") == true)
    }

    @Test("cancel: before the answer → the authorization is never answered and the cancel approved; after an approval → already_captured; after a decline or for an unseen one → approved")
    func cancels() async throws {
        let clock = ManualClock(Self.date("2026-11-24T10:00:00.000Z"))
        let settings = Settings(profiles: ["cash": Profile(latency: try .constant(1000)), "alipay": Profile(declineRate: 1)])
        let harness = try await Harness(settings: settings, clock: clock)
        let requests = [
            Self.authorize("pay-p", method: "cash"), Self.follow("cancel", "pay-p", method: "cash"),
            Self.authorize("pay-q", method: "card"), Self.follow("cancel", "pay-q", method: "card"),
            Self.authorize("pay-r", method: "alipay"), Self.follow("cancel", "pay-r", method: "alipay"),
            Self.follow("cancel", "pay-unseen", method: "card"),
        ]
        try await harness.publish(requests)
        try await harness.waitForAnswers(to: ["pay-q:authorize", "pay-q:cancel:1", "pay-r:authorize", "pay-r:cancel:1",
                                              "pay-unseen:cancel:1"])
        clock.advance(by: 1)
        try await harness.waitForAnswers(to: ["pay-p:cancel:1"])
        try await harness.publish([Self.follow("query", "pay-p", method: "card")])
        try await harness.waitForAnswers(to: ["pay-p:query:1"])
        clock.advance(by: 5)
        try await harness.settle()
        let answers = Dictionary(uniqueKeysWithValues: harness.answers.map { ($0.0.channelRequestId, $0.0) })
        await harness.stop()

        #expect(answers["pay-p:authorize"] == nil)
        func outcome(_ id: String) -> String { answers[id].map { "\($0.status) \($0.reason ?? "-")" } ?? "none" }
        #expect(outcome("pay-p:cancel:1") == "approved -")
        #expect(outcome("pay-p:query:1") == "declined cancelled")
        #expect(outcome("pay-q:authorize") == "approved -")
        #expect(outcome("pay-q:cancel:1") == "declined already_captured")
        #expect(outcome("pay-r:authorize") == "declined insufficient_balance" || outcome("pay-r:authorize") == "declined risk_control_rejected")
        #expect(outcome("pay-r:cancel:1") == "approved -")
        #expect(outcome("pay-unseen:cancel:1") == "approved -")
        #expect(answers["pay-p:cancel:1"]?.requestType == "cancel")
        #expect(answers["pay-p:cancel:1"]?.confirmedAt == "2026-11-24T10:00:01.000Z")
    }

    @Test("wallet instructions and follow-ups without a target are dead letters, not answers")
    func deadLetters() async throws {
        let harness = try await Harness(settings: Settings())
        var orphan = Self.follow("refund", "pay-w2", method: "card")
        orphan.targetRequestId = nil
        try await harness.publish([Self.authorize("pay-w1", method: "wallet"), orphan, Self.authorize("pay-ok", method: "card")])
        try await harness.waitForAnswers(to: ["pay-ok:authorize"]) { records in
            records.filter { $0.topic.hasSuffix(".dlq") }.count >= 2
        }
        try await harness.settle()
        let letters = try harness.records.filter { $0.topic.hasSuffix(".dlq") }
            .map { try Wire.decode(DeadLetterMessage.self, from: Data($0.value)) }.sorted { $0.sourceOffset < $1.sourceOffset }
        let answers = harness.answers
        await harness.stop()

        #expect(letters.map(\.errorCode) == ["unsupported_method", "invalid_request"])
        #expect(answers.map(\.0.paymentId) == ["pay-ok"])
    }

    // MARK: - statements

    @Test("statement files: approved payments (fee half up) and refunds, by UTC day of the answer and method, one part per partition, rewritten whole at most once per interval")
    func statements() async throws {
        let clock = ManualClock(Self.date("2026-11-24T23:59:59.000Z"))
        let settings = Settings(profiles: [
            "card": Profile(feePlan: try FeePlan(basisPoints: 60, fixed: 10)),
            "cash": Profile(declineRate: 1),
            "alipay": Profile(latency: try .constant(2000), feePlan: try FeePlan(basisPoints: 100)),
            "wechat_pay": Profile(noAnswerRate: 1),
        ])
        let harness = try await Harness(settings: settings, clock: clock)
        let requests = [
            Self.authorize("pay-s1", method: "card", amount: 1250),
            Self.authorize("pay-s2,\"b\"", method: "card", amount: 999),
            Self.follow("refund", "pay-s1", method: "card", amount: 300),
            Self.authorize("pay-s3", method: "cash"),
            Self.authorize("pay-s4", method: "alipay", amount: 5000),
            Self.authorize("pay-s5", method: "wechat_pay", amount: 700, currency: "USD"),
            Self.follow("query", "pay-s5", method: "wechat_pay"),
        ]
        try await harness.publish(requests)
        try await harness.waitForAnswers(to: ["pay-s1:authorize", "pay-s2,\"b\":authorize", "pay-s1:refund:1",
                                              "pay-s3:authorize", "pay-s5:query:1"])
        try await harness.settle()
        // A changed file waits statement_interval_ms (1 s on the worker's clock) to be written.
        let statementRoot = "\(harness.stateDirectory)/channel-statements"
        #expect(!FileManager.default.fileExists(atPath: statementRoot))
        clock.advance(by: 2)
        try await harness.waitForAnswers(to: ["pay-s4:authorize"])
        let answers = Dictionary(uniqueKeysWithValues: harness.answers.map { ($0.0.channelRequestId, $0.0) })
        func reference(_ id: String) -> String { answers[id]?.channelReference ?? "?" }
        let expected = [
            ("2026-11-24", "card", """
                date,channel_reference,payment_id,amount,currency,fee,type
                2026-11-24,\(reference("pay-s1:authorize")),pay-s1,1250,CNY,18,payment
                2026-11-24,\(reference("pay-s2,\"b\":authorize")),\"pay-s2,\"\"b\"\"\",999,CNY,16,payment
                2026-11-24,\(reference("pay-s1:refund:1")),pay-s1,300,CNY,0,refund

                """),
            ("2026-11-24", "wechat_pay", """
                date,channel_reference,payment_id,amount,currency,fee,type
                2026-11-24,\(reference("pay-s5:query:1")),pay-s5,700,USD,0,payment

                """),
            ("2026-11-25", "alipay", """
                date,channel_reference,payment_id,amount,currency,fee,type
                2026-11-25,\(reference("pay-s4:authorize")),pay-s4,5000,CNY,50,payment

                """),
        ]
        var files: [String?] = []
        try await eventually {
            files = try expected.map { try harness.statementFile(day: $0.0, method: $0.1) }
            return files[0] != nil && files[1] != nil
        }
        #expect(files[2] == nil)  // its line came at 00:00:01, the file is due at 00:00:02
        clock.advance(by: 1)
        try await eventually {
            files = try expected.map { try harness.statementFile(day: $0.0, method: $0.1) }
            return files == expected.map { Optional($0.2) }
        }
        let listing = try FileManager.default.subpathsOfDirectory(atPath: statementRoot).sorted()
        await harness.stop()

        for (file, (day, method, text)) in zip(files, expected) {
            #expect(file == text, "\(day)/\(method)")
        }
        let partition = harness.partition
        #expect(listing == ["2026-11-24", "2026-11-24/card.p\(partition).csv", "2026-11-24/wechat_pay.p\(partition).csv",
                            "2026-11-25", "2026-11-25/alipay.p\(partition).csv"])
        #expect(answers["pay-s4:authorize"]?.confirmedAt == "2026-11-25T00:00:01.000Z")
    }

    // MARK: - with the payment-worker

    @Test("through the payment-worker: a decline fails the payment with the channel's reason, a mismatch makes it conflicted, a repeated late answer changes nothing")
    func withPaymentWorker() async throws {
        let settings = Settings(profiles: [
            "card": Profile(declineRate: 1, declineReasons: try ReasonWeights(["expired_card": 1])),
            "alipay": Profile(amountMismatchRate: 1),
            "wechat_pay": Profile(latency: try .constant(50), duplicateRate: 1, duplicateDelayMs: 50, reorderRate: 1,
                                  reorderDelayMs: 100),
        ])
        let pipeline = try await InProcessPipeline(partitions: 2)
        let topics = pipeline.topics
        try pipeline.start([.paymentWorker, .channelSandbox], sandbox: settings)
        let reader = try await pipeline.reader([topics.paymentEvents, topics.channelConfirmations,
                                                topics.deadLetter(of: topics.channelConfirmations)])
        func request(_ id: String, _ payer: String, _ amount: Int, _ currency: String, _ method: String, _ channel: String) -> (key: String, value: Data) {
            (payer, Data(#"{"schema":"payment-request/v1","type":"payment","request_id":"\#(id)","payer_id":"\#(payer)","merchant_id":"m-7","amount":\#(amount),"currency":"\#(currency)","method":"\#(method)","channel":"\#(channel)"}"#.utf8))
        }
        try await pipeline.publish(topic: topics.paymentRequests, [
            request("w-card", "user-1", 19999, "CNY", "card", "bank_card"),
            request("w-alipay", "user-2", 5000, "CNY", "alipay", "mobile"),
            request("w-wechat", "user-3", 1200, "USD", "wechat_pay", "mobile"),
        ])
        var records = try await reader.read { records in
            records.filter { $0.topic == topics.paymentEvents }.count >= 6
                && records.filter { $0.topic == topics.channelConfirmations }.count >= 4
        }
        records += try await reader.readFor(.milliseconds(600))
        await reader.close()
        await pipeline.stop()
        #expect(try ShardInspection.paymentProblems(stateDirectory: pipeline.stateDirectory) == [])

        let events = try records.filter { $0.topic == topics.paymentEvents }
            .map { try Wire.decode(PaymentEvent.self, from: Data($0.value)) }
        func final(_ payment: String) -> String {
            events.filter { $0.paymentId == payment }.max { $0.sequence < $1.sequence }.map { "\($0.type) \($0.reason ?? "-")" } ?? "none"
        }
        #expect(events.count == 6)
        #expect(final("pay-w-card") == "payment.failed expired_card")
        #expect(final("pay-w-alipay") == "payment.conflicted amount_mismatch")
        #expect(final("pay-w-wechat") == "payment.captured -")
        #expect(records.filter { $0.topic == topics.channelConfirmations }.count == 4)  // wechat's answer twice
        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)
    }

    // MARK: - helpers

    static func resolve(path: String) throws -> DaemonConfiguration<Settings> {
        let options = try DaemonOptions.parse(["--config", path, "--brokers", "127.0.0.1:9"])
        return try DaemonConfiguration<Settings>.resolve(daemon: "channel-sandbox", options: options, environment: [:],
                                                        stageDefaults: Settings())
    }

    static func channel(of method: String) -> String {
        switch method {
        case "card": "bank_card"
        case "online_banking": "online_banking"
        case "cash": "cash_on_delivery"
        case "wallet": "balance"
        default: "mobile"
        }
    }

    static func authorize(_ payment: String, method: String, amount: Int64 = 1000, currency: String = "CNY",
                          payer: String = "payer-1") -> ChannelRequest {
        ChannelRequest(requestType: "authorize", channelRequestId: "\(payment):authorize", paymentId: payment, payerId: payer,
                       merchantId: "m-1", amount: amount, currency: currency, method: method, channel: channel(of: method),
                       requestedAt: "2026-11-24T10:00:00.000Z")
    }

    /// A query, refund or cancel about `payment`'s authorization: `<payment>:<type>:<number>`.
    static func follow(_ type: String, _ payment: String, method: String, amount: Int64 = 1000, currency: String = "CNY",
                       number: Int = 1, payer: String = "payer-1") -> ChannelRequest {
        ChannelRequest(requestType: type, channelRequestId: "\(payment):\(type):\(number)", paymentId: payment, payerId: payer,
                       merchantId: "m-1", amount: amount, currency: currency, method: method, channel: channel(of: method),
                       requestedAt: "2026-11-24T10:00:00.000Z", targetRequestId: "\(payment):authorize")
    }

    static func requestID(_ record: ConsumedRecord) -> String? {
        try? Wire.decode(ChannelRequest.self, from: Data(record.value)).channelRequestId
    }

    static func date(_ text: String) -> Date { ISO8601DateFormatter.withFraction.date(from: text)! }

    static func milliseconds(_ text: String) -> Int64 { Int64((date(text).timeIntervalSince1970 * 1000).rounded()) }

    /// The UTC day the answers were given (system clock runs).
    static func today(_ answers: [ChannelConfirmation]) -> String { String(answers.first?.confirmedAt.prefix(10) ?? "") }
}

/// The sandbox on a `StageHarness` (no broker): channel requests are decided at once, the timer
/// sends due answers. On a clock the test passes, time moves only when the test moves it; without
/// one the harness's own clock stands in for the system clock and moves forward while the test
/// waits for answers (`waitForAnswers`) or lets things settle.
final class Harness: @unchecked Sendable {
    let harness: StageHarness<ChannelSandboxStage>
    /// Whether the test drives the clock (else the harness moves it while waiting).
    private let testClock: Bool
    var topics: TopicNames { harness.topics }
    var stateDirectory: String { harness.stateDirectory }

    init(settings: ChannelSandboxStage.Settings, partitions: Int32 = 2, clock: ManualClock? = nil) async throws {
        let directory = try temporaryDirectory("paystream-sandbox")
        let topics = TopicNames()
        harness = try StageHarness(ChannelSandboxStage(topics: topics, settings: settings, stateDirectory: directory, answerKeys: TestAnswerKeys.keyring),
                                   partitions: partitions, clock: clock ?? ManualClock(), topics: topics, stateDirectory: directory)
        testClock = clock != nil
    }

    private let lock = NSLock()
    private var sent: [ConsumedRecord] = []

    func publish(_ requests: [ChannelRequest]) async throws {
        let records = try harness.send(topic: topics.channelRequests, try requests.map { ($0.payerId, try Wire.encode($0)) })
        lock.withLock { sent += records }
    }

    /// The requests sent, then everything the sandbox published, in order.
    var records: [ConsumedRecord] { lock.withLock { sent } + harness.published }

    /// Every confirmation so far, in the order published, with its record.
    var answers: [(ChannelConfirmation, ConsumedRecord)] {
        harness.published(on: topics.channelConfirmations)
            .compactMap { record in (try? Wire.decode(ChannelConfirmation.self, from: Data(record.value))).map { ($0, record) } }
    }

    /// The partition the (single) payer's records went to.
    var partition: Int32 { answers.first?.1.partition ?? harness.published.first?.partition ?? -1 }

    /// Until every id has an answer and `also` holds for the records: on the test's clock, the
    /// timer runs once and the condition must hold; on the harness's own, time moves 50 ms at a
    /// time for up to 60 s.
    func waitForAnswers(to ids: [String], also: ([ConsumedRecord]) -> Bool = { _ in true }) async throws {
        let wanted = Set(ids)
        func done() -> Bool { wanted.isSubset(of: Set(answers.map(\.0.channelRequestId))) && also(records) }
        try harness.tick()
        var waited = 0.0
        while !done() {
            guard !testClock, waited < 60 else {
                throw HarnessConditionNotMet(description: "no answer to \(wanted.subtracting(answers.map(\.0.channelRequestId)).sorted())")
            }
            try harness.advance(by: 0.05)
            waited += 0.05
        }
    }

    /// Runs the timer; on the harness's own clock, `duration` passes first.
    func settle(_ duration: Duration = .milliseconds(600)) async throws {
        if testClock {
            try harness.tick()
        } else {
            try harness.advance(by: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        }
    }

    /// A statement file, after the timer ran (statement files are written on the timer).
    func statementFile(day: String, method: String) throws -> String? {
        try harness.tick()
        let path = "\(stateDirectory)/channel-statements/\(day)/\(method).p\(partition).csv"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    func stop() async {
        // Every shard rebuilt from its changelog alone equals the shard.
        #expect((try? harness.changelogRestoreDifferences()) == [])
        harness.close()
    }
}

/// Polls `condition` every 50 ms for up to 20 s.
func eventually(_ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while try !condition() {
        guard ContinuousClock.now < deadline else { return }
        try await Task.sleep(for: .milliseconds(50))
    }
}
