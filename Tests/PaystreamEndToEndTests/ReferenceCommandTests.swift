import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import PaystreamReference
import PaystreamTesting
import Testing

/// `paystream reference load|show` and `paystream topics create` run as processes against Tansu,
/// and the reference data the in-process pipeline's payment worker holds.
@Suite("Reference data CLI and pipeline")
struct ReferenceCommandTests {
    let topics = TopicNames()

    /// Runs the paystream CLI to its end; returns its exit status and output.
    static func paystream(_ arguments: [String], broker: TansuBroker, directory: String) async throws -> (status: Int32, output: String) {
        let process = try DaemonProcess("paystream", arguments: arguments,
                                        environment: ["PAYSTREAM_BROKERS": broker.bootstrapServers], logDirectory: directory)
        let status = try #require(await process.waitForExit(timeout: .seconds(60)), "paystream \(arguments) did not finish")
        return (status, process.log)
    }

    static let goodFile = """
        # Two merchants, a credit line, a rate, and a deletion.
        {"schema":"merchant/v1","merchant_id":"m-7","status":"active","settlement_currency":"CNY","fees":{"card":{"basis_points":60,"fixed":0},"wechat_pay":{"basis_points":55,"fixed":0}},"default_fee":{"basis_points":60,"fixed":0},"commission_basis_points":100,"payout":{"delay_days":1,"cutoff":"22:00","time_zone":"Asia/Shanghai","business_days":true},"suppliers":["supplier-3"],"installment_financing":"upfront"}

        {"schema":"merchant/v1","merchant_id":"m-13","status":"suspended","settlement_currency":"CNY"}
        {"schema":"credit-line/v1","payer_id":"user-42","limits":{"CNY":5000000},"installment_plans":[3,6,12]}
          {"schema":"fx-rate/v1","base":"USD","quote":"CNY","rate":"7.1234","source":"test","as_of":"2026-11-24T00:00:00Z"}
        {"schema":"merchant/v1","merchant_id":"m-old","deleted":true}
        """

    @Test("reference load publishes every line to its schema's topic under its key, a deletion as a tombstone; reference show prints the current values")
    func loadGoodFile() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let directory = try temporaryDirectory()
        let created = try await Self.paystream(["topics", "create", "--partitions", "3"], broker: broker, directory: directory)
        #expect(created.status == 0, "\(created.output)")
        let file = "\(directory)/reference.jsonl"
        try Self.goodFile.write(toFile: file, atomically: true, encoding: .utf8)

