// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "guardrail",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "guardrail", targets: ["guardrail"]),
        .library(name: "GuardrailCore", targets: ["GuardrailCore"]),
        .library(name: "GuardrailEngine", targets: ["GuardrailEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Already in the graph through postgres-nio and hummingbird; named for NIOLockedValueBox.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        // zlib's gzip for the audit log's plans.
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        // libyaml's event API: the manifest decoder streams events and keeps a mark on every value.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // The pure core: YAML, manifests, model, diff, plan and its rendering. No I/O.
        .target(
            name: "GuardrailCore",
            dependencies: [
                "CYAML",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Observation and apply against live systems: Postgres, Prometheus, the lock, audit, migrations.
        .target(
            name: "GuardrailEngine",
            dependencies: [
                "GuardrailCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        // The controller: a ServiceGroup of the reconcile loop, the flag snapshot listener and the HTTP server.
        .target(
            name: "GuardrailController",
            dependencies: [
                "GuardrailCore",
                "GuardrailEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The command line: one command per file, parsing and printing only.
        .target(
            name: "GuardrailCLI",
            dependencies: [
                "GuardrailCore",
                "GuardrailEngine",
                "GuardrailController",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            plugins: ["BuildInfo"]
        ),
        .executableTarget(name: "guardrail", dependencies: ["GuardrailCLI"]),
        // The Git commit of the build, for `guardrail --version`.
        .plugin(name: "BuildInfo", capability: .buildTool(), path: "Plugins/BuildInfo"),
        // Shared by the integration tiers: throwaway databases, the example configuration, running the CLI.
        .target(
            name: "GuardrailTestSupport",
            dependencies: [
                "GuardrailCore",
                "GuardrailEngine",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // The in-process ruler: a real HTTP server.
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Tests/GuardrailTestSupport"
        ),
        // Unit tiers: no server, nothing installed beyond the toolchain (`swift test --filter GuardrailCoreTests`).
        .testTarget(
            name: "GuardrailCoreTests", dependencies: ["GuardrailCore", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Golden")]),
        .testTarget(name: "GuardrailEngineTests", dependencies: ["GuardrailEngine", "GuardrailCore", "GuardrailTestSupport"]),
        .testTarget(
            name: "GuardrailControllerTests",
            dependencies: [
                "GuardrailController", "GuardrailEngine", "GuardrailCore", "GuardrailTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        .testTarget(name: "GuardrailCLITests", dependencies: ["GuardrailCLI", "GuardrailEngine", "GuardrailCore", "GuardrailTestSupport"]),
        // Integration tiers: against the Postgres, Prometheus, Alertmanager, pgBackRest and tools
        // that scripts/test installs and starts.
        .testTarget(name: "GuardrailEngineIntegrationTests", dependencies: ["GuardrailEngine", "GuardrailCore", "GuardrailTestSupport"]),
        .testTarget(
            name: "GuardrailControllerIntegrationTests",
            dependencies: [
                "GuardrailController", "GuardrailEngine", "GuardrailCore", "GuardrailTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        // A kind added from outside Guardrail's modules, as docs/adding-a-kind.md describes.
        .testTarget(
            name: "GuardrailKindPluginTests",
            dependencies: [
                "GuardrailEngine", "GuardrailCore", "GuardrailTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        .testTarget(
            name: "GuardrailCLIIntegrationTests",
            dependencies: [
                "GuardrailCLI", "GuardrailController", "GuardrailEngine", "GuardrailCore", "GuardrailTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
    ]
)
