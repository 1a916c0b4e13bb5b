import ArgumentParser
import Foundation
import PaystreamDomain
import PaystreamWire

struct CurrenciesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "currencies",
        abstract: "List the ISO 4217 currencies Paystream knows, with their minor units.",
        discussion: """
            Every active ISO 4217 currency that has minor units, sorted by code. Amounts on the wire are \
            integers in minor units: 19999 CNY is ¥199.99, 500 JPY is JP¥500, 1500 KWD is KWD 1.500.
            """)

    @Flag(help: "Print a JSON array of {code, numeric_code, minor_units, name, symbol} instead of a table.")
    var json = false

    func run() throws {
        let currencies = Currency.all
        if json {
            let rows = currencies.map(CurrencyRow.init)
            print(String(decoding: try Wire.encode(rows), as: UTF8.self))
            return
        }
        print(Self.table(currencies))
        print("\(currencies.count) currencies, ISO 4217 List One published \(ISO4217.published)")
    }

    /// Aligned columns; the name goes last because it is the only long one.
    static func table(_ currencies: [Currency]) -> String {
        let header = ["CODE", "NUM", "MINOR", "SYMBOL", "NAME"]
        let rows = currencies.map { currency in
            [currency.code, threeDigits(currency.numericCode), String(currency.minorUnits), currency.symbol ?? "-",
             currency.name]
        }
        let widths = header.indices.dropLast().map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        return ([header] + rows).map { row in
            zip(row.dropLast(), widths).map { cell, width in
                cell + String(repeating: " ", count: width - cell.count)
            }.joined(separator: "  ") + "  " + row[row.count - 1]
        }.joined(separator: "\n")
    }

    /// ISO writes numeric codes with three digits: 8 → "008".
    static func threeDigits(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(3 - digits.count, 0)) + digits
    }
}

/// One currency as `--json` prints it; `symbol` is null, not missing, when there is none.
private struct CurrencyRow: Encodable {
    let code: String
    let numericCode: Int
    let minorUnits: Int
    let name: String
    let symbol: String?

    init(_ currency: Currency) {
        code = currency.code
        numericCode = currency.numericCode
        minorUnits = currency.minorUnits
        name = currency.name
        symbol = currency.symbol
    }

    private enum CodingKeys: String, CodingKey { case code, numericCode, minorUnits, name, symbol }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(numericCode, forKey: .numericCode)
        try container.encode(minorUnits, forKey: .minorUnits)
        try container.encode(name, forKey: .name)
        try container.encode(symbol, forKey: .symbol)
    }
}
