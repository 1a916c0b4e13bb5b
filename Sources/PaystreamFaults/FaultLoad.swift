import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamReference
import PaystreamTesting

/// The mixed load of a fault run, drawn from a seed: every request type and method, refunds and
/// cancels of earlier payments, exact and conflicting duplicates, several payers per partition,
/// each payer's requests published by one of the three upstream partitioners.
public struct FaultLoad: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case payment, wallet, postpaid, installments, topup, repayment, refund, cancel
        case exactDuplicate = "exact-duplicate", conflictingDuplicate = "conflicting-duplicate"
    }

    public struct Request: Sendable {
        public let index: Int
        public let payer: String
        public let requestID: String
        /// The `type` field of the request.
        public let type: String
        public let kind: Kind
        /// A payment, top-up or repayment: its own payment id. A refund or cancel: the payment it names.
        public let paymentID: String
        public let value: Data
        public let partitioning: UpstreamPartitioning
        /// For a duplicate, the index of the request it repeats.
        public let duplicateOf: Int?

        /// An original request (not a duplicate): it must get exactly one terminal outcome.
        public var isOriginal: Bool { duplicateOf == nil }
    }

    public let seed: UInt64
    public let requests: [Request]
    public let payers: [String]
    /// Payers with a credit line (post-paid, installments and repayments can pass for them).
    public let creditPayers: Set<String>

    static let merchants = (0...9).map { "m-\($0)" }

    public init(seed: UInt64, count: Int) {
        self.seed = seed
        var random = SeededRandom(seed: seed)
        let payerCount = max(12, count / 25)
        payers = (0..<payerCount).map { "fp-\($0)" }
        creditPayers = Set(payers.enumerated().filter { $0.offset % 4 == 0 }.map(\.element))
        var history: [String: [Int]] = [:]  // payer → indexes of its original requests
        var payments: [String: [Int]] = [:]  // payer → indexes of its merchant payments
        var built: [Request] = []
        built.reserveCapacity(count)
        let weights: [(Kind, Int)] = [(.payment, 50), (.wallet, 5), (.postpaid, 4), (.installments, 4), (.topup, 6),
                                      (.repayment, 3), (.refund, 12), (.cancel, 6), (.exactDuplicate, 6),
                                      (.conflictingDuplicate, 4)]
        for index in 0..<count {
            let payerIndex = Int.random(in: 0..<payerCount, using: &random)
            let payer = payers[payerIndex]
            let partitioning = UpstreamPartitioning.allCases[payerIndex % UpstreamPartitioning.allCases.count]
            var kind = random.weighted(weights)
            let earlier = history[payer] ?? []
            let paid = payments[payer] ?? []
            switch kind {
            case .refund, .cancel: if paid.isEmpty { kind = .payment }
            case .exactDuplicate: if earlier.isEmpty { kind = .payment }
            case .conflictingDuplicate:
                if !earlier.contains(where: { Self.amount(of: built[$0].value) != nil }) { kind = .payment }
            default: break
            }
            let requestID = "rq-\(index)"
            var body: [String: Any] = ["schema": PaymentRequestMessage.schemaName, "request_id": requestID, "payer_id": payer,
                                       "created_at": "2026-11-30T00:00:00Z", "metadata": ["fault_run": Int(seed % 1_000_000)]]
            var paymentID = "pm-\(index)"
            var duplicateOf: Int?
            var type = "payment"
            switch kind {
            case .payment, .postpaid, .installments:
                let (method, channel) = random.weighted([(("card", "bank_card"), 4), (("alipay", "mobile"), 3),
                                                         (("wechat_pay", "mobile"), 2), (("online_banking", "online_banking"), 1),
                                                         (("cash", "cash_on_delivery"), 1)])
                let currency = method == "card" || method == "alipay"
                    ? random.weighted([("CNY", 16), ("USD", 3), ("HKD", 1)]) : "CNY"
                let amount = Int64.random(in: currency == "CNY" ? 100...300_000 : 100...50_000, using: &random)
                let merchant = random.chance(0.03) ? "m-suspended" : Self.merchants.randomElement(using: &random)!
                body.merge(["payment_id": paymentID, "order_id": "ord-\(index)", "merchant_id": merchant, "amount": amount,
                            "currency": currency, "method": method, "channel": channel]) { $1 }
                if kind == .postpaid { body["settlement"] = ["mode": "postpaid"] }
                if kind == .installments {
                    body["settlement"] = ["mode": "installments", "installments": random.weighted([(3, 3), (6, 3), (12, 2), (4, 1)])]
                }
                if kind == .payment, amount >= 1000, random.chance(0.2) {
                    body["splits"] = [["party_id": TestReference.suppliers.randomElement(using: &random)!, "amount": amount / 10]]
                }
            case .wallet:
                body.merge(["payment_id": paymentID, "order_id": "ord-\(index)", "merchant_id": Self.merchants.randomElement(using: &random)!,
                            "amount": Int64.random(in: 100...20_000, using: &random), "currency": "CNY", "method": "wallet",
                            "channel": "balance"]) { $1 }
            case .topup:
                type = "topup"
                let (method, channel) = random.weighted([(("alipay", "mobile"), 1), (("card", "bank_card"), 1)])
                body.merge(["payment_id": paymentID, "amount": Int64.random(in: 10_000...200_000, using: &random),
                            "currency": "CNY", "method": method, "channel": channel]) { $1 }
            case .repayment:
                type = "repayment"
                body.merge(["payment_id": paymentID, "amount": Int64.random(in: 100...50_000, using: &random), "currency": "CNY",
                            "method": "card", "channel": "bank_card"]) { $1 }
            case .refund:
                type = "refund"
                let target = built[paid.randomElement(using: &random)!]
                paymentID = target.paymentID
                body["payment_id"] = paymentID
                body["currency"] = Self.field(of: target.value, "currency") as? String ?? "CNY"
                if let amount = Self.amount(of: target.value), random.chance(0.7) {
                    body["amount"] = Int64.random(in: 1...max(1, amount / 2), using: &random)
                }
            case .cancel:
                type = "cancel"
                paymentID = built[paid.last!].paymentID  // the latest: it may still be authorized
                body["payment_id"] = paymentID
            case .exactDuplicate, .conflictingDuplicate:
                let candidates = kind == .exactDuplicate ? earlier : earlier.filter { Self.amount(of: built[$0].value) != nil }
                let original = built[candidates.randomElement(using: &random)!]
                duplicateOf = original.index
                var value = original.value
                if kind == .conflictingDuplicate,
                   var object = try? JSONSerialization.jsonObject(with: original.value) as? [String: Any] {
                    object["amount"] = (Self.amount(of: original.value) ?? 0) + 1
                    value = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                }
                built.append(Request(index: index, payer: payer, requestID: original.requestID, type: original.type, kind: kind,
                                     paymentID: original.paymentID, value: value, partitioning: partitioning,
                                     duplicateOf: duplicateOf))
                continue
            }
            body["type"] = type
            let value = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            built.append(Request(index: index, payer: payer, requestID: requestID, type: type, kind: kind, paymentID: paymentID,
                                 value: value, partitioning: partitioning, duplicateOf: nil))
            history[payer, default: []].append(index)
            if [.payment, .wallet, .postpaid, .installments].contains(kind) { payments[payer, default: []].append(index) }
        }
        requests = built
    }

    /// The reference data the load needs: the test merchants (one suspended), a credit line for
    /// each credit payer, and the USD→CNY rate.
    public var reference: [ReferenceUpdate] {
        TestReference.merchants.map(ReferenceUpdate.merchant)
            + creditPayers.sorted().map {
                .creditLine(CreditLineReference(payerId: $0, limits: ["CNY": 5_000_000, "USD": 500_000], installmentPlans: [3, 6, 12]))
            }
            + TestReference.fxRates.map(ReferenceUpdate.fxRate)
    }

    static func field(of value: Data, _ name: String) -> Any? {
        (try? JSONSerialization.jsonObject(with: value) as? [String: Any])?[name]
    }

    static func amount(of value: Data) -> Int64? { (field(of: value, "amount") as? NSNumber)?.int64Value }
}
