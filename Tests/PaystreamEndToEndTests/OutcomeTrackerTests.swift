import Foundation
@testable import PaystreamAdmin
import PaystreamDomain
import PaystreamWire
import PaystreamKafka
import PaystreamRuntime
import Testing

/// `paystream outcomes` decides when each request of a file has its final answer.
struct OutcomeTrackerTests {
    let topics = TopicNames()

    func request(_ id: String, type: String = "payment", payment: String? = nil) -> TrackedRequest {
        var object: [String: JSONValue] = ["request_id": .string(id), "type": .string(type)]
        if let payment { object["payment_id"] = .string(payment) }
        return TrackedRequest(requestID: id, paymentID: payment ?? "pay-\(id)", object: object)
    }

    func event(_ payment: String, request: String, sequence: Int, status: String, reason: String? = nil) -> ConsumedRecord {
        let event = PaymentEvent(eventId: "e-\(payment)-\(sequence)-\(request)", sequence: sequence, occurredAt: "t",
                                 type: "payment.\(status)", paymentId: payment, requestId: request, orderId: nil, payerId: "u",
                                 merchantId: nil, amount: 1, currency: "CNY", method: "card", channel: "bank_card",
                                 status: status, reason: reason)
        return ConsumedRecord(topic: topics.paymentEvents, partition: 0, offset: 0, key: nil, value: Array(try! Wire.encode(event)))
    }

    @Test("payments wait for settlement and the payer's notice; top-ups, refunds, cancels and rejections are done at their event")
    func outcomes() throws {
        let pay = request("p"), topup = request("t", type: "topup"), refund = request("r", type: "refund", payment: "pay-p")
        let cancel = request("c", type: "cancel", payment: "pay-p")
        var tracker = OutcomeTracker(requests: [pay, topup, refund, cancel], topics: topics)
        tracker.observe(event("pay-p", request: "p", sequence: 1, status: "authorized"))
        #expect(!tracker.isDone(pay) && tracker.finalStatus(pay) == "authorized")
        tracker.observe(event("pay-p", request: "p", sequence: 2, status: "captured"))
        #expect(!tracker.isDone(pay))  // captured, not yet settled and notified
        #expect(!tracker.isDone(refund) && tracker.finalStatus(refund) == nil)
        for record in [event("pay-t", request: "t", sequence: 1, status: "authorized"),
                       event("pay-t", request: "t", sequence: 2, status: "captured"),
                       event("pay-p", request: "r", sequence: 3, status: "partially_refunded"),
                       event("pay-p", request: "c", sequence: 0, status: "rejected", reason: "invalid_state")] {
            tracker.observe(record)
        }
        #expect(tracker.isDone(topup) && tracker.finalStatus(topup) == "captured")
        #expect(tracker.isDone(refund) && tracker.finalStatus(refund) == "partially_refunded")
        #expect(tracker.isDone(cancel) && tracker.finalStatus(cancel) == "rejected" && tracker.reason(cancel) == "invalid_state")
        // The rejected cancel did not change the payment's own history.
        #expect(tracker.outcomes["pay-p"]?.statuses == [1: "authorized", 2: "captured", 3: "partially_refunded"])
        let settled = SettlementEvent(eventId: "se", sequence: 1, occurredAt: "t", type: "settlement.booked", paymentId: "pay-p",
                                      orderId: nil, payerId: "u", merchantId: "m", amount: 1, currency: "CNY", fee: 0,
                                      commission: 0, net: 1, splits: [], settlementMode: "prepaid", sourceEventId: "e")
        tracker.observe(ConsumedRecord(topic: topics.settlementEvents, partition: 0, offset: 0, key: nil, value: Array(try Wire.encode(settled))))
        let note = NotificationMessage(eventId: "n", sourceEventId: "e", occurredAt: "t", recipientId: "u", recipientType: "payer",
                                       type: "payment.captured", paymentId: "pay-p", orderId: nil, amount: 1, currency: "CNY",
                                       locale: "en", title: "t", body: "b")
        tracker.observe(ConsumedRecord(topic: topics.notifications, partition: 0, offset: 0, key: nil, value: Array(try Wire.encode(note))))
        #expect(tracker.isDone(pay) && tracker.finalStatus(pay) == "partially_refunded")
    }
}