        let load = try await Self.paystream(["reference", "load", file], broker: broker, directory: directory)
        #expect(load.status == 0, "\(load.output)")
        #expect(load.output.contains("reference.merchants: 2 value(s), 1 deletion(s)"))
        #expect(load.output.contains("reference.credit-lines: 1 value(s), 0 deletion(s)"))
        #expect(load.output.contains("reference.fx-rates: 1 value(s), 0 deletion(s)"))
        #expect(load.output.contains("published 5 of 5 reference records"))

        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: topics.reference)
        let records = try await reader.read { $0.count >= 5 }
        await reader.close()
        let byKey = Dictionary(records.map { ("\($0.topic)/\($0.keyString ?? "")", $0) }, uniquingKeysWith: { _, last in last })
        #expect(Set(byKey.keys) == ["reference.merchants/m-7", "reference.merchants/m-13", "reference.merchants/m-old",
                                    "reference.credit-lines/user-42", "reference.fx-rates/USD/CNY"])
        #expect(byKey["reference.merchants/m-old"]?.value == [], "a deletion is a tombstone")
        let m7 = try Wire.decode(MerchantReference.self, from: Data(try #require(byKey["reference.merchants/m-7"]).value))
        #expect(m7.fees?["wechat_pay"]?.basisPoints == 55)
        #expect(m7.payout?.timeZone == "Asia/Shanghai")
        let line = try Wire.decode(CreditLineReference.self, from: Data(try #require(byKey["reference.credit-lines/user-42"]).value))
        #expect(line.installmentPlans == [3, 6, 12])
        #expect(line.limits == ["CNY": 5_000_000])
        let rate = try Wire.decode(FXRateReference.self, from: Data(try #require(byKey["reference.fx-rates/USD/CNY"]).value))
        #expect(rate.rate == "7.1234")

        let show = try await Self.paystream(["reference", "show", "--topic", "merchants"], broker: broker, directory: directory)
        #expect(show.status == 0, "\(show.output)")
        let lines = show.output.split(separator: "\n").map(String.init)
        #expect(lines.first == "# reference.merchants: 2 key(s)")
        #expect(lines.filter { $0.hasPrefix("{") }.count == 2)
        #expect(lines.contains { $0.contains(#""merchant_id":"m-13""#) && $0.contains(#""status":"suspended""#) })
        #expect(!show.output.contains("m-old"))
        // What show prints, load takes.
        let parsed = try lines.filter { $0.hasPrefix("{") }.map { try ReferenceUpdate.parse(Data($0.utf8)) }
        #expect(Set(parsed.map(\.key)) == ["m-7", "m-13"])
    }

    @Test("reference load of a file with bad lines exits 2 naming each line and its reason, and publishes nothing")
    func loadBadFile() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let directory = try temporaryDirectory()
        #expect(try await Self.paystream(["topics", "create", "--partitions", "2"], broker: broker, directory: directory).status == 0)
        let file = "\(directory)/bad.jsonl"
        try """
            {"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"CNY"}
            # a comment
            {"schema":"merchant/v1","merchant_id":"m-2","status":"active","settlement_currency":"RMB"}
            {"schema":"credit-line/v1","payer_id":"user-1","limits":{"CNY":100}}
            {"schema":"payment-request/v1","payer_id":"user-1"}
            {"schema":"fx-rate/v1","base":"USD","quote":"CNY","rate":"7,1","source":"x","as_of":"2026-11-24T00:00:00Z"}
            {"schema":"merchant/v1","merchant_id":"m-3","status":"active","settlement_currency":"CNY","default_fee":{"basis_points":10001,"fixed":0}}
            {"schema":"credit-line/v1","deleted":true}
            not json
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let load = try await Self.paystream(["reference", "load", file], broker: broker, directory: directory)
        #expect(load.status == 2)
        #expect(load.output.contains("\(file):3: merchant/v1: settlement_currency 'RMB' is not an ISO 4217 currency code"))
        #expect(load.output.contains("\(file):5: schema 'payment-request/v1' is not one of merchant/v1, credit-line/v1, fx-rate/v1"))
        #expect(load.output.contains("\(file):6: fx-rate/v1: rate:"))
        #expect(load.output.contains("\(file):7: merchant/v1: default_fee:"))
        #expect(load.output.contains("\(file):8: a credit-line/v1 deletion needs \"payer_id\""))
        #expect(load.output.contains("\(file):9: not a JSON object"))
        #expect(!load.output.contains("\(file):1:"))
        #expect(!load.output.contains("\(file):4:"))
        #expect(load.output.contains("6 bad line(s)"))
        #expect(load.output.contains("nothing published"))

        let reader = try await TopicReader(bootstrapServers: broker.bootstrapServers, topics: topics.reference)
        #expect(try await reader.readFor(.milliseconds(700)).isEmpty, "nothing was published")
        await reader.close()
    }

    @Test("topics create makes the compacted reference topics (Tansu accepts cleanup.policy=compact); load without them exits 1 naming them")
    func topicsCreate() async throws {
        let broker = try await TansuBroker.start()
        defer { broker.stop() }
        let directory = try temporaryDirectory()
        let file = "\(directory)/one.jsonl"
        try #"{"schema":"merchant/v1","merchant_id":"m-1","status":"active","settlement_currency":"CNY"}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let early = try await Self.paystream(["reference", "load", file], broker: broker, directory: directory)
        #expect(early.status == 1)
        #expect(early.output.contains("topic(s) reference.merchants do not exist"))

        let created = try await Self.paystream(["topics", "create", "--partitions", "2"], broker: broker, directory: directory)
        #expect(created.status == 0, "\(created.output)")
        for topic in topics.reference { #expect(created.output.contains("created  \(topic)"), "\(created.output)") }
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        let counts = try await admin.topicPartitionCounts()
        admin.close()
        for topic in topics.reference { #expect(counts[topic] == 2) }
        #expect(try await Self.paystream(["reference", "load", file], broker: broker, directory: directory).status == 0)
    }

    @Test("the shipped Config/reference-data.jsonl is valid and covers the sample requests' merchants and payers")
    func shippedSeedFile() throws {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Config/reference-data.jsonl"), encoding: .utf8)
        var updates: [ReferenceUpdate] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do { updates.append(try ReferenceUpdate.parse(Data(trimmed.utf8))) } catch {
                Issue.record("line \(index + 1): \(error)")
            }
        }
        var merchants: [String: MerchantReference] = [:], lines: [String: CreditLineReference] = [:], rates: Set<String> = []
        for update in updates {
            switch update {
            case .merchant(let m): merchants[m.merchantId] = m
            case .creditLine(let l): lines[l.payerId] = l
            case .fxRate(let r): rates.insert(r.pair)
            case .webhookEndpoint: break
            case .deletion: Issue.record("the seed file deletes \(update.key)")
            }
        }
        let samples = try String(contentsOf: packageRoot.appendingPathComponent("Config/sample-requests.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.isEmpty }
            .map { try JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) }
        let followUps = try String(contentsOf: packageRoot.appendingPathComponent("Config/sample-followups.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.isEmpty }
            .map { try JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) }
        for sample in samples + followUps {
            let payer = try #require(sample["payer_id"]?.stringValue)
            let mode = sample["settlement"]?.objectValue?["mode"]?.stringValue ?? "prepaid"
            if mode != "prepaid" || sample["type"]?.stringValue == "repayment" {
                #expect(lines[payer] != nil, "credit line of payer \(payer)")
            }
            // Top-ups, repayments, refunds and cancels name no merchant.
            guard let merchant = sample["merchant_id"]?.stringValue else { continue }
            #expect(merchants[merchant] != nil, "merchant \(merchant) of a sample request")
            if let currency = sample["currency"]?.stringValue, let settlement = merchants[merchant]?.settlementCurrency,
               currency != settlement, Currency.named(currency) != nil {
                #expect(rates.contains("\(currency)/\(settlement)"), "rate \(currency)/\(settlement)")
            }
        }
        #expect(merchants.values.contains { $0.status == .suspended }, "one suspended merchant")
        #expect(lines.values.contains { $0.installmentPlans == [3, 6, 12] }, "a credit line with plans 3, 6, 12")
    }

    @Test("the in-process pipeline's payment worker holds reference data published before and after it started")
    func pipelineReference() async throws {
        let pipeline = try await InProcessPipeline(partitions: 2)
        try await pipeline.publishReference([
            .merchant(MerchantReference(merchantId: "m-1", status: .active, settlementCurrency: "CNY")),
            .creditLine(CreditLineReference(payerId: "user-1", limits: ["CNY": 10_000], installmentPlans: [3, 6, 12])),
        ])
        try pipeline.start([.paymentWorker])
        let live = try #require(pipeline.liveReferenceData.first)
        try await pipeline.publishReference([
            .merchant(MerchantReference(merchantId: "m-2", status: .suspended, settlementCurrency: "CNY")),
            .deletion(.creditLine, key: "user-1"),
        ])
        // publishReference returned: the running worker has read both records.
        #expect(live.merchant("m-1")?.status == .active)
        #expect(live.merchant("m-2")?.status == .suspended)
        #expect(live.creditLine(payerID: "user-1") == nil)
        await pipeline.stop()
    }
}
