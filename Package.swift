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
        .library(name: "EngramTesting", targets: ["EngramTesting"]),
        .executable(name: "engram", targets: ["engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
        .target(name: "EngramPipeline", dependencies: ["EngramCore"], swiftSettings: strict),
        .target(
            name: "EngramSQLite",
            dependencies: ["EngramCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "EngramPostgres",
            dependencies: ["EngramCore", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(name: "EngramTesting", dependencies: ["EngramCore"], swiftSettings: strict),
        .executableTarget(
            name: "engram",
            dependencies: [
                "EngramCore", "EngramPipeline", "EngramSQLite", "EngramPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-bench",
            dependencies: ["EngramCore", "EngramPipeline", "EngramSQLite", "EngramTesting", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Benchmarks/engram-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "engram-pg-bench",
            dependencies: ["EngramCore", "EngramPostgres", "EngramTesting", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Benchmarks/engram-pg-bench",
            exclude: ["langchain_bench.py"],
            swiftSettings: strict
        ),
        .testTarget(name: "EngramCoreTests", dependencies: ["EngramCore", "EngramTesting"], swiftSettings: strict),
        .testTarget(name: "EngramPipelineTests", dependencies: ["EngramCore", "EngramPipeline", "EngramTesting"], swiftSettings: strict),
        .testTarget(name: "EngramSQLiteTests", dependencies: ["EngramCore", "EngramSQLite", "EngramPipeline", "EngramTesting"], swiftSettings: strict),
        .testTarget(name: "EngramPostgresTests", dependencies: ["EngramCore", "EngramPostgres", "EngramTesting"], swiftSettings: strict),
        .testTarget(
            name: "EngramCLITests",
            dependencies: ["engram", "EngramCore", "EngramPostgres", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strict
        ),
    ]
)
