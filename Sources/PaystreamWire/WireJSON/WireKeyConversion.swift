import Foundation
import Synchronization
import PaystreamDomain

/// snake_case key conversion exactly as Foundation's coders do it, remembered: each distinct key
/// is converted once by Foundation itself (through a one-key probe), and the answer is kept.
/// Keys come from the program's types (a few hundred) and from input (any): at most `limit`
/// answers are kept, the rest are converted each time.
enum WireKeyConversion {
    private static let limit = 4096
    private static let toSnake = Mutex<[String: String]>([:])
    private static let fromSnake = Mutex<[String: String]>([:])

    private static let snakeEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    private static let snakeDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The wire name Foundation's `.convertToSnakeCase` writes for a coding key.
    static func toSnakeCase(_ key: String) -> String {
        if let known = toSnake.withLock({ $0[key] }) { return known }
        let converted = (try? snakeEncoder.encode(Probe(key: key)))
            .flatMap { try? JSONDecoder().decode([String: Int].self, from: $0).keys.first } ?? key
        remember(key, converted, in: toSnake)
        return converted
    }

    /// True for a key that is its own canonical snake_case without asking Foundation: words of
    /// lowercase ASCII letters joined by single underscores, each after the first at least two
    /// letters long (`request_id`; Foundation writes `a_b_c` back as `a_bc` and `ab_c0d` as
    /// `ab_c0_d`). Other keys may be canonical too; the round trip decides for them.
    static func isPlainSnakeCase(_ key: String) -> Bool {
        var wordLength = 0
        var words = 0
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"):
                wordLength += 1
            case UInt8(ascii: "_"):
                guard wordLength > 0, words == 0 || wordLength >= 2 else { return false }
                words += 1
                wordLength = 0
            default:
                return false
            }
        }
        return wordLength > 0 && (words == 0 || wordLength >= 2)
    }

    /// The coding key name Foundation's `.convertFromSnakeCase` reads a wire name as.
    static func fromSnakeCase(_ key: String) -> String {
        if let known = fromSnake.withLock({ $0[key] }) { return known }
        let converted = (try? JSONEncoder().encode([key: 0]))
            .flatMap { try? snakeDecoder.decode(Probe.self, from: $0).key } ?? key
        remember(key, converted, in: fromSnake)
        return converted
    }

    private static func remember(_ key: String, _ converted: String, in cache: borrowing Mutex<[String: String]>) {
        cache.withLock { if $0.count < limit { $0[key] = converted } }
    }

    /// An object with one member, whose key goes through the coder's key strategy.
    private struct Probe: Codable {
        let key: String

        init(key: String) { self.key = key }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: WireStringKey.self)
            guard let first = container.allKeys.first else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "no key"))
            }
            key = first.stringValue
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: WireStringKey.self)
            try container.encode(0, forKey: WireStringKey(stringValue: key))
        }
    }
}
