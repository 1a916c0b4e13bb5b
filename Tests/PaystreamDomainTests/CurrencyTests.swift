import Foundation
import PaystreamDomain
import Testing

@Suite("ISO 4217 currencies")
struct CurrencyTests {
    @Test("the table is the whole list, with unique codes, numbers and symbols")
    func tableSanity() {
        let all = Currency.all
        #expect(all.count >= 150)
        #expect(all.map(\.code) == all.map(\.code).sorted())
        #expect(Set(all.map(\.code)).count == all.count)
        #expect(Set(all.map(\.numericCode)).count == all.count)
        let symbols = all.compactMap(\.symbol)
        #expect(Set(symbols).count == symbols.count, "a symbol names two currencies")
        for currency in all {
            #expect(currency.code.count == 3 && currency.code.allSatisfy { $0.isASCII && $0.isUppercase }, "\(currency.code)")
            #expect((1...999).contains(currency.numericCode), "\(currency.code)")
            #expect((0...4).contains(currency.minorUnits), "\(currency.code)")
            #expect(!currency.name.isEmpty && currency.name == currency.name.trimmingCharacters(in: .whitespaces),
                    "\(currency.code)")
        }
    }

    @Test("symbols cannot be mistaken for part of a number or a code")
    func symbolsAreDistinct() {
        for symbol in Currency.all.compactMap(\.symbol) {
            #expect(!symbol.contains { $0.isNumber || $0.isWhitespace || $0 == "-" || $0 == "." }, "\(symbol)")
            #expect(!(symbol.count == 3 && symbol.allSatisfy(\.isLetter)), "\(symbol)")
        }
    }

    @Test("minor units as ISO 4217 gives them", arguments: [
        ("CNY", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("HKD", 2),
        ("JPY", 0), ("KRW", 0), ("VND", 0), ("CLP", 0), ("ISK", 0), ("XAF", 0), ("XOF", 0), ("XPF", 0), ("UGX", 0),
        ("BHD", 3), ("IQD", 3), ("JOD", 3), ("KWD", 3), ("LYD", 3), ("OMR", 3), ("TND", 3),
        ("CLF", 4), ("UYW", 4), ("UYI", 0),
    ])
    func minorUnits(code: String, digits: Int) throws {
        #expect(try #require(Currency.named(code)).minorUnits == digits)
    }

    @Test("look-ups by code, number and symbol agree", arguments: [
        ("CNY", 156, "Yuan Renminbi", "¥" as String?), ("JPY", 392, "Yen", "JP¥"), ("USD", 840, "US Dollar", "$"),
        ("EUR", 978, "Euro", "€"), ("GBP", 826, "Pound Sterling", "£"), ("HKD", 344, "Hong Kong Dollar", "HK$"),
        ("KRW", 410, "Won", "₩"), ("KWD", 414, "Kuwaiti Dinar", nil), ("ALL", 8, "Lek", nil),
        ("CLF", 990, "Unidad de Fomento", nil), ("XCG", 532, "Caribbean Guilder", nil),
    ])
    func lookups(code: String, number: Int, name: String, symbol: String?) throws {
        let currency = try #require(Currency.named(code))
        #expect(currency.code == code)
        #expect(currency.numericCode == number)
        #expect(currency.name == name)
        #expect(currency.symbol == symbol)
        #expect(Currency.numbered(number) == currency)
        if let symbol { #expect(Currency.withSymbol(symbol) == currency) }
    }

    @Test("every currency is found by its code and its number", arguments: Currency.all)
    func roundTripLookups(currency: Currency) {
        #expect(Currency.named(currency.code) == currency)
        #expect(Currency.numbered(currency.numericCode) == currency)
    }

    @Test("withdrawn codes, codes without minor units and wrong case are not currencies", arguments: [
        "BGN", "HRK", "SLL", "ZWL", "ANG", "CUC", "XAU", "XDR", "XXX", "XTS", "cny", "Cny", "", "CNYY", "¥",
    ])
    func unknown(code: String) {
        #expect(Currency.named(code) == nil)
    }

    @Test("codes without minor units are listed and left out")
    func withoutMinorUnits() {
        #expect(ISO4217.withoutMinorUnits.contains("XAU"))
        #expect(ISO4217.withoutMinorUnits.contains("XDR"))
        for code in ISO4217.withoutMinorUnits { #expect(Currency.named(code) == nil, "\(code)") }
        #expect(Currency.numbered(959) == nil)  // XAU
        #expect(Currency.numbered(0) == nil)
        #expect(ISO4217.published == "2026-01-01")
    }

    @Test("a currency made up in a test is named by its code")
    func madeUp() {
        let currency = Currency(code: "TST", numericCode: 1, minorUnits: 2, symbol: "T")
        #expect(currency.name == "TST")
        #expect(Currency.named("TST") == nil)
    }
}

@Suite("Currency identity")
struct CurrencyIdentityTests {
    @Test("a currency is its code: name and symbol do not make another currency")
    func identityIsTheCode() throws {
        let table = try #require(Currency.named("CNY"))
        let bare = Currency(code: "CNY", numericCode: 156, minorUnits: 2)
        #expect(bare == table)
        #expect(Set([bare, table]).count == 1)
        #expect(try Money(minorUnits: 1, currency: bare).adding(Money(minorUnits: 2, currency: table)).minorUnits == 3)
    }
}
