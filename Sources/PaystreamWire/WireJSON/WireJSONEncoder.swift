import Foundation
import PaystreamDomain

/// Encodes as Foundation's `JSONEncoder` does with the options `Wire` uses (`.sortedKeys`,
/// `.withoutEscapingSlashes`, and no key conversion or `.convertToSnakeCase`), byte for byte,
/// at a fraction of the cost: scalars are written as text as soon as they are encoded, objects
/// keep their members' keys and values, and one pass at the end writes them with the keys in
/// byte order. The tests hold it to Foundation's bytes on messages and on random JSON.
enum WireJSONEncoder {
    static func encode<T: Encodable>(_ value: T, convertingKeys: Bool) throws -> Data {
        let state = WireEncodingState(convertingKeys: convertingKeys)
        guard let root = try state.encodeValue(value, path: []) else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        var output: [UInt8] = []
        output.reserveCapacity(state.scratch.count + 64)
        state.write(root, to: &output)
        return Data(output)
    }
}

/// A value written so far: text in the scratch buffer, or a container.
enum WireOut {
    case text(Range<Int>)
    case object(WireObjectNode)
    case array(WireArrayNode)
}

final class WireObjectNode {
    var keys: [String] = []
    var values: [WireOut] = []
}

final class WireArrayNode {
    var items: [WireOut] = []
}

/// Optional values are written as null or as what they wrap, without a nested encoder.
protocol WireOptionalEncodable {
    var wireWrapped: (any Encodable)? { get }
}

extension Optional: WireOptionalEncodable where Wrapped: Encodable {
    var wireWrapped: (any Encodable)? { self }
}

/// A String-keyed dictionary: its keys as they are (Foundation converts none of them either).
protocol WireStringKeyedEncodable {
    func wireEncode(_ state: WireEncodingState, path: [any CodingKey]) throws -> WireOut
}

extension Dictionary: WireStringKeyedEncodable where Key == String, Value: Encodable {
    func wireEncode(_ state: WireEncodingState, path: [any CodingKey]) throws -> WireOut {
        let node = WireObjectNode()
        node.keys.reserveCapacity(count)
        node.values.reserveCapacity(count)
        for (key, value) in self {
            node.keys.append(key)
            node.values.append(try state.encodeValue(value, path: path + [WireStringKey(stringValue: key)]) ?? state.emptyObject())
        }
        return .object(node)
    }
}

final class WireEncodingState {
    let convertingKeys: Bool
    /// The text of every scalar, one after the other.
    var scratch: [UInt8] = []

    init(convertingKeys: Bool) {
        self.convertingKeys = convertingKeys
        scratch.reserveCapacity(512)
    }

    func key(_ key: some CodingKey) -> String {
        convertingKeys ? WireKeyConversion.toSnakeCase(key.stringValue) : key.stringValue
    }

    func emptyObject() -> WireOut { .object(WireObjectNode()) }

    // MARK: scalars

    private func text(_ body: (inout [UInt8]) -> Void) -> WireOut {
        let start = scratch.count
        body(&scratch)
        return .text(start..<scratch.count)
    }

    func null() -> WireOut { text { $0.append(contentsOf: "null".utf8) } }
    func bool(_ value: Bool) -> WireOut { text { $0.append(contentsOf: (value ? "true" : "false").utf8) } }
    func string(_ value: String) -> WireOut { text { Self.appendString(value, to: &$0) } }
    func integer(_ value: some FixedWidthInteger) -> WireOut { text { $0.append(contentsOf: value.description.utf8) } }

    func double(_ value: Double, path: [any CodingKey]) throws -> WireOut {
        guard value.isFinite else { throw Self.nonConforming(value, path: path) }
        return text { Self.appendNumber(value.description, to: &$0) }
    }

    func float(_ value: Float, path: [any CodingKey]) throws -> WireOut {
        guard value.isFinite else { throw Self.nonConforming(value, path: path) }
        return text { Self.appendNumber(value.description, to: &$0) }
    }

    // MARK: values

