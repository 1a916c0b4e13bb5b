/// Text kept in a shard's columns: ids, codes and names. The store binds text up to its first
/// NUL (`a\u0000b` would be kept as `a`, and two different ids as one), and a control character
/// in an id is never meant; so an input whose id holds one (U+0000–U+001F, U+007F) is refused
/// where it enters: a payment request is rejected, a reference value is not applied.
public enum StoredText {
    public static func hasControlCharacter(_ text: String) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }

    /// "`field` holds a control character", for a value's list of problems; nil when it does not.
    public static func problem(_ field: String, _ text: String) -> String? {
        hasControlCharacter(text) ? "\(field) holds a control character (U+0000–U+001F or U+007F)" : nil
    }
}
