import Foundation
import PaystreamDomain

/// Decodes Paystream's JSON as Foundation's `JSONDecoder` does with the options `Wire` uses (no
/// key conversion, or `.convertFromSnakeCase`), at a fraction of the cost: the text is parsed
/// once into a `WireJSONTape`, a keyed container finds a key by comparing bytes instead of
/// building a dictionary of every member, and the common value types are read without going
/// through a nested decoder. Duplicate keys: the first one counts, as with Foundation. The
/// tests hold it to Foundation's results on messages and on random JSON.
enum WireJSONDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, convertingKeys: Bool, strict: Bool = false) throws -> T {
        try data.withUnsafeBytes { buffer in
            let tape: WireJSONTape
            do { tape = try WireJSONTape(buffer) } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON."))
            }
            let state = WireDecodingState(tape: tape, convertingKeys: convertingKeys, strict: strict)
            return try WireValueDecoder(state: state, index: 0, codingPath: []).decodeValue(T.self, at: 0, path: [])
        }
    }
}

/// What every container of one decoding shares. Lives only while the input's bytes do.
final class WireDecodingState {
    let tape: WireJSONTape
    let convertingKeys: Bool
    /// Refuses what a lenient reader would resolve silently and another reader might resolve
    /// differently: a key twice in one object, and a key not spelled as its canonical
    /// snake_case (`requestId` or `Request_ID` for `request_id`) — with key conversion every
    /// key, without it (a `WireKeyed` type) every key the type does not know by that spelling.
    let strict: Bool
    /// Objects already checked (a message's object is opened once for its schema, once for its value).
    var checked = Set<Int>()

    init(tape: WireJSONTape, convertingKeys: Bool, strict: Bool = false) {
        self.tape = tape
        self.convertingKeys = convertingKeys
        self.strict = strict
    }

    /// The strict checks for the object at `index`, decoded as a type (its keys are field names;
    /// `known` says which spellings the type reads).
    func checkFields(at index: Int, path: [any CodingKey], known: (String) -> Bool) throws {
        guard strict, checked.insert(index).inserted else { return }
        let entry = tape.entries[index]
        var seen = Set<String>()
        var member = index + 1
        while member < entry.next {
            let key = tape.string(member)
            guard seen.insert(key).inserted else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "key '\(key.prefix(64))' appears twice"))
            }
            if convertingKeys || !known(key), !WireKeyConversion.isPlainSnakeCase(key) {
                let canonical = WireKeyConversion.toSnakeCase(WireKeyConversion.fromSnakeCase(key))
                guard canonical == key else {
                    throw DecodingError.dataCorrupted(.init(codingPath: path,
                        debugDescription: "key '\(key.prefix(64))' is not spelled canonically (write '\(canonical.prefix(64))')"))
                }
            }
            member = tape.entries[member + 1].next
        }
    }
}

struct WireIndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(intValue: Int) {
        self.intValue = intValue
        stringValue = "Index \(intValue)"
    }
    init?(stringValue: String) { nil }
}

struct WireStringKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A String-keyed dictionary is read member by member with its keys as they are (Foundation
/// does not convert a dictionary's keys either).
protocol WireStringKeyedDecodable {
    static func wireDecode(_ decoder: WireValueDecoder) throws -> Self
}

extension Dictionary: WireStringKeyedDecodable where Key == String, Value: Decodable {
    static func wireDecode(_ decoder: WireValueDecoder) throws -> Self {
        let tape = decoder.state.tape
        let entry = tape.entries[decoder.index]
        guard entry.kind == .object else { throw decoder.mismatch(Self.self, at: decoder.index, path: decoder.codingPath) }
        var result: [String: Value] = [:]
        result.reserveCapacity(entry.count)
        var member = decoder.index + 1
        while member < entry.next {
            let key = tape.string(member)
            let value = member + 1
            if decoder.state.strict && result[key] != nil {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "key '\(key.prefix(64))' appears twice"))
            }
            if result[key] == nil {
                result[key] = try decoder.decodeValue(Value.self, at: value, path: decoder.codingPath + [WireStringKey(stringValue: key)])
            }
            member = tape.entries[value].next
        }
        return result
    }
}

