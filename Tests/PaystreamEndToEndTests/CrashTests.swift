import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamStore
import PaystreamTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Crash: SIGKILL payment-worker while payments flow")
struct CrashTests {
    @Test("1,000 card payments, payment-worker killed -9 mid-flow and restarted: each has one authorized and one captured event",
          arguments: UpstreamPartitioning.allCases)
    func killAndRestart(upstream: UpstreamPartitioning) async throws {
        // The longest broker test: first in line for a broker, so that it does not start last.
        let pipeline = try await InProcessPipeline(partitions: 4, firstInLine: true)
        let topics = pipeline.topics
        try pipeline.start([.channelSandbox])
        let logs = try temporaryDirectory("paystream-crash-logs")
        // Small batches make the flow last long enough to be killed in the middle of it.
        let config = "\(logs)/payment-worker.yaml"
        try """
        batch:
          max_records: 20
          max_wait_ms: 20
        stage:
          policy_file: \(packageRoot.appendingPathComponent("Config/payment-policy.json").path)
        kafka:
          session.timeout.ms: "2000"
          heartbeat.interval.ms: "300"
          fetch.wait.max.ms: "10"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["PAYSTREAM_BROKERS": pipeline.broker.bootstrapServers,
                           "PAYSTREAM_STATE_DIR": pipeline.stateDirectory, "PAYSTREAM_CONFIG": config]

        let count = 1000
        let requests: [(key: String, value: Data)] = (0..<count).map { i in
            let payer = "user-\(i % 50)"
            return (payer, Data(#"""
                {"schema":"payment-request/v1","type":"payment","request_id":"crash-\#(i)","order_id":"ord-\#(i)",
                 "payer_id":"\#(payer)","merchant_id":"m-\#(i % 7)","amount":\#(100 + i),"currency":"CNY",
                 "method":"card","channel":"bank_card"}
                """#.utf8))
        }

        let first = try DaemonProcess("payment-worker", environment: environment, logDirectory: logs)
        try await first.waitForLog("partitions assigned", timeout: .seconds(30))
        try await pipeline.publish(topic: topics.paymentRequests, requests, partitioning: upstream)

        let reader = try await pipeline.reader([topics.paymentEvents, topics.settlementRequests, topics.channelRequests]
                                               + [topics.paymentRequests, topics.channelConfirmations].map(topics.deadLetter(of:)))
        // Kill once captures are under way: requests and confirmations both straddle the crash.
        var records = try await reader.read(timeout: .seconds(60)) { records in
            records.filter { $0.topic == topics.paymentEvents && $0.header("event-id")?.hasSuffix(":2") == true }.count >= 200
        }
        first.signal(SIGKILL)
        #expect(await first.waitForExit(timeout: .seconds(10)) != nil)
        let capturedAtKill = Set(records.filter { $0.topic == topics.paymentEvents && $0.header("event-id")?.hasSuffix(":2") == true }
            .compactMap { $0.header("event-id") }).count

        let second = try DaemonProcess("payment-worker", environment: environment, logDirectory: logs)
        func distinctEvents(_ records: [ConsumedRecord]) -> Set<String> {
            Set(records.filter { $0.topic == topics.paymentEvents }.compactMap { $0.header("event-id") })
        }
        records += try await reader.read(timeout: .seconds(120)) { more in
            distinctEvents(records + more).count >= 2 * count
        }
        records += try await reader.readFor(.seconds(1))
        await reader.close()
        let status = await second.stop()
        #expect(status == 0, "graceful stop exits 0")
        // The operator's view of the changelog: every shard claimed by each instance in turn,
        // none behind; a shard rebuilt from the log alone equals the live one.
        let changelog = try await ReferenceCommandTests.paystream(
            ["changelog", "status", "--stage", "payment-worker", "--state-dir", pipeline.stateDirectory], broker: pipeline.broker,
            directory: logs)
        #expect(changelog.status == 0, "\(changelog.output)")
        let rows = changelog.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 11 }
        #expect(rows.first == ["PARTITION", "RECORDS", "LAST_TXN", "BYTES", "END_OFFSET", "EPOCH", "FENCED", "SNAPSHOT_TXN", "SNAPSHOT_AGE",
                               "LOCAL_TXN", "BEHIND"])
        #expect(rows.dropFirst().map(\.[0]) == ["0", "1", "2", "3"], "\(changelog.output)")
        #expect(rows.dropFirst().allSatisfy { Int($0[5])! >= 2 && $0[10] == "0" }, "\(changelog.output)")
        // The epoch history of one shard: the first instance's claim, then the second's.
        let claims = try await ReferenceCommandTests.paystream(
            ["changelog", "claims", "--stage", "payment-worker", "--partition", "1"], broker: pipeline.broker, directory: logs)
        let claimRows = claims.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(claims.status == 0 && claimRows.filter { $0.count >= 7 && $0[2] == "took" }.count >= 2, "\(claims.output)")
        // Truncation is shown, never done without --execute --real-kafka (Tansu panics on DeleteRecords).
        let truncate = try await ReferenceCommandTests.paystream(
            ["changelog", "truncate", "--stage", "payment-worker"], broker: pipeline.broker, directory: logs)
        #expect(truncate.status == 0 && truncate.output.contains("nothing deleted (dry run)"), "\(truncate.output)")
        let refused = try await ReferenceCommandTests.paystream(
            ["changelog", "truncate", "--stage", "payment-worker", "--execute"], broker: pipeline.broker, directory: logs)
        #expect(refused.status != 0 && refused.output.contains("--real-kafka"), "\(refused.output)")
        let rebuilt = try await ReferenceCommandTests.paystream(
            ["changelog", "rebuild", "--stage", "payment-worker", "--partition", "1", "--into", "\(logs)/rebuilt", "--compare",
             ShardStore.path(stateDirectory: pipeline.stateDirectory, stage: "payment-worker", partition: 1)],
            broker: pipeline.broker, directory: logs)
        #expect(rebuilt.status == 0 && rebuilt.output.contains("equal to"), "\(rebuilt.output)")
        await pipeline.stop()
        // The payer-side ledger survived the kill: every posting balances, every hold matches its payment.
        #expect(try ShardInspection.paymentProblems(stateDirectory: pipeline.stateDirectory) == [])
        #expect(capturedAtKill < count, "the kill landed while payments were still flowing")

        // No event id was published with two different contents.
        var contentByEventID: [String: Data] = [:]
        var conflicting: [String] = []
        for record in records where record.topic != topics.paymentRequests {
            guard let id = record.header("event-id") else { continue }
            let value = Data(record.value)
            if let seen = contentByEventID[id], seen != value { conflicting.append(id) }
            contentByEventID[id] = value
        }
        #expect(conflicting.isEmpty, "event ids with different content: \(conflicting.prefix(5))")
        let eventRecords = records.filter { $0.topic == topics.paymentEvents }
        print("crash test: \(capturedAtKill) of \(count) captured when killed; \(eventRecords.count) payment-event records for \(distinctEvents(eventRecords).count) distinct event ids")

        // Every request: exactly one authorized and one captured event (by event id), in that order.
        var events: [String: [Int: PaymentEvent]] = [:]
        for record in records where record.topic == topics.paymentEvents {
            let event = try Wire.decode(PaymentEvent.self, from: Data(record.value))
            events[event.paymentId, default: [:]][event.sequence] = event
        }
        let expected = Set((0..<count).map { "pay-crash-\($0)" })
        #expect(Set(events.keys) == expected, "missing: \(expected.subtracting(events.keys).sorted().prefix(5))")
        for (paymentID, bySequence) in events {
            #expect(bySequence.keys.sorted() == [1, 2], "\(paymentID): sequences \(bySequence.keys.sorted())")
            #expect(bySequence[1]?.type == "payment.authorized")
            #expect(bySequence[2]?.type == "payment.captured")
        }
        // One channel instruction and one settlement hand-off per payment; no dead letters.
        let instructions = Set(records.filter { $0.topic == topics.channelRequests }.compactMap { $0.header("event-id") })
        #expect(instructions.count == count)
        let handoffs = Set(records.filter { $0.topic == topics.settlementRequests }.compactMap { $0.header("event-id") })
        #expect(handoffs.count == count)
        #expect(records.filter { $0.topic.hasSuffix(".dlq") }.isEmpty)
        #expect(second.log.contains("msg=ready"))
    }
}
