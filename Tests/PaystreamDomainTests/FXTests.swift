import Foundation
import PaystreamDomain
import Testing

@Suite("FX rates and conversion")
struct FXTests {
    typealias F = LedgerFixtures

    // MARK: Rates

    @Test("rates parse exactly into digits and a scale", arguments: [
        ("7.1234", Int64(71_234), 4, "7.1234"),
        ("7", 7, 0, "7"),
        ("1000", 1_000, 0, "1000"),
        ("0.0067", 67, 4, "0.0067"),
        ("7.10", 71, 1, "7.1"),
        ("007.50", 75, 1, "7.5"),
        ("7.10000000000000000000", 71, 1, "7.1"),
        ("0.000000000001", 1, 12, "0.000000000001"),
        ("123456789012345678", 123_456_789_012_345_678, 0, "123456789012345678"),
        ("123456.789012345678", 123_456_789_012_345_678, 12, "123456.789012345678"),
    ])
    func parse(text: String, value: Int64, scale: Int, canonical: String) throws {
        let rate = try F.rate(F.usd, F.cny, text)
        #expect(rate.value == value)
        #expect(rate.scale == scale)
        #expect(rate.decimalString == canonical)
        #expect(rate.pair == "USD/CNY")
        #expect(try F.rate(F.usd, F.cny, canonical) == rate)
    }

