extension Money {
    /// The amount as a decimal string in major units: 19999 CNY → "199.99", 500 JPY → "500",
    /// -250 USD → "-2.50".
    public var decimalString: String {
        let digits = max(currency.minorUnits, 0)
        let sign = minorUnits < 0 ? "-" : ""
        // Placing the point in the digit string, rather than dividing by 10^digits, works for
        // Int64.min and for any number of minor units without overflowing.
        let whole = String(minorUnits.magnitude)
        guard digits > 0 else { return sign + whole }
        let padded = String(repeating: "0", count: max(digits + 1 - whole.count, 0)) + whole
        let point = padded.index(padded.endIndex, offsetBy: -digits)
        return sign + padded[..<point] + "." + padded[point...]
    }

    /// "¥199.99" where the currency has a symbol, "KWD 1.500" otherwise; a negative amount keeps
    /// the sign on the number ("$-2.50", "KWD -1.500"). `Money.parse` reads every result back.
    public var formatted: String {
        if let symbol = currency.symbol { return symbol + decimalString }
        return "\(currency.code) \(decimalString)"
    }
}
