import Foundation
import GRDB
import PaystreamDomain
import PaystreamKafka
import PaymentWorker
import PaystreamStore
import PaystreamTesting
import Testing

private typealias H = PaymentHarness

@Suite("Any upstream partitioner: records forwarded to their key's canonical partition")
struct RoutingTests {
    @Test("requests and channel answers from any partitioner: every payment captured in its payer's shard, one producer's order kept",
          arguments: UpstreamPartitioning.allCases)
    func anyPartitioner(upstream: UpstreamPartitioning) async throws {
        try await Self.routeThrough(try await PaymentHarness(partitions: 4, upstream: upstream), upstream: upstream)
    }

    @Test("the same through a broker, from librdkafka's default partitioner: the repartition topic and its consumer wired up")
    func throughBroker() async throws {
        try await Self.routeThrough(try await BrokerPaymentHarness(partitions: 4, upstream: .librdkafkaDefault), upstream: .librdkafkaDefault)
    }

    static func routeThrough(_ h: some PaymentDriving, upstream: UpstreamPartitioning) async throws {
        let payers = (0..<10).map { "payer-\($0)" }
        let requests = (0..<20).map { H.request("rt-\($0)", payer: payers[$0 % payers.count], amount: 1_000 + $0) }
        // One producer, one payer: a payment, then its cancel; the cancel must find the payment.
        try await h.send(requests + [H.request("rt-order", payer: "payer-3", amount: 777),
                                      H.request("rt-order-cancel", type: "cancel", payer: "payer-3", merchant: nil, amount: nil,
                                                payment: "pay-rt-order")])
        try await h.waitFor { events, _ in Set(events.filter { $0.type == "payment.authorized" }.map(\.paymentId)).count == 21 }
        for i in 0..<20 {
            try await h.confirm("pay-rt-\(i)", payer: payers[i % payers.count], amount: Int64(1_000 + i))
        }
        try await h.waitFor { events, _ in Set(events.filter { $0.type == "payment.captured" }.map(\.paymentId)).count == 20 }
        try await h.event("payment.cancelled", of: "pay-rt-order")
        try await h.waitForCounts(settlement: 20)
        let copies = try await h.forwardedCopies()
        try await h.settle()
        try await h.finish()

        #expect(h.deadLetters.isEmpty, "\(h.deadLetters.map(\.errorCode))")
        #expect(!h.events.contains { $0.type == "payment.rejected" })
        #expect(h.events(of: "pay-rt-order").map(\.type) == ["payment.authorized", "payment.cancelled"])
        // Each payment lives in the shard of its payer's canonical partition, and nowhere else.
        for path in ShardInspection.shardPaths(stateDirectory: h.stateDirectory, stage: "payment-worker") {
            let shard = Int32(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.dropFirst())!
            let payerIDs = try ShardStore.readOnly(path: path) { try String.fetchAll($0, sql: "SELECT payer_id FROM payment") }
            for payer in payerIDs {
                #expect(KeyPartitioner.partition(of: Array(payer.utf8), partitionCount: 4) == shard, "\(payer) in p\(shard)")
            }
        }
        // The upstream topics stay as their producers wrote them; forwarded copies are ours.
        switch upstream {
        case .murmur2:
            #expect(copies.isEmpty)
        case .librdkafkaDefault, .explicit:
            #expect(!copies.isEmpty)
            for copy in copies {
                #expect(KeyPartitioner.partition(of: copy.key ?? [], partitionCount: 4) == copy.partition)
                #expect(copy.header("paystream-source-topic").map { [h.topics.paymentRequests, h.topics.channelConfirmations].contains($0) } == true)
                #expect(copy.header("paystream-source-partition").flatMap(Int32.init) != copy.partition)
            }
        }
    }
}
