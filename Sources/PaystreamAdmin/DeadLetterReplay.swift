import Foundation
import PaystreamDomain
import PaystreamKafka
import PaystreamRuntime

/// What replaying one dead letter means: its original key and bytes, published again to the
/// topic they came from with the header `paystream-replay-of: <dead letter id>`, or why not.
///
/// - A record is replayed only to the topic its dead-letter topic belongs to (`T` for `T.dlq`):
///   a dead letter whose `source_topic` names any other topic (a reference topic, another
///   stage's input, a dead-letter topic) is refused — its bytes are not the operator's to send
///   anywhere else with the operator's credentials.
/// - A record is replayed to its `source_topic`. Keyed, it goes where Paystream's producer puts
///   the key (its canonical partition, the shard that decides it); without a key (or with an
///   empty one) to its `source_partition`, so that every replay of it reaches the same shard
///   and the replay mark there dedups it.
/// - A `source_topic` that is a repartition topic (`<topic>.repartition`: a forwarded copy
///   parked as `misrouted`) is replayed to `<topic>`, the input it serves: the dead letter
///   does not keep the copy's origin headers, so on the repartition topic it would be
///   misrouted again. The stage forwards it afresh if it is off its key's partition.
/// - `refused_by_broker`: an outbox message the broker refused for good (too large, invalid);
///   `source_topic` is the topic it was meant for. Publishing the same bytes will most likely
///   be refused again, so it needs `--force` (after the cause is fixed, e.g. the topic's
///   `max.message.bytes`). It goes out with its `event-id` header again, so consumers dedup it.
///   A value the dead letter cut to 64 KiB is never replayed: those are not the original bytes.
struct DeadLetterReplay {
    let entry: DeadLetterLog.Entry
    let message: OutgoingMessage
    /// What the operator should know about this replay (a different topic, a pinned partition).
    let notes: [String]

    /// Why a dead letter is not replayed.
    struct Refusal: Error, CustomStringConvertible {
        let id: DeadLetterID
        let reason: String
        var description: String { "\(id): not replayed: \(reason)" }
    }

    static func plan(_ entry: DeadLetterLog.Entry, names: TopicNames, partitionCounts: [String: Int32],
                     force: Bool) -> Result<DeadLetterReplay, Refusal> {
        func refuse(_ reason: String) -> Result<DeadLetterReplay, Refusal> { .failure(Refusal(id: entry.id, reason: reason)) }
        guard let letter = entry.letter else { return refuse(entry.problem ?? "not a dead letter") }
        guard let value = entry.originalValue else { return refuse("original_value_base64 is not valid base64") }
        var notes: [String] = []
        var headers = [KafkaHeader(key: DeadLetter.replayOfHeader, string: entry.id.description)]
        if let size = letter.originalValueBytes, size != value.count {
            return refuse("the original value was \(size) bytes and the dead letter keeps only its first \(value.count); it cannot be replayed"
                          + (letter.errorCode == "record_too_large" ? " (and at that size the stage would refuse it again: input.max_record_bytes)" : ""))
        }
        if letter.errorCode == "refused_by_broker" {
            if letter.errorMessage.contains("(value cut to its first") {
                return refuse("the broker refused this message and the dead letter keeps only its first 64 KiB; the original bytes are in the outbox of the shard that produced it")
            }
            guard force else {
                return refuse("refused_by_broker: the broker refused this message for good when the stage published it (\(letter.errorMessage)); the same bytes will most likely be refused again. Fix the cause first, then replay with --force")
            }
            notes.append("refused_by_broker, replayed because of --force")
            // "outbox event <id>: <broker's reason>": consumers dedup by that id.
            let text = letter.errorMessage, lead = "outbox event "
            if text.hasPrefix(lead), let end = text.firstRange(of: ": ") {
                headers.append(KafkaHeader(key: "event-id", string: String(text[text.index(text.startIndex, offsetBy: lead.count)..<end.lowerBound])))
            }
        }
        var topic = letter.sourceTopic
        // Only back where it came from: the dead letter's own topic says which input that is.
        guard !names.isDeadLetterTopic(topic), !names.reference.contains(topic),
              names.deadLetter(of: topic) == entry.id.topic else {
            return refuse("its source_topic \(topic) is not the topic \(entry.id.topic) belongs to; a dead letter is replayed only to its own input")
        }
        if let input = names.source(ofRepartition: topic) {
            notes.append("\(topic) is Paystream's forwarding topic; replayed to \(input), the input it serves (the stage forwards it again if it must)")
            topic = input
        }
        guard let count = partitionCounts[topic] else { return refuse("its source topic \(topic) does not exist") }
        let key = letter.originalKey.map { Array($0.utf8) } ?? []
        var partition: Int32?
        if key.isEmpty {
            guard letter.sourcePartition >= 0 && letter.sourcePartition < count else {
                return refuse("it has no key and its source partition \(letter.sourcePartition) is not one of \(topic)'s \(count)")
            }
            partition = letter.sourcePartition
            notes.append(letter.originalKey == nil
                         ? "the dead letter has no key (none, or not UTF-8); replayed without one to partition \(letter.sourcePartition), where it was decided"
                         : "empty key; replayed to partition \(letter.sourcePartition), where it was decided")
        }
        // A channel's or the bank's answer goes back with its seal: the bytes are the original's,
        // so the seal still proves them (a forged answer parked as unsigned stays unsigned).
        if let seal = letter.answerSeal { headers.append(KafkaHeader(key: AnswerSeal.header, string: seal)) }
        let message = OutgoingMessage(topic: topic, key: letter.originalKey == nil ? nil : key, value: Array(value),
                                      headers: headers, partition: partition)
        return .success(DeadLetterReplay(entry: entry, message: message, notes: notes))
    }
}
