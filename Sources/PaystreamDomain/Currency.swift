/// An ISO 4217 currency: alphabetic code, numeric code, and digits after the decimal point.
public struct Currency: Sendable, Hashable {
    /// Alphabetic code, e.g. "CNY".
    public let code: String
    /// Numeric code, e.g. 156 for CNY (ISO writes it with three digits: "156", "008").
    public let numericCode: Int
    /// Digits after the decimal point: 2 for CNY, 0 for JPY, 3 for KWD, 4 for CLF.
    public let minorUnits: Int
    /// English name as ISO 4217 spells it, e.g. "Yuan Renminbi".
    public let name: String
    /// Prefix used when formatting and accepted when parsing; nil where none is unambiguous.
    public let symbol: String?

    /// A currency; `name` defaults to the code, for currencies made up in tests.
    public init(code: String, numericCode: Int, minorUnits: Int, name: String? = nil, symbol: String? = nil) {
        self.code = code
        self.numericCode = numericCode
        self.minorUnits = minorUnits
        self.name = name ?? code
        self.symbol = symbol
    }

    /// Looks up an active currency by its alphabetic code ("CNY"; case matters).
    public static func named(_ code: String) -> Currency? { byCode[code] }

    /// Looks up an active currency by its numeric code (156 → CNY).
    public static func numbered(_ numericCode: Int) -> Currency? { byNumericCode[numericCode] }

    /// The currency whose symbol is exactly `symbol` ("¥" → CNY).
    public static func withSymbol(_ symbol: String) -> Currency? { bySymbol[symbol] }

    /// Every active ISO 4217 currency that has minor units, sorted by code.
    public static var all: [Currency] { sortedByCode }

    private static let sortedByCode: [Currency] = ISO4217.entries
        .map { entry in
            Currency(code: entry.code, numericCode: entry.numericCode, minorUnits: entry.minorUnits,
                     name: entry.name, symbol: symbols[entry.code])
        }
        .sorted { $0.code < $1.code }

    private static let byCode: [String: Currency] = Dictionary(uniqueKeysWithValues: sortedByCode.map { ($0.code, $0) })
    private static let byNumericCode: [Int: Currency] =
        Dictionary(uniqueKeysWithValues: sortedByCode.map { ($0.numericCode, $0) })
    private static let bySymbol: [String: Currency] =
        Dictionary(uniqueKeysWithValues: sortedByCode.compactMap { currency in currency.symbol.map { ($0, currency) } })

    // Symbols are not part of ISO 4217; these are ours. Each names exactly one currency, so that
    // "¥199.99" parses back to what it was formatted from: "$" is USD only (other dollars carry a
    // prefix, after CLDR's English symbols), "¥" is CNY because notifications to Chinese payers
    // read "¥199.99", so JPY takes "JP¥"; ₩ is KRW, not KPW. Currencies whose usual sign is shared
    // or a word (kr, Fr, zł, Rp, …) get none and format as "SEK 10.00".
    static let symbols: [String: String] = [
        "AUD": "A$", "AZN": "₼", "BRL": "R$", "CAD": "CA$", "CNY": "¥", "EUR": "€", "GBP": "£", "GEL": "₾",
        "HKD": "HK$", "ILS": "₪", "INR": "₹", "JPY": "JP¥", "KRW": "₩", "KZT": "₸", "MXN": "MX$", "NGN": "₦",
        "NZD": "NZ$", "PHP": "₱", "RUB": "₽", "SGD": "S$", "THB": "฿", "TRY": "₺", "TWD": "NT$", "UAH": "₴",
        "USD": "$", "VND": "₫", "XCD": "EC$",
    ]
}

extension Currency {
    /// A currency is its code: two values with the same code are the same currency, whatever
    /// name or symbol a caller gave them.
    public static func == (lhs: Currency, rhs: Currency) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
