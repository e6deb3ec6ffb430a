// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EngramCore", targets: ["EngramCore"]),
        .library(name: "EngramPipeline", targets: ["EngramPipeline"]),
        .library(name: "EngramSQLite", targets: ["EngramSQLite"]),
        .library(name: "EngramPostgres", targets: ["EngramPostgres"]),
        .library(name: "EngramEmbeddings", targets: ["EngramEmbeddings"]),
        .library(name: "EngramTesting", targets: ["EngramTesting"]),
        .library(name: "EngramKit", targets: ["EngramKit"]),
        .library(name: "EngramWire", targets: ["EngramWire"]),
        .library(name: "EngramServer", targets: ["EngramServer"]),
        .executable(name: "engram", targets: ["engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "EngramCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        .target(name: "CEngramKernels"),
        .target(
            name: "EngramEmbeddings",
            dependencies: [
                "EngramCore", "COpenBLAS", "CEngramKernels",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "EngramPipeline", dependencies: ["EngramCore", "EngramEmbeddings", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                                                    .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .target(
            name: "EngramSQLite",
            dependencies: ["EngramCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "EngramPostgres",
            dependencies: ["EngramCore", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(name: "EngramTesting", dependencies: ["EngramCore"], swiftSettings: strict),
        // The entry point: opens the stores a URL names, through the backends it registers.
        .target(name: "EngramKit", dependencies: ["EngramCore", "EngramSQLite", "EngramPostgres"], swiftSettings: strict),
        // The JSON of every command and endpoint: Codable types over Core and the pipeline, no backend.
        .target(name: "EngramWire", dependencies: ["EngramCore", "EngramPipeline"], swiftSettings: strict),
        // `engram serve`: the HTTP API over the stores a URL names (Hummingbird), with API keys and limits.
        .target(
            name: "EngramServer",
            dependencies: [
                "EngramCore", "EngramPipeline", "EngramKit", "EngramWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Fuzz targets for the parsers (scripts/fuzz.sh builds engram-fuzz with libFuzzer).
        .target(name: "EngramFuzz", dependencies: ["EngramCore", "EngramPipeline", .product(name: "ZIPFoundation", package: "ZIPFoundation")], swiftSettings: strict),
        .target(name: "CEngramFuzz"),
        .executableTarget(name: "engram-fuzz", dependencies: ["EngramFuzz", "CEngramFuzz"], path: "Fuzz/engram-fuzz", swiftSettings: strict),
        .executableTarget(
            name: "engram",
            dependencies: [
                "EngramCore", "EngramPipeline", "EngramKit", "EngramWire", "EngramServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-bench",
            dependencies: ["EngramCore", "EngramPipeline", "EngramKit", "EngramTesting"],
            path: "Benchmarks/engram-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-pg-bench",
            dependencies: ["EngramCore", "EngramEmbeddings", "EngramKit", "EngramPostgres", "EngramTesting", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-pg-bench",
            exclude: ["langchain_bench.py"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-reindex-bench",
            dependencies: ["EngramCore", "EngramEmbeddings", "EngramKit", "EngramPipeline", "EngramSQLite", "EngramPostgres", "EngramTesting",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-reindex-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-backup-bench",
            dependencies: ["EngramCore", "EngramPipeline", "EngramKit", "EngramPostgres", "EngramTesting",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-backup-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-runs-bench",
            dependencies: ["EngramCore", "EngramKit", "EngramPostgres", "EngramTesting",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-runs-bench",
            exclude: ["langgraph_bench.py"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-memory-bench",
            dependencies: ["EngramCore", "EngramKit", "EngramSQLite", "EngramPostgres", "EngramTesting",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-memory-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-embed-bench",
            dependencies: ["EngramEmbeddings", "COpenBLAS"],
            path: "Benchmarks/engram-embed-bench",
            exclude: ["python_bench.py"],
            swiftSettings: strict
        ),
        .executableTarget(name: "readme-example", dependencies: ["EngramCore", "EngramEmbeddings", "EngramKit", "EngramPipeline"], path: "Examples/readme", swiftSettings: strict),
        .testTarget(name: "EngramCoreTests", dependencies: ["EngramCore", "EngramTesting"], swiftSettings: strict),
        .testTarget(
            name: "EngramEmbeddingsTests",
            dependencies: [
                "EngramCore", "EngramEmbeddings", "EngramPipeline", "EngramTesting", "CEngramKernels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(name: "EngramPipelineTests", dependencies: ["EngramCore", "EngramPipeline", "EngramTesting", "EngramFuzz", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                    resources: [.copy("Fuzz")], swiftSettings: strict),
        .testTarget(name: "EngramSQLiteTests", dependencies: ["EngramCore", "EngramSQLite", "EngramPipeline", "EngramTesting"], swiftSettings: strict),
        .testTarget(name: "EngramWireTests", dependencies: ["EngramCore", "EngramPipeline", "EngramWire"], swiftSettings: strict),
        .testTarget(name: "EngramKitTests", dependencies: ["EngramCore", "EngramKit", "EngramSQLite", "EngramPostgres", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
                    swiftSettings: strict),
        .testTarget(name: "EngramServerTests", dependencies: ["EngramServer", "EngramCore", "EngramWire", "EngramKit", "EngramTesting",
                                                           .product(name: "HummingbirdTesting", package: "hummingbird")], swiftSettings: strict),
        .testTarget(name: "EngramPostgresTests", dependencies: ["EngramCore", "EngramPostgres", "EngramTesting"], swiftSettings: strict),
        .testTarget(
            name: "EngramCLITests",
            dependencies: ["engram", "EngramCore", "EngramPostgres", "EngramFuzz", "EngramTesting", "EngramWire", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: strict
        ),
    ]
)
