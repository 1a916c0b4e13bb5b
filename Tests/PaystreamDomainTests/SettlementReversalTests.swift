import Foundation
import PaystreamDomain
import Testing

@Suite("Settlement reversal: refunds take the stored breakdown back pro rata")
struct SettlementReversalTests {
    static let cny = Currency.named("CNY")!

    static func parts(_ booked: [Int64], keepFee: Bool = false) -> [SettlementReversal.Part] {
        booked.enumerated().map { index, amount in
            SettlementReversal.Part(booked: amount, reversed: 0, reversible: !(keepFee && index == 0), isMerchant: index == booked.count - 1)
        }
    }

    static let sharing: [([Int64], Int64, [Int64])] = [
        ([60, 0, 1_000, 8_940], 2_000, [12, 0, 200, 1_788]),
        ([8, 15, 977], 333, [3, 5, 325]),
        ([1, 1, 1], 2, [1, 1, 0]),
        ([90, 100, 2_000, 7_810], 10_000, [90, 100, 2_000, 7_810]),
    ]

    @Test("a refund is shared by the parts' weights, leftover units to the largest dropped fractions, ties to the earlier part",
          arguments: sharing)
    func shares(booked: [Int64], refund: Int64, expected: [Int64]) throws {
        let shares = try SettlementReversal.shares(of: Money(minorUnits: refund, currency: Self.cny), parts: Self.parts(booked))
        #expect(shares.map(\.minorUnits) == expected)
    }

    @Test("a kept fee is not reversed; once the other parts are spent the merchant's part takes the rest")
    func keptFee() throws {
        let shares = try SettlementReversal.shares(of: Money(minorUnits: 10_000, currency: Self.cny),
                                                   parts: Self.parts([90, 100, 2_000, 7_810], keepFee: true))
        #expect(shares.map(\.minorUnits) == [0, 100, 2_000, 7_900])
    }

    @Test("more than what is left of the gross is refused, as is nothing")
    func refused() {
        let parts = [SettlementReversal.Part(booked: 100, reversed: 40), SettlementReversal.Part(booked: 900, reversed: 500, isMerchant: true)]
        #expect(throws: SettlementError.reversalExceedsBooking(requested: 461, available: 460)) {
            try SettlementReversal.shares(of: Money(minorUnits: 461, currency: Self.cny), parts: parts)
        }
        #expect(throws: SettlementError.self) { try SettlementReversal.shares(of: .zero(Self.cny), parts: parts) }
    }

    @Test("the converted side: cumulative half-up targets, never above the booking, exactly the booking when reversed in full")
    func settledShares() throws {
        #expect(try SettlementReversal.settledShare(booked: 977, bookedSettled: 6_960, reversedBefore: 0, reversedSettledBefore: 0,
                                                    share: 325) == 2_315)
        #expect(try SettlementReversal.settledShare(booked: 977, bookedSettled: 6_960, reversedBefore: 325, reversedSettledBefore: 2_315,
                                                    share: 652) == 4_645)
        #expect(try SettlementReversal.settledShare(booked: 0, bookedSettled: 0, reversedBefore: 0, reversedSettledBefore: 0, share: 0) == 0)
    }

    @Test("any sequence of refunds: every share ≥ 0, shares sum to the refund, no part beyond its booking, a full refund reverses each part exactly")
    func property() throws {
        let failures = try forAllCases("reversal") { random, _ in
            let count = Int.random(in: 2...6, using: &random)
            var booked = (0..<count).map { _ in Bool.random(using: &random) ? Int64.random(in: 0...50, using: &random)
                                                                            : Int64.random(in: 0...5_000_000, using: &random) }
            if booked.allSatisfy({ $0 == 0 }) { booked[count - 1] = 1 }
            let keepFee = random.next() % 4 == 0
            let converted = booked.map { $0 == 0 ? Int64(0) : $0 * Int64.random(in: 1...30, using: &random) / 7 }
            var reversed = [Int64](repeating: 0, count: count)
            var reversedSettled = [Int64](repeating: 0, count: count)
            let gross = booked.reduce(0, +)
            var left = gross
            while left > 0 {
                let refund = Bool.random(using: &random) ? left : Int64.random(in: 1...left, using: &random)
                let parts = (0..<count).map { SettlementReversal.Part(booked: booked[$0], reversed: reversed[$0],
                                                                      reversible: !(keepFee && $0 == 0), isMerchant: $0 == count - 1) }
                let shares = try SettlementReversal.shares(of: Money(minorUnits: refund, currency: Self.cny), parts: parts).map(\.minorUnits)
                guard shares.reduce(0, +) == refund, shares.allSatisfy({ $0 >= 0 }) else { return "shares \(shares) of \(refund)" }
                for index in 0..<count {
                    let settled = try SettlementReversal.settledShare(booked: booked[index], bookedSettled: converted[index],
                                                                      reversedBefore: reversed[index],
                                                                      reversedSettledBefore: reversedSettled[index], share: shares[index])
                    guard settled >= 0 else { return "a negative converted share \(settled)" }
                    reversed[index] += shares[index]
                    reversedSettled[index] += settled
                    let allowance = keepFee && index == count - 1 ? booked[0] : 0
                    guard reversed[index] <= booked[index] + allowance else { return "part \(index) reversed \(reversed[index]) of \(booked)" }
                    guard allowance > 0 || reversedSettled[index] <= converted[index] else { return "converted part \(index) beyond its booking" }
                }
                left -= refund
            }
            for index in 0..<count where !(keepFee && (index == 0 || index == count - 1)) {
                guard reversed[index] == booked[index], reversedSettled[index] == converted[index] else {
                    return "after a full refund part \(index): \(reversed[index])/\(booked[index]), \(reversedSettled[index])/\(converted[index])"
                }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