    @Test("garbage, zero, negative and over-precise rates are refused", arguments: [
        ("", "malformed_rate"), ("abc", "malformed_rate"), ("7.", "malformed_rate"), (".5", "malformed_rate"),
        ("1.2.3", "malformed_rate"), (" 7", "malformed_rate"), ("7 ", "malformed_rate"), ("+7", "malformed_rate"),
        ("1e3", "malformed_rate"), ("1,5", "malformed_rate"), ("7.1a", "malformed_rate"), ("--7", "malformed_rate"),
        ("-", "malformed_rate"), ("NaN", "malformed_rate"), ("７", "malformed_rate"), ("0x1F", "malformed_rate"),
        ("0", "rate_not_positive"), ("0.000", "rate_not_positive"), ("-0", "rate_not_positive"),
        ("-7.1", "rate_not_positive"), ("-0.0001", "rate_not_positive"),
        ("0.0000000000001", "rate_too_precise"), ("1234567890123456789", "rate_too_precise"),
        ("123456789012.3456789", "rate_too_precise"), ("99999999999999999999", "rate_too_precise"),
    ])
    func refused(text: String, code: String) {
        #expect {
            _ = try ExchangeRate(base: F.usd, quote: F.cny, rate: text, source: "test", asOf: F.now)
        } throws: { error in
            (error as? ExchangeRateError)?.code == code
        }
    }

    @Test("a rate needs two currencies and a positive value in range")
    func rateConstruction() throws {
        #expect(throws: ExchangeRateError.sameCurrency("USD")) { try F.rate(F.usd, F.usd, "1") }
        let normalised = try ExchangeRate(base: F.usd, quote: F.cny, value: 712_300, scale: 5, source: "ecb", asOf: F.now)
        #expect(normalised.value == 7_123 && normalised.scale == 3)
        #expect(throws: ExchangeRateError.self) { try ExchangeRate(base: F.usd, quote: F.cny, value: 0, scale: 0, source: "", asOf: F.now) }
        #expect(throws: ExchangeRateError.self) { try ExchangeRate(base: F.usd, quote: F.cny, value: 1, scale: 13, source: "", asOf: F.now) }
        #expect(throws: ExchangeRateError.self) { try ExchangeRate(base: F.usd, quote: F.cny, value: 1, scale: -1, source: "", asOf: F.now) }
    }

    // MARK: Conversion

    @Test("conversion rounds as each mode says, across minor units", arguments: [
        // base, quote, rate, amount, half_even, half_up, down
        ("CNY", "USD", "0.1403", Int64(1_234), Int64(173), Int64(173), Int64(173)),  // 173.1302
        ("CNY", "USD", "0.14", 25, 4, 4, 3),            // 3.5: the even neighbour is 4
        ("CNY", "USD", "0.14", 75, 10, 11, 10),         // 10.5: the even neighbour is 10
        ("CNY", "USD", "0.14", -25, -4, -4, -3),        // -3.5
        ("CNY", "USD", "0.14", -75, -10, -11, -10),     // -10.5
        ("JPY", "USD", "0.0067", 10_000, 6_700, 6_700, 6_700),  // ¥10,000 = $67.00 exactly
        ("JPY", "USD", "0.0067", 1, 1, 1, 0),           // 0.67 cents
        ("USD", "JPY", "149.25", 150, 224, 224, 223),   // $1.50 = ¥223.875
        ("USD", "KWD", "0.3075", 10_000, 30_750, 30_750, 30_750),  // $100.00 = KWD 30.750
        ("USD", "KWD", "0.3075", 20, 62, 62, 61),       // 61.5 fils
        ("USD", "KWD", "0.3075", 60, 184, 185, 184),    // 184.5 fils
        ("KWD", "JPY", "487.5", 1, 0, 0, 0),            // 0.4875 yen
        ("KWD", "JPY", "487.5", 1_000, 488, 488, 487),  // KWD 1.000 = ¥487.5
        ("KWD", "JPY", "487.5", 3_000, 1_462, 1_463, 1_462),
        ("JPY", "KWD", "1", 5, 5_000, 5_000, 5_000),    // quote has more decimals than rate and base: exact
        ("JPY", "CLF", "0.0003", 7, 21, 21, 21),
        ("CLF", "JPY", "4567.8912", 1, 0, 0, 0),        // 0.45678912 yen
        ("CLF", "JPY", "4567.8912", 12_345, 5_639, 5_639, 5_639),
    ])
    func convert(base: String, quote: String, rate text: String, amount: Int64, halfEven: Int64, halfUp: Int64, down: Int64) throws {
        let rate = try F.rate(Currency.named(base)!, Currency.named(quote)!, text)
        let source = Money(minorUnits: amount, currency: rate.base)
        for (mode, expected) in [(RoundingMode.halfEven, halfEven), (.halfUp, halfUp), (.down, down)] {
            let conversion = try rate.convert(source, rounding: mode)
            #expect(conversion.converted == Money(minorUnits: expected, currency: rate.quote), "\(mode)")
            #expect(Self.isExact(conversion, rateText: text), "\(mode)")
            #expect(conversion.source == source && conversion.rounding == mode && conversion.rate == rate)
        }
    }

    @Test("the residual is exactly what rounding left out", arguments: [
        // rate, amount, mode, numerator, denominator
        ("0.1403", Int64(1_234), RoundingMode.halfEven, Int64(1_302), Int64(10_000)),
        ("0.14", 25, .halfEven, -50, 100),
        ("0.14", 25, .down, 50, 100),
        ("0.14", -25, .halfUp, 50, 100),
        ("0.14", 100, .halfEven, 0, 100),
    ])
    func residual(rate text: String, amount: Int64, mode: RoundingMode, numerator: Int64, denominator: Int64) throws {
        let conversion = try F.rate(F.cny, F.usd, text).convert(F.cny(amount), rounding: mode)
        #expect(conversion.residual.numerator == numerator)
        #expect(conversion.residual.denominator == denominator)
        #expect(conversion.residual.currency == F.usd)
    }

    @Test("overflow and the wrong currency are errors, never traps")
    func conversionErrors() throws {
        let usdJPY = try F.rate(F.usd, F.jpy, "149.25")
        #expect(throws: MoneyError.overflow) { try usdJPY.convert(Money(minorUnits: .max, currency: F.usd), rounding: .halfEven) }
        #expect(throws: MoneyError.overflow) { try usdJPY.convert(Money(minorUnits: .min, currency: F.usd), rounding: .down) }
        let jpyKWD = try F.rate(F.jpy, F.kwd, "1000")
        #expect(throws: MoneyError.overflow) { try jpyKWD.convert(Money(minorUnits: 10_000_000_000_000, currency: F.jpy), rounding: .halfUp) }
        #expect(throws: MoneyError.currencyMismatch("USD", "CNY")) { try usdJPY.convert(F.cny(1), rounding: .halfEven) }
        // Big but representable: 9.2e18 fils × 0.0001 stays exact through the 128-bit product.
        let kwdUSD = try F.rate(F.kwd, F.usd, "0.0001")
        #expect(try kwdUSD.convert(Money(minorUnits: .max, currency: F.kwd), rounding: .down).converted.minorUnits == Int64.max / 100_000)
    }

    @Test("conversion is exact, bounded and symmetric for random amounts, rates and currencies")
    func conversionProperty() {
        let currencies = ["CNY", "USD", "JPY", "KWD", "CLF"].map { Currency.named($0)! }
        var overflows = 0
        let failures = forAllCases("FX conversion") { random, _ in
            let base = currencies.randomElement(using: &random)!
            let quote = currencies.filter { $0 != base }.randomElement(using: &random)!
            // Magnitudes spread over many orders, so that some products overflow and must say so.
            let scale = Int.random(in: 0...8, using: &random)
            let digits = Int64.random(in: 1...Self.power(Int.random(in: 0...12, using: &random)), using: &random)
            let text = Self.decimal(digits, scale: scale)
            guard let rate = try? F.rate(base, quote, text) else { return "rate \(text) refused" }
            let magnitude = Int64.random(in: 0...Self.power(Int.random(in: 0...15, using: &random)), using: &random)
            let amount = Money(minorUnits: Bool.random(using: &random) ? -magnitude : magnitude, currency: base)
            for mode in RoundingMode.allCases {
                let conversion: FXConversion
                do {
                    conversion = try rate.convert(amount, rounding: mode)
                } catch {
                    // Overflow only when the exact value is beyond what 64-bit minor units hold.
                    guard (error as? MoneyError) == .overflow, Self.exactValue(amount, rateText: text, quote: quote).magnitude > Decimal(Int64.max) - 1
                    else { return "\(mode) \(amount) at \(text): \(error)" }
                    overflows += 1
                    continue
                }
                let r = conversion.residual
                guard Self.isExact(conversion, rateText: text) else { return "\(mode) \(amount) at \(text) is not exact: \(conversion)" }
                guard r.numerator.magnitude < r.denominator.magnitude else { return "residual \(r) is a whole unit or more" }
                let twice = 2 * r.numerator.magnitude
                switch mode {
                case .down:
                    // Toward zero: the residual keeps the amount's sign.
                    if r.numerator != 0 && (r.numerator < 0) != amount.isNegative { return "down moved away from zero: \(conversion)" }
                case .halfUp:
                    if twice > r.denominator.magnitude { return "half-up not nearest: \(conversion)" }
                    if twice == r.denominator.magnitude && (r.numerator < 0) == amount.isNegative { return "half-up tie toward zero: \(conversion)" }
                case .halfEven:
                    if twice > r.denominator.magnitude { return "half-even not nearest: \(conversion)" }
                    if twice == r.denominator.magnitude && conversion.converted.minorUnits % 2 != 0 { return "half-even tie to odd: \(conversion)" }
                }
                guard let negated = try? amount.negated(), let mirror = try? rate.convert(negated, rounding: mode),
                      mirror.converted.minorUnits == -conversion.converted.minorUnits,
                      mirror.residual.numerator == -r.numerator else { return "\(mode) not symmetric for \(amount) at \(text)" }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(overflows > 0 && overflows < propertyCases, "\(overflows) overflows")
    }

    // MARK: Booking

    @Test("a conversion books through both FX accounts and each currency balances")
    func booking() throws {
        var ledger = try F.ledger()
        let conversion = try F.rate(F.cny, F.usd, "0.1403").convert(F.cny(1_234), rounding: .halfEven)
        try ledger.postConversion(conversion, id: "fx:1", debit: F.clearing, credit: F.merchantUSD, postedAt: F.now)
        let posting = try #require(ledger.postings.last)
        #expect(posting.entries == [
            .debit(F.clearing, F.cny(1_234)), try .credit(.fxPosition(F.cny), F.cny(1_234)),
            .debit(.fxPosition(F.usd), F.usd(173)), try .credit(F.merchantUSD, F.usd(173)),
        ])
        #expect(posting.conversions == [conversion])
        #expect(posting.isBalanced)
        #expect(ledger.fxRoundingCarry["USD"] == 130_200_000_000_000_000)  // 0.1302 of a cent
        #expect(ledger.accounts[.fxRounding(F.usd)] == .fxRounding(F.usd))
        #expect(try ledger.trialBalance(F.cny).isZero && ledger.trialBalance(F.usd).isZero)
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("residuals carry until they make a whole minor unit, which goes to fx_rounding")
    func roundingCarry() throws {
        var ledger = try F.ledger()
        // ¥0.25 at 0.14 is 3.5 cents; half-even pays 4, so each conversion loses half a cent.
        let conversion = try F.rate(F.cny, F.usd, "0.14").convert(F.cny(25), rounding: .halfEven)
        #expect(conversion.converted == F.usd(4))
        try ledger.postConversion(conversion, id: "fx:1", debit: F.clearing, credit: F.merchantUSD, postedAt: F.now)
        #expect(ledger.postings.last?.entries.contains { $0.account == .fxRounding(F.usd) } == false)
        #expect(ledger.fxRoundingCarry["USD"] == -500_000_000_000_000_000)
        try ledger.postConversion(conversion, id: "fx:2", debit: F.clearing, credit: F.merchantUSD, postedAt: F.now)
        #expect(ledger.postings.last?.entries.contains(.debit(.fxRounding(F.usd), F.usd(1))) == true)
        #expect(ledger.fxRoundingCarry["USD"] == 0)
        // Two conversions worth exactly 7 cents: the merchant got 8, the FX position paid out 7, the
        // rounding account carries the cent of loss.
        #expect(ledger.balance(of: F.merchantUSD)?.posted == F.usd(8))
        #expect(ledger.balance(of: .fxPosition(F.usd))?.posted == F.usd(7))
        #expect(ledger.balance(of: .fxRounding(F.usd))?.posted == F.usd(-1))
        #expect(ledger.checkInvariants().isEmpty)

        // Undoing one conversion brings the carry back to where it was.
        try ledger.reverse("fx:2", as: "fx:2:undo", postedAt: F.now)
        #expect(ledger.fxRoundingCarry["USD"] == -500_000_000_000_000_000)
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("reversing a conversion after the carry has moved settles the carry again")
    func reversalSettlesCarry() throws {
        var ledger = try F.ledger()
        let rate = try F.rate(F.cny, F.usd, "0.14")
        // Residuals: -0.5 (3.5 paid as 4), then +0.5 twice (10.5 paid as 10): the carry ends at +0.5.
        try ledger.postConversion(rate.convert(F.cny(25), rounding: .halfEven), id: "fx:a", debit: F.clearing,
                                  credit: F.merchantUSD, postedAt: F.now)
        for id in ["fx:b", "fx:c"] {
            try ledger.postConversion(rate.convert(F.cny(75), rounding: .down), id: PostingID(id), debit: F.clearing,
                                      credit: F.merchantUSD, postedAt: F.now)
        }
        #expect(ledger.fxRoundingCarry["USD"] == 500_000_000_000_000_000)
        // Mirrored as is, undoing fx:a would leave a whole cent in the carry; the reversal books it.
        try ledger.reverse("fx:a", as: "fx:a:undo", postedAt: F.now)
        let reversal = try #require(ledger.postings.last)
        #expect(reversal.entries.contains(try .credit(F.merchantUSD, F.usd(-4))))  // the merchant leg mirrors exactly
        #expect(reversal.entries.contains(try .credit(.fxRounding(F.usd), F.usd(1))))
        #expect(ledger.fxRoundingCarry["USD"] == 0)
        #expect(ledger.balance(of: F.merchantUSD)?.posted == F.usd(20))
        #expect(ledger.checkInvariants().isEmpty)
    }

    @Test("a refused conversion leaves nothing behind, not even its FX accounts")
    func refusedConversion() throws {
        var ledger = try F.ledger(walletBalance: 1_000)
        let before = ledger
        let conversion = try F.rate(F.cny, F.usd, "0.14").convert(F.cny(1_001), rounding: .halfEven)
        #expect(throws: LedgerError.belowFloor(F.wallet, available: -1, floor: 0)) {
            try ledger.postConversion(conversion, id: "fx:1", debit: F.wallet, credit: F.merchantUSD, postedAt: F.now)
        }
        #expect(ledger == before)
        #expect(ledger.accounts[.fxPosition(F.usd)] == nil)
    }

    @Test("a posting booking more rounding than its conversions leave is refused")
    func roundingOverbooked() throws {
        var ledger = try F.ledger()
        let conversion = try F.rate(F.cny, F.usd, "0.14").convert(F.cny(100), rounding: .halfEven)  // exactly 14 cents
        try ledger.open(.fxPosition(F.cny))
        try ledger.open(.fxPosition(F.usd))
        try ledger.open(.fxRounding(F.usd))
        let posting = try Posting(id: "fx:1", entries: [
            .debit(F.clearing, F.cny(100)), .credit(.fxPosition(F.cny), F.cny(100)),
            .debit(.fxPosition(F.usd), F.usd(15)), .credit(F.merchantUSD, F.usd(14)), .credit(.fxRounding(F.usd), F.usd(1)),
        ], conversions: [conversion], postedAt: F.now)
        #expect(throws: LedgerError.roundingCarryOutOfRange("fx:1", currency: "USD")) { try ledger.post(posting) }
    }

    // MARK: Oracles

    /// `digits × 10^-scale` as plain decimal text.
    static func decimal(_ digits: Int64, scale: Int) -> String {
        let text = String(digits)
        guard scale > 0 else { return text }
        let padded = String(repeating: "0", count: max(0, scale + 1 - text.count)) + text
        return "\(padded.dropLast(scale)).\(padded.suffix(scale))"
    }

    static func power(_ exponent: Int) -> Int64 { (0..<exponent).reduce(1) { value, _ in value * 10 } }

    /// amount × rate in minor units of `quote`, exactly, with Foundation's Decimal.
    static func exactValue(_ amount: Money, rateText: String, quote: Currency) -> Decimal {
        let rate = Decimal(string: rateText, locale: Locale(identifier: "en_US_POSIX"))!
        let shift = Decimal(sign: .plus, exponent: quote.minorUnits - amount.currency.minorUnits, significand: 1)
        return Decimal(amount.minorUnits) * rate * shift
    }

    /// converted + residual equals amount × rate, worked out independently with Foundation's Decimal
    /// (38 digits, exact at these sizes) from the rate's text.
    static func isExact(_ conversion: FXConversion, rateText: String) -> Bool {
        let exact = exactValue(conversion.source, rateText: rateText, quote: conversion.converted.currency)
        let denominatorDigits = String(conversion.residual.denominator).count - 1
        let residual = Decimal(conversion.residual.numerator) * Decimal(sign: .plus, exponent: -denominatorDigits, significand: 1)
        return Decimal(conversion.converted.minorUnits) + residual == exact
    }
}