    /// What `value` writes; nil if it wrote nothing at all (an `encode(to:)` that asks for no
    /// container).
    func encodeValue<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> WireOut? {
        if T.self == String.self { return string(value as! String) }
        if T.self == Int64.self { return integer(value as! Int64) }
        if T.self == Int.self { return integer(value as! Int) }
        if T.self == Bool.self { return bool(value as! Bool) }
        if T.self == JSONValue.self { return try json(value as! JSONValue, path: path) }
        // The common optionals by their type alone: a cast to a protocol with a conditional
        // conformance costs a conformance lookup per value.
        if T.self == String?.self { return (value as! String?).map(string) ?? null() }
        if T.self == Int64?.self { return (value as! Int64?).map(integer) ?? null() }
        if T.self == Int?.self { return (value as! Int?).map(integer) ?? null() }
        if T.self == Bool?.self { return (value as! Bool?).map(bool) ?? null() }
        if T.self == JSONValue?.self {
            guard let json = value as! JSONValue? else { return null() }
            return try self.json(json, path: path)
        }
        if T.self == Int32.self { return integer(value as! Int32) }
        if let optional = value as? any WireOptionalEncodable {
            guard let wrapped = optional.wireWrapped else { return null() }
            return try encodeValue(wrapped, path: path)
        }
        if T.self == Double.self { return try double(value as! Double, path: path) }
        if T.self == Float.self { return try float(value as! Float, path: path) }
        if let integer = value as? any FixedWidthInteger { return self.integer(integer) }
        if T.self == Data.self { return string((value as! Data).base64EncodedString()) }
        if T.self == URL.self { return string((value as! URL).absoluteString) }
        if T.self == Decimal.self { return text { $0.append(contentsOf: (value as! Decimal).description.utf8) } }
        if let dictionary = value as? any WireStringKeyedEncodable { return try dictionary.wireEncode(self, path: path) }
        let encoder = WireValueEncoder(state: self, codingPath: path)
        try value.encode(to: encoder)
        return encoder.result
    }

    private func json(_ value: JSONValue, path: [any CodingKey]) throws -> WireOut {
        let start = scratch.count
        try Self.appendJSON(value, path: path, to: &scratch)
        return .text(start..<scratch.count)
    }

    // MARK: output

