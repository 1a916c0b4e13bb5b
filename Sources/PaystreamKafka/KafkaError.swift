import Crdkafka

/// An error from Kafka or from this module's use of it.
///
/// `isRetriable` means the same call may succeed later (broker down, timeout, queue full);
/// `isFatal` means the client instance is unusable and must be recreated (for the idempotent
/// producer: a sequence gap or fencing).
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value, or one of this module's codes below.
    public let code: Int32
    public let message: String
    public let isRetriable: Bool
    public let isFatal: Bool
    public let file: String
    public let line: UInt

    public init(code: Int32, message: String, isRetriable: Bool = false, isFatal: Bool = false,
                file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.file = file
        self.line = line
    }

    /// Builds an error from a librdkafka response code with its name and description.
    init(rdError: rd_kafka_resp_err_t, context: String? = nil, file: String = #fileID, line: UInt = #line) {
        let description = String(cString: rd_kafka_err2str(rdError))
        let name = String(cString: rd_kafka_err2name(rdError))
        let text = context.map { "\($0): \(name): \(description)" } ?? "\(name): \(description)"
        self.init(code: rdError.rawValue, message: text,
                  isRetriable: KafkaError.retriableCodes.contains(rdError.rawValue),
                  isFatal: rdError == RD_KAFKA_RESP_ERR__FATAL, file: file, line: line)
    }

    /// Configuration was rejected (unknown property, bad value). Never retriable.
    static func configuration(_ message: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: message, file: file, line: line)
    }

    static func timedOut(_ message: String, file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, message: message, isRetriable: true,
                   file: file, line: line)
    }

    static func closed(file: String = #fileID, line: UInt = #line) -> KafkaError {
        KafkaError(code: RD_KAFKA_RESP_ERR__DESTROY.rawValue, message: "client is closed", file: file, line: line)
    }

    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__RESOLVE,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR__PARTITION_EOF,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }

    /// The broker (or librdkafka before it) refuses this one message for good: too large, an
    /// invalid record or timestamp, a partition that does not exist. Sending it again fails
    /// again, whatever the other messages do.
    public var refusesMessageForGood: Bool { KafkaError.refusedMessageCodes.contains(code) }

    private static let refusedMessageCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
        RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR__INVALID_ARG,
        RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,
    ].reduce(into: Set<Int32>()) { $0.insert($1.rawValue) }

    public var description: String { "KafkaError(\(code)): \(message)" }
}
