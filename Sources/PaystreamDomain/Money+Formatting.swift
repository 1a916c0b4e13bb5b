extension Money {
    /// The amount as a decimal string in major units: 19999 CNY → "199.99", 500 JPY → "500".
    public var decimalString: String {
        let digits = currency.minorUnits
        let negative = minorUnits < 0
        let magnitude = minorUnits.magnitude
        guard digits > 0 else { return (negative ? "-" : "") + String(magnitude) }
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(magnitude % scale)
        let padded = String(repeating: "0", count: digits - fraction.count) + fraction
        return (negative ? "-" : "") + "\(magnitude / scale).\(padded)"
    }

    /// "¥199.99" where the currency has a symbol, "KWD 1.500" otherwise.
    public var formatted: String {
        if let symbol = currency.symbol { return symbol + decimalString }
        return "\(currency.code) \(decimalString)"
    }
}
