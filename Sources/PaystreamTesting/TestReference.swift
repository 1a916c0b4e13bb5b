import PaystreamDomain
import PaystreamReference

/// Reference data the test suites share: active merchants `m-0` … `m-9` (suppliers
/// `supplier-1` … `supplier-3`, 0.6% fee, settling in CNY), a suspended merchant `m-suspended`,
/// and credit lines for `credit-user` (CNY 5,000.00, installments of 3, 6 or 12).
public enum TestReference {
    public static let suppliers = ["supplier-1", "supplier-2", "supplier-3"]

    public static func merchant(_ id: String, status: MerchantStatus = .active) -> MerchantReference {
        MerchantReference(merchantId: id, status: status, settlementCurrency: "CNY",
                          defaultFee: .init(basisPoints: 60), commissionBasisPoints: 0,
                          payout: .init(delayDays: 1, cutoff: "18:00", timeZone: "Asia/Shanghai"),
                          suppliers: suppliers, installmentFinancing: "upfront")
    }

    public static let merchants: [MerchantReference] =
        (0...9).map { merchant("m-\($0)") } + [merchant("m-suspended", status: .suspended)]

    public static let creditLines = [
        CreditLineReference(payerId: "credit-user", limits: ["CNY": 500_000], installmentPlans: [3, 6, 12]),
    ]

    public static let fxRates = [
        FXRateReference(base: "USD", quote: "CNY", rate: "7.1000", source: "test", asOf: "2026-11-24T00:00:00Z"),
    ]

    public static let standard = StaticReferenceData(merchants: merchants, creditLines: creditLines, fxRates: fxRates)
}
