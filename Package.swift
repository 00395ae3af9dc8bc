// swift-tools-version:6.0
// lbrprobe — measures how perf and KVM share Intel's Last Branch Record hardware.
//
// Layering (one folder per layer):
//   CModules/CLbrShim   C shim: syscalls, ioctl request numbers, CPUID, rdtsc, affinity, kvm_run access
//   CModules/CLbrGuest  the guest payload (assembly) and its exported offsets
//   CModules/CNuma      libnuma (system library, libnuma-dev)
//   Sources/LbrCore     pure facts and vocabulary: MSR map, LBR layouts, perf attributes, guest protocol, observations
//   Sources/LbrModel    pure kernel model (perf scheduling + KVM vLBR) and its variants
//   Sources/LbrScenarios pure scenario catalog, backend protocol, runner, verdict engine
//   Sources/LbrDocument the lbrprobe.run document: one Codable model (closed vocabularies as enums) and its reader
//   Sources/LbrReport   pure report writers (text, TAP, JSON, JUnit, KCIDB) and the caps report
//   Sources/LbrLinux    thin typed Linux access: KVM (Kvm → Vm → Vcpu), perf events, sysfs, MSR, CPUID, kmsg
//   Sources/LbrBackends hw, hybrid and sim backends
//   Sources/lbrprobe    the CLI (thin)
//   Sources/lbrbench    benchmarks (prints figures and ratios)
import PackageDescription

let package = Package(
    name: "lbrprobe",
    platforms: [.macOS(.v15)], // Synchronization (Mutex, Atomic) needs macOS 15; Linux is the target
    products: [
        .executable(name: "lbrprobe", targets: ["lbrprobe"]),
        .executable(name: "lbrbench", targets: ["lbrbench"]),
        .library(name: "LbrCore", targets: ["LbrCore"]),
        .library(name: "LbrModel", targets: ["LbrModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"), // repeat statistics (LbrReport)
    ],
    targets: [
        // C layer
        .target(name: "CLbrShim", path: "CModules/CLbrShim"),
        .target(name: "CLbrGuest", path: "CModules/CLbrGuest"),
        .target(name: "CRefVmm", path: "CModules/CRefVmm"), // C reference VMM (lbrbench only)
        .systemLibrary(name: "CNuma", path: "CModules/CNuma",
                       providers: [.apt(["libnuma-dev"])]),
        // Pure logic
        .target(name: "LbrCore"),
        .target(name: "LbrModel", dependencies: ["LbrCore"]),
        .target(name: "LbrScenarios", dependencies: ["LbrCore"]),
        .target(name: "LbrDocument", dependencies: ["LbrCore", "LbrScenarios"]),
        .target(name: "LbrReport", dependencies: [
            "LbrCore", "LbrScenarios", "LbrDocument",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        // Linux access
        .target(name: "LbrLinux", dependencies: [
            "LbrCore", "CLbrShim", "CLbrGuest", "CNuma",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Backends
        .target(name: "LbrBackends", dependencies: [
            "LbrCore", "LbrModel", "LbrScenarios", "LbrLinux", "CLbrGuest",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Executables
        .executableTarget(name: "lbrprobe", dependencies: [
            "LbrCore", "LbrModel", "LbrScenarios", "LbrDocument", "LbrReport", "LbrLinux", "LbrBackends", "CLbrShim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "lbrbench", dependencies: [
            "LbrCore", "LbrModel", "LbrScenarios", "LbrDocument", "LbrReport", "LbrLinux", "LbrBackends", "CRefVmm",
        ]),
        // Tests (LbrTestSupport: what test targets share: the built CLI runner, this host's preconditions, recorded host
        // profiles, recorded-shape hardware data (HwReplay, PerfRecordWriter), the idealised rules, JSON Schema
        // validation by the real jsonschema package, KTAP parser, repo file access)
        .target(name: "LbrTestSupport", dependencies: ["LbrCore", "LbrModel", "LbrScenarios", "LbrLinux", "LbrBackends"], path: "Tests/LbrTestSupport"),
        .testTarget(name: "LbrCoreTests", dependencies: ["LbrCore", "LbrTestSupport"]),
        .testTarget(name: "LbrModelTests", dependencies: ["LbrCore", "LbrModel"]),
        .testTarget(name: "LbrScenariosTests", dependencies: ["LbrCore", "LbrScenarios", "LbrTestSupport"],
                    exclude: ["Captures"]), // hardware-shaped captures, read by path (docs/capture-format.md)
        .testTarget(name: "LbrReportTests", dependencies: ["LbrCore", "LbrScenarios", "LbrDocument", "LbrReport", "LbrTestSupport"]),
        .testTarget(name: "LbrLinuxTests", dependencies: [
            "LbrCore", "LbrLinux", "CLbrShim", "LbrTestSupport", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .testTarget(name: "LbrBackendsTests", dependencies: [
            "LbrCore", "LbrModel", "LbrScenarios", "LbrDocument", "LbrReport", "LbrLinux", "LbrBackends", "LbrTestSupport", "CLbrGuest",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // The built lbrprobe binary, run as a user would (suites named by feature).
        .testTarget(name: "CommandLineTests", dependencies: [
            "LbrCore", "LbrScenarios", "LbrDocument", "LbrBackends", "LbrTestSupport",
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// Every Swift target sees only the members of modules it imports itself (SE-0444).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}
