/// An ISO 4217 currency: alphabetic code, numeric code, and digits after the decimal point.
public struct Currency: Sendable, Hashable {
    public let code: String
    public let numericCode: Int
    public let minorUnits: Int
    public let symbol: String?

    public init(code: String, numericCode: Int, minorUnits: Int, symbol: String? = nil) {
        self.code = code
        self.numericCode = numericCode
        self.minorUnits = minorUnits
        self.symbol = symbol
    }

    /// Looks up an active currency by its alphabetic code.
    public static func named(_ code: String) -> Currency? { table[code] }

    // The currencies the pipeline uses today; the full ISO 4217 list is the domain issue's.
    static let table: [String: Currency] = Dictionary(uniqueKeysWithValues: [
        Currency(code: "CNY", numericCode: 156, minorUnits: 2, symbol: "¥"),
        Currency(code: "USD", numericCode: 840, minorUnits: 2, symbol: "$"),
        Currency(code: "EUR", numericCode: 978, minorUnits: 2, symbol: "€"),
        Currency(code: "GBP", numericCode: 826, minorUnits: 2, symbol: "£"),
        Currency(code: "HKD", numericCode: 344, minorUnits: 2, symbol: "HK$"),
        Currency(code: "JPY", numericCode: 392, minorUnits: 0, symbol: "JP¥"),
        Currency(code: "KRW", numericCode: 410, minorUnits: 0, symbol: "₩"),
        Currency(code: "KWD", numericCode: 414, minorUnits: 3),
        Currency(code: "CLF", numericCode: 990, minorUnits: 4),
    ].map { ($0.code, $0) })
}
