import Foundation
import PaystreamDomain
import PaystreamWire
import PaystreamKafka

/// Decodes a record's value as `T` after checking its `schema` field; anything else is a dead letter.
public func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from record: ConsumedRecord) throws(DeadLetter) -> T {
    switch Wire.decodeMessage(T.self, schema: expected, from: Data(record.value)) {
    case .decoded(let value): return value
    case .notAnObjectWithSchema: throw .undecodable("value is not a JSON object with a schema field")
    case .otherSchema(let schema): throw .unknownSchema(schema)
    case .invalid(let error): throw .undecodable("\(expected): \(Wire.describe(error))")
    }
}
