import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime
import PaymentWorker
import PaystreamTesting
import Testing

@Suite("payment-worker: two instances, duplicates and moving partitions")
struct PaymentInstancesTests {
    @Test("concurrent duplicates reach two instances while partitions move: one payment, one capture, one hand-off each")
    func duplicatesAcrossInstances() async throws {
        // Rebalances make it one of the longest broker tests: first in line, so it does not end the run.
        let h = try await BrokerPaymentHarness(partitions: 4, startWorker: false, firstInLine: true)
        let first = try h.startInstance()
        let payers = (0..<8).map { "payer-\($0)" }
        func requests(_ range: Range<Int>) -> [(key: String, value: Data)] {
            range.map { PaymentHarness.request("dup-\($0)", payer: payers[$0 % payers.count], amount: 100 + $0) }
        }
        // Every request twice, the second copy in a later batch.
        try await h.pipeline.publish(topic: h.topics.paymentRequests, requests(0..<40) + requests(0..<40))
        try await h.waitFor { events, _ in Set(events.map(\.paymentId)).count >= 10 }
        // A second instance joins: partitions move mid-stream.
        let second = try h.startInstance()
        try await h.pipeline.publish(topic: h.topics.paymentRequests, requests(40..<80) + requests(0..<80))
        try await h.waitFor { events, _ in Set(events.filter { $0.type == "payment.authorized" }.map(\.paymentId)).count == 80 }
        // The channel approves every payment, twice; the first instance leaves meanwhile.
        for i in 0..<80 {
            try await h.confirm("pay-dup-\(i)", payer: payers[i % payers.count], amount: Int64(100 + i))
            if i == 30 { first.cancel() }
        }
        for i in 0..<80 { try await h.confirm("pay-dup-\(i)", payer: payers[i % payers.count], amount: Int64(100 + i)) }
        try await h.waitFor { events, _ in Set(events.filter { $0.type == "payment.captured" }.map(\.paymentId)).count == 80 }
        try await h.waitForCounts(settlement: 80, channel: 80)
        try await h.settle()
        _ = second
        try await h.finish()

        var contents: [String: Set<String>] = [:]
        for event in h.events { contents[event.eventId, default: []].insert(event.type + "/\(event.sequence)") }
        for i in 0..<80 {
            let events = h.events(of: "pay-dup-\(i)")
            #expect(Set(events.map(\.eventId)) == ["pe:\(payers[i % payers.count]):pay-dup-\(i):1", "pe:\(payers[i % payers.count]):pay-dup-\(i):2"], "pay-dup-\(i)")
            #expect(Set(events.map(\.type)) == ["payment.authorized", "payment.captured"], "pay-dup-\(i)")
        }
        #expect(contents.values.allSatisfy { $0.count == 1 }, "an event id was published with two contents")
        #expect(Set(h.channelRequests.map(\.channelRequestId)).count == 80)
        #expect(Set(h.settlementRequests.map(\.eventId)).count == 80)
        #expect(!h.events.contains { $0.type == "payment.rejected" })
        let stored = try ShardInspection.payments(stateDirectory: h.stateDirectory)
        #expect(stored.count == 80 && stored.allSatisfy { $0.status == .captured })
    }
}
