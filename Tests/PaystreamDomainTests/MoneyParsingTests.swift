import PaystreamDomain
import Testing

@Suite("Money parsing")
struct MoneyParsingTests {
    @Test("amounts that name their currency", arguments: [
        ("¥199.99", Int64(19999), "CNY"), ("CNY 199.99", 19999, "CNY"), ("199.99 CNY", 19999, "CNY"),
        ("JPY 500", 500, "JPY"), ("JP¥500", 500, "JPY"), ("500 JPY", 500, "JPY"), ("$-2.50", -250, "USD"),
        ("-$2.50", -250, "USD"), ("USD -2.50", -250, "USD"), ("-2.50 USD", -250, "USD"), ("$0.05", 5, "USD"),
        ("HK$10", 1000, "HKD"), ("A$1.5", 150, "AUD"), ("S$1", 100, "SGD"), ("₩1000", 1000, "KRW"),
        ("€ 3.10", 310, "EUR"), ("  GBP\t7  ", 700, "GBP"), ("KWD 1.500", 1500, "KWD"), ("KWD 1.5", 1500, "KWD"),
        ("CLF 1.2345", 12345, "CLF"), ("1.230 CNY", 123, "CNY"), ("500.00 JPY", 500, "JPY"), ("007 CNY", 700, "CNY"),
        ("-0 CNY", 0, "CNY"), ("0.000000000000000000000000 CNY", 0, "CNY"),
        ("USD 92233720368547758.07", Int64.max, "USD"), ("USD -92233720368547758.08", Int64.min, "USD"),
        ("$-92233720368547758.08", Int64.min, "USD"), ("JPY 9223372036854775807", Int64.max, "JPY"),
    ])
    func accepts(text: String, minor: Int64, code: String) throws {
        let currency = try #require(Currency.named(code))
        #expect(try Money.parse(text) == Money(minorUnits: minor, currency: currency))
        #expect(try Money.parse(text, currency: currency) == Money(minorUnits: minor, currency: currency))
    }

    @Test("bare numbers in a given currency", arguments: [
        ("199.99", Int64(19999), "CNY"), ("0.05", 5, "CNY"), ("-2.50", -250, "USD"), ("500", 500, "JPY"),
        ("1", 1000, "KWD"), ("0.0001", 1, "CLF"), ("12.3", 1230, "CNY"),
    ])
    func bare(text: String, minor: Int64, code: String) throws {
        let currency = try #require(Currency.named(code))
        #expect(try Money.parse(text, currency: currency) == Money(minorUnits: minor, currency: currency))
    }

    @Test("more digits than the currency has are refused, never rounded", arguments: [
        ("1.234 CNY", "CNY", 2), ("¥0.001", "CNY", 2), ("JPY 500.5", "JPY", 0), ("KWD 1.0001", "KWD", 3),
        ("CLF 1.00001", "CLF", 4), ("1.2300001 CNY", "CNY", 2),
    ])
    func tooPrecise(text: String, code: String, digits: Int) {
        #expect(throws: MoneyError.tooPrecise(text, currency: code, minorUnits: digits)) { try Money.parse(text) }
    }

    @Test("unknown or unusable codes", arguments: [
        ("XYZ 1.00", "XYZ"), ("1.00 BGN", "BGN"), ("XAU 1", "XAU"), ("cny 1.00", "cny"), ("1 usd", "usd"),
    ])
    func unknownCurrency(text: String, code: String) {
        #expect(throws: MoneyError.unknownCurrency(code)) { try Money.parse(text) }
    }

    @Test("text that is not an amount", arguments: [
        "", "   ", "CNY", "¥", "$", "-", "abc", "1,000.00 CNY", "+1.00 CNY", ".5 CNY", "5. CNY", "1.2.3 CNY", "1e3 CNY",
        "CNY1.00", "1.00CNY", "CNY 1.00 CNY", "--1 CNY", "-$-2.50", "$--2.50", "$ $1", "¥1 CNY", "1 000 CNY",
        "CNY ١٢٣", "CNY １２", "CNY 1 .00", "-CNY 1.00", "CNY - 1", "US$1", "R 1", "¥¥1", "0x10 CNY", "NaN CNY",
    ])
    func garbage(text: String) {
        let error = #expect(throws: MoneyError.self) { try Money.parse(text) }
        guard case .invalidAmount? = error else {
            Issue.record("'\(text)' gave \(String(describing: error)), not invalidAmount")
            return
        }
    }