    func write(_ out: WireOut, to output: inout [UInt8]) {
        switch out {
        case .text(let range):
            output.append(contentsOf: scratch[range])
        case .array(let node):
            output.append(UInt8(ascii: "["))
            for (index, item) in node.items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(item, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let node):
            output.append(UInt8(ascii: "{"))
            // Keys in byte order; a key encoded twice keeps its last value.
            let keys = node.keys
            let order = Self.keyOrder(keys)
            var first = true
            for (position, index) in order.enumerated() {
                if position + 1 < order.count && keys[order[position + 1]] == keys[index] { continue }
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                Self.appendString(keys[index], to: &output)
                output.append(UInt8(ascii: ":"))
                write(node.values[index], to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}

/// The encoder an `encode(to:)` gets: it keeps the one value that was written to it.
final class WireValueEncoder: Encoder, SingleValueEncodingContainer {
    let state: WireEncodingState
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var result: WireOut?

    init(state: WireEncodingState, codingPath: [any CodingKey]) {
        self.state = state
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let node: WireObjectNode
        if case .object(let existing)? = result { node = existing } else {
            node = WireObjectNode()
            result = .object(node)
        }
        return KeyedEncodingContainer(WireKeyedEncoding<Key>(state: state, node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let node: WireArrayNode
        if case .array(let existing)? = result { node = existing } else {
            node = WireArrayNode()
            result = .array(node)
        }
        return WireUnkeyedEncoding(state: state, node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    func encodeNil() throws { result = state.null() }
    func encode(_ value: Bool) throws { result = state.bool(value) }
    func encode(_ value: String) throws { result = state.string(value) }
    func encode(_ value: Double) throws { result = try state.double(value, path: codingPath) }
    func encode(_ value: Float) throws { result = try state.float(value, path: codingPath) }
    func encode(_ value: Int) throws { result = state.integer(value) }
    func encode(_ value: Int8) throws { result = state.integer(value) }
    func encode(_ value: Int16) throws { result = state.integer(value) }
    func encode(_ value: Int32) throws { result = state.integer(value) }
    func encode(_ value: Int64) throws { result = state.integer(value) }
    func encode(_ value: UInt) throws { result = state.integer(value) }
    func encode(_ value: UInt8) throws { result = state.integer(value) }
    func encode(_ value: UInt16) throws { result = state.integer(value) }
    func encode(_ value: UInt32) throws { result = state.integer(value) }
    func encode(_ value: UInt64) throws { result = state.integer(value) }
    func encode<T: Encodable>(_ value: T) throws { result = try state.encodeValue(value, path: codingPath) ?? state.emptyObject() }
}

struct WireKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: WireEncodingState
    let node: WireObjectNode
    let codingPath: [any CodingKey]

    private func put(_ key: Key, _ value: WireOut) {
        node.keys.append(state.key(key))
        node.values.append(value)
    }

    mutating func encodeNil(forKey key: Key) throws { put(key, state.null()) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(key, state.bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(key, state.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(key, try state.double(value, path: codingPath + [key])) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(key, try state.float(value, path: codingPath + [key])) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(key, state.integer(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(key, state.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(key, try state.encodeValue(value, path: codingPath + [key]) ?? state.emptyObject())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = WireObjectNode()
        put(key, .object(nested))
        return KeyedEncodingContainer(WireKeyedEncoding<NestedKey>(state: state, node: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = WireArrayNode()
        put(key, .array(nested))
        return WireUnkeyedEncoding(state: state, node: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        WireDeferredEncoder(state: state, codingPath: codingPath + [key]) { [node, state] result in
            node.keys.append(state.key(key))
            node.values.append(result)
        }
    }
}

struct WireUnkeyedEncoding: UnkeyedEncodingContainer {
    let state: WireEncodingState
    let node: WireArrayNode
    let codingPath: [any CodingKey]
    var count: Int { node.items.count }

    private var nextPath: [any CodingKey] { codingPath + [WireIndexKey(intValue: node.items.count)] }

    mutating func encodeNil() throws { node.items.append(state.null()) }
    mutating func encode(_ value: Bool) throws { node.items.append(state.bool(value)) }
    mutating func encode(_ value: String) throws { node.items.append(state.string(value)) }
    mutating func encode(_ value: Double) throws { node.items.append(try state.double(value, path: nextPath)) }
    mutating func encode(_ value: Float) throws { node.items.append(try state.float(value, path: nextPath)) }
    mutating func encode(_ value: Int) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: Int8) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: Int16) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: Int32) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: Int64) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: UInt) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: UInt8) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: UInt16) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: UInt32) throws { node.items.append(state.integer(value)) }
    mutating func encode(_ value: UInt64) throws { node.items.append(state.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        node.items.append(try state.encodeValue(value, path: nextPath) ?? state.emptyObject())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = WireObjectNode()
        let path = nextPath
        node.items.append(.object(nested))
        return KeyedEncodingContainer(WireKeyedEncoding<NestedKey>(state: state, node: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = WireArrayNode()
        let path = nextPath
        node.items.append(.array(nested))
        return WireUnkeyedEncoding(state: state, node: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let index = node.items.count
        node.items.append(state.emptyObject())
        return WireDeferredEncoder(state: state, codingPath: nextPath) { [node] result in node.items[index] = result }
    }
}

/// A super encoder: what is written to it lands where it was asked for, when it is written.
final class WireDeferredEncoder: Encoder {
    let inner: WireValueEncoder
    let place: (WireOut) -> Void
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(state: WireEncodingState, codingPath: [any CodingKey], place: @escaping (WireOut) -> Void) {
        inner = WireValueEncoder(state: state, codingPath: codingPath)
        self.place = place
    }

    deinit { place(inner.result ?? inner.state.emptyObject()) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { inner.container(keyedBy: type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner }
}
