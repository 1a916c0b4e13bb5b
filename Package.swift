// swift-tools-version:6.1
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")

let package = Package(
    name: "paystream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "payment-worker", targets: ["payment-worker"]),
        .executable(name: "settlement-worker", targets: ["settlement-worker"]),
        .executable(name: "notifier", targets: ["notifier"]),
        .executable(name: "reconciler", targets: ["reconciler"]),
        .executable(name: "channel-sandbox", targets: ["channel-sandbox"]),
        .executable(name: "channel-simulator", targets: ["channel-simulator"]),
        .executable(name: "channel-gateway", targets: ["channel-gateway"]),
        .executable(name: "paystream", targets: ["paystream"]),
        .executable(name: "paystream-faults", targets: ["paystream-faults"]),
        .executable(name: "paystream-bench", targets: ["paystream-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // C layer: librdkafka through pkg-config, plus a shim for its variadic macros.
        .systemLibrary(
            name: "Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // SQLite's session extension (changelog capture and apply): Debian's libsqlite3 has it, its
        // header hides it behind SQLITE_ENABLE_SESSION; session.c includes it with that defined.
        .target(name: "CSQLiteSession", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Pure domain: money, currencies, ledger, payment states, settlement math, reference data.
        // Foundation only.
        .target(name: "PaystreamDomain"),
        // The Kafka contract: every message type, their ids, and the JSON coder they travel in
        // (sorted snake_case keys, strict reads). The stages, the store and the CLI import it.
        .target(name: "PaystreamWire", dependencies: ["PaystreamDomain"]),
        // Channel formats: what the payment channels send and publish (their wire protocols,
        // signatures and statement files), read into the domain's messages. Kept out of the
        // domain, which holds money rules.
        .target(name: "PaystreamChannels", dependencies: [
            "PaystreamDomain", "PaystreamWire", "PaystreamAsync",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // Deadlines for async work that may never finish (HTTP bodies, resolvers).
        .target(name: "PaystreamAsync"),
        // Kafka producer, consumer and admin over librdkafka.
        .target(
            name: "PaystreamKafka",
            dependencies: [
                "Crdkafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Per-partition SQLite shards: offsets, inbox, outbox, and stage tables.
        .target(
            name: "PaystreamStore",
            dependencies: [
                "PaystreamDomain", "PaystreamWire", "CSQLiteSession",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The consume → decide → commit → publish loop every stage shares, and daemon basics.
        .target(
            name: "PaystreamRuntime",
            dependencies: [
                "PaystreamDomain", "PaystreamWire", "PaystreamKafka", "PaystreamStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // What two stages share: the ledger's persistence, and reference data (merchants,
        // credit lines, FX rates) read from the compacted reference topics.
        .target(name: "PaystreamLedger", dependencies: ["PaystreamDomain", "PaystreamWire", "PaystreamStore", grdb]),
        .target(name: "PaystreamReference", dependencies: ["PaystreamRuntime"]),
        // One module per stage, as a library so that tests run it in-process or on the stage
        // harness; each executable links its own.
        .target(name: "PaymentWorker", dependencies: ["PaystreamRuntime", "PaystreamLedger", "PaystreamReference", grdb]),
        .target(name: "SettlementWorker", dependencies: ["PaystreamRuntime", "PaystreamLedger", "PaystreamReference", grdb]),
        .target(name: "Notifier", dependencies: ["PaystreamRuntime", "PaystreamReference", "PaystreamAsync", .product(name: "Yams", package: "Yams"),
                                                 .product(name: "Crypto", package: "swift-crypto"),
                                                 .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .target(name: "ChannelSandbox", dependencies: ["PaystreamRuntime", "PaystreamChannels", grdb]),
        // The real channels at the edge: connectors per channel, calls beside the loop, callbacks.
        .target(name: "ChannelGateway", dependencies: ["PaystreamRuntime", "PaystreamChannels", grdb,
                                                       .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        // Local stand-ins for Alipay and WeChat Pay that speak their wire formats (test keys).
        .target(name: "ChannelSimulator", dependencies: ["PaystreamChannels", "PaystreamRuntime",
                                                         .product(name: "Logging", package: "swift-log")]),
        .target(name: "ReconciliationWorker", dependencies: ["PaystreamRuntime", grdb]),
        .target(name: "PaystreamAdmin", dependencies: ["PaymentWorker", "SettlementWorker", "ReconciliationWorker", "Notifier", "ChannelSandbox",
                                                 "ChannelGateway",
                                                 "PaystreamChannels",
                                                 "PaystreamLedger",
                                                 "PaystreamReference", argumentParser, grdb]),

        .executableTarget(name: "payment-worker", dependencies: ["PaymentWorker", "PaystreamReference", argumentParser]),
        .executableTarget(name: "settlement-worker", dependencies: ["SettlementWorker", "PaystreamReference", argumentParser]),
        .executableTarget(name: "notifier", dependencies: ["Notifier", "PaystreamReference", argumentParser]),
        .executableTarget(name: "channel-sandbox", dependencies: ["ChannelSandbox", argumentParser]),
        .executableTarget(name: "channel-gateway", dependencies: ["ChannelGateway", argumentParser]),
        .executableTarget(name: "channel-simulator", dependencies: ["ChannelSimulator", argumentParser]),
        .executableTarget(name: "reconciler", dependencies: ["ReconciliationWorker", argumentParser]),
        .executableTarget(name: "paystream", dependencies: ["PaystreamAdmin", argumentParser]),

        // Test support shipped with the package: a Tansu broker on a free loopback port, topic
        // readers and process helpers.
        .target(name: "PaystreamTesting", dependencies: ["PaystreamKafka", "PaystreamRuntime", "PaymentWorker", "SettlementWorker",
                                                    "Notifier", "ChannelSandbox", "ReconciliationWorker", "PaystreamReference", grdb]),

        // The whole-pipeline fault and fuzz run (Deploy/faults.sh): the four daemons as processes
        // under random SIGKILLs and a frozen broker, mixed and hostile load, and the end checks.
        .target(name: "PaystreamFaults", dependencies: ["PaystreamTesting", "PaymentWorker", "PaystreamReference", "PaystreamAdmin", grdb,
                                                   "ChannelSimulator", "PaystreamChannels",
                                                   .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "paystream-faults", dependencies: ["PaystreamFaults", argumentParser]),
        .target(name: "PaystreamBench", dependencies: ["PaystreamTesting", "PaymentWorker", "ChannelSandbox", "SettlementWorker",
                                                       "Notifier", "PaystreamRuntime", "PaystreamKafka", "PaystreamDomain", "PaystreamWire", "PaystreamStore",
                                                       .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "paystream-bench", dependencies: ["PaystreamBench", "PaystreamRuntime", "PaystreamStore", "PaystreamTesting", "Notifier", argumentParser,
                                                                  .product(name: "Logging", package: "swift-log")]),
        // The offline stage run with a synchronous entry point, for Deploy/instructions.sh:
        // valgrind cannot run Swift's async main (libdispatch's main-thread handling) here.
        .executableTarget(name: "paystream-instructions", dependencies: ["PaystreamBench", "PaystreamStore"]),

        .testTarget(name: "PaystreamDomainTests", dependencies: ["PaystreamDomain", "PaystreamWire", "PaystreamTesting", "PaystreamChannels"]),
        .testTarget(name: "PaystreamChannelsTests", dependencies: ["PaystreamChannels", "PaystreamAsync", "PaystreamDomain", "PaystreamTesting", "ChannelSimulator",
                                                                  "PaystreamRuntime", "ChannelGateway"]),
        .testTarget(
            name: "PaystreamKafkaTests",
            dependencies: ["PaystreamKafka", "PaystreamStore", "PaystreamTesting"]
        ),
        .testTarget(
            name: "PaystreamRuntimeTests",
            dependencies: ["PaystreamRuntime", "SettlementWorker", "PaystreamReference", "PaystreamLedger", "PaystreamTesting", grdb]
        ),
        .testTarget(
            name: "PaystreamEndToEndTests",
            dependencies: ["PaymentWorker", "SettlementWorker", "Notifier", "ChannelSandbox", "ReconciliationWorker", "PaystreamReference",
                           "ChannelGateway", "ChannelSimulator", "PaystreamChannels",
                           "PaystreamLedger",
                           "PaystreamAdmin", "PaystreamTesting", "PaystreamFaults", "PaystreamBench", grdb]
        ),
    ],
    swiftLanguageModes: [.v6]
)
