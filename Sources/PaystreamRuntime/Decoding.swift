import Foundation
import PaystreamDomain
import PaystreamKafka

/// Decodes a record's value as `T` after checking its `schema` field; anything else is a dead letter.
public func decodeMessage<T: Decodable>(_ type: T.Type, schema expected: String, from record: ConsumedRecord) throws(DeadLetter) -> T {
    let data = Data(record.value)
    guard let schema = Wire.schema(of: data) else {
        throw .undecodable("value is not a JSON object with a schema field")
    }
    guard schema == expected else { throw .unknownSchema(schema) }
    do {
        return try Wire.decode(T.self, from: data)
    } catch {
        throw .undecodable("\(expected): \(Wire.describe(error))")
    }
}
