#ifndef PAYSTREAM_CRDKAFKA_SHIM_H
#define PAYSTREAM_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>

// rd_kafka_producev is a variadic macro-based API that Swift cannot call; this wrapper fixes the
// argument list we use: topic, partition (RD_KAFKA_PARTITION_UA for the partitioner), key, value,
// headers (ownership passes to librdkafka on success) and an opaque per-message token that comes
// back on the delivery report.
static inline rd_kafka_resp_err_t paystream_produce(rd_kafka_t *rk, const char *topic,
        int32_t partition, const void *key, size_t key_len, const void *value, size_t value_len,
        rd_kafka_headers_t *headers, void *opaque) {
    return rd_kafka_producev(rk,
        RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_END);
}

#endif