struct WireValueDecoder: Decoder, SingleValueDecodingContainer {
    let state: WireDecodingState
    let index: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(state: WireDecodingState, index: Int, codingPath: [any CodingKey]) {
        self.state = state
        self.index = index
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard state.tape.entries[index].kind == .object else { throw mismatch([String: Any].self, at: index, path: codingPath) }
        try state.checkFields(at: index, path: codingPath, known: { Key(stringValue: $0) != nil })
        return KeyedDecodingContainer(WireKeyedDecoding<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard state.tape.entries[index].kind == .array else { throw mismatch([Any].self, at: index, path: codingPath) }
        return WireUnkeyedDecoding(decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: single value

    func decodeNil() -> Bool { state.tape.entries[index].kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeValue(Bool.self, at: index, path: codingPath) }
    func decode(_ type: String.Type) throws -> String { try decodeValue(String.self, at: index, path: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try decodeValue(Double.self, at: index, path: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try decodeValue(Float.self, at: index, path: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try decodeValue(Int.self, at: index, path: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeValue(Int8.self, at: index, path: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeValue(Int16.self, at: index, path: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeValue(Int32.self, at: index, path: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeValue(Int64.self, at: index, path: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeValue(UInt.self, at: index, path: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeValue(UInt8.self, at: index, path: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeValue(UInt16.self, at: index, path: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeValue(UInt32.self, at: index, path: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeValue(UInt64.self, at: index, path: codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(T.self, at: index, path: codingPath) }

    // MARK: values

    /// The value at `index` as a T: the common types directly, anything else through its
    /// `init(from:)` with a decoder for that value.
    func decodeValue<T: Decodable>(_ type: T.Type, at index: Int, path: [any CodingKey]) throws -> T {
        let tape = state.tape
        let entry = tape.entries[index]
        if T.self == String.self {
            guard entry.kind == .string else { throw unexpected(T.self, at: index, path: path) }
            return tape.string(index) as! T
        }
        if T.self == Int64.self { return try integer(Int64.self, at: index, path: path) as! T }
        if T.self == Int.self { return try integer(Int.self, at: index, path: path) as! T }
        if T.self == Bool.self {
            guard entry.kind == .bool else { throw unexpected(T.self, at: index, path: path) }
            return entry.flag as! T
        }
        if T.self == JSONValue.self { return try jsonValue(at: index, path: path) as! T }
        if T.self == Double.self {
            guard entry.kind == .number else { throw unexpected(T.self, at: index, path: path) }
            guard let value = tape.double(index), value.isFinite else { throw corrupted(index, T.self, path: path) }
            return value as! T
        }
        if T.self == Float.self {
            guard entry.kind == .number else { throw unexpected(T.self, at: index, path: path) }
            guard let value = tape.double(index), Float(value).isFinite || !value.isFinite else { throw corrupted(index, T.self, path: path) }
            return Float(value) as! T
        }
        if let integerType = T.self as? any FixedWidthInteger.Type {
            return try integer(integerType, at: index, path: path) as! T
        }
        if T.self == Data.self {
            // Foundation's default: Base64 text.
            guard entry.kind == .string else { throw unexpected(T.self, at: index, path: path) }
            guard let data = Data(base64Encoded: tape.string(index)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Encountered Data is not valid Base64."))
            }
            return data as! T
        }
        if T.self == URL.self {
            guard entry.kind == .string else { throw unexpected(T.self, at: index, path: path) }
            guard let url = URL(string: tape.string(index)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Invalid URL string."))
            }
            return url as! T
        }
        if T.self == Decimal.self {
            guard entry.kind == .number else { throw unexpected(T.self, at: index, path: path) }
            guard let decimal = Decimal(string: String(tape.numberText(index)), locale: Locale(identifier: "en_US_POSIX"))
            else { throw corrupted(index, T.self, path: path) }
            return decimal as! T
        }
        let decoder = WireValueDecoder(state: state, index: index, codingPath: path)
        if let dictionary = T.self as? any WireStringKeyedDecodable.Type {
            return try dictionary.wireDecode(decoder) as! T
        }
        return try T(from: decoder)
    }

    private func integer<I: FixedWidthInteger>(_ type: I.Type, at index: Int, path: [any CodingKey]) throws -> I {
        guard state.tape.entries[index].kind == .number else { throw unexpected(I.self, at: index, path: path) }
        guard let value = state.tape.integer(index, as: I.self) else { throw corrupted(index, I.self, path: path) }
        return value
    }

    /// `JSONValue.init(from:)` read straight from the tape: a number is an integer when it
    /// reads as an Int64 (as that initializer tries first), otherwise a Double.
    private func jsonValue(at index: Int, path: [any CodingKey]) throws -> JSONValue {
        let tape = state.tape
        let entry = tape.entries[index]
        switch entry.kind {
        case .null: return .null
        case .bool: return .bool(entry.flag)
        case .string: return .string(tape.string(index))
        case .number:
            if let integer = tape.integer(index, as: Int64.self) { return .integer(integer) }
            guard let double = tape.double(index), double.isFinite else { throw corrupted(index, Double.self, path: path) }
            return .number(double)
        case .array:
            var items: [JSONValue] = []
            items.reserveCapacity(entry.count)
            var item = index + 1
            while item < entry.next {
                items.append(try jsonValue(at: item, path: path))
                item = tape.entries[item].next
            }
            return .array(items)
        case .object:
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(entry.count)
            var member = index + 1
            while member < entry.next {
                let key = tape.string(member)
                if members[key] == nil {
                    members[key] = try jsonValue(at: member + 1, path: path)
                } else if state.strict {
                    throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "key '\(key.prefix(64))' appears twice"))
                }
                member = tape.entries[member + 1].next
            }
            return .object(members)
        }
    }

    // MARK: errors, worded as Foundation words them

    func unexpected(_ type: Any.Type, at index: Int, path: [any CodingKey]) -> DecodingError {
        if state.tape.entries[index].kind == .null {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
        }
        return mismatch(type, at: index, path: path)
    }

    func mismatch(_ type: Any.Type, at index: Int, path: [any CodingKey]) -> DecodingError {
        let found = switch state.tape.entries[index].kind {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "a string"
        case .array: "an array"
        case .object: "a dictionary"
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }

    private func corrupted(_ index: Int, _ type: Any.Type, path: [any CodingKey]) -> DecodingError {
        .dataCorrupted(.init(codingPath: path, debugDescription: "Parsed JSON number <\(state.tape.numberText(index))> does not fit in \(type)."))
    }
}

struct WireKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: WireValueDecoder
    /// Index of each member's key on the tape (its value follows it).
    private let members: [Int]
    /// The members' keys converted from snake_case, when the decoding converts keys.
    private let convertedKeys: [String]?

    init(decoder: WireValueDecoder) {
        self.decoder = decoder
        let tape = decoder.state.tape
        let entry = tape.entries[decoder.index]
        var members: [Int] = []
        members.reserveCapacity(entry.count)
        var member = decoder.index + 1
        while member < entry.next {
            members.append(member)
            member = tape.entries[member + 1].next
        }
        self.members = members
        convertedKeys = decoder.state.convertingKeys ? members.map { WireKeyConversion.fromSnakeCase(tape.string($0)) } : nil
    }

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        var seen = Set<String>()
        var keys: [Key] = []
        for (position, member) in members.enumerated() {
            let name = convertedKeys?[position] ?? decoder.state.tape.string(member)
            if seen.insert(name).inserted, let key = Key(stringValue: name) { keys.append(key) }
        }
        return keys
    }

    /// The tape index of the value for `key`: the first member with that name.
    private func valueIndex(_ key: Key) -> Int? {
        let name = key.stringValue
        if let convertedKeys {
            guard let position = convertedKeys.firstIndex(of: name) else { return nil }
            return members[position] + 1
        }
        let tape = decoder.state.tape
        for member in members where tape.stringEquals(member, name) { return member + 1 }
        return nil
    }

    private func required(_ key: Key) throws -> Int {
        guard let index = valueIndex(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return index
    }

    func contains(_ key: Key) -> Bool { valueIndex(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        decoder.state.tape.entries[try required(key)].kind == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decode(T.self, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(T.self, key) }

    // The concrete overloads go the same way (the protocol's defaults would look the key up
    // three times).
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Bool.self, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(String.self, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(Double.self, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(Float.self, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Int.self, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(Int8.self, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(Int16.self, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(Int32.self, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(Int64.self, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(UInt.self, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(UInt8.self, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(UInt16.self, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(UInt32.self, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(UInt64.self, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(String.self, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(Int.self, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(Int64.self, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(Bool.self, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(Double.self, key) }

    private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decoder.decodeValue(T.self, at: try required(key), path: codingPath + [key])
    }

    private func present<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        guard let index = valueIndex(key), decoder.state.tape.entries[index].kind != .null else { return nil }
        return try decoder.decodeValue(T.self, at: index, path: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try WireValueDecoder(state: decoder.state, index: try required(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try WireValueDecoder(state: decoder.state, index: try required(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(forKey: Key(stringValue: "super")!)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        WireValueDecoder(state: decoder.state, index: try required(key), codingPath: codingPath + [key])
    }
}

struct WireUnkeyedDecoding: UnkeyedDecodingContainer {
    let decoder: WireValueDecoder
    /// The tape index of the next element.
    private var position: Int
    private let end: Int
    let count: Int?
    private(set) var currentIndex = 0

    init(decoder: WireValueDecoder) {
        self.decoder = decoder
        let entry = decoder.state.tape.entries[decoder.index]
        position = decoder.index + 1
        end = entry.next
        count = entry.count
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var isAtEnd: Bool { position >= end }

    private func checkNotAtEnd(_ type: Any.Type) throws {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [WireIndexKey(intValue: currentIndex)],
                                                          debugDescription: "Unkeyed container is at end."))
        }
    }

    private mutating func advance() {
        position = decoder.state.tape.entries[position].next
        currentIndex += 1
    }

    mutating func decodeNil() throws -> Bool {
        try checkNotAtEnd(Any?.self)
        guard decoder.state.tape.entries[position].kind == .null else { return false }
        advance()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try checkNotAtEnd(T.self)
        let value = try decoder.decodeValue(T.self, at: position, path: codingPath + [WireIndexKey(intValue: currentIndex)])
        advance()
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try checkNotAtEnd(KeyedDecodingContainer<NestedKey>.self)
        let container = try WireValueDecoder(state: decoder.state, index: position,
                                             codingPath: codingPath + [WireIndexKey(intValue: currentIndex)]).container(keyedBy: type)
        advance()
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try checkNotAtEnd((any UnkeyedDecodingContainer).self)
        let container = try WireValueDecoder(state: decoder.state, index: position,
                                             codingPath: codingPath + [WireIndexKey(intValue: currentIndex)]).unkeyedContainer()
        advance()
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        try checkNotAtEnd((any Decoder).self)
        let superDecoder = WireValueDecoder(state: decoder.state, index: position, codingPath: codingPath + [WireIndexKey(intValue: currentIndex)])
        advance()
        return superDecoder
    }
}