    @Test("a bare number needs the currency given")
    func bareNeedsCurrency() {
        #expect(throws: MoneyError.self) { try Money.parse("199.99") }
    }

    @Test("a written currency must be the one given")
    func mismatch() throws {
        let cny = try #require(Currency.named("CNY"))
        #expect(throws: MoneyError.currencyMismatch("CNY", "JPY")) { try Money.parse("JP¥500", currency: cny) }
        #expect(throws: MoneyError.currencyMismatch("CNY", "USD")) { try Money.parse("USD 5", currency: cny) }
        #expect(try Money.parse("¥5", currency: cny) == Money(minorUnits: 500, currency: cny))
    }

    @Test("amounts beyond 64 bits overflow, never trap", arguments: [
        "USD 92233720368547758.08", "USD -92233720368547758.09", "JPY 9223372036854775808",
        "JPY 99999999999999999999999999", "$184467440737095516.16", "CLF 922337203685477.5808",
        "KWD 18446744073709551616",
    ])
    func overflow(text: String) {
        #expect(throws: MoneyError.overflow) { try Money.parse(text) }
    }

    @Test("the edges of 64 bits read back in every currency", arguments: Currency.all)
    func edgesRoundTrip(currency: Currency) throws {
        for minor in [Int64.min, Int64.min + 1, -1, 0, 1, 10, Int64.max - 1, Int64.max] {
            let money = Money(minorUnits: minor, currency: currency)
            #expect(try Money.parse(money.formatted) == money, "\(money.formatted)")
            #expect(try Money.parse(money.decimalString, currency: currency) == money, "\(money.decimalString)")
            #expect(try Money.parse("\(currency.code) \(money.decimalString)") == money)
            #expect(try Money.parse("\(money.decimalString) \(currency.code)") == money)
        }
    }

    @Test("format then parse gives the same money, for every currency and random amounts")
    func roundTrip() {
        let currencies = Currency.all
        let failures = forAllCases("format → parse") { random, _ in
            let currency = currencies.randomElement(using: &random)!
            // Mix small, everyday and full-range amounts so short fractions and huge values both occur.
            let minor: Int64 = switch Int.random(in: 0..<3, using: &random) {
            case 0: Int64.random(in: -1_000...1_000, using: &random)
            case 1: Int64.random(in: -10_000_000_000...10_000_000_000, using: &random)
            default: Int64.random(in: .min ... .max, using: &random)
            }
            let money = Money(minorUnits: minor, currency: currency)
            for text in [money.formatted, "\(currency.code) \(money.decimalString)", "\(money.decimalString) \(currency.code)"] {
                guard let back = try? Money.parse(text), back == money else {
                    return "\(minor) \(currency.code) → '\(text)' → \(String(describing: try? Money.parse(text)))"
                }
            }
            guard (try? Money.parse(money.decimalString, currency: currency)) == money else {
                return "\(minor) \(currency.code) → '\(money.decimalString)' did not read back"
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("decimal strings for custom digits place the point without overflowing", arguments: [
        (Int64(5), 0, "5"), (5, 1, "0.5"), (5, 3, "0.005"), (-5, 3, "-0.005"), (Int64.max, 19, "0.9223372036854775807"),
        (Int64.min, 20, "-0.09223372036854775808"), (0, 2, "0.00"),
    ])
    func decimalStrings(minor: Int64, digits: Int, expected: String) throws {
        let currency = Currency(code: "TST", numericCode: 1, minorUnits: digits)
        let money = Money(minorUnits: minor, currency: currency)
        #expect(money.decimalString == expected)
        #expect(try Money.parse(expected, currency: currency) == money)
    }
}
