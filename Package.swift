// swift-tools-version: 6.0
// VideoAgent in Swift: self-improving video generation for robot planning, as five actors on a
// message bus. The module map is in docs/architecture.md: arrows point from user to used.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// The numeric modules are optimised even in debug builds: the tests train small models, and an
// unoptimised Swift loop is ~50× slower. -Ounchecked stays out: bounds checks stay on.
// On x86-64 they use AVX2/FMA (x86-64-v3, any x86 CPU since 2013): the element-wise kernels are
// written as plain loops for the compiler to vectorise, and SSE2 would halve their width.
#if arch(x86_64)
let vectorFlags = ["-Xcc", "-march=x86-64-v3"]
#else
let vectorFlags: [String] = []
#endif
let numeric: [SwiftSetting] = strict + [
    .unsafeFlags(["-O"] + vectorFlags, .when(configuration: .debug)),
    .unsafeFlags(vectorFlags, .when(configuration: .release)),
]
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")

let package = Package(
    name: "VideoAgent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "videoagent", targets: ["VideoAgentCLI"]),
        .library(name: "Bus", targets: ["Bus"]),
        .library(name: "BusEmbedded", targets: ["BusEmbedded"]),
        .library(name: "BusKafka", targets: ["BusKafka"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "NN", targets: ["NN"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // MARK: C libraries from Debian's -dev packages
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),

        // MARK: Numerics (only Tensor touches OpenBLAS)
        .target(name: "SeededRandom", swiftSettings: strict),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "SeededRandom"], swiftSettings: numeric),
        .target(name: "NN", dependencies: ["Tensor"], swiftSettings: numeric),
        .target(name: "VideoDiffusion", dependencies: ["NN", "Tensor", "Media", "Dataset", "Checksum"],
                swiftSettings: numeric),

        // Plan judges: the protocol, the stand-in rule (the learned judge and the VLM adapter come next).
        .target(name: "VideoCritic", dependencies: ["Media", "NN", "Tensor", "SeededRandom"], swiftSettings: numeric),
        // MARK: The five stages: a thin service over pure logic each; they never import each other.
        .target(name: "PlannerStage", dependencies: ["AgentKit", "Bus", "Messages", "VideoDiffusion", "Media", "Tensor", "SeededRandom", logging],
                path: "Sources/Stages/PlannerStage", swiftSettings: strict),
        .target(name: "CriticStage", dependencies: ["AgentKit", "Bus", "Messages", "VideoCritic", "Media", logging],
                path: "Sources/Stages/CriticStage", swiftSettings: strict),
        .target(name: "ExecutorStage", dependencies: ["AgentKit", "Bus", "Messages", "Control", "Environments", "Media", logging],
                path: "Sources/Stages/ExecutorStage", swiftSettings: strict),
        .target(name: "LearnerStage", dependencies: ["AgentKit", "Blocking", "Bus", "Messages", "JSON", "VideoDiffusion", "Media", logging],
                path: "Sources/Stages/LearnerStage", swiftSettings: strict),
        .target(name: "RefinerStage", dependencies: ["AgentKit", "Bus", "Messages", "VideoDiffusion", "Media", "Tensor", "SeededRandom", logging],
                path: "Sources/Stages/RefinerStage", swiftSettings: strict),

        // An episode's decision chain from the topics.
        .target(name: "Audit", dependencies: ["Bus", "Messages", "Media"], swiftSettings: strict),
        // Task × camera × seed grids in the paper's protocol, success tables with intervals, reports.
        .target(name: "Evaluation", dependencies: ["Control", "Dataset", "Environments", "Media", "VideoDiffusion", "VideoCritic",
                                                   "Tensor", "SeededRandom"], swiftSettings: strict),

        // MARK: Frames and environments
        .target(name: "Media", dependencies: ["CPNG"], swiftSettings: numeric),
        .target(name: "Environments", dependencies: ["Media", "SeededRandom"], swiftSettings: numeric),
        .target(name: "Dataset", dependencies: ["Media"], swiftSettings: strict),
        // The one episode loop (collect, eval, the executor), replanning, the plan follower and its trainer.
        .target(name: "Control", dependencies: ["Environments", "Dataset", "NN", "Tensor", "Media", "SeededRandom"],
                swiftSettings: numeric),

        // MARK: Blocking work off the cooperative pool (bus I/O, long compute)
        .target(name: "Blocking", swiftSettings: strict),

        // MARK: Messages: JSON values and a strict reader; the envelope and one type per topic value
        .target(name: "JSON", swiftSettings: strict),
        .target(name: "Messages", dependencies: ["Checksum", "JSON"], swiftSettings: strict),

        // The stage loop, retries and dead letters, checkpoints on the bus, hot-swapped models (no ML here).
        .target(name: "AgentKit", dependencies: ["Bus", "Messages", "JSON", "Checksum", "Blocking", logging], swiftSettings: strict),

        // MARK: Message bus
        .target(name: "Checksum", swiftSettings: numeric),
        .target(name: "Bus", dependencies: ["Checksum", logging], swiftSettings: strict),
        .target(name: "BusEmbedded", dependencies: ["Bus", "Blocking", "Checksum", logging, metrics], swiftSettings: strict),
        .target(name: "BusKafka", dependencies: ["Bus", "Blocking", "CRdKafka", logging], swiftSettings: strict),
        .target(name: "TopicCatalog", dependencies: ["Bus", "JSON", yams], swiftSettings: strict),

        // MARK: Command line (the only place that picks embedded or Kafka)
        .executableTarget(
            name: "VideoAgentCLI",
            dependencies: ["Bus", "BusEmbedded", "BusKafka", "TopicCatalog", "Environments", "Dataset", "Control", "Evaluation", "JSON", "Media", "AgentKit", "Messages", "PlannerStage",
                           "CriticStage", "RefinerStage", "ExecutorStage", "LearnerStage", "VideoCritic", "Blocking", "Audit",
                           "VideoDiffusion", "NN", "Tensor", argumentParser, logging],
            swiftSettings: strict),

        // MARK: Benchmarks (not tests): `swift run -c release bench-bus`
        .executableTarget(
            name: "bench-bus", dependencies: ["Bus", "BusEmbedded", "BusKafka", "CRdKafka", argumentParser, logging],
            path: "bench/bus", swiftSettings: strict),

        .executableTarget(name: "bench-nn", dependencies: ["NN", "Tensor"], path: "bench/nn",
                          exclude: ["make_fixtures.py", "torch_unet.py", "report.py"], swiftSettings: numeric),

        .executableTarget(name: "bench-env", dependencies: ["Environments"], path: "bench/env", swiftSettings: numeric),

        .executableTarget(name: "bench-video", dependencies: ["VideoDiffusion", "VideoTestKit", "NN", "Tensor"], path: "bench/video",
                          swiftSettings: numeric),

        // MARK: Fuzz targets (scripts/fuzz.sh builds them with libFuzzer; a normal build replays files)
        .executableTarget(name: "fuzz-segment", dependencies: ["Bus", "BusEmbedded", logging], path: "fuzz/segment",
                          swiftSettings: strict),
        .executableTarget(name: "fuzz-chunks", dependencies: ["Bus"], path: "fuzz/chunks", swiftSettings: strict),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["NN"], path: "fuzz/safetensors", swiftSettings: strict),
        .executableTarget(name: "fuzz-png", dependencies: ["Media"], path: "fuzz/png", swiftSettings: strict),
        .executableTarget(name: "fuzz-message", dependencies: ["TopicCatalog", "JSON", "Messages"], path: "fuzz/message", swiftSettings: strict),

        // MARK: Tests
        // Killed at random by the embedded log's crash-consistency test (CLITests).
        .executableTarget(name: "bus-crash-writer", dependencies: ["Bus", "BusEmbedded", "Checksum"], path: "Tests/CrashWriter",
                          swiftSettings: strict),
        .target(name: "BusTestKit", dependencies: ["Bus", "BusEmbedded", "BusKafka"], path: "Tests/BusTestKit",
                swiftSettings: strict),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "NN"], resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor"], swiftSettings: strict),
        .testTarget(name: "EnvironmentsTests", dependencies: ["Environments", "Media", "Dataset", "Control", "SeededRandom", "Blocking"],
                    swiftSettings: strict),
        // Clips played by the built-in experts, for the plan model's tests and benchmark (the model
        // itself knows nothing of environments).
        .target(name: "VideoTestKit", dependencies: ["VideoDiffusion", "Dataset", "Environments", "Control"], path: "Tests/VideoTestKit",
                swiftSettings: strict),
        .testTarget(name: "VideoDiffusionTests", dependencies: ["VideoDiffusion", "VideoTestKit", "Media", "NN", "Tensor", "Blocking"],
                    swiftSettings: strict),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Environments", "Dataset", "Media", "NN", "Tensor", "SeededRandom", "Blocking"],
                    swiftSettings: strict),
        .testTarget(name: "VideoCriticTests", dependencies: ["VideoCritic", "Media", "Control", "Environments"], swiftSettings: strict),
        .testTarget(name: "ChecksumTests", dependencies: ["Checksum"], swiftSettings: strict),
        .testTarget(
            name: "BusTests",
            dependencies: ["Bus", "BusEmbedded", "BusKafka", "BusTestKit", "Checksum"],
            swiftSettings: strict),
        .testTarget(name: "TopicCatalogTests", dependencies: ["TopicCatalog", "JSON", "Bus"], swiftSettings: strict),
        .testTarget(name: "AgentKitTests", dependencies: ["AgentKit", "Bus", "BusTestKit", "Messages", "JSON", logging],
                    swiftSettings: strict),
        .testTarget(name: "MessagesTests", dependencies: ["Messages", "JSON", "TopicCatalog"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["BusTestKit", "Bus", "BusEmbedded", "Checksum", "Messages"], swiftSettings: strict),
    ]
)
