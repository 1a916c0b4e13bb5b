// swift-tools-version:6.1
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "paystream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "payment-worker", targets: ["payment-worker"]),
        .executable(name: "settlement-worker", targets: ["settlement-worker"]),
        .executable(name: "notifier", targets: ["notifier"]),
        .executable(name: "channel-sandbox", targets: ["channel-sandbox"]),
        .executable(name: "paystream", targets: ["paystream"]),
        .executable(name: "paystream-faults", targets: ["paystream-faults"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // C layer: librdkafka through pkg-config, plus a shim for its variadic macros.
        .systemLibrary(
            name: "Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Pure domain: money, currencies, payment states, messages. Foundation only.
        .target(name: "PaystreamDomain"),
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
                "PaystreamDomain",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The consume → decide → commit → publish loop every stage shares, and daemon basics.
        .target(
            name: "PaystreamRuntime",
            dependencies: [
                "PaystreamDomain", "PaystreamKafka", "PaystreamStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The stages, as libraries so tests can run them in-process.
        .target(name: "PaystreamStages", dependencies: ["PaystreamRuntime"]),
        .target(name: "PaystreamAdmin", dependencies: ["PaystreamStages", argumentParser, .product(name: "GRDB", package: "GRDB.swift")]),

        .executableTarget(name: "payment-worker", dependencies: ["PaystreamStages", argumentParser]),
        .executableTarget(name: "settlement-worker", dependencies: ["PaystreamStages", argumentParser]),
        .executableTarget(name: "notifier", dependencies: ["PaystreamStages", argumentParser]),
        .executableTarget(name: "channel-sandbox", dependencies: ["PaystreamStages", argumentParser]),
        .executableTarget(name: "paystream", dependencies: ["PaystreamAdmin", argumentParser]),

        // Test support shipped with the package: a Tansu broker on a free loopback port, topic
        // readers and process helpers.
        .target(name: "PaystreamTesting", dependencies: ["PaystreamKafka", "PaystreamRuntime", "PaystreamStages",
                                                    .product(name: "GRDB", package: "GRDB.swift")]),

        // The whole-pipeline fault and fuzz run (Deploy/faults.sh): the four daemons as processes
        // under random SIGKILLs and a frozen broker, mixed and hostile load, and the end checks.
        .target(name: "PaystreamFaults", dependencies: ["PaystreamTesting", .product(name: "GRDB", package: "GRDB.swift"),
                                                   .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "paystream-faults", dependencies: ["PaystreamFaults", argumentParser]),

        .testTarget(name: "PaystreamDomainTests", dependencies: ["PaystreamDomain"]),
        .testTarget(
            name: "PaystreamKafkaTests",
            dependencies: ["PaystreamKafka", "PaystreamStore", "PaystreamTesting"]
        ),
        .testTarget(
            name: "PaystreamRuntimeTests",
            dependencies: ["PaystreamRuntime", "PaystreamStages", "PaystreamTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "PaystreamEndToEndTests",
            dependencies: ["PaystreamStages", "PaystreamAdmin", "PaystreamTesting", "PaystreamFaults", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
